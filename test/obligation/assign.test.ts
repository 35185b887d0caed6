// Assignment by weight (DESIGN.md §5.2): the fixed-point −ln against an independent high-precision
// reference and the float formula, weighted rendezvous replication (spread, movement on induction
// and exile), and audit assignment against a naive reference over random sponsor graphs.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AssertionError } from '../../src/errors.ts'
import { encode } from '../../src/ledger/encoding.ts'
import { sha256, toHex } from '../../src/ledger/hash.ts'
import {
  AUDITOR_TAG,
  CHALLENGE_TAG,
  REPLICA_TAG,
  auditAssignments,
  auditorsRequired,
  challengeChunks,
  dutiesOf,
  negLnFixed,
  replicaDraw,
  replicasFor,
  shareOfDuties,
  tallyDuties,
  type AuditAssignment,
  type AuditInput,
  type AuditMember,
  type WeightedMember,
} from '../../src/obligation/index.ts'

const TWO_53 = 2 ** 53
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const rootOf = (i: number): Uint8Array => sha256(encode(['test/root', i]))
const idOf = (i: number): string => `troth1m${String(i).padStart(4, '0')}`
const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
const first128 = (h: Uint8Array): bigint => BigInt(`0x${toHex(h.subarray(0, 16))}`)

function throwsAssertion(f: () => unknown): void {
  expect(f).toThrow(AssertionError)
}

/** Deterministic shuffle (no Math.random: a failing case must replay). */
function shuffled<T>(list: readonly T[], salt: number): T[] {
  return list
    .map((v, i) => ({ v, k: toHex(sha256(encode(['test/shuffle', salt, i]))) }))
    .sort((a, b) => (a.k < b.k ? -1 : 1))
    .map((e) => e.v)
}

// ---------------------------------------------------------------------------------------------
// Fixed-point −ln U

/** ⌊2^128 · (−ln((2x + 1) / 2^54))⌋ by Python's decimal module at 120 digits (independent of our code). */
const DECIMAL_REFERENCE: ReadonlyArray<readonly [number, bigint]> = [
  [0, 12736751214177717883448983709264342157559n],
  [1, 12362912824261304215845489524603871333441n],
  [2 ** 52 - 1, 235865763225513331916876005721318291119n],
  [2 ** 52, 235865763225513256359012279806994871983n],
  [2 ** 53 - 1, 18889465931478581379072n],
  [123456789, 6160947957527454548961396264406308297520n],
  [6004799503160661, 137972626690900364020817076157026043398n],
]

/** Our exact outputs for the same x: a change to any of them is a change of every assignment. */
const PINNED: ReadonlyArray<readonly [number, bigint]> = [
  [0, 12736751214177717883448983709264342157546n],
  [1, 12362912824261304215845489524603871333429n],
  [2 ** 52 - 1, 235865763225513331916876005721318291124n],
  [2 ** 52, 235865763225513256359012279806994871983n],
  [2 ** 53 - 1, 18889465931478581379077n],
  [123456789, 6160947957527454548961396264406308297521n],
  [6004799503160661, 137972626690900364020817076157026043406n],
]

/** The float formula of DESIGN.md §5.2, for comparison only. */
const floatNegLn = (x: number): number => -Math.log((x + 0.5) / TWO_53)

