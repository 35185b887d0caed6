// Audit reports and epoch settlement inside the pure state transition (DESIGN.md §5.4, §5.5):
// reports are checked from the report alone, missed duties / proven loss / outages / false
// reports are settled at the epoch close, and the protocol exiles past the policy thresholds.

import { describe, expect, it } from 'vitest'
import { checkEntry } from '../../src/ledger/apply.ts'
import { epochDuties, rebalance } from '../../src/ledger/duties.ts'
import { fromHex, sha256, toHex } from '../../src/ledger/hash.ts'
import { inclusionProof, leafHash, rootOf } from '../../src/ledger/merkle.ts'
import type { LedgerState } from '../../src/ledger/state.ts'
import { parseMemberId } from '../../src/identity/member-id.ts'
import { auditAssignments, replicasFor, settleEpoch, signAnswer, type AuditAssignment } from '../../src/obligation/index.ts'
import { Chain, makeGenesis, person, type Person } from '../ledger/fixtures.ts'

const FOUNDERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'].map(person)
const [A, B] = FOUNDERS as [Person, Person]
const X = person('xavier')
const POLICY = {
  epochBlocks: 4,
  inductionWindowMs: 0,
  inductionWindowFloorMs: 0,
  replicationMin: 2,
  replicationTarget: 3,
  replicationMax: 4,
  auditorsPerReplica: 2,
  chunksPerAudit: 3,
  dutyWindowEpochs: 4,
  missedEpochsMax: 2,
  lossStrikesMax: 2,
  unavailableEpochsMax: 3,
  falseReportsMax: 2,
  sponsorStrikeEpochs: 10,
}

/** A snapshot held in memory: chunks of a few bytes (a seal only bounds size by chunk count). */
class Data {
  readonly chunks: Uint8Array[]
  readonly leaves: Uint8Array[]
  readonly root: Uint8Array
  constructor(label: string, count: number) {
    this.chunks = Array.from({ length: count }, (_, i) => sha256(new TextEncoder().encode(`${label}/${i}`)))
    this.leaves = this.chunks.map(leafHash)
    this.root = rootOf(this.leaves)
  }
  async proof(index: number): Promise<Uint8Array[]> {
    return inclusionProof(index, this.leaves.length, (level, i) => rootOf(this.leaves.slice(i * 2 ** level, (i + 1) * 2 ** level)))
  }
}

type ReplicaMode = 'ok' | 'down' | 'lost'
type AuditorMode = 'ok' | 'skip' | 'liar'

class Coop {
  readonly c: Chain
  readonly people = new Map<string, Person>()
  readonly data = new Map<string, Data>()
  replica: (id: string) => ReplicaMode = () => 'ok'
  auditor: (id: string) => AuditorMode = () => 'ok'

