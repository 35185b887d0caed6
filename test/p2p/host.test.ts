// The host: PeerId = member key, bootstrap and redial, and the connection gater (DESIGN.md §7).

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { afterEach, describe, expect, test } from 'vitest'
import { TrothError } from '../../src/errors.ts'
import { formatMemberId, publicKeyOf } from '../../src/identity/index.ts'
import { createHost, memberIdOfPeer, peerIdOfMember } from '../../src/p2p/index.ts'
import { natParts } from '../../src/p2p/host.ts'
import { Hosts, LOOPBACK, NET, seedOf, sleep, waitFor } from './helpers.ts'

const hosts = new Hosts()
afterEach(async () => {
  await hosts.stopAll()
})

async function rejectsWithCode(promise: Promise<unknown>, codes: readonly string[]): Promise<void> {
  const err: unknown = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(TrothError)
  expect(codes).toContain((err as TrothError).code)
}

describe('peer identity', () => {
  test('PeerId and MemberId are the same Ed25519 key', async () => {
    for (const i of [1, 2, 3]) {
      const seed = seedOf(i)
      const memberId = formatMemberId(publicKeyOf(seed))
      const peerId = peerIdOfMember(memberId)
      expect(peerId.type).toBe('Ed25519')
      expect(memberIdOfPeer(peerId)).toBe(memberId)
      expect(memberIdOfPeer(peerId.toString())).toBe(memberId)
      const host = await createHost({ seed, listen: [LOOPBACK], net: NET, admit: () => true })
      expect(host.memberId).toBe(memberId)
      expect(host.peerId.equals(peerId)).toBe(true)
    }
  })

  test('non-Ed25519 and malformed peer ids have no MemberId', async () => {
    const secp = peerIdFromPrivateKey(await generateKeyPair('secp256k1'))
    expect(memberIdOfPeer(secp)).toBeNull()
    expect(memberIdOfPeer('not a peer id')).toBeNull()
    expect(() => peerIdOfMember('troth1nope')).toThrow(TrothError)
  })

  test('options are checked', async () => {
    const base = { seed: seedOf(1), listen: [LOOPBACK], net: NET, admit: () => true }
    await rejectsWithCode(createHost({ ...base, seed: new Uint8Array(31) }), ['id.invalid-key'])
    await rejectsWithCode(createHost({ ...base, net: 'AB' }), ['input.invalid'])
    await rejectsWithCode(createHost({ ...base, listen: ['not an addr'] }), ['input.invalid'])
    await rejectsWithCode(createHost({ ...base, bootstrap: ['/ip4/127.0.0.1/tcp/1'] }), ['input.invalid'])
  })
})

describe('home-network switches (docs/operations.md#home-networks-nat)', () => {
  test('each switch adds its libp2p part, and none is on by default', () => {
    expect(natParts(undefined)).toEqual({ transports: [], services: {} })
    expect(natParts({ autonat: false, upnp: false, relay: false })).toEqual({ transports: [], services: {} })
    const all = natParts({ autonat: true, upnp: true, relay: true })
    expect(Object.keys(all.services).sort()).toEqual(['autoNAT', 'upnpNAT'])
    expect(all.transports).toHaveLength(1)
    expect(typeof all.transports[0]).toBe('function')
  })

  test('hosts with AutoNAT and the relay transport start, connect on loopback and admit as before', async () => {
    // UPnP is left out: it multicasts SSDP on the LAN, and tests stay on 127.0.0.1.
    const nat = { autonat: true, upnp: false, relay: true }
    const a = await hosts.make(1, { nat })
    const b = await hosts.make(2, { nat })
    expect(a.host.libp2p.services).toHaveProperty('autoNAT')
    await b.host.dial(a.host.addrs()[0] as string)
    await waitFor(() => a.host.peers().includes(b.memberId), 'a sees b')
    expect(b.host.peers()).toEqual([a.memberId])
  })
})