describe('fixed-point −ln U', () => {
  it('is within 2^-122 of a 120-digit decimal reference, and pinned', () => {
    for (const [x, ref] of DECIMAL_REFERENCE) {
      const d = negLnFixed(x) - ref
      expect(d < 64n && d > -64n, `x=${x}: off by ${d} units of 2^-128`).toBe(true)
    }
    for (const [x, v] of PINNED) expect(negLnFixed(x)).toBe(v)
  })

  it('is strictly decreasing in x (so equal weights may compare x directly)', () => {
    const edges = [0, 1, 2, 254, 255, 256, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 52 - 2, 2 ** 52 - 1, 2 ** 52, TWO_53 - 2]
    for (const x of edges) expect(negLnFixed(x) > negLnFixed(x + 1)).toBe(true)
    fc.assert(
      fc.property(fc.integer({ min: 0, max: TWO_53 - 2 }), (x) => negLnFixed(x) > negLnFixed(x + 1)),
      { numRuns: 500 },
    )
  })

  it('agrees with the float formula to float precision', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: TWO_53 - 1 }), (x) => {
        const exact = Number(negLnFixed(x)) / 2 ** 128
        const f = floatNegLn(x)
        // (x + 0.5) / 2^53 rounds to 53 bits: an absolute error up to 2^-53 in U near 1.
        expect(Math.abs(exact - f)).toBeLessThanOrEqual(1e-14 * f + 2 ** -52)
      }),
      { numRuns: 1000 },
    )
  })

  it('orders weighted scores like the float formula, except near-ties', () => {
    const weight = fc.oneof(fc.constant(1000), fc.constant(500), fc.integer({ min: 1, max: 5000 }))
    const x = fc.oneof(fc.integer({ min: 0, max: TWO_53 - 1 }), fc.integer({ min: TWO_53 - 2 ** 40, max: TWO_53 - 1 }))
    let compared = 0
    fc.assert(
      fc.property(x, weight, x, weight, (xa, wa, xb, wb) => {
        const fa = floatNegLn(xa) / wa
        const fb = floatNegLn(xb) / wb
        // A near-tie: closer than the float formula's own error.
        if (Math.abs(fa - fb) <= 1e-12 * Math.max(fa, fb) + 2 ** -50 / Math.min(wa, wb)) return
        compared++
        const exact = negLnFixed(xa) * BigInt(wb) < negLnFixed(xb) * BigInt(wa)
        expect(exact).toBe(fa < fb)
      }),
      { numRuns: 3000 },
    )
    expect(compared).toBeGreaterThan(2500)
  })
})

// ---------------------------------------------------------------------------------------------
// Replication

/** Reference: the float formula over every member, sorted; null when the cut is a near-tie. */
function floatReplicas(root: Uint8Array, members: readonly WeightedMember[], count: number): string[] | null {
  const scored = members
    .filter((m) => m.weight > 0)
    .map((m) => ({ id: m.id, s: floatNegLn(replicaDraw(root, m.id)) / m.weight }))
    .sort((a, b) => a.s - b.s || (a.id < b.id ? -1 : 1))
  for (let i = 0; i + 1 < Math.min(scored.length, count + 1); i++) {
    const a = (scored[i] as { s: number }).s
    const b = (scored[i + 1] as { s: number }).s
    if (b - a <= 1e-12 * b + 1e-15) return null
  }
  return scored.slice(0, count).map((m) => m.id)
}

const membersArb = fc
  .uniqueArray(fc.stringMatching(/^[a-z2-7]{3,8}$/), { minLength: 1, maxLength: 40 })
  .chain((names) =>
    fc.tuple(
      fc.constant(names.map((n) => `troth1${n}`)),
      fc.array(fc.oneof(fc.constant(0), fc.constant(1000), fc.constant(500), fc.integer({ min: 1, max: 3000 })), { minLength: names.length, maxLength: names.length }),
    ),
  )
  .map(([ids, weights]) => ids.map((id, i) => ({ id, weight: weights[i] as number })))

