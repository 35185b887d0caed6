// Ledger state (DESIGN.md §3.3): derived from genesis and the log, never edited by hand. Kept as
// immutable maps of immutable records; apply() copies only what it touches. The state is also a
// sorted set of key/value records: that is what the store keeps and what the state root hashes.

import { asArray, asBool, asBytes, asEnum, asMap, asText, asUint, encode, type CborValue } from './encoding.ts'
import { rootOf, leafHash } from './merkle.ts'
import { parseSignedRequest, signedRequestToCbor, type SignedRequest } from './request.ts'
import { PARAM_NAMES, isParamName, type ParamName, type PolicyValues } from './policy.ts'
import { ADDRS_MAX, ADDR_BYTES_MAX, NAME_BYTES_MAX, REASON_BYTES_MAX, VALIDATORS_MAX } from './limits.ts'
import { sha256 } from './hash.ts'
import { TrothError } from '../errors.ts'

export type MemberId = string
export type MemberStatus = 'active' | 'left' | 'exiled'
export const MEMBER_STATUSES: readonly MemberStatus[] = ['active', 'left', 'exiled']

/** One epoch of a member's duty record that had something against it (DESIGN.md §5.4). */
export interface DutyEpoch {
  readonly epoch: number
  /** Audit duties assigned to the member and not reported. */
  readonly missed: number
  /** Proven-loss strikes: snapshots for which it signed a wrong answer. */
  readonly lost: number
  /** Its `unreachable` reports contradicted by signed passes. */
  readonly falseReports: number
  /** A majority of its auditors found it unreachable and none carried a pass. */
  readonly unavailable: boolean
}

export interface Standing {
  /** Permille, floor(1000·α/(α+β)); sponsors need policy.standingFloor. Earned by serving. */
  readonly score: number
  /** Strikes ever taken: proven loss, contradicted reports, exiled inductees. */
  readonly strikes: number
  readonly dutiesDone: number
  readonly dutiesMissed: number
  /** Storj-style reputation with forgetting, in milli-events: α successes, β failures. */
  readonly alpha: number
  readonly beta: number
  /** Epochs within policy.dutyWindowEpochs with a miss, a strike or an outage, oldest first. */
  readonly history: readonly DutyEpoch[]
}

export interface Member {
  readonly key: Uint8Array
  readonly name: string
  readonly joinedEpoch: number
  readonly sponsors: readonly MemberId[]
  readonly status: MemberStatus
  /** Milli-weight in force this epoch (WEIGHT_FULL = weight 1). */
  readonly weight: number
  /** Last seq used by this member (0 = none yet). */
  readonly seq: number
  readonly standing: Standing
  readonly addrs: readonly string[]
  /** Changes that take effect at the next epoch boundary. */
  readonly pendingLeave: boolean
  readonly pendingKey: Uint8Array | null
  /** Why the member was exiled ('' while not exiled). */
  readonly exileReason: string
}

export interface Induction {
  readonly request: SignedRequest
  readonly name: string
  readonly expires: number
  /** Sponsors in vouch order. */
  readonly vouches: readonly MemberId[]
  readonly objections: readonly MemberId[]
  /** Block time of the first vouch. */
  readonly openedAt: number
}

export interface ExileProposal {
  readonly proposer: MemberId
  readonly reason: string
  readonly openedAt: number
  /** Members voting yes, the proposer first. */
  readonly votes: readonly MemberId[]
}

export interface Recovery {
  readonly key: Uint8Array
  readonly supporters: readonly MemberId[]
  readonly openedAt: number
}

/** A member holding a snapshot, and the first epoch it held the duty. */
export interface ReplicaDuty {
  readonly id: MemberId
  readonly since: number
}

export interface Snapshot {
  readonly submitter: MemberId
  readonly name: string
  readonly size: number
  readonly chunks: number
  readonly replication: number
  readonly sealedEpoch: number
  readonly sealedHeight: number
  /** Current replicas, by id (DESIGN.md §5.2: changed only at an epoch close). */
  readonly replicas: readonly ReplicaDuty[]
}

