// Four founders started with the CLI on 127.0.0.1 (real TCP, noise, yamux, gossipsub).

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { troth } from '../cli/helpers.ts'
import { Cluster } from './cluster.ts'

describe('four founders over real libp2p', () => {
  let c: Cluster
  beforeAll(async () => {
    c = new Cluster(4, { epochBlocks: 20 })
    await c.startAll()
  }, 120_000)
  afterAll(async () => {
    await c.destroy()
  })

  it('finalize blocks; an entry submitted at one node is final on all four, with one log size and root', async () => {
    await c.until('first blocks', () => c.heights([0, 1, 2, 3]).every((h) => h >= 3))
    const vote = troth(['policy', 'vote', 'chunksPerAudit', '9', '--data', c.members[1]!.data])
    expect(vote.code, vote.stderr).toBe(0)
    const author = c.members[1]!.id
    await c.until('the entry final everywhere', () => [0, 1, 2, 3].every((i) => (c.status(i)?.members.find((m) => m.id === author)?.seq ?? 0) >= 1))
    await c.until('four equal logs', () => c.agree([0, 1, 2, 3]), 30_000)
    const s = c.status(0)!
    expect(s.logSize).toBeGreaterThanOrEqual(2)
    expect(s.peers).toHaveLength(3)
    // The sealed checkpoint of epoch 0 is there once the epoch ends.
    await c.until('a sealed checkpoint', () => troth(['checkpoint', '--data', c.members[0]!.data]).code === 0)
    expect(troth(['checkpoint', '--data', c.members[0]!.data]).stdout).toMatch(/^troth\/coop\/[0-9a-f]{64}\n\d+\n/)
  }, 120_000)

  it('one stopped: the rest keep finalizing; two stopped: no progress and no fork; restarted: all catch up and agree', async () => {
    await c.stop(3)
    const h0 = Math.max(...c.heights([0, 1, 2]))
    await c.until('progress with three of four', () => c.heights([0, 1, 2]).every((h) => h >= h0 + 5), 60_000)
    await c.stop(2)
    await new Promise((r) => setTimeout(r, 1500)) // let what was in flight land
    const stuck = c.heights([0, 1])
    await new Promise((r) => setTimeout(r, 4000))
    expect(c.heights([0, 1])).toEqual(stuck) // 2 of 4 is not more than 2/3 of the weight
    await c.until('the two halves agree', () => c.agree([0, 1]), 10_000)
    await c.start(2)
    await c.start(3)
    const top = Math.max(...stuck)
    await c.until('all four past the stall', () => c.heights([0, 1, 2, 3]).every((h) => h >= top + 3), 90_000)
    await c.until('four equal logs again', () => c.agree([0, 1, 2, 3]), 30_000)
  }, 240_000)

  it('a node killed with SIGKILL again and again restarts without ever signing conflicting votes', async () => {
    for (let k = 0; k < 8; k++) {
      await new Promise((r) => setTimeout(r, 300 + ((k * 211) % 700)))
      await c.stop(3, 'SIGKILL')
      await c.start(3)
    }
    const h = Math.max(...c.heights([0, 1, 2]))
    await c.until('the killed node catches up', () => (c.status(3)?.height ?? 0) >= h + 2, 90_000)
    await c.until('four equal logs', () => c.agree([0, 1, 2, 3]), 30_000)
    // An equivocation would be seen by the others' engines (conflicting signed votes), turned into
    // an evidence entry, and would exile node 3 at the next epoch. None of that happened.
    for (const m of c.members) expect(m.output).not.toMatch(/"event":"evidence"/)
    const s = c.status(0)!
    expect(s.members.find((m) => m.id === c.members[3]!.id)?.status).toBe('active')
    expect(s.members.every((m) => m.status === 'active')).toBe(true)
  }, 240_000)
})
