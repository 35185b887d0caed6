// Request/response protocols of a troth network (DESIGN.md §7: `/troth/<net>/<name>/1`). One
// stream per request: the requester writes one length-prefixed CBOR frame and closes its write
// end; the responder answers with one length-prefixed frame, CBOR { ok: value } or
// { err: code, msg: text }, and closes. Each protocol fixes its request and response limits and
// a timeout; a peer that breaks them has its stream aborted and is penalised, and neither side
// ever crashes on a peer's bytes. docs/network.md has the wire format and the error codes.

import { setMaxListeners } from 'node:events'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { TrothError } from '../errors.ts'
import type { MemberId } from '../identity/index.ts'
import { CBOR_DEPTH_MAX, asMap, asText, decode, encode, type CborValue } from '../ledger/encoding.ts'
import type { TrothHost } from './host.ts'
import { PENALTY_POINTS } from './penalties.ts'

/** Protocol names: short, lowercase, as they appear in protocol ids. */
const NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/
/** The hard ceiling for any frame: one gossip message or one block, 4 MiB, plus framing. */
export const RPC_FRAME_BYTES_CEILING = 4 * 1024 * 1024 + 64 * 1024
export const RPC_TIMEOUT_MS_MAX = 10 * 60 * 1000
/** Error text sent back to a requester is cut to this many characters. */
const ERROR_MESSAGE_CHARS_MAX = 256
/** Room the response wrapper { ok: … } adds around the handler's value. */
const RESPONSE_OVERHEAD_BYTES = 16
/** Concurrent inbound streams per protocol and connection. */
export const RPC_INBOUND_STREAMS_MAX_DEFAULT = 8
export const RPC_OUTBOUND_STREAMS_MAX_DEFAULT = 8

export interface RpcLimits {
  /** The largest request frame, in bytes of CBOR. */
  readonly maxRequestBytes: number
  /** The largest response value, in bytes of CBOR. */
  readonly maxResponseBytes: number
  /** The whole exchange, from opening the stream to the last byte of the response. */
  readonly timeoutMs: number
}

export interface RpcProtocol extends RpcLimits {
  readonly name: string
  /** `/troth/<net>/<name>/1` */
  readonly id: string
}

/** `/troth/<net>/<name>/1`. */
export function protocolId(net: string, name: string): string {
  if (!NAME_PATTERN.test(name)) throw new TrothError('input.invalid', `protocol name must match ${NAME_PATTERN}: ${JSON.stringify(name)}`)
  return `/troth/${net}/${name}/1`
}

/** A protocol of network `net` with its limits, checked once here. Both sides use the same. */
export function rpcProtocol(net: string, name: string, limits: RpcLimits): RpcProtocol {
  const check = (value: number, what: string, max: number): void => {
    if (!Number.isSafeInteger(value) || value <= 0 || value > max) {
      throw new TrothError('input.invalid', `${name}: ${what} must be an integer in 1..${max}, got ${value}`)
    }
  }
  check(limits.maxRequestBytes, 'maxRequestBytes', RPC_FRAME_BYTES_CEILING - RESPONSE_OVERHEAD_BYTES)
  check(limits.maxResponseBytes, 'maxResponseBytes', RPC_FRAME_BYTES_CEILING - RESPONSE_OVERHEAD_BYTES)
  check(limits.timeoutMs, 'timeoutMs', RPC_TIMEOUT_MS_MAX)
  return Object.freeze({ name, id: protocolId(net, name), maxRequestBytes: limits.maxRequestBytes, maxResponseBytes: limits.maxResponseBytes, timeoutMs: limits.timeoutMs })
}

export interface RpcContext {
  /** Aborted when the exchange's timeout runs out or the host stops. */
  readonly signal: AbortSignal
}

/** Answers one request. A throw becomes an error response; the server keeps serving. */
export type RpcHandler = (request: CborValue, from: MemberId, context: RpcContext) => CborValue | Promise<CborValue>

export interface RequestOptions {
  readonly signal?: AbortSignal
  /** Shorter (or longer, up to RPC_TIMEOUT_MS_MAX) than the protocol's timeout. */
  readonly timeoutMs?: number
}

export interface HandleOptions {
  readonly maxInboundStreams?: number
  readonly maxOutboundStreams?: number
}

/** Bytes of the unsigned varint that encodes `n` (multiformats unsigned-varint). */
function varintBytes(n: number): number {
  let bytes = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    bytes++
  }
  return bytes
}

function frameStream(stream: Stream, maxDataLength: number): LengthPrefixedStream<Stream> {
  // byteStream buffers at most maxBufferSize bytes (default 4 MiB) before aborting the stream, so
  // size it to exactly one frame and its varint prefix: anything beyond is a protocol breach.
  return lpStream(stream, { maxDataLength, maxBufferSize: maxDataLength + varintBytes(maxDataLength) })
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : ''
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, ERROR_MESSAGE_CHARS_MAX)
}