export const AUDIT_VERDICTS = ['pass', 'fail', 'unreachable'] as const
export type AuditVerdict = (typeof AUDIT_VERDICTS)[number]

export interface PolicyParamState {
  readonly genesis: number
  readonly effective: number
  readonly votes: ReadonlyMap<MemberId, number>
}

export interface Validator {
  readonly id: MemberId
  readonly key: Uint8Array
  readonly weight: number
}

export interface EpochState {
  readonly number: number
  readonly startHeight: number
  /** Blocks in this epoch, frozen at its start. */
  readonly length: number
  /** Hash of the block that closed the previous epoch (genesis hash for epoch 0). */
  readonly seed: Uint8Array
  /** Sorted by id; only members with weight > 0. */
  readonly validators: readonly Validator[]
  readonly totalWeight: number
}

/** Chain position: not part of the state root (it would be circular with block hashes). */
export interface ChainMeta {
  readonly net: Uint8Array
  readonly name: string
  readonly genesisTime: number
  readonly height: number
  readonly lastBlock: Uint8Array
  readonly lastTime: number
  readonly logSize: number
  readonly logFrontier: readonly Uint8Array[]
}

export interface LedgerState {
  readonly meta: ChainMeta
  readonly epoch: EpochState
  readonly members: ReadonlyMap<MemberId, Member>
  readonly inductions: ReadonlyMap<MemberId, Induction>
  readonly exiles: ReadonlyMap<MemberId, ExileProposal>
  readonly recoveries: ReadonlyMap<MemberId, Recovery>
  readonly snapshots: ReadonlyMap<string, Snapshot>
  readonly policy: ReadonlyMap<ParamName, PolicyParamState>
  /** This epoch's audit reports, by dutyKey(root, replica, auditor); settled and cleared at close. */
  readonly reports: ReadonlyMap<string, AuditVerdict>
}

/** `<root hex>/<replica>/<auditor>`: one audit duty of the epoch. */
export const dutyKey = (rootHex: string, replica: MemberId, auditor: MemberId): string => `${rootHex}/${replica}/${auditor}`

