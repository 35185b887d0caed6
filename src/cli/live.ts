// Live commands (DESIGN.md §8): `start` runs the daemon; status, checkpoint and policy vote talk
// to a running daemon through its control API (127.0.0.1, token in DIR/control.json).

import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { unpackSnapshot } from '../obligation/snapshot.ts'
import { TrothError } from '../errors.ts'
import { GENESIS_BYTES_MAX } from '../ledger/limits.ts'
import { PARAMS, isParamName } from '../ledger/policy.ts'
import { CONTROL_FILE, type ControlInfo } from '../node/control.ts'
import { Daemon, DELTA_MS_DEFAULT, IDLE_MS_DEFAULT } from '../node/daemon.ts'
import { readFileCapped, type Io } from './io.ts'
import { unlockKey } from './offline.ts'

function usage(message: string): TrothError {
  return new TrothError('input.invalid', `usage: ${message}`)
}

function parseMs(text: string | undefined, what: string, fallback: number): number {
  if (text === undefined) return fallback
  if (!/^[1-9][0-9]{0,6}$/.test(text)) throw usage(`${what} must be a positive integer of milliseconds`)
  return Number(text)
}

export async function cmdStart(
  io: Io,
  o: { data: string; genesis: string; listen: string[]; bootstrap: string[]; idleMs?: string | undefined; deltaMs?: string | undefined },
): Promise<void> {
  if (o.listen.length === 0) throw usage('at least one --listen multiaddr is required, e.g. /ip4/127.0.0.1/tcp/7700')
  const genesis = readFileCapped(o.genesis, GENESIS_BYTES_MAX, 'genesis')
  const ks = await unlockKey(io, o.data)
  const daemon = await Daemon.start({
    data: o.data,
    seed: ks.seed,
    genesis,
    listen: o.listen,
    bootstrap: o.bootstrap,
    idleMs: parseMs(o.idleMs, '--idle-ms', IDLE_MS_DEFAULT),
    deltaMs: parseMs(o.deltaMs, '--delta-ms', DELTA_MS_DEFAULT),
    log: (line) => io.out(`${line}\n`),
  })
  // Run until told to stop; stop cleanly (the WAL and the store are durable at every step, so
  // a kill -9 is survivable too — this just closes sockets and files tidily).
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop)
      process.off('SIGINT', stop)
      void daemon.stop().finally(resolve)
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  })
}

function controlInfo(data: string): ControlInfo {
  const path = join(data, CONTROL_FILE)
  let st
  try {
    st = statSync(path)
  } catch {
    throw new TrothError('input.not-found', `no running node for ${data} (no ${CONTROL_FILE}); start one with troth start --data ${data} ...`)
  }
  if ((st.mode & 0o077) !== 0) throw new TrothError('input.invalid', `${path} is readable by others; chmod 600 it`)
  if (st.size > 4096) throw new TrothError('input.invalid', `${path} is too large`)
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as ControlInfo
    if (!Number.isInteger(v.port) || typeof v.token !== 'string') throw new Error('fields')
    return v
  } catch {
    throw new TrothError('input.invalid', `${path} is damaged`)
  }
}

export const CONTROL_TIMEOUT_MS = 10_000

/** Open a request to the node's control API; resolves with the response, unread. */
function openControl(data: string, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = CONTROL_TIMEOUT_MS): Promise<IncomingMessage> {
  const info = controlInfo(data)
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: info.port,
        method,
        path,
        timeout: timeoutMs,
        headers: { authorization: `Bearer ${info.token}`, ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
      },
      resolve,
    )
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', (err) => reject(new TrothError('input.invalid', `cannot reach the node for ${data}: ${err.message} (is it running?)`)))
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}

export const CONTROL_RESPONSE_BYTES_MAX = 16 * 1024 * 1024

/** A whole (JSON) answer of the node, at most CONTROL_RESPONSE_BYTES_MAX. */
async function readAnswer(res: IncomingMessage): Promise<{ code: number; text: string }> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of res) {
    size += (c as Buffer).length
    if (size > CONTROL_RESPONSE_BYTES_MAX) {
      res.destroy()
      throw new TrothError('input.too-large', `the node's answer is over ${CONTROL_RESPONSE_BYTES_MAX} bytes`)
    }
    chunks.push(c as Buffer)
  }
  return { code: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }
}

