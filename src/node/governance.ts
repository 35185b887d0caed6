// Governance through the control API (DESIGN.md §6): what the CLI may ask the node to sign, parsed
// strictly from JSON, and read-only views of the open inductions, exile proposals, recoveries and
// policy. The ledger's rules decide; this file only translates.

import { TrothError } from '../errors.ts'
import { isMemberId, parseMemberId } from '../identity/member-id.ts'
import { inductionWindowMs } from '../ledger/apply.ts'
import type { Body } from '../ledger/entry.ts'
import { fromHex, toHex } from '../ledger/hash.ts'
import { REASON_BYTES_MAX, REQUEST_BYTES_MAX } from '../ledger/limits.ts'
import { PARAMS, PARAM_NAMES, inRange, isParamName } from '../ledger/policy.ts'
import { decodeSignedRequest } from '../ledger/request.ts'
import { policyValues, type LedgerState } from '../ledger/state.ts'

/** The entry kinds a member submits from the CLI. Seals, audit reports and evidence are the
 * node's own business (troth seal, the duty loop, the consensus driver). */
export const SUBMIT_KINDS = ['induct.vouch', 'induct.object', 'leave', 'exile.propose', 'exile.vote', 'policy.vote', 'key.rotate', 'key.recover'] as const

function bad(message: string): TrothError {
  return new TrothError('input.invalid', message)
}

function fieldsOnly(v: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(v)) if (!allowed.includes(k)) throw bad(`unexpected field "${k}"`)
}

function member(v: unknown, what: string): Uint8Array {
  if (!isMemberId(v)) throw bad(`${what} must be a MemberId (troth1…)`)
  return parseMemberId(v)
}

function reason(v: unknown): string {
  if (typeof v !== 'string' || v.trim() === '') throw bad('reason must be a non-empty string')
  if (Buffer.byteLength(v, 'utf8') > REASON_BYTES_MAX) throw bad(`reason is longer than ${REASON_BYTES_MAX} bytes`)
  return v
}

function hexBytes(v: unknown, what: string, bytes?: number, max = REQUEST_BYTES_MAX): Uint8Array {
  if (typeof v !== 'string' || !/^([0-9a-f]{2})*$/.test(v) || v.length === 0) throw bad(`${what} must be lowercase hex`)
  if (bytes !== undefined && v.length !== 2 * bytes) throw bad(`${what} must be ${bytes} bytes`)
  if (v.length > 2 * max) throw bad(`${what} is longer than ${max} bytes`)
  return fromHex(v)
}

/** A submission from the control API as an entry body; throws naming the first bad field. */
export function parseSubmission(v: unknown): Body {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('the body must be a JSON object')
  const o = v as Record<string, unknown>
  switch (o.kind) {
    case 'induct.vouch': {
      fieldsOnly(o, ['kind', 'request'])
      const bytes = hexBytes(o.request, 'request')
      let request
      try {
        request = decodeSignedRequest(bytes)
      } catch (err) {
        throw bad(`the request file is damaged: ${(err as Error).message}`)
      }
      return { kind: 'induct.vouch', request }
    }
    case 'induct.object':
      fieldsOnly(o, ['kind', 'candidate', 'reason'])
      return { kind: 'induct.object', candidate: member(o.candidate, 'candidate'), reason: reason(o.reason) }
    case 'leave':
      fieldsOnly(o, ['kind'])
      return { kind: 'leave' }
    case 'exile.propose':
      fieldsOnly(o, ['kind', 'member', 'reason'])
      return { kind: 'exile.propose', member: member(o.member, 'member'), reason: reason(o.reason) }
    case 'exile.vote':
      fieldsOnly(o, ['kind', 'member'])
      return { kind: 'exile.vote', member: member(o.member, 'member') }
    case 'policy.vote': {
      fieldsOnly(o, ['kind', 'param', 'value'])
      const param = o.param
      if (typeof param !== 'string' || !isParamName(param)) throw bad(`unknown policy parameter ${JSON.stringify(param)} (known: ${PARAM_NAMES.join(', ')})`)
      const value = o.value
      if (value !== null && (typeof value !== 'number' || !inRange(param, value))) throw bad(`${param} must be an integer in [${PARAMS[param].min}, ${PARAMS[param].max}] (or null to withdraw)`)
      return { kind: 'policy.vote', param, value }
    }
    case 'key.rotate':
      fieldsOnly(o, ['kind', 'key', 'keySig'])
      return { kind: 'key.rotate', key: member(o.key, 'key'), keySig: hexBytes(o.keySig, 'keySig', 64) }
    case 'key.recover':
      if (o.cancel === true) {
        fieldsOnly(o, ['kind', 'member', 'cancel'])
        return { kind: 'key.recover', member: member(o.member, 'member'), cancel: true }
      }
      fieldsOnly(o, ['kind', 'member', 'key', 'keySig'])
      return { kind: 'key.recover', member: member(o.member, 'member'), key: member(o.key, 'key'), keySig: hexBytes(o.keySig, 'keySig', 64) }
    default:
      throw bad(`kind must be one of ${SUBMIT_KINDS.join(', ')}`)
  }
}

