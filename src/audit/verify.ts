// Offline verification of an audit proof (DESIGN.md §3.2, docs/audit.md): with nothing but the
// proof file, the genesis and optionally the data, decide whether an entry (a sealed snapshot) is
// in the ledger. The member sets are walked from genesis through the proof's chain of sealed
// checkpoints; each checkpoint must be cosigned by more than 2/3 of its epoch's weight. Pure: no
// I/O, no clock. A rejection is a verdict with a stable status and a sentence, never a throw; only
// a genesis that is not one throws (it is the auditor's own trust anchor, not the proof).

import { TrothError } from '../errors.ts'
import { formatMemberId, isMemberId } from '../identity/member-id.ts'
import { decodeSealLeaf, type EpochSeal } from '../ledger/apply.ts'
import { decodeSignedEntry, entrySignatureValid, type SignedEntry } from '../ledger/entry.ts'
import { genesisState, ledgerOrigin } from '../ledger/genesis.ts'
import { bytesEqual, sha256, toHex } from '../ledger/hash.ts'
import { WEIGHT_FULL } from '../ledger/limits.ts'
import { EMPTY_ROOT, leafHash, verifyConsistency, verifyInclusion } from '../ledger/merkle.ts'
import { validatorsHash, type LedgerState, type Validator } from '../ledger/state.ts'
import { parseCheckpoint, parseNote, type Checkpoint, type Note } from '../ledger/tlog.ts'
import { parseAuditProof, type AuditProof, type LeafProof } from './bundle.ts'
import { checkCosigners, type Cosigner, type PastMember } from './cosigners.ts'
import { Rejected } from './rejected.ts'

/** Verdicts, in a stable order (STYLE.md: domain rejections are data). docs/audit.md explains each. */
export const AUDIT_STATUSES = [
  'ok',
  'malformed',
  'wrong-origin',
  'bad-cosignature',
  'not-a-member',
  'duplicate-cosigner',
  'no-quorum',
  'chain-broken',
  'inconsistent',
  'inclusion-failed',
  'entry-invalid',
  'not-a-seal',
  'snapshot-mismatch',
] as const
export type AuditStatus = (typeof AUDIT_STATUSES)[number]

/** What the auditor's data hashes to (computed by the caller from the file or directory). */
export interface SnapshotFacts {
  readonly root: Uint8Array
  readonly size: number
  readonly chunks: number
  readonly name: string
}

export interface EntryFacts {
  readonly index: number
  readonly kind: string
  readonly author?: string
  readonly seq?: number
  /** Unix ms, as the author stamped it. */
  readonly time?: number
  /** Whether the author's signature verified under the key the proof knows for it. */
  readonly signature?: 'valid' | 'unverifiable'
  readonly snapshot?: { readonly root: string; readonly name: string; readonly size: number; readonly chunks: number }
  readonly epoch?: number
}

export interface AuditVerdict {
  readonly valid: boolean
  readonly status: AuditStatus
  /** One sentence a person can act on. */
  readonly reason: string
  readonly network?: string
  readonly origin?: string
  readonly checkpoint?: {
    readonly epoch: number
    readonly size: number
    readonly root: string
    readonly members: number
    readonly cosigners: readonly Cosigner[]
    readonly weight: number
    readonly totalWeight: number
  }
  readonly entry?: EntryFacts
  /** The chain walked: one row per sealed checkpoint, oldest first. */
  readonly chain?: ReadonlyArray<{ readonly epoch: number; readonly size: number; readonly members: number; readonly changed: boolean }>
  readonly data?: { readonly root: string; readonly name: string; readonly size: number; readonly chunks: number; readonly matches: boolean }
}

export interface AuditResult {
  readonly verdict: AuditVerdict
  /** When valid: the proof's checkpoint (parsed), its epoch's members, and the next epoch's when
   * the proof carries them (a witness keeps those to check later checkpoints). */
  readonly sealed?: { readonly checkpoint: Checkpoint; readonly note: string; readonly epoch: number; readonly members: readonly Validator[]; readonly next: readonly Validator[] | null }
}

function reject(status: Exclude<AuditStatus, 'ok'>, reason: string): never {
  throw new Rejected(status, reason)
}

