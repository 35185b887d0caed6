// Figures for the obligations rules (DESIGN.md §5.1, §5.2; docs/obligations.md). Prints, asserts
// nothing: each member's share of audit duties (and of replicas) against its share of weight over
// many epochs, the fraction of replicas that move per induction and per exile, the chance that a
// replica missing 10% of its chunks is caught within 10 epochs, and the time to assign one epoch.
//
// Usage: node bench/obligations.ts [--sizes 50,1000] [--epochs 1000] [--snapshots 200]
//          [--placements N] [--moves 10] [--trials 10000] [--runs 21] [--jobs J]
// Smaller numbers scale it down, e.g. --epochs 100 --trials 1000. The share runs (one per size and
// weight mode) go to J worker threads (default: the machine's parallelism); timing runs alone.

import { availableParallelism } from 'node:os'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { encode } from '../src/ledger/encoding.ts'
import { sha256 } from '../src/ledger/hash.ts'
import { PARAMS } from '../src/ledger/policy.ts'
import { auditAssignments, replicasFor, shareOfDuties, tallyDuties, type AuditMember, type AuditSnapshot, type DutyShares } from '../src/obligation/index.ts'

const args = process.argv.slice(2)
function arg(name: string, fallback: string): string {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && at + 1 < args.length ? (args[at + 1] as string) : fallback
}
const SIZES = arg('sizes', '50,1000').split(',').map(Number)
const OPTIONS: Options = {
  epochs: Number(arg('epochs', '1000')),
  snapshots: Number(arg('snapshots', '200')),
  placements: Number(arg('placements', '0')), // 0: min(10000, 10^6 / n)
  moves: Number(arg('moves', '10')),
}
const TRIALS = Number(arg('trials', '10000'))
const RUNS = Number(arg('runs', '21'))
const JOBS = Math.max(1, Number(arg('jobs', String(availableParallelism()))))
const TIMING_SNAPSHOTS = 300

const REPLICAS = PARAMS.replicationTarget.default // 4
const AUDITORS = PARAMS.auditorsPerReplica.default // 2
const CHUNKS_PER_AUDIT = PARAMS.chunksPerAudit.default // 4
const FLOOR = PARAMS.standingFloor.default // 600

/** mulberry32: the bench's only randomness, seeded, so two runs print the same figures. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

const idOf = (i: number): string => `troth1m${String(i).padStart(5, '0')}`
const pct = (x: number, digits = 2): string => `${(100 * x).toFixed(digits)}%`
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

type Mode = 'equal' | 'mixed'

/** n members; the first 4 are founders, every later one has 2 sponsors among earlier members. */
function cooperative(n: number, mode: Mode, seed: number): AuditMember[] {
  const rand = rng(seed)
  return Array.from({ length: n }, (_, i) => {
    const sponsors = new Set<string>()
    while (i >= 4 && sponsors.size < 2) sponsors.add(idOf(Math.floor(rand() * i)))
    return { id: idOf(i), weight: mode === 'mixed' && i % 2 === 1 ? 500 : 1000, sponsors: [...sponsors], standingScore: 900 }
  })
}

function snapshotsFor(members: readonly AuditMember[], tag: string, count: number): AuditSnapshot[] {
  return Array.from({ length: count }, (_, s) => {
    const root = sha256(encode(['bench/root', tag, s]))
    return { root, chunks: 1000, replicas: replicasFor(root, members, REPLICAS) }
  })
}

function describeShares(label: string, shares: DutyShares, members: readonly AuditMember[]): string {
  const meanDuties = shares.totalDuties / shares.rows.length
  const byWeight = new Map<number, number[]>()
  const weightOf = new Map(members.map((m) => [m.id, m.weight]))
  for (const r of shares.rows) {
    const w = weightOf.get(r.id) as number
    byWeight.set(w, [...(byWeight.get(w) ?? []), r.relDeviation])
  }
  const classes = [...byWeight]
    .sort((a, b) => b[0] - a[0])
    .map(([w, devs]) => `w=${w} mean ${pct(devs.reduce((t, d) => t + d, 0) / devs.length)}`)
    .join(', ')
  return (
    `  ${label}: max |dev| ${pct(shares.maxRelDeviation)}, p99 ${pct(shares.p99RelDeviation)}; by class: ${classes}; ` +
    `${meanDuties.toFixed(0)} per member (binomial 1σ ≈ ${pct(1 / Math.sqrt(meanDuties))})`
  )
}

