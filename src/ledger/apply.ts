// The state transition (DESIGN.md §3.3, §6): the pure applyBlock(state, block) → state', entry
// validity rules, and the epoch close where membership, keys and policy change. No I/O, no clock:
// the block carries the time. An invalid entry is a returned status (never a throw) and leaves the
// state untouched; a block with an invalid entry is itself invalid.

import { assert, TrothError } from '../errors.ts'
import { formatMemberId, parseMemberId } from '../identity/member-id.ts'
import { memberKeyAcceptable } from '../identity/key-check.ts'
import { blockHash, encodeBlock, type Block } from './block.ts'
import { asBytes, asMap, asUint, decode, encode, type CborValue } from './encoding.ts'
import { decodeSignedEntry, entrySignatureValid, keyProofValid, type Body, type SignedEntry } from './entry.ts'
import { bytesEqual, fromHex, toHex } from './hash.ts'
import { CompactRange, leafHash } from './merkle.ts'
import { BLOCK_BYTES_MAX, BLOCK_ENTRIES_MAX, CHUNK_BYTES, ENTRY_TIME_AHEAD_MS_MAX, STANDING_MAX, STANDING_PRIOR_EVENTS, WEIGHT_FULL } from './limits.ts'
import { effectiveValue, inRange, isParamName, PARAM_NAMES, type ParamName, type PolicyValues } from './policy.ts'
import { openRequest, requestSignatureValid } from './request.ts'
import { checkVote, conflicting, ValidatorSet } from './consensus/messages.ts'
import { validatorSet } from './genesis.ts'
import {
  EPOCH_KEY, META_KEY, dutyKey, exileKey, inductionKey, memberKey, policyKey, policyValues, recoveryKey, reportKey, snapshotKey, stateRoot, validatorsHash,
  type AuditVerdict, type DutyEpoch, type ExileProposal, type Induction, type LedgerState, type Member, type MemberId, type PolicyParamState, type Recovery, type Snapshot, type Standing,
} from './state.ts'
import { epochDuties, rebalance } from './duties.ts'
import { answerSignatureValid, answerVerdict, answersChallenge, events, exileReason, nextStanding, replicasFor, scoreOf, settleEpoch, EVENT } from '../obligation/index.ts'

/** Why an entry was refused: a stable, ordered list (STYLE.md: domain rejections are data). */
export const ENTRY_STATUSES = [
  'ok',
  'malformed',
  'wrong-net',
  'unknown-author',
  'author-not-active',
  'bad-seq',
  'time-ahead',
  'bad-signature',
  'kind-not-enabled',
  'request-invalid',
  'request-wrong-net',
  'request-expired',
  'request-mismatch',
  'already-member',
  'key-in-use',
  'already-vouched',
  'already-objected',
  'vouch-cap',
  'standing-too-low',
  'no-such-induction',
  'already-leaving',
  'self-target',
  'not-a-member',
  'target-not-active',
  'proposal-exists',
  'no-such-proposal',
  'already-voted',
  'unknown-param',
  'value-out-of-range',
  'snapshot-exists',
  'snapshot-invalid',
  'key-pending',
  'key-invalid',
  'key-proof-invalid',
  'no-such-recovery',
  'not-permitted',
  'evidence-invalid',
  'evidence-known',
  'wrong-epoch',
  'no-such-snapshot',
  'not-assigned',
  'already-reported',
  'report-invalid',
  'last-member',
] as const
export type EntryStatus = (typeof ENTRY_STATUSES)[number]

export const BLOCK_STATUSES = [
  'ok',
  'wrong-epoch',
  'wrong-height',
  'wrong-parent',
  'time-backwards',
  'proposer-not-validator',
  'too-many-entries',
  'too-large',
  'entry-invalid',
  'log-mismatch',
] as const
export type BlockStatus = (typeof BLOCK_STATUSES)[number]

export interface EntryVerdict {
  readonly status: EntryStatus
  /** A sentence for people (e.g. the decoder's message for 'malformed'). */
  readonly detail: string
}

// ---------------------------------------------------------------------------------------------
// Draft: copy-on-write view of a state, recording which records changed (the store writes those).

class Draft {
  meta: LedgerState['meta']
  epoch: LedgerState['epoch']
  members: ReadonlyMap<MemberId, Member>
  inductions: ReadonlyMap<MemberId, Induction>
  exiles: ReadonlyMap<MemberId, ExileProposal>
  recoveries: ReadonlyMap<MemberId, Recovery>
  snapshots: ReadonlyMap<string, Snapshot>
  policy: ReadonlyMap<ParamName, PolicyParamState>
  reports: ReadonlyMap<string, AuditVerdict>
  readonly changed = new Set<string>()
  private readonly copied = new Set<string>()

  constructor(s: LedgerState) {
    this.meta = s.meta
    this.epoch = s.epoch
    this.members = s.members
    this.inductions = s.inductions
    this.exiles = s.exiles
    this.recoveries = s.recoveries
    this.snapshots = s.snapshots
    this.policy = s.policy
    this.reports = s.reports
  }

  private own<K, V>(name: 'members' | 'inductions' | 'exiles' | 'recoveries' | 'snapshots' | 'policy' | 'reports'): Map<K, V> {
    if (!this.copied.has(name)) {
      ;(this as Record<string, unknown>)[name] = new Map(this[name] as ReadonlyMap<unknown, unknown>)
      this.copied.add(name)
    }
    return this[name] as unknown as Map<K, V>
  }

