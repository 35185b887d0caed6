// How votes travel between daemons over real libp2p (TCP, Noise, Yamux on 127.0.0.1): through
// the next leader ('collector') or all to all, and 'auto' choosing by the epoch's size. Counted
// on the direct consensus channels (docs/consensus.md "Votes through a collector").

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { publicKeyOf } from '../../src/identity/ed25519.ts'
import { encodeGenesis } from '../../src/ledger/genesis.ts'
import { sha256 } from '../../src/ledger/hash.ts'
import { Daemon } from '../../src/node/daemon.ts'
import { ensureDataDir } from '../../src/node/data-dir.ts'
import type { ReachTimes } from '../../src/node/reach.ts'
import { RELAY_ALL_MAX_VALIDATORS, relayFor } from '../../src/node/replica.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)()
})

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function until(what: string, ok: () => boolean, ms = 45_000): Promise<void> {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

async function cluster(n: number, relay: 'all' | 'collector' | 'auto', reach?: ReachTimes): Promise<Daemon[]> {
  const dir = mkdtempSync(join(tmpdir(), 'troth-relay-'))
  const seeds = Array.from({ length: n }, (_, i) => sha256(new TextEncoder().encode(`relay test ${i}`)))
  const genesis = encodeGenesis({ version: 1, name: 'relay', time: Date.now() - 1000, founders: seeds.map((s, i) => ({ key: publicKeyOf(s), name: `r${i}`, request: null })), policy: {} })
  const daemons: Daemon[] = []
  cleanups.push(async () => {
    for (const d of daemons) await d.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const addrs: string[] = []
  for (const [i, seed] of seeds.entries()) {
    ensureDataDir(join(dir, `n${i}`))
    // Δ = 250 ms: the collector's fallback (idle + 2Δ) stays out of the way on a loaded machine.
    const d = await Daemon.start({ data: join(dir, `n${i}`), seed, genesis, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [...addrs], idleMs: 200, deltaMs: 250, relay, log: () => undefined, control: false, ...(reach !== undefined ? { reach } : {}) })
    daemons.push(d)
    addrs.push(d.host.addrs()[0] as string)
  }
  await until('every node connected to every other', () => daemons.every((d) => d.host.peers().length === n - 1))
  return daemons
}

/** Submit `k` entries at node 0; wait until all are final everywhere; consensus frames sent by
 * all nodes per block finalized meanwhile. */
async function framesPerBlock(daemons: Daemon[], k: number): Promise<number> {
  for (const d of daemons) d.replica.finality.length = 0
  const frames = (): number => daemons.reduce((s, d) => s + (d.channel?.stats.framesOut ?? 0), 0)
  await until('a first block', () => daemons.every((d) => d.store.state.meta.height >= 2))
  const f0 = frames()
  const h0 = Math.min(...daemons.map((d) => d.store.state.meta.height))
  const d0 = daemons[0] as Daemon
  for (let i = 0; i < k; i++) {
    const r = await d0.replica.submitOwn({ kind: 'announce', addrs: [`/ip4/127.0.0.1/tcp/${2000 + i}`] })
    expect(r.status).toBe('ok')
    await sleep(30)
  }
  await until('the entries final at the node they were sent to', () => d0.replica.finality.length >= k)
  const top = d0.store.state.meta.height
  await until('every node at that height', () => daemons.every((d) => d.store.state.meta.height >= top))
  const blocks = Math.min(...daemons.map((d) => d.store.state.meta.height)) - h0
  expect(blocks).toBeGreaterThan(0)
  return (frames() - f0) / blocks
}

function sameLog(daemons: Daemon[]): void {
  const h = Math.min(...daemons.map((d) => d.store.state.meta.height))
  // Compare at one height: the same log size and the same block hash everywhere.
  const at = daemons.map((d) => d.replica.recent.find((b) => b.height === h))
  expect(at.every((b) => b !== undefined)).toBe(true)
  expect(new Set(at.map((b) => `${b!.logSize}/${b!.logRoot}/${b!.hash}`)).size).toBe(1)
}

describe('vote relay over libp2p', () => {
  it('auto picks all-to-all up to RELAY_ALL_MAX_VALIDATORS validators and the collector above', () => {
    expect(relayFor('auto', 4)).toBe('all')
    expect(relayFor('auto', RELAY_ALL_MAX_VALIDATORS)).toBe('all')
    expect(relayFor('auto', RELAY_ALL_MAX_VALIDATORS + 1)).toBe('collector')
    expect(relayFor('collector', 4)).toBe('collector')
    expect(relayFor('all', 100)).toBe('all')
  })

  it('through a collector, four daemons finalize what one was sent, agree on the log, and send far fewer consensus frames a block than all to all', async () => {
    const viaCollector = await cluster(4, 'collector')
    const perBlock = await framesPerBlock(viaCollector, 8)
    sameLog(viaCollector)
    while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)()
    const viaAuto = await cluster(4, 'auto') // four validators: all to all
    const perBlockAll = await framesPerBlock(viaAuto, 8)
    sameLog(viaAuto)
    // All to all: a proposal to 3 peers and 3 + 4 votes to 3 peers each, 24 a block; through
    // the collector: 3 + 2 + 3 + 3 + 3 = 14 (docs/consensus.md).
    expect(perBlockAll).toBeGreaterThanOrEqual(21)
    expect(perBlock).toBeLessThan(0.8 * perBlockAll)
  }, 120_000)

  it('a stopped validator is out of reach once its connections are gone: the others stop gossiping every message for it, and keep finalizing', async () => {
    // Start-up counts every validator as reachable for heardMs; a lost connection for lostMs.
    const daemons = await cluster(5, 'collector', { lostMs: 300, heardMs: 1_500, probeMs: 5_000 })
    await until('a first block', () => daemons.every((d) => d.store.state.meta.height >= 2))
    const published = (ds: Daemon[]): number => ds.reduce((s, d) => s + d.gossip.stats.published.consensus + d.gossip.stats.published.entries, 0)
    // All connected: nothing goes by gossip.
    expect(published(daemons)).toBe(0)
    const down = daemons.pop() as Daemon
    await down.stop()
    await until('its connections gone', () => daemons.every((d) => d.host.peers().length === 3))
    await sleep(1_600) // past heardMs from the start and lostMs from the stop
    const p0 = published(daemons)
    const h0 = Math.min(...daemons.map((d) => d.store.state.meta.height))
    const d0 = daemons[0] as Daemon
    for (let i = 0; i < 8; i++) {
      expect((await d0.replica.submitOwn({ kind: 'announce', addrs: [`/ip4/127.0.0.1/tcp/${3000 + i}`] })).status).toBe('ok')
      await sleep(30)
    }
    await until('the entries final', () => d0.replica.finality.length >= 8)
    await until('ten more blocks everywhere', () => daemons.every((d) => d.store.state.meta.height >= h0 + 10))
    sameLog(daemons)
    // Gossiping each consensus message for the stopped one would be at least three a block (a
    // proposal and two certificates); only the probes remain, one a node every probeMs.
    const blocks = Math.min(...daemons.map((d) => d.store.state.meta.height)) - h0
    expect((published(daemons) - p0) / blocks).toBeLessThan(1)
  }, 120_000)
})
