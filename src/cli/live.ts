// Live commands (DESIGN.md §8): `start` runs the daemon; status, checkpoint and policy vote talk
// to a running daemon through its control API (127.0.0.1, token in DIR/control.json).

import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { request as httpRequest } from 'node:http'
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

async function call(data: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ code: number; text: string }> {
  const info = controlInfo(data)
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return await new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: info.port,
        method,
        path,
        timeout: CONTROL_TIMEOUT_MS,
        headers: { authorization: `Bearer ${info.token}`, ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size > 16 * 1024 * 1024) req.destroy(new Error('response too large'))
          else chunks.push(c)
        })
        res.on('end', () => resolve({ code: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
      },
    )
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', (err) => reject(new TrothError('input.invalid', `cannot reach the node for ${data}: ${err.message} (is it running?)`)))
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}

function json(r: { code: number; text: string }): Record<string, unknown> {
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
