import { describe, expect, it } from 'vitest'
import { EpochEngine } from '../../src/ledger/consensus/engine.ts'
import { leaderOf } from '../../src/ledger/consensus/leader.ts'
import { certFromCbor, certToCbor, checkCertificate, checkVote, makeCertificate, signVote, ValidatorSet, voteFromCbor, voteToCbor } from '../../src/ledger/consensus/messages.ts'
import { genesisState } from '../../src/ledger/genesis.ts'
import { sha256 } from '../../src/ledger/hash.ts'
import { makeGenesis, person } from './fixtures.ts'

const people = ['q0', 'q1', 'q2', 'q3', 'q4', 'q5'].map(person)
const setOf = (n: number, weights?: number[]): ValidatorSet =>
  new ValidatorSet(0, people.slice(0, n).map((p, i) => ({ id: p.id, key: p.key, weight: weights?.[i] ?? 1000 })).sort((a, b) => (a.id < b.id ? -1 : 1)))

describe('quorum arithmetic: 3·w > 2·W, never 2f+1', () => {
  it.each([
    [4, 3], [5, 4], [6, 5], [7, 5], [3, 3], [1, 1],
  ])('with %i equal members a quorum needs %i', (n, need) => {
    const set = setOf(n)
    expect(set.isQuorum(need * 1000)).toBe(true)
    expect(set.isQuorum((need - 1) * 1000)).toBe(false)
  })

  it('counts weight, each member once', () => {
    const set = setOf(4, [1000, 1000, 1000, 3000]) // W = 6000: quorum needs > 4000
    const heavy = set.list.find((v) => v.weight === 3000)!.id
    const light = set.list.filter((v) => v.weight === 1000).map((v) => v.id)
    expect(set.isQuorum(set.weightOf([heavy, light[0]!]))).toBe(false) // 4000
    expect(set.isQuorum(set.weightOf([heavy, light[0]!, light[1]!]))).toBe(true) // 5000
    expect(set.isQuorum(set.weightOf([...light, light[0]!, light[0]!]))).toBe(false) // duplicates count once
  })
})

describe('votes and certificates', () => {
  const net = sha256(new Uint8Array([1]))
  const set = setOf(4)
  const v = (i: number, kind: 'notarize' | 'finalize' | 'nullify' = 'notarize', epoch = 0) =>
    signVote(net, people[i]!.seed, people[i]!.id, { kind, epoch, view: 3, parent: 1, digest: sha256(new Uint8Array([9])) })

  it('rejects votes of the wrong epoch, from non-validators, with bad signatures, or for another net', () => {
    expect(checkVote(net, set, v(0))).toBe('ok')
    expect(checkVote(net, set, v(0, 'notarize', 1))).toBe('wrong-epoch')
    expect(checkVote(net, set, v(5))).toBe('not-validator')
    expect(checkVote(net, set, { ...v(0), signer: people[1]!.id })).toBe('bad-signature')
    expect(checkVote(sha256(net), set, v(0))).toBe('bad-signature')
    // A finalize signature never passes as a notarize one (distinct tags).
    expect(checkVote(net, set, { ...v(0, 'finalize'), kind: 'notarize', parent: 1 })).toBe('bad-signature')
  })

  it('a certificate needs a quorum of valid, distinct, sorted signers and round-trips strictly', () => {
    const cert = makeCertificate([v(0), v(1), v(2)])
    expect(checkCertificate(net, set, cert)).toBe('ok')
    expect(checkCertificate(net, set, makeCertificate([v(0), v(1)]))).toBe('no-quorum')
    expect(certFromCbor(certToCbor(cert))).toEqual(cert)
    const bad = { ...cert, signers: [...cert.signers.slice(0, 2), { id: cert.signers[2]!.id, sig: new Uint8Array(64) }] }
    expect(checkCertificate(net, set, bad)).toBe('bad-signature')
    expect(() => certFromCbor({ ...(certToCbor(cert) as object), signers: [...(certToCbor(cert) as { signers: unknown[] }).signers].reverse() } as never)).toThrow(/sorted/)
    expect(voteFromCbor(voteToCbor(v(1)))).toEqual(v(1))
  })

  it('an engine ignores wrong-epoch votes and refuses forged ones', () => {
    const genesis = makeGenesis(people.slice(0, 4), { epochBlocks: 8 })
    const state = genesisState(genesis)
    const s = new ValidatorSet(0, state.epoch.validators)
    const e = new EpochEngine({ net: state.meta.net, validators: s, seed: state.epoch.seed, genesis: { digest: state.meta.lastBlock, state, view: 0 }, boundaryHeight: 8, me: null, timing: { leaderMs: 100, advanceMs: 150, retryMs: 100 } })
    e.start(0)
    const mk = (epoch: number, i = 0) => signVote(state.meta.net, people[i]!.seed, people[i]!.id, { kind: 'nullify', epoch, view: 1, parent: 0, digest: new Uint8Array(0) })
    expect(e.onMessage(1, { t: 'vote', vote: mk(1) }).verdict).toBe('ignored')
    expect(e.onMessage(1, { t: 'vote', vote: { ...mk(0), sig: new Uint8Array(64) } }).verdict).toBe('bad')
    expect(e.onMessage(1, { t: 'vote', vote: mk(0) }).verdict).toBe('ok')
  })
})

