// Finality with one OS process per node (as members run it): N `troth start` processes on
// 127.0.0.1, entries submitted through each node's control API at a steady rate, latencies read
// back from the nodes, after a warm-up at the same rate (--warm, default 30 s; 0 measures the
// first seconds of fresh processes). Usage: node bench/consensus-procs.ts [N...] [--seconds S] [--warm S]

import { existsSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { publicKeyOf, signRaw, verifyRaw } from '../src/identity/ed25519.ts'
import { sha256 } from '../src/ledger/hash.ts'
import { Cluster } from '../test/node/cluster.ts'

const args = process.argv.slice(2)
const opt = (name: string, dflt: string): string => (args.includes(name) ? (args[args.indexOf(name) + 1] as string) : dflt)
const seconds = Number(opt('--seconds', '15'))
const warm = Number(opt('--warm', '30'))
const sizes = args.filter((a, i) => /^\d+$/.test(a) && !['--seconds', '--warm'].includes(args[i - 1] ?? '')).map(Number)
const RATE_PER_S = Number(process.env.BENCH_RATE ?? '40')

function call(data: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const info = JSON.parse(readFileSync(join(data, 'control.json'), 'utf8')) as { port: number; token: string }
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: info.port, method, path, headers: { authorization: `Bearer ${info.token}`, 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))))
    })
    req.on('error', reject)
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}

function verifyRate(): number {
  const seed = sha256(new Uint8Array([1]))
  const pub = publicKeyOf(seed)
  const msg = sha256(new Uint8Array([2]))
  const sig = signRaw(seed, msg)
  const t0 = performance.now()
  for (let i = 0; i < 4000; i++) verifyRaw(pub, msg, sig)
  return Math.round(4000 / ((performance.now() - t0) / 1000))
}

/** CPU seconds (user + system) the cluster's processes have used, or null without /proc. */
function cpuSeconds(c: Cluster): number | null {
  let ticks = 0
  for (const m of c.members) {
    const pid = m.proc?.pid
    if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return null
    const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] as string).split(' ')
    ticks += Number(fields[11]) + Number(fields[12]) // utime, stime (clock ticks, 100 per second)
  }
  return ticks / 100
}

/** The finalized height at the first node. */
const height = async (c: Cluster): Promise<number> => ((await call(c.members[0]!.data, 'GET', '/status')) as { height: number }).height

async function idleCpu(c: Cluster): Promise<{ views: number; cores: number; msPerView: number } | null> {
  // Finalized blocks, not views: views start again at 0 each epoch. Idle, each view finalizes one.
  const c0 = cpuSeconds(c)
  const v0 = await height(c)
  const t0 = Date.now()
  await new Promise((r) => setTimeout(r, 5000))
  const c1 = cpuSeconds(c)
  const v1 = await height(c)
  if (c0 === null || c1 === null || v1 <= v0) return null
  return { views: v1 - v0, cores: (c1 - c0) / ((Date.now() - t0) / 1000), msPerView: ((c1 - c0) * 1000) / (v1 - v0) }
}

const pct = (s: number[], p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN

/** Submit entries at RATE_PER_S for `secs` seconds, at the members in turn; the number accepted.
 * `first` numbers the entries (so warm-up and measured ones differ). */
async function offer(c: Cluster, secs: number, first: number): Promise<number> {
  const n = c.members.length
  const started = Date.now()
  const end = started + secs * 1000
  let ok = 0
  for (let k = 0; Date.now() < end; ) {
    const m = c.members[(first + k) % n]!
    // chunksPerAudit takes 1..12: every vote is a valid entry (the node answers 409 if not).
    const r = (await call(m.data, 'POST', '/submit', { kind: 'policy.vote', param: 'chunksPerAudit', value: 1 + ((first + k) % 12) })) as { status?: string }
    if (r.status === 'submitted') ok++
    k++
    // Open loop: the k-th entry is due at started + k / rate.
    await new Promise((res) => setTimeout(res, Math.max(0, started + (k * 1000) / RATE_PER_S - Date.now())))
  }
  return ok
}

console.log(`ed25519_native_verify_per_s=${verifyRate()} rate_per_s=${RATE_PER_S} seconds=${seconds} warm_s=${warm}`)
for (const n of sizes.length > 0 ? sizes : [4, 16]) {
  const c = new Cluster(n, { epochBlocks: 100 }, Number(process.env.BENCH_IDLE_MS ?? '200'))
  try {
    await c.startAll()
    await c.until('warm-up', () => c.heights([0]).every((h) => h >= 5), 120_000)
    // Warm: entries at the same rate, not counted. A member's node runs for months; in its first
    // seconds V8 has not compiled the hot paths yet, and with n processes each sees 1/n of the
    // work, so each takes n times longer to get there (16 processes used about 200 ms of CPU an
    // idle view in their first 15 s, about 115 ms after 30 s).
    await offer(c, warm, 0)
    // Then idle: the nodes' CPU (from /proc, Linux) per view with no entries, i.e. the cost of
    // one empty view across all n processes; with n processes on few cores it bounds everything.
    const idle = await idleCpu(c)
    if (idle !== null) console.log(`processes nodes=${n} idle views=${idle.views} cpu_cores=${idle.cores.toFixed(2)} cpu_ms_per_view=${idle.msPerView.toFixed(0)}`)
    const before = await Promise.all(c.members.map(async (m) => ((await call(m.data, 'GET', '/finality')) as { latenciesMs: number[] }).latenciesMs.length))
    const [cpu0, h0] = [cpuSeconds(c), await height(c)]
    const started = Date.now()
    const ok = await offer(c, seconds, 1_000_000)
    const [cpu1, h1] = [cpuSeconds(c), await height(c)]
    const loaded = cpu0 === null || cpu1 === null ? '' : ` cpu_cores=${((cpu1 - cpu0) / ((Date.now() - started) / 1000)).toFixed(2)} cpu_ms_per_block=${(((cpu1 - cpu0) * 1000) / Math.max(1, h1 - h0)).toFixed(0)} blocks_per_s=${((h1 - h0) / ((Date.now() - started) / 1000)).toFixed(1)}`
    await new Promise((r) => setTimeout(r, 3000))
    const elapsed = (Date.now() - started) / 1000
    const lat: number[] = []
    for (const [i, m] of c.members.entries()) lat.push(...((await call(m.data, 'GET', '/finality')) as { latenciesMs: number[] }).latenciesMs.slice(before[i]))
    lat.sort((a, b) => a - b)
    console.log(`processes nodes=${n} submitted=${ok} finalized=${lat.length} finality_p50_ms=${pct(lat, 0.5)} finality_p99_ms=${pct(lat, 0.99)} max_ms=${lat.at(-1)} entries_per_s=${(lat.length / elapsed).toFixed(1)}${loaded}`)
  } finally {
    await c.destroy()
  }
}
console.log(`ed25519_native_verify_per_s=${verifyRate()} (after)`)
process.exit(0)
