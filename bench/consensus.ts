// Finality over real libp2p on 127.0.0.1 (issue: p99 < 100 ms at 4 and 16 nodes). Runs N daemons
// (each its own libp2p host, level store and WAL, as `troth start` does), submits entries at
// random members at a steady rate, and prints finality latency p50/p99 (submit → finalized at the
// submitting node) and finalized entries per second, next to the native Ed25519 verify rate
// measured in the same run. The daemons run in this process, or spread over P worker processes
// with `--procs P` (one process uses one core: on a 2-core machine `--procs 2` uses both).
// Daemons that share a process share its cache of verified signatures (a signature one of them
// checked is free for the others): fewer checks than nodes that each run alone make, as
// sig_checks_per_block shows. `--procs N` (one process a daemon) has no such sharing.
// `--down K` stops K daemons once all have finalized a few blocks, before the warm-up: the others
// run on with K validators silent (their leader views time out; in collector mode, the views
// they collect for wait for the fallback).
// Usage: node bench/consensus.ts [N...] [--seconds S] [--warm S] [--procs P] [--relay all,collector] [--down K]

import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nativeVerifyCount, publicKeyOf, signRaw, verifyRaw } from '../src/identity/ed25519.ts'
import { encodeGenesis } from '../src/ledger/genesis.ts'
import { fromHex, sha256, toHex } from '../src/ledger/hash.ts'
import { Daemon } from '../src/node/daemon.ts'
import { relayFor } from '../src/node/replica.ts'
import { ensureDataDir } from '../src/node/data-dir.ts'

const args = process.argv.slice(2)
const opt = (name: string, dflt: string): string => (args.includes(name) ? (args[args.indexOf(name) + 1] as string) : dflt)
const seconds = Number(opt('--seconds', '15'))
const procs = Number(opt('--procs', '1'))
const sizes = args.filter((a, i) => /^\d+$/.test(a) && !['--seconds', '--procs', '--warm', '--down'].includes(args[i - 1] ?? '')).map(Number)
const DOWN = Number(opt('--down', '0'))
const RATE_PER_S = Number(process.env.BENCH_RATE ?? '40')
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? '200')
const DELTA_MS = Number(process.env.BENCH_DELTA_MS ?? '50')
// With --down, long enough that the stopped daemons count as out of reach (node/reach.ts: the
// others' first REACH_TIMES.heardMs count every validator as reachable).
const WARM_S = Number(opt('--warm', args.includes('--down') ? '15' : '3'))
// How votes travel (docs/consensus.md "Votes through a collector"): the daemon's default ('auto',
// by validator count), or forced, several compared in one run: `--relay all,collector`.
type Relay = 'all' | 'collector' | 'auto'
const RELAYS = opt('--relay', 'auto').split(',') as Relay[]
if (RELAYS.some((r) => r !== 'all' && r !== 'collector' && r !== 'auto')) throw new Error('--relay: all, collector or auto (comma-separated for several)')
let relay: Relay = RELAYS[0] as Relay

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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The daemons of one process: start, warm up, submit open loop, report. */
class Group {
  readonly daemons: Daemon[] = []
  readonly dir: string
  readonly genesis: Uint8Array
  readonly seeds: Uint8Array[]
  constructor(dir: string, genesis: Uint8Array, seeds: Uint8Array[]) {
    this.dir = dir
    this.genesis = genesis
    this.seeds = seeds
  }

  async start(indices: number[], bootstrap: string[]): Promise<string[]> {
    const addrs: string[] = []
    for (const i of indices) {
      ensureDataDir(join(this.dir, `n${i}`))
      const d = await Daemon.start({
        data: join(this.dir, `n${i}`), seed: this.seeds[i] as Uint8Array, genesis: this.genesis, listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: [...bootstrap, ...addrs], idleMs: IDLE_MS, deltaMs: DELTA_MS, relay, log: () => undefined, control: false,
      })
      this.daemons.push(d)
      addrs.push(d.host.addrs()[0] as string)
    }
    return addrs
  }

  minHeight(): number {
    return Math.min(...this.daemons.map((d) => d.store.state.meta.height))
  }