  constructor(policy: Record<string, number> = POLICY) {
    this.c = new Chain(makeGenesis(FOUNDERS, policy))
    for (const p of [...FOUNDERS, X]) this.people.set(p.id, p)
  }
  get state(): LedgerState {
    return this.c.state
  }
  /** A seal entry (to put in a block); the data stays with the test. */
  sealWire(by: Person, label: string, chunks = 8): Uint8Array {
    const d = new Data(label, chunks)
    this.data.set(toHex(d.root), d)
    return this.c.entry(by, { kind: 'seal', root: d.root, size: chunks * 32, chunks, name: label })
  }
  seal(by: Person, label: string, chunks = 8): Data {
    const built = this.c.block([this.sealWire(by, label, chunks)])
    expect(built.rejected).toEqual([])
    return [...this.data.values()].at(-1) as Data
  }
  /** The replica's signed answer to one duty; `lost` signs what a wiped disk gives (zero leaves). */
  async answer(a: AuditAssignment, mode: 'ok' | 'lost', signer?: Person): Promise<ReturnType<typeof signAnswer>> {
    const d = this.data.get(a.root) as Data
    const replica = this.people.get(a.replica) as Person
    return signAnswer((signer ?? replica).seed, {
      net: this.c.net,
      epoch: this.state.epoch.number,
      root: d.root,
      replica: replica.key,
      auditor: parseMemberId(a.auditor),
      indexes: a.chunks,
      leaves: a.chunks.map((i) => (mode === 'ok' ? (d.leaves[i] as Uint8Array) : new Uint8Array(32))),
      proofs: await Promise.all(a.chunks.map((i) => d.proof(i))),
    })
  }
  async reportWire(a: AuditAssignment, how: 'pass' | 'fail' | 'unreachable', signer?: Person): Promise<Uint8Array> {
    const auditor = this.people.get(a.auditor) as Person
    const base = { kind: 'audit.report', epoch: this.state.epoch.number, root: fromHex(a.root), replica: parseMemberId(a.replica) } as const
    const body = how === 'unreachable' ? { ...base, verdict: how, answer: null } : { ...base, verdict: how, answer: await this.answer(a, how === 'pass' ? 'ok' : 'lost', signer) }
    return this.c.entry(auditor, body)
  }
  duties(): readonly AuditAssignment[] {
    return epochDuties(this.state).assignments
  }
  /** Every auditor acts per its mode, then the epoch closes. Returns the epoch's duties. */
  async epoch(): Promise<readonly AuditAssignment[]> {
    const duties = this.duties()
    const wires: Uint8Array[] = []
    for (const a of duties) {
      const am = this.auditor(a.auditor)
      if (am === 'skip') continue
      if (am === 'liar') { wires.push(await this.reportWire(a, 'unreachable')); continue }
      const rm = this.replica(a.replica)
      wires.push(await this.reportWire(a, rm === 'ok' ? 'pass' : rm === 'lost' ? 'fail' : 'unreachable'))
    }
    const built = this.c.block(wires)
    expect(built.rejected.map((r) => r.verdict)).toEqual([])
    this.c.finishEpoch()
    return duties
  }
}

async function coopWithSnapshots(n = 4, policy?: Record<string, number>): Promise<Coop> {
  const coop = new Coop(policy)
  // One block: seals spread over an epoch boundary would owe audits nobody filed.
  const built = coop.c.block(Array.from({ length: n }, (_, i) => coop.sealWire(FOUNDERS[i % FOUNDERS.length] as Person, `snap-${i}`)))
  expect(built.rejected).toEqual([])
  coop.c.finishEpoch()
  return coop
}

