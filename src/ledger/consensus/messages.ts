// Consensus messages (DESIGN.md §4): votes NOTARIZE(v, parentView, digest), NULLIFY(v),
// FINALIZE(v, digest), each signed over (tag, net, epoch, view, kind, parent, digest); certificates
// are a quorum (3·w > 2·W, integer weights, each member once) of one kind of vote. Strict decode.

import { TrothError } from '../../errors.ts'
import { TAG } from '../../identity/tags.ts'
import { sign, verify } from '../../identity/sign.ts'
import { formatMemberId, parseMemberId, isMemberId } from '../../identity/member-id.ts'
import { asArray, asBytes, asEnum, asMap, asUint, encode, type CborValue } from '../encoding.ts'
import { bytesEqual, sha256, toHex } from '../hash.ts'
import type { Validator } from '../state.ts'

export const VOTE_KINDS = ['notarize', 'nullify', 'finalize'] as const
export type VoteKind = (typeof VOTE_KINDS)[number]

/** At most this many signers in a certificate (far above any cooperative). */
export const CERT_SIGNERS_MAX = 10_000

export interface Vote {
  readonly kind: VoteKind
  readonly epoch: number
  readonly view: number
  /** NOTARIZE only: the view of the parent the proposal builds on (0 = the epoch's genesis). */
  readonly parent: number
  /** NOTARIZE and FINALIZE: the block digest; NULLIFY: empty. */
  readonly digest: Uint8Array
  readonly signer: string
  readonly sig: Uint8Array
}

export interface Certificate {
  readonly kind: VoteKind
  readonly epoch: number
  readonly view: number
  readonly parent: number
  readonly digest: Uint8Array
  /** Sorted by MemberId, each once. */
  readonly signers: ReadonlyArray<{ readonly id: string; readonly sig: Uint8Array }>
}

const EMPTY = new Uint8Array(0)

/** The bytes a vote signs. NOTARIZE and NULLIFY use troth/vote/v1, FINALIZE troth/finalize/v1. */
export function voteMessage(net: Uint8Array, v: Pick<Vote, 'kind' | 'epoch' | 'view' | 'parent' | 'digest'>): Uint8Array {
  return encode({ net, epoch: v.epoch, view: v.view, kind: v.kind, parent: v.parent, digest: v.digest })
}

const tagOf = (kind: VoteKind): typeof TAG.vote | typeof TAG.finalize => (kind === 'finalize' ? TAG.finalize : TAG.vote)

export function signVote(net: Uint8Array, seed: Uint8Array, signer: string, v: Pick<Vote, 'kind' | 'epoch' | 'view' | 'parent' | 'digest'>): Vote {
  const shaped = shape(v)
  return { ...shaped, signer, sig: sign(seed, tagOf(v.kind), voteMessage(net, shaped)) }
}

function shape(v: Pick<Vote, 'kind' | 'epoch' | 'view' | 'parent' | 'digest'>): Pick<Vote, 'kind' | 'epoch' | 'view' | 'parent' | 'digest'> {
  return {
    kind: v.kind,
    epoch: v.epoch,
    view: v.view,
    parent: v.kind === 'notarize' ? v.parent : 0,
    digest: v.kind === 'nullify' ? EMPTY : v.digest,
  }
}

export function voteSignatureValid(net: Uint8Array, key: Uint8Array, v: Vote): boolean {
  return verify(key, tagOf(v.kind), voteMessage(net, v), v.sig)
}

/** Structural rules every vote obeys, whatever its signer. */
export function voteWellFormed(v: Vote): boolean {
  if (v.view < 1) return false
  if (v.kind === 'notarize') return v.parent < v.view && v.digest.length === 32
  if (v.kind === 'finalize') return v.parent === 0 && v.digest.length === 32
  return v.parent === 0 && v.digest.length === 0
}

export function voteToCbor(v: Vote): CborValue {
  return { kind: v.kind, epoch: v.epoch, view: v.view, parent: v.parent, digest: v.digest, signer: parseMemberId(v.signer), sig: v.sig }
}

export function voteFromCbor(x: CborValue, path = 'vote'): Vote {
  const m = asMap(x, path, ['kind', 'epoch', 'view', 'parent', 'digest', 'signer', 'sig'])
  const v: Vote = {
    kind: asEnum(m.kind, `${path}.kind`, VOTE_KINDS),
    epoch: asUint(m.epoch, `${path}.epoch`),
    view: asUint(m.view, `${path}.view`),
    parent: asUint(m.parent, `${path}.parent`),
    digest: asBytes(m.digest, `${path}.digest`, undefined, 32),
    signer: formatMemberId(asBytes(m.signer, `${path}.signer`, 32)),
    sig: asBytes(m.sig, `${path}.sig`, 64),
  }
  if (!voteWellFormed(v)) throw new TrothError('schema.invalid', `${path}: fields do not fit a ${v.kind} vote`)
  return v
}

export function certToCbor(c: Certificate): CborValue {
  return {
    kind: c.kind,
    epoch: c.epoch,
    view: c.view,
    parent: c.parent,
    digest: c.digest,
    signers: c.signers.map((s) => [parseMemberId(s.id), s.sig]),
  }
}