export async function call(data: string, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = CONTROL_TIMEOUT_MS): Promise<{ code: number; text: string }> {
  return readAnswer(await openControl(data, method, path, body, timeoutMs))
}

export function json(r: { code: number; text: string }): Record<string, unknown> {
  let v: Record<string, unknown>
  try {
    v = JSON.parse(r.text) as Record<string, unknown>
  } catch {
    throw new TrothError('input.invalid', `the node answered ${r.code} with something that is not JSON`)
  }
  if (r.code !== 200) throw new TrothError('input.invalid', `the node refused: ${String(v.error ?? r.code)}`)
  return v
}

export async function cmdStatus(io: Io, o: { data: string; json: boolean }): Promise<void> {
  const s = json(await call(o.data, 'GET', '/status'))
  if (o.json) return io.out(`${JSON.stringify(s, null, 2)}\n`)
  const f = s.finality as { count: number; p50Ms: number | null; p99Ms: number | null }
  const members = s.members as Array<{ id: string; name: string; status: string; weight: number }>
  io.out(
    [
      `node      ${String(s.id)}`,
      `network   ${String(s.network)} (${String(s.net).slice(0, 16)}…)`,
      `epoch     ${String(s.epoch)}   view ${String(s.view)}`,
      `finalized height ${String(s.height)}`,
      `log       size ${String(s.logSize)}  root ${String(s.logRoot)}`,
      `peers     ${(s.peers as string[]).length}`,
      `members   ${members.filter((m) => m.status === 'active').length} active of ${members.length}`,
      ...members.map((m) => `  ${m.id} ${m.status.padEnd(6)} weight ${m.weight / 1000}  ${m.name}`),
      `mempool   ${String(s.mempool)}`,
      `finality  ${f.count} own entries${f.p50Ms === null ? '' : `, p50 ${f.p50Ms} ms, p99 ${String(f.p99Ms)} ms`}`,
    ].join('\n') + '\n',
  )
}

export async function cmdCheckpoint(io: Io, o: { data: string; json: boolean }): Promise<void> {
  const r = await call(o.data, 'GET', '/checkpoint')
  const v = json(r)
  if (o.json) return io.out(`${JSON.stringify(v, null, 2)}\n`)
  io.out(String(v.note))
}

export async function cmdPolicyVote(io: Io, o: { data: string; param: string; value: string; json: boolean }): Promise<void> {
  if (!isParamName(o.param)) throw usage(`unknown policy parameter "${o.param}" (known: ${Object.keys(PARAMS).join(', ')})`)
  let value: number | null
  if (o.value === 'none') value = null
  else if (/^(0|[1-9][0-9]{0,15})$/.test(o.value)) value = Number(o.value)
  else throw usage(`VALUE must be a non-negative integer, or "none" to withdraw your vote`)
  const v = json(await call(o.data, 'POST', '/policy-vote', { param: o.param, value }))
  if (o.json) return io.out(`${JSON.stringify(v)}\n`)
  io.out(`vote ${o.param} = ${value === null ? 'none' : value} submitted; it counts from the next epoch once final\n`)
}

/** Sealing reads and hashes the whole input first: allow an hour before giving up. */
export const SEAL_TIMEOUT_MS = 60 * 60 * 1000
export const SEAL_WAIT_MS_DEFAULT = 60_000

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function cmdSeal(io: Io, o: { data: string; path: string; wait: boolean; json: boolean }): Promise<void> {
  const path = resolve(o.path)
  const r = json(await call(o.data, 'POST', '/seal', { path }, SEAL_TIMEOUT_MS))
  let final = r.status === 'snapshot-exists'
  // Wait until the seal entry is final (it is in the ledger's snapshots), unless told not to.
  for (const until = Date.now() + SEAL_WAIT_MS_DEFAULT; o.wait && !final && Date.now() < until; ) {
    await sleep(200)
    const list = json(await call(o.data, 'GET', '/snapshots')).snapshots as Array<{ root: string }>
    final = list.some((x) => x.root === r.root)
  }
  if (o.wait && !final) throw new TrothError('net.timeout', `seal ${String(r.root)} submitted but not final after ${SEAL_WAIT_MS_DEFAULT / 1000} s; see troth snapshots`)
  if (o.json) return io.out(`${JSON.stringify({ ...r, final })}\n`)
  io.out(`${String(r.root)}\n`)
  io.err(`sealed ${String(r.name)}: ${String(r.size)} bytes in ${String(r.chunks)} chunks${final ? '' : ' (submitted; not final yet)'}\n`)
}

