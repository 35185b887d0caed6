// Request/response protocols: one length-prefixed CBOR frame each way, limits and timeouts on
// both sides, bad frames aborted and penalised, and a server that never crashes (DESIGN.md §7).

import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { afterEach, describe, expect, test } from 'vitest'
import { TrothError } from '../../src/errors.ts'
import type { MemberId } from '../../src/identity/index.ts'
import { encode, type CborValue } from '../../src/ledger/encoding.ts'
import { createRpc, protocolId, rpcProtocol, type Rpc } from '../../src/p2p/index.ts'
import { Hosts, NET, type TestHost, waitFor } from './helpers.ts'

const hosts = new Hosts()
afterEach(async () => {
  await hosts.stopAll()
})

const LIMITS = { maxRequestBytes: 1024, maxResponseBytes: 1024, timeoutMs: 2_000 }
const echo = rpcProtocol(NET, 'echo', LIMITS)
const fail = rpcProtocol(NET, 'fail', LIMITS)
const slow = rpcProtocol(NET, 'slow', { ...LIMITS, timeoutMs: 300 })
const big = rpcProtocol(NET, 'big', LIMITS)
const rogue = rpcProtocol(NET, 'rogue', LIMITS)

interface Peer extends TestHost {
  rpc: Rpc
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const err: unknown = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(TrothError)
  return (err as TrothError).code
}

/** a serves; b and c are connected to it. */
async function setup(): Promise<{ a: Peer; b: Peer; c: Peer; seen: { request: CborValue; from: MemberId }[]; slowAborted: () => boolean }> {
  const ha = await hosts.make(1)
  const hb = await hosts.make(2, { bootstrap: ha.host.addrs() })
  const hc = await hosts.make(3, { bootstrap: ha.host.addrs() })
  await waitFor(() => ha.host.peers().length === 2, 'b and c to connect')
  const a = { ...ha, rpc: createRpc(ha.host) }
  const seen: { request: CborValue; from: MemberId }[] = []
  let aborted = false
  await a.rpc.handle(echo, (request, from) => {
    seen.push({ request, from })
    return { echo: request }
  })
  await a.rpc.handle(fail, (request) => {
    if (request === 'async') return Promise.reject(new Error('async handler bug'))
    throw new TrothError('schema.invalid', 'no such height')
  })
  await a.rpc.handle(slow, (_request, _from, { signal }) => {
    return new Promise<CborValue>((resolve) => {
      signal.addEventListener('abort', () => {
        aborted = true
        resolve(null)
      })
    })
  })
  await a.rpc.handle(big, () => new Uint8Array(2048))
  return { a, b: { ...hb, rpc: createRpc(hb.host) }, c: { ...hc, rpc: createRpc(hc.host) }, seen, slowAborted: () => aborted }
}

/** Open a raw stream from `from` to `to` on `protocol`, bypassing Rpc's own checks. */
async function rawStream(from: TestHost, to: TestHost, protocol: string): Promise<Stream> {
  return from.host.libp2p.dialProtocol(to.host.peerId, protocol)
}

describe('protocol ids and limits', () => {
  test('ids are per network, limits are checked once', () => {
    expect(protocolId(NET, 'sync')).toBe(`/troth/${NET}/sync/1`)
    expect(echo.id).toBe(`/troth/${NET}/echo/1`)
    expect(() => protocolId(NET, 'Sync')).toThrow(TrothError)
    expect(() => protocolId(NET, 'a/b')).toThrow(TrothError)
    expect(() => rpcProtocol(NET, 'x', { ...LIMITS, maxRequestBytes: 0 })).toThrow(TrothError)
    expect(() => rpcProtocol(NET, 'x', { ...LIMITS, timeoutMs: 1.5 })).toThrow(TrothError)
  })
})

