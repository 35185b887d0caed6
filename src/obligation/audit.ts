// Audit answers (DESIGN.md §5.4): what a replica signs when an auditor challenges it, and the
// checks every node runs on a report without holding the data. The replica signs the leaf hashes
// of the chunks it read from its own disk together with their inclusion proofs, so a signed
// answer whose proofs do not lead to the snapshot root is a proof of loss anyone can check.
// docs/obligations.md gives the bytes.

import { TAG } from '../identity/tags.ts'
import { sign, verify } from '../identity/sign.ts'
import { TrothError } from '../errors.ts'
import { asArray, asBytes, asMap, asText, asUint, decode, encode, type CborValue } from '../ledger/encoding.ts'
import { bytesEqual } from '../ledger/hash.ts'
import { verifyInclusion } from '../ledger/merkle.ts'

/** Proof hashes per chunk: a tree of at most 2^32 leaves has proofs of at most 32 hashes. */
export const AUDIT_PROOF_HASHES_MAX = 32
/** Chunk indexes per challenge (policy.chunksPerAudit's ceiling). */
export const AUDIT_INDEXES_MAX = 64
export const AUDIT_ANSWER_BYTES_MAX = 48 * 1024

export interface AuditAnswer {
  readonly net: Uint8Array
  readonly epoch: number
  /** Snapshot Merkle root. */
  readonly root: Uint8Array
  /** Member ids as raw 32-byte keys (as entries name members). */
  readonly replica: Uint8Array
  readonly auditor: Uint8Array
  readonly indexes: readonly number[]
  /** leafHash of each challenged chunk as read from the replica's disk. */
  readonly leaves: readonly Uint8Array[]
  /** RFC 9162 inclusion proof of each leaf in the snapshot's tree. */
  readonly proofs: ReadonlyArray<readonly Uint8Array[]>
}

export interface SignedAnswer {
  /** Canonical CBOR of the answer: exactly the signed bytes. */
  readonly bytes: Uint8Array
  readonly sig: Uint8Array
  readonly answer: AuditAnswer
}

function answerToCbor(a: AuditAnswer): CborValue {
  return {
    kind: 'audit.answer',
    net: a.net,
    epoch: a.epoch,
    root: a.root,
    replica: a.replica,
    auditor: a.auditor,
    indexes: [...a.indexes],
    leaves: [...a.leaves],
    proofs: a.proofs.map((p) => [...p]),
  }
}

/** Strictly decode answer bytes; throws TrothError naming the problem. */
export function decodeAnswer(bytes: Uint8Array): AuditAnswer {
  const p = 'audit.answer'
  const m = asMap(decode(bytes, { bytesMax: AUDIT_ANSWER_BYTES_MAX }), p, ['kind', 'net', 'epoch', 'root', 'replica', 'auditor', 'indexes', 'leaves', 'proofs'])
  if (asText(m.kind as CborValue, `${p}.kind`, 16) !== 'audit.answer') throw new TrothError('schema.invalid', `${p}.kind: expected "audit.answer"`)
  const indexes = asArray(m.indexes as CborValue, `${p}.indexes`, AUDIT_INDEXES_MAX).map((x, i) => asUint(x, `${p}.indexes[${i}]`))
  const leaves = asArray(m.leaves as CborValue, `${p}.leaves`, AUDIT_INDEXES_MAX).map((x, i) => asBytes(x, `${p}.leaves[${i}]`, 32))
  const proofs = asArray(m.proofs as CborValue, `${p}.proofs`, AUDIT_INDEXES_MAX).map((x, i) =>
    asArray(x, `${p}.proofs[${i}]`, AUDIT_PROOF_HASHES_MAX).map((h, j) => asBytes(h, `${p}.proofs[${i}][${j}]`, 32)),
  )
  if (leaves.length !== indexes.length || proofs.length !== indexes.length) {
    throw new TrothError('schema.invalid', `${p}: ${indexes.length} indexes, ${leaves.length} leaves and ${proofs.length} proofs must be as many`)
  }
  return {
    net: asBytes(m.net as CborValue, `${p}.net`, 32),
    epoch: asUint(m.epoch as CborValue, `${p}.epoch`),
    root: asBytes(m.root as CborValue, `${p}.root`, 32),
    replica: asBytes(m.replica as CborValue, `${p}.replica`, 32),
    auditor: asBytes(m.auditor as CborValue, `${p}.auditor`, 32),
    indexes,
    leaves,
    proofs,
  }
}

/** The replica's side: sign an answer with its member key under troth/audit/v1. */
export function signAnswer(seed: Uint8Array, answer: AuditAnswer): SignedAnswer {
  const bytes = encode(answerToCbor(answer))
  if (bytes.length > AUDIT_ANSWER_BYTES_MAX) throw new TrothError('input.too-large', `audit answer is ${bytes.length} bytes, limit ${AUDIT_ANSWER_BYTES_MAX}`)
  decodeAnswer(bytes)
  return { bytes, sig: sign(seed, TAG.audit, bytes), answer }
}

export function signedAnswerToCbor(s: Pick<SignedAnswer, 'bytes' | 'sig'>): CborValue {
  return { answer: s.bytes, sig: s.sig }
}

export function parseSignedAnswer(v: CborValue, path: string): SignedAnswer {
  const m = asMap(v, path, ['answer', 'sig'])
  const bytes = asBytes(m.answer as CborValue, `${path}.answer`, undefined, AUDIT_ANSWER_BYTES_MAX)
  return { bytes, sig: asBytes(m.sig as CborValue, `${path}.sig`, 64), answer: decodeAnswer(bytes) }
}

export function answerSignatureValid(s: SignedAnswer, replicaKey: Uint8Array): boolean {
  return verify(replicaKey, TAG.audit, s.bytes, s.sig)
}

/** What a duty expects an answer to say. */
export interface Challenge {
  readonly net: Uint8Array
  readonly epoch: number
  readonly root: Uint8Array
  readonly chunks: number
  readonly replica: Uint8Array
  readonly auditor: Uint8Array
  readonly indexes: readonly number[]
}

/** True when the answer is about exactly this challenge (whatever its leaves say). */
export function answersChallenge(a: AuditAnswer, c: Challenge): boolean {
  return (
    bytesEqual(a.net, c.net) &&
    a.epoch === c.epoch &&
    bytesEqual(a.root, c.root) &&
    bytesEqual(a.replica, c.replica) &&
    bytesEqual(a.auditor, c.auditor) &&
    a.indexes.length === c.indexes.length &&
    a.indexes.every((x, i) => x === c.indexes[i])
  )
}

/**
 * 'pass' when every signed leaf is proven in the snapshot's tree, 'fail' when at least one is not:
 * the replica signed something its snapshot does not contain. Needs no chunk data.
 */
export function answerVerdict(a: AuditAnswer, root: Uint8Array, chunks: number): 'pass' | 'fail' {
  for (let i = 0; i < a.indexes.length; i++) {
    if (!verifyInclusion(a.indexes[i] as number, chunks, a.leaves[i] as Uint8Array, a.proofs[i] as Uint8Array[], root)) return 'fail'
  }
  return 'pass'
}
