// Live commands (DESIGN.md §8): `start` runs the daemon; status, checkpoint and policy vote talk
// to a running daemon through its control API (127.0.0.1, token in DIR/control.json).

import { existsSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { unpackSnapshot } from '../obligation/snapshot.ts'
import { TrothError } from '../errors.ts'
import { GENESIS_BYTES_MAX } from '../ledger/limits.ts'
import { PARAMS, inRange, isParamName } from '../ledger/policy.ts'
import { decodeSignedRequest, openRequest } from '../ledger/request.ts'
import { REQUEST_BYTES_MAX } from '../ledger/limits.ts'
import { fromHex, toHex } from '../ledger/hash.ts'
import { formatMemberId, isMemberId, parseMemberId } from '../identity/member-id.ts'
import { refusal } from './refusals.ts'
import { CONTROL_FILE, type ControlInfo } from '../node/control.ts'
import { Daemon } from '../node/daemon.ts'
import { CONFIG_BYTES_MAX, envOverrides, exampleConfig, parseConfigText, resolveConfig, type Config } from '../node/config.ts'
import { pino, type Logger } from 'pino'
import { readFileCapped, writeNewFile, type Io } from './io.ts'
import { passphraseFor, readGenesisFile, unlockKey } from './offline.ts'
import { createKeystore, loadKeystore, readKeystorePublic } from '../identity/keystore.ts'
import { generateSeed } from '../identity/ed25519.ts'
import { signKeyProof } from '../ledger/entry.ts'
import { keyPath } from '../node/data-dir.ts'
import { syncDir } from '../fsync.ts'
import { collectGarbage } from '../gc.ts'

function usage(message: string): TrothError {
  return new TrothError('input.invalid', `usage: ${message}`)
}

function parseMs(text: string | undefined, what: string, fallback: number): number {
  if (text === undefined) return fallback
  if (!/^[1-9][0-9]{0,6}$/.test(text)) throw usage(`${what} must be a positive integer of milliseconds`)
  return Number(text)
}

export const nextKeyPath = (data: string): string => `${keyPath(data)}.next`

/** The public key of DIR/key.next, if a rotation left one. */
function nextKeyOf(data: string): Uint8Array | null {
  if (!existsSync(nextKeyPath(data))) return null
  return readKeystorePublic(nextKeyPath(data)).publicKey
}

export interface StartFlags {
  config?: string | undefined
  data?: string | undefined
  genesis?: string | undefined
  listen: string[]
  bootstrap: string[]
  idleMs?: string | undefined
  deltaMs?: string | undefined
  sync?: string | undefined
  status?: string | undefined
  logLevel?: string | undefined
  logFormat?: string | undefined
}

/** The configuration `troth start` runs with: flags over TROTH_* over the file over defaults. */
export function startConfig(io: Io, o: StartFlags): Config {
  const flags: Record<string, unknown> = {}
  if (o.data !== undefined) flags.data = o.data
  if (o.genesis !== undefined) flags.genesis = o.genesis
  if (o.listen.length > 0) flags.listen = o.listen
  if (o.bootstrap.length > 0) flags.bootstrap = o.bootstrap
  if (o.idleMs !== undefined) flags.idle_ms = parseMs(o.idleMs, '--idle-ms', 0)
  if (o.deltaMs !== undefined) flags.delta_ms = parseMs(o.deltaMs, '--delta-ms', 0)
  if (o.sync !== undefined) flags.sync = o.sync
  if (o.status !== undefined) flags.status = { listen: o.status }
  if (o.logLevel !== undefined || o.logFormat !== undefined) flags.log = { ...(o.logLevel !== undefined ? { level: o.logLevel } : {}), ...(o.logFormat !== undefined ? { format: o.logFormat } : {}) }
  const file = o.config === undefined ? undefined : parseConfigText(new TextDecoder().decode(readFileCapped(o.config, CONFIG_BYTES_MAX, 'config')), o.config)
  return resolveConfig({ ...(file !== undefined ? { file } : {}), env: envOverrides(io.env), flags }, o.config ?? 'the configuration')
}

/** pino, as JSON lines on stdout or pretty for a terminal. Never given a secret to log. The pretty
 * printer (and the dozen packages under it) is loaded only when used: a node logging JSON keeps
 * its memory (docs/performance.md, "Memory"). */
async function makeLogger(c: Config): Promise<Logger> {
  const pretty = c.log.format === 'pretty' || (c.log.format === 'auto' && process.stdout.isTTY === true)
  const options = {
    level: c.log.level,
    base: null,
    timestamp: pino.stdTimeFunctions.epochTime,
    formatters: { level: (label: string) => ({ level: label }) },
    // Belt and braces: no field by these names ever reaches a log line.
    redact: { paths: ['seed', 'token', 'passphrase', '*.seed', '*.token', '*.passphrase'], remove: true },
  }
  if (!pretty) return pino(options, pino.destination({ dest: 1, sync: true }))
  const { default: pinoPretty } = await import('pino-pretty')
  return pino(options, pinoPretty({ colorize: process.stdout.isTTY === true, sync: true, singleLine: true, messageFormat: '{event}', ignore: 'pid,hostname,event' }))
}

export async function cmdStart(io: Io, o: StartFlags): Promise<void> {
  const c = startConfig(io, o)
  const genesis = readFileCapped(c.genesis, GENESIS_BYTES_MAX, 'genesis')
  // Kept for a key rotation: key.next is sealed with the same passphrase as key.
  const pass = await passphraseFor(io, c.data)
  let seed = loadKeystore(keyPath(c.data), { passphrase: pass }).seed
  const logger = await makeLogger(c)
  // What the runtime runs with (bin/troth re-executes `troth start` with the daemon's Node flags
  // and environment, docs/operations.md#memory): one line, for the operator and the tests.
  // type_stripper: whether this process loaded Node's TypeScript stripper (amaro); a daemon that
  // found every source in the compile cache did not.
  const typeStripper = (process as unknown as { moduleLoadList?: string[] }).moduleLoadList?.some((m) => m.includes('internal/deps/amaro')) ?? null
  logger.info({ event: 'runtime', node: process.version, pid: process.pid, flags: process.execArgv, malloc_arena_max: process.env.MALLOC_ARENA_MAX ?? null, type_stripper: typeStripper })
  const stopped = new Promise<'stop'>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop)
      process.off('SIGINT', stop)
      resolve('stop')
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  })
  // Run until told to stop; stop cleanly (the WAL and the store are durable at every step, so a
  // kill -9 is survivable too — this just closes sockets and files tidily). A change of our key
  // in the ledger restarts the daemon in this process (DESIGN.md §6, docs/governance.md).
  for (;;) {
    const daemon = await Daemon.start({
      data: c.data, seed, genesis, listen: c.listen, bootstrap: c.bootstrap, idleMs: c.idle_ms, deltaMs: c.delta_ms, sync: c.sync, status: c.status.listen, nat: c.nat,
      nextKey: () => nextKeyOf(c.data), logger, log: (line) => io.out(`${line}\n`),
    })
    collectGarbage() // what starting left behind (src/gc.ts)
    const why = await Promise.race([stopped, daemon.keyChange])
    await daemon.stop()
    if (why === 'stop') {
      logger.info({ event: 'stopped' })
      return
    }
    if (why === 'replaced') {
      throw new TrothError('input.invalid', `this node's key no longer belongs to its member: a key recovery replaced it. The member's node now runs with the new key; this data dir cannot act for it (keep it only for its records)`)
    }
    if (why === 'switch') {
      // The rotation took effect at the epoch close: key.next becomes the key, durably, and the
      // old secret is gone from the disk. A crash before the rename repeats this on restart.
      renameSync(nextKeyPath(c.data), keyPath(c.data))
      await syncDir(c.data)
      logger.info({ event: 'key.switched' })
    }
    seed = loadKeystore(keyPath(c.data), { passphrase: pass }).seed
  }
}