describe('replicasFor: weighted rendezvous', () => {
  it('hashes encode([troth/replica/v1, root, id])', () => {
    const root = rootOf(1)
    const h = sha256(encode([REPLICA_TAG, root, 'troth1abc']))
    const x = replicaDraw(root, 'troth1abc')
    expect(x).toBe(Number(BigInt(`0x${toHex(h.subarray(0, 8))}`) >> 11n))
  })

  it('matches the float formula on random member sets, best first', () => {
    fc.assert(
      fc.property(membersArb, fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: 8 }), (members, root, count) => {
        const ref = floatReplicas(root, members, count)
        fc.pre(ref !== null)
        expect(replicasFor(root, members, count)).toEqual(ref)
      }),
      { numRuns: 300 },
    )
  })

  it('is deterministic and independent of member order; weight 0 is never chosen', () => {
    fc.assert(
      fc.property(membersArb, fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: 8 }), fc.nat(), (members, root, count, salt) => {
        const a = replicasFor(root, members, count)
        expect(replicasFor(root, shuffled(members, salt), count)).toEqual(a)
        const positive = members.filter((m) => m.weight > 0)
        expect(a.length).toBe(Math.min(count, positive.length))
        expect(new Set(a).size).toBe(a.length)
        for (const id of a) expect(positive.some((m) => m.id === id)).toBe(true)
        // The ranking is a prefix order: fewer replicas are the best of more.
        expect(replicasFor(root, members, count + 2).slice(0, a.length)).toEqual(a)
      }),
      { numRuns: 200 },
    )
    const all = [{ id: 'troth1zero', weight: 0 }, { id: 'troth1one', weight: 1 }]
    for (let i = 0; i < 50; i++) expect(replicasFor(rootOf(i), all, 2)).toEqual(['troth1one'])
  })

  it('spreads replicas evenly over equal weights', () => {
    const n = 20
    const count = 4
    const snapshots = 4000
    const members = Array.from({ length: n }, (_, i) => ({ id: idOf(i), weight: 1000 }))
    const load = new Map<string, number>()
    for (let s = 0; s < snapshots; s++) for (const id of replicasFor(rootOf(s), members, count)) load.set(id, (load.get(id) ?? 0) + 1)
    const expected = (snapshots * count) / n // 800; binomial σ ≈ 25
    for (const m of members) expect(Math.abs((load.get(m.id) ?? 0) / expected - 1)).toBeLessThan(0.12)
  })

  it('moves about 1/n of the replicas on induction and on exile, and only through that member', () => {
    const count = 4
    const snapshots = 2000
    for (const n of [10, 40]) {
      const members = Array.from({ length: n }, (_, i) => ({ id: idOf(i), weight: i % 3 === 0 ? 500 : 1000 }))
      const before = Array.from({ length: snapshots }, (_, s) => replicasFor(rootOf(s), members, count))

      // Induction of a member of weight 1000.
      const newcomer = { id: 'troth1newcomer', weight: 1000 }
      let movedSlots = 0
      let movedSnapshots = 0
      for (let s = 0; s < snapshots; s++) {
        const old = before[s] as string[]
        const now = replicasFor(rootOf(s), [...members, newcomer], count)
        const gone = old.filter((id) => !now.includes(id))
        const added = now.filter((id) => !old.includes(id))
        if (added.length === 0) continue
        movedSnapshots++
        movedSlots += added.length
        // Only the newcomer enters, and it displaces exactly one replica.
        expect(added).toEqual([newcomer.id])
        expect(gone.length).toBe(1)
      }
      const slotFraction = movedSlots / (snapshots * count)
      expect(slotFraction).toBeGreaterThan(0)
      expect(slotFraction).toBeLessThanOrEqual(1 / n + 0.05)
      expect(movedSnapshots / snapshots).toBeLessThanOrEqual(count / n + 0.05)

      // Exile of one member (weight → 0, which is what exile does).
      const exiled = idOf(1)
      const after = members.map((m) => (m.id === exiled ? { ...m, weight: 0 } : m))
      movedSlots = 0
      for (let s = 0; s < snapshots; s++) {
        const old = before[s] as string[]
        const now = replicasFor(rootOf(s), after, count)
        const gone = old.filter((id) => !now.includes(id))
        if (!old.includes(exiled)) {
          expect(now).toEqual(old) // nobody else's data moves
          continue
        }
        expect(gone).toEqual([exiled])
        // The survivors keep their order; the next-ranked member fills the slot.
        expect(now.slice(0, count - 1)).toEqual(old.filter((id) => id !== exiled))
        movedSlots += 1
      }
      const exileFraction = movedSlots / (snapshots * count)
      expect(exileFraction).toBeGreaterThan(0)
      expect(exileFraction).toBeLessThanOrEqual(1 / n + 0.05)
    }
  })

  it('rejects malformed input as a bug', () => {
    throwsAssertion(() => replicasFor(rootOf(0), [{ id: 'a', weight: 1 }, { id: 'a', weight: 2 }], 1))
    throwsAssertion(() => replicasFor(rootOf(0), [{ id: 'a', weight: -1 }], 1))
    throwsAssertion(() => replicasFor(rootOf(0), [{ id: 'a', weight: 0.5 }], 1))
    throwsAssertion(() => replicasFor(rootOf(0), [{ id: '', weight: 1 }], 1))
    throwsAssertion(() => replicasFor(rootOf(0), [], -1))
    throwsAssertion(() => replicasFor(rootOf(0), [], 1.5))
    throwsAssertion(() => negLnFixed(TWO_53))
    throwsAssertion(() => negLnFixed(-1))
  })
})

