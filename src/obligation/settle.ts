// Settlement of an epoch's duties (DESIGN.md §5.4): from the epoch's audit assignments and the
// reports filed, what each member did, missed and was struck for; standing with forgetting; and
// the thresholds past which the state transition exiles a member. Pure integer arithmetic on
// public data: every node settles the same way. docs/obligations.md states the rules.

import { assert } from '../errors.ts'
import type { AuditAssignment } from './assign.ts'

export type Verdict = 'pass' | 'fail' | 'unreachable'

/** What one member's epoch came to. */
export interface EpochOutcome {
  /** Audit duties it owed / reported / did not report. */
  assigned: number
  done: number
  missed: number
  /** Passes other members' reports carry for it as a replica. */
  passed: number
  /** Snapshots for which a report carries its signed wrong answer. */
  lost: number
  /** Its `unreachable` reports contradicted by signed passes in all the replica's other audits. */
  falseReports: number
  /** Most of its auditors found it unreachable and none carried a pass. */
  unavailable: boolean
}

function outcome(map: Map<string, EpochOutcome>, id: string): EpochOutcome {
  let o = map.get(id)
  if (o === undefined) {
    o = { assigned: 0, done: 0, missed: 0, passed: 0, lost: 0, falseReports: 0, unavailable: false }
    map.set(id, o)
  }
  return o
}

/**
 * Settle one epoch. `report(a)` is the verdict filed for assignment `a`, if any. Rules:
 * - an assignment without a report is a missed duty of its auditor, with one a duty done;
 * - each snapshot with a `fail` report is one proven-loss strike for its replica;
 * - a replica is unavailable when more than half of its auditors (over all its snapshots) report
 *   `unreachable` and no report carries a signed pass from it;
 * - an `unreachable` report about a replica whose every other audit this epoch (there must be at
 *   least one) carries a signed pass is a false report of its author: contradicted by the rest.
 * Members with nothing to settle are absent from the result.
 */
export function settleEpoch(assignments: ReadonlyArray<AuditAssignment>, report: (a: AuditAssignment) => Verdict | undefined): Map<string, EpochOutcome> {
  const out = new Map<string, EpochOutcome>()
  const perReplica = new Map<string, { auditors: number; unreachable: number; passes: number; lostRoots: Set<string> }>()
  const verdicts: Array<Verdict | undefined> = []
  for (const a of assignments) {
    const v = report(a)
    verdicts.push(v)
    const auditor = outcome(out, a.auditor)
    auditor.assigned++
    if (v === undefined) auditor.missed++
    else auditor.done++
    let r = perReplica.get(a.replica)
    if (r === undefined) {
      r = { auditors: 0, unreachable: 0, passes: 0, lostRoots: new Set() }
      perReplica.set(a.replica, r)
    }
    r.auditors++
    if (v === 'unreachable') r.unreachable++
    else if (v === 'pass') r.passes++
    else if (v === 'fail') r.lostRoots.add(a.root)
  }
  for (const [id, r] of perReplica) {
    const o = outcome(out, id)
    o.passed += r.passes
    o.lost += r.lostRoots.size
    o.unavailable = r.passes === 0 && 2 * r.unreachable > r.auditors
  }
  assignments.forEach((a, i) => {
    if (verdicts[i] !== 'unreachable') return
    const r = perReplica.get(a.replica)
    assert(r !== undefined, 'settleEpoch: replica tallied')
    if (r.auditors > 1 && r.passes === r.auditors - 1) outcome(out, a.auditor).falseReports++
  })
  return out
}

/** Milli-events per event in the α/β score. */
export const EVENT = 1000

/** Successes and failures an epoch's outcome adds to α and β (in events). */
export function events(o: EpochOutcome): { good: number; bad: number } {
  return { good: o.done + o.passed, bad: o.missed + o.lost + o.falseReports + (o.unavailable ? 1 : 0) }
}

/**
 * Storj-style reputation with forgetting (docs/obligations.md "Standing"): α ← ⌊α·λ⌋ + good,
 * β ← ⌊β·λ⌋ + bad with λ in permille, score = ⌊1000·α / (α+β)⌋; with no evidence left the
 * score keeps its previous value.
 */
export function nextStanding(alpha: number, beta: number, score: number, good: number, bad: number, forgettingPermille: number): { alpha: number; beta: number; score: number } {
  assert(Number.isSafeInteger(alpha) && Number.isSafeInteger(beta) && alpha >= 0 && beta >= 0, 'nextStanding: α and β must be non-negative integers')
  assert(forgettingPermille >= 0 && forgettingPermille <= 1000, 'nextStanding: forgetting is a permille')
  const a = Math.floor((alpha * forgettingPermille) / 1000) + EVENT * good
  const b = Math.floor((beta * forgettingPermille) / 1000) + EVENT * bad
  return { alpha: a, beta: b, score: scoreOf(a, b, score) }
}

export function scoreOf(alpha: number, beta: number, fallback: number): number {
  return alpha + beta === 0 ? fallback : Math.floor((1000 * alpha) / (alpha + beta))
}

export interface WindowCounts {
  /** Epochs with at least one missed duty. */
  readonly missedEpochs: number
  readonly lost: number
  readonly unavailableEpochs: number
  readonly falseReports: number
}

export interface Thresholds {
  readonly missedEpochsMax: number
  readonly lossStrikesMax: number
  readonly unavailableEpochsMax: number
  readonly falseReportsMax: number
}

/** Why the protocol exiles a member with these window counts, or null (DESIGN.md §5.4, last rule). */
export function exileReason(c: WindowCounts, t: Thresholds, windowEpochs: number): string | null {
  if (c.missedEpochs >= t.missedEpochsMax) return `duties: audit duties missed in ${c.missedEpochs} of the last ${windowEpochs} epochs`
  if (c.lost >= t.lossStrikesMax) return `loss: ${c.lost} proven-loss strikes in the last ${windowEpochs} epochs`
  if (c.falseReports >= t.falseReportsMax) return `reports: ${c.falseReports} contradicted reports in the last ${windowEpochs} epochs`
  if (c.unavailableEpochs >= t.unavailableEpochsMax) return `unavailable: unreachable in ${c.unavailableEpochs} of the last ${windowEpochs} epochs`
  return null
}
