// The daemon's edge: who may connect, and what a member's bad bytes cost it.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { publicKeyOf } from '../../src/identity/ed25519.ts'
import { encodeGenesis } from '../../src/ledger/genesis.ts'
import { sha256 } from '../../src/ledger/hash.ts'
import { createGossip, createHost, createRpc, rpcProtocol, type TrothHost } from '../../src/p2p/index.ts'
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
    // Garbage over the direct push protocol and over gossip.
    const rpc = createRpc(h)
    const push = rpcProtocol(net, 'consensus', { maxRequestBytes: 4 * 1024 * 1024, maxResponseBytes: 64, timeoutMs: 5000 })
    await rpc.request(d.id, push, { m: new Uint8Array([0xff, 0x00, 0x01]) }).catch(() => undefined)
    await rpc.request(d.id, push, { m: new Uint8Array([0xa1, 0x61, 0x74, 0x63, 0x62, 0x61, 0x64]) }).catch(() => undefined)
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
