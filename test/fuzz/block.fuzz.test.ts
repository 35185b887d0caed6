// Fuzzing blocks and the state transition (src/ledger/block.ts, src/ledger/apply.ts), the handler
// of every proposal and synced block: decodeBlock returns a block or throws a TrothError;
// applyBlock and checkEntry never throw on any block or entry, however hostile, and answer with a
// status from their closed lists; a leader's buildBlock over hostile candidates never throws and
// builds a block every replica accepts with the same hash.

import fc from 'fast-check'
import { describe } from 'vitest'
import { BLOCK_STATUSES, ENTRY_STATUSES, applyBlock, buildBlock, checkEntry } from '../../src/ledger/apply.ts'
import { decodeBlock, encodeBlock, type Block } from '../../src/ledger/block.ts'
import { encode, type CborValue } from '../../src/ledger/encoding.ts'
import { encodeSignedEntry, signEntry, signKeyProof, type Body } from '../../src/ledger/entry.ts'
import { genesisState } from '../../src/ledger/genesis.ts'
import { bytesEqual } from '../../src/ledger/hash.ts'
import { ENTRY_BYTES_MAX } from '../../src/ledger/limits.ts'
import { makeRequest } from '../../src/ledger/request.ts'
import { PARAM_NAMES } from '../../src/ledger/policy.ts'
import type { LedgerState } from '../../src/ledger/state.ts'
import { signVote, type Vote, VOTE_KINDS } from '../../src/ledger/consensus/messages.ts'
import { parseMemberId } from '../../src/identity/member-id.ts'
import { attempt, fuzz } from './harness.ts'
import { applyStep, fieldValueArb, hostileBytes, mutatedBytes, shapedMapArb, stepArb } from './mutate.ts'
import * as corpus from './corpus.ts'
import type { Person } from '../ledger/fixtures.ts'

const DECODE_CODES = ['cbor.too-large', 'cbor.truncated', 'cbor.trailing-bytes', 'cbor.non-canonical-int', 'cbor.indefinite-length', 'cbor.float', 'cbor.map-key-order', 'cbor.duplicate-key', 'cbor.map-key-type', 'cbor.unsupported-type', 'cbor.int-range', 'cbor.too-deep', 'cbor.too-many-items', 'cbor.invalid-utf8', 'cbor.malformed', 'schema.invalid'] as const
const BLOCK_KEYS = ['epoch', 'height', 'parent', 'proposer', 'time', 'entries', 'logSize', 'logRoot']

/** States to check against: genesis, and after each block of the scripted history. */
function states(): LedgerState[] {
  const c = corpus.chain()
  return [genesisState(corpus.makeGenesis(corpus.FOUNDERS, { epochBlocks: 5, inductionWindowMs: 0, inductionWindowFloorMs: 0, dutyWindowEpochs: 1000, missedEpochsMax: 1000 })), ...c.blocks.map((b) => b.applied.state)]
}

let everyone: Person[] | undefined
const people = (): Person[] => (everyone ??= [...corpus.FOUNDERS, corpus.person('xavier'), corpus.person('yolanda')])

const u = fc.oneof(fc.nat(20), fc.constantFrom(0, 2 ** 32, 2 ** 53 - 1), fc.maxSafeNat())
const key32 = (): fc.Arbitrary<Uint8Array> => fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom(...people().map((p) => p.key)), fc.constantFrom(new Uint8Array(32), Uint8Array.of(1, ...new Array<number>(31).fill(0))))
const text = (max: number): fc.Arbitrary<string> => fc.oneof(fc.string({ unit: 'binary', maxLength: max }), fc.constantFrom('', '\u0000', '\u202e', 'a'.repeat(max)))

/**
 * Bodies that decode (right types, within limits) but carry hostile values: unknown parameters,
 * edge sizes, foreign or invalid keys, forged proofs, votes and answers of any view and epoch.
 */
