// Memory of a node with a big ledger (issue 8: 1M entries and 10k members under 150 MB RSS).
// Builds the ledger once (bench/ledger-build.ts, cached), then measures:
//   daemon    the node as shipped: `bin/troth start` (as `npx troth start`, the systemd unit and the
//             tests run it: it re-executes itself with the daemon's Node flags and environment,
//             docs/operations.md "Memory") on a copy of the data dir, with an empty compile cache
//             (as under systemd's PrivateTmp), left alone for --run-seconds, so no block is
//             finalized; its RSS read from /proc/<pid>/status every 250 ms, as the OS counts it
//             (no forced GC); the flags and environment it ran with read from /proc/<pid>;
//   ladder    the same with each setting of the shipped runtime added in turn, from plain Node;
// and, each in a fresh process started with --expose-gc and the daemon's flags and environment,
// RSS after a full GC:
//   baseline  the process with troth's modules loaded and nothing opened (these phases strip the
//             types of the sources themselves: no compile cache);
//   open      LedgerStore.open, as the daemon opens it: the whole state is read into memory;
// and what the state is made of: live heap per member, per snapshot, per policy vote.
//
// 10,000 members cannot be founders (GENESIS_FOUNDERS_MAX = 1,024): 1,024 founders induct the
// other 8,976, up to --inductions-per-epoch a epoch, then the entries follow: announcements, with
// --seals seals and --votes policy votes spread among them.
//
// Usage: node bench/memory.ts [--entries 1000000] [--members 10000] [--founders 1024]
//          [--seals 1000] [--votes 10000] [--block-entries 1000] [--epoch-blocks 100]
//          [--inductions-per-epoch 1000] [--run-seconds 20] [--rounds 2] [--cache DIR]
//          [--build-only] [--shipped-only]

import { execFileSync, spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { getHeapSpaceStatistics } from 'node:v8'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encode } from '../src/ledger/encoding.ts'
import { stateRecords } from '../src/ledger/state.ts'
import { LedgerStore } from '../src/ledger/store.ts'
import { createKeystore } from '../src/identity/keystore.ts'
import { keyPath, ledgerPath } from '../src/node/data-dir.ts'
import { buildLedger, memberSeed, type BuildOptions } from './ledger-build.ts'
import { arg, collect, load, MB, sleep } from './support.ts'

const args = process.argv.slice(2)
const num = (name: string, fallback: number): number => Number(arg(args, name, String(fallback)))
const founders = num('founders', 1024)
const options: BuildOptions = {
  founders,
  members: num('members', 10_000),
  entries: num('entries', 1_000_000),
  seals: num('seals', 1000),
  votes: num('votes', 10_000),
  blockEntries: num('block-entries', 1000),
  epochBlocks: num('epoch-blocks', 100),
  inductionsPerEpoch: num('inductions-per-epoch', 1000),
  certs: false,
}
const RUN_SECONDS = num('run-seconds', 20)
const ROUNDS = num('rounds', 2)
const TROTH = join(import.meta.dirname, '..', 'bin', 'troth')
const GOAL_MB = 150
const CACHE = arg(args, 'cache', join(tmpdir(), 'troth-bench-cache'))
const o = options
const source = join(CACHE, `memory-m${o.members}-f${o.founders}-e${o.entries}-s${o.seals}-v${o.votes}-b${o.blockEntries}-ep${o.epochBlocks}-i${o.inductionsPerEpoch}`)

interface Sample {
  readonly rssMb: number
  /** RSS split (Linux /proc/self/status): private anonymous memory, and mapped files (mostly
   * the node binary's code, shared with every other node process and reclaimable). */
  readonly rssAnonMb: number
  readonly rssFileMb: number
  readonly heapUsedMb: number
  /** V8 heap spaces, committed MB: where the heap's RSS goes (new space is reserved for the young
   * generation whatever is live in it). */
  readonly spaces: Record<string, number>
  readonly externalMb: number
  readonly arrayBuffersMb: number
  readonly extra?: Record<string, number | string>
}

function statusMb(field: string, pid: number | 'self' = 'self'): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))
    return m === null ? NaN : Number(m[1]) / 1024
  } catch {
    return NaN
  }
}