export async function cmdConfigInit(io: Io, o: { out?: string | undefined }): Promise<void> {
  if (o.out === undefined) return io.out(exampleConfig())
  writeNewFile(o.out, exampleConfig(), 0o600)
  io.err(`wrote ${o.out}; edit data and genesis, then: troth start --config ${o.out}\n`)
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
      `peers     ${(s.peers as string[]).length}${(s.outOfReach as string[]).length === 0 ? '' : `   out of reach: ${(s.outOfReach as string[]).join(', ')}`}`,
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

/** How long a governance command waits for its entry to be final before exit 4. */
export const SUBMIT_WAIT_MS_DEFAULT = 60_000

export interface SubmitOptions {
  readonly data: string
  readonly wait: boolean
  readonly json: boolean
  readonly waitMs?: number
}

/**
 * Have the node sign and submit an entry; unless told not to wait, wait until it is final.
 * Refused now or dropped later: TrothError 'ledger.refused' with the ledger's reason (exit 3).
 * Still pending when the wait ends: 'ledger.not-final' (exit 4). Returns the final height.
 */
async function submit(io: Io, o: SubmitOptions, body: Record<string, unknown>, done: string, settled?: () => Promise<boolean>): Promise<void> {
  const r = await call(o.data, 'POST', '/submit', body)
  let v: Record<string, unknown>
  try {
    v = JSON.parse(r.text) as Record<string, unknown>
  } catch {
    throw new TrothError('net.protocol', `the node answered ${r.code} with something that is not JSON`)
  }
  if (r.code === 409) throw new TrothError('ledger.refused', refusal(String(v.status), String(v.detail ?? '')))
  if (r.code !== 200) throw new TrothError('input.invalid', String(v.error ?? `the node answered ${r.code}`))
  const entry = String(v.entry)
  let outcome: Record<string, unknown> = { state: 'pending' }
  const until = Date.now() + (o.waitMs ?? SUBMIT_WAIT_MS_DEFAULT)
  while (o.wait && outcome.state === 'pending' && Date.now() < until) {
    await sleep(150)
    // The node may restart meanwhile (a key change does that): then it is briefly unreachable,
    // and afterwards it no longer knows the entry, but `settled` can still tell from the ledger.
    let a: { code: number; text: string }
    try {
      a = await call(o.data, 'GET', `/entry?hash=${entry}`)
    } catch {
      continue
    }
    if (a.code === 404) {
      if (settled !== undefined && (await settled().catch(() => false))) outcome = { state: 'final' }
      continue
    }
    outcome = json(a)
  }
  if (outcome.state === 'dropped') throw new TrothError('ledger.refused', refusal(String(outcome.status), String(outcome.detail ?? '')))
  if (o.wait && outcome.state !== 'final') {
    throw new TrothError('ledger.not-final', `submitted (entry ${entry.slice(0, 16)}) but not final after ${Math.round((o.waitMs ?? SUBMIT_WAIT_MS_DEFAULT) / 1000)} s; troth status shows whether the network is finalizing`)
  }
  if (o.json) return io.out(`${JSON.stringify({ entry, ...outcome })}\n`)
  io.out(`${done}${outcome.state === 'final' ? (outcome.height === undefined ? ' (final)' : ` (final at height ${String(outcome.height)})`) : ' (submitted; not final yet)'}\n`)
}

function memberArg(text: string, what: string): string {
  if (!isMemberId(text)) throw usage(`${what} must be a MemberId (troth1…, as troth members or troth inductions print it)`)
  return text
}

export async function cmdPolicyVote(io: Io, o: SubmitOptions & { param: string; value: string }): Promise<void> {
  if (!isParamName(o.param)) throw usage(`unknown policy parameter "${o.param}" (known: ${Object.keys(PARAMS).join(', ')})`)
  let value: number | null
  if (o.value === 'none') value = null
  else if (/^(0|[1-9][0-9]{0,15})$/.test(o.value)) value = Number(o.value)
  else throw usage(`VALUE must be a non-negative integer, or "none" to withdraw your vote`)
  if (value !== null && !inRange(o.param, value)) throw usage(`${o.param} must be within [${PARAMS[o.param].min}, ${PARAMS[o.param].max}]`)
  await submit(io, o, { kind: 'policy.vote', param: o.param, value }, `vote ${o.param} = ${value === null ? 'none' : value} recorded; the effective value is recomputed at the next epoch`)
}

export async function cmdPolicy(io: Io, o: { data: string; json: boolean }): Promise<void> {
  const v = json(await call(o.data, 'GET', '/policy'))
  if (o.json) return io.out(`${JSON.stringify(v, null, 2)}\n`)
  const params = v.params as Array<{ param: string; effective: number; genesis: number; min: number; max: number; votes: number; myVote: number | null }>
  io.out(`policy in force in epoch ${String(v.epoch)} (weighted median of the standing votes; non-voters count at the genesis value)\n`)
  io.out(table([['PARAMETER', 'EFFECTIVE', 'GENESIS', 'RANGE', 'VOTES', 'YOUR VOTE'], ...params.map((p) => [p.param, String(p.effective), String(p.genesis), `${p.min}..${p.max}`, String(p.votes), p.myVote === null ? '-' : String(p.myVote)])]))
}

export async function cmdInduct(io: Io, o: SubmitOptions & { request: string }): Promise<void> {
  const bytes = readFileCapped(o.request, REQUEST_BYTES_MAX * 2, 'request')
  let r
  try {
    r = openRequest(decodeSignedRequest(bytes))
  } catch (err) {
    throw new TrothError('input.invalid', `${o.request} is not a valid induction request: ${(err as Error).message}`)
  }
  const who = `${formatMemberId(r.key)} (${r.name})`
  await submit(io, o, { kind: 'induct.vouch', request: toHex(bytes) }, `vouched for ${who}; troth inductions shows the window`)
}

export async function cmdObject(io: Io, o: SubmitOptions & { candidate: string; reason: string }): Promise<void> {
  await submit(io, o, { kind: 'induct.object', candidate: memberArg(o.candidate, 'CANDIDATE'), reason: o.reason }, `objection to ${o.candidate} recorded`)
}

export async function cmdLeave(io: Io, o: SubmitOptions & { yes: boolean }): Promise<void> {
  if (!o.yes) throw usage('leaving is final (a former member cannot be inducted again yet): run troth leave --yes to confirm')
  await submit(io, o, { kind: 'leave' }, 'leave recorded; you stop being a member at the end of this epoch')
}

export async function cmdExilePropose(io: Io, o: SubmitOptions & { member: string; reason: string }): Promise<void> {
  await submit(io, o, { kind: 'exile.propose', member: memberArg(o.member, 'MEMBER'), reason: o.reason }, `exile of ${o.member} proposed (your yes vote counts); others vote with troth exile vote ${o.member}`)
}

export async function cmdExileVote(io: Io, o: SubmitOptions & { member: string }): Promise<void> {
  await submit(io, o, { kind: 'exile.vote', member: memberArg(o.member, 'PROPOSAL') }, `yes vote on the exile of ${o.member} recorded; counted at the epoch close`)
}

const when = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z')

export async function cmdInductions(io: Io, o: { data: string; json: boolean }): Promise<void> {
  const v = json(await call(o.data, 'GET', '/governance'))
  if (o.json) return io.out(`${JSON.stringify({ epoch: v.epoch, time: v.time, inductions: v.inductions }, null, 2)}\n`)
  const list = v.inductions as Array<{ candidate: string; name: string; vouches: Array<{ name: string }>; objections: Array<{ name: string }>; vouchWeight: number; vouchWeightNeeded: number; objectionWeight: number; objectionWeightLimit: number; windowClosesAt: number; expires: number; state: string }>
  if (list.length === 0) return io.out('no open inductions\n')
  io.out(table([['CANDIDATE', 'NAME', 'VOUCHES', 'OBJECTIONS', 'WINDOW CLOSES', 'EXPIRES', 'STATE'], ...list.map((i) => [
    i.candidate, i.name,
    `${i.vouchWeight / 1000}/${i.vouchWeightNeeded / 1000} ${i.vouches.map((x) => x.name).join(',')}`,
    `${i.objectionWeight / 1000}/${i.objectionWeightLimit / 1000} ${i.objections.map((x) => x.name).join(',')}`,
    when(i.windowClosesAt), when(i.expires), i.state,
  ])]))
}

export async function cmdExileList(io: Io, o: { data: string; json: boolean }): Promise<void> {
  const v = json(await call(o.data, 'GET', '/governance'))
  if (o.json) return io.out(`${JSON.stringify({ epoch: v.epoch, totalWeight: v.totalWeight, exiles: v.exiles }, null, 2)}\n`)
  const list = v.exiles as Array<{ member: string; name: string; reason: string; votes: string[]; yesWeight: number; passes: boolean; lapsesAt: number }>
  if (list.length === 0) return io.out('no open exile proposals\n')
  io.out(table([['MEMBER', 'NAME', 'YES', 'PASSES AT CLOSE', 'LAPSES', 'REASON'], ...list.map((x) => [x.member, x.name, `${x.yesWeight / 1000} of ${Number(v.totalWeight) / 1000}`, x.passes ? 'yes' : 'no', when(x.lapsesAt), x.reason])]))
}

/** Sealing reads and hashes the whole input first: allow an hour before giving up. */
export const SEAL_TIMEOUT_MS = 60 * 60 * 1000
export const SEAL_WAIT_MS_DEFAULT = 60_000

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function cmdSeal(io: Io, o: { data: string; path: string; wait: boolean; json: boolean }): Promise<void> {
  const path = resolve(o.path)
  const tty = process.stderr.isTTY === true && io.env.TROTH_NO_PROGRESS === undefined
  if (tty) process.stderr.write(`sealing ${path}: the node reads, chunks and hashes it…\n`)
  const r = json(await call(o.data, 'POST', '/seal', { path }, SEAL_TIMEOUT_MS))
  if (tty && o.wait) process.stderr.write(`submitted ${String(r.root).slice(0, 16)}…; waiting until the seal is final…\n`)
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

/** A byte counter on stderr, only on a terminal (a script reading stderr gets clean lines). */
function progressLine(io: Io, what: string, total: number): { add: (n: number) => void; done: () => void } {
  if (process.stderr.isTTY !== true || io.env.TROTH_NO_PROGRESS !== undefined) return { add: () => undefined, done: () => undefined }
  let got = 0
  let shown = 0
  const show = (): void => {
    shown = Date.now()
    const mib = (n: number): string => (n / (1024 * 1024)).toFixed(1)
    process.stderr.write(`\r${what}: ${mib(got)} / ${mib(total)} MiB (${Math.floor((100 * got) / Math.max(1, total))}%)  `)
  }
  return {
    add: (n) => {
      got += n
      if (Date.now() - shown > 200) show()
    },
    done: () => {
      show()
      process.stderr.write('\n')
    },
  }
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
  const progress = progressLine(io, `fetching ${name}`, size)
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const c of res as AsyncIterable<Uint8Array>) {
      progress.add(c.length)
      yield c
    }
  }
  try {
    await unpackSnapshot(name.endsWith('/'), counted(), out, size)
  } finally {
    progress.done()
  }
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
  const list = v.members as Array<{ id: string; name: string; status: string; weight: number; standing: number; strikes: number; dutiesDone: number; dutiesMissed: number; exileReason: string; joinedEpoch: number; sponsors: string[] }>
  const nameOf = new Map(list.map((m) => [m.id, m.name]))
  io.out(table([['MEMBER', 'NAME', 'STATUS', 'WEIGHT', 'STANDING', 'STRIKES', 'DONE', 'MISSED', 'JOINED', 'SPONSORS', 'WHY'], ...list.map((m) => [
    m.id, m.name, m.status, String(m.weight / 1000), `${m.standing / 10}%`, String(m.strikes), String(m.dutiesDone), String(m.dutiesMissed),
    m.joinedEpoch === 0 ? 'founder' : `epoch ${m.joinedEpoch}`, m.sponsors.map((s) => nameOf.get(s) || s.slice(0, 14)).join(',') || '-', m.exileReason,
  ])]))
}

