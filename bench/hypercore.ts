// troth beside hypercore (holepunchto/hypercore, from the npm registry) on this machine, in one
// run (issue 8): one append replicated to 2 peers. Both sides run in this process over TCP on
// 127.0.0.1 and are measured the same way: latency p50/p99 from the append (troth: the submit)
// until the entry is held by all three nodes, at a steady offered rate; then throughput, N
// appends issued back to back, until all three hold all N; and this process's CPU per entry.
//
// Not the same job, and the output says so: a hypercore is a single-writer log. Its one writer
// signs the new Merkle root and the readers check it; nobody agrees on anything, and a writer that
// forks its log is only detected afterwards. troth's entry is finalized by weighted Simplex BFT
// among the three: two rounds of votes, every vote signed and checked by every node, the block
// executed against the state machine and committed in one fsynced batch (votes in an O_DSYNC
// WAL). hypercore's writes go to RocksDB without a sync per append.
//
// Usage: node bench/hypercore.ts [--seconds S] [--rate R] [--burst N] [--batch B] [--skip-troth] [--skip-hypercore]

import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Hypercore from 'hypercore'
import { publicKeyOf } from '../src/identity/ed25519.ts'
import { decodeSignedEntry, encodeSignedEntry, signEntry } from '../src/ledger/entry.ts'
import { encodeGenesis } from '../src/ledger/genesis.ts'
import { sha256 } from '../src/ledger/hash.ts'
import { Daemon } from '../src/node/daemon.ts'
import { ensureDataDir } from '../src/node/data-dir.ts'
import { MEMPOOL_SEQ_AHEAD_MAX } from '../src/node/replica.ts'
import { arg, load, ms1, pct, sleep, verifyRate } from './support.ts'

const args = process.argv.slice(2)
const SECONDS = Number(arg(args, 'seconds', '15'))
const RATE_PER_S = Number(arg(args, 'rate', '40'))
const BURST = Number(arg(args, 'burst', '3000'))
const BATCH = Number(arg(args, 'batch', '64'))
const NODES = 3
/** Entries each side replicates before anything is measured. */
const WARMUP = 200
/** Own entries a troth node keeps in flight in the burst: below MEMPOOL_SEQ_AHEAD_MAX. */
const WINDOW = MEMPOOL_SEQ_AHEAD_MAX - 4

interface Figures {
  readonly latency: number[]
  readonly offered: number
  readonly latencyCpuMsPerEntry: number
  readonly burst: number
  readonly burstS: number
  readonly burstCpuMsPerEntry: number
  /** hypercore only: the burst again, BATCH blocks per append() call. */
  readonly batched?: { readonly s: number; readonly cpuMsPerEntry: number; readonly entries: number }
}

function cpuMs(from: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(from)
  return (c.user + c.system) / 1000
}

/** The signed `announce` entry troth carries here, for its size: hypercore appends blocks of it. */
function sampleEntry(): Uint8Array {
  const seed = sha256(new TextEncoder().encode('bench 0'))
  return encodeSignedEntry(signEntry(seed, { net: new Uint8Array(32), author: publicKeyOf(seed), seq: 1, time: Date.now(), body: { kind: 'announce', addrs: ['/ip4/127.0.0.1/tcp/1000'] } }))
}

// ---------------------------------------------------------------------------------------------
// hypercore: one writer, two readers downloading everything live (`download({ start: 0, end: -1 })`,
// hypercore's non-sparse mode), each reader on its own TCP connection to the writer, as in
// hypercore's README (`socket.pipe(core.replicate(...)).pipe(socket)`).
// Storage: each core in its own directory (RocksDB through hypercore-storage, hypercore 11's only
// storage; random-access-memory is no longer accepted).

