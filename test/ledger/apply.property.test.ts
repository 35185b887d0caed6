// Property tests of the state transition: random sequences of valid and invalid entries never
// crash it, every refusal carries a status from the closed list, and a refused entry changes
// nothing. Also: the weighted median against a brute-force reference.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { applyBlock, checkEntry, ENTRY_STATUSES } from '../../src/ledger/apply.ts'
import { encode } from '../../src/ledger/encoding.ts'
import { bytesEqual } from '../../src/ledger/hash.ts'
import type { Body } from '../../src/ledger/entry.ts'
import { signKeyProof } from '../../src/ledger/entry.ts'
import { weightedMedian, effectiveValue, PARAMS } from '../../src/ledger/policy.ts'
import { stateRecords, stateRoot, type LedgerState } from '../../src/ledger/state.ts'
import { Chain, makeGenesis, person, type Person } from './fixtures.ts'

// PROP_RUNS=10000 for a long run; PROP_SEED=<n> replays the seed a failure printed.
const RUNS = Number(process.env.PROP_RUNS ?? '100')
const SEED = process.env.PROP_SEED === undefined ? undefined : Number(process.env.PROP_SEED)
const people = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'].map(person) as Person[]
const founders = people.slice(0, 4)
const snapshot = (s: LedgerState): string => Buffer.from(encode(stateRecords(s, true))).toString('hex')

const bodyArb = (c: () => Chain): fc.Arbitrary<(p: Person) => Body> =>
  fc.oneof(
    fc.record({ who: fc.nat(5), exp: fc.integer({ min: -5, max: 5 }) }).map(({ who, exp }) => (_p: Person): Body => ({
      kind: 'induct.vouch',
      request: c().request(people[who]!, c().time + exp * 60_000),
    })),
    fc.record({ who: fc.nat(5), r: fc.string({ maxLength: 10 }) }).map(({ who, r }) => (): Body => ({ kind: 'induct.object', candidate: people[who]!.key, reason: r })),
    fc.constant((): Body => ({ kind: 'leave' })),
    fc.record({ who: fc.nat(5) }).map(({ who }) => (): Body => ({ kind: 'exile.propose', member: people[who]!.key, reason: 'r' })),
    fc.record({ who: fc.nat(5) }).map(({ who }) => (): Body => ({ kind: 'exile.vote', member: people[who]!.key })),
    fc.record({ param: fc.constantFrom('vouchCap', 'chunksPerAudit', 'epochBlocks', 'bogus'), value: fc.option(fc.nat(200), { nil: null }) }).map(
      ({ param, value }) => (): Body => ({ kind: 'policy.vote', param, value }),
    ),
    fc.record({ root: fc.uint8Array({ minLength: 32, maxLength: 32 }), size: fc.nat(2_000_000), chunks: fc.nat(8) }).map(
      ({ root, size, chunks }) => (): Body => ({ kind: 'seal', root, size, chunks, name: 's' }),
    ),
    fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }).map((addrs) => (): Body => ({ kind: 'announce', addrs })),
    fc.record({ who: fc.nat(5), good: fc.boolean() }).map(({ who, good }) => (p: Person): Body => {
      const next = people[who]!
      return { kind: 'key.rotate', key: next.key, keySig: good ? signKeyProof(next.seed, c().net, p.key, next.key) : new Uint8Array(64) }
    }),
    fc.record({ target: fc.nat(5), cancel: fc.boolean() }).map(({ target, cancel }) => (): Body => {
      const t = people[target]!
      const fresh = person(`recovered-${target}`)
      return cancel
        ? { kind: 'key.recover', member: t.key, cancel: true }
        : { kind: 'key.recover', member: t.key, key: fresh.key, keySig: signKeyProof(fresh.seed, c().net, t.key, fresh.key) }
    }),
    fc.nat(5).map((target) => (): Body => ({ kind: 'audit.report', epoch: 0, root: new Uint8Array(32).fill(target), replica: people[target]!.key, verdict: 'unreachable', answer: null })),
  )

const corruption = fc.oneof(
  { arbitrary: fc.constant('none'), weight: 12 },
  { arbitrary: fc.constantFrom('seq', 'sig', 'net', 'truncate', 'garbage', 'future'), weight: 4 },
)
const authorArb = fc.oneof({ arbitrary: fc.nat(3), weight: 6 }, { arbitrary: fc.integer({ min: 4, max: 5 }), weight: 1 })