export function certFromCbor(x: CborValue, path = 'cert'): Certificate {
  const m = asMap(x, path, ['kind', 'epoch', 'view', 'parent', 'digest', 'signers'])
  const signers = asArray(m.signers, `${path}.signers`, CERT_SIGNERS_MAX).map((s, i) => {
    const [id, sig] = asArray(s, `${path}.signers[${i}]`, 2)
    return { id: formatMemberId(asBytes(id, `${path}.signers[${i}][0]`, 32)), sig: asBytes(sig, `${path}.signers[${i}][1]`, 64) }
  })
  for (let i = 1; i < signers.length; i++) {
    if ((signers[i - 1] as { id: string }).id >= (signers[i] as { id: string }).id) throw new TrothError('schema.invalid', `${path}.signers: not sorted or repeated`)
  }
  const c: Certificate = {
    kind: asEnum(m.kind, `${path}.kind`, VOTE_KINDS),
    epoch: asUint(m.epoch, `${path}.epoch`),
    view: asUint(m.view, `${path}.view`),
    parent: asUint(m.parent, `${path}.parent`),
    digest: asBytes(m.digest, `${path}.digest`, undefined, 32),
    signers,
  }
  if (!voteWellFormed({ ...c, signer: '', sig: EMPTY })) throw new TrothError('schema.invalid', `${path}: fields do not fit a ${c.kind} certificate`)
  return c
}

/** The validator set of one epoch, with its quorum rule. */
export class ValidatorSet {
  readonly epoch: number
  readonly totalWeight: number
  readonly list: readonly Validator[]
  private readonly byId: ReadonlyMap<string, Validator>

  constructor(epoch: number, validators: readonly Validator[]) {
    this.epoch = epoch
    this.list = validators
    this.byId = new Map(validators.map((v) => [v.id, v]))
    this.totalWeight = validators.reduce((a, v) => a + v.weight, 0)
  }

  get(id: string): Validator | undefined {
    return this.byId.get(id)
  }

  weightOf(ids: Iterable<string>): number {
    let w = 0
    const seen = new Set<string>()
    for (const id of ids) {
      if (seen.has(id)) continue
      seen.add(id)
      w += this.byId.get(id)?.weight ?? 0
    }
    return w
  }

  /** DESIGN.md §4: a quorum is more than two thirds of the epoch's weight, in integers. */
  isQuorum(weight: number): boolean {
    return 3 * weight > 2 * this.totalWeight
  }

  /** More than one third: enough that at least one honest member is among them. */
  exceedsThird(weight: number): boolean {
    return 3 * weight > this.totalWeight
  }
}

/** Check a vote completely against an epoch's validators: epoch, shape, signer, signature. */
export function checkVote(net: Uint8Array, set: ValidatorSet, v: Vote): 'ok' | 'wrong-epoch' | 'malformed' | 'not-validator' | 'bad-signature' {
  if (v.epoch !== set.epoch) return 'wrong-epoch'
  if (!voteWellFormed(v) || !isMemberId(v.signer)) return 'malformed'
  const val = set.get(v.signer)
  if (val === undefined) return 'not-validator'
  return voteSignatureValid(net, val.key, v) ? 'ok' : 'bad-signature'
}

// Verifying a certificate costs one signature check per signer; the same certificate arrives many
// times (rebroadcasts), so remember the ones already verified, by content hash.
const CERT_CACHE_MAX = 4096
const verifiedCerts = new Set<string>()

function certId(net: Uint8Array, c: Certificate): string {
  return toHex(sha256(net, encode(certToCbor(c))))
}

export function checkCertificate(net: Uint8Array, set: ValidatorSet, c: Certificate): 'ok' | 'wrong-epoch' | 'malformed' | 'not-validator' | 'bad-signature' | 'no-quorum' {
  if (c.epoch !== set.epoch) return 'wrong-epoch'
  if (!voteWellFormed({ ...c, signer: '', sig: EMPTY })) return 'malformed'
  const id = certId(net, c)
  if (verifiedCerts.has(id)) return 'ok'
  let prev = ''
  for (const s of c.signers) {
    if (s.id <= prev) return 'malformed'
    prev = s.id
    if (set.get(s.id) === undefined) return 'not-validator'
  }
  if (!set.isQuorum(set.weightOf(c.signers.map((s) => s.id)))) return 'no-quorum'
  const msg = voteMessage(net, c)
  const tag = tagOf(c.kind)
  for (const s of c.signers) {
    if (!verify((set.get(s.id) as Validator).key, tag, msg, s.sig)) return 'bad-signature'
  }
  if (verifiedCerts.size >= CERT_CACHE_MAX) verifiedCerts.clear()
  verifiedCerts.add(id)
  return 'ok'
}

/** Assemble a certificate from votes that agree (same kind, epoch, view, parent, digest). */
export function makeCertificate(votes: readonly Vote[]): Certificate {
  const first = votes[0]
  if (first === undefined) throw new TrothError('input.invalid', 'a certificate needs votes')
  const signers = [...new Map(votes.map((v) => [v.signer, v.sig])).entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([id, sig]) => ({ id, sig }))
  return { kind: first.kind, epoch: first.epoch, view: first.view, parent: first.parent, digest: first.digest, signers }
}

/** Two signed votes by one signer that no honest member would both send (DESIGN.md §4). */
export function conflicting(a: Vote, b: Vote): boolean {
  if (a.signer !== b.signer || a.epoch !== b.epoch || a.view !== b.view) return false
  if (a.kind === b.kind) {
    if (a.kind === 'nullify') return false
    return !bytesEqual(a.digest, b.digest) || a.parent !== b.parent
  }
  const kinds = new Set([a.kind, b.kind])
  return kinds.has('nullify') && kinds.has('finalize')
}
