// One-way message channels: one long-lived outbound stream per peer and protocol, carrying
// length-prefixed frames in order. For traffic that is many small messages to the same few
// peers (consensus votes), this saves opening and negotiating a stream per message. A stream that
// fails is dropped and reopened on the next send; frames lost with it are the protocol's to
// recover (consensus rebroadcasts), exactly as with lost gossip.

import type { Connection, Stream, StreamMessageEvent } from '@libp2p/interface'
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

/** Cuts a byte stream into frames, each prefixed by its length as an unsigned varint (as
 * `lpStream` writes them). A length over `maxFrameBytes`, or a prefix longer than
 * LENGTH_PREFIX_BYTES_MAX bytes, throws TrothError 'net.too-large' before the frame's bytes are
 * buffered: at most one frame limit and a prefix are ever held. No exception on the hot path. */
export class FrameDecoder {
  readonly #max: number
  /** Bytes of an unfinished frame (a copy: it never pins a larger buffer). */
  #rest: Uint8Array = new Uint8Array(0)

  constructor(maxFrameBytes: number) {
    this.#max = maxFrameBytes
  }

  /** Bytes held for an unfinished frame. */
  get buffered(): number {
    return this.#rest.length
  }

  /** The frames `chunk` completes, in order. */
  push(chunk: Uint8Array | { subarray(): Uint8Array }): Uint8Array[] {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    let data = bytes
    if (this.#rest.length > 0) {
      data = new Uint8Array(this.#rest.length + bytes.length)
      data.set(this.#rest, 0)
      data.set(bytes, this.#rest.length)
    }
    const frames: Uint8Array[] = []
    let at = 0
    for (;;) {
      let length = 0
      let scale = 1
      let p = at
      let complete = false
      while (p < data.length && p - at < LENGTH_PREFIX_BYTES_MAX) {
        const b = data[p++] as number
        length += (b & 0x7f) * scale
        scale *= 128
        if (b < 0x80) {
          complete = true
          break
        }
      }
      if (!complete) {
        if (p - at >= LENGTH_PREFIX_BYTES_MAX) throw new TrothError('net.too-large', `frame length prefix of more than ${LENGTH_PREFIX_BYTES_MAX} bytes`)
        break // the prefix is not all here yet
      }
      if (length > this.#max) throw new TrothError('net.too-large', `frame of ${length} bytes exceeds the limit of ${this.#max}`)
      if (data.length - p < length) break
      frames.push(data.subarray(p, p + length))
      at = p + length
    }
    this.#rest = at === data.length ? new Uint8Array(0) : data.slice(at)
    return frames
  }
}

export type FrameHandler = (frame: Uint8Array, from: MemberId) => void

interface Outbound {
  lp: LengthPrefixedStream<Stream> | null
  stream: Stream | null
  queue: Uint8Array[]
  pumping: boolean
}

/** What went through a channel since it opened (metrics, benches). */
export interface ChannelStats {
  framesOut: number
  bytesOut: number
  framesIn: number
  bytesIn: number
  /** Frames not sent: the peer's queue was full, the peer was unreachable, a write failed, or
   * the frame was over the limit. */
  dropped: number
}

export class Channel {
  readonly id: string
  readonly stats: ChannelStats = { framesOut: 0, bytesOut: 0, framesIn: 0, bytesIn: 0, dropped: 0 }
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
        ch.#read(stream, connection, onFrame)
      },
      { maxInboundStreams: 4, maxOutboundStreams: 4 },
    )
    return ch
  }

  #read(stream: Stream, connection: Connection, onFrame: FrameHandler): void {
    const from = this.#host.memberOf(connection.remotePeer)
    if (from === null) {
      stream.abort(new TrothError('net.refused', 'not a member'))
      return
    }
    this.#in.add(stream)
    const decoder = new FrameDecoder(this.#maxFrameBytes)
    // Frames are cut out of each batch of bytes as it arrives, synchronously: no await per frame.
    const onMessage = (evt: StreamMessageEvent): void => {
      let frames: Uint8Array[]
      try {
        frames = decoder.push(evt.data)
      } catch (err) {
        if (err instanceof TrothError && err.code === 'net.too-large') this.#host.penalise(from, 'channel.too-large', PENALTY_POINTS.tooLarge)
        stream.abort(err instanceof Error ? err : new Error(String(err)))
        return
      }
      for (const frame of frames) {
        this.stats.framesIn++
        this.stats.bytesIn += frame.length
        try {
          onFrame(frame, from)
        } catch {
          // A handler's failure is the handler's; the channel keeps reading.
        }
      }
    }
    stream.addEventListener('message', onMessage)
    // The remote ended its side: nothing more will come on this stream.
    stream.addEventListener('remoteCloseWrite', () => stream.abort(new Error('channel ended by the peer')), { once: true })
    const done = (): void => {
      stream.removeEventListener('message', onMessage)
      this.#in.delete(stream)
    }
    stream.addEventListener('close', done, { once: true })
    // Already over before we listened: what it buffered is handed on first (in a microtask the
    // 'message' listener queued), then it ends.
    if (stream.status !== 'open' && stream.status !== 'closing') done()
    else if (stream.remoteWriteStatus === 'closed') queueMicrotask(() => stream.abort(new Error('channel ended by the peer')))
  }

  /** Queue a frame for a peer; frames to one peer leave in order. Never throws. */
  send(to: MemberId, frame: Uint8Array): void {
    if (this.#closed) return
    if (frame.length > this.#maxFrameBytes) {
      this.stats.dropped++
      return
    }
    let o = this.#out.get(to)
    if (o === undefined) {
      o = { lp: null, stream: null, queue: [], pumping: false }
      this.#out.set(to, o)
    }
    if (o.queue.length >= CHANNEL_QUEUE_MAX) {
      this.stats.dropped++
      return
    }
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
            this.stats.dropped += o.queue.length
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
          this.stats.framesOut += frames.length
          for (const f of frames) this.stats.bytesOut += f.length
        } catch {
          this.stats.dropped += frames.length
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