describe('state transition under random entries', () => {
  it('never crashes; refusals are named and leave the state untouched; acceptances agree with checkEntry', () => {
    let chain!: Chain
    const seen = new Map<string, number>()
    const getChain = (): Chain => chain
    fc.assert(
      fc.property(
        fc.array(fc.record({ author: authorArb, body: bodyArb(getChain), corrupt: corruption, gap: fc.nat(30_000), blockNow: fc.boolean() }), {
          minLength: 5,
          maxLength: 40,
        }),
        (ops) => {
          // A seed that is not the author's key now: after a key.rotate, the next person's key
          // may be the author's (signing with it is then no corruption).
          const wrongSigner = (author: number): Uint8Array => {
            const current = chain.state.members.get(people[author]!.id)?.key ?? people[author]!.key
            for (let k = 1; k < people.length; k++) {
              const p = people[(author + k) % people.length]!
              if (!bytesEqual(p.key, current)) return p.seed
            }
            throw new Error('no wrong signer')
          }
          chain = new Chain(makeGenesis(founders, { epochBlocks: 4, inductionWindowMs: 0, inductionWindowFloorMs: 0, inductionVouches: 1000, standingFloor: 0 }))
          let pending: Uint8Array[] = []
          for (const op of ops) {
            const author = people[op.author]!
            const seq = (chain.state.members.get(author.id)?.seq ?? 0) + 1
            let wire = chain.entry(author, op.body(author), {
              seq: op.corrupt === 'seq' ? seq + 1 : seq,
              ...(op.corrupt === 'sig' ? { signer: wrongSigner(op.author) } : {}),
              ...(op.corrupt === 'net' ? { net: new Uint8Array(32).fill(1) } : {}),
              ...(op.corrupt === 'future' ? { time: chain.time + 24 * 3_600_000 } : {}),
            })
            if (op.corrupt === 'truncate') wire = wire.slice(0, wire.length - 3)
            if (op.corrupt === 'garbage') wire = Uint8Array.from(wire, (b, i) => (i % 7 === 3 ? b ^ 0x5a : b))
            const before = chain.state
            const beforeBytes = snapshot(before)
            const time = chain.time + 1 + op.gap
            const verdict = checkEntry(before, wire, time)
            expect(ENTRY_STATUSES).toContain(verdict.status)
            seen.set(verdict.status, (seen.get(verdict.status) ?? 0) + 1)
            expect(snapshot(before)).toBe(beforeBytes) // checkEntry is pure
            if (verdict.status !== 'ok') {
              // A block carrying it is refused, naming the entry, and changes nothing.
              const proposer = chain.proposer()
              const r = applyBlock(before, {
                epoch: before.epoch.number, height: before.meta.height + 1, parent: before.meta.lastBlock,
                proposer, time, entries: [wire], logSize: before.meta.logSize + 1, logRoot: new Uint8Array(32),
              })
              expect(r.ok).toBe(false)
              if (!r.ok) expect(r.entry?.verdict.status).toBe(verdict.status)
              expect(snapshot(before)).toBe(beforeBytes)
              // A leader drops it with the same verdict.
              const built = chain.block([wire], time - chain.time)
              expect(built.block.entries).toHaveLength(0)
              expect(built.rejected[0]?.verdict.status).toBe(verdict.status)
            } else {
              expect(op.corrupt === 'none' || op.corrupt === 'future').toBe(true)
              pending.push(wire)
              if (op.blockNow) {
                const built = chain.block(pending, time - chain.time)
                expect(built.rejected).toHaveLength(0)
                pending = []
              } else {
                const built = chain.block([wire], time - chain.time)
                expect(built.rejected).toHaveLength(0)
                pending = []
              }
            }
          }
          // Replaying the produced blocks from genesis reproduces the state exactly.
          let replay = new Chain(makeGenesis(founders, { epochBlocks: 4, inductionWindowMs: 0, inductionWindowFloorMs: 0, inductionVouches: 1000, standingFloor: 0 })).state
          for (const b of chain.blocks) {
            const r = applyBlock(replay, b.block)
            expect(r.ok).toBe(true)
            if (r.ok) replay = r.state
          }
          expect(stateRoot(replay)).toEqual(stateRoot(chain.state))
          expect(snapshot(replay)).toBe(snapshot(chain.state))
        },
      ),
      { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
    )
    // The generator must exercise both paths and many distinct rules, or the test proves little.
    expect(seen.get("ok") ?? 0).toBeGreaterThan(100)
    expect(seen.size).toBeGreaterThanOrEqual(20)
  }, Math.max(60_000, RUNS * 1_000))
})

describe('weighted median', () => {
  /** Reference: repeat each value weight times, sort, take the lower median. */
  function bruteForce(votes: Array<{ value: number; weight: number }>): number | undefined {
    const list: number[] = []
    for (const v of votes) for (let i = 0; i < v.weight; i++) list.push(v.value)
    if (list.length === 0) return undefined
    list.sort((a, b) => a - b)
    return list[Math.ceil(list.length / 2) - 1]
  }

  it('equals the brute-force median of the expanded list', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ value: fc.integer({ min: -50, max: 50 }), weight: fc.nat(12) }), { maxLength: 30 }), (votes) => {
        expect(weightedMedian(votes)).toBe(bruteForce(votes))
      }),
      { numRuns: 2000 },
    )
  })

  it('is strategy-proof on examples: moving a vote past the median never pulls it toward you', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ value: fc.nat(100), weight: fc.integer({ min: 1, max: 5 }) }), { minLength: 1, maxLength: 15 }), fc.nat(100), fc.nat(100), (others, peak, lie) => {
        const honest = weightedMedian([...others, { value: peak, weight: 3 }])!
        const lying = weightedMedian([...others, { value: lie, weight: 3 }])!
        expect(Math.abs(lying - peak)).toBeGreaterThanOrEqual(Math.abs(honest - peak))
      }),
      { numRuns: 1000 },
    )
  })

  it('counts non-voters at the genesis value and clamps to the range', () => {
    const weights = new Map([['a', 1000], ['b', 1000], ['c', 1000]])
    expect(effectiveValue('replicationMax', 6, new Map([['a', 60]]), weights)).toBe(6)
    expect(effectiveValue('replicationMax', 6, new Map([['a', 60], ['b', 50]]), weights)).toBe(50)
    expect(effectiveValue('replicationMax', 6, new Map(), new Map())).toBe(6)
    expect(effectiveValue('replicationMax', 6, new Map([['a', 999], ['b', 999]]), weights)).toBe(PARAMS.replicationMax.max)
  })
})