// ---------------------------------------------------------------------------------------------
// Audits

/** Naive reference of the audit rules: O(n) per draw, the plain encode() of every hash input. */
function naiveAudits(input: AuditInput): AuditAssignment[] {
  const snaps = [...input.snapshots].sort((a, b) => (toHex(a.root) < toHex(b.root) ? -1 : 1))
  const plain = [...input.members].sort(byId)
  const excludedFor = (r: AuditMember): Set<string> => new Set([r.id, ...r.sponsors, ...plain.filter((m) => m.sponsors.includes(r.id)).map((m) => m.id)])
  const need = (r: AuditMember, eligible: number): number => Math.min(r.standingScore < input.standingFloor ? 2 * input.auditorsPerReplica : input.auditorsPerReplica, eligible)
  // Exclusion make-up, written out: D draws in the epoch, member m excluded from E_m of them.
  let draws = 0
  const excludedDraws = new Map<string, number>()
  for (const s of snaps) {
    if (s.chunks === 0) continue
    for (const replicaId of s.replicas) {
      const r = plain.find((m) => m.id === replicaId)
      if (r === undefined) continue
      const out = [...excludedFor(r)].filter((id) => (plain.find((m) => m.id === id)?.weight ?? 0) > 0)
      const k = need(r, plain.filter((m) => m.weight > 0).length - out.length)
      draws += k
      for (const id of out) excludedDraws.set(id, (excludedDraws.get(id) ?? 0) + k)
    }
  }
  const members = plain.map((m) => {
    const e = excludedDraws.get(m.id) ?? 0
    if (m.weight === 0 || e === 0 || e >= draws) return m
    return { ...m, weight: Math.min(4 * m.weight, Math.floor((m.weight * draws) / (draws - e))) }
  })
  const out: AuditAssignment[] = []
  for (const s of snaps) {
    if (s.chunks === 0) continue
    for (const replicaId of [...s.replicas].sort()) {
      const r = members.find((m) => m.id === replicaId)
      if (r === undefined) continue
      const excluded = excludedFor(r)
      const pool = members.filter((m) => m.weight > 0 && !excluded.has(m.id))
      const count = need(r, pool.length)
      for (let j = 0; j < count; j++) {
        const total = pool.reduce((t, m) => t + m.weight, 0)
        let x = Number(first128(sha256(encode([AUDITOR_TAG, input.epoch, input.seed, s.root, r.id, j]))) % BigInt(total))
        let at = 0
        while (x >= (pool[at] as AuditMember).weight) x -= (pool[at++] as AuditMember).weight
        const a = pool.splice(at, 1)[0] as AuditMember
        const chunks = Array.from({ length: input.chunksPerAudit }, (_, i) =>
          Number(first128(sha256(encode([CHALLENGE_TAG, input.epoch, input.seed, s.root, r.id, a.id, i]))) % BigInt(s.chunks)),
        )
        out.push({ root: toHex(s.root), replica: r.id, auditor: a.id, chunks })
      }
    }
  }
  return out
}