  peersMin(): number {
    return Math.min(...this.daemons.map((d) => d.host.peers().length))
  }

  view(): number {
    return Number((this.daemons[0]!.replica.debug().engine as { view?: number } | null)?.view ?? 0)
  }

  epoch(): number {
    return this.daemons[0]!.store.state.epoch.number
  }

  /** Frames the daemons sent on their direct channels (consensus, entries). */
  frames(): { consensus: number; entry: number } {
    let consensus = 0
    let entry = 0
    for (const d of this.daemons) {
      consensus += d.channel?.stats.framesOut ?? 0
      entry += d.entryChannel?.stats.framesOut ?? 0
    }
    return { consensus, entry }
  }

  /** Submit at `rate` per second for `secs`, starting at wall time `startAt`; then wait 2 s. */
  async submit(rate: number, secs: number, startAt: number): Promise<{ submitted: number; finality: number[]; epochChange: number[]; cpuMs: number; elapsed: number; verifies: number }> {
    for (const d of this.daemons) {
      d.replica.finality.length = 0
      d.replica.finalityEpochChange.length = 0
    }
    await sleep(Math.max(0, startAt - Date.now()))
    const cpu0 = process.cpuUsage()
    const verifies0 = nativeVerifyCount()
    const end = startAt + secs * 1000
    let submitted = 0
    let i = 0
    // Open loop: the k-th entry is due at startAt + k / rate, however long the last one took.
    while (Date.now() < end) {
      const d = this.daemons[i++ % this.daemons.length] as Daemon
      const r = await d.replica.submitOwn({ kind: 'announce', addrs: [`/ip4/127.0.0.1/tcp/${1000 + (submitted % 60000)}`] })
      if (r.status === 'ok') submitted++
      await sleep(Math.max(0, startAt + (i * 1000) / rate - Date.now()))
    }
    await sleep(2000) // let the last ones land
    const cpu = process.cpuUsage(cpu0)
    return { submitted, finality: this.daemons.flatMap((d) => d.replica.finality), epochChange: this.daemons.flatMap((d) => d.replica.finalityEpochChange), cpuMs: (cpu.user + cpu.system) / 1000, elapsed: (Date.now() - startAt) / 1000, verifies: nativeVerifyCount() - verifies0 }
  }

  async stop(): Promise<void> {
    for (const d of this.daemons) await d.stop()
  }

  /** Stop the last `k` daemons (--down); the rest run on. */
  async stopLast(k: number): Promise<void> {
    for (const d of this.daemons.splice(this.daemons.length - k, k)) await d.stop()
  }
}

type Request =
  | { t: 'start'; dir: string; genesis: string; seeds: string[]; indices: number[]; bootstrap: string[] }
  | { t: 'probe' }
  | { t: 'submit'; rate: number; seconds: number; startAt: number }
  | { t: 'down'; count: number }
  | { t: 'stop' }

/** Worker process: runs one Group on the parent's orders (IPC), one answer per request. */
async function child(): Promise<void> {
  let g: Group | null = null
  process.on('message', (m: Request) => {
    void (async () => {
      if (m.t === 'start') {
        g = new Group(m.dir, fromHex(m.genesis), m.seeds.map(fromHex))
        process.send!({ addrs: await g.start(m.indices, m.bootstrap) })
      } else if (m.t === 'probe') {
        process.send!({ minHeight: g!.minHeight(), peersMin: g!.peersMin(), view: g!.view(), epoch: g!.epoch(), frames: g!.frames() })
      } else if (m.t === 'submit') {
        process.send!(await g!.submit(m.rate, m.seconds, m.startAt))
      } else if (m.t === 'down') {
        await g!.stopLast(m.count)
        process.send!({ down: m.count })
      } else {
        await g?.stop()
        process.send!({ stopped: true }, () => process.exit(0))
      }
    })()
  })
}

