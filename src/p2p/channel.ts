// One-way message channels: one long-lived outbound stream per peer and protocol, carrying
// length-prefixed frames in order. For traffic that is many small messages to the same few
// peers (consensus votes), this saves opening and negotiating a stream per message. A stream that
// fails is dropped and reopened on the next send; frames lost with it are the protocol's to
// recover (consensus rebroadcasts), exactly as with lost gossip.

import type { Connection, Stream } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { TrothError } from '../errors.ts'
import type { MemberId } from '../identity/index.ts'
import type { TrothHost } from './host.ts'
import { PENALTY_POINTS } from './penalties.ts'
import { protocolId } from './rpc.ts'

/** Frames queued for one peer before new ones are dropped (memory bound for a slow peer). */
export const CHANNEL_QUEUE_MAX = 1024
export const CHANNEL_OPEN_TIMEOUT_MS = 5_000

/** A varint length prefix of a frame up to 2^56 bytes. */
const LENGTH_PREFIX_BYTES_MAX = 8

/** The longest prefix of `queue` whose frames (with room for their length prefixes) fit in
 * `bytes`, and at least one frame; removed from the queue. */
export function takeBatch(queue: Uint8Array[], bytes: number): Uint8Array[] {
  let n = 0
  let total = 0
  while (n < queue.length) {
    total += (queue[n] as Uint8Array).length + LENGTH_PREFIX_BYTES_MAX
    if (n > 0 && total > bytes) break
    n++
  }
  return queue.splice(0, n)
}

export type FrameHandler = (frame: Uint8Array, from: MemberId) => void

interface Outbound {
  lp: LengthPrefixedStream<Stream> | null
  stream: Stream | null
  queue: Uint8Array[]
  pumping: boolean
}

export class Channel {
  readonly id: string
  readonly #host: TrothHost
  readonly #maxFrameBytes: number
  readonly #out = new Map<MemberId, Outbound>()
  readonly #in = new Set<Stream>()
  #closed = false

  private constructor(host: TrothHost, id: string, maxFrameBytes: number) {
    this.#host = host
    this.id = id
    this.#maxFrameBytes = maxFrameBytes
  }

  static async open(host: TrothHost, name: string, maxFrameBytes: number, onFrame: FrameHandler): Promise<Channel> {
    const ch = new Channel(host, protocolId(host.net, name), maxFrameBytes)
    await host.libp2p.handle(
      ch.id,
      (stream: Stream, connection: Connection) => {
        void ch.#read(stream, connection, onFrame)
      },
      { maxInboundStreams: 4, maxOutboundStreams: 4 },
    )
    return ch
  }

  async #read(stream: Stream, connection: Connection, onFrame: FrameHandler): Promise<void> {
    const from = this.#host.memberOf(connection.remotePeer)
    if (from === null) {
      stream.abort(new TrothError('net.refused', 'not a member'))
      return
    }
    this.#in.add(stream)
    const lp = lpStream(stream, { maxDataLength: this.#maxFrameBytes, maxBufferSize: 2 * (this.#maxFrameBytes + 16) })
    try {
      for (;;) {
        const frame = await lp.read()
        try {
          onFrame(frame.subarray(), from)
        } catch {
          // A handler's failure is the handler's; the channel keeps reading.
        }
      }
    } catch (err) {
      const name = err instanceof Error ? err.name : ''
      if (name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError' || name === 'InvalidMessageLengthError') {
        this.#host.penalise(from, 'channel.too-large', PENALTY_POINTS.tooLarge)
      }
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      this.#in.delete(stream)
    }
  }

  /** Queue a frame for a peer; frames to one peer leave in order. Never throws. */
  send(to: MemberId, frame: Uint8Array): void {
    if (this.#closed || frame.length > this.#maxFrameBytes) return
    let o = this.#out.get(to)
    if (o === undefined) {
      o = { lp: null, stream: null, queue: [], pumping: false }
      this.#out.set(to, o)
    }
    if (o.queue.length >= CHANNEL_QUEUE_MAX) return
    o.queue.push(frame)
    if (o.pumping) return
    // Start writing after the current task: the frames a caller sends in one go (a certificate
    // and the vote it triggers) then leave together.
    o.pumping = true
    setImmediate(() => void this.#pump(to, o))
  }

  async #pump(to: MemberId, o: Outbound): Promise<void> {
    try {
      while (o.queue.length > 0 && !this.#closed) {
        if (o.lp === null) {
          try {
            const stream = await this.#host.libp2p.dialProtocol(this.#host.peerOf(to), this.id, { signal: AbortSignal.timeout(CHANNEL_OPEN_TIMEOUT_MS) })
            o.stream = stream
            o.lp = lpStream(stream, { maxDataLength: this.#maxFrameBytes })
          } catch {
            o.queue.length = 0 // peer unreachable now: drop what waited (the protocol retries)
            return
          }
        }
        // What is queued leaves in one write: one muxer frame, one Noise message, one syscall for
        // a burst (a node often sends a certificate and its next vote at once). A write carries
        // at most half a frame limit (or one frame): the reader buffers up to two frame limits,
        // and a longer burst cut its stream (docs/network.md).
        const frames = takeBatch(o.queue, this.#maxFrameBytes / 2)
        try {
          await o.lp.writeV(frames)
        } catch {
          o.stream?.abort(new Error('channel write failed'))
          o.lp = null
          o.stream = null
        }
      }
    } finally {
      o.pumping = false
    }
  }

  /** Drop the outbound stream to a peer (e.g. after it was disconnected or exiled). */
  forget(peer: MemberId): void {
    const o = this.#out.get(peer)
    if (o === undefined) return
    o.stream?.abort(new Error('channel closed'))
    this.#out.delete(peer)
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const [peer] of this.#out) this.forget(peer)
    for (const s of this.#in) s.abort(new Error('channel closed'))
    await this.#host.libp2p.unhandle(this.id).catch(() => undefined)
  }
}
