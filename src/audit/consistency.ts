// The append-only check between two checkpoints (DESIGN.md §3.2, docs/audit.md): OLD and NEW are
// checkpoints (signed notes or bare bodies), PROOF a tlog-witness add-checkpoint body proving NEW
// from OLD's size. Pure. Cosignatures are checked as signatures (each line named by a MemberId
// must verify under that key); whether the cosigners were the members is `troth verify`'s and
// the witness's business, which know the member chain.

import { TrothError } from '../errors.ts'
import { isMemberId, parseMemberId } from '../identity/member-id.ts'
import { genesisState, ledgerOrigin } from '../ledger/genesis.ts'
import { bytesEqual, toHex } from '../ledger/hash.ts'
import { verifyConsistency } from '../ledger/merkle.ts'
import { SIG_TYPE_COSIGNATURE_V1, keyId, parseCheckpoint, parseConsistencyBody, parseNote, verifyCosignature, type Checkpoint, type ConsistencyBody, type Note } from '../ledger/tlog.ts'
import { Rejected } from './rejected.ts'

export const CONSISTENCY_STATUSES = ['ok', 'malformed', 'wrong-origin', 'mismatch', 'bad-cosignature', 'inconsistent'] as const
export type ConsistencyStatus = (typeof CONSISTENCY_STATUSES)[number]

export interface CheckpointFacts {
  readonly size: number
  readonly root: string
  /** MemberIds whose cosignatures verify (membership not checked). */
  readonly cosigners: readonly string[]
}

export interface ConsistencyVerdict {
  readonly valid: boolean
  readonly status: ConsistencyStatus
  readonly reason: string
  readonly origin?: string
  readonly old?: CheckpointFacts
  readonly new?: CheckpointFacts
}

function reject(status: Exclude<ConsistencyStatus, 'ok'>, reason: string): never {
  throw new Rejected(status, reason)
}

/** A checkpoint file: a signed note, or a bare checkpoint body (no signatures to check). */
function readCheckpoint(text: string, what: string): { checkpoint: Checkpoint; note: Note | null } {
  try {
    if (text.includes('\n\n')) {
      const note = parseNote(text)
      return { checkpoint: parseCheckpoint(note.text), note }
    }
    return { checkpoint: parseCheckpoint(text), note: null }
  } catch (err) {
    if (err instanceof TrothError) reject('malformed', `${what}: ${err.message}`)
    throw err
  }
}

/** Every cosignature/v1 line named by a MemberId, under that MemberId's key, must verify. */
function selfCertified(note: Note | null, what: string): string[] {
  if (note === null) return []
  const ok: string[] = []
  for (const [i, s] of note.signatures.entries()) {
    if (!isMemberId(s.name)) continue
    const key = parseMemberId(s.name)
    if (!bytesEqual(s.keyId, keyId(s.name, SIG_TYPE_COSIGNATURE_V1, key))) continue
    if (!verifyCosignature(key, s.name, note.text, s).ok) reject('bad-cosignature', `${what}: the cosignature on line ${i + 1} (${s.name}) does not verify`)
    if (ok.includes(s.name)) reject('bad-cosignature', `${what}: ${s.name} cosigned twice`)
    ok.push(s.name)
  }
  return ok
}

function facts(c: Checkpoint, cosigners: string[]): CheckpointFacts {
  return { size: c.size, root: toHex(c.root), cosigners }
}

export function verifyConsistencyFiles(oldText: string, newText: string, proofText: string, genesis?: Uint8Array): ConsistencyVerdict {
  const known: { origin?: string; old?: CheckpointFacts; new?: CheckpointFacts } = {}
  try {
    const o = readCheckpoint(oldText, 'OLD_CHECKPOINT')
    const n = readCheckpoint(newText, 'NEW_CHECKPOINT')
    let body: ConsistencyBody
    try {
      body = parseConsistencyBody(proofText)
    } catch (err) {
      if (err instanceof TrothError) reject('malformed', `PROOF: ${err.message}`)
      throw err
    }
    const p = readCheckpoint(body.checkpoint, 'the checkpoint inside PROOF')
    known.origin = n.checkpoint.origin
    if (o.checkpoint.origin !== n.checkpoint.origin) reject('wrong-origin', `OLD_CHECKPOINT is for the log ${o.checkpoint.origin}, NEW_CHECKPOINT for ${n.checkpoint.origin}`)
    if (genesis !== undefined) {
      const g = genesisState(genesis)
      const origin = ledgerOrigin(g.meta.name, g.meta.net)
      if (n.checkpoint.origin !== origin) reject('wrong-origin', `the checkpoints are for the log ${n.checkpoint.origin}, but the genesis given is for ${origin}`)
    }
    const same = (a: Checkpoint, b: Checkpoint): boolean => a.origin === b.origin && a.size === b.size && bytesEqual(a.root, b.root)
    if (!same(p.checkpoint, n.checkpoint)) reject('mismatch', `PROOF proves the checkpoint of size ${p.checkpoint.size} (root ${toHex(p.checkpoint.root).slice(0, 16)}…), not NEW_CHECKPOINT (size ${n.checkpoint.size}, root ${toHex(n.checkpoint.root).slice(0, 16)}…)`)
    if (body.oldSize !== o.checkpoint.size) reject('mismatch', `PROOF starts from size ${body.oldSize}, but OLD_CHECKPOINT has size ${o.checkpoint.size}`)
    known.old = facts(o.checkpoint, selfCertified(o.note, 'OLD_CHECKPOINT'))
    known.new = facts(n.checkpoint, selfCertified(n.note, 'NEW_CHECKPOINT'))
    selfCertified(p.note, 'the checkpoint inside PROOF')
    const [a, b] = [o.checkpoint, n.checkpoint]
    if (a.size > b.size) reject('inconsistent', `NEW_CHECKPOINT (size ${b.size}) is smaller than OLD_CHECKPOINT (size ${a.size}): a log that shrank is not append-only`)
    if (a.size === b.size) {
      if (body.proof.length !== 0) reject('inconsistent', `both checkpoints have size ${a.size}: the proof must be empty`)
      if (!bytesEqual(a.root, b.root)) reject('inconsistent', `FORK: two checkpoints of size ${a.size} with different roots (${toHex(a.root).slice(0, 16)}… and ${toHex(b.root).slice(0, 16)}…)`)
    } else if (a.size === 0) {
      if (body.proof.length !== 0) reject('inconsistent', 'a consistency proof from size 0 must be empty')
    } else if (!verifyConsistency(a.size, b.size, a.root, b.root, body.proof)) {
      reject('inconsistent', `the checkpoint of size ${b.size} is not a consistent extension of the one of size ${a.size}: the consistency proof does not verify (if it is right, the log forked)`)
    }
    const reason = a.size === b.size ? `the two checkpoints are the same tree of ${a.size} entries` : `the log only grew: the tree of ${a.size} entries is a prefix of the tree of ${b.size} entries`
    return { valid: true, status: 'ok', reason, ...known }
  } catch (err) {
    if (err instanceof Rejected) return { valid: false, status: err.status as Exclude<ConsistencyStatus, 'ok'>, reason: err.message, ...known }
    throw err
  }
}