function hostileBodyArb(net: Uint8Array, author: Person): fc.Arbitrary<Body> {
  const ps = people()
  const vote = fc
    .record({ who: fc.nat(ps.length - 1), kind: fc.constantFrom(...VOTE_KINDS), epoch: fc.oneof(fc.nat(3), u), view: fc.integer({ min: 1, max: 40 }), parent: fc.nat(3), digest: fc.uint8Array({ minLength: 32, maxLength: 32 }) })
    .map(({ who, kind, epoch, view, parent, digest }): Vote => {
      const p = ps[who] as Person
      return signVote(net, p.seed, p.id, { kind, epoch, view, parent: Math.min(parent, view - 1), digest })
    })
  return fc.oneof(
    fc.record({ who: fc.nat(ps.length - 1), name: fc.oneof(text(64), fc.constant('xavier')), expires: u, foreign: fc.boolean() }).map(({ who, name, expires, foreign }): Body => {
      const p = ps[who] as Person
      return { kind: 'induct.vouch', request: makeRequest(p.seed, { net: foreign ? new Uint8Array(32).fill(7) : net, name: name.slice(0, 20), expires }) }
    }),
    fc.record({ candidate: key32(), reason: text(256) }).map((b): Body => ({ kind: 'induct.object', ...b })),
    fc.constant<Body>({ kind: 'leave' }),
    fc.record({ member: key32(), reason: text(256) }).map((b): Body => ({ kind: 'exile.propose', ...b })),
    key32().map((member): Body => ({ kind: 'exile.vote', member })),
    fc.record({ param: fc.oneof(fc.constantFrom(...PARAM_NAMES, '__proto__', 'constructor', 'toString', ''), text(64)), value: fc.option(u, { nil: null }) }).map((b): Body => ({ kind: 'policy.vote', ...b })),
    fc.record({ root: key32(), size: fc.oneof(u, fc.constantFrom(2 ** 50, 2 ** 50 + 1, 262_144, 262_145)), chunks: fc.oneof(u, fc.constantFrom(2 ** 32, 1, 2)), name: text(64) }).map((b): Body => ({
      kind: 'seal',
      ...b,
      size: Math.min(b.size, 2 ** 50),
      chunks: Math.min(b.chunks, 2 ** 32),
    })),
    fc.array(text(64), { maxLength: 8 }).map((addrs): Body => ({ kind: 'announce', addrs })),
    fc.record({ key: key32(), forge: fc.boolean(), who: fc.nat(ps.length - 1) }).map(({ key, forge, who }): Body => {
      const p = ps[who] as Person
      return forge ? { kind: 'key.rotate', key, keySig: new Uint8Array(64).fill(1) } : { kind: 'key.rotate', key: p.key, keySig: signKeyProof(p.seed, net, author.key, p.key) }
    }),
    fc.record({ member: key32(), who: fc.nat(ps.length - 1), cancel: fc.boolean(), forge: fc.boolean() }).map(({ member, who, cancel, forge }): Body => {
      const p = ps[who] as Person
      if (cancel) return { kind: 'key.recover', member, cancel: true }
      return { kind: 'key.recover', member, key: p.key, keySig: forge ? new Uint8Array(64) : signKeyProof(p.seed, net, member, p.key) }
    }),
    fc.tuple(vote, vote).map(([a, b]): Body => ({ kind: 'evidence', a, b })),
    fc.record({ epoch: fc.oneof(fc.nat(3), u), root: key32(), replica: key32(), verdict: fc.constantFrom('pass', 'fail', 'unreachable' as const), answer: fc.nat(corpus.answers().length) }).map(({ epoch, root, replica, verdict, answer }): Body => {
      const a = corpus.answers()[answer]
      return verdict === 'unreachable' || a === undefined ? { kind: 'audit.report', epoch, root, replica, verdict: 'unreachable', answer: null } : { kind: 'audit.report', epoch, root, replica, verdict, answer: a }
    }),
  )
}

/** Signed entries by a member, at its next seq (or near it), with hostile bodies. */
function hostileSignedEntry(state: LedgerState): fc.Arbitrary<Uint8Array> {
  const ps = people()
  return fc
    .record({ who: fc.nat(ps.length - 1), seqDelta: fc.oneof({ arbitrary: fc.constant(1), weight: 8 }, { arbitrary: fc.integer({ min: -1, max: 3 }), weight: 1 }), timeDelta: fc.oneof(fc.constant(0), fc.integer({ min: -1e9, max: 1e9 })) })
    .chain(({ who, seqDelta, timeDelta }) => {
      const p = ps[who] as Person
      return hostileBodyArb(state.meta.net, p).map((body) => {
        const seq = Math.max(0, (state.members.get(p.id)?.seq ?? 0) + seqDelta)
        try {
          return encodeSignedEntry(signEntry(p.seed, { net: state.meta.net, author: p.key, seq, time: Math.max(0, state.meta.lastTime + timeDelta), body }))
        } catch {
          return encode({ entry: new Uint8Array(0), sig: new Uint8Array(64) }) // over a limit: signEntry refuses to make it
        }
      })
    })
}

