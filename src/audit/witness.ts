// A remembering auditor (docs/audit.md "The witness"): the C2SP tlog-witness rules applied to
// troth checkpoints, offline. For each log (origin) it keeps the largest checkpoint it verified and
// the member set that must cosign the next one, and accepts a new checkpoint only as a consistent
// extension of it. decideAdd() is the pure rule; WitnessStore keeps the records in one JSON file,
// replaced atomically (temp file, fsync, rename, directory fsync) under an exclusive lock, so the
// check and the write cannot interleave with another `troth witness add` (tlog-witness's rollback
// race).

import { closeSync, constants, openSync, readFileSync, writeSync, fsyncSync, renameSync, rmSync, mkdirSync, statSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { TrothError, assert } from '../errors.ts'
import { isMemberId } from '../identity/member-id.ts'
import { genesisState, ledgerOrigin } from '../ledger/genesis.ts'
import { HASH_BYTES, bytesEqual, sha256, toHex } from '../ledger/hash.ts'
import { GENESIS_BYTES_MAX, WEIGHT_FULL, VALIDATORS_MAX } from '../ledger/limits.ts'
import { EMPTY_ROOT, verifyConsistency } from '../ledger/merkle.ts'
import type { Validator } from '../ledger/state.ts'
import { parseCheckpoint, parseConsistencyBody, parseNote, type Checkpoint, type ConsistencyBody } from '../ledger/tlog.ts'
import { syncDir } from '../fsync.ts'
import { checkCosigners } from './cosigners.ts'
import { verifyAuditProof } from './verify.ts'

/** Answers, in a stable order, with the HTTP status tlog-witness gives each. */
export const WITNESS_STATUSES = ['ok', 'malformed', 'unknown-origin', 'bad-signature', 'bad-request', 'stale', 'inconsistent', 'conflict'] as const
export type WitnessStatus = (typeof WITNESS_STATUSES)[number]
export const WITNESS_HTTP: Readonly<Record<WitnessStatus, number>> = {
  ok: 200,
  malformed: 400,
  'unknown-origin': 404,
  'bad-signature': 403,
  'bad-request': 400,
  stale: 409,
  inconsistent: 422,
  conflict: 409,
}

export const WITNESS_FILE = 'witness.json'
export const WITNESS_LOCK = 'witness.lock'
export const WITNESS_FORMAT = 'troth/witness/v1'
export const WITNESS_ORIGINS_MAX = 1000
/** The store file: every origin's genesis, checkpoint and member set. */
export const WITNESS_FILE_BYTES_MAX = 256 * 1024 * 1024
/** Refused but validly signed checkpoints kept as evidence of a fork, at most this many. */
export const EVIDENCE_FILES_MAX = 1000

/** What the witness remembers of one log. */
export interface WitnessRecord {
  readonly origin: string
  /** The genesis the origin names: the trust anchor of its member sets. */
  readonly genesis: Uint8Array
  readonly size: number
  readonly root: Uint8Array
  /** The signed checkpoint note at `size`; null before the first one. */
  readonly note: string | null
  /** The members that cosign the next checkpoint, as far as this witness verified. */
  readonly members: readonly Validator[]
  /** The epoch from which `members` is known to hold. */
  readonly membersEpoch: number
  /** Unix ms of the last accepted checkpoint. */
  readonly updatedMs: number
}

export interface WitnessAnswer {
  readonly status: WitnessStatus
  readonly http: number
  readonly reason: string
  readonly origin?: string
  /** The size this witness holds for the origin (after the call). */
  readonly size?: number
  readonly oldSize?: number
  readonly newSize?: number
  /** A refusal of a checkpoint whose signatures verified: keep it, it may prove a fork. */
  readonly evidence?: boolean
}

export interface AddInput {
  /** The tlog-witness add-checkpoint body. */
  readonly body: string
  /** The genesis, needed the first time an origin is witnessed. */
  readonly genesis?: Uint8Array
  /** An audit proof of the same checkpoint (troth prove): its member chain, checked from the
   * genesis, gives the exact member set; without it, the set on record is used. */
  readonly members?: string
}

function answer(status: WitnessStatus, reason: string, extra: Omit<WitnessAnswer, 'status' | 'http' | 'reason'> = {}): WitnessAnswer {
  return { status, http: WITNESS_HTTP[status], reason, ...extra }
}

function fresh(origin: string, genesis: Uint8Array): WitnessRecord {
  const g = genesisState(genesis)
  return { origin, genesis, size: 0, root: EMPTY_ROOT, note: null, members: g.epoch.validators, membersEpoch: 0, updatedMs: 0 }
}

/**
 * The tlog-witness add-checkpoint rules, in the spec's order: unknown origin (404), no valid
 * signature (403), old size above the new one (400), old size not the one held (409, answering
 * the held size), a consistency proof that does not verify (422), the same size with another
 * root (409). Returns the answer and, when accepted, the new record.
 */
export function decideAdd(records: ReadonlyMap<string, WitnessRecord>, input: AddInput, nowMs: number): { answer: WitnessAnswer; record?: WitnessRecord } {
  let body: ConsistencyBody
  let cp: Checkpoint
  let note
  try {
    body = parseConsistencyBody(input.body)
    note = parseNote(body.checkpoint)
    cp = parseCheckpoint(note.text)
  } catch (err) {
    if (err instanceof TrothError) return { answer: answer('malformed', `not a tlog-witness add-checkpoint body: ${err.message}`) }
    throw err
  }
  const origin = cp.origin
  let record = records.get(origin)
  if (record === undefined) {
    if (input.genesis === undefined) return { answer: answer('unknown-origin', `this witness does not know the log ${origin}; give its genesis (--genesis) to start witnessing it`, { origin }) }
    const g = genesisState(input.genesis)
    const expected = ledgerOrigin(g.meta.name, g.meta.net)
    if (expected !== origin) return { answer: answer('unknown-origin', `the checkpoint is for the log ${origin}, but the genesis given is for ${expected}`, { origin }) }
    if (records.size >= WITNESS_ORIGINS_MAX) return { answer: answer('bad-request', `this witness already keeps ${WITNESS_ORIGINS_MAX} logs, its limit`, { origin }) }
    record = fresh(origin, input.genesis)
  }
  const held = { origin, size: record.size }
  // Signatures: the exact member set of the checkpoint's epoch, from an audit proof of it, or the
  // set on record (cosignatures of members it does not know are ignored, as tlog-witness says).
  let members = record.members
  let membersEpoch = record.membersEpoch
  if (input.members !== undefined) {
    const r = verifyAuditProof(input.members, record.genesis)
    if (r.sealed === undefined) return { answer: answer('bad-signature', `the member proof does not verify: ${r.verdict.reason}`, held) }
    if (r.sealed.checkpoint.size !== cp.size || !bytesEqual(r.sealed.checkpoint.root, cp.root) || r.sealed.checkpoint.origin !== origin) {
      return { answer: answer('bad-request', `the member proof is for the checkpoint of size ${r.sealed.checkpoint.size}, not this one (size ${cp.size})`, held) }
    }
    const exact = checkCosigners(note, r.sealed.members, { strict: false, epochLabel: `epoch ${r.sealed.epoch}` })
    if (!exact.ok) return { answer: answer('bad-signature', `checkpoint of size ${cp.size}: ${exact.reason}`, held) }
    members = r.sealed.next ?? r.sealed.members
    membersEpoch = r.sealed.next !== null ? r.sealed.epoch + 1 : r.sealed.epoch
  } else {
    const known = checkCosigners(note, record.members, { strict: false, epochLabel: `the members this witness knows (from epoch ${record.membersEpoch})` })
    if (!known.ok) {
      const hint = known.status === 'no-quorum' ? '; if the members changed since, add it with --members and an audit proof of this checkpoint (troth prove --entry <size − 1>)' : ''
      return { answer: answer('bad-signature', `checkpoint of size ${cp.size}: ${known.reason}${hint}`, held) }
    }
  }
  const signed = { ...held, oldSize: body.oldSize, newSize: cp.size, evidence: true }
  if (body.oldSize > cp.size) return { answer: answer('bad-request', `old size ${body.oldSize} is larger than the checkpoint's size ${cp.size}`, signed) }
  if (body.oldSize !== record.size) {
    return { answer: answer('stale', `this witness holds the checkpoint of size ${record.size} for ${origin}; the body proves from size ${body.oldSize}: ask for a consistency proof from ${record.size}`, { ...held, oldSize: body.oldSize, newSize: cp.size }) }
  }
  if (body.oldSize === 0) {
    if (body.proof.length !== 0) return { answer: answer('inconsistent', 'a consistency proof from size 0 must be empty', signed) }
  } else if (body.oldSize === cp.size) {
    if (body.proof.length !== 0) return { answer: answer('inconsistent', `old size and size are both ${cp.size}: the proof must be empty`, signed) }
    if (!bytesEqual(record.root, cp.root)) {
      return { answer: answer('conflict', `FORK: the checkpoint of size ${cp.size} has root ${toHex(cp.root)}, but this witness holds root ${toHex(record.root)} for that size`, signed) }
    }
  } else if (!verifyConsistency(body.oldSize, cp.size, record.root, cp.root, body.proof)) {
    return {
      answer: answer('inconsistent', `the checkpoint of size ${cp.size} is not a consistent extension of the witnessed checkpoint of size ${record.size} (root ${toHex(record.root).slice(0, 16)}…): the consistency proof does not verify; if the proof is right, the log has forked`, signed),
    }
  }
  const next: WitnessRecord = { ...record, size: cp.size, root: cp.root, note: body.checkpoint, members, membersEpoch, updatedMs: nowMs }
  const grew = cp.size - record.size
  return { answer: answer('ok', grew > 0 ? `${origin} grew from ${record.size} to ${cp.size} entries, consistently` : `the checkpoint of size ${cp.size} is the one already held`, { origin, size: cp.size, oldSize: body.oldSize, newSize: cp.size }), record: next }
}

// ---------------------------------------------------------------------------------------------
// The store: DIR/witness.json, DIR/witness.lock, DIR/evidence/.

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')

function corrupt(path: string, what: string): TrothError {
  return new TrothError('store.corrupt', `witness store ${path}: ${what}; it was not written by troth, or was damaged (restore it from a backup)`)
}

function fromB64(v: unknown, path: string, what: string, bytesMax: number): Uint8Array {
  if (typeof v !== 'string' || v.length > Math.ceil(bytesMax / 3) * 4 + 4) throw corrupt(path, `${what} is not base64`)
  const bytes = Buffer.from(v, 'base64')
  if (bytes.toString('base64') !== v) throw corrupt(path, `${what} is not canonical base64`)
  return new Uint8Array(bytes)
}

function count(v: unknown, path: string, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw corrupt(path, `${what} is not a count`)
  return v
}

function recordToJson(r: WitnessRecord): Record<string, unknown> {
  return {
    genesis: b64(r.genesis),
    size: r.size,
    root: b64(r.root),
    note: r.note,
    members: r.members.map((m) => ({ id: m.id, key: b64(m.key), weight: m.weight })),
    membersEpoch: r.membersEpoch,
    updatedMs: r.updatedMs,
  }
}

function recordFromJson(origin: string, v: unknown, path: string): WitnessRecord {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw corrupt(path, `the record of ${origin} is not an object`)
  const o = v as Record<string, unknown>
  const keys = Object.keys(o).sort().join(',')
  if (keys !== 'genesis,members,membersEpoch,note,root,size,updatedMs') throw corrupt(path, `the record of ${origin} has fields ${keys}`)
  const genesis = fromB64(o.genesis, path, `${origin}: genesis`, GENESIS_BYTES_MAX)
  let g
  try {
    g = genesisState(genesis)
  } catch (err) {
    throw corrupt(path, `${origin}: the genesis does not decode (${(err as Error).message})`)
  }
  if (ledgerOrigin(g.meta.name, g.meta.net) !== origin) throw corrupt(path, `${origin}: the genesis is for another log`)
  const root = fromB64(o.root, path, `${origin}: root`, HASH_BYTES)
  if (root.length !== HASH_BYTES) throw corrupt(path, `${origin}: root is not ${HASH_BYTES} bytes`)
  const size = count(o.size, path, `${origin}: size`)
  let note: string | null = null
  if (o.note !== null) {
    if (typeof o.note !== 'string') throw corrupt(path, `${origin}: note is not text`)
    try {
      const cp = parseCheckpoint(parseNote(o.note).text)
      if (cp.origin !== origin || cp.size !== size || !bytesEqual(cp.root, root)) throw new Error('it is not the checkpoint on record')
    } catch (err) {
      throw corrupt(path, `${origin}: the checkpoint note is unreadable (${(err as Error).message})`)
    }
    note = o.note
  } else if (size !== 0) throw corrupt(path, `${origin}: a size without its checkpoint`)
  if (!Array.isArray(o.members) || o.members.length === 0 || o.members.length > VALIDATORS_MAX) throw corrupt(path, `${origin}: members is not a list of members`)
  const members = (o.members as unknown[]).map((m, i): Validator => {
    const x = m as Record<string, unknown>
    if (x === null || typeof x !== 'object' || !isMemberId(x.id) || typeof x.weight !== 'number' || !Number.isSafeInteger(x.weight) || x.weight < 1 || x.weight > WEIGHT_FULL) {
      throw corrupt(path, `${origin}: member ${i} is malformed`)
    }
    const key = fromB64(x.key, path, `${origin}: member ${i} key`, 32)
    if (key.length !== 32) throw corrupt(path, `${origin}: member ${i} key is not 32 bytes`)
    return { id: x.id, key, weight: x.weight }
  })
  return { origin, genesis, size, root, note, members, membersEpoch: count(o.membersEpoch, path, `${origin}: membersEpoch`), updatedMs: count(o.updatedMs, path, `${origin}: updatedMs`) }
}

function writeAllSync(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8')
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export class WitnessStore {
  readonly dir: string
  private readonly lockPath: string
  private records: Map<string, WitnessRecord>
  private released = false

  private constructor(dir: string, records: Map<string, WitnessRecord>) {
    this.dir = dir
    this.lockPath = join(dir, WITNESS_LOCK)
    this.records = records
  }

  /** Opens (creating if needed) the store in `dir` and takes its lock until close(). A lock left
   * by a process that is gone is taken over; one held by a live process is an error. */
  static async open(dir: string): Promise<WitnessStore> {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      if (!statSync(dir).isDirectory()) throw new TrothError('input.invalid', `${dir} is not a directory`)
    } catch (err) {
      if (err instanceof TrothError) throw err
      throw new TrothError('input.invalid', `cannot use ${dir} as a witness store: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
    }
    const lock = join(dir, WITNESS_LOCK)
    for (let attempt = 0; ; attempt++) {
      try {
        const fd = openSync(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
        writeAllSync(fd, `${process.pid}\n`)
        fsyncSync(fd)
        closeSync(fd)
        break
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw new TrothError('input.invalid', `cannot lock the witness store ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
        const pid = Number(readFileSync(lock, 'utf8').trim())
        if (Number.isSafeInteger(pid) && pid > 0 && alive(pid)) throw new TrothError('input.invalid', `the witness store ${dir} is in use by process ${pid} (another troth witness); try again when it is done`)
        rmSync(lock, { force: true }) // left by a process that is gone
      }
    }
    try {
      return new WitnessStore(dir, WitnessStore.load(dir))
    } catch (err) {
      rmSync(lock, { force: true })
      throw err
    }
  }

  private static load(dir: string): Map<string, WitnessRecord> {
    const path = join(dir, WITNESS_FILE)
    let text: string
    try {
      if (statSync(path).size > WITNESS_FILE_BYTES_MAX) throw corrupt(path, `it is larger than ${WITNESS_FILE_BYTES_MAX} bytes`)
      text = readFileSync(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map()
      if (err instanceof TrothError) throw err
      throw new TrothError('input.invalid', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
    }
    let v: unknown
    try {
      v = JSON.parse(text)
    } catch {
      throw corrupt(path, 'it is not JSON')
    }
    const o = v as Record<string, unknown>
    if (o === null || typeof o !== 'object' || o.format !== WITNESS_FORMAT || o.origins === null || typeof o.origins !== 'object' || Array.isArray(o.origins)) {
      throw corrupt(path, `it is not a ${WITNESS_FORMAT} file`)
    }
    const entries = Object.entries(o.origins as Record<string, unknown>)
    if (entries.length > WITNESS_ORIGINS_MAX) throw corrupt(path, `more than ${WITNESS_ORIGINS_MAX} logs`)
    return new Map(entries.map(([origin, r]) => [origin, recordFromJson(origin, r, path)]))
  }

  list(): WitnessRecord[] {
    return [...this.records.values()].sort((a, b) => (a.origin < b.origin ? -1 : 1))
  }

  /** Applies the witness rules and, when the checkpoint is accepted, persists the new record
   * durably before answering (tlog-witness: persist, then respond). */
  async add(input: AddInput, nowMs: number): Promise<WitnessAnswer> {
    assert(!this.released, 'witness store used after close')
    const { answer: a, record } = decideAdd(this.records, input, nowMs)
    if (record !== undefined) {
      const next = new Map(this.records)
      next.set(record.origin, record)
      await this.persist(next)
      this.records = next
    } else if (a.evidence === true) {
      await this.keepEvidence(input.body, nowMs)
    }
    return a
  }

  private async persist(records: Map<string, WitnessRecord>): Promise<void> {
    const origins: Record<string, unknown> = {}
    for (const r of [...records.values()].sort((a, b) => (a.origin < b.origin ? -1 : 1))) origins[r.origin] = recordToJson(r)
    const text = `${JSON.stringify({ format: WITNESS_FORMAT, origins }, null, 1)}\n`
    const path = join(this.dir, WITNESS_FILE)
    const tmp = `${path}.tmp`
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600)
    try {
      writeAllSync(fd, text)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
    await syncDir(this.dir)
  }

  /** Keeps a refused, validly cosigned checkpoint body (evidence of a fork), bounded in number. */
  private async keepEvidence(body: string, nowMs: number): Promise<void> {
    const dir = join(this.dir, 'evidence')
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    if (readdirSync(dir).length >= EVIDENCE_FILES_MAX) return
    const name = `${nowMs}-${toHex(sha256(new TextEncoder().encode(body))).slice(0, 16)}.tlog-witness`
    const fd = openSync(join(dir, name), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600)
    try {
      writeAllSync(fd, body)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    await syncDir(dir)
  }

  close(): void {
    if (this.released) return
    this.released = true
    rmSync(this.lockPath, { force: true })
  }
}
