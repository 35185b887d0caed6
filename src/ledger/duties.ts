// The duties a ledger state implies (DESIGN.md §5.2): the epoch's audit assignments, computed
// from the state in force during the epoch (members, weights, sponsors, standing, replicas and
// policy all change only at an epoch close), and the replica band kept at each close.

import { auditAssignments, replicasFor, type AuditAssignment } from '../obligation/index.ts'
import { fromHex } from './hash.ts'
import { dutyKey, policyValues, type EpochState, type LedgerState, type ReplicaDuty, type Snapshot } from './state.ts'

export interface EpochDuties {
  readonly epoch: number
  readonly assignments: readonly AuditAssignment[]
  /** dutyKey → challenged chunk indexes. */
  readonly byKey: ReadonlyMap<string, readonly number[]>
}

// Keyed by the epoch record: it is replaced at every close, and nothing the assignment reads
// changes while it stands (a seal mid-epoch adds replicas audited only from a later epoch).
const cache = new WeakMap<EpochState, EpochDuties>()

/** Replicas of `s` that owe audits in `epoch`: those that took the duty at least
 * replicaGraceEpochs epochs earlier (time to fetch the data first). */
export function auditedReplicas(s: Snapshot, epoch: number, graceEpochs: number): string[] {
  return s.replicas.filter((r) => r.since + graceEpochs <= epoch).map((r) => r.id)
}

export function epochDuties(state: LedgerState): EpochDuties {
  const hit = cache.get(state.epoch)
  if (hit !== undefined) return hit
  const policy = policyValues(state)
  const epoch = state.epoch.number
  const members = state.epoch.validators.map((v) => {
    const m = state.members.get(v.id)
    return { id: v.id, weight: v.weight, sponsors: m?.sponsors ?? [], standingScore: m?.standing.score ?? 0 }
  })
  const snapshots = [...state.snapshots.entries()].map(([hex, s]) => ({ root: fromHex(hex), chunks: s.chunks, replicas: auditedReplicas(s, epoch, policy.replicaGraceEpochs) }))
  const assignments = auditAssignments({
    seed: state.epoch.seed,
    epoch,
    members,
    snapshots,
    auditorsPerReplica: policy.auditorsPerReplica,
    chunksPerAudit: policy.chunksPerAudit,
    standingFloor: policy.standingFloor,
  })
  const byKey = new Map(assignments.map((a) => [dutyKey(a.root, a.replica, a.auditor), a.chunks]))
  const duties = { epoch, assignments, byKey }
  cache.set(state.epoch, duties)
  return duties
}

export interface Band {
  readonly min: number
  readonly target: number
  readonly max: number
}

/**
 * The replica set after a membership change (DESIGN.md §5.2): holders that are still active and
 * still among the `max` best-ranked members keep the duty; only when fewer than `min` remain are
 * the best-ranked others added, up to `target`, from epoch `since`. A short outage moves nothing;
 * an exile or departure moves only what the departed member held.
 */
export function rebalance(root: Uint8Array, current: readonly ReplicaDuty[], active: ReadonlyArray<{ id: string; weight: number }>, band: Band, since: number): ReplicaDuty[] {
  const ranking = replicasFor(root, active, Math.max(band.max, band.target))
  const ranked = new Set(ranking)
  const keep = current.filter((r) => ranked.has(r.id))
  if (keep.length >= band.min) return keep
  const held = new Set(keep.map((r) => r.id))
  for (const id of ranking) {
    if (keep.length >= band.target) break
    if (!held.has(id)) keep.push({ id, since })
  }
  return keep
}