function candidatesArb(state: LedgerState): fc.Arbitrary<Uint8Array[]> {
  return fc.array(fc.oneof({ arbitrary: hostileSignedEntry(state), weight: 3 }, { arbitrary: hostileBytes(corpus.entryWires()), weight: 2 }), { maxLength: 6 })
}

function expectEntryStatus(status: string): void {
  if (!(ENTRY_STATUSES as readonly string[]).includes(status)) throw new Error(`entry status ${status} is not in ENTRY_STATUSES`)
}

describe('fuzz: blocks and the state transition', () => {
  const shapedBlock = shapedMapArb(BLOCK_KEYS, fc.oneof(fieldValueArb(), fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 3 }) as fc.Arbitrary<CborValue>)).map((m) => encode(m))
  fuzz('decodeBlock: hostile block bytes decode or fail with a TrothError; accepted blocks re-encode exactly', hostileBytes(corpus.blockBytes(), [shapedBlock]), (bytes) => {
    const r = attempt(() => decodeBlock(bytes), DECODE_CODES)
    if (r.ok && !bytesEqual(encodeBlock(r.value), bytes)) throw new Error('decodeBlock accepted bytes that re-encode differently')
  })

  const allStates = states()
  const blocks = corpus.chain().blocks.map((b) => b.block)
  // A block of the history, at its own parent state, with hostile bytes or one entry replaced.
  const blockAtParent = fc.record({
    h: fc.nat(blocks.length - 1),
    steps: fc.array(stepArb, { minLength: 1, maxLength: 3 }),
    entryOnly: fc.boolean(),
    at: fc.nat(),
  })
  fuzz('applyBlock: a mutated block (header or entries) at its parent state is applied or refused with a status, never a throw', blockAtParent, ({ h, steps, entryOnly, at }) => {
    const parent = allStates[h] as LedgerState
    const original = blocks[h] as Block
    let block: Block
    if (entryOnly && original.entries.length > 0) {
      const entries = [...original.entries]
      const i = at % entries.length
      entries[i] = steps.reduce((b, s) => applyStep(b, s, corpus.entryWires()), entries[i] as Uint8Array)
      block = { ...original, entries }
    } else {
      const bytes = steps.reduce((b, s) => applyStep(b, s, corpus.blockBytes()), encodeBlock(original))
      const r = attempt(() => decodeBlock(bytes), DECODE_CODES)
      if (!r.ok) return
      block = r.value
    }
    const r = applyBlock(parent, block)
    if (!(BLOCK_STATUSES as readonly string[]).includes(r.ok ? 'ok' : r.status)) throw new Error(`block status ${r.ok ? 'ok' : r.status} is not in BLOCK_STATUSES`)
  })

  fuzz(
    'checkEntry: hostile entries (mutated wires and signed hostile bodies) against any state get a status, never a throw',
    fc.nat(allStates.length - 1).chain((i) => fc.tuple(fc.constant(i), fc.oneof(hostileSignedEntry(allStates[i] as LedgerState), mutatedBytes(corpus.entryWires())), fc.oneof(fc.constant(0), fc.integer({ min: -1e10, max: 1e10 })))),
    ([i, wire, dt]) => {
      const state = allStates[i] as LedgerState
      expectEntryStatus(checkEntry(state, wire, Math.max(0, state.meta.lastTime + dt)).status)
    },
  )

  fuzz(
    'buildBlock over hostile candidates never throws; every replica accepts what the leader built, with the same hash',
    fc.nat(allStates.length - 1).chain((i) => fc.tuple(fc.constant(i), candidatesArb(allStates[i] as LedgerState), fc.nat(3_600_000))),
    ([i, candidates, dt]) => {
      const state = allStates[i] as LedgerState
      const proposer = parseMemberId((state.epoch.validators[0] as { id: string }).id)
      const built = buildBlock(state, { proposer, time: state.meta.lastTime + dt }, candidates.filter((c) => c.length <= ENTRY_BYTES_MAX))
      for (const r of built.rejected) expectEntryStatus(r.verdict.status)
      const again = applyBlock(state, decodeBlock(encodeBlock(built.block)))
      if (!again.ok) throw new Error(`a block the leader built was refused: ${again.status} ${again.detail}`)
      if (!bytesEqual(again.hash, built.applied.hash)) throw new Error('the built block applies to a different hash')
    },
  )
})