const graphArb = fc.integer({ min: 2, max: 24 }).chain((n) =>
  fc.record({
    members: fc.tuple(
      ...Array.from({ length: n }, (_, i) =>
        fc.record({
          id: fc.constant(idOf(i)),
          weight: fc.oneof({ arbitrary: fc.constant(1000), weight: 4 }, { arbitrary: fc.constant(0), weight: 1 }, { arbitrary: fc.integer({ min: 1, max: 2000 }), weight: 2 }),
          sponsors: fc.uniqueArray(fc.integer({ min: 0, max: n + 2 }), { maxLength: 3 }).map((s) => s.map(idOf)),
          standingScore: fc.integer({ min: 0, max: 1000 }),
        }),
      ),
    ),
    snapshots: fc.uniqueArray(
      fc.record({
        root: fc.uint8Array({ minLength: 32, maxLength: 32 }),
        chunks: fc.oneof(fc.integer({ min: 1, max: 5000 }), fc.constant(0)),
        // n + 1 … are not members: replicas that have left.
        replicas: fc.uniqueArray(fc.integer({ min: 0, max: n + 1 }), { maxLength: 6 }).map((r) => r.map(idOf)),
      }),
      { maxLength: 5, selector: (s) => toHex(s.root) },
    ),
    seed: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    epoch: fc.nat(1_000_000),
    auditorsPerReplica: fc.integer({ min: 1, max: 4 }),
    chunksPerAudit: fc.integer({ min: 1, max: 6 }),
    standingFloor: fc.integer({ min: 0, max: 1000 }),
  }),
)