describe('audit.report: checked by every node from the report alone', () => {
  it('replicas are the rendezvous choice, audited from replicaGraceEpochs on; a true pass is accepted once', async () => {
    const coop = new Coop()
    const d = coop.seal(A, 'one')
    const s = coop.state.snapshots.get(toHex(d.root))!
    expect(s.replicas.map((r) => r.id)).toEqual(replicasFor(d.root, coop.state.epoch.validators, 3))
    expect(s.replicas.every((r) => r.since === 0)).toBe(true)
    expect(coop.duties()).toEqual([]) // sealed this epoch: fetch first
    coop.c.finishEpoch()
    const duties = coop.duties()
    expect(duties.length).toBe(3 * 2)
    const wire = await coop.reportWire(duties[0]!, 'pass')
    expect(checkEntry(coop.state, wire, coop.c.time).status).toBe('ok')
    coop.c.block([wire])
    expect(coop.state.reports.size).toBe(1)
    expect(checkEntry(coop.state, await coop.reportWire(duties[0]!, 'unreachable'), coop.c.time).status).toBe('already-reported')
  })

  it('refuses forged reports: bad signature, wrong chunk, proof for another root, a duty not assigned to its author, another epoch', async () => {
    const coop = await coopWithSnapshots(2)
    const [a] = coop.duties() as [AuditAssignment]
    const auditor = coop.people.get(a.auditor) as Person
    const status = (wire: Uint8Array): string => checkEntry(coop.state, wire, coop.c.time).status
    const detail = (wire: Uint8Array): string => checkEntry(coop.state, wire, coop.c.time).detail

    // Bad signature: the answer is signed by someone other than the replica.
    const stranger = FOUNDERS.find((p) => p.id !== a.replica && p.id !== a.auditor) as Person
    const forged = await coop.reportWire(a, 'pass', stranger)
    expect([status(forged), detail(forged)]).toEqual(['report-invalid', 'the answer is not signed by the replica'])

    // Wrong chunk: the replica signed the leaf of another chunk, the auditor calls it a pass.
    const d = coop.data.get(a.root) as Data
    const good = await coop.answer(a, 'ok')
    const other = (a.chunks[0]! + 1) % d.chunks.length
    const swapped = signAnswer((coop.people.get(a.replica) as Person).seed, { ...good.answer, leaves: [d.leaves[other]!, ...good.answer.leaves.slice(1)] })
    const base = { kind: 'audit.report', epoch: coop.state.epoch.number, root: d.root, replica: parseMemberId(a.replica) } as const
    const wrongChunk = coop.c.entry(auditor, { ...base, verdict: 'pass', answer: swapped }, { seq: coop.state.members.get(auditor.id)!.seq + 1 })
    expect([status(wrongChunk), detail(wrongChunk)]).toEqual(['report-invalid', 'the answer proves fail, the report says pass'])
    // ... which is exactly a provable fail.
    const asFail = coop.c.entry(auditor, { ...base, verdict: 'fail', answer: swapped }, { seq: coop.state.members.get(auditor.id)!.seq + 1 })
    expect(status(asFail)).toBe('ok')

    // Proof for another root: the answer (and its proofs) are about the other snapshot.
    const otherRoot = [...coop.data.values()].find((x) => toHex(x.root) !== a.root) as Data
    const otherAnswer = signAnswer((coop.people.get(a.replica) as Person).seed, { ...good.answer, root: otherRoot.root, leaves: a.chunks.map((i) => otherRoot.leaves[i % otherRoot.leaves.length]!), proofs: await Promise.all(a.chunks.map((i) => otherRoot.proof(i % otherRoot.leaves.length))) })
    const misplaced = coop.c.entry(auditor, { ...base, verdict: 'pass', answer: otherAnswer }, { seq: coop.state.members.get(auditor.id)!.seq + 1 })
    expect([status(misplaced), detail(misplaced)]).toEqual(['report-invalid', 'the answer is not about this challenge'])

    // A duty not assigned to its author.
    const outsider = FOUNDERS.find((p) => !coop.duties().some((x) => x.root === a.root && x.replica === a.replica && x.auditor === p.id) && p.id !== a.replica) as Person
    const notMine = coop.c.entry(outsider, { ...base, verdict: 'unreachable', answer: null }, { seq: coop.state.members.get(outsider.id)!.seq + 1 })
    expect(status(notMine)).toBe('not-assigned')

    // Another epoch, and the answer's indexes changed.
    const stale = coop.c.entry(auditor, { ...base, epoch: base.epoch - 1, verdict: 'unreachable', answer: null }, { seq: coop.state.members.get(auditor.id)!.seq + 1 })
    expect(status(stale)).toBe('wrong-epoch')
    const reindexed = signAnswer((coop.people.get(a.replica) as Person).seed, { ...good.answer, indexes: good.answer.indexes.map((i) => (i + 1) % d.chunks.length) })
    const wrongIdx = coop.c.entry(auditor, { ...base, verdict: 'pass', answer: reindexed }, { seq: coop.state.members.get(auditor.id)!.seq + 1 })
    expect(status(wrongIdx)).toBe('report-invalid')
  })
})

