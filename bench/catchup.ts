// Catch-up of a fresh node (issue 8): how fast a node that starts from genesis gets through a
// ledger of N entries, against the native Ed25519 verify rate of this machine measured in the
// same run (one signature per entry, so the verify rate is the ceiling of any replay).
//
//   1. replay, as sync does it (Replica.applySynced): runs of finalized blocks ending in a
//      certified block, one epoch per run, at most 256 blocks; the certificate checked, every
//      block executed (applyBlock: each entry decoded, its signature verified, the state
//      transition), the run committed in one synced batch into a fresh LedgerStore; the time
//      inside the commits is the store's share;
//   2. execution alone (applyBlock, nothing stored), then every entry signature checked alone,
//      in the same process: the share of verification in execution;
//   3. the real path: a daemon serving the ledger and a fresh daemon catching up from it over
//      libp2p on 127.0.0.1 (both in this process: the server's work counts against the client);
//   4. a start from a sealed checkpoint (troth start --sync checkpoint): a fresh daemon adopts
//      the serving daemon's newest sealed checkpoint over libp2p (the audit proof of its
//      epoch.seal leaf verified from genesis, the last block's certificate, the frontier, the state
//      records and their root), then syncs blocks from there to the tip. The cached ledger ends at
//      an epoch's last block, so its newest sealed checkpoint is its tip.
//
// The ledger is built once (bench/ledger-build.ts) and cached under --cache.
// Usage: node bench/catchup.ts [--entries N] [--block-entries B] [--epoch-blocks E]
//          [--founders F] [--cache DIR] [--skip-net]

import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { applyBlock, type Applied } from '../src/ledger/apply.ts'
import { decodeBlock, type Block } from '../src/ledger/block.ts'
import { certFromCbor, certToCbor, checkCertificate, ValidatorSet, type Certificate } from '../src/ledger/consensus/messages.ts'
import { decode, encode } from '../src/ledger/encoding.ts'
import { decodeSignedEntry } from '../src/ledger/entry.ts'
import { verifyRaw } from '../src/identity/ed25519.ts'
import { domainMessage } from '../src/identity/sign.ts'
import { TAG } from '../src/identity/tags.ts'
import { genesisState } from '../src/ledger/genesis.ts'
import { stateRecords, type LedgerState } from '../src/ledger/state.ts'
import { LedgerStore } from '../src/ledger/store.ts'
import { Daemon } from '../src/node/daemon.ts'
import { ensureDataDir, ledgerPath } from '../src/node/data-dir.ts'
import { SYNC_BLOCKS_MAX, syncRun } from '../src/node/replica.ts'
import { buildLedger, memberSeed, type BuildOptions } from './ledger-build.ts'
import { arg, load, sleep, verifyRate } from './support.ts'

const args = process.argv.slice(2)
const options: BuildOptions = {
  founders: Number(arg(args, 'founders', '4')),
  members: Number(arg(args, 'founders', '4')),
  entries: Number(arg(args, 'entries', '100000')),
  seals: 0,
  votes: 0,
  blockEntries: Number(arg(args, 'block-entries', '100')),
  epochBlocks: Number(arg(args, 'epoch-blocks', '100')),
  inductionsPerEpoch: 0,
  certs: true,
}
const CACHE = arg(args, 'cache', join(tmpdir(), 'troth-bench-cache'))
const source = join(CACHE, `catchup-f${options.founders}-e${options.entries}-b${options.blockEntries}-ep${options.epochBlocks}`)

interface Run {
  readonly blocks: Uint8Array[]
  readonly cert: Certificate
}

/** The runs a syncing node receives, as Replica.serve('blocks') cuts them. */
async function readRuns(store: LedgerStore): Promise<Run[]> {
  const runs: Run[] = []
  const head = store.state.meta.height
  let from = 1
  while (from <= head) {
    const { blocks, top } = await syncRun(store, from)
    if (top < 0) throw new Error(`no certified block in [${from}, ${from + SYNC_BLOCKS_MAX})`)
    runs.push({ blocks, cert: certFromCbor(decode((await store.cert(top)) as Uint8Array, { bytesMax: 1 << 22 })) })
    from = top + 1
  }
  return runs
}