describe('auditAssignments', () => {
  it('never draws the replica, its sponsors or its inductees; auditors are distinct; count = min(required, eligible)', () => {
    fc.assert(
      fc.property(graphArb, (input) => {
        const out = auditAssignments(input)
        const member = new Map(input.members.map((m) => [m.id, m]))
        const pairs = new Map<string, AuditAssignment[]>()
        for (const a of out) {
          const key = `${a.root}/${a.replica}`
          pairs.set(key, [...(pairs.get(key) ?? []), a])
          const r = member.get(a.replica) as AuditMember
          const auditor = member.get(a.auditor) as AuditMember
          expect(r).toBeDefined()
          expect(auditor).toBeDefined()
          expect(a.auditor).not.toBe(a.replica)
          expect(r.sponsors).not.toContain(a.auditor) // you don't audit your sponsor…
          expect(auditor.sponsors).not.toContain(a.replica) // …and people you inducted never audit you
          expect(auditor.weight).toBeGreaterThan(0)
          const snap = input.snapshots.find((s) => toHex(s.root) === a.root)
          expect(a.chunks).toHaveLength(input.chunksPerAudit)
          for (const c of a.chunks) expect(c >= 0 && c < (snap?.chunks ?? 0)).toBe(true)
        }
        for (const s of input.snapshots) {
          for (const replicaId of s.replicas) {
            const got = pairs.get(`${toHex(s.root)}/${replicaId}`) ?? []
            const r = member.get(replicaId)
            if (r === undefined || s.chunks === 0) {
              expect(got).toHaveLength(0)
              continue
            }
            const eligible = input.members.filter((m) => m.weight > 0 && m.id !== r.id && !r.sponsors.includes(m.id) && !m.sponsors.includes(r.id))
            const required = auditorsRequired(r.standingScore, input.auditorsPerReplica, input.standingFloor)
            expect(got).toHaveLength(Math.min(required, eligible.length))
            expect(new Set(got.map((a) => a.auditor)).size).toBe(got.length)
          }
        }
      }),
      { numRuns: 300 },
    )
  })

  it('equals the naive reference (plain encode() inputs, O(n) weighted walk)', () => {
    fc.assert(
      fc.property(graphArb, (input) => {
        expect(auditAssignments(input)).toEqual(naiveAudits(input))
      }),
      { numRuns: 300 },
    )
  })

  it('is deterministic and independent of the order of members, snapshots, replicas and sponsors', () => {
    fc.assert(
      fc.property(graphArb, fc.nat(), (input, salt) => {
        const out = auditAssignments(input)
        expect(auditAssignments(input)).toEqual(out)
        const permuted: AuditInput = {
          ...input,
          members: shuffled(input.members, salt).map((m) => ({ ...m, sponsors: shuffled(m.sponsors, salt + 1) })),
          snapshots: shuffled(input.snapshots, salt + 2).map((s) => ({ ...s, replicas: shuffled(s.replicas, salt + 3) })),
        }
        expect(auditAssignments(permuted)).toEqual(out)
      }),
      { numRuns: 150 },
    )
  })

  it('challenges H(encode([troth/challenge/v1, epoch, seed, root, replica, auditor, i])) mod chunks', () => {
    const seed = utf8('seed')
    const root = rootOf(7)
    const got = challengeChunks(seed, 3, root, 'troth1r', 'troth1a', 1000, 5)
    const want = [0, 1, 2, 3, 4].map((i) => Number(first128(sha256(encode([CHALLENGE_TAG, 3, seed, root, 'troth1r', 'troth1a', i]))) % 1000n))
    expect(got).toEqual(want)
    const members = ['troth1r', 'troth1a'].map((id) => ({ id, weight: 1000, sponsors: [], standingScore: 1000 }))
    const [a] = auditAssignments({ seed, epoch: 3, members, snapshots: [{ root, chunks: 1000, replicas: ['troth1r'] }], auditorsPerReplica: 1, chunksPerAudit: 5, standingFloor: 600 })
    expect(a).toEqual({ root: toHex(root), replica: 'troth1r', auditor: 'troth1a', chunks: want })
  })

  it('reduces 128 bits exactly on both sides of the Number/BigInt split (moduli around 2^21 and up to 2^53)', () => {
    const seed = utf8('split')
    for (const chunks of [1, 2, 2 ** 21 - 1, 2 ** 21, 2 ** 21 + 1, 2 ** 32 + 15, 2 ** 40 + 3, TWO_53 - 1]) {
      const want = [0, 1, 2].map((i) => Number(first128(sha256(encode([CHALLENGE_TAG, 9, seed, rootOf(1), 'troth1r', 'troth1a', i]))) % BigInt(chunks)))
      expect(challengeChunks(seed, 9, rootOf(1), 'troth1r', 'troth1a', chunks, 3)).toEqual(want)
    }
    // Weights whose total crosses 2^21 put the auditor draw on the BigInt side.
    for (const heavy of [1000, 700_000, 2 ** 21, 10 ** 12]) {
      const members: AuditMember[] = Array.from({ length: 9 }, (_, i) => ({ id: idOf(i), weight: i % 3 === 0 ? heavy : 1000 + i, sponsors: [], standingScore: 900 }))
      const input: AuditInput = { seed, epoch: 1, members, snapshots: Array.from({ length: 20 }, (_, s) => ({ root: rootOf(s), chunks: 10, replicas: [idOf(s % 9)] })), auditorsPerReplica: 3, chunksPerAudit: 1, standingFloor: 0 }
      expect(auditAssignments(input)).toEqual(naiveAudits(input))
    }
  })

  it('gives weight-0 members no audits, and low-standing replicas twice the auditors', () => {
    const members: AuditMember[] = Array.from({ length: 12 }, (_, i) => ({ id: idOf(i), weight: i < 3 ? 0 : 1000, sponsors: [], standingScore: i === 5 ? 599 : i === 6 ? 600 : 900 }))
    const snapshots = Array.from({ length: 40 }, (_, s) => ({ root: rootOf(s), chunks: 64, replicas: [idOf(0), idOf(4), idOf(5), idOf(6)] }))
    for (let epoch = 0; epoch < 20; epoch++) {
      const out = auditAssignments({ seed: rootOf(1000 + epoch), epoch, members, snapshots, auditorsPerReplica: 2, chunksPerAudit: 3, standingFloor: 600 })
      for (const a of out) expect([idOf(0), idOf(1), idOf(2)]).not.toContain(a.auditor)
      const per = (id: string): number => out.filter((a) => a.replica === id).length / snapshots.length
      expect(per(idOf(0))).toBe(2) // a weight-0 replica still owes its data until repair
      expect(per(idOf(4))).toBe(2)
      expect(per(idOf(5))).toBe(4) // 599 < floor 600
      expect(per(idOf(6))).toBe(2) // at the floor is not below it
    }
    // The cap: with 2 eligible auditors, a low-standing replica gets 2, not 4.
    const few = [0, 1, 2].map((i) => ({ id: idOf(i), weight: 1000, sponsors: [], standingScore: i === 0 ? 0 : 900 }))
    const capped = auditAssignments({ seed: rootOf(1), epoch: 0, members: few, snapshots: [{ root: rootOf(2), chunks: 8, replicas: [idOf(0)] }], auditorsPerReplica: 2, chunksPerAudit: 1, standingFloor: 600 })
    expect(capped.map((a) => a.auditor).sort()).toEqual([idOf(1), idOf(2)])
  })

  it('draws a single auditor in proportion to weight', () => {
    const weights = [1000, 2000, 3000]
    const members = [{ id: 'troth1replica', weight: 1000, sponsors: [], standingScore: 1000 }, ...weights.map((weight, i) => ({ id: idOf(i), weight, sponsors: [], standingScore: 1000 }))]
    const snapshots = Array.from({ length: 100 }, (_, s) => ({ root: rootOf(s), chunks: 1, replicas: ['troth1replica'] }))
    const tally = new Map<string, number>()
    for (let epoch = 0; epoch < 60; epoch++) {
      tallyDuties(auditAssignments({ seed: rootOf(5000 + epoch), epoch, members, snapshots, auditorsPerReplica: 1, chunksPerAudit: 1, standingFloor: 0 }), tally)
    }
    const shares = shareOfDuties(tally, weights.map((weight, i) => ({ id: idOf(i), weight })))
    expect(shares.totalDuties).toBe(6000)
    expect(shares.strayDuties).toBe(0)
    expect(shares.maxRelDeviation).toBeLessThan(0.08) // binomial noise: 1σ ≈ 1.4% per member here // σ of the lightest ≈ 2.3%
  })

  it('rejects malformed input as a bug', () => {
    const base: AuditInput = { seed: rootOf(0), epoch: 0, members: [{ id: 'troth1a', weight: 1000, sponsors: [], standingScore: 900 }], snapshots: [], auditorsPerReplica: 2, chunksPerAudit: 4, standingFloor: 600 }
    expect(auditAssignments(base)).toEqual([])
    throwsAssertion(() => auditAssignments({ ...base, auditorsPerReplica: 0 }))
    throwsAssertion(() => auditAssignments({ ...base, chunksPerAudit: 0 }))
    throwsAssertion(() => auditAssignments({ ...base, epoch: -1 }))
    throwsAssertion(() => auditAssignments({ ...base, members: [...base.members, ...base.members] }))
    throwsAssertion(() => auditAssignments({ ...base, snapshots: [{ root: rootOf(1), chunks: 2, replicas: [] }, { root: rootOf(1), chunks: 2, replicas: [] }] }))
    throwsAssertion(() => auditAssignments({ ...base, snapshots: [{ root: rootOf(1), chunks: 2, replicas: ['troth1a', 'troth1a'] }] }))
    throwsAssertion(() => auditAssignments({ ...base, snapshots: [{ root: rootOf(1), chunks: -1, replicas: [] }] }))
  })
})

