// One correction to @chainsafe/libp2p-yamux (8.0.1): it sends a WINDOW_UPDATE frame after every
// data frame it receives, however little of the receive window was used. For many small
// messages (consensus votes) that doubles the traffic: every frame we send comes back as an
// update, each one a Noise message to encrypt, write, read and decrypt. Yamux's reference
// implementation (hashicorp/yamux, `sendWindowUpdate`) sends an update only once at least half
// of the window has been consumed; we do the same, by skipping the update below that mark on an
// established stream and otherwise leaving the library's method as it is. Flow control is
// unchanged: the sender still never has more than a window in flight, and the receiver grants
// the whole consumed amount in one update. Checked by test/p2p/yamux-window.test.ts.

import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'

interface WindowFields {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
}

const PATCHED = Symbol.for('troth.yamux-window-update-at-half')

// Applied once, on import (host.ts imports this module before any stream exists).
const proto = YamuxStream.prototype as unknown as Record<string | symbol, unknown> & { sendWindowUpdate: () => void }
if (proto[PATCHED] !== true) {
  const original = proto.sendWindowUpdate
  proto.sendWindowUpdate = function sendWindowUpdate(this: WindowFields): void {
    // Established (no SYN/ACK to carry) and less than half the window consumed: not yet.
    if (this.state === StreamState.Established && this.recvWindow - this.recvWindowCapacity < this.recvWindow / 2) return
    original.call(this)
  }
  proto[PATCHED] = true
}