function sample(extra?: Record<string, number | string>): Sample {
  collect()
  const m = process.memoryUsage()
  const spaces: Record<string, number> = {}
  for (const sp of getHeapSpaceStatistics()) spaces[sp.space_name.replace(/_space$/, '')] = sp.physical_space_size / MB
  const r = { rssMb: m.rss / MB, rssAnonMb: statusMb('RssAnon'), rssFileMb: statusMb('RssFile'), heapUsedMb: m.heapUsed / MB, spaces, externalMb: m.external / MB, arrayBuffersMb: m.arrayBuffers / MB }
  return extra === undefined ? r : { ...r, extra }
}

/** The genesis a data dir was built with (the store is closed and dropped before returning, so its
 * state does not count in what is measured next). */
async function genesisOf(data: string): Promise<Uint8Array> {
  const store = await LedgerStore.open(ledgerPath(data))
  try {
    return await store.genesis()
  } finally {
    await store.close()
  }
}

async function runPhase(name: string): Promise<Sample> {
  if (!collect()) throw new Error('run the phases with --expose-gc')
  if (name === 'baseline') {
    await import('../src/cli/main.ts') // everything `troth start` loads
    return sample()
  }
  if (name === 'open') {
    const before = sample()
    const t0 = performance.now()
    const store = await LedgerStore.open(ledgerPath(source))
    const openMs = performance.now() - t0
    const after = sample()
    const s = store.state
    let votes = 0
    for (const p of s.policy.values()) votes += p.votes.size
    const counts = { members: s.members.size, snapshots: s.snapshots.size, policyVotes: votes }
    // Stored bytes of the records, by kind: the state's size on the wire, for comparison.
    const bytes = new Map<string, number>()
    for (const [k, v] of stateRecords(s, true)) {
      const kind = k.split('/')[0] as string
      bytes.set(kind, (bytes.get(kind) ?? 0) + k.length + encode(v).length)
    }
    // Live heap of each part: drop a part from a copy-free view and measure what the GC frees.
    const heapOf = (drop: () => void): number => {
      const h0 = sample().heapUsedMb
      drop()
      return h0 - sample().heapUsedMb
    }
    const held = { members: s.members as Map<string, unknown>, snapshots: s.snapshots as Map<string, unknown>, policy: s.policy }
    await store.close()
    const afterClose = sample()
    const policyMb = heapOf(() => {
      for (const p of held.policy.values()) (p.votes as Map<string, number>).clear()
    })
    const snapshotsMb = heapOf(() => held.snapshots.clear())
    const membersMb = heapOf(() => held.members.clear())
    return {
      ...after,
      extra: {
        openMs: Math.round(openMs),
        height: s.meta.height,
        logSize: s.meta.logSize,
        ...counts,
        rssBeforeMb: before.rssMb,
        heapBeforeMb: before.heapUsedMb,
        rssAfterCloseMb: afterClose.rssMb,
        memberRecordBytes: bytes.get('member') ?? 0,
        snapshotRecordBytes: bytes.get('snapshot') ?? 0,
        policyRecordBytes: bytes.get('policy') ?? 0,
        membersHeapMb: membersMb,
        snapshotsHeapMb: snapshotsMb,
        policyVotesHeapMb: policyMb,
      },
    }
  }
  throw new Error(`unknown phase ${name}`)
}

const phase = arg(args, 'phase', '')
if (phase !== '') {
  console.log(JSON.stringify(await runPhase(phase)))
  process.exit(0)
}

/** The daemon's flags and environment as shipped (bin/troth), for the in-process phases. */
const SHIPPED_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size']
const SHIPPED_ENV = { MALLOC_ARENA_MAX: '2' }

function child(name: string): Sample {
  const out = execFileSync(process.execPath, ['--expose-gc', ...SHIPPED_FLAGS, process.argv[1] as string, ...args, '--phase', name], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...SHIPPED_ENV },
  })
  return JSON.parse(out.trim().split('\n').at(-1) as string) as Sample
}

