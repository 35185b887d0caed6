// Fuzzing the wire framing of the p2p layer (src/p2p/rpc.ts, channel.ts, gossip.ts) over in-memory
// stream pairs (@libp2p/utils streamPair) and a stand-in host, so the real server, client and
// reader code runs on hostile bytes without sockets: an RPC server gets any request frame (bad
// varints, lengths over the limit, truncated or non-canonical CBOR) and answers one well-formed
// response frame or resets the stream; an RPC client gets any response and resolves with a value
// or rejects with a net.* TrothError; a channel reader hands on exactly the well-formed frames
// before the first bad one; the gossip validator accepts exactly the well-formed envelopes.
// Nothing may throw past these layers, log a "serve failed" (a bug in #serve) or hang.

import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import fc from 'fast-check'
import { describe } from 'vitest'
import { TrothError } from '../../src/errors.ts'
import { decode, encode, type CborValue } from '../../src/ledger/encoding.ts'
import { Channel } from '../../src/p2p/channel.ts'
import { Gossip, decodeEnvelope, encodeEnvelope, gossipTopic } from '../../src/p2p/gossip.ts'
import { memberIdOfPeer, peerIdOfMember, type TrothHost } from '../../src/p2p/host.ts'
import { createRpc, rpcProtocol, type RpcProtocol } from '../../src/p2p/rpc.ts'
import { attempt, attemptAsync, bytesEq, fuzz, fuzzAsync } from './harness.ts'
import { cborValueArb, hostileBytes, mutatedBytes } from './mutate.ts'
import * as corpus from './corpus.ts'

const NET = 'ab'.repeat(32)
const NET_CODES = ['net.timeout', 'net.too-large', 'net.refused', 'net.protocol', 'net.dial-failed', 'net.remote-error', 'net.aborted', 'net.not-started'] as const

// ---------------------------------------------------------------------------------------------
// A stand-in host: what Rpc, Channel and Gossip use of a TrothHost, with the errors they log.

interface StandInHost {
  readonly host: TrothHost
  readonly handlers: Map<string, (stream: Stream, connection: Connection) => void>
  readonly errors: string[]
  readonly penalties: string[]
  dial: (() => Promise<Stream>) | null
  readonly validators: Map<string, (source: PeerId, msg: unknown) => TopicValidatorResult>
  readonly listeners: Array<(evt: CustomEvent<unknown>) => void>
}

function standInHost(): StandInHost {
  const base = defaultLogger()
  const s: StandInHost = { host: null as unknown as TrothHost, handlers: new Map(), errors: [], penalties: [], dial: null, validators: new Map(), listeners: [] }
  const logger = {
    forComponent(name: string) {
      const l = base.forComponent(name)
      return Object.assign((...a: unknown[]) => (l as (...b: unknown[]) => void)(...a), l, { error: (...a: unknown[]) => void s.errors.push(`${name}: ${String(a[0])} ${String(a[1])}`) })
    },
  }
  const pubsub = {
    topicValidators: s.validators,
    addEventListener: (_t: string, fn: (evt: CustomEvent<unknown>) => void) => void s.listeners.push(fn),
    removeEventListener: () => undefined,
    subscribe: () => undefined,
    unsubscribe: () => undefined,
    getSubscribers: () => [],
  }
  const host = {
    net: NET,
    memberId: corpus.alice.id,
    started: true,
    logger,
    libp2p: {
      handle: async (id: string, fn: (stream: Stream, connection: Connection) => void) => void s.handlers.set(id, fn),
      unhandle: async () => undefined,
      dialProtocol: async () => {
        if (s.dial === null) throw new Error('no dial')
        return s.dial()
      },
      services: { pubsub },
    },
    penalise: (_m: string, reason: string) => void s.penalties.push(reason),
    allows: () => true,
    memberOf: (peer: Parameters<typeof memberIdOfPeer>[0]) => memberIdOfPeer(peer),
    peerOf: (id: string) => peerIdOfMember(id),
    isAdmitted: () => true,
    peers: () => [],
  }
  ;(s as { host: TrothHost }).host = host as unknown as TrothHost
  return s
}

/** A stream pair. The mock connection's address otherwise carries a counter as its TCP port, and
 * runs out after 32768 pairs ("Value must be smaller than or equal to 65535"). */