const TOO_LARGE_ERRORS = new Set(['InvalidDataLengthError', 'InvalidDataLengthLengthError', 'InvalidMessageLengthError', 'StreamBufferError'])

function withTimeout(timeoutMs: number, signal: AbortSignal | undefined): { timeout: AbortSignal; signal: AbortSignal } {
  const timeout = AbortSignal.timeout(timeoutMs)
  const combined = signal === undefined ? timeout : AbortSignal.any([timeout, signal])
  // libp2p attaches a listener per awaited operation.
  setMaxListeners(Infinity, combined)
  return { timeout, signal: combined }
}

function decodeResponse(bytes: Uint8Array, protocol: RpcProtocol): CborValue {
  const value = decode(bytes, { bytesMax: protocol.maxResponseBytes + RESPONSE_OVERHEAD_BYTES, depthMax: CBOR_DEPTH_MAX + 1 })
  const map = asMap(value, 'response', [], ['ok', 'err', 'msg'])
  if (map.ok !== undefined) {
    if (map.err !== undefined || map.msg !== undefined) throw new TrothError('schema.invalid', 'response: both ok and err')
    return map.ok
  }
  const code = asText(map.err, 'response.err', 64)
  const message = asText(map.msg, 'response.msg', ERROR_MESSAGE_CHARS_MAX * 4)
  throw new TrothError('net.remote-error', `${protocol.name}: the peer answered with an error (${code}): ${message}`)
}

export class Rpc {
  readonly #host: TrothHost

  constructor(host: TrothHost) {
    this.#host = host
  }

