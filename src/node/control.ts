// The local control API (DESIGN.md §8): HTTP on 127.0.0.1 only, every request authenticated by
// a bearer token that only the data dir's owner can read (DIR/control.json, mode 0600). The CLI's
// live commands (status, checkpoint, policy vote) go through it; /metrics is Prometheus text.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { rmSync, writeFileSync, renameSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { TrothError } from '../errors.ts'
import { CompactRange } from '../ledger/merkle.ts'
import { toHex } from '../ledger/hash.ts'
import { PARAMS, isParamName, inRange } from '../ledger/policy.ts'
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
    network: s.meta.name,
    net: toHex(s.meta.net),
    epoch: s.epoch.number,
    view: engine?.currentView ?? 0,
    height: s.meta.height,
    logSize: s.meta.logSize,
    logRoot: toHex(CompactRange.from(s.meta.logSize, s.meta.logFrontier).root()),
    validators: s.epoch.validators.length,
    totalWeight: s.epoch.totalWeight,
    peers: d.host.peers().sort(),
    members: [...s.members.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([id, m]) => ({ id, name: m.name, status: m.status, weight: m.weight, seq: m.seq })),
    mempool: d.replica.mempoolSize,
    finality: { count: finality.length, p50Ms: percentile(finality, 0.5), p99Ms: percentile(finality, 0.99) },
    uptimeMs: Date.now() - d.startedAt,
    consensus: d.replica.debug(),
    recent: d.replica.recent.slice(-64),
  }
}

async function snapshotsOf(d: Daemon): Promise<Record<string, unknown>> {
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
  if (req.method === 'POST' && url.pathname === '/policy-vote') {
    let body: { param?: unknown; value?: unknown }
    try {
      body = await readBody(req)
    } catch (err) {
      return reply(res, 400, { error: (err as Error).message })
    }
    const param = body.param
    const value = body.value
    if (typeof param !== 'string' || !isParamName(param)) return reply(res, 400, { error: `unknown policy parameter ${JSON.stringify(param)}` })
    if (value !== null && (typeof value !== 'number' || !inRange(param, value))) {
      return reply(res, 400, { error: `${param} must be an integer in [${PARAMS[param].min}, ${PARAMS[param].max}] (or null to withdraw)` })
    }
    const r = await d.replica.submitOwn({ kind: 'policy.vote', param, value: value as number | null })
    if (r.status !== 'ok') return reply(res, 409, { error: `entry refused: ${r.status}` })
    return reply(res, 200, { status: 'submitted', entry: toHex(r.wire).slice(0, 16) })
  }
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
    const s = statusOf(d)
    const f = s.finality as { count: number; p50Ms: number | null; p99Ms: number | null }
    const lines = [
      '# TYPE troth_height gauge', `troth_height ${String(s.height)}`,
      '# TYPE troth_epoch gauge', `troth_epoch ${String(s.epoch)}`,
      '# TYPE troth_view gauge', `troth_view ${String(s.view)}`,
      '# TYPE troth_log_size gauge', `troth_log_size ${String(s.logSize)}`,
      '# TYPE troth_peers gauge', `troth_peers ${(s.peers as string[]).length}`,
      '# TYPE troth_mempool_entries gauge', `troth_mempool_entries ${String(s.mempool)}`,
      '# TYPE troth_finalized_own_entries_total counter', `troth_finalized_own_entries_total ${f.count}`,
    ]
    if (f.p50Ms !== null) lines.push('# TYPE troth_finality_ms summary', `troth_finality_ms{quantile="0.5"} ${f.p50Ms}`, `troth_finality_ms{quantile="0.99"} ${String(f.p99Ms)}`)
    return reply(res, 200, `${lines.join('\n')}\n`, 'text/plain; version=0.0.4')
  }
  return reply(res, 404, { error: `no such endpoint ${req.method ?? ''} ${url.pathname}` })
}