describe('making up for exclusions', () => {
  it('a prolific sponsor still gets its weight\'s share of audits (it would lose about 40% without the make-up)', () => {
    // Member 0 inducted 1…8 and may audit none of them; the others have two sponsors each.
    const members: AuditMember[] = Array.from({ length: 20 }, (_, i) => ({
      id: idOf(i),
      weight: 1000,
      sponsors: i >= 1 && i <= 8 ? [idOf(0)] : i > 8 ? [idOf(1 + (i % 8)), idOf(9 + (i % 3))].filter((x) => x !== idOf(i)) : [],
      standingScore: 900,
    }))
    const snapshots = Array.from({ length: 60 }, (_, i) => ({ root: rootOf(1000 + i), chunks: 10, replicas: replicasFor(rootOf(1000 + i), members, 4) }))
    const tally = new Map<string, number>()
    for (let e = 0; e < 200; e++) tallyDuties(auditAssignments({ seed: rootOf(5000 + e), epoch: e, members, snapshots, auditorsPerReplica: 2, chunksPerAudit: 1, standingFloor: 600 }), tally)
    const shares = shareOfDuties(tally, members)
    const dev = (id: string): number => shares.rows.find((r) => r.id === id)!.relDeviation
    expect(Math.abs(dev(idOf(0)))).toBeLessThan(0.05)
    expect(shares.maxRelDeviation).toBeLessThan(0.08) // binomial noise: 1σ ≈ 1.4% per member here
  })
})

