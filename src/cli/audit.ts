// Auditor commands (DESIGN.md §3.2, docs/audit.md). prove and prove-consistency ask a running
// node for a proof and write it to a file; verify, verify-consistency and witness work offline,
// from files alone, and end in a verdict: exit 0 when valid (accepted), 3 when not (NotValid).

import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { TrothError } from '../errors.ts'
import { AUDIT_PROOF_BYTES_MAX, WitnessStore, verifyAuditProof, verifyConsistencyFiles, type AuditVerdict, type ConsistencyVerdict, type SnapshotFacts, type WitnessAnswer } from '../audit/index.ts'
import { readSnapshot } from '../obligation/index.ts'
import { genesisState } from '../ledger/genesis.ts'
import { GENESIS_BYTES_MAX } from '../ledger/limits.ts'
import { NOTE_BYTES_MAX } from '../ledger/tlog.ts'
import { NotValid, readFileCapped, writeNewFile, type Io } from './io.ts'
import { call, json } from './live.ts'

function usage(message: string): TrothError {
  return new TrothError('input.invalid', `usage: ${message}`)
}

const DECIMAL = /^(0|[1-9][0-9]{0,15})$/
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** A text file an auditor was given; bytes that are not UTF-8 come back as null (a verdict, not an error). */
function readText(path: string, bytesMax: number, what: string): string | null {
  const bytes = readFileCapped(path, bytesMax, what)
  try {
    return strictUtf8.decode(bytes)
  } catch {
    return null
  }
}

/** The genesis: the auditor's trust anchor. A file that is not one is an operating error (exit 1). */
function readGenesis(path: string): Uint8Array {
  const bytes = readFileCapped(path, GENESIS_BYTES_MAX, 'genesis')
  try {
    genesisState(bytes)
  } catch (err) {
    if (err instanceof TrothError) throw new TrothError('genesis.invalid', `genesis ${path} is not a troth genesis: ${err.message}`)
    throw err
  }
  return bytes
}

// ---------------------------------------------------------------------------------------------
// prove, prove-consistency (live)

export async function cmdProve(io: Io, o: { data: string; root?: string | undefined; entry?: string | undefined; out: string; json: boolean }): Promise<void> {
  if ((o.root === undefined) === (o.entry === undefined)) throw usage('give a snapshot ROOT or --entry INDEX, not both and not neither')
  if (o.root !== undefined && !/^[0-9a-f]{64}$/.test(o.root)) throw usage('ROOT must be 64 lowercase hex characters (see troth snapshots)')
  if (o.entry !== undefined && !DECIMAL.test(o.entry)) throw usage('--entry must be a log index, a non-negative integer')
  const query = o.root !== undefined ? `root=${o.root}` : `entry=${o.entry as string}`
  const r = json(await call(o.data, 'GET', `/prove?${query}`))
  writeNewFile(o.out, String(r.text))
  const out = { out: resolve(o.out), index: r.index, epoch: r.epoch, size: r.size, steps: r.steps }
  if (o.json) return io.out(`${JSON.stringify(out, null, 2)}\n`)
  io.out(`wrote ${out.out}: entry ${String(r.index)} in the sealed checkpoint of epoch ${String(r.epoch)} (log size ${String(r.size)}), with a member chain of ${String(r.steps)} sealed checkpoint${r.steps === 1 ? '' : 's'} from genesis\n`)
}

export async function cmdProveConsistency(io: Io, o: { data: string; old: string; out: string; json: boolean }): Promise<void> {
  if (!DECIMAL.test(o.old)) throw usage('OLD_SIZE must be a tree size, a non-negative integer')
  const r = json(await call(o.data, 'GET', `/prove-consistency?old=${o.old}`))
  writeNewFile(o.out, String(r.text))
  const out = { out: resolve(o.out), oldSize: r.oldSize, size: r.size, epoch: r.epoch }
  if (o.json) return io.out(`${JSON.stringify(out, null, 2)}\n`)
  io.out(`wrote ${out.out}: the log from size ${String(r.oldSize)} to the sealed checkpoint of epoch ${String(r.epoch)} (size ${String(r.size)})\n`)
}

// ---------------------------------------------------------------------------------------------
// verify

const w = (milli: number): string => String(milli / 1000)

function renderAudit(v: AuditVerdict): string {
  const lines = [`${v.valid ? 'VALID' : `NOT VALID (${v.status})`}: ${v.reason}`]
  const row = (k: string, text: string): number => lines.push(`  ${k.padEnd(11)} ${text}`)
  if (v.network !== undefined) row('network', `${v.network} (${String(v.origin)})`)
  const e = v.entry
  if (e?.snapshot !== undefined) row('snapshot', `${e.snapshot.name}  root ${e.snapshot.root}  ${e.snapshot.size} bytes in ${e.snapshot.chunks} chunk${e.snapshot.chunks === 1 ? '' : 's'}`)
  if (e !== undefined) {
    const by = e.author !== undefined ? ` by ${e.author}, seq ${String(e.seq)}, stamped ${new Date(e.time ?? 0).toISOString()}, signature ${String(e.signature)}` : e.epoch !== undefined ? ` of epoch ${e.epoch}` : ''
    row('entry', `${e.index}: ${e.kind}${by}`)
  }
  const c = v.checkpoint
  if (c !== undefined) {
    row('checkpoint', `epoch ${c.epoch}, log size ${c.size}, root ${c.root}`)
    row('cosigned', `by ${c.cosigners.length} of the epoch's ${c.members} members, weight ${w(c.weight)} of ${w(c.totalWeight)} (more than 2/3 needed)`)
  }
  if (v.chain !== undefined) {
    const changes = v.chain.filter((s) => s.changed).map((s) => s.epoch)
    row('members', `followed from genesis through ${v.chain.length} sealed checkpoint${v.chain.length === 1 ? '' : 's'}${changes.length > 0 ? `; the member set changed at the close of epoch${changes.length === 1 ? '' : 's'} ${changes.join(', ')}` : ''}`)
  }
  if (v.data !== undefined) row('data', `root ${v.data.root}  ${v.data.size} bytes in ${v.data.chunks} chunk${v.data.chunks === 1 ? '' : 's'}: ${v.data.matches ? 'matches' : 'DOES NOT MATCH'}`)
  return `${lines.join('\n')}\n`
}