  setMember(id: MemberId, m: Member): void {
    this.own<MemberId, Member>('members').set(id, m)
    this.changed.add(memberKey(id))
  }
  setInduction(id: MemberId, i: Induction | undefined): void {
    const map = this.own<MemberId, Induction>('inductions')
    if (i === undefined) map.delete(id)
    else map.set(id, i)
    this.changed.add(inductionKey(id))
  }
  setExile(id: MemberId, x: ExileProposal | undefined): void {
    const map = this.own<MemberId, ExileProposal>('exiles')
    if (x === undefined) map.delete(id)
    else map.set(id, x)
    this.changed.add(exileKey(id))
  }
  setRecovery(id: MemberId, r: Recovery | undefined): void {
    const map = this.own<MemberId, Recovery>('recoveries')
    if (r === undefined) map.delete(id)
    else map.set(id, r)
    this.changed.add(recoveryKey(id))
  }
  setSnapshot(rootHex: string, s: Snapshot): void {
    this.own<string, Snapshot>('snapshots').set(rootHex, s)
    this.changed.add(snapshotKey(rootHex))
  }
  setPolicy(p: ParamName, v: PolicyParamState): void {
    this.own<ParamName, PolicyParamState>('policy').set(p, v)
    this.changed.add(policyKey(p))
  }
  setReport(duty: string, v: AuditVerdict | undefined): void {
    const map = this.own<string, AuditVerdict>('reports')
    if (v === undefined) map.delete(duty)
    else map.set(duty, v)
    this.changed.add(reportKey(duty))
  }

  state(): LedgerState {
    return {
      meta: this.meta,
      epoch: this.epoch,
      members: this.members,
      inductions: this.inductions,
      exiles: this.exiles,
      recoveries: this.recoveries,
      snapshots: this.snapshots,
      policy: this.policy,
      reports: this.reports,
    }
  }
}

const sortedKeys = <K extends string>(m: ReadonlyMap<K, unknown>): K[] => [...m.keys()].sort()

interface Ctx {
  /** Block time (unix ms). */
  readonly time: number
  readonly height: number
  readonly policy: PolicyValues
}

function verdict(status: EntryStatus, detail = ''): EntryVerdict {
  return { status, detail }
}
const OK = verdict('ok')

/** Every key a member holds or is about to hold, and every open candidate's key. */
function keyInUse(d: Draft, key: Uint8Array): boolean {
  for (const m of d.members.values()) {
    if (bytesEqual(m.key, key)) return true
    if (m.pendingKey !== null && bytesEqual(m.pendingKey, key)) return true
  }
  for (const r of d.recoveries.values()) if (bytesEqual(r.key, key)) return true
  for (const candidate of d.inductions.keys()) if (formatMemberId(key) === candidate) return true
  return false
}

function openVouches(d: Draft, sponsor: MemberId): number {
  let n = 0
  for (const i of d.inductions.values()) if (i.vouches.includes(sponsor)) n++
  return n
}

function activeMember(d: Draft, raw: Uint8Array): { id: MemberId; m: Member } | EntryStatus {
  const id = formatMemberId(raw)
  const m = d.members.get(id)
  if (m === undefined) return 'not-a-member'
  if (m.status !== 'active') return 'target-not-active'
  return { id, m }
}

// ---------------------------------------------------------------------------------------------
// Entry rules. Each rule checks everything first and only then mutates the draft.

