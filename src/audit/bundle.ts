// The audit proof file (docs/audit.md): a standard c2sp.org/tlog-proof@v1 document (the entry's
// index, its RFC 9162 inclusion proof, the sealed checkpoint with the members' cosignatures) whose
// `extra` line carries what an offline auditor needs beyond it, as canonical CBOR: the entry's
// bytes and the chain of member sets from genesis to the checkpoint (DESIGN.md §3.2). Parsing is
// strict and bounded; every fault is a TrothError 'proof.malformed' naming where it is.

import { TrothError } from '../errors.ts'
import { asArray, asBytes, asMap, asText, asUint, decode, encode, type CborValue } from '../ledger/encoding.ts'
import { HASH_BYTES } from '../ledger/hash.ts'
import { GENESIS_BYTES_MAX } from '../ledger/limits.ts'
import { validatorsFromCbor, validatorsToCbor, type Validator } from '../ledger/state.ts'
import { NOTE_BYTES_MAX, PROOF_HASHES_MAX, formatTlogProof, parseTlogProof } from '../ledger/tlog.ts'

/** Names the `extra` payload; changing it is a format change. */
export const AUDIT_FORMAT = 'troth/audit-proof/v1'
/** A whole audit proof file. */
export const AUDIT_PROOF_BYTES_MAX = 8 * 1024 * 1024
/** Steps in the member chain: one per change of the member set, plus the proof's checkpoint. */
export const CHAIN_STEPS_MAX = 4096
/** An epoch.seal leaf is a small fixed-shape map. */
export const SEAL_LEAF_BYTES_MAX = 1024
/** CBOR items in `extra`: bounded by the byte cap in practice; this stops pathological shapes. */
const EXTRA_ITEMS_MAX = 4_000_000

/** A log leaf with its RFC 9162 inclusion proof in the step's checkpoint. */
export interface LeafProof {
  readonly index: number
  readonly leaf: Uint8Array
  readonly proof: readonly Uint8Array[]
}

/** One sealed checkpoint of the member chain (docs/audit.md "The member chain"). */
export interface ChainStep {
  /** The signed checkpoint note; null in the last step, whose checkpoint is the proof's own. */
  readonly checkpoint: string | null
  /** RFC 9162 PROOF(previous step's size, this size); empty in the first step. */
  readonly consistency: readonly Uint8Array[]
  /** The checkpoint's own epoch.seal leaf: its last leaf (index = size − 1). */
  readonly seal: LeafProof
  /** The epoch.seal leaf of the epoch before, naming who cosigns this checkpoint; null for epoch 0. */
  readonly prior: LeafProof | null
  /** The member set `seal` names for the next epoch, when it differs from this one's; else null. */
  readonly next: readonly Validator[] | null
}

export interface AuditProof {
  /** Log index of the proven entry. */
  readonly index: number
  /** Its inclusion proof in `checkpoint` (leaf sibling first). */
  readonly proof: readonly Uint8Array[]
  /** The sealed checkpoint note that covers the entry. */
  readonly checkpoint: string
  /** The entry's log leaf bytes. */
  readonly entry: Uint8Array
  /** Oldest first; the last step is `checkpoint`'s. */
  readonly chain: readonly ChainStep[]
}

function malformed(message: string, cause?: unknown): TrothError {
  return new TrothError('proof.malformed', message, cause === undefined ? undefined : { cause })
}

function leafProofToCbor(p: LeafProof): CborValue {
  return { index: p.index, leaf: p.leaf, proof: [...p.proof] }
}

function stepToCbor(s: ChainStep): CborValue {
  return {
    checkpoint: s.checkpoint,
    consistency: [...s.consistency],
    seal: leafProofToCbor(s.seal),
    prior: s.prior === null ? null : leafProofToCbor(s.prior),
    next: s.next === null ? null : validatorsToCbor(s.next),
  }
}