// ---------------------------------------------------------------------------------------------
// Keys (DESIGN.md §6): a planned rotation, and recovery of a lost key.

/** A recovery request: what a member who lost its key hands to its sponsors (JSON, one object). */
export const RECOVERY_FORMAT = 'troth-key-recovery/v1'
export const RECOVERY_FILE_BYTES_MAX = 4096

interface NodeIdentity {
  id: string
  net: string
}

async function nodeIdentity(data: string): Promise<NodeIdentity> {
  const s = json(await call(data, 'GET', '/status'))
  return { id: String(s.id), net: String(s.net) }
}

export async function cmdKeyRotate(io: Io, o: SubmitOptions): Promise<void> {
  const me = await nodeIdentity(o.data)
  const next = nextKeyPath(o.data)
  if (existsSync(next)) {
    const pending = (json(await call(o.data, 'GET', '/members')).members as Array<{ id: string; pendingKey: string | null }>).find((m) => m.id === me.id)?.pendingKey
    if (pending === formatMemberId(readKeystorePublic(next).publicKey)) {
      throw new TrothError('ledger.refused', refusal('key-pending', 'a rotation to the key in key.next is recorded already; the node switches to it at the end of this epoch'))
    }
    rmSync(next) // left by a rotation the ledger refused or never saw: no member holds it
  }
  const pass = await passphraseFor(io, o.data)
  const current = loadKeystore(keyPath(o.data), { passphrase: pass }) // the same passphrase seals the next key
  current.seed.wipe()
  const seed = generateSeed()
  let body: Record<string, unknown>
  try {
    const ks = createKeystore(next, { seed, name: current.name, ...(pass === undefined ? { plain: true } : { passphrase: pass }) })
    const keySig = signKeyProof(seed, fromHex(me.net), parseMemberId(me.id), ks.publicKey)
    body = { kind: 'key.rotate', key: formatMemberId(ks.publicKey), keySig: toHex(keySig) }
  } finally {
    seed.fill(0)
  }
  try {
    // Once the rotation takes effect the node restarts on the new key and forgets the entry: the
    // ledger then shows the key as pending or in force.
    const settledRotation = async (): Promise<boolean> => {
      const row = (json(await call(o.data, 'GET', '/members')).members as Array<{ id: string; key: string; pendingKey: string | null }>).find((m) => m.id === me.id)
      return row !== undefined && (row.key === body.key || row.pendingKey === body.key)
    }
    await submit(io, o, body, `rotation to key ${String(body.key)} recorded; the node switches to it when this epoch ends (your MemberId stays ${me.id})`, settledRotation)
  } catch (err) {
    // Refused or dropped: nobody will ever hold this key. Not final in time: keep it, it may yet be.
    if (err instanceof TrothError && err.code === 'ledger.refused') rmSync(next, { force: true })
    throw err
  }
}