  /** Serve `protocol`; one handler per protocol id. */
  async handle(protocol: RpcProtocol, handler: RpcHandler, options: HandleOptions = {}): Promise<void> {
    const log = this.#host.logger.forComponent(`troth:p2p:rpc:${protocol.name}`)
    await this.#host.libp2p.handle(
      protocol.id,
      (stream: Stream, connection: Connection) => {
        this.#serve(protocol, handler, stream, connection).catch((err: unknown) => {
          // #serve handles every peer-caused failure itself; reaching here is a bug in it.
          log.error('serve failed - %e', err)
          stream.abort(err instanceof Error ? err : new Error(String(err)))
        })
      },
      {
        maxInboundStreams: options.maxInboundStreams ?? RPC_INBOUND_STREAMS_MAX_DEFAULT,
        maxOutboundStreams: options.maxOutboundStreams ?? RPC_OUTBOUND_STREAMS_MAX_DEFAULT,
      },
    )
  }

  async unhandle(protocol: RpcProtocol): Promise<void> {
    await this.#host.libp2p.unhandle(protocol.id)
  }

  async #serve(protocol: RpcProtocol, handler: RpcHandler, stream: Stream, connection: Connection): Promise<void> {
    const log = stream.log.newScope(`troth-rpc-${protocol.name}`)
    const from = this.#host.memberOf(connection.remotePeer)
    // The gater only lets Ed25519 members through.
    if (from === null) {
      stream.abort(new Error('the peer\'s key is no member\'s'))
      return
    }
    const { timeout, signal } = withTimeout(protocol.timeoutMs, undefined)
    const lp = frameStream(stream, protocol.maxRequestBytes)
    const refuse = (reason: string, points: number, err: unknown): void => {
      log('refusing request from %s: %s - %e', from, reason, err)
      this.#host.penalise(from, `rpc.${reason}`, points)
      stream.abort(err instanceof Error ? err : new TrothError('net.protocol', reason))
    }

    let request: CborValue
    try {
      const frame = await lp.read({ signal })
      request = decode(frame.subarray(), { bytesMax: protocol.maxRequestBytes })
    } catch (err) {
      const name = errorName(err)
      if (timeout.aborted) refuse('timeout', PENALTY_POINTS.timeout, new TrothError('net.timeout', 'request not received in time'))
      else if (TOO_LARGE_ERRORS.has(name)) refuse('too-large', PENALTY_POINTS.tooLarge, err)
      else if (err instanceof TrothError) refuse('malformed', PENALTY_POINTS.malformed, err)
      else if (name === 'UnexpectedEOFError') refuse('truncated', PENALTY_POINTS.protocol, err)
      else {
        // Reset or closed by the requester (it gave up): nothing to punish.
        log('request stream ended - %e', err)
        stream.abort(err instanceof Error ? err : new Error(String(err)))
      }
      return
    }

    let response: Uint8Array
    try {
      const value = await handler(request, from, { signal })
      response = encode({ ok: value })
      if (response.length > protocol.maxResponseBytes + RESPONSE_OVERHEAD_BYTES) {
        log.error('handler answered %d bytes, over the limit of %d', response.length, protocol.maxResponseBytes)
        response = encode({ err: 'net.too-large', msg: 'the response exceeds the protocol limit' })
      }
    } catch (err) {
      if (timeout.aborted) {
        stream.abort(new TrothError('net.timeout', 'handler did not answer in time'))
        return
      }
      log('handler failed for %s - %e', from, err)
      const code = err instanceof TrothError ? err.code : 'handler'
      response = encode({ err: code, msg: errorText(err) })
    }

    try {
      await lp.write(response, { signal })
      await stream.close({ signal })
    } catch (err) {
      log('could not send the response to %s - %e', from, err)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** Send one request and await its response. Errors are TrothErrors: 'net.too-large',
   * 'net.timeout', 'net.aborted', 'net.refused', 'net.dial-failed', 'net.protocol',
   * 'net.remote-error'. */
  async request(target: MemberId | PeerId, protocol: RpcProtocol, value: CborValue, options: RequestOptions = {}): Promise<CborValue> {
    if (!this.#host.started) throw new TrothError('net.not-started', 'the host is not started')
    const peer = typeof target === 'string' ? this.#host.peerOf(target) : target
    const memberId = this.#host.memberOf(peer)
    if (memberId === null || !this.#host.allows(peer)) {
      throw new TrothError('net.refused', `${protocol.name}: ${memberId ?? peer.toString()} is not an admitted peer`)
    }
    const bytes = encode(value)
    if (bytes.length > protocol.maxRequestBytes) {
      throw new TrothError('net.too-large', `${protocol.name}: request of ${bytes.length} bytes exceeds the limit of ${protocol.maxRequestBytes}`)
    }
    const timeoutMs = options.timeoutMs ?? protocol.timeoutMs
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > RPC_TIMEOUT_MS_MAX) {
      throw new TrothError('input.invalid', `timeoutMs must be an integer in 1..${RPC_TIMEOUT_MS_MAX}`)
    }
    const { timeout, signal } = withTimeout(timeoutMs, options.signal)
    const stopped = (): TrothError | null => {
      if (options.signal?.aborted === true) return new TrothError('net.aborted', `${protocol.name}: request aborted by the caller`)
      if (timeout.aborted) return new TrothError('net.timeout', `${protocol.name}: no response from ${memberId} within ${timeoutMs} ms`)
      return null
    }

    let stream: Stream
    try {
      stream = await this.#host.libp2p.dialProtocol(peer, protocol.id, { signal })
    } catch (err) {
      const name = errorName(err)
      const reason = errorText(err)
      const stop = stopped()
      if (stop !== null) throw stop
      if (name === 'UnsupportedProtocolError') {
        throw new TrothError('net.protocol', `${protocol.name}: ${memberId} does not serve ${protocol.id}`, { cause: err })
      }
      if (name === 'DialDeniedError' || name === 'ConnectionInterceptedError' || name === 'ConnectionDeniedError') {
        throw new TrothError('net.refused', `${protocol.name}: connection to ${memberId} refused: ${reason}`, { cause: err })
      }
      throw new TrothError('net.dial-failed', `${protocol.name}: could not open a stream to ${memberId}: ${reason}`, { cause: err })
    }

    const lp = frameStream(stream, protocol.maxResponseBytes + RESPONSE_OVERHEAD_BYTES)
    let frame: Uint8Array
    try {
      await lp.write(bytes, { signal })
      await stream.close({ signal })
      frame = (await lp.read({ signal })).subarray()
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      // A peer that answers late is slow (loaded, catching up, on a poor link), not hostile: no
      // penalty. Penalising it led to bans, and a banned replica cannot be audited, so its honest
      // auditor filed `unreachable` reports that others contradicted (docs/network.md).
      const stop = stopped()
      if (stop !== null) throw stop
      if (TOO_LARGE_ERRORS.has(errorName(err))) {
        this.#host.penalise(memberId, 'rpc.too-large', PENALTY_POINTS.tooLarge)
        throw new TrothError('net.too-large', `${protocol.name}: response from ${memberId} exceeds ${protocol.maxResponseBytes} bytes`, { cause: err })
      }
      throw new TrothError('net.protocol', `${protocol.name}: the stream to ${memberId} ended before a response: ${errorText(err)}`, { cause: err })
    }

    try {
      return decodeResponse(frame, protocol)
    } catch (err) {
      if (err instanceof TrothError && err.code === 'net.remote-error') throw err
      this.#host.penalise(memberId, 'rpc.malformed', PENALTY_POINTS.malformed)
      throw new TrothError('net.protocol', `${protocol.name}: malformed response from ${memberId}: ${errorText(err)}`, { cause: err })
    }
  }
}

export function createRpc(host: TrothHost): Rpc {
  return new Rpc(host)
}