describe('passing certificates on', () => {
  it('a nullification goes, Δ later, only to the validators that have not voted past it', () => {
    const genesis = makeGenesis(people.slice(0, 4), { epochBlocks: 8 })
    const state = genesisState(genesis)
    const set = new ValidatorSet(0, state.epoch.validators)
    const me = people[0]!
    const e = new EpochEngine({ net: state.meta.net, validators: set, seed: state.epoch.seed, genesis: { digest: state.meta.lastBlock, state, view: 0 }, boundaryHeight: 8, me: { id: me.id, seed: me.seed }, timing: { leaderMs: 100, advanceMs: 150, retryMs: 100 } })
    e.start(0)
    const nullify = (i: number, view: number) => signVote(state.meta.net, people[i]!.seed, people[i]!.id, { kind: 'nullify', epoch: 0, view, parent: 0, digest: new Uint8Array(0) })
    const sent = (actions: ReturnType<EpochEngine['onTimer']>) => actions.filter((a) => a.type === 'broadcast' && a.msg.t === 'cert')
    // Three of four nullify view 1: a quorum. Nothing is relayed at once.
    const formed = [1, 2, 3].flatMap((i) => e.onMessage(1, { t: 'vote', vote: nullify(i, 1) }, people[i]!.id).actions)
    expect(e.currentView).toBe(2)
    expect(sent(formed)).toEqual([])
    // q1 shows it has moved on (a vote in view 2); q2 and q3 do not.
    e.onMessage(2, { t: 'vote', vote: nullify(1, 2) }, people[1]!.id)
    expect(sent(e.onTimer(50))).toEqual([]) // not yet due (formed at 1, Δ = 50)
    const due = sent(e.onTimer(51))
    expect(due).toHaveLength(1)
    const a = due[0] as Extract<(typeof due)[number], { type: 'broadcast' }>
    expect(a.msg).toMatchObject({ t: 'cert', cert: { kind: 'nullify', view: 1 } })
    expect([...(a.except ?? [])].sort()).toEqual([me.id, people[1]!.id].sort())
    // Due once only.
    expect(sent(e.onTimer(200))).toHaveLength(0)
  })
})

describe('leader election by weight', () => {
  it('each validator leads in proportion to its weight, deterministically', () => {
    const set = setOf(3, [1000, 2000, 3000])
    const seed = sha256(new Uint8Array([7]))
    const counts = new Map<string, number>()
    const views = 30_000
    for (let v = 1; v <= views; v++) {
      const l = leaderOf(seed, set, v)
      counts.set(l, (counts.get(l) ?? 0) + 1)
    }
    for (const val of set.list) {
      const share = (counts.get(val.id) ?? 0) / views
      expect(Math.abs(share - val.weight / 6000)).toBeLessThan(0.015)
    }
    expect(leaderOf(seed, set, 12)).toBe(leaderOf(seed, set, 12))
  })
})
