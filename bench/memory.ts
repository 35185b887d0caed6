// Memory of a node with a big ledger (issue 8: 1M entries and 10k members under 150 MB RSS).
// Builds the ledger once (bench/ledger-build.ts, cached), then measures, each in a fresh process
// started with --expose-gc, the resident set size after a full GC:
//   baseline  the process with troth's modules loaded and nothing opened;
//   open      LedgerStore.open, as the daemon opens it: the whole state is read into memory;
//   daemon    Daemon.start on a copy of the data dir (libp2p host, replica, consensus engine,
//             obligations), then left running for --run-seconds, alone, so no block is finalized.
// and what the state is made of: live heap per member, per snapshot, per policy vote.
//
// 10,000 members cannot be founders (GENESIS_FOUNDERS_MAX = 1,024): 1,024 founders induct the
// other 8,976, up to --inductions-per-epoch a epoch, then the entries follow: announcements, with
// --seals seals and --votes policy votes spread among them.
//
// Usage: node bench/memory.ts [--entries 1000000] [--members 10000] [--founders 1024]
//          [--seals 1000] [--votes 10000] [--block-entries 1000] [--epoch-blocks 100]
//          [--inductions-per-epoch 1000] [--run-seconds 10] [--cache DIR] [--build-only]

import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { getHeapSpaceStatistics } from 'node:v8'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encode } from '../src/ledger/encoding.ts'
import { stateRecords } from '../src/ledger/state.ts'
import { LedgerStore } from '../src/ledger/store.ts'
import { Daemon } from '../src/node/daemon.ts'
import { ledgerPath } from '../src/node/data-dir.ts'
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
const RUN_SECONDS = num('run-seconds', 10)
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

function statusMb(field: string): number {
  try {
    const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))
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
  if (name === 'baseline') return sample()
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
  if (name === 'daemon') {
    const dir = mkdtempSync(join(tmpdir(), 'troth-bench-memory-'))
    try {
      cpSync(source, join(dir, 'n0'), { recursive: true })
      const genesis = await genesisOf(join(dir, 'n0'))
      const before = sample()
      const t0 = performance.now()
      const d = await Daemon.start({ data: join(dir, 'n0'), seed: memberSeed(0), genesis, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], idleMs: 1000, deltaMs: 250, log: () => undefined, control: false })
      const startMs = performance.now() - t0
      let peakMb = 0
      const end = performance.now() + RUN_SECONDS * 1000
      while (performance.now() < end) {
        peakMb = Math.max(peakMb, process.memoryUsage().rss / MB)
        await sleep(100)
      }
      const running = sample({ startMs: Math.round(startMs), peakRssUncollectedMb: peakMb, rssBeforeMb: before.rssMb, height: d.store.state.meta.height })
      await d.stop()
      return running
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  throw new Error(`unknown phase ${name}`)
}

const phase = arg(args, 'phase', '')
if (phase !== '') {
  console.log(JSON.stringify(await runPhase(phase)))
  process.exit(0)
}

function child(name: string, flags: readonly string[] = []): Sample {
  const out = execFileSync(process.execPath, ['--expose-gc', ...flags, process.argv[1] as string, ...args, '--phase', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  return JSON.parse(out.trim().split('\n').at(-1) as string) as Sample
}

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
// A smaller young generation: a V8 flag for the node's command line (NODE_OPTIONS), not code.
const SEMI = '--max-semi-space-size=1'
for (let i = 0; i < 2; i++) {
  const base = child('baseline')
  const open = child('open')
  const dmn = child('daemon')
  const small = child('daemon', [SEMI])
  const e = open.extra as Record<string, number>
  const dx = dmn.extra as Record<string, number>
  const each = (mbs: number, n: number): string => (n > 0 ? ((mbs * MB) / n).toFixed(0) : '0')
  console.log(`#${i + 1} baseline (modules loaded) ${split(base)} load=${load()}`)
  console.log(`#${i + 1} open ${split(open)} open_ms=${e.openMs} members=${e.members} snapshots=${e.snapshots} policy_votes=${e.policyVotes} height=${e.height} log_size=${e.logSize} load=${load()}`)
  console.log(
    `#${i + 1} state live heap: members=${mb(e.membersHeapMb as number)} MB (${each(e.membersHeapMb as number, e.members as number)} B each; stored ${each((e.memberRecordBytes as number) / MB, e.members as number)} B) ` +
      `snapshots=${mb(e.snapshotsHeapMb as number)} MB (${each(e.snapshotsHeapMb as number, e.snapshots as number)} B each) ` +
      `policy_votes=${mb(e.policyVotesHeapMb as number)} MB (${each(e.policyVotesHeapMb as number, e.policyVotes as number)} B each)`,
  )
  console.log(
    `#${i + 1} daemon ${split(dmn)} peak_rss_mb=${mb(dx.peakRssUncollectedMb as number)} start_ms=${dx.startMs} ran_s=${RUN_SECONDS} ` +
      `${dmn.rssMb <= GOAL_MB ? 'under' : 'OVER'} the ${GOAL_MB} MB goal load=${load()}`,
  )
  console.log(`#${i + 1} daemon ${SEMI} ${split(small)} peak_rss_mb=${mb((small.extra as Record<string, number>).peakRssUncollectedMb as number)} ${small.rssMb <= GOAL_MB ? 'under' : 'OVER'} the ${GOAL_MB} MB goal load=${load()}`)
}
process.exit(0)