export async function cmdKeyRecoverRequest(io: Io, o: { data: string; member: string; genesis: string; out: string; json: boolean }): Promise<void> {
  const member = memberArg(o.member, '--member')
  const net = readGenesisFile(o.genesis).net
  const ks = await unlockKey(io, o.data)
  try {
    const key = formatMemberId(ks.publicKey)
    if (key === member) throw usage('--member is this data dir\'s own key: run troth init --data NEW_DIR for a new key, and make the request there')
    const keySig = signKeyProof(ks.seed, net, parseMemberId(member), ks.publicKey)
    const doc = { format: RECOVERY_FORMAT, net: toHex(net), member, key, keySig: toHex(keySig) }
    writeNewFile(o.out, new TextEncoder().encode(`${JSON.stringify(doc, null, 2)}\n`))
    if (o.json) return io.out(`${JSON.stringify({ ...doc, out: o.out })}\n`)
    io.out(`recovery request for ${member} to the new key ${key} written to ${o.out}\n`)
    io.err('give it to your sponsors (or enough members): each runs troth key recover support FILE; it takes effect after the recovery delay\n')
  } finally {
    ks.seed.wipe()
  }
}

/** A recovery request file, strictly: the right format, fields and sizes, nothing else. */
export function readRecoveryFile(path: string): { net: string; member: string; key: string; keySig: string } {
  const text = new TextDecoder('utf-8', { fatal: true }).decode(readFileCapped(path, RECOVERY_FILE_BYTES_MAX, 'recovery request'))
  let v: Record<string, unknown>
  try {
    v = JSON.parse(text) as Record<string, unknown>
  } catch {
    throw new TrothError('input.invalid', `${path} is not a recovery request (not JSON)`)
  }
  const fields = ['format', 'net', 'member', 'key', 'keySig']
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).some((k) => !fields.includes(k))) throw new TrothError('input.invalid', `${path} is not a recovery request (unexpected fields)`)
  if (v.format !== RECOVERY_FORMAT) throw new TrothError('input.invalid', `${path} is not a ${RECOVERY_FORMAT} request`)
  if (typeof v.net !== 'string' || !/^[0-9a-f]{64}$/.test(v.net)) throw new TrothError('input.invalid', `${path}: net must be 64 hex characters`)
  if (!isMemberId(v.member) || !isMemberId(v.key)) throw new TrothError('input.invalid', `${path}: member and key must be MemberIds`)
  if (typeof v.keySig !== 'string' || !/^[0-9a-f]{128}$/.test(v.keySig)) throw new TrothError('input.invalid', `${path}: keySig must be 128 hex characters`)
  return { net: v.net, member: v.member, key: v.key, keySig: v.keySig }
}