interface Shipped {
  /** RSS at the end of the run, its split, and the highest RSS the process had (VmHWM, start-up
   * included: reading the state into memory). */
  readonly rssMb: number
  readonly rssAnonMb: number
  readonly rssFileMb: number
  readonly hwmMb: number
  /** RSS each second of the run, from `started` on. */
  readonly series: readonly number[]
  readonly startMs: number
  /** What the daemon ran with, from /proc/<pid>: its Node flags, and the environment it was given
   * that tunes the runtime. */
  readonly flags: string
  readonly env: string
  readonly exit: string
}

/** `troth start` as a user runs it (the tests spawn it the same way), on a fresh copy of the data
 * dir, with `env` over this process's environment (undefined removes a variable). */
async function runShipped(env: Record<string, string | undefined>): Promise<Shipped> {
  const dir = mkdtempSync(join(tmpdir(), 'troth-bench-memory-'))
  try {
    const data = join(dir, 'n0')
    cpSync(source, data, { recursive: true })
    const genesis = join(dir, 'genesis')
    writeFileSync(genesis, await genesisOf(data))
    createKeystore(keyPath(data), { seed: memberSeed(0), name: 'n0', plain: true })
    const merged = { ...process.env, NODE_COMPILE_CACHE: join(dir, 'compile-cache'), ...env }
    const childEnv = Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)) as Record<string, string>
    const p = spawn(process.execPath, [TROTH, 'start', '--data', data, '--genesis', genesis, '--listen', '/ip4/127.0.0.1/tcp/0', '--status', '127.0.0.1:0', '--idle-ms', '1000', '--delta-ms', '250', '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'inherit'], env: childEnv })
    const pid = p.pid as number
    let out = ''
    let exit = ''
    p.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-65536)))
    const exited = new Promise<void>((resolve) => p.once('exit', (code, sig) => ((exit = sig ?? String(code)), resolve())))
    const t0 = performance.now()
    while (!out.includes('"event":"started"')) {
      if (exit !== '') throw new Error(`troth start exited with ${exit}: ${out.slice(-500)}`)
      if (performance.now() - t0 > 120_000) throw new Error('troth start did not start in 120 s')
      await sleep(50)
    }
    const startMs = performance.now() - t0
    const series: number[] = []
    for (const end = performance.now() + RUN_SECONDS * 1000; performance.now() < end; ) {
      await sleep(1000)
      series.push(statusMb('VmRSS', pid))
    }
    const proc = (file: string): string[] => readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0').filter((x) => x !== '')
    const cmd = proc('cmdline')
    const flags = cmd.slice(1, cmd.indexOf(TROTH) >= 0 ? cmd.indexOf(TROTH) : cmd.findIndex((a) => a.endsWith('troth'))).join(' ')
    const tuning = proc('environ').filter((e) => /^(MALLOC_|GLIBC_TUNABLES|UV_THREADPOOL_SIZE|NODE_OPTIONS|NODE_DISABLE_COMPILE_CACHE|TROTH_NODE_FLAGS)/.test(e)).join(' ')
    const r = { rssMb: statusMb('VmRSS', pid), rssAnonMb: statusMb('RssAnon', pid), rssFileMb: statusMb('RssFile', pid), hwmMb: statusMb('VmHWM', pid), series, startMs: Math.round(startMs), flags, env: tuning }
    p.kill('SIGTERM')
    await exited
    return { ...r, exit }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** From plain Node to the node as shipped, one setting at a time (each row keeps the ones above). */
const LADDER: ReadonlyArray<readonly [string, Record<string, string | undefined>]> = [
  ['plain node (no re-execution, no compile cache)', { TROTH_NODE_FLAGS: 'off', NODE_DISABLE_COMPILE_CACHE: '1', MALLOC_ARENA_MAX: undefined }],
  ['+ --max-semi-space-size=1', { TROTH_NODE_FLAGS: 'off', NODE_DISABLE_COMPILE_CACHE: '1', MALLOC_ARENA_MAX: undefined, NODE_OPTIONS: '--max-semi-space-size=1' }],
  ['+ MALLOC_ARENA_MAX=2', { TROTH_NODE_FLAGS: 'off', NODE_DISABLE_COMPILE_CACHE: '1', MALLOC_ARENA_MAX: '2', NODE_OPTIONS: '--max-semi-space-size=1' }],
  ['+ compile cache (re-executed)', { TROTH_NODE_FLAGS: '--max-semi-space-size=1', MALLOC_ARENA_MAX: undefined }],
  ['+ --optimize-for-size: as shipped', { MALLOC_ARENA_MAX: undefined }],
  ['as shipped but --max-semi-space-size', { TROTH_NODE_FLAGS: '--optimize-for-size', MALLOC_ARENA_MAX: undefined }],
]

