// Finality over real libp2p on 127.0.0.1 (issue: p99 < 100 ms at 4 and 16 nodes). Runs N daemons
// in this process (each its own libp2p host, level store and WAL, as `troth start` does), submits
// entries at random members at a steady rate, and prints finality latency p50/p99 (submit →
// finalized at the submitting node) and finalized entries per second, next to the native
// Ed25519 verify rate measured in the same run. Usage: node bench/consensus.ts [N...] [--seconds S]

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { publicKeyOf, signRaw, verifyRaw } from '../src/identity/ed25519.ts'
import { encodeGenesis } from '../src/ledger/genesis.ts'
import { sha256 } from '../src/ledger/hash.ts'
import { Daemon } from '../src/node/daemon.ts'
import { ensureDataDir } from '../src/node/data-dir.ts'

const args = process.argv.slice(2)
const seconds = Number(args.includes('--seconds') ? args[args.indexOf('--seconds') + 1] : '15')
const sizes = args.filter((a, i) => /^\d+$/.test(a) && args[i - 1] !== '--seconds').map(Number)
const RATE_PER_S = Number(process.env.BENCH_RATE ?? '40')

function verifyRate(): number {
  const seed = sha256(new Uint8Array([1]))
  const pub = publicKeyOf(seed)
  const msgs = Array.from({ length: 64 }, (_, i) => sha256(new Uint8Array([i])))
  const sigs = msgs.map((m) => signRaw(seed, m))
  const n = 4000
  const t0 = performance.now()
  for (let i = 0; i < n; i++) verifyRaw(pub, msgs[i % 64] as Uint8Array, sigs[i % 64] as Uint8Array)
  return Math.round(n / ((performance.now() - t0) / 1000))
}

function pct(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number)
}

async function run(n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `troth-bench-${n}-`))
  const seeds = Array.from({ length: n }, (_, i) => sha256(new TextEncoder().encode(`bench ${i}`)))
  const genesis = encodeGenesis({ version: 1, name: 'bench', time: Date.now() - 1000, founders: seeds.map((s, i) => ({ key: publicKeyOf(s), name: `b${i}`, request: null })), policy: { epochBlocks: 200 } })
  const daemons: Daemon[] = []
  try {
    for (let i = 0; i < n; i++) {
      ensureDataDir(join(dir, `n${i}`))
      const d = await Daemon.start({
        data: join(dir, `n${i}`), seed: seeds[i] as Uint8Array, genesis, listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: daemons.map((x) => x.host.addrs()[0] as string), idleMs: Number(process.env.BENCH_IDLE_MS ?? '200'), deltaMs: Number(process.env.BENCH_DELTA_MS ?? '50'), log: () => undefined, control: false,
      })
      daemons.push(d)
    }
    // Warm up: wait until every node has finalized a few blocks.
    const t0 = Date.now()
    while (daemons.some((d) => d.store.state.meta.height < 5) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 100))
    const peersMin = (): number => Math.min(...daemons.map((d) => d.host.peers().length))
    const peersAtStart = peersMin()
    const startHeight = daemons[0]!.store.state.meta.height
    const viewOf = (d: Daemon): number => Number((d.replica.debug().engine as { view?: number } | null)?.view ?? 0)
    const startView = viewOf(daemons[0]!)
    const startEpoch = daemons[0]!.store.state.epoch.number
    const cpu0 = process.cpuUsage()
    for (const d of daemons) d.replica.finality.length = 0
    const end = Date.now() + seconds * 1000
    let submitted = 0
    let i = 0
    const started = Date.now()
    // Open loop: the k-th entry is due at started + k / rate, however long the last one took.
    while (Date.now() < end) {
      const d = daemons[i++ % n] as Daemon
      const r = await d.replica.submitOwn({ kind: 'announce', addrs: [`/ip4/127.0.0.1/tcp/${1000 + (submitted % 60000)}`] })
      if (r.status === 'ok') submitted++
      const due = started + (i * 1000) / RATE_PER_S
      await new Promise((r2) => setTimeout(r2, Math.max(0, due - Date.now())))
    }
    await new Promise((r) => setTimeout(r, 2000)) // let the last ones land
    const elapsed = (Date.now() - started) / 1000
    const cpu = process.cpuUsage(cpu0)
    // Views run at node 0 (an epoch restarts the count) and this process's CPU time over the run:
    // near 1.0 means one core was saturated by the n nodes.
    const views = daemons[0]!.store.state.epoch.number === startEpoch ? String(viewOf(daemons[0]!) - startView) : 'n/a'
    const lat = daemons.flatMap((d) => d.replica.finality).sort((a, b) => a - b)
    const blocks = daemons[0]!.store.state.meta.height - startHeight
    console.log(
      `nodes=${n} submitted=${submitted} finalized=${lat.length} finality_p50_ms=${pct(lat, 0.5)} finality_p99_ms=${pct(lat, 0.99)} ` +
        `max_ms=${lat.at(-1)} entries_per_s=${(lat.length / elapsed).toFixed(1)} blocks=${blocks} blocks_per_s=${(blocks / elapsed).toFixed(1)} ` +
        `views=${views} cpu_ms_per_view=${views === 'n/a' || Number(views) === 0 ? 'n/a' : ((cpu.user + cpu.system) / 1000 / Number(views)).toFixed(0)} cpu_per_wall=${((cpu.user + cpu.system) / 1e6 / elapsed).toFixed(2)} peers_min=${peersAtStart}/${peersMin()} (of ${n - 1}, at start/end)`,
    )
  } finally {
    for (const d of daemons) await d.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

// A view at n equal-weight nodes needs, at the least, every node to check two quorums of
// signatures (NOTARIZE and FINALIZE): 2 · n · (⌊2n/3⌋ + 1) verifications, shown as a CPU floor.
const rate0 = verifyRate()
console.log(`ed25519_native_verify_per_s=${rate0} rate_per_s=${RATE_PER_S} seconds=${seconds}`)
for (const n of sizes.length > 0 ? sizes : [4, 16]) {
  const verifies = 2 * n * (Math.floor((2 * n) / 3) + 1)
  console.log(`nodes=${n} verifications_per_view_min=${verifies} verify_ms_per_view_min=${((verifies / rate0) * 1000).toFixed(1)}`)
}
for (const n of sizes.length > 0 ? sizes : [4, 16]) await run(n)
console.log(`ed25519_native_verify_per_s=${verifyRate()} (after)`)
process.exit(0)
