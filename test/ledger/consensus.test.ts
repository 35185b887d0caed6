import { describe, expect, it } from 'vitest'
import { buildBlock } from '../../src/ledger/apply.ts'
import { EpochEngine, type Action, type ConsensusMessage } from '../../src/ledger/consensus/engine.ts'
import { parseMemberId } from '../../src/identity/member-id.ts'
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

/** The engine of people[0] in an epoch of four equal founders (leader 100 ms, advance 150 ms). */
function engineOfFour() {
  const state = genesisState(makeGenesis(people.slice(0, 4), { epochBlocks: 8 }))
  const set = new ValidatorSet(0, state.epoch.validators)
  const me = people[0]!
  const e = new EpochEngine({ net: state.meta.net, validators: set, seed: state.epoch.seed, genesis: { digest: state.meta.lastBlock, state, view: 0 }, boundaryHeight: 8, me: { id: me.id, seed: me.seed }, timing: { leaderMs: 100, advanceMs: 150, retryMs: 100 } })
  return { state, me, e }
}

describe('passing certificates on', () => {
  it('a nullification goes, Δ later, only to the validators that have not voted past it', () => {
    const { state, me, e } = engineOfFour()
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

/** Four engines on a synchronous in-test network that honours `to` and `except`. */
function fourEngines(relay: 'all' | 'collector') {
  const four = people.slice(0, 4)
  const state = genesisState(makeGenesis(four, { epochBlocks: 8 }))
  const set = new ValidatorSet(0, state.epoch.validators)
  const timing = { leaderMs: 100, advanceMs: 150, retryMs: 100 }
  const engines = four.map((p) => new EpochEngine({ net: state.meta.net, validators: set, seed: state.epoch.seed, genesis: { digest: state.meta.lastBlock, state, view: 0 }, boundaryHeight: 8, me: { id: p.id, seed: p.seed }, timing, relay }))
  const log: Array<{ from: number; a: Action }> = []
  const queue: Array<{ to: number; from: number; msg: ConsensusMessage }> = []
  const mute = new Set<number>() // nodes whose sends are lost
  const timers = four.map(() => [] as number[])
  const route = (from: number, actions: readonly Action[]): void => {
    for (const a of actions) {
      log.push({ from, a })
      if (a.type === 'timer') timers[from]!.push(a.at)
      if (a.type !== 'broadcast' || mute.has(from)) continue
      for (let to = 0; to < four.length; to++) {
        const id = four[to]!.id
        if (to === from || (a.to !== undefined && !a.to.includes(id)) || a.except?.has(id) === true) continue
        queue.push({ to, from, msg: a.msg })
      }
    }
  }
  const pump = (now: number): void => {
    for (let q = queue.shift(); q !== undefined; q = queue.shift()) route(q.to, engines[q.to]!.onMessage(now, q.msg, four[q.from]!.id).actions)
  }
  for (const [i, e] of engines.entries()) route(i, e.start(0))
  const propose = (view: number, now: number): number => {
    const i = engines.findIndex((e) => e.amLeader(view) && e.currentView === view)
    const parent = engines[i]!.parentState()!
    const built = buildBlock(parent.state, { proposer: parseMemberId(four[i]!.id), time: Math.max(now, parent.state.meta.lastTime) }, [])
    route(i, engines[i]!.propose(now, built.block))
    return i
  }
  /** Fire every timer due by `now` on every engine (earliest first). */
  const tick = (now: number): void => {
    for (;;) {
      let best = -1
      for (let i = 0; i < four.length; i++) if (timers[i]!.some((t) => t <= now) && (best < 0 || Math.min(...timers[i]!) < Math.min(...timers[best]!))) best = i
      if (best < 0) return
      const at = Math.min(...timers[best]!)
      timers[best] = timers[best]!.filter((t) => t > at)
      route(best, engines[best]!.onTimer(at))
      pump(at)
    }
  }
  return { four, engines, log, mute, route, pump, propose, tick }
}

const voteSends = (log: Array<{ from: number; a: Action }>, kind: string) =>
  log.filter((x) => x.a.type === 'broadcast' && x.a.msg.t === 'vote' && x.a.msg.vote.kind === kind).map((x) => x.a as Extract<Action, { type: 'broadcast' }>)

describe('votes through a collector (relay: collector)', () => {
  it('NOTARIZE and FINALIZE go only to the collector (the next leader), which sends each certificate to all at once, before its own FINALIZE is persisted', () => {
    const n = fourEngines('collector')
    const leader = n.propose(1, 1)
    n.pump(1)
    const collector = n.engines[0]!.collector(1)
    expect(collector).toBe(n.engines[0]!.leader(2))
    const ci = n.four.findIndex((p) => p.id === collector)
    for (const kind of ['notarize', 'finalize']) {
      const sends = voteSends(n.log, kind)
      expect(sends.length).toBeGreaterThan(0)
      for (const s of sends) expect(s.to).toEqual([collector])
    }
    // The leader's NOTARIZE still travels with its proposal, to all.
    expect(n.log.filter((x) => x.a.type === 'broadcast' && x.a.msg.t === 'proposal').map((x) => x.from)).toEqual([leader])
    const certs = n.log.filter((x) => x.a.type === 'broadcast' && x.a.msg.t === 'cert')
    expect(certs.map((x) => [x.from, (x.a as { msg: { cert: { kind: string } } }).msg.cert.kind])).toEqual([[ci, 'notarize'], [ci, 'finalize']])
    for (const c of certs) expect((c.a as { to?: unknown }).to).toBeUndefined()
    const mine = n.log.filter((x) => x.from === ci).map((x) => (x.a.type === 'persist' ? `persist ${x.a.vote.kind}` : x.a.type === 'broadcast' ? `send ${x.a.msg.t}` : null)).filter((x) => x !== null)
    expect(mine.indexOf('send cert')).toBeLessThan(mine.indexOf('persist finalize'))
    // Every engine holds both certificates of view 1 and is in view 2.
    for (const e of n.engines) {
      expect(e.certificate(1, 'notarize')).not.toBeNull()
      expect(e.certificate(1, 'finalize')).not.toBeNull()
      expect(e.currentView).toBe(2)
    }
    // Versus all to all: 3 + 3·3 + 3·3 vote and proposal frames there, 3 + 3 + 3 + 3 + 3 here.
    const frames = (log: typeof n.log) => log.filter((x) => x.a.type === 'broadcast').reduce((k, x) => k + ((x.a as { to?: string[] }).to?.length ?? 3 - ((x.a as { except?: Set<string> }).except?.size ?? 0)), 0)
    const all = fourEngines('all')
    all.propose(1, 1)
    all.pump(1)
    expect(frames(n.log)).toBeLessThan(frames(all.log))
  })

  it('a silent collector: leaderMs after voting, each voter sends its vote to all, and the others form the certificates themselves', () => {
    const n = fourEngines('collector')
    const ci = n.four.findIndex((p) => p.id === n.engines[0]!.collector(1))
    n.mute.add(ci)
    const leader = n.propose(1, 1)
    expect(leader).not.toBe(ci) // the collector of view 1 leads view 2, not view 1
    n.pump(1)
    const others = [0, 1, 2, 3].filter((i) => i !== ci)
    for (const i of others) expect(n.engines[i]!.certificate(1, 'notarize')).toBeNull()
    n.tick(100) // not yet: fallback at 1 + leaderMs
    for (const i of others) expect(n.engines[i]!.certificate(1, 'notarize')).toBeNull()
    n.tick(101)
    const fallbacks = voteSends(n.log, 'notarize').filter((s) => s.to === undefined)
    // The first voter's fallback completes the quorum at the other voter, whose own is then moot.
    expect(fallbacks.length).toBeGreaterThanOrEqual(1)
    for (const f of fallbacks) expect(f.except?.has(n.four[ci]!.id)).toBe(true)
    // The node that formed it from fallback votes sends it to all at once: every honest node
    // holds it before its advance timer (1 + advanceMs) would end the view.
    for (const i of others) expect(n.engines[i]!.certificate(1, 'notarize')).not.toBeNull()
    for (const i of others) expect(n.engines[i]!.myVotes(1).nullify).toBeNull()
    // View 2's leader is the silent collector: view 2 is nullified, and the chain goes on.
    n.tick(400)
    for (const i of others) expect(n.engines[i]!.currentView).toBeGreaterThanOrEqual(3)
    for (const i of others) expect(n.engines[i]!.certificate(1, 'finalize')).not.toBeNull()
  })

  it('a NULLIFY for a view we have left is answered with the certificate that ended it, once; all-to-all engines do not answer', () => {
    for (const relay of ['collector', 'all'] as const) {
      const n = fourEngines(relay)
      n.propose(1, 1)
      n.pump(1)
      const stuck = n.four[3]!
      const nul = signVote(n.engines[0]!.cfg.net, stuck.seed, stuck.id, { kind: 'nullify', epoch: 0, view: 1, parent: 0, digest: new Uint8Array(0) })
      const answer = (a: readonly Action[]) => a.filter((x) => x.type === 'broadcast' && x.msg.t === 'cert')
      const first = answer(n.engines[0]!.onMessage(5, { t: 'vote', vote: nul }, stuck.id).actions)
      if (relay === 'all') {
        expect(first).toEqual([])
        continue
      }
      expect(first).toHaveLength(1)
      expect(first[0]).toMatchObject({ to: [stuck.id], msg: { t: 'cert', cert: { view: 1 } } })
      expect(answer(n.engines[0]!.onMessage(6, { t: 'vote', vote: nul }, stuck.id).actions)).toEqual([])
      // Relayed by someone else: not the signer asking.
      const n2 = fourEngines(relay)
      n2.propose(1, 1)
      n2.pump(1)
      expect(answer(n2.engines[0]!.onMessage(5, { t: 'vote', vote: nul }, n2.four[1]!.id).actions)).toEqual([])
    }
  })
})

describe('timers', () => {
  it('when our own NULLIFY completes a nullification, the next view still times out on its own timers', () => {
    const { state, e } = engineOfFour()
    const timers: number[] = []
    const take = (actions: readonly Action[]): readonly Action[] => {
      for (const a of actions) if (a.type === 'timer') timers.push(a.at)
      return actions
    }
    take(e.start(0))
    const nullify = (i: number, view: number) => signVote(state.meta.net, people[i]!.seed, people[i]!.id, { kind: 'nullify', epoch: 0, view, parent: 0, digest: new Uint8Array(0) })
    // Two others nullify view 1; ours, at its leader deadline, makes the quorum.
    for (const i of [1, 2]) take(e.onMessage(10, { t: 'vote', vote: nullify(i, 1) }, people[i]!.id).actions)
    const nullified: number[] = []
    // Drive the engine by the timers it asked for, and nothing else (view 2's leader is silent).
    for (let k = 0; k < 50 && timers.length > 0 && e.currentView < 3; k++) {
      const at = Math.min(...timers)
      timers.splice(timers.indexOf(at), 1)
      for (const a of take(e.onTimer(at))) if (a.type === 'broadcast' && a.msg.t === 'vote' && a.msg.vote.kind === 'nullify') nullified.push(a.msg.vote.view)
      if (nullified.includes(2)) break
    }
    expect(e.currentView).toBe(2)
    expect(nullified).toContain(1)
    expect(nullified).toContain(2)
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