/** A member set the proof carries: sorted by MemberId, once each, keys and weights in range. */
function checkMemberList(list: readonly Validator[], where: string): void {
  if (list.length === 0) reject('chain-broken', `${where}: an empty member set`)
  let prev = ''
  for (const v of list) {
    if (!isMemberId(v.id)) reject('chain-broken', `${where}: ${JSON.stringify(String(v.id).slice(0, 60))} is not a MemberId`)
    if (v.id <= prev) reject('chain-broken', `${where}: members are not sorted by id, once each`)
    if (v.key.length !== 32 || v.weight < 1 || v.weight > WEIGHT_FULL) reject('chain-broken', `${where}: member ${v.id} has a bad key or weight`)
    prev = v.id
  }
}

function parseSigned(note: string, where: string): { note: Note; checkpoint: Checkpoint } {
  try {
    const n = parseNote(note)
    const checkpoint = parseCheckpoint(n.text)
    if (checkpoint.extensions.length > 0) reject('malformed', `${where}: a troth checkpoint has no extension lines`)
    return { note: n, checkpoint }
  } catch (err) {
    if (err instanceof TrothError) reject('malformed', `${where}: ${err.message}`)
    throw err
  }
}

function sealOf(p: LeafProof, where: string): EpochSeal {
  try {
    return decodeSealLeaf(p.leaf)
  } catch (err) {
    if (err instanceof TrothError) reject('chain-broken', `${where}: leaf ${p.index} is not an epoch.seal leaf (${err.message})`)
    throw err
  }
}

function checkIncluded(p: LeafProof, cp: Checkpoint, where: string): void {
  if (!verifyInclusion(p.index, cp.size, leafHash(p.leaf), p.proof, cp.root)) {
    reject('chain-broken', `${where}: the inclusion proof of the epoch.seal leaf at index ${p.index} does not verify against the checkpoint of size ${cp.size}`)
  }
}

function describeEntry(leaf: Uint8Array, index: number, genesis: Uint8Array, net: Uint8Array, members: readonly Validator[]): { facts: EntryFacts; signed: SignedEntry | null } {
  if (index === 0) {
    if (!bytesEqual(leaf, genesis)) reject('entry-invalid', 'leaf 0 of a troth log is its genesis, and this one is not the genesis given')
    return { facts: { index, kind: 'genesis' }, signed: null }
  }
  try {
    const seal = decodeSealLeaf(leaf)
    return { facts: { index, kind: 'epoch.seal', epoch: seal.epoch }, signed: null }
  } catch {
    // not a seal leaf: it must be a member's signed entry
  }
  let s: SignedEntry
  try {
    s = decodeSignedEntry(leaf)
  } catch (err) {
    reject('entry-invalid', `leaf ${index} is neither an epoch.seal nor a signed entry (${(err as Error).message})`)
  }
  if (!bytesEqual(s.entry.net, net)) reject('entry-invalid', `the entry at ${index} names another network`)
  const author = formatMemberId(s.entry.author)
  // The author signs with its current key, which is its MemberId's unless it rotated: try both.
  const keys = [s.entry.author, ...members.filter((m) => m.id === author).map((m) => m.key)]
  const signature = keys.some((k) => entrySignatureValid(s, k)) ? 'valid' : 'unverifiable'
  const body = s.entry.body
  const snapshot = body.kind === 'seal' ? { root: toHex(body.root), name: body.name, size: body.size, chunks: body.chunks } : undefined
  return { facts: { index, kind: body.kind, author, seq: s.entry.seq, time: s.entry.time, signature, ...(snapshot !== undefined ? { snapshot } : {}) }, signed: s }
}

const chunks = (n: number): string => `${n} chunk${n === 1 ? '' : 's'}`

function compareData(sealed: { root: string; name: string; size: number; chunks: number }, data: SnapshotFacts): void {
  if (toHex(data.root) === sealed.root) return
  const differences: string[] = []
  const dataIsDir = data.name.endsWith('/')
  const sealedIsDir = sealed.name.endsWith('/')
  if (dataIsDir !== sealedIsDir) differences.push(`the data is a ${dataIsDir ? 'directory' : 'file'}, the sealed snapshot a ${sealedIsDir ? 'directory' : 'file'}`)
  if (data.size !== sealed.size || data.chunks !== sealed.chunks) differences.push(`the data is ${data.size} bytes in ${chunks(data.chunks)}, the sealed snapshot ${sealed.size} bytes in ${chunks(sealed.chunks)}`)
  else differences.push(`same size (${data.size} bytes in ${chunks(data.chunks)}), different content`)
  reject('snapshot-mismatch', `the data's snapshot root ${toHex(data.root)} differs from the sealed root ${sealed.root}: ${differences.join('; ')}`)
}

