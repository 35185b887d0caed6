// The TCP write coalescing (src/p2p/tcp-writes.ts): a Noise message leaves in one system call, not
// one for its 2-byte length and another for its ciphertext; data still arrives whole and in order.

import { Socket, createServer, type AddressInfo } from 'node:net'
import { afterEach, describe, expect, test } from 'vitest'
import { Channel } from '../../src/p2p/channel.ts'
import { coalesceWrites } from '../../src/p2p/tcp-writes.ts'
import { Hosts, waitFor } from './helpers.ts'

const hosts = new Hosts()
afterEach(async () => {
  await hosts.stopAll()
})

/** Count the writes that reach the kernel (one `_write` or `_writev` each) while `fn` runs. */
async function countWrites(fn: () => Promise<void>): Promise<number> {
  const proto = Socket.prototype as unknown as Record<'_write' | '_writev', (...a: unknown[]) => unknown>
  const write = proto._write
  const writev = proto._writev
  let n = 0
  proto._write = function (this: unknown, ...a: unknown[]) {
    n++
    return write.apply(this, a)
  }
  proto._writev = function (this: unknown, ...a: unknown[]) {
    n++
    return writev.apply(this, a)
  }
  try {
    await fn()
  } finally {
    proto._write = write
    proto._writev = writev
  }
  return n
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r))

describe('TCP write coalescing', () => {
  test('a frame sent on its own costs one write, not two (length and ciphertext)', async () => {
    const a = await hosts.make(1)
    const b = await hosts.make(2, { bootstrap: a.host.addrs() })
    await waitFor(() => b.host.peers().includes(a.memberId), 'b connected to a')
    const got: number[] = []
    const inbound = await Channel.open(a.host, 'lone', 1024, (frame) => got.push(frame[0] as number))
    const out = await Channel.open(b.host, 'lone', 1024, () => undefined)
    out.send(a.memberId, Uint8Array.of(255)) // opens the stream
    await waitFor(() => got.length === 1, 'the first frame')
    const N = 100
    const writes = await countWrites(async () => {
      for (let i = 0; i < N; i++) {
        out.send(a.memberId, Uint8Array.of(i, 1, 2, 3))
        await waitFor(() => got.length === i + 2, 'each frame before the next')
      }
    })
    expect(got.slice(1)).toEqual(Array.from({ length: N }, (_, i) => i))
    // Unpatched, each frame is at least two writes (Noise's length, then its ciphertext): 2N+.
    // Coalesced: one per frame, plus the receiver's occasional window update.
    expect(writes).toBeGreaterThanOrEqual(N)
    expect(writes).toBeLessThan(1.25 * N)
    // The channels count what went through them.
    expect(out.stats).toEqual({ framesOut: N + 1, bytesOut: 1 + 4 * N, framesIn: 0, bytesIn: 0, dropped: 0 })
    expect(inbound.stats).toEqual({ framesOut: 0, bytesOut: 0, framesIn: N + 1, bytesIn: 1 + 4 * N, dropped: 0 })
    // A frame over the limit is not sent, and counted as dropped; so is what waited for a peer
    // that cannot be reached.
    out.send(a.memberId, new Uint8Array(1025))
    expect(out.stats.dropped).toBe(1)
    await a.host.stop()
    await waitFor(() => !b.host.peers().includes(a.memberId), 'b to see a gone')
    out.send(a.memberId, Uint8Array.of(1))
    out.send(a.memberId, Uint8Array.of(2))
    await waitFor(() => out.stats.dropped === 3, 'the unreachable peer\'s frames dropped')
    expect(out.stats.framesOut).toBe(N + 1)
  })

  test('a burst, with frames of many segments, arrives whole and in order', async () => {
    const a = await hosts.make(1)
    const b = await hosts.make(2, { bootstrap: a.host.addrs() })
    await waitFor(() => b.host.peers().includes(a.memberId), 'b connected to a')
    const got: number[] = []
    await Channel.open(a.host, 'burst', 64 * 1024, (frame) => got.push(new DataView(frame.buffer, frame.byteOffset).getUint32(0)))
    const out = await Channel.open(b.host, 'burst', 64 * 1024, () => undefined)
    const N = 500
    for (let i = 0; i < N; i++) {
      const frame = new Uint8Array(i % 7 === 0 ? 20_000 : 100) // some frames span several TCP segments
      new DataView(frame.buffer).setUint32(0, i)
      out.send(a.memberId, frame)
      if (i % 50 === 49) await turn()
    }
    await waitFor(() => got.length === N, 'every frame')
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i))
  })

  test('only connections of the known shape are changed, once', async () => {
    expect(coalesceWrites(null)).toBe(false)
    expect(coalesceWrites({ sendData: () => ({ sentBytes: 0, canSendMore: true }) })).toBe(false) // no socket
    expect(coalesceWrites({ socket: {}, sendData: () => undefined })).toBe(false) // not a net.Socket

    // A real socket pair: the wrapped sendData corks, and the turn's writes leave together.
    const server = createServer()
    const received: Buffer[] = []
    const accepted = new Promise<Socket>((r) => server.once('connection', r))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const client = new Socket()
    await new Promise<void>((r) => client.connect((server.address() as AddressInfo).port, '127.0.0.1', r))
    const peer = await accepted
    peer.on('data', (d: Buffer) => received.push(d))
    try {
      const conn = {
        socket: client,
        sendData(this: { socket: Socket }, data: Uint8Array[]) {
          let sentBytes = 0
          let canSendMore = true
          for (const buf of data) {
            sentBytes += buf.byteLength
            canSendMore = this.socket.write(buf)
          }
          return { sentBytes, canSendMore }
        },
      }
      const plain = conn.sendData
      expect(coalesceWrites(conn)).toBe(true)
      expect(conn.sendData).not.toBe(plain)
      const wrapped = conn.sendData
      expect(coalesceWrites(conn)).toBe(true) // idempotent
      expect(conn.sendData).toBe(wrapped)
      const writes = await countWrites(async () => {
        conn.sendData([Uint8Array.of(0, 3), Uint8Array.of(1, 2, 3)])
        conn.sendData([Uint8Array.of(0, 1), Uint8Array.of(9)])
        expect(client.writableCorked).toBe(1)
        await turn()
      })
      expect(client.writableCorked).toBe(0)
      expect(writes).toBe(1)
      await waitFor(() => Buffer.concat(received).length === 8, 'the bytes')
      expect([...Buffer.concat(received)]).toEqual([0, 3, 1, 2, 3, 0, 1, 9])
    } finally {
      client.destroy()
      peer.destroy()
      server.close()
    }
  })
})
