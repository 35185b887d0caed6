// Finality with one OS process per node (as members run it): N `troth start` processes on
// 127.0.0.1, entries submitted through each node's control API at a steady rate, latencies read
// back from the nodes. Usage: node bench/consensus-procs.ts [N...] [--seconds S]

import { existsSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { publicKeyOf, signRaw, verifyRaw } from '../src/identity/ed25519.ts'
import { sha256 } from '../src/ledger/hash.ts'
import { Cluster } from '../test/node/cluster.ts'

const args = process.argv.slice(2)
const seconds = Number(args.includes('--seconds') ? args[args.indexOf('--seconds') + 1] : '15')
const sizes = args.filter((a, i) => /^\d+$/.test(a) && args[i - 1] !== '--seconds').map(Number)
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

async function idleCpu(c: Cluster): Promise<{ views: number; cores: number; msPerView: number } | null> {
  const view = async (): Promise<number> => ((await call(c.members[0]!.data, 'GET', '/status')) as { view: number }).view
  const c0 = cpuSeconds(c)
  const v0 = await view()
  const t0 = Date.now()
  await new Promise((r) => setTimeout(r, 5000))
  const c1 = cpuSeconds(c)
  const v1 = await view()
  if (c0 === null || c1 === null || v1 <= v0) return null
  return { views: v1 - v0, cores: (c1 - c0) / ((Date.now() - t0) / 1000), msPerView: ((c1 - c0) * 1000) / (v1 - v0) }
}

const pct = (s: number[], p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN

console.log(`ed25519_native_verify_per_s=${verifyRate()} rate_per_s=${RATE_PER_S} seconds=${seconds}`)
for (const n of sizes.length > 0 ? sizes : [4, 16]) {
  const c = new Cluster(n, { epochBlocks: 100 }, Number(process.env.BENCH_IDLE_MS ?? '200'))
  try {
    await c.startAll()
    await c.until('warm-up', () => c.heights([0]).every((h) => h >= 5), 120_000)
    // Idle first: the nodes' CPU (from /proc, Linux) per view with no entries, i.e. the cost of
    // one empty view across all n processes; with n processes on few cores it bounds everything.
    const idle = await idleCpu(c)
    if (idle !== null) console.log(`processes nodes=${n} idle views=${idle.views} cpu_cores=${idle.cores.toFixed(2)} cpu_ms_per_view=${idle.msPerView.toFixed(0)}`)
    const end = Date.now() + seconds * 1000
    let k = 0
    let ok = 0
    const started = Date.now()
    while (Date.now() < end) {
      const m = c.members[k % n]!
      // chunksPerAudit takes 1..12: every vote is a valid entry (the node answers 409 if not).
      const r = (await call(m.data, 'POST', '/submit', { kind: 'policy.vote', param: 'chunksPerAudit', value: 1 + (k % 12) })) as { status?: string }
      if (r.status === 'submitted') ok++
      k++
      // Open loop: the k-th entry is due at started + k / rate.
      await new Promise((res) => setTimeout(res, Math.max(0, started + (k * 1000) / RATE_PER_S - Date.now())))
    }
    await new Promise((r) => setTimeout(r, 3000))
    const elapsed = (Date.now() - started) / 1000
    const lat: number[] = []
    for (const m of c.members) lat.push(...((await call(m.data, 'GET', '/finality')) as { latenciesMs: number[] }).latenciesMs)
    lat.sort((a, b) => a - b)
    console.log(`processes nodes=${n} submitted=${ok} finalized=${lat.length} finality_p50_ms=${pct(lat, 0.5)} finality_p99_ms=${pct(lat, 0.99)} max_ms=${lat.at(-1)} entries_per_s=${(lat.length / elapsed).toFixed(1)}`)
  } finally {
    await c.destroy()
  }
}
console.log(`ed25519_native_verify_per_s=${verifyRate()} (after)`)
process.exit(0)
