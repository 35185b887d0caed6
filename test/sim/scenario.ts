// One randomized run: faults and byzantine weight below 1/3, chosen by the seed. Used by the
// seed sweeps (CI runs SIM_SEEDS, default 200; set SIM_SEEDS=5000 for a long run).

import { Rng } from './rng.ts'
import { Sim, type Byzantine } from './sim.ts'

const KINDS: Byzantine[] = ['equivocator', 'double-voter', 'nullify-finalize', 'forger', 'wrong-epoch', 'replayer', 'silent-leader', 'withholder']

export interface ScenarioResult {
  readonly hash: string
  readonly heights: number[]
  readonly grewAfterHeal: boolean
  readonly summary: string
}

export async function scenario(seed: number): Promise<ScenarioResult> {
  const pick = new Rng(seed ^ 0x5eed)
  const n = 4 + pick.int(4) // 4..7
  const f = Math.floor((n - 1) / 3) // byzantine count with weight < 1/3
  const byzCount = pick.int(f + 1)
  const byzantine = Array.from({ length: byzCount }, (_, i) => ({ index: n - 1 - i, kind: pick.pick(KINDS) }))
  const sim = new Sim({
    seed,
    nodes: n,
    byzantine,
    epochBlocks: 6 + pick.int(10),
    delayMs: [1, 5 + pick.int(40)],
    loss: pick.chance(0.5) ? pick.int(8) / 100 : 0,
    idleMs: 100 + pick.int(200),
    // Mostly as the daemon runs; a quarter of the seeds with every vote to every peer.
    relay: pick.chance(0.25) ? 'all' : 'collector',
  })
  await sim.startAll()
  const honest = sim.honest().map((h) => h.index)
  // Crash one honest node only if that keeps the faulty weight below 1/3.
  const crashable = byzCount < f ? pick.pick(honest) : -1
  for (let step = 0; step < 12; step++) {
    await sim.submit(pick.pick(honest), 1 + pick.int(60))
    if (step === 3 && crashable >= 0) sim.crash(crashable)
    if (step === 5) {
      const cut = 1 + pick.int(n - 1)
      const order = [...sim.nodes.keys()].sort(() => pick.next() - 0.5)
      sim.partition([order.slice(0, cut), order.slice(cut)])
    }
    if (step === 7) {
      sim.heal()
      if (crashable >= 0) await sim.start(crashable)
    }
    await sim.runFor(300 + pick.int(400))
  }
  const atHeal = sim.minHeight()
  await sim.runFor(4000)
  sim.checkSafety()
  sim.checkNoHonestEquivocation()
  if (sim.errors.length > 0) throw new Error(`seed ${seed}: replica error: ${sim.errors[0]}`)
  const heights = sim.nodes.map((x) => x.ledger.state.meta.height)
  return {
    hash: sim.eventHash(),
    heights,
    grewAfterHeal: sim.minHeight() > atHeal,
    summary: `seed ${seed}: n=${n} relay=${sim.opts.relay} byz=${byzantine.map((b) => b.kind).join('+') || 'none'} heights=${heights.join(',')} healed-from=${atHeal}`,
  }
}

export function seedCount(): number {
  const v = Number(process.env.SIM_SEEDS ?? '200')
  return Number.isSafeInteger(v) && v > 0 ? v : 200
}
