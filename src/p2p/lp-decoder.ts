// One correction to @libp2p/utils (7.4.1) as Noise (17.0.0) uses it: its LengthPrefixedDecoder
// learns that no further message is buffered by calling the length decoder on the empty buffer
// and catching the RangeError it throws, so every batch of bytes a connection reads ends in a new
// Error, with its stack trace captured. Noise decrypts every connection's traffic through one
// such decoder: at 16 nodes that was 5% of the CPU profile, in `uint16BEDecode`. The correction
// answers an empty buffer with one RangeError made once (no stack to capture) and leaves every
// other call to the library's own decoder. Checked by test/p2p/lp-decoder.test.ts.

import { LengthPrefixedDecoder } from '@libp2p/utils'

type LengthDecoder = ((data: { byteLength: number }) => number) & { bytes?: number }

const PATCHED = Symbol.for('troth.lp-decoder-empty-buffer')
const WRAPPED = Symbol.for('troth.lp-decoder-wrapped')
/** What the library's decoders throw when the bytes for a length are not there yet. */
const NEED_MORE = new RangeError('no length prefix buffered yet')

// Applied once, on import (host.ts imports this module before any connection exists).
const proto = LengthPrefixedDecoder.prototype as unknown as Record<string | symbol, unknown> & { decode: (buf: unknown) => Generator<unknown> }
if (proto[PATCHED] !== true) {
  const decode = proto.decode
  proto.decode = function (this: { lengthDecoder: LengthDecoder; [WRAPPED]?: true }, buf: unknown) {
    if (this[WRAPPED] !== true) {
      const inner = this.lengthDecoder
      this.lengthDecoder = (data) => {
        if (data.byteLength === 0) throw NEED_MORE
        return inner(data)
      }
      this[WRAPPED] = true
    }
    return decode.call(this, buf)
  }
  proto[PATCHED] = true
}