describe('connecting', () => {
  test('three hosts bootstrap from one and see each other as MemberIds', async () => {
    const a = await hosts.make(1)
    const b = await hosts.make(2, { bootstrap: a.host.addrs() })
    const c = await hosts.make(3, { bootstrap: a.host.addrs() })
    for (const addr of a.host.addrs()) expect(addr).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/)
    await waitFor(() => a.host.peers().length === 2, 'a to see b and c')
    expect(a.host.peers()).toEqual([b.memberId, c.memberId].sort())
    expect(b.host.peers()).toEqual([a.memberId])
    expect(c.host.peers()).toEqual([a.memberId])
    expect(a.memberId).toBe(formatMemberId(publicKeyOf(seedOf(1))))
    // b dials c directly; dial() answers with the MemberId the handshake proved.
    expect(await b.host.dial(c.host.addrs()[0] as string)).toBe(c.memberId)
    expect(b.host.peers()).toEqual([a.memberId, c.memberId].sort())
    expect(await b.host.ping(c.memberId)).toBeGreaterThanOrEqual(0)
  })

  test('the list of peers follows connections as they open and close, at once', async () => {
    const a = await hosts.make(1)
    const b = await hosts.make(2, { bootstrap: a.host.addrs() })
    const c = await hosts.make(3)
    await waitFor(() => b.host.peers().length === 1, 'b to connect to a')
    expect(b.host.peers()).toEqual([a.memberId]) // listed, and kept
    // A new connection shows in the very next call (dial() resolves once it is open).
    await b.host.dial(c.host.addrs()[0] as string)
    expect(b.host.peers()).toEqual([a.memberId, c.memberId].sort())
    // isolate() resolves once b's connections are closed: the next call lists none.
    await b.host.isolate(60_000)
    expect(b.host.peers()).toEqual([])
  })

  test('a bootstrap peer that restarts is redialled', async () => {
    const a = await hosts.make(1)
    const addr = a.host.addrs()[0] as string
    const b = await hosts.make(2, { bootstrap: [addr] })
    await waitFor(() => b.host.peers().length === 1, 'b to connect')
    await a.host.stop()
    await waitFor(() => b.host.peers().length === 0, 'b to notice a stopped')
    // Same member, same address: the home node came back.
    const listen = addr.replace(/\/p2p\/.*$/, '')
    await hosts.make(1, { listen: [listen] })
    await waitFor(() => b.host.peers().length === 1, 'b to redial a')
    expect(b.host.peers()).toEqual([a.memberId])
  })
})

describe('connection gater', () => {
  test('a member that is not admitted cannot connect, in either direction', async () => {
    const a = await hosts.make(1, {}, [1, 2])
    const x = await hosts.make(9, { bootstrap: a.host.addrs() }) // x would admit a; a does not admit x
    const aAddr = a.host.addrs()[0] as string
    const xAddr = x.host.addrs()[0] as string
    // x -> a: a refuses after the handshake.
    await rejectsWithCode(x.host.dial(aAddr), ['net.dial-failed', 'net.refused'])
    // a -> x: refused before dialling (known PeerId) and after the handshake (bare address).
    await rejectsWithCode(a.host.dial(xAddr), ['net.refused'])
    await rejectsWithCode(a.host.dial(xAddr.replace(/\/p2p\/.*$/, '')), ['net.refused'])
    // x keeps redialling its bootstrap peer; none of it gets through.
    await sleep(600)
    expect(a.host.peers()).toEqual([])
    expect(x.host.peers()).toEqual([])
  })

  test('a peer without an Ed25519 key is refused', async () => {
    const a = await hosts.make(1)
    const stranger = await createLibp2p({
      privateKey: await generateKeyPair('secp256k1'),
      addresses: { listen: [LOOPBACK] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
    })
    try {
      // The stranger's dial may resolve (it finishes the Noise handshake first); a drops it at once.
      await stranger.dial(multiaddr(a.host.addrs()[0] as string)).catch(() => null)
      await waitFor(() => stranger.getConnections().length === 0, 'a to drop the stranger')
      expect(a.host.peers()).toEqual([])
    } finally {
      await stranger.stop()
    }
  })

  test('refresh() disconnects a peer no longer admitted, and its redials are refused', async () => {
    const a = await hosts.make(1)
    const b = await hosts.make(2, { bootstrap: a.host.addrs() })
    const c = await hosts.make(3, { bootstrap: a.host.addrs() })
    await waitFor(() => a.host.peers().length === 2, 'a to see b and c')
    a.admitted.delete(b.memberId) // b is exiled
    await a.host.refresh()
    await waitFor(() => b.host.peers().length === 0, 'b to be disconnected')
    expect(a.host.peers()).toEqual([c.memberId])
    await rejectsWithCode(b.host.dial(a.host.addrs()[0] as string), ['net.dial-failed', 'net.refused'])
    await rejectsWithCode(a.host.dial(b.host.addrs()[0] as string), ['net.refused'])
    await sleep(600) // several of b's redial rounds
    expect(a.host.peers()).toEqual([c.memberId])
    expect(b.host.peers()).toEqual([])
  })

  test('a peer penalised over the threshold is disconnected and refused until its cool-down ends', async () => {
    let nowMs = 1_000_000
    const a = await hosts.make(1, { now: () => nowMs, penalties: { thresholdPoints: 100, coolDownMs: 60_000 } })
    const b = await hosts.make(2, { bootstrap: a.host.addrs() })
    await waitFor(() => a.host.peers().length === 1, 'b to connect')
    a.host.penalise(b.memberId, 'test.misbehaviour', 60)
    expect(a.host.penaltyOf(b.memberId)).toBe(60)
    expect(a.host.peers()).toEqual([b.memberId])
    a.host.penalise(b.memberId, 'test.misbehaviour', 60)
    expect(a.host.isBanned(b.memberId)).toBe(true)
    await waitFor(() => a.host.peers().length === 0, 'b to be disconnected')
    await rejectsWithCode(a.host.dial(b.host.addrs()[0] as string), ['net.refused'])
    await sleep(600)
    expect(a.host.peers()).toEqual([])
    nowMs += 60_001 // the cool-down is over: b's redial loop gets back in
    await waitFor(() => a.host.peers().length === 1, 'b to reconnect after the cool-down')
  })
})
