// Gossip topics of a troth network (DESIGN.md §7): `/troth/<net>/entries/1` (the mempool) and
// `/troth/<net>/consensus/1`, over gossipsub with signed messages and content-addressed message
// ids. Every payload travels in an envelope, CBOR { n: uint, p: bytes }, whose nonce `n` makes
// two publications of the same payload two distinct messages (gossipsub drops bytes it has seen
// within its seen-TTL). Malformed or oversized messages are rejected in gossipsub's validator, so
// they are neither delivered nor forwarded, and the peer that sent them is penalised.

import { createHash, randomInt } from 'node:crypto'
import { StrictSign, TopicValidatorResult, type GossipSub, type GossipsubOpts, type Message } from '@libp2p/gossipsub'
import type { Logger, PeerId } from '@libp2p/interface'
import { TrothError, assert } from '../errors.ts'
import type { MemberId } from '../identity/index.ts'
import { asBytes, asMap, asUint, decode, encode } from '../ledger/encoding.ts'
import { ENTRY_BYTES_MAX } from '../ledger/limits.ts'
import type { TrothHost } from './host.ts'
import { PENALTY_POINTS } from './penalties.ts'

export const GOSSIP_TOPIC_NAMES = ['entries', 'consensus'] as const
export type GossipTopicName = (typeof GOSSIP_TOPIC_NAMES)[number]

/** The largest gossipsub RPC frame we read or write (length prefix excluded). */
export const GOSSIP_MESSAGE_BYTES_MAX = 4 * 1024 * 1024
/** Room left in a frame for gossipsub's own fields: signature, key, from, seqno, topic, tags. */
const GOSSIP_FRAME_OVERHEAD_BYTES = 4 * 1024
/** The envelope around a payload: map head, two keys, a uint and a byte-string head. */
export const ENVELOPE_OVERHEAD_BYTES_MAX = 32
/** No topic's payload limit may exceed this: the payload must fit one frame. */
export const GOSSIP_PAYLOAD_BYTES_CEILING = GOSSIP_MESSAGE_BYTES_MAX - GOSSIP_FRAME_OVERHEAD_BYTES - ENVELOPE_OVERHEAD_BYTES_MAX

export const GOSSIP_PAYLOAD_BYTES_MAX_DEFAULT: Readonly<Record<GossipTopicName, number>> = {
  entries: ENTRY_BYTES_MAX,
  consensus: GOSSIP_PAYLOAD_BYTES_CEILING,
}

/** Nonces start at a random point below 2^48 − 1 (randomInt's range limit) so a restarted node
 * does not repeat its envelopes. */
const NONCE_START_MAX = 2 ** 48 - 1

/** `/troth/<net>/<name>/1`. */
export function gossipTopic(net: string, name: GossipTopicName): string {
  return `/troth/${net}/${name}/1`
}

/** SHA-256(topic ‖ 0x00 ‖ data). */
function contentHash(topic: string, data: Uint8Array): Buffer {
  return createHash('sha256').update(topic).update(Uint8Array.of(0)).update(data).digest()
}

/** A message id is the content hash of topic and envelope bytes: equal bytes are one message. */
function messageId(msg: Message): Uint8Array {
  return new Uint8Array(contentHash(msg.topic, msg.data))
}

/** The same id, computed from the raw RPC message before its signature is checked: a copy of a
 * message already accepted is dropped without a second signature verification (gossipsub checks
 * the signature of every copy otherwise; at 16 nodes that was a sixth of a node's CPU). Only
 * messages that passed validation enter the cache, so a forged copy cannot shadow the real one. */
function fastMessageId(msg: { topic?: string; data?: Uint8Array }): string {
  return contentHash(msg.topic ?? '', msg.data ?? new Uint8Array(0)).toString('base64')
}

/** gossipsub settings for a troth network; host.ts wires them into the libp2p node. */
export function gossipsubOptions(net: string): Partial<GossipsubOpts> {
  return {
    globalSignaturePolicy: StrictSign,
    emitSelf: false,
    // A lone node (or the first of a network) publishes into the void rather than throwing.
    allowPublishToZeroTopicPeers: true,
    fallbackToFloodsub: false,
    floodPublish: true,
    // Meshes of a few to a few dozen home nodes: a smaller degree than the default 6/4/12.
    D: 4,
    Dlo: 3,
    Dhi: 6,
    Dscore: 2,
    Dout: 1,
    Dlazy: 4,
    msgIdFn: messageId,
    fastMsgIdFn: fastMessageId,
    // Peer scoring's IP colocation penalty (default: −5 per extra peer squared, beyond 10 from
    // one address) is a Sybil heuristic for open networks. Ours admits only members (the gater),
    // members may share an address (one household, a NAT, a test on 127.0.0.1), and with 12 or
    // more on one address it graylisted every peer: gossip delivered nothing at 16 nodes.
    scoreParams: { IPColocationFactorWeight: 0 },
    maxInboundDataLength: GOSSIP_MESSAGE_BYTES_MAX,
    maxOutboundBufferSize: 4 * GOSSIP_MESSAGE_BYTES_MAX,
    allowedTopics: GOSSIP_TOPIC_NAMES.map((name) => gossipTopic(net, name)),
  }
}

