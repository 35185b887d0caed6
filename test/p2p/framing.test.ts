// The channel's frame decoder (src/p2p/channel.ts FrameDecoder) and the correction to the
// length-prefixed decoder Noise reads through (src/p2p/lp-decoder.ts).

import { LengthPrefixedDecoder } from '@libp2p/utils'
import { describe, expect, test } from 'vitest'
import '../../src/p2p/lp-decoder.ts'
import { FrameDecoder } from '../../src/p2p/channel.ts'
import { TrothError } from '../../src/errors.ts'

function varint(n: number): number[] {
  const out: number[] = []
  let x = n
  while (x >= 0x80) {
    out.push((x % 0x80) | 0x80)
    x = Math.floor(x / 0x80)
  }
  out.push(x)
  return out
}

const framed = (...bodies: number[][]): Uint8Array => Uint8Array.from(bodies.flatMap((b) => [...varint(b.length), ...b]))

describe('FrameDecoder', () => {
  test('frames split anywhere come out whole, in order, whatever the chunking', () => {
    const bodies = [[1], [], Array.from({ length: 300 }, (_, i) => i & 0xff), [7, 7], Array.from({ length: 20_000 }, (_, i) => (i * 7) & 0xff)]
    const bytes = framed(...bodies)
    for (const step of [1, 2, 3, 7, 128, 301, 5000, bytes.length]) {
      const d = new FrameDecoder(64 * 1024)
      const got: number[][] = []
      for (let i = 0; i < bytes.length; i += step) for (const f of d.push(bytes.subarray(i, i + step))) got.push([...f])
      expect(got).toEqual(bodies)
      expect(d.buffered).toBe(0)
    }
  })

  test('a chunk may be a list (anything with subarray())', () => {
    const d = new FrameDecoder(1024)
    const list = { subarray: () => framed([1, 2], [3]) }
    expect(d.push(list).map((f) => [...f])).toEqual([[1, 2], [3]])
  })

  test('a non-minimal length prefix is read as lpStream reads it', () => {
    const d = new FrameDecoder(1024)
    expect(d.push(Uint8Array.of(0x82, 0x00, 9, 9)).map((f) => [...f])).toEqual([[9, 9]])
    expect(d.push(Uint8Array.of(0x80, 0x00)).map((f) => [...f])).toEqual([[]])
  })

  test('a frame over the limit is refused from its length alone, before its bytes are held', () => {
    const d = new FrameDecoder(1000)
    expect(d.push(framed(Array.from({ length: 1000 }, () => 1))).length).toBe(1) // the limit itself is fine
    let err: unknown
    try {
      d.push(Uint8Array.of(...varint(1001), 1, 2, 3))
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(TrothError)
    expect((err as TrothError).code).toBe('net.too-large')
    expect((err as Error).message).toMatch(/1001 bytes exceeds the limit of 1000/)
  })

  test('a length prefix of more than 8 bytes is refused; 8 bytes are still read', () => {
    expect(() => new FrameDecoder(1 << 30).push(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00))).toThrow(/prefix of more than 8 bytes/)
    expect(new FrameDecoder(1024).push(Uint8Array.of(0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 5)).map((f) => [...f])).toEqual([[5]])
  })

  test('what is held for an unfinished frame is a copy of that frame\'s bytes only', () => {
    const d = new FrameDecoder(1024)
    const big = new Uint8Array(10_000)
    big.set(framed([1, 2, 3]), 0)
    big.set([10, 1], 4) // an unfinished frame of 10 bytes after the first
    const chunk = big.subarray(0, 6)
    expect(d.push(chunk).map((f) => [...f])).toEqual([[1, 2, 3]])
    expect(d.buffered).toBe(2)
    big.fill(0) // the caller's buffer may be reused: what is held does not change
    expect(d.push(Uint8Array.of(2, 3, 4, 5, 6, 7, 8, 9, 10)).map((f) => [...f])).toEqual([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])
  })
})

describe('LengthPrefixedDecoder correction', () => {
  test('an empty buffer ends a decode without a new Error each time; results are unchanged', () => {
    let thrown = 0
    const lengthDecoder = Object.assign((data: { byteLength: number; subarray: () => Uint8Array }): number => {
      if (data.byteLength < 2) {
        thrown++
        throw new RangeError('Could not decode int16BE')
      }
      const b = data.subarray()
      return ((b[0] as number) << 8) | (b[1] as number)
    }, { bytes: 2 })
    const d = new LengthPrefixedDecoder({ lengthDecoder, encodingLength: () => 2 })
    const msg = (body: number[]): number[] => [body.length >> 8, body.length & 0xff, ...body]
    const got: number[][] = []
    for (const chunk of [msg([1, 2, 3]), [...msg([4]), ...msg([5, 6])], msg([7]).slice(0, 1), msg([7]).slice(1)]) {
      for (const f of d.decode(Uint8Array.from(chunk))) got.push([...f.subarray()])
    }
    expect(got).toEqual([[1, 2, 3], [4], [5, 6], [7]])
    // Three decodes ended on an empty buffer (answered by the correction); one ended on a single
    // byte of a length, which still goes to the library's decoder.
    expect(thrown).toBe(1)
  })
})