/** Mean relative deviation of duty share, grouped by how many sponsor relations a member has. */
function byRelations(shares: DutyShares, members: readonly AuditMember[]): string {
  const relations = new Map<string, number>(members.map((m) => [m.id, m.sponsors.length]))
  for (const m of members) for (const s of m.sponsors) relations.set(s, (relations.get(s) ?? 0) + 1)
  const groups: ReadonlyArray<readonly [string, number, number]> = [['0–2', 0, 2], ['3–4', 3, 4], ['5–7', 5, 7], ['8–15', 8, 15], ['≥16', 16, Infinity]]
  return groups
    .map(([label, lo, hi]) => {
      const devs = shares.rows.filter((r) => {
        const k = relations.get(r.id) ?? 0
        return k >= lo && k <= hi
      })
      if (devs.length === 0) return ''
      return `${label}: ${pct(devs.reduce((t, r) => t + r.relDeviation, 0) / devs.length)} (${devs.length})`
    })
    .filter((x) => x !== '')
    .join(', ')
}

interface Options {
  readonly epochs: number
  readonly snapshots: number
  readonly placements: number
  readonly moves: number
}

/** Share of audit duties, replica load and replica moves for one cooperative; returns the lines to print. */
function shareRun(n: number, mode: Mode, o: Options): string[] {
  const lines: string[] = []
  const t0 = performance.now()
  const members = cooperative(n, mode, n)
  const snapshots = snapshotsFor(members, `${n}/${mode}`, o.snapshots)
  lines.push(`n = ${n}, ${mode} weights${mode === 'mixed' ? ' (1000 / 500 alternating)' : ''}`)

  // Audit duties over o.epochs epochs. The auditor draw does not depend on chunksPerAudit, so the
  // share runs challenge one chunk per audit (fewer hashes); the timing section uses the default.
  const tally = new Map<string, number>()
  const t1 = performance.now()
  for (let e = 0; e < o.epochs; e++) {
    const seed = sha256(encode(['bench/seed', n, mode, e]))
    tallyDuties(auditAssignments({ seed, epoch: e, members, snapshots, auditorsPerReplica: AUDITORS, chunksPerAudit: 1, standingFloor: FLOOR }), tally)
  }
  const perEpochMs = (performance.now() - t1) / o.epochs
  const shares = shareOfDuties(tally, members)
  lines.push(describeShares(`audit duties vs weight (${o.epochs} epochs × ${o.snapshots} snapshots × ${REPLICAS} replicas × ${AUDITORS} auditors)`, shares, members))
  lines.push(`  audit duties by sponsor relations (sponsors + inductees, who may not audit one another): ${byRelations(shares, members)}`)

  // Replica load and moves over `placements` snapshot roots. Each root's rendezvous ranking to
  // depth REPLICAS + 1 is computed once; induction of x then gives top-k(ranking ∪ {x}) and exile
  // of y gives top-k(ranking − {y}): the ranking is a total order on members, so these equal a
  // fresh replicasFor over the changed member set (test/obligation/assign.test.ts checks it).
  const placements = Math.max(1, o.placements > 0 ? o.placements : Math.min(10_000, Math.round(1_000_000 / n)))
  const ranked = Array.from({ length: placements }, (_, s) => {
    const root = sha256(encode(['bench/place', n, mode, s]))
    return { root, rank: replicasFor(root, members, REPLICAS + 1) }
  })
  const load = new Map<string, number>()
  for (const r of ranked) for (const id of r.rank.slice(0, REPLICAS)) load.set(id, (load.get(id) ?? 0) + 1)
  lines.push(describeShares(`replica load vs weight (${placements} snapshots)`, shareOfDuties(load, members), members))

  const byId = new Map(members.map((m) => [m.id, m]))
  const rand = rng(7 * n + (mode === 'mixed' ? 1 : 0))
  const inductions: number[] = []
  const exiles: number[] = []
  const touched: number[] = []
  const exiledShares: number[] = []
  const totalWeight = members.reduce((t, m) => t + m.weight, 0)
  for (let t = 0; t < o.moves; t++) {
    const newcomer = { id: `troth1new${t}`, weight: 1000 }
    const exiled = idOf(Math.floor(rand() * n))
    exiledShares.push((byId.get(exiled) as AuditMember).weight / totalWeight)
    let inSlots = 0
    let inSnapshots = 0
    let exSlots = 0
    for (const r of ranked) {
      const old = r.rank.slice(0, REPLICAS)
      const grown = replicasFor(r.root, [...r.rank.map((id) => byId.get(id) as AuditMember), newcomer], REPLICAS)
      const added = grown.filter((id) => !old.includes(id)).length
      inSlots += added
      if (added > 0) inSnapshots++
      const shrunk = r.rank.filter((id) => id !== exiled).slice(0, REPLICAS)
      exSlots += shrunk.filter((id) => !old.includes(id)).length
    }
    inductions.push(inSlots / (placements * REPLICAS))
    touched.push(inSnapshots / placements)
    exiles.push(exSlots / (placements * REPLICAS))
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
  if (o.moves > 0) {
    const total = members.reduce((t, m) => t + m.weight, 0)
    lines.push(
      `  replicas moved (${placements} snapshots, ${o.moves} trials): induction mean ${pct(mean(inductions), 3)} max ${pct(Math.max(...inductions), 3)} ` +
        `(newcomer's weight share ${pct(1000 / (total + 1000), 3)}); exile mean ${pct(mean(exiles), 3)} max ${pct(Math.max(...exiles), 3)} ` +
        `(exiled weight share ${pct(mean(exiledShares), 3)}); 1/n = ${pct(1 / n, 3)}, goal ≤ ${pct(1 / n + 0.05)}`,
    )
    lines.push(`  snapshots touched per induction: mean ${pct(mean(touched), 3)} (count × newcomer's weight share ≈ ${pct((REPLICAS * 1000) / (total + 1000), 3)})`)
  }
  lines.push(`  (${perEpochMs.toFixed(1)} ms per epoch with 1 chunk per audit; this run ${((performance.now() - t0) / 1000).toFixed(1)} s)`)
  return lines
}

/** A replica missing 10% of its chunks: how soon does some auditor challenge a missing one? */
function detection(): void {
  const t0 = performance.now()
  const n = 20
  const chunks = 1000
  const missingCount = chunks / 10
  const horizon = 10
  const members: AuditMember[] = Array.from({ length: n }, (_, i) => ({ id: idOf(i), weight: 1000, sponsors: [], standingScore: 900 }))
  const caughtBy = new Array<number>(horizon + 1).fill(0) // caughtBy[k] = trials caught within k epochs
  const rand = rng(12345)
  for (let t = 0; t < TRIALS; t++) {
    const replica = idOf(t % n)
    const root = sha256(encode(['bench/detect-root', t]))
    const missing = new Set<number>()
    while (missing.size < missingCount) missing.add(Math.floor(rand() * chunks))
    let caught = horizon + 1
    for (let e = 0; e < horizon && caught > horizon; e++) {
      const seed = sha256(encode(['bench/detect-seed', t, e]))
      const out = auditAssignments({ seed, epoch: e, members, snapshots: [{ root, chunks, replicas: [replica] }], auditorsPerReplica: AUDITORS, chunksPerAudit: CHUNKS_PER_AUDIT, standingFloor: FLOOR })
      if (out.some((a) => a.chunks.some((c) => missing.has(c)))) caught = e + 1
    }
    for (let k = caught; k <= horizon; k++) caughtBy[k] = (caughtBy[k] as number) + 1
  }
  console.log(`\nDetection: replica missing 10% of ${chunks} chunks, ${AUDITORS} auditors × ${CHUNKS_PER_AUDIT} chunks per epoch, ${TRIALS} trials (${((performance.now() - t0) / 1000).toFixed(1)} s)`)
  for (const k of [1, 2, 3, 5, 10]) {
    const analytic = 1 - 0.9 ** (AUDITORS * CHUNKS_PER_AUDIT * k)
    const sim = (caughtBy[k] as number) / TRIALS
    console.log(`  within ${String(k).padStart(2)} epoch(s): simulated ${sim.toFixed(5)} (${TRIALS - (caughtBy[k] as number)} missed), analytic 1 − 0.9^${AUDITORS * CHUNKS_PER_AUDIT * k} = ${analytic.toFixed(5)}`)
  }
}

function timing(): void {
  const n = 1000
  const members = cooperative(n, 'equal', 99)
  const snapshots = snapshotsFor(members, 'timing', TIMING_SNAPSHOTS)
  const times: number[] = []
  let assignments = 0
  for (let r = 0; r < RUNS; r++) {
    const seed = sha256(encode(['bench/timing', r]))
    const t = performance.now()
    assignments = auditAssignments({ seed, epoch: r, members, snapshots, auditorsPerReplica: AUDITORS, chunksPerAudit: CHUNKS_PER_AUDIT, standingFloor: FLOOR }).length
    times.push(performance.now() - t)
  }
  const placeRuns: number[] = []
  for (let r = 0; r < 21; r++) {
    const t = performance.now()
    replicasFor(sha256(encode(['bench/place-timing', r])), members, REPLICAS)
    placeRuns.push(performance.now() - t)
  }
  const pairs = TIMING_SNAPSHOTS * REPLICAS
  console.log(`\nTiming (n = ${n}, ${TIMING_SNAPSHOTS} snapshots, ${pairs} (snapshot, replica) pairs, ${AUDITORS} auditors × ${CHUNKS_PER_AUDIT} chunks, one thread)`)
  console.log(`  one epoch's audit assignment: median ${median(times).toFixed(1)} ms over ${RUNS} runs (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)}); ${assignments} assignments; goal ≤ 50 ms`)
  console.log(`  replicasFor, one snapshot over ${n} members: median ${median(placeRuns).toFixed(2)} ms`)
  console.log(`  a rendezvous scan of all members per pair (that cost × ${pairs} pairs) would take ≈ ${((median(placeRuns) * pairs) / 1000).toFixed(1)} s per epoch`)
}

interface Job {
  readonly n: number
  readonly mode: Mode
  readonly options: Options
}

async function main(): Promise<void> {
  const started = performance.now()
  console.log(`obligations bench: sizes ${SIZES.join(', ')}; ${OPTIONS.epochs} epochs × ${OPTIONS.snapshots} snapshots; ${OPTIONS.moves} move trials; ${TRIALS} detection trials; ${JOBS} job(s); node ${process.version}`)
  const jobs: Job[] = SIZES.flatMap((n) => (['equal', 'mixed'] as const).map((mode) => ({ n, mode, options: OPTIONS })))
  const results: string[][] = new Array(jobs.length)
  let next = 0
  const runOne = (job: Job): Promise<string[]> =>
    new Promise((resolve, reject) => {
      const w = new Worker(new URL(import.meta.url), { workerData: job })
      w.once('message', (lines: string[]) => resolve(lines))
      w.once('error', reject)
    })
  await Promise.all(
    Array.from({ length: Math.min(JOBS, jobs.length) }, async () => {
      while (next < jobs.length) {
        const at = next++
        results[at] = await runOne(jobs[at] as Job)
      }
    }),
  )
  for (const lines of results) console.log(`\n${lines.join('\n')}`)
  detection()
  timing()
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`)
}

if (isMainThread) {
  await main()
} else {
  const job = workerData as Job
  parentPort?.postMessage(shareRun(job.n, job.mode, job.options))
}