function applyBody(d: Draft, author: MemberId, me: Member, body: Body, ctx: Ctx): EntryVerdict {
  switch (body.kind) {
    case 'induct.vouch': {
      let r
      try {
        r = openRequest(body.request)
      } catch (err) {
        return verdict('request-invalid', (err as Error).message)
      }
      if (!requestSignatureValid(body.request, r)) return verdict('request-invalid', 'request signature does not verify')
      if (!bytesEqual(r.net, d.meta.net)) return verdict('request-wrong-net', 'the request is for another network')
      if (r.expires <= ctx.time) return verdict('request-expired', `the request expired at ${r.expires}`)
      if (!memberKeyAcceptable(r.key)) return verdict('key-invalid', 'the candidate key is not a canonical prime-order point')
      const candidate = formatMemberId(r.key)
      if (d.members.has(candidate)) return verdict('already-member', `${candidate} is or was a member`)
      if (me.standing.score < ctx.policy.standingFloor) return verdict('standing-too-low', `standing ${me.standing.score} is below the floor ${ctx.policy.standingFloor}`)
      const open = d.inductions.get(candidate)
      if (open !== undefined) {
        if (!bytesEqual(open.request.request, body.request.request)) return verdict('request-mismatch', 'an induction for this candidate is open with another request')
        if (open.vouches.includes(author)) return verdict('already-vouched')
        if (open.objections.includes(author)) return verdict('already-objected', 'you objected to this candidate')
      } else if (keyInUse(d, r.key)) {
        return verdict('key-in-use', 'the candidate key is in use')
      }
      if (openVouches(d, author) >= ctx.policy.vouchCap) return verdict('vouch-cap', `${ctx.policy.vouchCap} open vouches already`)
      d.setInduction(
        candidate,
        open === undefined
          ? { request: body.request, name: r.name, expires: r.expires, vouches: [author], objections: [], openedAt: ctx.time }
          : { ...open, vouches: [...open.vouches, author] },
      )
      return OK
    }
    case 'induct.object': {
      const candidate = formatMemberId(body.candidate)
      const open = d.inductions.get(candidate)
      if (open === undefined) return verdict('no-such-induction')
      if (open.vouches.includes(author)) return verdict('already-vouched', 'you vouched for this candidate')
      if (open.objections.includes(author)) return verdict('already-objected')
      d.setInduction(candidate, { ...open, objections: [...open.objections, author] })
      return OK
    }
    case 'leave': {
      if (me.pendingLeave) return verdict('already-leaving')
      // A cooperative with no active member has no validators: its ledger could never grow again.
      if (!hasOtherStayingMember(d, author)) return verdict('last-member', 'every other active member is leaving: the last one cannot leave')
      d.setMember(author, { ...(d.members.get(author) as Member), pendingLeave: true })
      return OK
    }
    case 'exile.propose': {
      const t = activeMember(d, body.member)
      if (typeof t === 'string') return verdict(t)
      if (t.id === author) return verdict('self-target')
      if (d.exiles.has(t.id)) return verdict('proposal-exists')
      d.setExile(t.id, { proposer: author, reason: body.reason, openedAt: ctx.time, votes: [author] })
      return OK
    }
    case 'exile.vote': {
      const target = formatMemberId(body.member)
      if (target === author) return verdict('self-target')
      const x = d.exiles.get(target)
      if (x === undefined) return verdict('no-such-proposal')
      if (x.votes.includes(author)) return verdict('already-voted')
      d.setExile(target, { ...x, votes: [...x.votes, author] })
      return OK
    }
    case 'policy.vote': {
      if (!isParamName(body.param)) return verdict('unknown-param', `unknown parameter "${body.param}"`)
      const p = body.param
      if (body.value !== null && !inRange(p, body.value)) return verdict('value-out-of-range', `${p} must be within its range`)
      const cur = d.policy.get(p) as PolicyParamState
      const votes = new Map(cur.votes)
      if (body.value === null) votes.delete(author)
      else votes.set(author, body.value)
      d.setPolicy(p, { ...cur, votes })
      return OK
    }
    case 'seal': {
      const rootHex = toHex(body.root)
      if (d.snapshots.has(rootHex)) return verdict('snapshot-exists')
      // Every chunk holds at least one byte and at most CHUNK_BYTES.
      if (body.size === 0 || body.chunks === 0 || body.chunks > body.size || body.size > body.chunks * CHUNK_BYTES) {
        return verdict('snapshot-invalid', `${body.size} bytes do not fit in ${body.chunks} chunks of ${CHUNK_BYTES}`)
      }
      // Replicas by weighted rendezvous among this epoch's validators (DESIGN.md §5.2); they fetch
      // at once and owe audits from replicaGraceEpochs epochs on.
      const replicas = replicasFor(body.root, d.epoch.validators, ctx.policy.replicationTarget).map((id) => ({ id, since: d.epoch.number }))
      d.setSnapshot(rootHex, {
        submitter: author,
        name: body.name,
        size: body.size,
        chunks: body.chunks,
        replication: ctx.policy.replicationTarget,
        sealedEpoch: d.epoch.number,
        sealedHeight: ctx.height,
        replicas,
      })
      return OK
    }
    case 'announce': {
      d.setMember(author, { ...(d.members.get(author) as Member), addrs: [...body.addrs] })
      return OK
    }
    case 'key.rotate': {
      if (me.pendingKey !== null || d.recoveries.has(author)) return verdict('key-pending')
      if (!memberKeyAcceptable(body.key)) return verdict('key-invalid')
      if (keyInUse(d, body.key)) return verdict('key-in-use')
      if (!keyProofValid(d.meta.net, parseMemberId(author), body.key, body.keySig)) return verdict('key-proof-invalid')
      d.setMember(author, { ...(d.members.get(author) as Member), pendingKey: body.key })
      return OK
    }
    case 'key.recover': {
      const target = formatMemberId(body.member)
      if ('cancel' in body) {
        // Only the key being replaced may cancel (DESIGN.md §6: the old key can cancel it).
        if (target !== author) return verdict('not-permitted', 'only the member itself cancels a recovery')
        if (!d.recoveries.has(target)) return verdict('no-such-recovery')
        d.setRecovery(target, undefined)
        return OK
      }
      if (target === author) return verdict('self-target', 'use key.rotate to change your own key')
      const t = activeMember(d, body.member)
      if (typeof t === 'string') return verdict(t)
      const open = d.recoveries.get(target)
      if (!memberKeyAcceptable(body.key)) return verdict('key-invalid')
      if (!keyProofValid(d.meta.net, body.member, body.key, body.keySig)) return verdict('key-proof-invalid')
      if (open !== undefined) {
        if (!bytesEqual(open.key, body.key)) return verdict('key-pending', 'a recovery to another key is open')
        if (open.supporters.includes(author)) return verdict('already-voted')
        d.setRecovery(target, { ...open, supporters: [...open.supporters, author] })
        return OK
      }
      if (t.m.pendingKey !== null) return verdict('key-pending')
      if (!memberKeyAcceptable(body.key)) return verdict('key-invalid')
      if (keyInUse(d, body.key)) return verdict('key-in-use')
      d.setRecovery(target, { key: body.key, supporters: [author], openedAt: ctx.time })
      return OK
    }
    case 'evidence': {
      // Two signed votes no honest validator sends together: the signer is exiled at the next
      // epoch boundary. Only this epoch's votes count (its validator keys are in the state).
      const { a, b } = body
      if (a.epoch !== d.epoch.number || b.epoch !== d.epoch.number) return verdict('evidence-invalid', 'the votes are not from this epoch')
      if (!conflicting(a, b)) return verdict('evidence-invalid', 'the votes do not conflict')
      const set = new ValidatorSet(d.epoch.number, d.epoch.validators)
      if (checkVote(d.meta.net, set, a) !== 'ok' || checkVote(d.meta.net, set, b) !== 'ok') return verdict('evidence-invalid', 'a vote does not verify under the signer\'s epoch key')
      const culprit = d.members.get(a.signer)
      if (culprit === undefined || culprit.status !== 'active') return verdict('target-not-active')
      if (culprit.exileReason !== '') return verdict('evidence-known', 'the signer is already to be exiled')
      d.setMember(a.signer, { ...culprit, exileReason: `evidence: conflicting ${a.kind}/${b.kind} votes in epoch ${a.epoch} view ${a.view}` })
      return OK
    }
    case 'audit.report': {
      // Checked by every node from the report alone (DESIGN.md §5.4): the duty must be this
      // epoch's and the author's, and a carried answer must be the replica's signature over
      // exactly this challenge, with proofs that say what the verdict says.
      if (body.epoch !== d.epoch.number) return verdict('wrong-epoch', `the report is for epoch ${body.epoch}, this is epoch ${d.epoch.number}`)
      const rootHex = toHex(body.root)
      const snapshot = d.snapshots.get(rootHex)
      if (snapshot === undefined) return verdict('no-such-snapshot')
      const replica = formatMemberId(body.replica)
      const duty = dutyKey(rootHex, replica, author)
      const indexes = epochDuties(d.state()).byKey.get(duty)
      if (indexes === undefined) return verdict('not-assigned', `${author} has no duty to audit ${replica} on ${rootHex} in epoch ${body.epoch}`)
      if (d.reports.has(duty)) return verdict('already-reported')
      if (body.answer !== null) {
        const rm = d.members.get(replica)
        if (rm === undefined) return verdict('report-invalid', 'the replica is not a member')
        const challenge = { net: d.meta.net, epoch: body.epoch, root: body.root, chunks: snapshot.chunks, replica: body.replica, auditor: parseMemberId(author), indexes }
        if (!answersChallenge(body.answer.answer, challenge)) return verdict('report-invalid', 'the answer is not about this challenge')
        if (!answerSignatureValid(body.answer, rm.key)) return verdict('report-invalid', 'the answer is not signed by the replica')
        const found = answerVerdict(body.answer.answer, body.root, snapshot.chunks)
        if (found !== body.verdict) return verdict('report-invalid', `the answer proves ${found}, the report says ${body.verdict}`)
      }
      d.setReport(duty, body.verdict)
      return OK
    }
  }
}

