// The daemon's edge: who may connect, and what a member's bad bytes cost it.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { publicKeyOf } from '../../src/identity/ed25519.ts'
import { encodeGenesis } from '../../src/ledger/genesis.ts'
import { fromHex, sha256 } from '../../src/ledger/hash.ts'
import { encodeSignedEntry, signEntry } from '../../src/ledger/entry.ts'
import { createGossip, createHost, createRpc, type TrothHost } from '../../src/p2p/index.ts'
import { auditProtocol, chunkProtocol } from '../../src/node/obligations.ts'
import { Channel } from '../../src/p2p/channel.ts'
import { Daemon } from '../../src/node/daemon.ts'
import { statusOf } from '../../src/node/control.ts'

const seeds = [0, 1, 2].map((i) => sha256(new TextEncoder().encode(`daemon test ${i}`)))
const stranger = sha256(new TextEncoder().encode('not a member'))
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)()
})

async function daemon(): Promise<{ d: Daemon; net: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'troth-daemon-'))
  // Two founders, so one running node alone cannot finalize: the test is about the edge.
  const genesis = encodeGenesis({ version: 1, name: 't', time: Date.now(), founders: seeds.slice(0, 2).map((s, i) => ({ key: publicKeyOf(s), name: `m${i}`, request: null })), policy: {} })
  const logs: string[] = []
  const d = await Daemon.start({ data: dir, seed: seeds[0] as Uint8Array, genesis, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], idleMs: 200, deltaMs: 50, log: (l) => logs.push(l), control: false })
  cleanups.push(async () => {
    await d.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return { d, net: Buffer.from(d.store.state.meta.net).toString('hex') }
}

async function peer(seed: Uint8Array, net: string): Promise<TrothHost> {
  const h = await createHost({ seed, listen: ['/ip4/127.0.0.1/tcp/0'], net, admit: () => true })
  await h.start()
  cleanups.push(() => h.stop())
  return h
}

describe('daemon edge', () => {
  it('a key that is not a member cannot open a connection', async () => {
    const { d, net } = await daemon()
    const h = await peer(stranger, net)
    await expect(h.dial(d.host.addrs()[0] as string)).rejects.toMatchObject({ code: expect.stringMatching(/^net\./) })
    expect(d.host.peers()).toHaveLength(0)
  }, 60_000)

  it('malformed and oversized messages from a member are dropped and penalised; the node keeps running', async () => {
    const { d, net } = await daemon()
    const h = await peer(seeds[1] as Uint8Array, net)
    const member = await h.dial(d.host.addrs()[0] as string)
    expect(member).toBe(d.id)
    const before = d.host.penaltyOf(h.memberId)
    // Garbage over the direct consensus channel and over gossip.
    const ch = await Channel.open(h, 'consensus', 8 << 20, () => undefined)
    ch.send(d.id, new Uint8Array([0xff, 0x00, 0x01]))
    ch.send(d.id, new Uint8Array([0xa1, 0x61, 0x74, 0x63, 0x62, 0x61, 0x64]))
    await new Promise((r) => setTimeout(r, 500))
    const afterMalformed = d.host.penaltyOf(h.memberId)
    expect(afterMalformed).toBeGreaterThan(before)
    // A frame over the consensus frame limit (4 MiB + 16 KiB): the stream is cut, the peer penalised.
    ch.send(d.id, new Uint8Array(5 << 20))
    await new Promise((r) => setTimeout(r, 1500))
    expect(d.host.penaltyOf(h.memberId)).toBeGreaterThan(afterMalformed)
    const gossip = createGossip(h)
    await new Promise((r) => setTimeout(r, 1500)) // let the mesh form
    await gossip.publish('consensus', new Uint8Array([0x9f, 0xff])).catch(() => undefined)
    await new Promise((r) => setTimeout(r, 1000))
    expect(d.host.penaltyOf(h.memberId)).toBeGreaterThan(before)
    // Still alive: it answers, its queue turns, its state is intact.
    expect(statusOf(d).id).toBe(d.id)
    await d.replica.onTimer()
    expect(d.store.state.meta.height).toBe(0)
  }, 60_000)
})

describe('entries at the edge', () => {
  it('an entry sent by its author over the direct entry channel enters the mempool; garbage and oversized frames there are penalised', async () => {
    const { d, net } = await daemon()
    const h = await peer(seeds[1] as Uint8Array, net)
    await h.dial(d.host.addrs()[0] as string)
    const ch = await Channel.open(h, 'entry', 1 << 20, () => undefined)
    const wire = encodeSignedEntry(signEntry(seeds[1] as Uint8Array, { net: fromHex(net), author: publicKeyOf(seeds[1] as Uint8Array), seq: 1, time: Date.now(), body: { kind: 'announce', addrs: ['/ip4/127.0.0.1/tcp/4001'] } }))
    ch.send(d.id, wire)
    const deadline = Date.now() + 10_000
    while (d.replica.mempoolSize === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(d.replica.mempoolSize).toBe(1)
    expect(d.host.penaltyOf(h.memberId)).toBe(0)
    ch.send(d.id, new Uint8Array([0xff, 0x00, 0x01]))
    await new Promise((r) => setTimeout(r, 500))
    const afterGarbage = d.host.penaltyOf(h.memberId)
    expect(afterGarbage).toBeGreaterThan(0)
    ch.send(d.id, new Uint8Array(100 * 1024)) // over ENTRY_BYTES_MAX (64 KiB): the stream is cut
    await new Promise((r) => setTimeout(r, 1000))
    expect(d.host.penaltyOf(h.memberId)).toBeGreaterThan(afterGarbage)
    expect(statusOf(d).id).toBe(d.id)
    expect(d.replica.mempoolSize).toBe(1)
  }, 60_000)
})

describe('duty protocols at the edge', () => {
  it('chunk and audit requests: malformed ones are penalised, unknown roots and unassigned audits refused; nothing is served that is not held', async () => {
    const { d, net } = await daemon()
    const h = await peer(seeds[1] as Uint8Array, net)
    await h.dial(d.host.addrs()[0] as string)
    const rpc = createRpc(h)
    const chunk = chunkProtocol(net)
    const audit = auditProtocol(net)
    const before = d.host.penaltyOf(h.memberId)
    // Malformed: wrong shape.
    await expect(rpc.request(d.id, chunk, { nonsense: 1 })).rejects.toMatchObject({ code: 'net.remote-error' })
    await expect(rpc.request(d.id, audit, [1, 2, 3])).rejects.toMatchObject({ code: 'net.remote-error' })
    expect(d.host.penaltyOf(h.memberId)).toBeGreaterThan(before)
    // Well formed but not held / not assigned.
    await expect(rpc.request(d.id, chunk, { root: new Uint8Array(32), index: 0 })).rejects.toThrow(/does not hold/)
    await expect(rpc.request(d.id, chunk, { root: new Uint8Array(32), from: 0, count: 10 })).rejects.toThrow(/does not hold/)
    await expect(rpc.request(d.id, audit, { epoch: 0, root: new Uint8Array(32), indexes: [0] })).rejects.toThrow(/no such audit/)
    await expect(rpc.request(d.id, audit, { epoch: 5, root: new Uint8Array(32), indexes: [0] })).rejects.toThrow(/not 5/)
    // A request over the 1 KiB chunk-request limit is cut off.
    await expect(rpc.request(d.id, { ...chunk, maxRequestBytes: 1 << 20 }, { root: new Uint8Array(4096) })).rejects.toThrow()
    expect(statusOf(d).id).toBe(d.id) // still serving
  }, 60_000)
})

describe('exile at the edge', () => {
  it('once exiled (at the epoch boundary), a member\'s connections are dropped and refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'troth-exile-'))
    const four = [0, 1, 2, 3].map((i) => sha256(new TextEncoder().encode(`exile test ${i}`)))
    const genesis = encodeGenesis({ version: 1, name: 'x', time: Date.now(), founders: four.map((s, i) => ({ key: publicKeyOf(s), name: `m${i}`, request: null })), policy: { epochBlocks: 6 } })
    const ds: Daemon[] = []
    cleanups.push(async () => {
      for (const d of ds) await d.stop()
      rmSync(dir, { recursive: true, force: true })
    })
    for (let i = 0; i < 4; i++) {
      ds.push(await Daemon.start({ data: join(dir, `n${i}`), seed: four[i] as Uint8Array, genesis, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: ds.map((d) => d.host.addrs()[0] as string), idleMs: 100, deltaMs: 50, log: () => undefined, control: false }))
    }
    const [d0, d1, d2, d3] = ds as [Daemon, Daemon, Daemon, Daemon]
    const until = async (what: string, pred: () => boolean): Promise<void> => {
      const end = Date.now() + 40_000
      while (!pred()) {
        if (Date.now() > end) throw new Error(`timed out: ${what}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    await until('all connected', () => ds.every((d) => d.host.peers().length === 3) && d0.store.state.meta.height >= 2)
    const target = publicKeyOf(four[3] as Uint8Array)
    expect((await d0.replica.submitOwn({ kind: 'exile.propose', member: target, reason: 'test' })).status).toBe('ok')
    // A vote is checked against the finalized state: wait until the proposal is final there.
    await until('the proposal final', () => d1.store.state.exiles.has(d3.id) && d2.store.state.exiles.has(d3.id))
    expect((await d1.replica.submitOwn({ kind: 'exile.vote', member: target })).status).toBe('ok')
    expect((await d2.replica.submitOwn({ kind: 'exile.vote', member: target })).status).toBe('ok')
    await until('exiled at a boundary', () => d0.store.state.members.get(d3.id)?.status === 'exiled')
    await until('dropped by the others', () => [d0, d1, d2].every((d) => !d.host.peers().includes(d3.id)))
    await expect(d3.host.dial(d0.host.addrs()[0] as string)).rejects.toMatchObject({ code: expect.stringMatching(/^net\./) })
    // The remaining three keep finalizing without it.
    const h = d0.store.state.meta.height
    await until('progress without the exiled member', () => d0.store.state.meta.height >= h + 3)
    expect(d0.store.state.epoch.validators.map((v) => v.id)).not.toContain(d3.id)
  }, 90_000)
})
