// Seed sweep, half 1 of 2 (two files so the two CI cores share the work). SIM_SEEDS sets the
// total number of seeds (default 200).

import { expect, it } from 'vitest'
import { scenario, seedCount } from './scenario.ts'

it('random faults and byzantine weight below 1/3: safe, never equivocating, live after healing', async () => {
  const total = seedCount()
  let ran = 0
  for (let seed = 1; seed <= total; seed += 2) {
    const r = await scenario(seed)
    expect(r.grewAfterHeal, r.summary).toBe(true)
    ran++
  }
  expect(ran).toBe(Math.floor((total - 1) / 2) + 1)
}, 1_800_000)