function applyEntry(d: Draft, signed: SignedEntry, ctx: Ctx): EntryVerdict {
  const e = signed.entry
  if (!bytesEqual(e.net, d.meta.net)) return verdict('wrong-net')
  const author = formatMemberId(e.author)
  const me = d.members.get(author)
  if (me === undefined) return verdict('unknown-author', `${author} is not a member`)
  if (me.status !== 'active') return verdict('author-not-active', `${author} is ${me.status}`)
  if (e.seq !== me.seq + 1) return verdict('bad-seq', `expected seq ${me.seq + 1}, got ${e.seq}`)
  if (e.time > ctx.time + ENTRY_TIME_AHEAD_MS_MAX) return verdict('time-ahead', `entry time ${e.time} is ahead of block time ${ctx.time}`)
  if (!entrySignatureValid(signed, me.key)) return verdict('bad-signature')
  const v = applyBody(d, author, me, e.body, ctx)
  if (v.status !== 'ok') return v
  d.setMember(author, { ...(d.members.get(author) as Member), seq: e.seq })
  return OK
}

function decodeWire(wire: Uint8Array): SignedEntry | EntryVerdict {
  try {
    return decodeSignedEntry(wire)
  } catch (err) {
    if (err instanceof TrothError) return verdict('malformed', err.message)
    throw err
  }
}

/** Check one entry against a state without changing it. */
export function checkEntry(state: LedgerState, wire: Uint8Array, time: number): EntryVerdict {
  const s = decodeWire(wire)
  if (!('entry' in s)) return s
  return applyEntry(new Draft(state), s, { time, height: state.meta.height + 1, policy: policyValues(state) })
}

// ---------------------------------------------------------------------------------------------
// Epoch close (DESIGN.md §4 reconfiguration, §6): changes take effect here and nowhere else.

/** A strike outside settlement (a sponsor's): counted, and one failure in the standing score. */
function struck(s: Standing): Standing {
  const beta = s.beta + EVENT
  return { ...s, strikes: s.strikes + 1, beta, score: scoreOf(s.alpha, beta, s.score) }
}

/** `faulted`: exiled for fraud (evidence) or failed duties, not by a vote whose reasons the
 * protocol cannot judge; only then do the sponsors answer for it (DESIGN.md §5.5). */
function exile(d: Draft, id: MemberId, reason: string, ctx: Ctx, faulted: boolean): void {
  const m = d.members.get(id) as Member
  d.setMember(id, { ...m, status: 'exiled', weight: 0, pendingLeave: false, pendingKey: null, exileReason: reason })
  // A sponsor vouches with its own standing (§5.5): an inductee exiled soon costs each sponsor a strike.
  if (faulted && d.epoch.number + 1 - m.joinedEpoch <= ctx.policy.sponsorStrikeEpochs) {
    for (const s of m.sponsors) {
      const sm = d.members.get(s)
      if (sm === undefined || sm.status !== 'active') continue
      d.setMember(s, { ...sm, standing: struck(sm.standing) })
    }
  }
}