/** Weight of the listed members at the current epoch's weights (what the close will count). */
function weightOf(s: LedgerState, ids: readonly string[]): number {
  const w = new Map(s.epoch.validators.map((v) => [v.id, v.weight]))
  let total = 0
  for (const id of ids) if (s.members.get(id)?.status === 'active') total += w.get(id) ?? 0
  return total
}

/** Open inductions, exile proposals and recoveries, with what each still needs. */
export function governanceOf(s: LedgerState): Record<string, unknown> {
  const policy = policyValues(s)
  const W = s.epoch.totalWeight
  const nameOf = (id: string): string => s.members.get(id)?.name ?? ''
  const inductions = [...s.inductions].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([candidate, i]) => {
    const vouchWeight = weightOf(s, i.vouches)
    const objectionWeight = weightOf(s, i.objections)
    const closesAt = i.openedAt + inductionWindowMs(policy, vouchWeight)
    const state =
      objectionWeight >= policy.objectionWeight ? 'stopped by objections (dropped at the epoch close)'
      : vouchWeight < policy.inductionVouches ? `needs ${(policy.inductionVouches - vouchWeight) / 1000} more vouch weight`
      : s.meta.lastTime < closesAt ? 'objection window open'
      : 'admitted at the epoch close'
    return {
      candidate,
      name: i.name,
      vouches: i.vouches.map((id) => ({ id, name: nameOf(id) })),
      objections: i.objections.map((id) => ({ id, name: nameOf(id) })),
      vouchWeight,
      vouchWeightNeeded: policy.inductionVouches,
      objectionWeight,
      objectionWeightLimit: policy.objectionWeight,
      openedAt: i.openedAt,
      windowClosesAt: closesAt,
      expires: i.expires,
      state,
    }
  })
  const exiles = [...s.exiles].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([target, x]) => {
    const yes = weightOf(s, x.votes)
    return {
      member: target,
      name: nameOf(target),
      proposer: x.proposer,
      reason: x.reason,
      votes: x.votes,
      yesWeight: yes,
      passes: 1000 * yes > policy.exileVoteWeight * W,
      openedAt: x.openedAt,
      lapsesAt: x.openedAt + policy.exileWindowMs,
    }
  })
  const recoveries = [...s.recoveries].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([target, r]) => ({
    member: target,
    name: nameOf(target),
    key: toHex(r.key),
    supporters: r.supporters,
    supportWeight: weightOf(s, r.supporters),
    openedAt: r.openedAt,
    effectiveFrom: r.openedAt + policy.recoverDelayMs,
    lapsesAt: r.openedAt + policy.recoverDelayMs + policy.recoverWindowMs,
  }))
  return { epoch: s.epoch.number, time: s.meta.lastTime, totalWeight: W, inductions, exiles, recoveries }
}

/** Every policy parameter: effective value, genesis value, range, votes, and `me`'s vote. */
export function policyOf(s: LedgerState, me: string): Record<string, unknown> {
  const params = PARAM_NAMES.map((p) => {
    const st = s.policy.get(p)
    return {
      param: p,
      effective: st?.effective ?? PARAMS[p].default,
      genesis: st?.genesis ?? PARAMS[p].default,
      min: PARAMS[p].min,
      max: PARAMS[p].max,
      votes: st?.votes.size ?? 0,
      myVote: st?.votes.get(me) ?? null,
      doc: PARAMS[p].doc,
    }
  })
  return { epoch: s.epoch.number, params }
}