/** Wrap a payload; `n` is the nonce. */
export function encodeEnvelope(nonce: number, payload: Uint8Array): Uint8Array {
  return encode({ n: nonce, p: payload })
}

/** Unwrap an envelope strictly; throws TrothError ('net.too-large', 'cbor.*', 'schema.invalid'). */
export function decodeEnvelope(bytes: Uint8Array, payloadBytesMax: number): Uint8Array {
  if (bytes.length > payloadBytesMax + ENVELOPE_OVERHEAD_BYTES_MAX) {
    throw new TrothError('net.too-large', `gossip message of ${bytes.length} bytes exceeds the topic's limit`)
  }
  const value = decode(bytes, { bytesMax: payloadBytesMax + ENVELOPE_OVERHEAD_BYTES_MAX, depthMax: 1, itemsMax: 5 })
  const map = asMap(value, 'envelope', ['n', 'p'])
  asUint(map.n, 'envelope.n')
  const payload = asBytes(map.p, 'envelope.p')
  if (payload.length > payloadBytesMax) {
    throw new TrothError('net.too-large', `gossip payload of ${payload.length} bytes exceeds the topic's limit of ${payloadBytesMax}`)
  }
  return payload
}

/** Receives a payload and the MemberId of its author (the signer, not the relay). */
export type GossipHandler = (payload: Uint8Array, from: MemberId) => void | Promise<void>

export interface GossipOptions {
  /** Per-topic payload limits in bytes; each at most GOSSIP_PAYLOAD_BYTES_CEILING. */
  readonly payloadBytesMax?: Partial<Record<GossipTopicName, number>>
}

export class Gossip {
  readonly #host: TrothHost
  readonly #pubsub: GossipSub
  readonly #log: Logger
  readonly #limits: Record<GossipTopicName, number>
  readonly #names = new Map<string, GossipTopicName>()
  readonly #handlers = new Map<GossipTopicName, GossipHandler>()
  /** Payloads unwrapped by the validator, handed to the 'message' listener without a second decode. */
  readonly #accepted = new WeakMap<Message, { payload: Uint8Array; from: MemberId }>()
  #nonce: number = randomInt(0, NONCE_START_MAX)
  #closed = false
  /** Messages this node published, by topic. */
  readonly stats: { published: Record<GossipTopicName, number> } = { published: { entries: 0, consensus: 0 } }

  constructor(host: TrothHost, options: GossipOptions = {}) {
    this.#host = host
    this.#pubsub = host.libp2p.services.pubsub
    this.#log = host.logger.forComponent('troth:p2p:gossip')
    const limits = { ...GOSSIP_PAYLOAD_BYTES_MAX_DEFAULT, ...options.payloadBytesMax }
    for (const name of GOSSIP_TOPIC_NAMES) {
      const max = limits[name]
      if (!Number.isSafeInteger(max) || max <= 0 || max > GOSSIP_PAYLOAD_BYTES_CEILING) {
        throw new TrothError('input.invalid', `payloadBytesMax.${name} must be an integer in 1..${GOSSIP_PAYLOAD_BYTES_CEILING}`)
      }
      const topic = gossipTopic(host.net, name)
      this.#names.set(topic, name)
      // Validators run before delivery and before forwarding, for every message on the topic.
      this.#pubsub.topicValidators.set(topic, this.#validate)
    }
    this.#limits = limits
    this.#pubsub.addEventListener('message', this.#onMessage)
  }

