// A fresh node starts from a sealed checkpoint on a live cluster (docs/consensus.md "Starting from
// a sealed checkpoint"): four founders run a few epochs and induct a fifth member; its node starts
// with --sync checkpoint, adopts the newest sealed checkpoint without fetching any block below it,
// catches up, agrees with the others, and carries the cluster when a founder stops (its votes and
// cosignatures count); it proves entries after its base and refuses older ones by name; it reopens
// after SIGTERM and after SIGKILL.

import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LedgerStore } from '../../src/ledger/store.ts'
import { ledgerPath } from '../../src/node/data-dir.ts'
import { troth, type Run } from '../cli/helpers.ts'
import { Cluster } from './cluster.ts'

const POLICY = { epochBlocks: 10, inductionWindowMs: 0, inductionWindowFloorMs: 0 }

describe('a fresh node starts from a sealed checkpoint', () => {
  let c: Cluster
  let n = -1
  const run = (i: number, args: readonly string[]): Run => troth([...args, '--data', c.members[i]!.data])
  const events = (i: number, event: string): Array<Record<string, unknown>> =>
    c.members[i]!.output.split('\n').filter((l) => l.includes(`"event":"${event}"`)).map((l) => JSON.parse(l) as Record<string, unknown>)
  const latestSealed = (i: number): number => c.json<{ epoch: number }>(i, 'checkpoint')?.epoch ?? -1

  beforeAll(async () => {
    c = new Cluster(4, POLICY)
    await c.startAll()
    await c.until('first blocks', () => c.heights([0, 1, 2, 3]).every((h) => h >= 2))
  }, 120_000)
  afterAll(async () => {
    await c.destroy()
  })

  it('an inducted member adopts the newest sealed checkpoint, fetches no block below it, catches up, votes and cosigns, proves from its base, and reopens', async () => {
    // Induct the fifth member while its node is not running: two founders vouch.
    n = c.addNode('newbie')
    const file = join(c.dir, 'newbie.request')
    expect(troth(['request', '--data', c.members[n]!.data, '--genesis', c.genesis, '--out', file]).code).toBe(0)
    expect(run(0, ['induct', file]).code).toBe(0)
    expect(run(1, ['induct', file]).code).toBe(0)
    const id = c.members[n]!.id
    await c.until('the newbie active', () => c.status(0)?.members.find((m) => m.id === id)?.status === 'active', 90_000)
    const joined = c.status(0)!.epoch
    // A sealed checkpoint after the change of members: the member chain has a step for it.
    await c.until('a sealed checkpoint after the induction', () => latestSealed(0) >= joined + 1, 90_000)

    await c.start(n, { TROTH_LOG_LEVEL: 'debug' }, ['--sync', 'checkpoint'])
    const adopted = events(n, 'sealed.adopted')
    expect(adopted, c.members[n]!.output.slice(-2000)).toHaveLength(1)
    const base = adopted[0] as { epoch: number; height: number; logSize: number }
    expect(base.epoch).toBeGreaterThanOrEqual(joined)
    expect(events(n, 'sealed.fallback')).toHaveLength(0)
    expect(events(n, 'sealed.refused')).toHaveLength(0)
    expect(c.status(n)?.base).toMatchObject({ epoch: base.epoch, height: base.height, logSize: base.logSize })

    // Catches up to the others and agrees with them (same block, log size and root at a height).
    await c.until('the newbie in agreement', () => c.agree([0, 1, 2, 3, n]), 90_000)
    // No block below the base was asked for: the adoption asks for the base block itself, block
    // sync (if the engine did not catch up by itself) from above it. Checked again at the end,
    // over the restarts too.
    const noneBelow = (): void => {
      const asked = events(n, 'sync.ask').map((e) => Number(e.from))
      expect(asked[0]).toBe(base.height)
      for (const from of asked.slice(1)) expect(from).toBeGreaterThan(base.height)
      for (const e of events(n, 'synced')) expect(Number(e.height) - Number(e.blocks) + 1).toBeGreaterThan(base.height)
    }
    noneBelow()

    // Carry the cluster: with a founder stopped, 4 of the 5 members' weight is exactly what a quorum
    // needs, so finality and sealing go on only with the newbie's votes and cosignatures.
    await c.stop(3)
    const h0 = c.status(0)!.height
    const e0 = c.status(0)!.epoch
    await c.until('finality without n3', () => (c.status(0)?.height ?? 0) >= h0 + 12, 90_000)
    await c.until('a checkpoint sealed without n3', () => latestSealed(0) >= e0, 90_000)
    const note = c.json<{ epoch: number; note: string }>(0, 'checkpoint')!.note
    expect(note).toContain(`— ${id} `)
    // It cosigned only after checking that each checkpoint extends its base (consensus.md step 2).
    expect(events(n, 'checkpoint.inconsistent')).toHaveLength(0)
    expect(events(n, 'checkpoint.sealed').length).toBeGreaterThan(0)
    expect(events(0, 'penalty').filter((p) => String(p.reason).includes('cosignature'))).toHaveLength(0)

    // Proofs: an entry after its base verifies offline from the genesis; one below is refused by name.
    const after = c.status(n)!
    const proofFile = join(c.dir, 'after-base.tlog-proof')
    await c.until('a sealed checkpoint on the newbie past its base', () => latestSealed(n) > base.epoch, 60_000)
    const proved = run(n, ['prove', '--entry', String(base.logSize), '--out', proofFile])
    expect(proved.code, proved.stderr).toBe(0)
    const verified = troth(['verify', proofFile, '--genesis', c.genesis])
    expect(verified.code, verified.stdout + verified.stderr).toBe(0)
    const old = run(n, ['prove', '--entry', '1', '--out', join(c.dir, 'old.tlog-proof')])
    expect(old.code).toBe(1)
    expect(old.stderr).toMatch(new RegExp(`started from the sealed checkpoint of epoch ${base.epoch} `))
    expect(after.logSize).toBeGreaterThan(base.logSize)

    // Reopen after a clean stop and after a crash: it picks up where it was and keeps agreeing.
    await c.start(3)
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      await c.stop(n, signal)
      // Down for a few blocks, so that it has blocks to sync when it is back.
      const down = c.status(0)!.height
      await c.until('the others moving on', () => (c.status(0)?.height ?? 0) >= down + 5, 60_000)
      await c.start(n, { TROTH_LOG_LEVEL: 'debug' })
      const h = c.status(0)!.height
      await c.until(`the newbie back after ${signal}`, () => (c.status(n)?.height ?? 0) >= h && c.agree([0, 1, 2, n]), 90_000)
    }
    expect(events(n, 'sealed.adopted')).toHaveLength(1)
    noneBelow()
    expect(events(n, 'sync.ask').length).toBeGreaterThan(1)
    await c.stop(n)
    const store = await LedgerStore.open(ledgerPath(c.members[n]!.data))
    expect(store.base?.height).toBe(base.height)
    expect(await store.block(base.height - 1)).toBeUndefined()
    expect(await store.block(1)).toBeUndefined()
    expect(await store.block(base.height)).toBeDefined()
    expect(await store.block(base.height + 1)).toBeDefined()
    await store.close()
  }, 600_000)
})
