// The local control API (DESIGN.md §8): HTTP on 127.0.0.1 only, every request authenticated by
// a bearer token that only the data dir's owner can read (DIR/control.json, mode 0600). The CLI's
// live commands (status, governance, seal, fetch...) go through it; /metrics is Prometheus text.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { rmSync, writeFileSync, renameSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { TrothError } from '../errors.ts'
import { formatMemberId } from '../identity/member-id.ts'
import { CompactRange } from '../ledger/merkle.ts'
import { fromHex, sha256, toHex } from '../ledger/hash.ts'
import type { Body } from '../ledger/entry.ts'
import { governanceOf, parseSubmission, policyOf } from './governance.ts'
import { proveConsistency, proveEntry } from '../audit/index.ts'
import type { Daemon } from './daemon.ts'

export const CONTROL_FILE = 'control.json'
export const CONTROL_BODY_BYTES_MAX = 64 * 1024

export interface ControlInfo {
  readonly port: number
  readonly token: string
  readonly pid: number
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number
}

export function statusOf(d: Daemon): Record<string, unknown> {
  const s = d.store.state
  const engine = d.replica.currentEngine
  const finality = [...d.replica.finality].sort((a, b) => a - b)
  return {
    id: d.id,
    key: d.keyId,
    network: s.meta.name,
    net: toHex(s.meta.net),
    epoch: s.epoch.number,
    view: engine?.currentView ?? 0,
    height: s.meta.height,
    logSize: s.meta.logSize,
    logRoot: toHex(CompactRange.from(s.meta.logSize, s.meta.logFrontier).root()),
    // Set when the node started from a sealed checkpoint: it holds no history below this.
    base: d.store.base === null ? null : { epoch: d.store.base.epoch, height: d.store.base.height, logSize: d.store.base.logSize },
    validators: s.epoch.validators.length,
    totalWeight: s.epoch.totalWeight,
    peers: d.host.peers().sort(),
    // Validators with no connection and not seen lately: down, or cut off from this node.
    outOfReach: d.outOfReach(),
    members: [...s.members.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([id, m]) => ({ id, name: m.name, status: m.status, weight: m.weight, seq: m.seq })),
    mempool: d.replica.mempoolSize,
    finality: { count: finality.length, p50Ms: percentile(finality, 0.5), p99Ms: percentile(finality, 0.99) },
    uptimeMs: Date.now() - d.startedAt,
    consensus: d.replica.debug(),
    recent: d.replica.recent.slice(-64),
  }
}

export async function snapshotsOf(d: Daemon): Promise<Record<string, unknown>> {
  const s = d.store.state
  const out = []
  for (const [root, snap] of [...s.snapshots].sort((a, b) => (a[1].sealedHeight - b[1].sealedHeight) || (a[0] < b[0] ? -1 : 1))) {
    const local = await d.chunks.info(root)
    const holding = local === null ? 'none' : local.complete ? 'complete' : `partial ${local.chunks - (await d.chunks.missing(root)).length}/${local.chunks}`
    out.push({ root, name: snap.name, size: snap.size, chunks: snap.chunks, submitter: snap.submitter, sealedEpoch: snap.sealedEpoch, replicas: snap.replicas, holding })
  }
  return { id: d.id, epoch: s.epoch.number, snapshots: out }
}

function membersOf(d: Daemon): Record<string, unknown> {
  const s = d.store.state
  const members = [...s.members].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([id, m]) => ({
    id,
    name: m.name,
    key: formatMemberId(m.key),
    pendingKey: m.pendingKey === null ? null : formatMemberId(m.pendingKey),
    status: m.status,
    weight: m.weight,
    joinedEpoch: m.joinedEpoch,
    sponsors: m.sponsors,
    standing: m.standing.score,
    strikes: m.standing.strikes,
    dutiesDone: m.standing.dutiesDone,
    dutiesMissed: m.standing.dutiesMissed,
    history: m.standing.history,
    exileReason: m.exileReason,
  }))
  return { epoch: s.epoch.number, members }
}

export class ControlServer {
  private readonly server: Server
  private readonly path: string

  private constructor(server: Server, path: string) {
    this.server = server
    this.path = path
  }

