// Persistent democracy over numeric parameters (DESIGN.md §6): each member's policy.vote stands
// until changed; the effective value is the weighted median of the votes (non-voters count at the
// genesis value), clamped to the parameter's safe range, applied from the next epoch.

import { TrothError } from '../errors.ts'

export interface ParamSpec {
  readonly default: number
  readonly min: number
  readonly max: number
  readonly doc: string
}

const DAY_MS = 24 * 60 * 60 * 1000

/** Every policy parameter, its default and its safe range. Order is the documented order. */
export const PARAMS = Object.freeze({
  epochBlocks: { default: 100, min: 4, max: 100_000, doc: 'blocks per epoch' },
  inductionVouches: { default: 2000, min: 1000, max: 100_000, doc: 'vouch weight (milli) a candidate needs' },
  inductionWindowMs: { default: 3.5 * DAY_MS, min: 0, max: 60 * DAY_MS, doc: 'objection window after the first vouch' },
  inductionWindowFloorMs: { default: DAY_MS, min: 0, max: 60 * DAY_MS, doc: 'shortest window extra vouch weight can buy' },
  objectionWeight: { default: 1000, min: 1, max: 100_000, doc: 'objection weight (milli) that stops an induction' },
  vouchCap: { default: 2, min: 1, max: 20, doc: 'open vouches per sponsor' },
  standingFloor: { default: 600, min: 0, max: 1000, doc: 'standing (permille) a sponsor needs' },
  standingInitial: { default: 500, min: 0, max: 1000, doc: 'standing (permille) of a new member' },
  exileVoteWeight: { default: 500, min: 500, max: 1000, doc: 'an exile vote passes above this share (permille) of W' },
  exileWindowMs: { default: 14 * DAY_MS, min: DAY_MS / 24, max: 90 * DAY_MS, doc: 'how long an exile proposal stays open' },
  recoverWeight: { default: 500, min: 100, max: 1000, doc: 'support (permille of W) that re-keys a member' },
  recoverDelayMs: { default: 7 * DAY_MS, min: 0, max: 90 * DAY_MS, doc: 'delay in which the old key can cancel a recovery' },
  recoverWindowMs: { default: 30 * DAY_MS, min: DAY_MS / 24, max: 365 * DAY_MS, doc: 'after the delay, how long a recovery may wait for support before it lapses' },
  sponsorStrikeEpochs: { default: 10, min: 0, max: 10_000, doc: 'sponsors take a strike if their inductee is exiled within this many epochs' },
  replicationMin: { default: 3, min: 1, max: 32, doc: 'repair starts below this many live replicas' },
  replicationTarget: { default: 4, min: 1, max: 32, doc: 'replicas assigned to a new snapshot' },
  replicationMax: { default: 6, min: 1, max: 64, doc: 'replicas above this are released' },
  auditorsPerReplica: { default: 2, min: 1, max: 16, doc: 'auditors per (snapshot, replica) per epoch' },
  chunksPerAudit: { default: 4, min: 1, max: 12, doc: 'chunks challenged per audit (the answer carries them in one 4 MiB frame)' },
  replicaGraceEpochs: { default: 1, min: 1, max: 100, doc: 'a replica is audited from this many epochs after it took the duty' },
  dutyWindowEpochs: { default: 24, min: 2, max: 1000, doc: 'epochs over which missed duties, strikes and outages are counted' },
  missedEpochsMax: { default: 6, min: 1, max: 1000, doc: 'exile when audit duties were missed in this many epochs of the window' },
  lossStrikesMax: { default: 2, min: 1, max: 1000, doc: 'exile at this many proven-loss strikes within the window' },
  unavailableEpochsMax: { default: 12, min: 1, max: 1000, doc: 'exile when found unreachable in this many epochs of the window' },
  falseReportsMax: { default: 3, min: 1, max: 1000, doc: 'exile at this many contradicted reports within the window' },
  standingForgetting: { default: 950, min: 500, max: 1000, doc: 'per-epoch weight (permille) kept of past standing evidence' },
} satisfies Record<string, ParamSpec>)

export type ParamName = keyof typeof PARAMS
export const PARAM_NAMES = Object.keys(PARAMS) as ParamName[]
export type PolicyValues = Readonly<Record<ParamName, number>>

export function isParamName(name: string): name is ParamName {
  return Object.prototype.hasOwnProperty.call(PARAMS, name)
}

export function defaultPolicy(): PolicyValues {
  const out = {} as Record<ParamName, number>
  for (const p of PARAM_NAMES) out[p] = PARAMS[p].default
  return out
}

export function inRange(name: ParamName, value: number): boolean {
  const spec = PARAMS[name]
  return Number.isSafeInteger(value) && value >= spec.min && value <= spec.max
}

/** Genesis policy: defaults overridden by the founders' choices, each checked against its range. */
export function genesisPolicy(overrides: Readonly<Record<string, number>>): PolicyValues {
  const out = { ...defaultPolicy() } as Record<ParamName, number>
  for (const [k, v] of Object.entries(overrides)) {
    if (!isParamName(k)) throw new TrothError('genesis.invalid', `unknown policy parameter "${k}" (known: ${PARAM_NAMES.join(', ')})`)
    if (!inRange(k, v)) throw new TrothError('genesis.invalid', `policy ${k}=${v} is outside its range [${PARAMS[k].min}, ${PARAMS[k].max}]`)
    out[k] = v
  }
  if (!(out.replicationMin <= out.replicationTarget && out.replicationTarget <= out.replicationMax)) {
    throw new TrothError('genesis.invalid', `policy needs replicationMin <= replicationTarget <= replicationMax, got ${out.replicationMin}, ${out.replicationTarget}, ${out.replicationMax}`)
  }
  for (const p of WINDOW_THRESHOLDS) {
    if (out[p] > out.dutyWindowEpochs) throw new TrothError('genesis.invalid', `policy ${p}=${out[p]} exceeds dutyWindowEpochs=${out.dutyWindowEpochs}: it could never trigger`)
  }
  return out
}

/** Thresholds counted over the duty window: each must fit in it (clamped at every epoch close). */
export const WINDOW_THRESHOLDS = ['missedEpochsMax', 'lossStrikesMax', 'unavailableEpochsMax', 'falseReportsMax'] as const

export interface WeightedVote {
  readonly value: number
  readonly weight: number
}

/**
 * The lower weighted median: the smallest value v such that the votes at or below v carry at
 * least half of the total weight (2·cum(v) ≥ W). Equal to the plain lower median of the list in
 * which each value is repeated weight times. Zero total weight → undefined.
 */
export function weightedMedian(votes: readonly WeightedVote[]): number | undefined {
  let total = 0
  for (const v of votes) total += v.weight
  if (total === 0) return undefined
  const sorted = votes.filter((v) => v.weight > 0).sort((a, b) => a.value - b.value)
  let cum = 0
  for (const v of sorted) {
    cum += v.weight
    if (2 * cum >= total) return v.value
  }
  throw new Error('unreachable: cumulative weight never reached half')
}

/** The effective value of one parameter: weighted median of standing votes, non-voters at the
 * genesis value, clamped to the safe range. */
export function effectiveValue(
  name: ParamName,
  genesisValue: number,
  votes: ReadonlyMap<string, number>,
  weights: ReadonlyMap<string, number>,
): number {
  const list: WeightedVote[] = []
  for (const [member, weight] of weights) {
    if (weight <= 0) continue
    list.push({ value: votes.get(member) ?? genesisValue, weight })
  }
  const median = weightedMedian(list) ?? genesisValue
  const spec = PARAMS[name]
  return Math.min(spec.max, Math.max(spec.min, median))
}