const mb = (x: number): string => x.toFixed(1)
console.log(`node=${process.version} goal_rss_mb=${GOAL_MB} load=${load()}`)
const built = await buildLedger(source, options, (l) => console.log(`build: ${l}`))
console.log(
  `ledger entries=${o.entries} members=${o.members} founders=${o.founders} seals=${o.seals} votes=${o.votes} block_entries=${o.blockEntries} epoch_blocks=${o.epochBlocks} ` +
    `height=${built.height} log_size=${built.logSize} build_s=${built.seconds === 0 ? 'cached' : built.seconds.toFixed(0)}${built.fromHeight > 0 && built.seconds > 0 ? ` (resumed at height ${built.fromHeight})` : ''} dir=${source}`,
)
if (args.includes('--build-only')) process.exit(0)
const du = execFileSync('du', ['-sm', ledgerPath(source)], { encoding: 'utf8' }).split('\t')[0]
console.log(`store_on_disk_mb=${du}`)

const split = (x: Sample): string =>
  `rss_mb=${mb(x.rssMb)} (anon ${mb(x.rssAnonMb)}, files ${mb(x.rssFileMb)}) heap_used_mb=${mb(x.heapUsedMb)} ` +
  `heap_committed_mb: new=${mb(x.spaces.new ?? NaN)} old=${mb(x.spaces.old ?? NaN)} code=${mb(x.spaces.code ?? NaN)} large=${mb(x.spaces.large_object ?? NaN)} external_mb=${mb(x.externalMb)}`
const shipped = (x: Shipped): string =>
  `rss_mb=${mb(x.rssMb)} (anon ${mb(x.rssAnonMb)}, files ${mb(x.rssFileMb)}) hwm_mb=${mb(x.hwmMb)} start_ms=${x.startMs} ran_s=${RUN_SECONDS} ` +
  `rss_each_s=[${x.series.map((v) => v.toFixed(0)).join(',')}] ${x.rssMb <= GOAL_MB ? 'under' : 'OVER'} the ${GOAL_MB} MB goal; ran with flags=[${x.flags}] env=[${x.env}] exit=${x.exit}`
const shippedOnly = args.includes('--shipped-only')
for (let i = 0; i < ROUNDS; i++) {
  const d = await runShipped({})
  console.log(`#${i + 1} daemon as shipped (bin/troth start) ${shipped(d)} load=${load()}`)
  if (shippedOnly) continue
  for (const [what, env] of LADDER) console.log(`#${i + 1} ladder ${what}: ${shipped(await runShipped(env))} load=${load()}`)
  const base = child('baseline')
  const open = child('open')
  const e = open.extra as Record<string, number>
  const each = (mbs: number, n: number): string => (n > 0 ? ((mbs * MB) / n).toFixed(0) : '0')
  console.log(`#${i + 1} baseline (modules loaded; flags ${SHIPPED_FLAGS.join(' ')}) ${split(base)} load=${load()}`)
  console.log(`#${i + 1} open ${split(open)} open_ms=${e.openMs} members=${e.members} snapshots=${e.snapshots} policy_votes=${e.policyVotes} height=${e.height} log_size=${e.logSize} load=${load()}`)
  console.log(
    `#${i + 1} state live heap: members=${mb(e.membersHeapMb as number)} MB (${each(e.membersHeapMb as number, e.members as number)} B each; stored ${each((e.memberRecordBytes as number) / MB, e.members as number)} B) ` +
      `snapshots=${mb(e.snapshotsHeapMb as number)} MB (${each(e.snapshotsHeapMb as number, e.snapshots as number)} B each) ` +
      `policy_votes=${mb(e.policyVotesHeapMb as number)} MB (${each(e.policyVotesHeapMb as number, e.policyVotes as number)} B each)`,
  )
}
process.exit(0)