export async function cmdFetch(io: Io, o: { data: string; root: string; out: string }): Promise<void> {
  if (!/^[0-9a-f]{64}$/.test(o.root)) throw usage('ROOT must be 64 lowercase hex characters (see troth snapshots)')
  const out = resolve(o.out)
  if (existsSync(out)) throw new TrothError('input.invalid', `${out} exists; fetch writes a new file or directory`)
  const res = await openControl(o.data, 'GET', `/fetch?root=${o.root}`)
  if (res.statusCode !== 200) json(await readAnswer(res))
  const size = Number(res.headers['content-length'])
  const name = decodeURIComponent(String(res.headers['x-troth-name'] ?? ''))
  if (!Number.isSafeInteger(size) || size <= 0) throw new TrothError('net.protocol', 'the node sent no content length')
  // The node checked every chunk against the sealed root; unpacking checks the length and, for a
  // directory, every path and size in the manifest.
  await unpackSnapshot(name.endsWith('/'), res as AsyncIterable<Uint8Array>, out, size)
  io.err(`fetched ${name} (${size} bytes) into ${out}\n`)
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n'
}

export async function cmdSnapshots(io: Io, o: { data: string; json: boolean }): Promise<void> {
  const v = json(await call(o.data, 'GET', '/snapshots'))
  if (o.json) return io.out(`${JSON.stringify(v, null, 2)}\n`)
  const list = v.snapshots as Array<{ root: string; name: string; size: number; chunks: number; replicas: Array<{ id: string }>; holding: string }>
  if (list.length === 0) return io.out('no snapshots sealed yet\n')
  io.out(table([['ROOT', 'NAME', 'BYTES', 'CHUNKS', 'HERE', 'REPLICAS'], ...list.map((s) => [s.root, s.name, String(s.size), String(s.chunks), s.holding, s.replicas.map((r) => r.id).join(',')])]))
}

export async function cmdDuties(io: Io, o: { data: string; json: boolean }): Promise<void> {
  const v = json(await call(o.data, 'GET', '/duties'))
  if (o.json) return io.out(`${JSON.stringify(v, null, 2)}\n`)
  const audits = v.audits as Array<{ root: string; replica: string; chunks: number[]; state: string }>
  const replicas = v.replicas as Array<{ root: string; name: string; since: number }>
  io.out(`epoch ${String(v.epoch)}: ${audits.length} audits to do, ${replicas.length} snapshots to hold\n`)
  if (audits.length > 0) io.out(table([['AUDIT ROOT', 'REPLICA', 'CHUNKS', 'STATE'], ...audits.map((a) => [a.root.slice(0, 16), a.replica, a.chunks.join(','), a.state])]))
  if (replicas.length > 0) io.out(table([['HOLD ROOT', 'NAME', 'SINCE EPOCH'], ...replicas.map((r) => [r.root.slice(0, 16), r.name, String(r.since)])]))
}

export async function cmdMembers(io: Io, o: { data: string; json: boolean }): Promise<void> {
  const v = json(await call(o.data, 'GET', '/members'))
  if (o.json) return io.out(`${JSON.stringify(v, null, 2)}\n`)
  const list = v.members as Array<{ id: string; name: string; status: string; weight: number; standing: number; strikes: number; dutiesDone: number; dutiesMissed: number; exileReason: string }>
  io.out(table([['MEMBER', 'NAME', 'STATUS', 'WEIGHT', 'STANDING', 'STRIKES', 'DONE', 'MISSED', 'WHY'], ...list.map((m) => [m.id, m.name, m.status, String(m.weight / 1000), `${m.standing / 10}%`, String(m.strikes), String(m.dutiesDone), String(m.dutiesMissed), m.exileReason])]))
}