describe('settlement at the epoch close', () => {
  it('honest epochs: every duty done, no strikes, standing rises, reports cleared, nobody exiled', async () => {
    const coop = await coopWithSnapshots(4)
    const before = new Map([...coop.state.members].map(([id, m]) => [id, m.standing]))
    let total = 0
    for (let e = 0; e < 5; e++) total += (await coop.epoch()).length
    expect(total).toBeGreaterThan(0)
    expect(coop.state.reports.size).toBe(0)
    let done = 0
    for (const [id, m] of coop.state.members) {
      expect(m.status).toBe('active')
      expect(m.standing.dutiesMissed).toBe(0)
      expect(m.standing.strikes).toBe(0)
      expect(m.standing.history).toEqual([])
      expect(m.standing.alpha).toBeGreaterThanOrEqual(before.get(id)!.alpha * 0.95 ** 5)
      done += m.standing.dutiesDone
    }
    expect(done).toBe(total)
  })

  it('a member that skips its audits is exiled once it missed in missedEpochsMax epochs of the window; its sponsors take a strike; its duties move', async () => {
    const coop = new Coop()
    const req = coop.c.request(X)
    const seals = FOUNDERS.map((p, i) => coop.sealWire(p, `snap-${i}`))
    const built = coop.c.block([...seals, coop.c.entry(A, { kind: 'induct.vouch', request: req }), coop.c.entry(B, { kind: 'induct.vouch', request: req })])
    expect(built.rejected).toEqual([])
    coop.c.finishEpoch()
    expect(coop.state.members.get(X.id)?.status).toBe('active')
    coop.auditor = (id) => (id === X.id ? 'skip' : 'ok')
    let missedEpochs = 0
    let exiledAt = -1
    for (let e = 0; e < 8 && exiledAt < 0; e++) {
      const epoch = coop.state.epoch.number
      const duties = await coop.epoch()
      if (duties.some((a) => a.auditor === X.id)) missedEpochs++
      if (coop.state.members.get(X.id)?.status === 'exiled') exiledAt = epoch
      else expect(missedEpochs).toBeLessThan(POLICY.missedEpochsMax)
    }
    expect(missedEpochs).toBe(POLICY.missedEpochsMax)
    const x = coop.state.members.get(X.id)!
    expect(x.exileReason).toMatch(/^duties: audit duties missed in 2 of the last 4 epochs/)
    expect(x.weight).toBe(0)
    expect(coop.state.epoch.validators.map((v) => v.id)).not.toContain(X.id)
    expect(coop.state.members.get(A.id)?.standing.strikes).toBe(1)
    expect(coop.state.members.get(B.id)?.standing.strikes).toBe(1)
    expect(coop.state.members.get(FOUNDERS[2]!.id)?.standing.strikes).toBe(0)
    for (const s of coop.state.snapshots.values()) expect(s.replicas.map((r) => r.id)).not.toContain(X.id)
    expect(coop.duties().some((a) => a.auditor === X.id || a.replica === X.id)).toBe(false)
    for (const p of FOUNDERS) expect(coop.state.members.get(p.id)?.status).toBe('active')
  })

  it('at most a third of the weight is exiled automatically at one close: when everyone skips, one member at a time goes', async () => {
    const coop = new Coop()
    const seals = FOUNDERS.map((p, i) => coop.sealWire(p, `snap-${i}`))
    expect(coop.c.block(seals).rejected).toEqual([])
    coop.c.finishEpoch()
    coop.auditor = () => 'skip' // an outage that hits every auditor at once
    const exiledPerClose: number[] = []
    for (let e = 0; e < 6; e++) {
      const before = [...coop.state.members.values()].filter((m) => m.status === 'exiled').length
      const W = coop.state.epoch.totalWeight
      await coop.epoch()
      const now = [...coop.state.members.values()].filter((m) => m.status === 'exiled').length
      exiledPerClose.push(now - before)
      expect(3 * (now - before) * 1000).toBeLessThanOrEqual(W) // never more than a third of that epoch's weight
    }
    // Six members: two may go at a close (a third of 6000). Without the cap all six were due at once.
    expect(Math.max(...exiledPerClose)).toBe(2)
    expect([...coop.state.members.values()].some((m) => m.status === 'active')).toBe(true)
    // Those held back kept their record and were exiled at a later close, lowest standing first.
    expect(exiledPerClose.filter((n) => n > 0).length).toBeGreaterThan(1)
  })

  it('a replica that signs answers for data it lost takes proven-loss strikes and is exiled at lossStrikesMax; repair restores the band', async () => {
    const coop = await coopWithSnapshots(6)
    const victim = [...coop.state.snapshots.values()][0]!.replicas[0]!.id
    coop.replica = (id) => (id === victim ? 'lost' : 'ok')
    for (let e = 0; e < 4 && coop.state.members.get(victim)?.status === 'active'; e++) await coop.epoch()
    const m = coop.state.members.get(victim)!
    expect(m.status).toBe('exiled')
    expect(m.exileReason).toMatch(/^loss: \d+ proven-loss strikes/)
    expect(m.standing.strikes).toBeGreaterThanOrEqual(POLICY.lossStrikesMax)
    for (const s of coop.state.snapshots.values()) {
      expect(s.replicas.map((r) => r.id)).not.toContain(victim)
      expect(s.replicas.length).toBeGreaterThanOrEqual(POLICY.replicationMin)
    }
  })

  it('an outage shorter than the availability window is forgiven; a longer one exiles', async () => {
    const coop = await coopWithSnapshots(6)
    const replica = [...coop.state.snapshots.values()][0]!.replicas[0]!.id
    let epochs = 0
    coop.replica = (id) => (id === replica && epochs < POLICY.unavailableEpochsMax - 1 ? 'down' : 'ok')
    for (; epochs < 10; epochs++) await coop.epoch()
    const m = coop.state.members.get(replica)!
    expect(m.status).toBe('active')
    expect(m.standing.history.filter((h) => h.unavailable)).toEqual([]) // forgotten after the window

    const coop2 = await coopWithSnapshots(6)
    const replica2 = [...coop2.state.snapshots.values()][0]!.replicas[0]!.id
    coop2.replica = (id) => (id === replica2 ? 'down' : 'ok')
    for (let e = 0; e < 6 && coop2.state.members.get(replica2)?.status === 'active'; e++) await coop2.epoch()
    expect(coop2.state.members.get(replica2)?.exileReason).toMatch(/^unavailable: unreachable in 3 of the last 4 epochs/)
  })

  it('an auditor that files unreachable against a replica others prove pass for is struck, and exiled at falseReportsMax', async () => {
    const coop = await coopWithSnapshots(6)
    const liar = FOUNDERS[3]!.id
    coop.auditor = (id) => (id === liar ? 'liar' : 'ok')
    let contradicted = 0
    for (let e = 0; e < 8 && coop.state.members.get(liar)?.status === 'active'; e++) {
      const duties = await coop.epoch()
      // Contradicted: every other audit of the replica this epoch carried a pass (none is the liar's).
      for (const a of duties) {
        if (a.auditor !== liar) continue
        const others = duties.filter((b) => b.replica === a.replica && b !== a)
        if (others.length > 0 && others.every((b) => b.auditor !== liar)) contradicted++
      }
    }
    const m = coop.state.members.get(liar)!
    expect(contradicted).toBeGreaterThanOrEqual(POLICY.falseReportsMax)
    expect(m.status).toBe('exiled')
    expect(m.exileReason).toMatch(/^reports: /)
    for (const p of FOUNDERS) if (p.id !== liar) expect(coop.state.members.get(p.id)?.standing.strikes).toBe(0)
  })
})

