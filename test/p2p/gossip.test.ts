// Gossip: topics per network, envelopes with nonces, per-topic limits enforced in the validator
// (drop + penalise, never forward), handlers that cannot crash the node (DESIGN.md §7).

import { afterEach, describe, expect, test } from 'vitest'
import { TrothError } from '../../src/errors.ts'
import type { MemberId } from '../../src/identity/index.ts'
import { encode } from '../../src/ledger/encoding.ts'
import {
  ENVELOPE_OVERHEAD_BYTES_MAX,
  GOSSIP_PAYLOAD_BYTES_CEILING,
  createGossip,
  decodeEnvelope,
  encodeEnvelope,
  gossipTopic,
  type Gossip,
  type GossipOptions,
} from '../../src/p2p/index.ts'
import { Hosts, NET, type TestHost, waitFor } from './helpers.ts'

const hosts = new Hosts()
const gossips: Gossip[] = []
afterEach(async () => {
  for (const g of gossips.splice(0)) g.close()
  await hosts.stopAll()
})

interface Received {
  payload: Uint8Array
  from: MemberId
}

interface Node extends TestHost {
  gossip: Gossip
  received: Received[]
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('utf8')
}

function bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'utf8'))
}

function countOf(node: Node, payload: string): number {
  return node.received.filter((r) => text(r.payload) === payload).length
}

async function node(i: number, options: GossipOptions, bootstrap: string[] = []): Promise<Node> {
  const h = await hosts.make(i, { bootstrap })
  const gossip = createGossip(h.host, options)
  gossips.push(gossip)
  const received: Received[] = []
  gossip.subscribe('entries', (payload, from) => {
    received.push({ payload, from })
  })
  return { ...h, gossip, received }
}

/** a in the middle, b and c bootstrapped to it (b and c are not connected: a relays). */
async function star(options: { a?: GossipOptions; b?: GossipOptions; c?: GossipOptions } = {}): Promise<[Node, Node, Node]> {
  const a = await node(1, options.a ?? {})
  const b = await node(2, options.b ?? {}, a.host.addrs())
  const c = await node(3, options.c ?? {}, a.host.addrs())
  await waitFor(() => a.gossip.subscribers('entries').length === 2, 'a to see both subscriptions')
  await waitFor(() => b.gossip.subscribers('entries').length === 1 && c.gossip.subscribers('entries').length === 1, 'b and c to see a')
  // a relays to the peers of its mesh: wait until both are in it (grafted at a heartbeat), or a
  // message a relays before then reaches c only through gossip's IHAVE, which a loaded machine
  // can miss (a CI run lost 'one' that way).
  const topic = gossipTopic(NET, 'entries')
  const mesh = a.host.libp2p.services.pubsub as unknown as { getMeshPeers(topic: string): string[] }
  await waitFor(() => mesh.getMeshPeers(topic).length === 2, 'b and c in a\'s mesh')
  return [a, b, c]
}