/**
 * Settle the closing epoch's audit duties (DESIGN.md §5.4) and exile past the thresholds. Runs
 * first in the close, on the members, standing, replicas and policy the epoch's duties were
 * assigned from.
 */
function settleDuties(d: Draft, ctx: Ctx): void {
  const epoch = d.epoch.number
  const duties = epochDuties(d.state())
  const outcomes = settleEpoch(duties.assignments, (a) => d.reports.get(dutyKey(a.root, a.replica, a.auditor)))
  for (const key of sortedKeys(d.reports)) d.setReport(key, undefined)
  const window = ctx.policy.dutyWindowEpochs
  const limits = {
    missedEpochsMax: Math.min(ctx.policy.missedEpochsMax, window),
    lossStrikesMax: Math.min(ctx.policy.lossStrikesMax, window),
    unavailableEpochsMax: Math.min(ctx.policy.unavailableEpochsMax, window),
    falseReportsMax: Math.min(ctx.policy.falseReportsMax, window),
  }
  const due: Array<{ id: MemberId; reason: string; score: number }> = []
  for (const id of sortedKeys(d.members)) {
    const m = d.members.get(id) as Member
    if (m.status !== 'active') continue
    const o = outcomes.get(id)
    let history: readonly DutyEpoch[] = m.standing.history.filter((h) => h.epoch > epoch - window)
    if (o !== undefined && (o.missed > 0 || o.lost > 0 || o.falseReports > 0 || o.unavailable)) {
      history = [...history, { epoch, missed: o.missed, lost: o.lost, falseReports: o.falseReports, unavailable: o.unavailable }]
    }
    let standing: Standing = m.standing
    if (o !== undefined) {
      const { good, bad } = events(o)
      // Forgetting runs once per epoch with evidence, so an idle member's score does not drift.
      const next = good + bad > 0 ? nextStanding(standing.alpha, standing.beta, standing.score, good, bad, ctx.policy.standingForgetting) : standing
      standing = {
        ...standing,
        ...next,
        dutiesDone: standing.dutiesDone + o.done,
        dutiesMissed: standing.dutiesMissed + o.missed,
        strikes: standing.strikes + o.lost + o.falseReports,
      }
    }
    if (standing !== m.standing || history.length !== m.standing.history.length) d.setMember(id, { ...m, standing: { ...standing, history } })
    const counts = { missedEpochs: 0, lost: 0, unavailableEpochs: 0, falseReports: 0 }
    for (const h of history) {
      if (h.missed > 0) counts.missedEpochs++
      counts.lost += h.lost
      counts.falseReports += h.falseReports
      if (h.unavailable) counts.unavailableEpochs++
    }
    const reason = exileReason(counts, limits, window)
    if (reason !== null) due.push({ id, reason, score: standing.score })
  }
  // At most a third of the epoch's weight is exiled automatically at one close: the protocol
  // assumes less than a third is faulty, so more failing at once points at something shared (an
  // outage, a partition, a bug) rather than at each of them. The lowest standing goes first; the
  // others keep their record and are judged again at the next close.
  const weights = new Map(d.epoch.validators.map((v) => [v.id, v.weight]))
  let removed = 0
  for (const x of due.sort((a, b) => a.score - b.score || (a.id < b.id ? -1 : 1))) {
    const w = weights.get(x.id) ?? 0
    if (3 * (removed + w) > d.epoch.totalWeight) continue
    removed += w
    exile(d, x.id, x.reason, ctx, true)
  }
}

/** Weight of the listed members that are still active, at this epoch's weights. */
function supportWeight(d: Draft, weights: ReadonlyMap<MemberId, number>, list: readonly MemberId[]): number {
  let w = 0
  for (const id of list) if (d.members.get(id)?.status === 'active') w += weights.get(id) ?? 0
  return w
}

/** Induction window after the first vouch: more vouch weight buys a shorter window, never below
 * the floor (DESIGN.md §6). */
export function inductionWindowMs(policy: PolicyValues, vouchWeight: number): number {
  const floor = Math.min(policy.inductionWindowFloorMs, policy.inductionWindowMs)
  if (vouchWeight <= 0) return policy.inductionWindowMs
  const scaled = Math.floor((policy.inductionWindowMs * policy.inductionVouches) / vouchWeight)
  return Math.max(floor, Math.min(policy.inductionWindowMs, scaled))
}

/** A new member's standing: policy.standingInitial, as if from STANDING_PRIOR_EVENTS epochs. */
export function newcomerStanding(initial: number): Standing {
  const score = Math.min(STANDING_MAX, initial)
  return { score, strikes: 0, dutiesDone: 0, dutiesMissed: 0, alpha: score * STANDING_PRIOR_EVENTS, beta: (STANDING_MAX - score) * STANDING_PRIOR_EVENTS, history: [] }
}

/** An active member other than `author` that is not leaving. */
function hasOtherStayingMember(d: Draft, author: MemberId): boolean {
  for (const [id, m] of d.members) if (id !== author && m.status === 'active' && !m.pendingLeave) return true
  return false
}