describe('settleEpoch (pure)', () => {
  const a = (replica: string, auditor: string, root = 'r'): AuditAssignment => ({ root, replica, auditor, chunks: [0] })
  it('missed, done, loss per snapshot, availability by majority unless a pass, false reports', () => {
    const duties = [a('R', 'x'), a('R', 'y'), a('R', 'z'), a('S', 'x', 'r1'), a('S', 'y', 'r2'), a('T', 'x'), a('T', 'y'), a('T', 'z'), a('U', 'x'), a('U', 'y'), a('V', 'x'), a('V', 'y'), a('V', 'z')]
    const verdicts = new Map<AuditAssignment, 'pass' | 'fail' | 'unreachable'>([
      [duties[0]!, 'unreachable'], [duties[1]!, 'unreachable'], // R: 2 of 3 unreachable, no pass → unavailable
      [duties[3]!, 'fail'], [duties[4]!, 'fail'], // S: loss on two snapshots
      [duties[5]!, 'unreachable'], [duties[6]!, 'pass'], [duties[7]!, 'pass'], // T: the rest pass; x is contradicted
      [duties[8]!, 'unreachable'], [duties[9]!, 'pass'], // U: the other one passes; x is contradicted
      [duties[10]!, 'unreachable'], [duties[11]!, 'pass'], // V: z did not report, so the rest do not all pass
    ])
    const out = settleEpoch(duties, (d) => verdicts.get(d))
    expect(out.get('z')).toMatchObject({ assigned: 3, missed: 2, done: 1, falseReports: 0 })
    expect(out.get('x')).toMatchObject({ assigned: 5, done: 5, falseReports: 2 })
    expect(out.get('y')).toMatchObject({ assigned: 5, done: 5, falseReports: 0 })
    expect(out.get('R')).toMatchObject({ unavailable: true, lost: 0 })
    expect(out.get('S')).toMatchObject({ unavailable: false, lost: 2 })
    expect(out.get('T')).toMatchObject({ unavailable: false, passed: 2 })
    expect(out.get('U')).toMatchObject({ unavailable: false, passed: 1 })
    expect(out.get('V')).toMatchObject({ unavailable: false, passed: 1 })
  })
})