async function hypercoreRun(blockBytes: number): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'troth-bench-hc-'))
  const writer = new Hypercore(join(dir, 'writer'))
  await writer.ready()
  const readers = [new Hypercore(join(dir, 'r1'), writer.key), new Hypercore(join(dir, 'r2'), writer.key)]
  const sockets: Socket[] = []
  // TCP_NODELAY on both ends, as @libp2p/tcp sets it for troth: with Nagle's algorithm and
  // delayed ACKs, each small block waits ~40 ms on loopback (hyperswarm itself runs on UDX).
  const server = createServer({ noDelay: true }, (socket) => {
    sockets.push(socket)
    socket.pipe(writer.replicate(false)).pipe(socket)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  // index → [time appended, readers holding it]
  const waiting = new Map<number, { t0: number; held: number }>()
  const done: number[] = []
  let heldAll = 0
  try {
    for (const r of readers) {
      await r.ready()
      const s = connect({ port, host: '127.0.0.1', noDelay: true })
      sockets.push(s)
      s.pipe(r.replicate(true)).pipe(s)
      r.download({ start: 0, end: -1 })
      r.on('download', (index) => {
        const w = waiting.get(index)
        if (w === undefined || ++w.held < readers.length) return
        done.push(performance.now() - w.t0)
        waiting.delete(index)
        heldAll++
      })
    }
    const block = new Uint8Array(blockBytes).fill(7)
    let next = writer.length
    const append = async (): Promise<void> => {
      // The index is known before the append resolves: the core serialises appends.
      waiting.set(next++, { t0: performance.now(), held: 0 })
      await writer.append(block)
    }
    // Warm-up: connections up, code compiled (the JIT's threads count in this process's CPU).
    for (let i = 0; i < WARMUP; i++) await append()
    while (heldAll < WARMUP) await sleep(10)
    done.length = 0
    const offered = await openLoop(append)
    const latencyCpu = offered.cpu
    while (waiting.size > 0 && performance.now() - offered.end < 5000) await sleep(10)
    const latency = [...done].sort((a, b) => a - b)
    // Throughput: BURST appends issued back to back (each its own append() call, no batching).
    const target = heldAll + BURST
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    const appends: Array<Promise<void>> = []
    for (let i = 0; i < BURST; i++) appends.push(append())
    await Promise.all(appends)
    while (heldAll < target && performance.now() - t0 < 120_000) await sleep(2)
    const burstS = (performance.now() - t0) / 1000
    const burstCpu = cpuMs(c0) / BURST
    const burst = heldAll - (target - BURST)
    // The same burst in batches of BATCH blocks per append() call: hypercore signs one root per
    // append, as troth signs one certificate per block. For scale; not the "one append" above.
    const batchTarget = heldAll + BURST
    const c1 = process.cpuUsage()
    const t1 = performance.now()
    const batches: Array<Promise<unknown>> = []
    for (let i = 0; i < BURST; i += BATCH) {
      const blocks = Array.from({ length: Math.min(BATCH, BURST - i) }, () => block)
      const t = performance.now()
      for (let k = 0; k < blocks.length; k++) waiting.set(next++, { t0: t, held: 0 })
      batches.push(writer.append(blocks))
    }
    await Promise.all(batches)
    while (heldAll < batchTarget && performance.now() - t1 < 120_000) await sleep(2)
    const batched = { s: (performance.now() - t1) / 1000, cpuMsPerEntry: cpuMs(c1) / BURST, entries: heldAll - (batchTarget - BURST) }
    return { latency, offered: offered.count, latencyCpuMsPerEntry: latencyCpu / offered.count, burst, burstS, burstCpuMsPerEntry: burstCpu, batched }
  } finally {
    for (const s of sockets) s.destroy()
    await new Promise<void>((r) => server.close(() => r()))
    await writer.close()
    for (const r of readers) await r.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Offer `RATE_PER_S` appends a second for SECONDS, open loop: the k-th is due at start + k/rate. */
async function openLoop(append: () => Promise<void>): Promise<{ count: number; cpu: number; end: number }> {
  const c0 = process.cpuUsage()
  const started = performance.now()
  const end = started + SECONDS * 1000
  let k = 0
  while (performance.now() < end) {
    await append()
    k++
    await sleep(Math.max(0, started + (k * 1000) / RATE_PER_S - performance.now()))
  }
  return { count: k, cpu: cpuMs(c0), end: performance.now() }
}

// ---------------------------------------------------------------------------------------------
// troth: NODES daemons in this process, as bench/consensus.ts runs them (real libp2p on
// 127.0.0.1, level stores, WALs, idle 200 ms, Δ 50 ms); an entry is submitted at node 0 and is
// done when every node has committed it (its author's seq in each node's finalized state).

async function trothRun(): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'troth-bench-hc-troth-'))
  const seeds = Array.from({ length: NODES }, (_, i) => sha256(new TextEncoder().encode(`bench ${i}`)))
  const genesis = encodeGenesis({ version: 1, name: 'bench', time: Date.now() - 1000, founders: seeds.map((s, i) => ({ key: publicKeyOf(s), name: `b${i}`, request: null })), policy: { epochBlocks: 1000 } })
  const daemons: Daemon[] = []
  const waiting = new Map<string, { author: string; seq: number; t0: number; held: Set<number> }>()
  const done: number[] = []
  let heldAll = 0
  try {
    for (let i = 0; i < NODES; i++) {
      ensureDataDir(join(dir, `n${i}`))
      const d = await Daemon.start({
        data: join(dir, `n${i}`), seed: seeds[i] as Uint8Array, genesis, listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: daemons.map((x) => x.host.addrs()[0] as string), idleMs: 200, deltaMs: 50, log: () => undefined, control: false,
      })
      daemons.push(d)
      d.onFinalized(() => {
        const members = d.store.state.members
        for (const [key, w] of waiting) {
          if ((members.get(w.author)?.seq ?? 0) < w.seq) continue
          w.held.add(i)
          if (w.held.size < NODES) continue
          done.push(performance.now() - w.t0)
          waiting.delete(key)
          heldAll++
        }
      })
    }
    const t0 = Date.now()
    while (daemons.some((d) => d.store.state.meta.height < 5 || d.host.peers().length < NODES - 1) && Date.now() - t0 < 60_000) await sleep(100)
    let port = 0
    const submit = async (d: Daemon): Promise<boolean> => {
      const t = performance.now()
      const r = await d.replica.submitOwn({ kind: 'announce', addrs: [`/ip4/127.0.0.1/tcp/${1000 + (port++ % 60000)}`] })
      if (r.status !== 'ok') return false
      const seq = decodeSignedEntry(r.wire).entry.seq
      waiting.set(`${d.id}/${seq}`, { author: d.id, seq, t0: t, held: new Set() })
      return true
    }
    const first = daemons[0] as Daemon
    for (let i = 0; i < WARMUP; i++) {
      await submit(daemons[i % NODES] as Daemon)
      await sleep(1000 / RATE_PER_S)
    }
    while (waiting.size > 0) await sleep(10)
    done.length = 0
    const offered = await openLoop(async () => {
      await submit(first)
    })
    while (waiting.size > 0 && performance.now() - offered.end < 10_000) await sleep(10)
    const latency = [...done].sort((a, b) => a - b)
    // Throughput: BURST entries, each node submitting its share as fast as its mempool admits
    // (an author may run MEMPOOL_SEQ_AHEAD_MAX ahead of its finalized seq).
    const target = heldAll + BURST
    const c0 = process.cpuUsage()
    const tb = performance.now()
    let issued = 0
    const inFlight = (d: Daemon): number => [...waiting.values()].filter((w) => w.author === d.id).length
    await Promise.all(daemons.map(async (d) => {
      while (issued < BURST && performance.now() - tb < 120_000) {
        if (inFlight(d) >= WINDOW) {
          await sleep(1)
          continue
        }
        issued++
        if (!(await submit(d))) issued--
      }
    }))
    while (heldAll < target && performance.now() - tb < 120_000) await sleep(2)
    const burstS = (performance.now() - tb) / 1000
    return { latency, offered: offered.count, latencyCpuMsPerEntry: offered.cpu / offered.count, burst: heldAll - (target - BURST), burstS, burstCpuMsPerEntry: cpuMs(c0) / BURST }
  } finally {
    for (const d of daemons) await d.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------

function line(name: string, f: Figures): string {
  return (
    `${name} offered=${f.offered} replicated=${f.latency.length} latency_p50_ms=${ms1(pct(f.latency, 0.5))} latency_p99_ms=${ms1(pct(f.latency, 0.99))} ` +
    `max_ms=${ms1(f.latency.at(-1) ?? NaN)} cpu_ms_per_entry=${f.latencyCpuMsPerEntry.toFixed(2)} | burst=${f.burst} in ${f.burstS.toFixed(2)} s ` +
    `entries_per_s=${(f.burst / f.burstS).toFixed(0)} burst_cpu_ms_per_entry=${f.burstCpuMsPerEntry.toFixed(2)}`
  )
}

const entryBytes = sampleEntry().length
console.log(`ed25519_native_verify_per_s=${verifyRate()} rate_per_s=${RATE_PER_S} seconds=${SECONDS} burst=${BURST} entry_bytes=${entryBytes} node=${process.version} load=${load()}`)
console.log('# hypercore: one writer, 2 readers, no agreement (single-writer log; readers check the writer\'s signed Merkle root; RocksDB writes without a sync per append)')
console.log('# troth: 3 validators, weighted Simplex BFT: 2 rounds of signed votes checked by every node, state machine, fsynced commit on every node')
let hc: Figures | null = null
let tr: Figures | null = null
if (!args.includes('--skip-hypercore')) {
  hc = await hypercoreRun(entryBytes)
  console.log(`${line('hypercore', hc)} load=${load()}`)
  const b = hc.batched
  if (b !== undefined) console.log(`hypercore batched, ${BATCH} blocks per append: burst=${b.entries} in ${b.s.toFixed(2)} s entries_per_s=${(b.entries / b.s).toFixed(0)} burst_cpu_ms_per_entry=${b.cpuMsPerEntry.toFixed(2)} load=${load()}`)
}
if (!args.includes('--skip-troth')) {
  tr = await trothRun()
  console.log(`${line('troth', tr)} load=${load()}`)
}
if (hc !== null && tr !== null) {
  const ratio = (a: number, b: number): string => (a / b).toFixed(1)
  console.log(
    `ratio troth/hypercore: latency_p50=${ratio(pct(tr.latency, 0.5), pct(hc.latency, 0.5))}x latency_p99=${ratio(pct(tr.latency, 0.99), pct(hc.latency, 0.99))}x ` +
      `throughput=${(tr.burst / tr.burstS / (hc.burst / hc.burstS)).toFixed(3)}x cpu_per_entry=${ratio(tr.burstCpuMsPerEntry, hc.burstCpuMsPerEntry)}x`,
  )
}
console.log(`ed25519_native_verify_per_s=${verifyRate()} (after) load=${load()}`)
process.exit(0)