describe('requests between hosts', () => {
  test('round trip, with the requester as a MemberId', async () => {
    const { a, b, c, seen } = await setup()
    const request = { height: 7, hash: new Uint8Array([1, 2, 3]), tags: ['x', 'y'] }
    expect(await b.rpc.request(a.memberId, echo, request)).toEqual({ echo: request })
    expect(await c.rpc.request(a.host.peerId, echo, null)).toEqual({ echo: null })
    expect(seen.map((s) => s.from)).toEqual([b.memberId, c.memberId])
    expect(a.host.penaltyOf(b.memberId)).toBe(0)
  })

  test('a handler that throws gives the requester an error; the server keeps serving', async () => {
    const { a, b } = await setup()
    const err = await b.rpc.request(a.memberId, fail, 'sync').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TrothError)
    expect((err as TrothError).code).toBe('net.remote-error')
    expect((err as TrothError).message).toContain('schema.invalid')
    expect(await codeOf(b.rpc.request(a.memberId, fail, 'async'))).toBe('net.remote-error')
    expect(await b.rpc.request(a.memberId, echo, 1)).toEqual({ echo: 1 })
    expect(a.host.penaltyOf(b.memberId)).toBe(0) // a handler's failure is not the requester's fault
  })

  test('a request over maxRequestBytes is refused before it is sent', async () => {
    const { a, b } = await setup()
    expect(await codeOf(b.rpc.request(a.memberId, echo, new Uint8Array(2000)))).toBe('net.too-large')
    expect(a.host.penaltyOf(b.memberId)).toBe(0)
  })

  test('an oversized request frame from a raw stream is aborted and penalised', async () => {
    const { a, b, c } = await setup()
    const stream = await rawStream(b, a, echo.id)
    await lpStream(stream).write(encode(new Uint8Array(4000))).catch(() => {})
    await waitFor(() => a.host.penaltyOf(b.memberId) > 0, 'a to penalise b')
    expect(a.penalties.map((p) => [p.memberId, p.reason])).toEqual([[b.memberId, 'rpc.too-large']])
    await waitFor(() => stream.status !== 'open', 'a to abort the stream')
    expect(await c.rpc.request(a.memberId, echo, 'still here')).toEqual({ echo: 'still here' })
  })

  test('a garbage frame from a raw stream: the peer is penalised and the server stays up', async () => {
    const { a, b, c } = await setup()
    const stream = await rawStream(b, a, echo.id)
    await lpStream(stream).write(Uint8Array.of(0x1c, 0xff, 0x00)) // not CBOR
    await stream.close()
    await waitFor(() => a.host.penaltyOf(b.memberId) > 0, 'a to penalise b')
    expect(a.penalties.map((p) => [p.memberId, p.reason])).toEqual([[b.memberId, 'rpc.malformed']])
    await waitFor(() => stream.status !== 'open', 'a to abort the stream')
    expect(await c.rpc.request(a.memberId, echo, 2)).toEqual({ echo: 2 })
    expect(await b.rpc.request(a.memberId, echo, 3)).toEqual({ echo: 3 }) // penalised, not banned
  })

  test('a response that does not come in time rejects with net.timeout', async () => {
    const { a, b, slowAborted } = await setup()
    expect(await codeOf(b.rpc.request(a.memberId, slow, 1))).toBe('net.timeout')
    expect(b.penalties).toEqual([]) // slow is not hostile: a late answer costs the peer nothing
    expect(await codeOf(b.rpc.request(a.memberId, echo, 1, { timeoutMs: 1 }))).toBe('net.timeout')
    await waitFor(slowAborted, "the server's handler to see its signal abort")
    expect(await b.rpc.request(a.memberId, echo, 4)).toEqual({ echo: 4 })
  })

  test("the caller's AbortSignal cancels a request with net.aborted", async () => {
    const { a, b } = await setup()
    const controller = new AbortController()
    const pending = b.rpc.request(a.memberId, slow, 1, { signal: controller.signal, timeoutMs: 5_000 })
    setTimeout(() => controller.abort(), 20)
    expect(await codeOf(pending)).toBe('net.aborted')
    expect(b.host.penaltyOf(a.memberId)).toBe(0)
  })

  test('an oversized or malformed response is refused and the server penalised', async () => {
    const { a, b } = await setup()
    // An honest server whose handler answers too much sends an error instead.
    expect(await codeOf(b.rpc.request(a.memberId, big, null))).toBe('net.remote-error')
    // A rogue server: a raw handler that ignores the protocol's limits, then one that sends junk.
    let mode: 'huge' | 'junk' = 'huge'
    await a.host.libp2p.handle(rogue.id, async (stream) => {
      const lp = lpStream(stream)
      await lp.read()
      await lp.write(mode === 'huge' ? encode({ ok: new Uint8Array(5000) }) : Uint8Array.of(0xa1, 0x61))
      await stream.close()
    })
    expect(await codeOf(b.rpc.request(a.memberId, rogue, null))).toBe('net.too-large')
    const afterHuge = b.host.penaltyOf(a.memberId)
    expect(afterHuge).toBeGreaterThan(0)
    mode = 'junk'
    expect(await codeOf(b.rpc.request(a.memberId, rogue, null))).toBe('net.protocol')
    expect(b.host.penaltyOf(a.memberId)).toBeGreaterThan(afterHuge)
    expect(b.penalties.map((p) => p.reason)).toEqual(['rpc.too-large', 'rpc.malformed'])
  })

  test('unknown protocols and peers that are not admitted', async () => {
    const { a, b } = await setup()
    const unknown = rpcProtocol(NET, 'unknown', LIMITS)
    expect(await codeOf(b.rpc.request(a.memberId, unknown, null))).toBe('net.protocol')
    b.admitted.delete(a.memberId)
    expect(await codeOf(b.rpc.request(a.memberId, echo, null))).toBe('net.refused')
  })
})