/** Replay as Replica.applySynced does; `commit` null: execution only. Returns the final state and
 * the seconds spent in the store's commits. */
async function replay(genesis: Uint8Array, runs: readonly Run[], commit: LedgerStore | null): Promise<{ state: LedgerState; commitS: number }> {
  let state = commit?.state ?? genesisState(genesis)
  let commitS = 0
  for (const run of runs) {
    const set = new ValidatorSet(state.epoch.number, state.epoch.validators)
    if (checkCertificate(state.meta.net, set, run.cert) !== 'ok') throw new Error('certificate refused')
    const chain: Array<{ block: Block; applied: Applied }> = []
    for (const bytes of run.blocks) {
      const block = decodeBlock(bytes)
      const r = applyBlock(state, block)
      if (!r.ok) throw new Error(`block ${block.height} refused: ${r.status} ${r.detail}`)
      chain.push({ block, applied: r })
      state = r.state
    }
    if (commit !== null) {
      const t = performance.now()
      await commit.commitChain(chain, encode(certToCbor(run.cert)))
      commitS += (performance.now() - t) / 1000
    }
  }
  return { state, commitS }
}

// Each measurement runs in a child process of its own, which first measures the native verify
// rate (the machine is shared, and the rate moves with its load): src/identity/sign.ts remembers
// the last 65,536 signatures it found valid, so a second pass in one process would skip checks.
const phase = arg(args, 'phase', '')

interface Result {
  readonly s: number
  readonly cpuS: number
  /** The native verify rate measured in the same process just before. */
  readonly verifyRate: number
  readonly height?: number
  readonly commitS?: number
  readonly verifyS?: number
  readonly firstSyncedS?: number
  /** Checkpoint start: from the daemon's start to the first offer, and from the offer to adopted. */
  readonly offeredS?: number
  readonly adoptS?: number
  readonly baseHeight?: number
}