export async function cmdVerify(io: Io, o: { proof: string; genesis: string; path?: string | undefined; json: boolean }): Promise<void> {
  const genesis = readGenesis(o.genesis)
  const text = readText(o.proof, AUDIT_PROOF_BYTES_MAX, 'proof')
  let data: SnapshotFacts | undefined
  if (o.path !== undefined) {
    const s = await readSnapshot(o.path)
    data = { root: s.root, size: s.size, chunks: s.chunks, name: s.name }
  }
  const verdict: AuditVerdict = text === null ? { valid: false, status: 'malformed', reason: `${o.proof} is not UTF-8 text, so not a tlog-proof` } : verifyAuditProof(text, genesis, data).verdict
  io.out(o.json ? `${JSON.stringify(verdict, null, 2)}\n` : renderAudit(verdict))
  if (!verdict.valid) throw new NotValid()
}

// ---------------------------------------------------------------------------------------------
// verify-consistency

export async function cmdVerifyConsistency(io: Io, o: { old: string; new: string; proof: string; genesis?: string | undefined; json: boolean }): Promise<void> {
  const genesis = o.genesis === undefined ? undefined : readGenesis(o.genesis)
  const files = [o.old, o.new, o.proof].map((f, i) => readText(f, NOTE_BYTES_MAX, ['OLD_CHECKPOINT', 'NEW_CHECKPOINT', 'PROOF'][i] as string))
  const bad = files.findIndex((t) => t === null)
  const verdict: ConsistencyVerdict =
    bad >= 0 ? { valid: false, status: 'malformed', reason: `${[o.old, o.new, o.proof][bad] as string} is not UTF-8 text` } : verifyConsistencyFiles(files[0] as string, files[1] as string, files[2] as string, genesis)
  if (o.json) io.out(`${JSON.stringify(verdict, null, 2)}\n`)
  else {
    const lines = [`${verdict.valid ? 'CONSISTENT' : `NOT CONSISTENT (${verdict.status})`}: ${verdict.reason}`]
    if (verdict.origin !== undefined) lines.push(`  log         ${verdict.origin}`)
    for (const [k, c] of [['old', verdict.old], ['new', verdict.new]] as const) {
      if (c !== undefined) lines.push(`  ${k.padEnd(11)} size ${c.size}, root ${c.root}, ${c.cosigners.length} valid cosignatures (membership not checked: see troth verify)`)
    }
    io.out(`${lines.join('\n')}\n`)
  }
  if (!verdict.valid) throw new NotValid()
}

// ---------------------------------------------------------------------------------------------
// witness

export async function cmdWitnessAdd(io: Io, o: { file: string; store: string; genesis?: string | undefined; members?: string | undefined; json: boolean }): Promise<void> {
  const genesis = o.genesis === undefined ? undefined : readGenesis(o.genesis)
  const body = readText(o.file, NOTE_BYTES_MAX, 'checkpoint body')
  const members = o.members === undefined ? undefined : readText(o.members, AUDIT_PROOF_BYTES_MAX, 'member proof')
  let a: WitnessAnswer
  if (body === null || members === null) {
    a = { status: 'malformed', http: 400, reason: `${body === null ? o.file : String(o.members)} is not UTF-8 text` }
  } else {
    const store = await WitnessStore.open(o.store)
    try {
      a = await store.add({ body, ...(genesis !== undefined ? { genesis } : {}), ...(members !== undefined ? { members } : {}) }, Date.now())
    } finally {
      store.close()
    }
  }
  if (o.json) io.out(`${JSON.stringify(a, null, 2)}\n`)
  else io.out(`${a.status === 'ok' ? 'ACCEPTED' : `REFUSED (${a.status}, HTTP ${a.http} in tlog-witness)`}: ${a.reason}\n`)
  if (a.status !== 'ok') throw new NotValid()
}

export async function cmdWitnessShow(io: Io, o: { store: string; json: boolean }): Promise<void> {
  if (!existsSync(o.store)) throw new TrothError('input.not-found', `no witness store at ${o.store} (troth witness add creates one)`)
  const store = await WitnessStore.open(o.store)
  let list
  try {
    list = store.list()
  } finally {
    store.close()
  }
  const rows = list.map((r) => ({ origin: r.origin, size: r.size, root: Buffer.from(r.root).toString('hex'), members: r.members.length, membersEpoch: r.membersEpoch, updated: r.updatedMs === 0 ? null : new Date(r.updatedMs).toISOString(), checkpoint: r.note }))
  if (o.json) return io.out(`${JSON.stringify({ logs: rows }, null, 2)}\n`)
  if (rows.length === 0) return io.out('this witness keeps no log yet\n')
  io.out(rows.map((r) => `${r.origin}\n  size ${r.size}  root ${r.root}\n  ${r.members} members known from epoch ${r.membersEpoch}; last accepted ${r.updated ?? 'never'}\n`).join(''))
}