  topic(name: GossipTopicName): string {
    return gossipTopic(this.#host.net, name)
  }

  payloadBytesMax(name: GossipTopicName): number {
    return this.#limits[name]
  }

  /** Deliver the topic's payloads to `handler` (one handler per topic); returns an unsubscribe. */
  subscribe(name: GossipTopicName, handler: GossipHandler): () => void {
    assert(!this.#closed, 'gossip is closed')
    assert(!this.#handlers.has(name), `already subscribed to ${name}`)
    if (!this.#host.started) throw new TrothError('net.not-started', 'start the host before subscribing')
    this.#handlers.set(name, handler)
    this.#pubsub.subscribe(this.topic(name))
    return () => {
      if (this.#handlers.get(name) !== handler) return
      this.#handlers.delete(name)
      if (this.#host.started) this.#pubsub.unsubscribe(this.topic(name))
    }
  }

  /** Publish a payload in a fresh envelope; resolves to the number of peers it was sent to.
   * Publishing the same payload twice sends two messages. */
  async publish(name: GossipTopicName, payload: Uint8Array): Promise<number> {
    assert(!this.#closed, 'gossip is closed')
    assert(payload instanceof Uint8Array, 'publish: payload must be bytes')
    const max = this.#limits[name]
    if (payload.length > max) {
      throw new TrothError('net.too-large', `payload of ${payload.length} bytes exceeds the ${name} limit of ${max}`)
    }
    if (!this.#host.started) throw new TrothError('net.not-started', 'start the host before publishing')
    const envelope = encodeEnvelope(this.#nextNonce(), payload)
    this.stats.published[name]++
    const result = await this.#pubsub.publish(this.topic(name), envelope)
    return result.recipients.length
  }

  /** MemberIds of the connected peers subscribed to a topic. */
  subscribers(name: GossipTopicName): MemberId[] {
    const ids: MemberId[] = []
    for (const peer of this.#pubsub.getSubscribers(this.topic(name))) {
      const id = this.#host.memberOf(peer)
      if (id !== null) ids.push(id)
    }
    return ids.sort()
  }

  /** Unsubscribe everything and stop validating; the host keeps running. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#pubsub.removeEventListener('message', this.#onMessage)
    for (const [topic, name] of this.#names) {
      if (this.#pubsub.topicValidators.get(topic) === this.#validate) this.#pubsub.topicValidators.delete(topic)
      if (this.#handlers.delete(name) && this.#host.started) this.#pubsub.unsubscribe(topic)
    }
  }

  #nextNonce(): number {
    const n = this.#nonce
    this.#nonce = n >= Number.MAX_SAFE_INTEGER ? 0 : n + 1
    return n
  }

  readonly #validate = (source: PeerId, msg: Message): TopicValidatorResult => {
    const name = this.#names.get(msg.topic)
    if (name === undefined) return TopicValidatorResult.Ignore
    const relay = this.#host.memberOf(source)
    const author = msg.type === 'signed' ? this.#host.memberOf(msg.from) : null
    if (author === null) {
      // StrictSign already refuses unsigned messages; a signer without an Ed25519 key is not a member.
      if (relay !== null) this.#host.penalise(relay, 'gossip.bad-author', PENALTY_POINTS.malformed)
      return TopicValidatorResult.Reject
    }
    let payload: Uint8Array
    try {
      payload = decodeEnvelope(msg.data, this.#limits[name])
    } catch (err) {
      const tooLarge = err instanceof TrothError && err.code === 'net.too-large'
      this.#log('rejected %s message from %s (author %s): %s', name, relay, author, err instanceof Error ? err.message : String(err))
      if (relay !== null) {
        this.#host.penalise(relay, tooLarge ? 'gossip.too-large' : 'gossip.malformed', tooLarge ? PENALTY_POINTS.tooLarge : PENALTY_POINTS.malformed)
      }
      return TopicValidatorResult.Reject
    }
    // A message by an author we no longer admit (exiled, unknown yet) is dropped, not punished:
    // the relay's view of membership may lag ours by a block.
    if (author !== this.#host.memberId && !this.#host.isAdmitted(author)) return TopicValidatorResult.Ignore
    this.#accepted.set(msg, { payload, from: author })
    return TopicValidatorResult.Accept
  }

  #unwrap(name: GossipTopicName, msg: Message): { payload: Uint8Array; from: MemberId } | null {
    const from = msg.type === 'signed' ? this.#host.memberOf(msg.from) : null
    if (from === null) return null
    try {
      return { payload: decodeEnvelope(msg.data, this.#limits[name]), from }
    } catch {
      return null
    }
  }

  readonly #onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    const name = this.#names.get(msg.topic)
    if (name === undefined) return
    const handler = this.#handlers.get(name)
    if (handler === undefined) return
    // #validate recorded the unwrapped payload on this very object (gossipsub dispatches the
    // message it validated); unwrap again should a future gossipsub hand over a copy.
    const accepted = this.#accepted.get(msg) ?? this.#unwrap(name, msg)
    if (accepted === null) return
    this.#accepted.delete(msg)
    try {
      const result = handler(accepted.payload, accepted.from)
      if (result instanceof Promise) {
        result.catch((err: unknown) => {
          this.#log.error('%s handler failed - %e', name, err)
        })
      }
    } catch (err) {
      // A handler's bug must not take the node down (it runs inside gossipsub's event dispatch).
      this.#log.error('%s handler threw - %e', name, err)
    }
  }
}

export function createGossip(host: TrothHost, options: GossipOptions = {}): Gossip {
  return new Gossip(host, options)
}