async function runPhase(name: string, genesis: Uint8Array, runs: readonly Run[]): Promise<Result> {
  const rate = verifyRate()
  const c0 = process.cpuUsage()
  const cpuS = (): number => {
    const c = process.cpuUsage(c0)
    return (c.user + c.system) / 1e6
  }
  if (name === 'replay') {
    // Replay with commits into a fresh store, as sync does.
    const fresh = mkdtempSync(join(tmpdir(), 'troth-bench-catchup-'))
    try {
      const store = await LedgerStore.open(join(fresh, 'ledger'), genesis)
      const t0 = performance.now()
      const { commitS } = await replay(genesis, runs, store)
      const s = (performance.now() - t0) / 1000
      const height = store.state.meta.height
      await store.close()
      return { s, cpuS: cpuS(), verifyRate: rate, height, commitS }
    } finally {
      rmSync(fresh, { recursive: true, force: true })
    }
  }
  if (name === 'split') {
    // applyBlock over every run with nothing stored (signatures not seen before in this process),
    // then each entry's signature checked alone, through the same uncached path verify() takes
    // on a miss (domain-tagged message, native verify): the share of verification in execution.
    const t0 = performance.now()
    const { state } = await replay(genesis, runs, null)
    const s = (performance.now() - t0) / 1000
    const wires: Uint8Array[] = []
    for (const run of runs) for (const b of run.blocks) wires.push(...decodeBlock(b).entries)
    const t1 = performance.now()
    for (const w of wires) {
      // No member here rotated its key: the author's id is its key.
      const e = decodeSignedEntry(w)
      if (!verifyRaw(e.entry.author, domainMessage(TAG.entry, e.bytes), e.sig)) throw new Error('bad entry signature')
    }
    return { s, cpuS: cpuS(), verifyRate: rate, height: state.meta.height, verifyS: (performance.now() - t1) / 1000 }
  }
  /** A daemon on a copy of the ledger serves; a fresh daemon (`sync` its way) catches up from it
   * until it holds the server's height. Two of the four founders: no quorum, so the server's
   * ledger stands still. The fresh node would start catching up at the first message of a later
   * epoch it sees; it is told to at once. `onLine` sees the fresh daemon's log. */
  const fromServer = async (sync: 'replay' | 'checkpoint', onLine: (line: string) => void): Promise<{ s: number; t0: number; end: number; height: number; baseHeight: number }> => {
    const dir = mkdtempSync(join(tmpdir(), `troth-bench-catchup-${sync}-`))
    const daemons: Daemon[] = []
    try {
      cpSync(source, join(dir, 'a'), { recursive: true })
      const common = { genesis, listen: ['/ip4/127.0.0.1/tcp/0'], idleMs: 200, deltaMs: 50, log: () => undefined, control: false }
      const a = await Daemon.start({ ...common, data: join(dir, 'a'), seed: memberSeed(0), bootstrap: [] })
      daemons.push(a)
      ensureDataDir(join(dir, 'b'))
      const t0 = performance.now()
      const b = await Daemon.start({ ...common, data: join(dir, 'b'), seed: memberSeed(1), bootstrap: [a.host.addrs()[0] as string], sync, log: onLine })
      daemons.push(b)
      while (b.host.peers().length === 0 && performance.now() - t0 < 30_000) await sleep(5)
      const target = a.store.state.meta.height
      while (b.store.state.meta.height < target && performance.now() - t0 < 600_000) {
        b.replica.startCatchUp() // a no-op while one runs
        await sleep(20)
      }
      const end = performance.now()
      return { s: (end - t0) / 1000, t0, end, height: b.store.state.meta.height, baseHeight: b.store.base?.height ?? -1 }
    } finally {
      for (const d of daemons) await d.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
  if (name === 'net') {
    let firstSynced = 0
    const { s, end, height } = await fromServer('replay', (line) => {
      if (firstSynced === 0 && line.includes('"synced"')) firstSynced = performance.now()
    })
    return { s, cpuS: cpuS(), verifyRate: rate, height, firstSyncedS: firstSynced === 0 ? NaN : (end - firstSynced) / 1000 }
  }
  if (name === 'checkpoint') {
    let offered = 0
    let adopted = 0
    const { s, t0, height, baseHeight } = await fromServer('checkpoint', (line) => {
      if (offered === 0 && line.includes('"sealed.offered"')) offered = performance.now()
      if (line.includes('"sealed.adopted"')) adopted = performance.now()
    })
    return { s, cpuS: cpuS(), verifyRate: rate, height, offeredS: (offered - t0) / 1000, adoptS: (adopted - offered) / 1000, baseHeight }
  }
  throw new Error(`unknown phase ${name}`)
}

if (phase !== '') {
  const src = await LedgerStore.open(ledgerPath(source))
  const genesis = await src.genesis()
  const runs = await readRuns(src)
  await src.close()
  const r = await runPhase(phase, genesis, runs)
  console.log(JSON.stringify(r))
  process.exit(0)
}

function child(name: string): Result {
  const out = execFileSync(process.execPath, [...process.execArgv, process.argv[1] as string, ...args, '--phase', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 })
  return JSON.parse(out.trim().split('\n').at(-1) as string) as Result
}

console.log(`ed25519_native_verify_per_s=${verifyRate()} node=${process.version} load=${load()}`)
const built = await buildLedger(source, options, (l) => console.log(`build: ${l}`))
const src = await LedgerStore.open(ledgerPath(source))
const runs = await readRuns(src)
await src.close()
const blocks = runs.reduce((n, r) => n + r.blocks.length, 0)
const entries = options.entries
console.log(
  `ledger entries=${entries} founders=${options.founders} block_entries=${options.blockEntries} epoch_blocks=${options.epochBlocks} height=${built.height} ` +
    `sync_runs=${runs.length} build_s=${built.seconds === 0 ? 'cached' : built.seconds.toFixed(1)} dir=${source}`,
)
const ceiling = (r: Result): string => `${((100 * entries) / r.s / r.verifyRate).toFixed(0)}% of ${r.verifyRate}/s`

const median = (xs: readonly number[]): number => {
  const a = [...xs].sort((x, y) => x - y)
  return a.length === 0 ? NaN : a.length % 2 === 1 ? (a[(a.length - 1) / 2] as number) : ((a[a.length / 2 - 1] as number) + (a[a.length / 2] as number)) / 2
}
const replayS: number[] = []
const netS: number[] = []
for (let i = 0; i < 2; i++) {
  const r = child('replay')
  replayS.push(r.s)
  const commitS = r.commitS ?? NaN
  console.log(
    `replay+commit #${i + 1} s=${r.s.toFixed(2)} entries_per_s=${(entries / r.s).toFixed(0)} blocks_per_s=${(blocks / r.s).toFixed(0)} ` +
      `store_commits_s=${commitS.toFixed(2)} (${((100 * commitS) / r.s).toFixed(0)}%) cpu_per_wall=${(r.cpuS / r.s).toFixed(2)} of_verify_ceiling=${ceiling(r)} load=${load()}`,
  )
}
for (let i = 0; i < 2; i++) {
  const x = child('split')
  const v = x.verifyS ?? NaN
  console.log(
    `execute only #${i + 1} s=${x.s.toFixed(2)} entries_per_s=${(entries / x.s).toFixed(0)} of_verify_ceiling=${ceiling(x)}; ` +
      `entry signatures alone s=${v.toFixed(2)} (${((100 * v) / x.s).toFixed(0)}% of execution, ${(entries / v).toFixed(0)}/s) load=${load()}`,
  )
}

if (!args.includes('--skip-net')) {
  for (let i = 0; i < 2; i++) {
    const r = child('net')
    netS.push(r.s)
    console.log(
      `network catch-up #${i + 1} height=${r.height}/${built.height} s=${r.s.toFixed(2)} entries_per_s=${(entries / r.s).toFixed(0)} ` +
        `from_first_synced_run_s=${(r.firstSyncedS ?? NaN).toFixed(2)} cpu_per_wall=${(r.cpuS / r.s).toFixed(2)} of_verify_ceiling=${ceiling(r)} load=${load()}`,
    )
  }
}

// A start from the sealed checkpoint of the cached ledger (its tip), three times.
{
  const store = await LedgerStore.open(ledgerPath(source))
  const bytes = stateRecords(store.state, false).reduce((n, [k, val]) => n + k.length + encode(val).length, 0)
  await store.close()
  const ckptS: number[] = []
  for (let i = 0; i < 3; i++) {
    const r = child('checkpoint')
    ckptS.push(r.s)
    console.log(
      `checkpoint start #${i + 1} base_height=${r.baseHeight} height=${r.height}/${built.height} s=${r.s.toFixed(3)} ` +
        `to_first_offer_s=${(r.offeredS ?? NaN).toFixed(3)} offer_to_adopted_s=${(r.adoptS ?? NaN).toFixed(3)} state_records_bytes=${bytes} load=${load()}`,
    )
  }
  const m = median(ckptS)
  console.log(
    `checkpoint start median_s=${m.toFixed(3)} vs replay+commit median_s=${median(replayS).toFixed(2)} (${(median(replayS) / m).toFixed(0)}x)` +
      (netS.length > 0 ? ` vs network catch-up median_s=${median(netS).toFixed(2)} (${(median(netS) / m).toFixed(0)}x)` : '') + ` load=${load()}`,
  )
}
console.log(`ed25519_native_verify_per_s=${verifyRate()} (after) load=${load()}`)
process.exit(0)