describe('golden assignments (a change here changes every node\'s duties: a format change)', () => {
  const members: AuditMember[] = Array.from({ length: 8 }, (_, i) => ({
    id: idOf(i),
    weight: [1000, 500, 1000, 250, 1000, 0, 750, 1000][i] as number,
    sponsors: i >= 3 ? [idOf(i - 3)] : [],
    standingScore: i === 4 ? 500 : 900,
  }))

  it('replicasFor', () => {
    expect(replicasFor(rootOf(42), members, 8)).toEqual([0, 2, 7, 6, 1, 4, 3].map(idOf))
  })

  it('auditAssignments', () => {
    const out = auditAssignments({ seed: rootOf(43), epoch: 7, members, snapshots: [{ root: rootOf(42), chunks: 100, replicas: [idOf(7), idOf(4), idOf(0)] }], auditorsPerReplica: 2, chunksPerAudit: 3, standingFloor: 600 })
    const golden: ReadonlyArray<readonly [number, number, number[]]> = [
      // (draw weights raised for exclusions since the exclusion make-up: a deliberate change)
      [0, 1, [69, 27, 77]],
      [0, 7, [59, 30, 53]],
      [4, 0, [78, 13, 60]], // standing 500 < 600: four auditors, all that is eligible (not 1, 5, 7)
      [4, 2, [92, 71, 1]],
      [4, 6, [43, 15, 82]],
      [4, 3, [92, 64, 30]],
      [7, 0, [54, 26, 25]],
      [7, 2, [87, 56, 81]],
    ]
    expect(out).toEqual(golden.map(([r, a, chunks]) => ({ root: toHex(rootOf(42)), replica: idOf(r), auditor: idOf(a), chunks })))
  })
})

describe('duty helpers', () => {
  it('dutiesOf, tallyDuties and shareOfDuties agree', () => {
    const members: AuditMember[] = Array.from({ length: 8 }, (_, i) => ({ id: idOf(i), weight: i % 2 === 0 ? 1000 : 500, sponsors: i > 0 ? [idOf(i - 1)] : [], standingScore: 900 }))
    const snapshots = Array.from({ length: 30 }, (_, s) => ({ root: rootOf(s), chunks: 100, replicas: replicasFor(rootOf(s), members, 3) }))
    const out = auditAssignments({ seed: rootOf(99), epoch: 1, members, snapshots, auditorsPerReplica: 2, chunksPerAudit: 4, standingFloor: 600 })
    const tally = tallyDuties(out)
    for (const m of members) expect(dutiesOf(out, m.id).length).toBe(tally.get(m.id) ?? 0)
    const shares = shareOfDuties(tally, members)
    expect(shares.totalDuties).toBe(out.length)
    expect(shares.rows.reduce((t, r) => t + r.duties, 0)).toBe(out.length)
    expect(shares.rows.reduce((t, r) => t + r.weightShare, 0)).toBeCloseTo(1, 12)
    expect(shares.p99RelDeviation).toBeLessThanOrEqual(shares.maxRelDeviation)
  })
})