/** A Group in a worker process, driven over IPC. */
class Remote {
  private readonly proc: ChildProcess
  private readonly answers: Array<(v: unknown) => void> = []
  constructor() {
    this.proc = fork(import.meta.filename, ['--child', '--relay', relay], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.proc.on('message', (m) => this.answers.shift()?.(m))
  }
  ask<T>(req: Request): Promise<T> {
    return new Promise((resolve) => {
      this.answers.push(resolve as (v: unknown) => void)
      this.proc.send(req)
    })
  }
  /** After 'stop': let the worker exit by itself (it writes its --cpu-prof profile then), for at
   * most 10 s, then make sure it is gone. */
  async kill(): Promise<void> {
    if (this.proc.exitCode === null) await Promise.race([new Promise((r) => this.proc.once('exit', r)), sleep(10_000)])
    this.proc.kill('SIGKILL')
  }
}

async function run(n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `troth-bench-${n}-`))
  const seeds = Array.from({ length: n }, (_, i) => sha256(new TextEncoder().encode(`bench ${i}`)))
  const genesis = encodeGenesis({ version: 1, name: 'bench', time: Date.now() - 1000, founders: seeds.map((s, i) => ({ key: publicKeyOf(s), name: `b${i}`, request: null })), policy: { epochBlocks: 200 } })
  const p = Math.max(1, Math.min(procs, n))
  const shares = Array.from({ length: p }, (_, k) => Array.from({ length: n }, (_, i) => i).filter((i) => i % p === k))
  const local = p === 1 ? new Group(dir, genesis, seeds) : null
  const remotes = p === 1 ? [] : shares.map(() => new Remote())
  try {
    type Probe = { minHeight: number; peersMin: number; view: number; epoch: number; frames: { consensus: number; entry: number } }
    const probe = async (): Promise<Probe> => {
      if (local !== null) return { minHeight: local.minHeight(), peersMin: local.peersMin(), view: local.view(), epoch: local.epoch(), frames: local.frames() }
      const all = await Promise.all(remotes.map((r) => r.ask<Probe>({ t: 'probe' })))
      const sum = (k: 'consensus' | 'entry'): number => all.reduce((s, a) => s + a.frames[k], 0)
      return { minHeight: Math.min(...all.map((a) => a.minHeight)), peersMin: Math.min(...all.map((a) => a.peersMin)), view: all[0]!.view, epoch: all[0]!.epoch, frames: { consensus: sum('consensus'), entry: sum('entry') } }
    }
    let addrs: string[] = []
    if (local !== null) addrs = await local.start(shares[0]!, [])
    else for (const [k, r] of remotes.entries()) addrs.push(...(await r.ask<{ addrs: string[] }>({ t: 'start', dir, genesis: toHex(genesis), seeds: seeds.map(toHex), indices: shares[k]!, bootstrap: addrs })).addrs)
    // Warm up: wait until every node has finalized a few blocks.
    const t0 = Date.now()
    while ((await probe()).minHeight < 5 && Date.now() - t0 < 60_000) await sleep(100)
    if (DOWN > 0) {
      if (local !== null) await local.stopLast(DOWN)
      else await remotes.at(-1)!.ask({ t: 'down', count: DOWN })
    }
    // Then the same load for WARM_S seconds, not counted: the first seconds of a process are
    // slower (JIT, connection windows), and the figures are for a node that has been running.
    const warmAt = Date.now() + 200
    if (local !== null) await local.submit(RATE_PER_S, WARM_S, warmAt)
    else await Promise.all(remotes.map((r, k) => r.ask({ t: 'submit', rate: (RATE_PER_S * shares[k]!.length) / n, seconds: WARM_S, startAt: warmAt })))
    const before = await probe()
    const startAt = Date.now() + 200
    const results = local !== null
      ? [await local.submit(RATE_PER_S, seconds, startAt)]
      : await Promise.all(remotes.map((r, k) => r.ask<Awaited<ReturnType<Group['submit']>>>({ t: 'submit', rate: (RATE_PER_S * shares[k]!.length) / n, seconds, startAt })))
    const after = await probe()
    const elapsed = Math.max(...results.map((r) => r.elapsed))
    const cpuMs = results.reduce((s, r) => s + r.cpuMs, 0)
    const verifies = results.reduce((s, r) => s + r.verifies, 0)
    const submitted = results.reduce((s, r) => s + r.submitted, 0)
    const lat = results.flatMap((r) => r.finality).sort((a, b) => a - b)
    // Entries of an epoch's last block and the next epoch's first two: what an epoch change costs.
    const change = results.flatMap((r) => r.epochChange).sort((a, b) => a - b)
    // Views run at node 0 over the run (an epoch restarts the count: then n/a), and the CPU time of the processes that hold the daemons: cpu_per_wall near
    // the number of processes means their cores were saturated.
    const views = after.epoch === before.epoch ? after.view - before.view : NaN
    const blocks = after.minHeight - before.minHeight
    console.log(
      `nodes=${n} procs=${p} relay=${relayFor(relay, n)}${DOWN > 0 ? ` down=${DOWN}` : ''} submitted=${submitted} finalized=${lat.length} finality_p50_ms=${pct(lat, 0.5)} finality_p99_ms=${pct(lat, 0.99)} ` +
        `max_ms=${lat.at(-1)} epoch_change_entries=${change.length} epoch_change_p50_ms=${pct(change, 0.5)} epoch_change_max_ms=${change.at(-1) ?? NaN} entries_per_s=${(lat.length / elapsed).toFixed(1)} blocks=${blocks} blocks_per_s=${(blocks / elapsed).toFixed(1)} ` +
        `views=${Number.isNaN(views) ? 'n/a' : views} cpu_ms_per_view=${Number.isNaN(views) || views === 0 ? 'n/a' : (cpuMs / views).toFixed(0)} cpu_ms_per_block=${blocks > 0 ? (cpuMs / blocks).toFixed(0) : 'n/a'} cpu_per_wall=${(cpuMs / 1000 / elapsed).toFixed(2)} ` +
        // Signature checks that reached OpenSSL: daemons of one process share its cache of
        // verified signatures (identity/sign.ts), so a signature another daemon there checked
        // is free; one node a machine, each checks at least verifications_per_view_min itself.
        `sig_checks_per_block=${blocks > 0 ? (verifies / blocks).toFixed(0) : 'n/a'} ` +
        `frames_per_block=${blocks > 0 ? ((after.frames.consensus - before.frames.consensus) / blocks).toFixed(0) : 'n/a'}+${blocks > 0 ? ((after.frames.entry - before.frames.entry) / blocks).toFixed(0) : 'n/a'} (consensus+entries, all nodes) ` +
        `peers_min=${before.peersMin}/${after.peersMin} (of ${n - 1 - DOWN}, at start/end) load=${(await import('node:os')).loadavg()[0]!.toFixed(2)}`,
    )
  } finally {
    if (local !== null) await local.stop()
    await Promise.all(remotes.map((r) => Promise.race([r.ask({ t: 'stop' }), sleep(10_000)])))
    await Promise.all(remotes.map((r) => r.kill()))
    rmSync(dir, { recursive: true, force: true })
  }
}

if (args.includes('--child')) {
  await child()
} else {
  // A view at n equal-weight nodes needs, at the least, every node to check two quorums of
  // signatures (NOTARIZE and FINALIZE): 2 · n · (⌊2n/3⌋ + 1) verifications, shown as a CPU floor
  // for nodes that each run alone. Daemons sharing a process share its signature cache: compare
  // sig_checks_per_block, what this run's processes actually checked.
  const rate0 = verifyRate()
  console.log(`ed25519_native_verify_per_s=${rate0} rate_per_s=${RATE_PER_S} seconds=${seconds} procs=${procs}`)
  for (const n of sizes.length > 0 ? sizes : [4, 16]) {
    const verifies = 2 * n * (Math.floor((2 * n) / 3) + 1)
    console.log(`nodes=${n} verifications_per_view_min=${verifies} verify_ms_per_view_min=${((verifies / rate0) * 1000).toFixed(1)}`)
  }
  for (const n of sizes.length > 0 ? sizes : [4, 16]) {
    for (const r of RELAYS) {
      relay = r
      await run(n)
    }
  }
  console.log(`ed25519_native_verify_per_s=${verifyRate()} (after)`)
  process.exit(0)
}