export async function cmdKeyRecoverSupport(io: Io, o: SubmitOptions & { file: string }): Promise<void> {
  const r = readRecoveryFile(o.file)
  const me = await nodeIdentity(o.data)
  if (r.net !== me.net) throw new TrothError('ledger.refused', refusal('wrong-net', 'the recovery request is for another cooperative'))
  await submit(io, o, { kind: 'key.recover', member: r.member, key: r.key, keySig: r.keySig }, `support for re-keying ${r.member} to ${r.key} recorded; troth key recover list shows the recovery`)
}

export async function cmdKeyRecoverCancel(io: Io, o: SubmitOptions): Promise<void> {
  const me = await nodeIdentity(o.data)
  await submit(io, o, { kind: 'key.recover', member: me.id, cancel: true }, `the open recovery of ${me.id} is cancelled; your key stays`)
}

export async function cmdKeyRecoverList(io: Io, o: { data: string; json: boolean }): Promise<void> {
  const v = json(await call(o.data, 'GET', '/governance'))
  if (o.json) return io.out(`${JSON.stringify({ epoch: v.epoch, totalWeight: v.totalWeight, recoveries: v.recoveries }, null, 2)}\n`)
  const list = v.recoveries as Array<{ member: string; name: string; key: string; supporters: string[]; supportWeight: number; effectiveFrom: number; lapsesAt: number }>
  if (list.length === 0) return io.out('no open key recoveries\n')
  io.out(table([['MEMBER', 'NAME', 'SUPPORT', 'NOT BEFORE', 'LAPSES', 'NEW KEY'], ...list.map((r) => [r.member, r.name, `${r.supportWeight / 1000} of ${Number(v.totalWeight) / 1000} (${r.supporters.length})`, when(r.effectiveFrom), when(r.lapsesAt), r.key])]))
}