function hashes(v: CborValue | undefined, path: string): Uint8Array[] {
  return asArray(v, path, PROOF_HASHES_MAX).map((h, i) => asBytes(h, `${path}[${i}]`, HASH_BYTES))
}

function leafProofFromCbor(v: CborValue | undefined, path: string): LeafProof {
  const m = asMap(v, path, ['index', 'leaf', 'proof'])
  return { index: asUint(m.index, `${path}.index`), leaf: asBytes(m.leaf, `${path}.leaf`, undefined, SEAL_LEAF_BYTES_MAX), proof: hashes(m.proof, `${path}.proof`) }
}

function stepFromCbor(v: CborValue, path: string, last: boolean): ChainStep {
  const m = asMap(v, path, ['checkpoint', 'consistency', 'seal', 'prior', 'next'])
  let checkpoint: string | null = null
  if (last) {
    if (m.checkpoint !== null) throw malformed(`${path}.checkpoint: the last step's checkpoint is the proof's own and must be null`)
  } else {
    checkpoint = asText(m.checkpoint, `${path}.checkpoint`, NOTE_BYTES_MAX)
  }
  return {
    checkpoint,
    consistency: hashes(m.consistency, `${path}.consistency`),
    seal: leafProofFromCbor(m.seal, `${path}.seal`),
    prior: m.prior === null ? null : leafProofFromCbor(m.prior, `${path}.prior`),
    next: m.next === null ? null : validatorsFromCbor(m.next as CborValue, `${path}.next`),
  }
}

/** Writes the proof file: the tlog-proof text, `extra` holding { format, entry, chain }. */
export function formatAuditProof(p: AuditProof): string {
  if (p.chain.length === 0 || p.chain.length > CHAIN_STEPS_MAX) throw malformed(`a member chain has 1 to ${CHAIN_STEPS_MAX} steps, not ${p.chain.length}`)
  p.chain.forEach((s, i) => {
    if ((s.checkpoint === null) !== (i === p.chain.length - 1)) throw malformed(`chain step ${i}: only the last step leaves its checkpoint out`)
  })
  const extra = encode({ format: AUDIT_FORMAT, entry: p.entry, chain: p.chain.map(stepToCbor) })
  return formatTlogProof({ extra, index: p.index, proof: p.proof, checkpoint: p.checkpoint }, AUDIT_PROOF_BYTES_MAX)
}

/** Reads a proof file strictly. The standard parts are checked by parseTlogProof; `extra` must be
 * troth's, in canonical CBOR with no unknown or missing field. Nothing is verified here. */
export function parseAuditProof(text: string): AuditProof {
  const t = parseTlogProof(text, AUDIT_PROOF_BYTES_MAX)
  if (t.extra === undefined) throw malformed('the proof has no "extra" line: it is a tlog-proof, but not a troth audit proof (no entry, no member chain)')
  let v: CborValue
  try {
    v = decode(t.extra, { bytesMax: AUDIT_PROOF_BYTES_MAX, itemsMax: EXTRA_ITEMS_MAX })
  } catch (err) {
    throw malformed(`extra: ${(err as Error).message}`, err)
  }
  try {
    const m = asMap(v, 'extra', ['format', 'entry', 'chain'])
    if (m.format !== AUDIT_FORMAT) throw malformed(`extra.format: expected "${AUDIT_FORMAT}"`)
    const entry = asBytes(m.entry, 'extra.entry', undefined, GENESIS_BYTES_MAX)
    const list = asArray(m.chain, 'extra.chain', CHAIN_STEPS_MAX)
    if (list.length === 0) throw malformed('extra.chain: a member chain has at least one step')
    const chain = list.map((s, i) => stepFromCbor(s, `extra.chain[${i}]`, i === list.length - 1))
    return { index: t.index, proof: t.proof, checkpoint: t.checkpoint, entry, chain }
  } catch (err) {
    if (err instanceof TrothError && err.code !== 'proof.malformed') throw malformed(err.message, err)
    throw err
  }
}