function closeEpoch(d: Draft, ctx: Ctx): Uint8Array {
  const W = d.epoch.totalWeight
  // The members as the close found them, for the rule that a close never empties the validator set.
  const activeBefore = new Map([...d.members].filter(([, m]) => m.status === 'active'))
  const weights = new Map(d.epoch.validators.map((v) => [v.id, v.weight]))
  const nextEpoch = d.epoch.number + 1

  // Obligations settle first, on the membership the epoch's duties were assigned from.
  settleDuties(d, ctx)

  for (const target of sortedKeys(d.exiles)) {
    const x = d.exiles.get(target) as ExileProposal
    const t = d.members.get(target)
    if (t === undefined || t.status !== 'active') {
      d.setExile(target, undefined)
      continue
    }
    const yes = supportWeight(d, weights, x.votes)
    if (1000 * yes > ctx.policy.exileVoteWeight * W) {
      exile(d, target, `vote: ${x.reason}`, ctx, false)
      d.setExile(target, undefined)
    } else if (ctx.time >= x.openedAt + ctx.policy.exileWindowMs) {
      d.setExile(target, undefined)
    }
  }

  // Members convicted by evidence during the epoch (DESIGN.md §4: exiled at the next epoch).
  for (const id of sortedKeys(d.members)) {
    const m = d.members.get(id) as Member
    if (m.status === 'active' && m.exileReason !== '') exile(d, id, m.exileReason, ctx, true)
  }

  for (const id of sortedKeys(d.members)) {
    const m = d.members.get(id) as Member
    if (m.status !== 'active') continue
    if (m.pendingLeave) d.setMember(id, { ...m, status: 'left', weight: 0, pendingLeave: false, pendingKey: null })
    else if (m.pendingKey !== null) d.setMember(id, { ...m, key: m.pendingKey, pendingKey: null })
  }

  for (const target of sortedKeys(d.recoveries)) {
    const r = d.recoveries.get(target) as Recovery
    const t = d.members.get(target) as Member
    if (t.status !== 'active') {
      d.setRecovery(target, undefined)
      continue
    }
    const sponsors = t.sponsors.filter((s) => d.members.get(s)?.status === 'active')
    const bySponsors = sponsors.length > 0 && sponsors.every((s) => r.supporters.includes(s))
    const byWeight = 1000 * supportWeight(d, weights, r.supporters) > ctx.policy.recoverWeight * W
    if ((bySponsors || byWeight) && ctx.time >= r.openedAt + ctx.policy.recoverDelayMs) {
      d.setMember(target, { ...t, key: r.key })
      d.setRecovery(target, undefined)
    } else if (ctx.time >= r.openedAt + ctx.policy.recoverDelayMs + ctx.policy.recoverWindowMs) {
      // A recovery nobody backs does not block the member's real one forever.
      d.setRecovery(target, undefined)
    }
  }

  for (const candidate of sortedKeys(d.inductions)) {
    const i = d.inductions.get(candidate) as Induction
    if (i.expires <= ctx.time || supportWeight(d, weights, i.objections) >= ctx.policy.objectionWeight) {
      d.setInduction(candidate, undefined)
      continue
    }
    const vouchWeight = supportWeight(d, weights, i.vouches)
    if (vouchWeight < ctx.policy.inductionVouches) continue
    if (ctx.time < i.openedAt + inductionWindowMs(ctx.policy, vouchWeight)) continue
    d.setInduction(candidate, undefined)
    const key = openRequest(i.request).key
    if (keyInUse(d, key)) continue
    d.setMember(candidate, {
      key,
      name: i.name,
      joinedEpoch: nextEpoch,
      sponsors: i.vouches.filter((s) => d.members.get(s)?.status === 'active'),
      status: 'active',
      weight: WEIGHT_FULL,
      seq: 0,
      standing: newcomerStanding(ctx.policy.standingInitial),
      addrs: [],
      pendingLeave: false,
      pendingKey: null,
      exileReason: '',
    })
  }

  // A close never leaves the cooperative without validators (its ledger could never grow again).
  // If every active member would leave or be exiled at once, nobody departs at this close: each
  // keeps its record from before the close with the standing the close gave it, so whatever was
  // pending (a leave, a conviction) is tried again at the next close.
  if (![...d.members.values()].some((m) => m.status === 'active')) {
    for (const [id, m] of activeBefore) d.setMember(id, { ...m, standing: (d.members.get(id) as Member).standing })
  }

  // Weights for the next epoch: full for active members (DESIGN.md §5.1 lets policy lower weight by
  // standing; no parameter does yet).
  for (const id of sortedKeys(d.members)) {
    const m = d.members.get(id) as Member
    const w = m.status === 'active' ? WEIGHT_FULL : 0
    if (m.weight !== w) d.setMember(id, { ...m, weight: w })
  }

  // Policy: weighted median of the standing votes of active members, at the new weights.
  const { validators, totalWeight } = validatorSet(d.members)
  const newWeights = new Map(validators.map((v) => [v.id, v.weight]))
  const next = {} as Record<ParamName, number>
  for (const p of PARAM_NAMES) {
    const cur = d.policy.get(p) as PolicyParamState
    const votes = new Map([...cur.votes].filter(([id]) => d.members.get(id)?.status === 'active'))
    next[p] = effectiveValue(p, cur.genesis, votes, newWeights)
    if (votes.size !== cur.votes.size || next[p] !== cur.effective) d.setPolicy(p, { ...cur, votes, effective: next[p] })
  }
  // The replication band must stay ordered whatever the medians say.
  if (next.replicationTarget < next.replicationMin) next.replicationTarget = next.replicationMin
  if (next.replicationMax < next.replicationTarget) next.replicationMax = next.replicationTarget
  for (const p of ['replicationTarget', 'replicationMax'] as const) {
    const cur = d.policy.get(p) as PolicyParamState
    if (cur.effective !== next[p]) d.setPolicy(p, { ...cur, effective: next[p] })
  }

  // Replicas follow the new member set, within the band (DESIGN.md §5.2, §5.5 repair). The rule is
  // idempotent, so with the same weighted members and the same band nothing can move, and the
  // O(snapshots × members) ranking is skipped.
  const band = { min: next.replicationMin, target: next.replicationTarget, max: next.replicationMax }
  const sameMembers = validators.length === d.epoch.validators.length && validators.every((v, i) => v.id === d.epoch.validators[i]?.id && v.weight === d.epoch.validators[i]?.weight)
  const sameBand = band.min === ctx.policy.replicationMin && band.target === ctx.policy.replicationTarget && band.max === ctx.policy.replicationMax
  for (const rootHex of sameMembers && sameBand ? [] : sortedKeys(d.snapshots)) {
    const s = d.snapshots.get(rootHex) as Snapshot
    const replicas = rebalance(fromHex(rootHex), s.replicas, validators, band, nextEpoch)
    const same = replicas.length === s.replicas.length && replicas.every((r, i) => r.id === s.replicas[i]?.id && r.since === s.replicas[i]?.since)
    if (!same) d.setSnapshot(rootHex, { ...s, replicas })
  }

  d.epoch = { number: nextEpoch, startHeight: ctx.height + 1, length: next.epochBlocks, seed: d.epoch.seed, validators, totalWeight }
  d.changed.add(EPOCH_KEY)

  // The epoch.seal leaf (§3.2): the state that rules epoch e+1, provable by inclusion.
  const root = stateRoot(d.state())
  return encode({ kind: 'epoch.seal', epoch: nextEpoch - 1, stateRoot: root, validators: validatorsHash(validators) })
}

