// The yamux window-update correction (src/p2p/yamux-window.ts): an update only once half the
// receive window is used, and flow control still works when far more than a window is sent.

import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { afterEach, describe, expect, test } from 'vitest'
import '../../src/p2p/yamux-window.ts'
import { Channel } from '../../src/p2p/channel.ts'
import { Hosts, waitFor } from './helpers.ts'

const hosts = new Hosts()
afterEach(async () => {
  await hosts.stopAll()
})

const WINDOW = 256 * 1024

/** A stand-in for a stream's fields, recording the frames the method sends. */
function streamLike(state: StreamState, capacity: number): { sent: Array<{ type: number; length: number }>; self: Record<string, unknown> } {
  const sent: Array<{ type: number; length: number }> = []
  const self: Record<string, unknown> = {
    state,
    recvWindow: WINDOW,
    recvWindowCapacity: capacity,
    maxStreamWindowSize: 16 * 1024 * 1024,
    epochStart: 0,
    getRTT: () => -1,
    getSendFlags: YamuxStream.prototype['getSendFlags' as keyof YamuxStream],
    sendFrame: (header: { type: number; length: number }) => {
      sent.push({ type: header.type, length: header.length })
      return true
    },
  }
  return { sent, self }
}

const sendWindowUpdate = (self: Record<string, unknown>): void => {
  ;(YamuxStream.prototype as unknown as { sendWindowUpdate: () => void }).sendWindowUpdate.call(self)
}

describe('yamux window updates', () => {
  test('an established stream grants window only once half of it is used, then all of it', () => {
    const little = streamLike(StreamState.Established, WINDOW - 1000)
    sendWindowUpdate(little.self)
    expect(little.sent).toEqual([])
    expect(little.self.recvWindowCapacity).toBe(WINDOW - 1000)

    const half = streamLike(StreamState.Established, WINDOW / 2)
    sendWindowUpdate(half.self)
    expect(half.sent).toEqual([{ type: 1, length: WINDOW / 2 }]) // WINDOW_UPDATE of all that was used
    expect(half.self.recvWindowCapacity).toBe(WINDOW)
  })

  test('a stream that still owes its SYN or ACK sends it at once, whatever the window', () => {
    const opening = streamLike(StreamState.SYNReceived, WINDOW - 10)
    sendWindowUpdate(opening.self)
    expect(opening.sent).toHaveLength(1)
    expect(opening.self.state).toBe(StreamState.Established)
  })

  test('many windows of frames still all arrive, in order, over real hosts', async () => {
    const a = await hosts.make(1)
    const b = await hosts.make(2, { bootstrap: a.host.addrs() })
    await waitFor(() => b.host.peers().includes(a.memberId), 'b connected to a')
    const got: number[] = []
    await Channel.open(a.host, 'bulk', 64 * 1024, (frame) => got.push(new DataView(frame.buffer, frame.byteOffset).getUint32(0)))
    const out = await Channel.open(b.host, 'bulk', 64 * 1024, () => undefined)
    const N = 3000 // 3000 frames of 1 KiB: about 12 receive windows of 256 KiB
    for (let i = 0; i < N; i++) {
      const frame = new Uint8Array(1024)
      new DataView(frame.buffer).setUint32(0, i)
      out.send(a.memberId, frame)
      if (i % 200 === 199) await new Promise((r) => setTimeout(r, 5)) // stay under the channel's queue bound
    }
    await waitFor(() => got.length === N, 'every frame')
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i))
  })
})