// Decoding and validating a genesis (every founder key checked) costs milliseconds; an auditor or
// a witness checks many proofs against one genesis. Keyed by the bytes' hash, a handful kept.
const ANCHORS_MAX = 16
const anchors = new Map<string, LedgerState>()

function anchorOf(genesis: Uint8Array): LedgerState {
  const id = toHex(sha256(genesis))
  let g = anchors.get(id)
  if (g === undefined) {
    g = genesisState(genesis)
    if (anchors.size >= ANCHORS_MAX) anchors.delete(anchors.keys().next().value as string)
    anchors.set(id, g)
  }
  return g
}

/** Verifies an audit proof file's text against the genesis bytes, and `data` against the sealed
 * snapshot when given. Throws only if `genesis` is not a valid genesis. */
export function verifyAuditProof(text: string, genesis: Uint8Array, data?: SnapshotFacts): AuditResult {
  const g = anchorOf(genesis) // throws for a bad genesis: the auditor's input, not the proof's fault
  const origin = ledgerOrigin(g.meta.name, g.meta.net)
  const known: { -readonly [K in keyof AuditVerdict]?: AuditVerdict[K] } = { network: g.meta.name, origin }
  const chainRows: Array<{ epoch: number; size: number; members: number; changed: boolean }> = []
  try {
    let p: AuditProof
    try {
      p = parseAuditProof(text)
    } catch (err) {
      if (err instanceof TrothError) reject('malformed', err.message)
      throw err
    }
    // Walk the member chain from genesis (docs/audit.md "The member chain").
    let members: readonly Validator[] = g.epoch.validators
    const past = new Map<string, PastMember>()
    let membersFrom = 0
    let prev = { size: 0, root: EMPTY_ROOT, epoch: -1 }
    let last: { checkpoint: Checkpoint; note: string; epoch: number; members: readonly Validator[]; cosigners: Cosigner[]; weight: number; totalWeight: number; next: readonly Validator[] | null } | null = null
    for (const [i, step] of p.chain.entries()) {
      const isLast = i === p.chain.length - 1
      const where = isLast ? 'the proof\'s checkpoint' : `chain step ${i + 1} of ${p.chain.length}`
      const noteText = isLast ? p.checkpoint : (step.checkpoint as string)
      const { note, checkpoint: cp } = parseSigned(noteText, where)
      if (cp.origin !== origin) reject('wrong-origin', `${where} is for the log ${JSON.stringify(cp.origin.slice(0, 120))}, but the genesis given is for ${origin}`)
      // Its epoch is named by its own last leaf; the epoch's members by the leaf sealing the epoch before.
      const seal = sealOf(step.seal, where)
      const epoch = seal.epoch
      if (epoch <= prev.epoch) reject('chain-broken', `${where} seals epoch ${epoch}, not after the epoch ${prev.epoch} of the step before`)
      const cos = checkCosigners(note, members, { strict: true, past, epochLabel: `epoch ${epoch}` })
      if (!cos.ok) reject(cos.status, `${where} (epoch ${epoch}): ${cos.reason}`)
      if (step.seal.index !== cp.size - 1) reject('chain-broken', `${where}: the epoch.seal leaf is at index ${step.seal.index}, not the checkpoint's last leaf ${cp.size - 1}`)
      checkIncluded(step.seal, cp, where)
      if (epoch === 0) {
        if (step.prior !== null) reject('chain-broken', `${where} seals epoch 0, which has no epoch before it`)
      } else {
        if (step.prior === null) reject('chain-broken', `${where}: the epoch.seal leaf of epoch ${epoch - 1}, which names epoch ${epoch}'s members, is missing`)
        const prior = sealOf(step.prior, where)
        checkIncluded(step.prior, cp, where)
        if (prior.epoch !== epoch - 1) reject('chain-broken', `${where}: the leaf that should seal epoch ${epoch - 1} seals epoch ${prior.epoch}`)
        if (!bytesEqual(prior.validators, validatorsHash(members))) {
          reject('chain-broken', `${where}: the ledger names other members for epoch ${epoch} than the ${members.length} this proof followed from epoch ${membersFrom}`)
        }
      }
      if (prev.size === 0) {
        if (step.consistency.length !== 0) reject('inconsistent', `${where}: the first checkpoint of the chain carries a consistency proof from nothing`)
      } else if (!verifyConsistency(prev.size, cp.size, prev.root, cp.root, step.consistency)) {
        reject('inconsistent', `${where} (size ${cp.size}) is not a consistent extension of the checkpoint of epoch ${prev.epoch} (size ${prev.size}): the consistency proof does not verify`)
      }
      const changed = !bytesEqual(seal.validators, validatorsHash(members))
      let next: readonly Validator[] | null = changed ? null : members
      if (step.next !== null) {
        checkMemberList(step.next, `${where}: the next members`)
        if (!bytesEqual(validatorsHash(step.next), seal.validators)) reject('chain-broken', `${where}: the member set carried for epoch ${epoch + 1} is not the one its epoch.seal leaf names`)
        next = step.next
      } else if (changed && !isLast) {
        reject('chain-broken', `${where}: the members change at the close of epoch ${epoch}, and the proof does not carry the new set`)
      }
      chainRows.push({ epoch, size: cp.size, members: members.length, changed })
      if (isLast) last = { checkpoint: cp, note: noteText, epoch, members, cosigners: cos.cosigners, weight: cos.weight, totalWeight: cos.totalWeight, next }
      if (changed && next !== null) {
        for (const m of members) past.set(m.id, { key: m.key, from: past.get(m.id)?.from ?? membersFrom, to: epoch })
        members = next
        membersFrom = epoch + 1
      }
      prev = { size: cp.size, root: cp.root, epoch }
    }
    if (last === null) throw new Error('unreachable: a parsed chain has a last step')
    known.chain = chainRows
    known.checkpoint = { epoch: last.epoch, size: last.checkpoint.size, root: toHex(last.checkpoint.root), members: last.members.length, cosigners: last.cosigners, weight: last.weight, totalWeight: last.totalWeight }
    // The entry: in the proof's checkpoint, and what it is.
    if (!verifyInclusion(p.index, last.checkpoint.size, leafHash(p.entry), p.proof, last.checkpoint.root)) {
      reject('inclusion-failed', `the inclusion proof of entry ${p.index} does not verify against the checkpoint of epoch ${last.epoch} (size ${last.checkpoint.size})`)
    }
    const { facts } = describeEntry(p.entry, p.index, genesis, g.meta.net, last.members)
    known.entry = facts
    if (data !== undefined) {
      if (facts.snapshot === undefined) reject('not-a-seal', `entry ${p.index} is a ${facts.kind} entry, not a sealed snapshot: there is nothing to compare the data with`)
      known.data = { root: toHex(data.root), name: data.name, size: data.size, chunks: data.chunks, matches: toHex(data.root) === facts.snapshot.root }
      compareData(facts.snapshot, data)
    }
    const what = facts.snapshot !== undefined ? `snapshot ${facts.snapshot.name} (root ${facts.snapshot.root.slice(0, 16)}…)` : `entry ${p.index} (${facts.kind})`
    const reason = data !== undefined
      ? `the data is exactly the ${what} sealed in ${g.meta.name}'s ledger, in the checkpoint of epoch ${last.epoch} cosigned by more than 2/3 of its members`
      : `the ${what} is in ${g.meta.name}'s ledger, in the checkpoint of epoch ${last.epoch} cosigned by more than 2/3 of its members`
    return {
      verdict: { valid: true, status: 'ok', reason, ...known },
      sealed: { checkpoint: last.checkpoint, note: last.note, epoch: last.epoch, members: last.members, next: last.next },
    }
  } catch (err) {
    if (err instanceof Rejected) return { verdict: { valid: false, status: err.status as Exclude<AuditStatus, 'ok'>, reason: err.message, ...known } }
    throw err
  }
}