// ---------------------------------------------------------------------------------------------
// Blocks.

export interface Leaf {
  readonly index: number
  readonly bytes: Uint8Array
}

export interface Applied {
  readonly ok: true
  readonly state: LedgerState
  readonly hash: Uint8Array
  /** State record keys written by this block (the store persists exactly these, plus meta). */
  readonly changed: ReadonlySet<string>
  /** New log leaves in order (entries, then the epoch.seal leaf if the block closes an epoch). */
  readonly leaves: readonly Leaf[]
  /** New perfect Merkle nodes (level 0 = leaf hashes), for proofs. */
  readonly nodes: ReadonlyArray<{ level: number; index: number; hash: Uint8Array }>
  /** The epoch this block closed, with its seal leaf and state root; null mid-epoch. */
  readonly sealed: { epoch: number; stateRoot: Uint8Array; leaf: Uint8Array } | null
}

export interface Refused {
  readonly ok: false
  readonly status: Exclude<BlockStatus, 'ok'>
  readonly detail: string
  /** For 'entry-invalid': which entry and why. */
  readonly entry?: { index: number; verdict: EntryVerdict }
}

export interface Header {
  readonly proposer: Uint8Array
  readonly time: number
}

export function closesEpoch(state: LedgerState, height: number): boolean {
  return height === state.epoch.startHeight + state.epoch.length - 1
}

function refuse(status: Exclude<BlockStatus, 'ok'>, detail: string, entry?: Refused['entry']): Refused {
  return entry === undefined ? { ok: false, status, detail } : { ok: false, status, detail, entry }
}

function checkHeader(state: LedgerState, h: Header & { epoch: number; height: number; parent: Uint8Array }): Refused | null {
  const m = state.meta
  if (h.epoch !== state.epoch.number) return refuse('wrong-epoch', `block is for epoch ${h.epoch}, state is in ${state.epoch.number}`)
  if (h.height !== m.height + 1) return refuse('wrong-height', `expected height ${m.height + 1}, got ${h.height}`)
  if (!bytesEqual(h.parent, m.lastBlock)) return refuse('wrong-parent', 'parent is not the last applied block')
  if (h.time < m.lastTime) return refuse('time-backwards', `time ${h.time} before ${m.lastTime}`)
  const proposer = formatMemberId(h.proposer)
  if (!state.epoch.validators.some((v) => v.id === proposer)) return refuse('proposer-not-validator', `${proposer} is not a validator of epoch ${h.epoch}`)
  return null
}

interface Executed {
  readonly draft: Draft
  readonly log: CompactRange
  readonly leaves: Leaf[]
  readonly nodes: Array<{ level: number; index: number; hash: Uint8Array }>
  readonly sealLeaf: Uint8Array | null
  readonly accepted: Uint8Array[]
  readonly rejected: Array<{ wire: Uint8Array; verdict: EntryVerdict }>
}