describe('envelopes', () => {
  test('round trip, and every other shape is refused', () => {
    const payload = bytes('hello')
    expect(decodeEnvelope(encodeEnvelope(7, payload), 16)).toEqual(payload)
    expect(encodeEnvelope(7, payload)).not.toEqual(encodeEnvelope(8, payload))
    const refuse = (b: Uint8Array, code: string): void => {
      let err: unknown
      try {
        decodeEnvelope(b, 16)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(TrothError)
      expect((err as TrothError).code).toBe(code)
    }
    refuse(encode({ n: 1, p: new Uint8Array(17) }), 'net.too-large')
    refuse(new Uint8Array(16 + ENVELOPE_OVERHEAD_BYTES_MAX + 1), 'net.too-large')
    refuse(encode({ n: 1 }), 'schema.invalid')
    refuse(encode({ n: 1, p: payload, x: 0 }), 'cbor.too-many-items')
    refuse(encode({ n: -1, p: payload }), 'schema.invalid')
    refuse(encode({ n: 1, p: 'text' }), 'schema.invalid')
    refuse(Uint8Array.of(0xff, 0x00), 'cbor.indefinite-length')
    refuse(Uint8Array.of(...encodeEnvelope(1, payload), 0), 'cbor.trailing-bytes')
  })

  test('topics are per network', () => {
    expect(gossipTopic(NET, 'entries')).toBe(`/troth/${NET}/entries/1`)
    expect(gossipTopic(NET, 'consensus')).toBe(`/troth/${NET}/consensus/1`)
  })
})

describe('gossip between hosts', () => {
  test('a lone node publishes without error; limits are checked locally', async () => {
    const a = await node(1, { payloadBytesMax: { entries: 8 } })
    expect(await a.gossip.publish('entries', bytes('alone'))).toBe(0)
    await expect(a.gossip.publish('entries', new Uint8Array(9))).rejects.toMatchObject({ code: 'net.too-large' })
    expect(() => createGossip(a.host, { payloadBytesMax: { consensus: GOSSIP_PAYLOAD_BYTES_CEILING + 1 } })).toThrow(TrothError)
  })

  test('a message reaches every other node exactly once; the same payload twice arrives twice', async () => {
    const [a, b, c] = await star()
    await b.gossip.publish('entries', bytes('one'))
    await waitFor(() => countOf(a, 'one') === 1 && countOf(c, 'one') === 1, 'one to reach a and c (c through a)')
    await b.gossip.publish('entries', bytes('same'))
    await b.gossip.publish('entries', bytes('same'))
    await waitFor(() => countOf(a, 'same') === 2 && countOf(c, 'same') === 2, 'both copies of same')
    // A marker published after everything else: once it is in, nothing earlier is still coming.
    await c.gossip.publish('entries', bytes('marker'))
    await waitFor(() => countOf(a, 'marker') === 1 && countOf(b, 'marker') === 1, 'the marker')
    expect(countOf(a, 'one')).toBe(1)
    expect(countOf(c, 'one')).toBe(1)
    expect(countOf(a, 'same')).toBe(2)
    expect(countOf(c, 'same')).toBe(2)
    expect(b.received.filter((r) => text(r.payload) !== 'marker')).toEqual([]) // no echo to the sender
    expect(a.received.find((r) => text(r.payload) === 'one')?.from).toBe(b.memberId)
    expect(c.received.find((r) => text(r.payload) === 'one')?.from).toBe(b.memberId) // the author, not the relay
    expect(a.host.penaltyOf(b.memberId)).toBe(0)
  })

  test('an oversized payload is dropped, not forwarded, and its sender penalised', async () => {
    // b is misconfigured (or hostile) with a larger limit than the network's.
    const [a, b, c] = await star({ a: { payloadBytesMax: { entries: 1024 } }, b: { payloadBytesMax: { entries: 4096 } }, c: { payloadBytesMax: { entries: 1024 } } })
    await b.gossip.publish('entries', new Uint8Array(2000).fill(0x61))
    await waitFor(() => a.host.penaltyOf(b.memberId) > 0, 'a to penalise b')
    expect(a.penalties.map((p) => [p.memberId, p.reason])).toEqual([[b.memberId, 'gossip.too-large']])
    await b.gossip.publish('entries', bytes('after'))
    await waitFor(() => countOf(a, 'after') === 1 && countOf(c, 'after') === 1, 'a later valid message')
    expect(a.received.map((r) => text(r.payload))).toEqual(['after'])
    expect(c.received.map((r) => text(r.payload))).toEqual(['after'])
    expect(c.host.penaltyOf(a.memberId)).toBe(0) // a never forwarded it
  })

  test('a malformed envelope from a raw publisher is dropped and the sender penalised', async () => {
    const [a, b, c] = await star()
    const pubsub = b.host.libp2p.services.pubsub
    const topic = gossipTopic(NET, 'entries')
    await pubsub.publish(topic, Uint8Array.of(0xff, 0x13, 0x37)) // not CBOR
    await pubsub.publish(topic, encode({ n: 1, p: bytes('x'), extra: true })) // wrong shape
    await waitFor(() => a.host.penaltyOf(b.memberId) > 45, 'a to penalise b twice') // 2 × 25, decaying
    expect(a.penalties.map((p) => [p.memberId, p.reason])).toEqual([
      [b.memberId, 'gossip.malformed'],
      [b.memberId, 'gossip.malformed'],
    ])
    await b.gossip.publish('entries', bytes('fine'))
    await waitFor(() => countOf(a, 'fine') === 1 && countOf(c, 'fine') === 1, 'a later valid message')
    expect(a.received.map((r) => text(r.payload))).toEqual(['fine'])
    expect(c.received.map((r) => text(r.payload))).toEqual(['fine'])
    expect(a.host.peers()).toContain(b.memberId) // penalised, not yet banned
  })

  test('handlers that throw or reject do not stop delivery', async () => {
    const a = await hosts.make(1)
    const b = await hosts.make(2, { bootstrap: a.host.addrs() })
    const ga = createGossip(a.host)
    const gb = createGossip(b.host)
    gossips.push(ga, gb)
    const seen: string[] = []
    ga.subscribe('consensus', (payload) => {
      const s = text(payload)
      seen.push(s)
      if (s === 'throw') throw new Error('handler bug')
      if (s === 'reject') return Promise.reject(new Error('async handler bug'))
    })
    gb.subscribe('consensus', () => {})
    await waitFor(() => gb.subscribers('consensus').length === 1, 'b to see a subscribed')
    for (const s of ['throw', 'reject', 'after']) await gb.publish('consensus', bytes(s))
    await waitFor(() => seen.includes('after'), 'delivery after the failing handlers')
    expect(seen).toEqual(['throw', 'reject', 'after'])
  })
})