describe('auditors never audit their sponsors or inductees (random member graphs)', () => {
  it('holds through the ledger for every epoch duty', async () => {
    const { default: fc } = await import('fast-check')
    fc.assert(
      fc.property(fc.array(fc.array(fc.nat(11), { maxLength: 3 }), { minLength: 12, maxLength: 12 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (sponsorGraph, seed) => {
        const ids = Array.from({ length: 12 }, (_, i) => `m${String(i).padStart(2, '0')}`)
        const members = ids.map((id, i) => ({ id, weight: 1000, standingScore: 1000, sponsors: [...new Set((sponsorGraph[i] ?? []).map((j) => ids[j]!))].filter((s) => s !== id) }))
        const duties = auditAssignments({ seed, epoch: 3, members, snapshots: [{ root: seed, chunks: 5, replicas: ids.slice(0, 4) }], auditorsPerReplica: 3, chunksPerAudit: 2, standingFloor: 0 })
        for (const d of duties) {
          const replica = members.find((m) => m.id === d.replica)!
          const auditor = members.find((m) => m.id === d.auditor)!
          if (replica.sponsors.includes(d.auditor) || auditor.sponsors.includes(d.replica) || d.auditor === d.replica) return false
        }
        return true
      }),
      { numRuns: 300 },
    )
  })
})

describe('the replica band', () => {
  it('is idempotent (so the close may skip it when members and band are unchanged), drops non-members, repairs below min', async () => {
    const { default: fc } = await import('fast-check')
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.uniqueArray(fc.nat(15), { maxLength: 8 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (n, held, min, extraTarget, extraMax, root) => {
        const active = Array.from({ length: n }, (_, i) => ({ id: `m${String(i).padStart(2, '0')}`, weight: 1000 }))
        const band = { min, target: min + extraTarget, max: min + extraTarget + extraMax }
        const current = held.map((i) => ({ id: `m${String(i).padStart(2, '0')}`, since: 1 }))
        const once = rebalance(root, current, active, band, 7)
        expect(rebalance(root, once, active, band, 9)).toEqual(once)
        const ids = new Set(active.map((m) => m.id))
        expect(once.every((r) => ids.has(r.id))).toBe(true)
        expect(once.length).toBeGreaterThanOrEqual(Math.min(band.min, n))
        // Only additions are new, and they come from epoch 7.
        for (const r of once) if (!held.some((i) => r.id === `m${String(i).padStart(2, '0')}`)) expect(r.since).toBe(7)
      }),
      { numRuns: 300 },
    )
  })
})