const MOCK_ADDR = { remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/4001') }
const pair = (): Promise<[Stream, Stream]> => streamPair({ delay: 0, outboundConnection: MOCK_ADDR, inboundConnection: MOCK_ADDR })

const connection = (): Connection => ({ remotePeer: peerIdOfMember(corpus.bob.id) }) as unknown as Connection

function varint(n: number): Uint8Array {
  const out: number[] = []
  let x = n
  while (x >= 0x80) {
    out.push((x % 0x80) | 0x80)
    x = Math.floor(x / 0x80)
  }
  out.push(x)
  return Uint8Array.from(out)
}

const frame = (body: Uint8Array): Uint8Array => new Uint8Array(Buffer.concat([varint(body.length), body]))

/** Everything the other end sends until it closes or resets; `reset` if it did not close cleanly. */
async function readAll(stream: Stream): Promise<{ bytes: Uint8Array; reset: boolean }> {
  const parts: Uint8Array[] = []
  try {
    for await (const chunk of stream) parts.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
    return { bytes: new Uint8Array(Buffer.concat(parts)), reset: false }
  } catch {
    return { bytes: new Uint8Array(Buffer.concat(parts)), reset: true }
  }
}

/** An unsigned varint at `at` (minimal or not): its value and where it ends, or null. */
function readVarint(bytes: Uint8Array, at: number): { value: number; end: number } | null {
  let value = 0
  for (let i = at, shift = 1; i < bytes.length && i < at + 9; i++, shift *= 0x80) {
    const b = bytes[i] as number
    value += (b & 0x7f) * shift
    if ((b & 0x80) === 0) return { value, end: i + 1 }
  }
  return null
}

/** One length-prefixed frame, and nothing after it: its body, or null. */
function oneFrame(bytes: Uint8Array): Uint8Array | null {
  const prefix = readVarint(bytes, 0)
  return prefix !== null && bytes.length - prefix.end === prefix.value ? bytes.subarray(prefix.end) : null
}

// ---------------------------------------------------------------------------------------------
// Hostile wire bytes: frames of hostile CBOR, damaged prefixes, lengths past the limit, cut short.

const LIMIT = 1024
const requestSamples = (): Uint8Array[] => [encode({ t: 'blocks', from: 1 }), encode({ root: new Uint8Array(32), index: 0 }), encode(null), ...corpus.syncRequests().map(encode)]

const wireArb = (samples: Uint8Array[]): fc.Arbitrary<{ bytes: Uint8Array; pieces: number; end: 'close' | 'abort' | 'hold' }> =>
  fc.record({
    bytes: fc.oneof(
      { arbitrary: hostileBytes(samples).map(frame), weight: 5 },
      { arbitrary: fc.uint8Array({ maxLength: 40 }), weight: 1 },
      { arbitrary: fc.tuple(fc.oneof(fc.constantFrom(0, 1, LIMIT, LIMIT + 1, 2 ** 31, 2 ** 53 - 1), fc.nat()), fc.uint8Array({ maxLength: 64 })).map(([n, b]) => new Uint8Array(Buffer.concat([varint(n), b]))), weight: 2 },
      { arbitrary: fc.constantFrom(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), Uint8Array.of(0x80), Uint8Array.of(0x80, 0x00), new Uint8Array(0)), weight: 1 },
      { arbitrary: fc.tuple(hostileBytes(samples), hostileBytes(samples)).map(([a, b]) => new Uint8Array(Buffer.concat([frame(a), frame(b)]))), weight: 1 },
      { arbitrary: mutatedBytes(samples.map(frame)), weight: 2 },
    ),
    pieces: fc.integer({ min: 1, max: 3 }),
    end: fc.oneof({ arbitrary: fc.constant('close' as const), weight: 12 }, { arbitrary: fc.constant('abort' as const), weight: 1 }, { arbitrary: fc.constant('hold' as const), weight: 1 }),
  })

async function sendRaw(stream: Stream, bytes: Uint8Array, pieces: number): Promise<void> {
  const size = Math.ceil(bytes.length / pieces)
  for (let at = 0; at < bytes.length; at += Math.max(1, size)) {
    if (!stream.send(bytes.subarray(at, at + Math.max(1, size)))) await stream.onDrain().catch(() => undefined)
  }
}