export function policyValues(state: LedgerState): PolicyValues {
  const out = {} as Record<ParamName, number>
  for (const p of PARAM_NAMES) {
    const s = state.policy.get(p)
    if (s === undefined) throw new TrothError('store.corrupt', `policy parameter ${p} missing from state`)
    out[p] = s.effective
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Records: the state as key → CBOR value. Keys are ASCII, so string order is byte order.

export const META_KEY = 'meta'
export const EPOCH_KEY = 'epoch'
export const memberKey = (id: MemberId): string => `member/${id}`
export const inductionKey = (id: MemberId): string => `induction/${id}`
export const exileKey = (id: MemberId): string => `exile/${id}`
export const recoveryKey = (id: MemberId): string => `recovery/${id}`
export const snapshotKey = (rootHex: string): string => `snapshot/${rootHex}`
export const policyKey = (p: ParamName): string => `policy/${p}`
export const reportKey = (duty: string): string => `report/${duty}`

const ids = (v: CborValue, path: string, max: number): MemberId[] =>
  asArray(v, path, max).map((x, i) => asText(x, `${path}[${i}]`, 128))

export function memberToCbor(m: Member): CborValue {
  return {
    key: m.key,
    name: m.name,
    joinedEpoch: m.joinedEpoch,
    sponsors: [...m.sponsors],
    status: m.status,
    weight: m.weight,
    seq: m.seq,
    standing: {
      score: m.standing.score,
      strikes: m.standing.strikes,
      dutiesDone: m.standing.dutiesDone,
      dutiesMissed: m.standing.dutiesMissed,
      alpha: m.standing.alpha,
      beta: m.standing.beta,
      history: m.standing.history.map((h) => ({ epoch: h.epoch, missed: h.missed, lost: h.lost, falseReports: h.falseReports, unavailable: h.unavailable })),
    },
    addrs: [...m.addrs],
    pendingLeave: m.pendingLeave,
    pendingKey: m.pendingKey,
    exileReason: m.exileReason,
  }
}

export function memberFromCbor(v: CborValue): Member {
  const p = 'member'
  const m = asMap(v, p, ['key', 'name', 'joinedEpoch', 'sponsors', 'status', 'weight', 'seq', 'standing', 'addrs', 'pendingLeave', 'pendingKey', 'exileReason'])
  const s = asMap(m.standing as CborValue, `${p}.standing`, ['score', 'strikes', 'dutiesDone', 'dutiesMissed', 'alpha', 'beta', 'history'])
  return {
    key: asBytes(m.key as CborValue, `${p}.key`, 32),
    name: asText(m.name as CborValue, `${p}.name`, NAME_BYTES_MAX),
    joinedEpoch: asUint(m.joinedEpoch as CborValue, `${p}.joinedEpoch`),
    sponsors: ids(m.sponsors as CborValue, `${p}.sponsors`, 1024),
    status: asEnum(m.status as CborValue, `${p}.status`, MEMBER_STATUSES),
    weight: asUint(m.weight as CborValue, `${p}.weight`),
    seq: asUint(m.seq as CborValue, `${p}.seq`),
    standing: {
      score: asUint(s.score as CborValue, `${p}.standing.score`, 1000),
      strikes: asUint(s.strikes as CborValue, `${p}.standing.strikes`),
      dutiesDone: asUint(s.dutiesDone as CborValue, `${p}.standing.dutiesDone`),
      dutiesMissed: asUint(s.dutiesMissed as CborValue, `${p}.standing.dutiesMissed`),
      alpha: asUint(s.alpha as CborValue, `${p}.standing.alpha`),
      beta: asUint(s.beta as CborValue, `${p}.standing.beta`),
      history: asArray(s.history as CborValue, `${p}.standing.history`, 1000).map((x, i) => {
        const h = asMap(x, `${p}.standing.history[${i}]`, ['epoch', 'missed', 'lost', 'falseReports', 'unavailable'])
        return {
          epoch: asUint(h.epoch as CborValue, `${p}.standing.history[${i}].epoch`),
          missed: asUint(h.missed as CborValue, `${p}.standing.history[${i}].missed`),
          lost: asUint(h.lost as CborValue, `${p}.standing.history[${i}].lost`),
          falseReports: asUint(h.falseReports as CborValue, `${p}.standing.history[${i}].falseReports`),
          unavailable: asBool(h.unavailable as CborValue, `${p}.standing.history[${i}].unavailable`),
        }
      }),
    },
    addrs: asArray(m.addrs as CborValue, `${p}.addrs`, ADDRS_MAX).map((a, i) => asText(a, `${p}.addrs[${i}]`, ADDR_BYTES_MAX)),
    pendingLeave: asBool(m.pendingLeave as CborValue, `${p}.pendingLeave`),
    pendingKey: m.pendingKey === null ? null : asBytes(m.pendingKey as CborValue, `${p}.pendingKey`, 32),
    exileReason: asText(m.exileReason as CborValue, `${p}.exileReason`, REASON_BYTES_MAX),
  }
}

function inductionToCbor(i: Induction): CborValue {
  return { request: signedRequestToCbor(i.request), name: i.name, expires: i.expires, vouches: [...i.vouches], objections: [...i.objections], openedAt: i.openedAt }
}
function inductionFromCbor(v: CborValue): Induction {
  const m = asMap(v, 'induction', ['request', 'name', 'expires', 'vouches', 'objections', 'openedAt'])
  return {
    request: parseSignedRequest(m.request as CborValue, 'induction.request'),
    name: asText(m.name as CborValue, 'induction.name', NAME_BYTES_MAX),
    expires: asUint(m.expires as CborValue, 'induction.expires'),
    vouches: ids(m.vouches as CborValue, 'induction.vouches', 100_000),
    objections: ids(m.objections as CborValue, 'induction.objections', 100_000),
    openedAt: asUint(m.openedAt as CborValue, 'induction.openedAt'),
  }
}
function exileToCbor(x: ExileProposal): CborValue {
  return { proposer: x.proposer, reason: x.reason, openedAt: x.openedAt, votes: [...x.votes] }
}
function exileFromCbor(v: CborValue): ExileProposal {
  const m = asMap(v, 'exile', ['proposer', 'reason', 'openedAt', 'votes'])
  return {
    proposer: asText(m.proposer as CborValue, 'exile.proposer', 128),
    reason: asText(m.reason as CborValue, 'exile.reason', REASON_BYTES_MAX),
    openedAt: asUint(m.openedAt as CborValue, 'exile.openedAt'),
    votes: ids(m.votes as CborValue, 'exile.votes', 100_000),
  }
}
function recoveryToCbor(r: Recovery): CborValue {
  return { key: r.key, supporters: [...r.supporters], openedAt: r.openedAt }
}
function recoveryFromCbor(v: CborValue): Recovery {
  const m = asMap(v, 'recovery', ['key', 'supporters', 'openedAt'])
  return {
    key: asBytes(m.key as CborValue, 'recovery.key', 32),
    supporters: ids(m.supporters as CborValue, 'recovery.supporters', 100_000),
    openedAt: asUint(m.openedAt as CborValue, 'recovery.openedAt'),
  }
}
function snapshotToCbor(s: Snapshot): CborValue {
  return {
    submitter: s.submitter,
    name: s.name,
    size: s.size,
    chunks: s.chunks,
    replication: s.replication,
    sealedEpoch: s.sealedEpoch,
    sealedHeight: s.sealedHeight,
    replicas: s.replicas.map((r) => ({ id: r.id, since: r.since })),
  }
}
function snapshotFromCbor(v: CborValue): Snapshot {
  const m = asMap(v, 'snapshot', ['submitter', 'name', 'size', 'chunks', 'replication', 'sealedEpoch', 'sealedHeight', 'replicas'])
  return {
    submitter: asText(m.submitter as CborValue, 'snapshot.submitter', 128),
    name: asText(m.name as CborValue, 'snapshot.name', NAME_BYTES_MAX),
    size: asUint(m.size as CborValue, 'snapshot.size'),
    chunks: asUint(m.chunks as CborValue, 'snapshot.chunks'),
    replication: asUint(m.replication as CborValue, 'snapshot.replication'),
    sealedEpoch: asUint(m.sealedEpoch as CborValue, 'snapshot.sealedEpoch'),
    sealedHeight: asUint(m.sealedHeight as CborValue, 'snapshot.sealedHeight'),
    replicas: asArray(m.replicas as CborValue, 'snapshot.replicas', 1024).map((x, i) => {
      const r = asMap(x, `snapshot.replicas[${i}]`, ['id', 'since'])
      return { id: asText(r.id as CborValue, `snapshot.replicas[${i}].id`, 128), since: asUint(r.since as CborValue, `snapshot.replicas[${i}].since`) }
    }),
  }
}
function policyToCbor(p: PolicyParamState): CborValue {
  const votes = [...p.votes.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([id, v]) => [id, v])
  return { genesis: p.genesis, effective: p.effective, votes }
}
function policyFromCbor(v: CborValue): PolicyParamState {
  const m = asMap(v, 'policy', ['genesis', 'effective', 'votes'])
  const votes = new Map<MemberId, number>()
  for (const [i, pair] of asArray(m.votes as CborValue, 'policy.votes', 1_000_000).entries()) {
    const [id, value] = asArray(pair, `policy.votes[${i}]`, 2)
    votes.set(asText(id as CborValue, `policy.votes[${i}][0]`, 128), asUint(value as CborValue, `policy.votes[${i}][1]`))
  }
  return { genesis: asUint(m.genesis as CborValue, 'policy.genesis'), effective: asUint(m.effective as CborValue, 'policy.effective'), votes }
}

export function validatorsToCbor(vs: readonly Validator[]): CborValue {
  return vs.map((v) => ({ id: v.id, key: v.key, weight: v.weight }))
}
export function validatorsHash(vs: readonly Validator[]): Uint8Array {
  return sha256(encode(validatorsToCbor(vs)))
}
/** Strict decoding of a validator list (at most VALIDATORS_MAX); `what` names it in errors. */
export function validatorsFromCbor(v: CborValue, what: string): Validator[] {
  return asArray(v, what, VALIDATORS_MAX).map((x, i) => {
    const vm = asMap(x, `${what}[${i}]`, ['id', 'key', 'weight'])
    return { id: asText(vm.id as CborValue, `${what}[${i}].id`, 128), key: asBytes(vm.key as CborValue, `${what}[${i}].key`, 32), weight: asUint(vm.weight as CborValue, `${what}[${i}].weight`) }
  })
}
// The epoch record leaves out the seed: the seed of epoch e+1 is the hash of the block that closes
// epoch e, and that block commits to the state root, so the seed is kept with the chain position.
function epochToCbor(e: EpochState): CborValue {
  return { number: e.number, startHeight: e.startHeight, length: e.length, validators: validatorsToCbor(e.validators), totalWeight: e.totalWeight }
}
function epochFromCbor(v: CborValue, seed: Uint8Array): EpochState {
  const m = asMap(v, 'epoch', ['number', 'startHeight', 'length', 'validators', 'totalWeight'])
  const validators = validatorsFromCbor(m.validators as CborValue, 'epoch.validators')
  return {
    number: asUint(m.number as CborValue, 'epoch.number'),
    startHeight: asUint(m.startHeight as CborValue, 'epoch.startHeight'),
    length: asUint(m.length as CborValue, 'epoch.length'),
    seed,
    validators,
    totalWeight: asUint(m.totalWeight as CborValue, 'epoch.totalWeight'),
  }
}
function metaToCbor(m: ChainMeta, seed: Uint8Array): CborValue {
  return { epochSeed: seed, net: m.net, name: m.name, genesisTime: m.genesisTime, height: m.height, lastBlock: m.lastBlock, lastTime: m.lastTime, logSize: m.logSize, logFrontier: [...m.logFrontier] }
}
function metaFromCbor(v: CborValue): ChainMeta & { epochSeed: Uint8Array } {
  const m = asMap(v, 'meta', ['epochSeed', 'net', 'name', 'genesisTime', 'height', 'lastBlock', 'lastTime', 'logSize', 'logFrontier'])
  return {
    epochSeed: asBytes(m.epochSeed as CborValue, 'meta.epochSeed', 32),
    net: asBytes(m.net as CborValue, 'meta.net', 32),
    name: asText(m.name as CborValue, 'meta.name', NAME_BYTES_MAX),
    genesisTime: asUint(m.genesisTime as CborValue, 'meta.genesisTime'),
    height: asUint(m.height as CborValue, 'meta.height'),
    lastBlock: asBytes(m.lastBlock as CborValue, 'meta.lastBlock', 32),
    lastTime: asUint(m.lastTime as CborValue, 'meta.lastTime'),
    logSize: asUint(m.logSize as CborValue, 'meta.logSize'),
    logFrontier: asArray(m.logFrontier as CborValue, 'meta.logFrontier', 64).map((h, i) => asBytes(h, `meta.logFrontier[${i}]`, 32)),
  }
}

/** The meta record of a chain position (stored, never hashed): to rebuild a state from records
 * that came without one (a sealed start, src/node/sealed-start.ts). */
export function metaRecord(meta: ChainMeta, epochSeed: Uint8Array): CborValue {
  return metaToCbor(meta, epochSeed)
}

/** The record stored under `key`, or undefined when the state has none there. */
export function recordAt(state: LedgerState, key: string): CborValue | undefined {
  if (key === META_KEY) return metaToCbor(state.meta, state.epoch.seed)
  if (key === EPOCH_KEY) return epochToCbor(state.epoch)
  const slash = key.indexOf('/')
  const space = key.slice(0, slash)
  const id = key.slice(slash + 1)
  switch (space) {
    case 'member': { const m = state.members.get(id); return m && memberToCbor(m) }
    case 'induction': { const i = state.inductions.get(id); return i && inductionToCbor(i) }
    case 'exile': { const x = state.exiles.get(id); return x && exileToCbor(x) }
    case 'recovery': { const r = state.recoveries.get(id); return r && recoveryToCbor(r) }
    case 'snapshot': { const s = state.snapshots.get(id); return s && snapshotToCbor(s) }
    case 'policy': { if (!isParamName(id)) return undefined; const p = state.policy.get(id); return p && policyToCbor(p) }
    case 'report': return state.reports.get(id)
    default: return undefined
  }
}

/** All records in key order. `withMeta` adds the chain position (stored, not hashed). */
export function stateRecords(state: LedgerState, withMeta: boolean): Array<[string, CborValue]> {
  const keys: string[] = [EPOCH_KEY]
  if (withMeta) keys.push(META_KEY)
  for (const id of state.members.keys()) keys.push(memberKey(id))
  for (const id of state.inductions.keys()) keys.push(inductionKey(id))
  for (const id of state.exiles.keys()) keys.push(exileKey(id))
  for (const id of state.recoveries.keys()) keys.push(recoveryKey(id))
  for (const r of state.snapshots.keys()) keys.push(snapshotKey(r))
  for (const p of state.policy.keys()) keys.push(policyKey(p))
  for (const r of state.reports.keys()) keys.push(reportKey(r))
  keys.sort()
  return keys.map((k) => [k, recordAt(state, k) as CborValue])
}

/** State root (DESIGN.md §3.2): RFC 9162 root over canonical CBOR [key, value] leaves in key
 * order. The chain position (meta) is excluded: it holds block hashes that commit to this root. */
export function stateRoot(state: LedgerState): Uint8Array {
  return rootOf(stateRecords(state, false).map(([k, v]) => leafHash(encode([k, v]))))
}

/** Rebuild a state from its records (store reopen). Throws 'store.corrupt' naming the record. */
export function stateFromRecords(records: Iterable<[string, CborValue]>): LedgerState {
  let meta: (ChainMeta & { epochSeed: Uint8Array }) | undefined
  let epochRecord: CborValue | undefined
  const members = new Map<MemberId, Member>()
  const inductions = new Map<MemberId, Induction>()
  const exiles = new Map<MemberId, ExileProposal>()
  const recoveries = new Map<MemberId, Recovery>()
  const snapshots = new Map<string, Snapshot>()
  const policy = new Map<ParamName, PolicyParamState>()
  const reports = new Map<string, AuditVerdict>()
  for (const [key, value] of records) {
    try {
      if (key === META_KEY) { meta = metaFromCbor(value); continue }
      if (key === EPOCH_KEY) { epochRecord = value; continue }
      const slash = key.indexOf('/')
      // Without the slash, slice(0, -1) would read "snapshots" as the snapshot space.
      if (slash < 0) throw new TrothError('store.corrupt', `unknown record key ${key}`)
      const space = key.slice(0, slash)
      const id = key.slice(slash + 1)
      switch (space) {
        case 'member': members.set(id, memberFromCbor(value)); break
        case 'induction': inductions.set(id, inductionFromCbor(value)); break
        case 'exile': exiles.set(id, exileFromCbor(value)); break
        case 'recovery': recoveries.set(id, recoveryFromCbor(value)); break
        case 'snapshot': snapshots.set(id, snapshotFromCbor(value)); break
        case 'policy':
          if (!isParamName(id)) throw new TrothError('store.corrupt', `unknown policy parameter ${id}`)
          policy.set(id, policyFromCbor(value))
          break
        case 'report': reports.set(id, asEnum(value, 'report', AUDIT_VERDICTS)); break
        default: throw new TrothError('store.corrupt', `unknown record key ${key}`)
      }
    } catch (err) {
      if (err instanceof TrothError && err.code === 'store.corrupt') throw err
      throw new TrothError('store.corrupt', `state record ${key} is unreadable: ${(err as Error).message}`, { cause: err })
    }
  }
  if (meta === undefined || epochRecord === undefined) throw new TrothError('store.corrupt', 'state has no meta or epoch record')
  let epoch: EpochState
  try {
    epoch = epochFromCbor(epochRecord, meta.epochSeed)
  } catch (err) {
    throw new TrothError('store.corrupt', `state record epoch is unreadable: ${(err as Error).message}`, { cause: err })
  }
  const { epochSeed: _seed, ...chain } = meta
  for (const p of PARAM_NAMES) if (!policy.has(p)) throw new TrothError('store.corrupt', `state has no policy record for ${p}`)
  return { meta: chain, epoch, members, inductions, exiles, recoveries, snapshots, policy, reports }
}