/** Run entries over a state. strict: stop at the first invalid entry; else drop invalid ones. */
function execute(state: LedgerState, height: number, time: number, wires: readonly Uint8Array[], strict: boolean): Executed | Refused {
  const d = new Draft(state)
  const ctx: Ctx = { time, height, policy: policyValues(state) }
  const log = CompactRange.from(state.meta.logSize, state.meta.logFrontier)
  const leaves: Leaf[] = []
  const nodes: Array<{ level: number; index: number; hash: Uint8Array }> = []
  const accepted: Uint8Array[] = []
  const rejected: Array<{ wire: Uint8Array; verdict: EntryVerdict }> = []
  let bytes = 0
  for (const [i, wire] of wires.entries()) {
    if (!strict && (accepted.length >= BLOCK_ENTRIES_MAX || bytes + wire.length + 16 > BLOCK_BYTES_MAX / 2)) break
    const s = decodeWire(wire)
    const v = 'entry' in s ? applyEntry(d, s, ctx) : s
    if (v.status !== 'ok') {
      if (strict) return refuse('entry-invalid', `entry ${i}: ${v.status}${v.detail ? ` (${v.detail})` : ''}`, { index: i, verdict: v })
      rejected.push({ wire, verdict: v })
      continue
    }
    accepted.push(wire)
    bytes += wire.length
    leaves.push({ index: log.size, bytes: wire })
    nodes.push(...log.append(leafHash(wire)))
  }
  let sealLeaf: Uint8Array | null = null
  if (closesEpoch(state, height)) {
    sealLeaf = closeEpoch(d, ctx)
    leaves.push({ index: log.size, bytes: sealLeaf })
    nodes.push(...log.append(leafHash(sealLeaf)))
  }
  return { draft: d, log, leaves, nodes, sealLeaf, accepted, rejected }
}

function finish(state: LedgerState, block: Block, x: Executed): Applied {
  const hash = blockHash(block)
  const d = x.draft
  const closing = x.sealLeaf !== null
  const sealedEpoch = state.epoch.number
  if (closing) d.epoch = { ...d.epoch, seed: hash }
  d.meta = {
    ...d.meta,
    height: block.height,
    lastBlock: hash,
    lastTime: block.time,
    logSize: x.log.size,
    logFrontier: x.log.frontier(),
  }
  d.changed.add(META_KEY)
  const next = d.state()
  assert(next.meta.logSize === block.logSize, 'log size after apply differs from the block')
  return {
    ok: true,
    state: next,
    hash,
    changed: d.changed,
    leaves: x.leaves,
    nodes: x.nodes,
    sealed: x.sealLeaf === null ? null : { epoch: sealedEpoch, stateRoot: sealStateRoot(x.sealLeaf), leaf: x.sealLeaf },
  }
}

function sealStateRoot(leaf: Uint8Array): Uint8Array {
  // The seal leaf is ours (closeEpoch): canonical order is kind, epoch, stateRoot, validators.
  return (decodeSealLeaf(leaf) as { stateRoot: Uint8Array }).stateRoot
}


export interface EpochSeal {
  readonly epoch: number
  readonly stateRoot: Uint8Array
  readonly validators: Uint8Array
}

/** Decode an epoch.seal log leaf; throws TrothError if the bytes are not one. */
export function decodeSealLeaf(leaf: Uint8Array): EpochSeal {
  const m = asMap(decode(leaf, { bytesMax: 1024 }), 'epoch.seal', ['kind', 'epoch', 'stateRoot', 'validators'])
  if (m.kind !== 'epoch.seal') throw new TrothError('schema.invalid', 'epoch.seal.kind: expected "epoch.seal"')
  return {
    epoch: asUint(m.epoch as CborValue, 'epoch.seal.epoch'),
    stateRoot: asBytes(m.stateRoot as CborValue, 'epoch.seal.stateRoot', 32),
    validators: asBytes(m.validators as CborValue, 'epoch.seal.validators', 32),
  }
}

/** The pure transition (DESIGN.md §3.3): check a block against `state` and apply it. */
export function applyBlock(state: LedgerState, block: Block): Applied | Refused {
  const bad = checkHeader(state, block)
  if (bad !== null) return bad
  if (block.entries.length > BLOCK_ENTRIES_MAX) return refuse('too-many-entries', `${block.entries.length} entries, limit ${BLOCK_ENTRIES_MAX}`)
  const size = encodeBlock(block).length
  if (size > BLOCK_BYTES_MAX) return refuse('too-large', `block is ${size} bytes, limit ${BLOCK_BYTES_MAX}`)
  const x = execute(state, block.height, block.time, block.entries, true)
  if ('ok' in x) return x
  if (x.log.size !== block.logSize || !bytesEqual(x.log.root(), block.logRoot)) {
    return refuse('log-mismatch', `block says log ${block.logSize} entries, execution gives ${x.log.size}, or the roots differ`)
  }
  return finish(state, block, x)
}

export interface Built {
  readonly block: Block
  readonly applied: Applied
  readonly rejected: ReadonlyArray<{ wire: Uint8Array; verdict: EntryVerdict }>
}

/** Build the next block from candidate entries (a leader's job): invalid entries are dropped with
 * their verdicts, the rest are included in order up to the block limits. */
export function buildBlock(state: LedgerState, header: Header, candidates: readonly Uint8Array[]): Built {
  const height = state.meta.height + 1
  const full = { ...header, epoch: state.epoch.number, height, parent: state.meta.lastBlock }
  const bad = checkHeader(state, full)
  if (bad !== null) throw new TrothError('input.invalid', `cannot build block: ${bad.status}: ${bad.detail}`)
  const x = execute(state, height, header.time, candidates, false)
  assert(!('ok' in x), 'non-strict execution never refuses')
  const block: Block = { ...full, entries: x.accepted, logSize: x.log.size, logRoot: x.log.root() }
  return { block, applied: finish(state, block, x), rejected: x.rejected }
}