// Logged errors are never cleared: any one is a bug, even if it surfaces an input later.
describe('fuzz: p2p framing', () => {
  // --- the RPC server ---
  const server = standInHost()
  const serverRpc = createRpc(server.host)
  const protocol: RpcProtocol = rpcProtocol(NET, 'fuzz', { maxRequestBytes: LIMIT, maxResponseBytes: LIMIT, timeoutMs: 300 })
  const handled: CborValue[] = []
  fuzzAsync(
    'Rpc server: any request bytes get one well-formed response frame or a reset stream; no serve failure',
    wireArb(requestSamples()),
    async ({ bytes, pieces, end }) => {
      const [outbound, inbound] = await pair()
      const serve = server.handlers.get(protocol.id)
      if (serve === undefined) throw new Error('no handler registered')
      serve(inbound, connection())
      const reply = readAll(outbound)
      await sendRaw(outbound, bytes, pieces)
      if (end === 'close') await outbound.close().catch(() => undefined)
      else if (end === 'abort') outbound.abort(new Error('requester gave up'))
      const { bytes: got, reset } = await reply
      if (server.errors.length > 0) throw new Error(`server logged: ${server.errors[0]}`)
      // A well-formed request, sent whole and closed, must get its answer.
      const sent = oneFrame(bytes)
      const wellFormed = end === 'close' && sent !== null && sent.length <= LIMIT && attempt(() => decode(sent, { bytesMax: LIMIT })).ok
      if (wellFormed && (reset || got.length === 0)) throw new Error('a well-formed request got no answer')
      if (reset || got.length === 0) return
      const body = oneFrame(got)
      if (body === null) throw new Error(`the server answered ${got.length} bytes that are not one frame`)
      const response = decode(body, { bytesMax: LIMIT + 16, depthMax: 17 }) as Record<string, CborValue>
      const keys = Object.keys(response).sort().join(',')
      if (keys !== 'ok' && keys !== 'err,msg') throw new Error(`response with keys ${keys}`)
    },
    {
      hangMs: 10_000,
      before: async () => {
        await serverRpc.handle(protocol, (request) => {
          handled.push(request)
          if (handled.length > 100) handled.length = 0
          if (request instanceof Uint8Array && request.length > 0 && request[0] === 0) throw new TrothError('schema.invalid', 'no such thing')
          if (typeof request === 'string') throw new Error('a handler bug') // sent back as code "handler"
          return request // { ok: request } is as deep as the client reads (CBOR_DEPTH_MAX + 1)
        })
      },
    },
  )

  // --- the RPC client ---
  const client = standInHost()
  const clientRpc = createRpc(client.host)
  const responseSamples = (): Uint8Array[] => [encode({ ok: { echo: 1 } }), encode({ err: 'schema.invalid', msg: 'no' }), encode({ ok: null }), encode({ ok: new Uint8Array(LIMIT) })]
  fuzzAsync(
    'Rpc client: any response bytes resolve to the value of a well-formed { ok } or reject with a net.* TrothError',
    fc.tuple(wireArb(responseSamples()), cborValueArb),
    async ([{ bytes, pieces, end }, request]) => {
      let peer: { stream: Stream; request: Promise<{ bytes: Uint8Array; reset: boolean }> } | null = null
      client.dial = async () => {
        const [outbound, inbound] = await pair()
        // Read from the start, as a libp2p handler does: a mock stream does not replay what
        // arrived before anyone listened.
        peer = { stream: inbound, request: readAll(inbound) }
        return outbound
      }
      let settled = false
      const pending = attemptAsync(() => clientRpc.request(corpus.bob.id, protocol, request), [...NET_CODES]).finally(() => {
        settled = true
      })
      while (peer === null && !settled) await new Promise<void>((r) => setImmediate(r))
      if (peer === null) {
        // Refused before any stream opened: only a request over the limit may be.
        const early = await pending
        if (early.ok || early.error.code !== 'net.too-large') throw new Error(`the request ended before a stream opened: ${early.ok ? 'resolved' : early.error.message}`)
        return
      }
      const { stream: theirs, request: sent } = peer as { stream: Stream; request: Promise<unknown> }
      await sent // the request, until the client closes its write end
      await sendRaw(theirs, bytes, pieces).catch(() => undefined)
      if (end === 'close') await theirs.close().catch(() => undefined)
      else if (end === 'abort') theirs.abort(new Error('server gave up'))
      const r = await pending
      if (!r.ok) return
      // Resolved: the bytes began with one frame of { ok: value }, and value is what came back. (The
      // client reads one frame and no further: bytes after it are never looked at.)
      const prefix = readVarint(bytes, 0)
      if (prefix === null || prefix.end + prefix.value > bytes.length) throw new Error('the client accepted bytes that hold no whole frame')
      const body = bytes.subarray(prefix.end, prefix.end + prefix.value)
      if (!bytesEq(encode({ ok: r.value }), body)) throw new Error('the client resolved with something other than the frame\'s ok value')
      if (end === 'hold') theirs.abort(new Error('done'))
    },
    { hangMs: 10_000 },
  )

  // --- a channel reader ---
  const chan = standInHost()
  const frames: Uint8Array[] = []
  fuzzAsync(
    'Channel reader: any stream bytes hand on exactly the well-formed frames up to the first bad one, and the reader ends',
    wireArb(requestSamples()),
    async ({ bytes, pieces, end }) => {
      const [outbound, inbound] = await pair()
      const read = chan.handlers.get(`/troth/${NET}/fuzzchan/1`)
      if (read === undefined) throw new Error('no channel handler')
      frames.length = 0
      read(inbound, connection())
      await sendRaw(outbound, bytes, pieces)
      if (end === 'abort') outbound.abort(new Error('gone'))
      else await outbound.close().catch(() => undefined)
      // The reader ends (and aborts its stream) at the end of the input, clean or not: wait for it,
      // bounded by the hang limit, so no frame of this input arrives during the next one.
      while (inbound.status === 'open' || inbound.status === 'closing') await new Promise<void>((r) => setTimeout(r, 1))
      // Every frame handed on was a frame of the sent bytes, in order, within the limit. (The
      // length prefix may be a non-minimal varint, e.g. 0x80 0x00 for 0: @libp2p/utils reads those.)
      let at = 0
      for (const f of frames) {
        if (f.length > LIMIT) throw new Error(`a frame of ${f.length} bytes, over the channel's limit`)
        const prefix = readVarint(bytes, at)
        if (prefix === null || prefix.value !== f.length || !bytesEq(bytes.subarray(prefix.end, prefix.end + f.length), f)) throw new Error('the channel handed on a frame that was not sent')
        at = prefix.end + f.length
      }
      if (chan.errors.length > 0) throw new Error(`channel logged: ${chan.errors[0]}`)
    },
    {
      hangMs: 10_000,
      before: async () => {
        await Channel.open(chan.host, 'fuzzchan', LIMIT, (f) => {
          frames.push(f.slice())
          if (f.length === 3) throw new Error('a handler bug') // must not stop the reader
        })
      },
    },
  )

  // --- gossip ---
  const payloads = [...corpus.consensusBytes(), ...corpus.entryWires().slice(0, 4)]
  const envelopes = payloads.map((p, i) => encodeEnvelope(i, p))
  fuzz('decodeEnvelope: hostile gossip envelopes give the payload or a TrothError; accepted ones re-encode exactly', fc.tuple(hostileBytes(envelopes), fc.constantFrom(64 * 1024, 1024, 1)), ([bytes, max]) => {
    const r = attempt(() => decodeEnvelope(bytes, max))
    if (!r.ok) return
    const nonce = (decode(bytes, { bytesMax: bytes.length }) as { n: number }).n
    if (!bytesEq(encodeEnvelope(nonce, r.value), bytes)) throw new Error('an accepted envelope re-encodes differently')
  })

  const gossipHost = standInHost()
  const delivered: Uint8Array[] = []
  let gossip: Gossip | null = null
  fuzzAsync(
    'gossip validator and delivery: hostile messages are accepted exactly when the envelope is well formed, and delivered once',
    fc.tuple(hostileBytes(envelopes), fc.constantFrom('consensus', 'entries', 'other'), fc.constantFrom('signed', 'unsigned')),
    async ([data, topicName, type]) => {
      const g = gossip as Gossip
      const topic = topicName === 'other' ? 'elsewhere' : gossipTopic(NET, topicName)
      const from = peerIdOfMember(corpus.carol.id)
      const msg = type === 'signed' ? { type, from, topic, data, sequenceNumber: 1n, signature: new Uint8Array(64), key: from.publicKey } : { type, topic, data }
      const validate = gossipHost.validators.get(topic)
      delivered.length = 0
      if (validate === undefined) return
      const verdict = validate(peerIdOfMember(corpus.bob.id), msg)
      const envelope = attempt(() => decodeEnvelope(data, g.payloadBytesMax(topicName as 'consensus')))
      const shouldAccept = type === 'signed' && envelope.ok
      if ((verdict === TopicValidatorResult.Accept) !== shouldAccept) throw new Error(`validator said ${verdict} to a ${type} message whose envelope ${envelope.ok ? 'decodes' : 'does not decode'}`)
      if (verdict === TopicValidatorResult.Accept) {
        for (const l of gossipHost.listeners) l(new CustomEvent('message', { detail: msg }))
        await new Promise<void>((r) => setImmediate(r))
        if (delivered.length !== 1 || !envelope.ok || !bytesEq(delivered[0] as Uint8Array, envelope.value)) throw new Error('an accepted message was not delivered once, as its payload')
      }
      if (gossipHost.errors.length > 0) throw new Error(`gossip logged: ${gossipHost.errors[0]}`)
    },
    {
      before: () => {
        gossip = new Gossip(gossipHost.host)
        for (const name of ['consensus', 'entries'] as const) {
          gossip.subscribe(name, (payload) => {
            delivered.push(payload)
            if (payload.length === 1) throw new Error('a handler bug') // must not escape the dispatch
          })
        }
      },
    },
  )
})