  static async start(data: string, d: Daemon): Promise<ControlServer> {
    const token = randomBytes(24).toString('base64url')
    const expected = Buffer.from(`Bearer ${token}`)
    const server = createServer((req, res) => {
      void handle(d, req, res, expected).catch((err: unknown) => reply(res, 500, { error: (err as Error).message }))
    })
    server.requestTimeout = 10_000
    server.headersTimeout = 5_000
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    const port = (server.address() as { port: number }).port
    const path = join(data, CONTROL_FILE)
    // Write then rename, so a reader never sees half a file; 0600 so only the owner has the token.
    const tmp = `${path}.tmp`
    writeFileSync(tmp, JSON.stringify({ port, token, pid: process.pid } satisfies ControlInfo), { mode: 0o600 })
    renameSync(tmp, path)
    return new ControlServer(server, path)
  }

  async stop(): Promise<void> {
    rmSync(this.path, { force: true })
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

/** Answers with what a prover built, or with the reason it could not: 404 when the ledger does not
 * have it (yet), 400 for a request it cannot answer, 500 for anything else. */
async function replyProven(res: ServerResponse, build: () => Promise<object>): Promise<void> {
  try {
    return reply(res, 200, await build())
  } catch (err) {
    if (!(err instanceof TrothError)) throw err
    return reply(res, err.code === 'input.not-found' ? 404 : err.code === 'input.invalid' ? 400 : 500, { error: err.message })
  }
}

function reply(res: ServerResponse, code: number, body: unknown, type = 'application/json'): void {
  const text = type === 'application/json' ? `${JSON.stringify(body)}\n` : String(body)
  res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** The request's JSON object; throws (a 400 for the caller) on anything else, `null` included. */
async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0
  const chunks: Buffer[] = []
  for await (const c of req) {
    size += (c as Buffer).length
    if (size > CONTROL_BODY_BYTES_MAX) throw new Error(`request body over ${CONTROL_BODY_BYTES_MAX} bytes`)
    chunks.push(c as Buffer)
  }
  const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('the request body must be a JSON object')
  return value as Record<string, unknown>
}

async function handle(d: Daemon, req: IncomingMessage, res: ServerResponse, expected: Buffer): Promise<void> {
  const auth = Buffer.from(req.headers.authorization ?? '')
  if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) return reply(res, 401, { error: 'missing or wrong token (see DIR/control.json)' })
  let url: URL
  try {
    url = new URL(req.url ?? '/', 'http://127.0.0.1')
  } catch {
    // A request target such as "//" is no URL relative to us (the WHATWG parser reads a host).
    return reply(res, 400, { error: `malformed request target ${JSON.stringify((req.url ?? '').slice(0, 80))}` })
  }
  if (req.method === 'GET' && url.pathname === '/status') return reply(res, 200, statusOf(d))
  if (req.method === 'GET' && url.pathname === '/checkpoint') {
    const latest = await d.store.latestCheckpoint()
    if (latest === undefined) return reply(res, 404, { error: 'no sealed checkpoint yet (the first epoch has not ended)' })
    return reply(res, 200, { epoch: latest[0], note: latest[1] })
  }
  if (req.method === 'POST' && url.pathname === '/submit') {
    let body: Body
    try {
      body = parseSubmission(await readBody(req))
    } catch (err) {
      return reply(res, 400, { error: (err as Error).message })
    }
    if (d.store.state.members.get(d.id) === undefined) return reply(res, 409, { error: 'refused (not-a-member): this node\'s key is not a member of the cooperative', status: 'not-a-member', detail: '' })
    const r = await d.replica.submitOwn(body)
    const entry = toHex(sha256(r.wire))
    if (r.status !== 'ok') return reply(res, 409, { error: `refused (${r.status})${r.detail === '' ? '' : `: ${r.detail}`}`, status: r.status, detail: r.detail, entry })
    return reply(res, 200, { status: 'submitted', entry })
  }
  if (req.method === 'GET' && url.pathname === '/entry') {
    const hash = url.searchParams.get('hash') ?? ''
    if (!/^[0-9a-f]{64}$/.test(hash)) return reply(res, 400, { error: 'hash must be 64 lowercase hex characters' })
    const o = d.replica.outcome(hash)
    if (o === undefined) return reply(res, 404, { error: `no own entry ${hash} submitted since the node started` })
    return reply(res, 200, o)
  }
  // Test-only (docs/operations.md#test-switches): pull the cable for a while. Only a node started
  // with TROTH_TEST_FAULTS=1 in its own environment has this endpoint; no peer can reach it.
  if (req.method === 'POST' && url.pathname === '/test/isolate' && process.env.TROTH_TEST_FAULTS === '1') {
    const ms = Number(url.searchParams.get('ms'))
    if (!Number.isInteger(ms) || ms < 1 || ms > 600_000) return reply(res, 400, { error: 'ms must be an integer in [1, 600000]' })
    await d.host.isolate(ms)
    return reply(res, 200, { isolatedMs: ms })
  }
  if (req.method === 'GET' && url.pathname === '/governance') return reply(res, 200, governanceOf(d.store.state))
  if (req.method === 'GET' && url.pathname === '/policy') return reply(res, 200, policyOf(d.store.state, d.id))
  if (req.method === 'POST' && url.pathname === '/seal') {
    let body: { path?: unknown }
    try {
      body = await readBody(req)
    } catch (err) {
      return reply(res, 400, { error: (err as Error).message })
    }
    if (typeof body.path !== 'string' || !isAbsolute(body.path) || body.path.length > 4096) return reply(res, 400, { error: 'path must be an absolute path' })
    try {
      const r = await d.seal(body.path)
      if (r.status !== 'ok' && r.status !== 'snapshot-exists') return reply(res, 409, { error: `seal entry refused: ${r.status}`, ...r })
      return reply(res, 200, r)
    } catch (err) {
      return reply(res, err instanceof TrothError ? 400 : 500, { error: (err as Error).message })
    }
  }
  if (req.method === 'GET' && url.pathname === '/prove') {
    // An audit proof (docs/audit.md) of a sealed snapshot (?root=HEX) or of any entry (?entry=N).
    const root = url.searchParams.get('root')
    const entry = url.searchParams.get('entry')
    if ((root === null) === (entry === null)) return reply(res, 400, { error: 'give exactly one of root=HEX or entry=N' })
    if (root !== null && !/^[0-9a-f]{64}$/.test(root)) return reply(res, 400, { error: 'root must be 64 lowercase hex characters' })
    if (entry !== null && !/^(0|[1-9][0-9]{0,15})$/.test(entry)) return reply(res, 400, { error: 'entry must be a log index (a non-negative integer)' })
    return replyProven(res, () => proveEntry(d.store, root !== null ? { root: fromHex(root) } : { index: Number(entry) }))
  }
  if (req.method === 'GET' && url.pathname === '/prove-consistency') {
    const old = url.searchParams.get('old') ?? ''
    if (!/^(0|[1-9][0-9]{0,15})$/.test(old)) return reply(res, 400, { error: 'old must be a tree size (a non-negative integer)' })
    return replyProven(res, () => proveConsistency(d.store, Number(old)))
  }
  if (req.method === 'GET' && url.pathname === '/snapshots') return reply(res, 200, await snapshotsOf(d))
  if (req.method === 'GET' && url.pathname === '/duties') {
    if (d.obligations === null) return reply(res, 503, { error: 'duties are not running' })
    return reply(res, 200, { id: d.id, ...d.obligations.dutiesNow() })
  }
  if (req.method === 'GET' && url.pathname === '/members') return reply(res, 200, membersOf(d))
  if (req.method === 'GET' && url.pathname === '/fetch') {
    const root = url.searchParams.get('root') ?? ''
    if (!/^[0-9a-f]{64}$/.test(root)) return reply(res, 400, { error: 'root must be 64 lowercase hex characters' })
    const s = d.store.state.snapshots.get(root)
    if (s === undefined) return reply(res, 404, { error: `no sealed snapshot ${root} in the ledger` })
    if (d.obligations === null) return reply(res, 503, { error: 'duties are not running' })
    const chunks = d.obligations.stream(root)
    // The first chunk decides the status code; a failure later cuts the body short, which the
    // client detects by its length.
    let first
    try {
      first = await chunks.next()
    } catch (err) {
      return reply(res, 502, { error: (err as Error).message })
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': s.size, 'x-troth-name': encodeURIComponent(s.name) })
    try {
      if (first.done !== true) res.write(first.value)
      for await (const c of chunks) {
        if (!res.write(c)) await new Promise((r) => res.once('drain', r))
      }
      res.end()
    } catch {
      res.destroy()
    }
    return
  }
  if (req.method === 'GET' && url.pathname === '/finality') {
    // Submit-to-final latencies of this node's own entries (ms), for benchmarks; newest last.
    return reply(res, 200, { latenciesMs: d.replica.finality.slice(-10_000) })
  }
  if (req.method === 'GET' && url.pathname === '/metrics') {
    if (d.metrics === null) return reply(res, 503, { error: 'metrics are not running' })
    const m = await d.metrics.render()
    return reply(res, 200, m.text, m.type)
  }
  return reply(res, 404, { error: `no such endpoint ${req.method ?? ''} ${url.pathname}` })
}
