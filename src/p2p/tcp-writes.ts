// One correction to @libp2p/tcp (11.0.28) as used under @chainsafe/libp2p-noise (17.0.0): the
// connection writes every buffer it is handed with its own `socket.write`, and Noise hands it each
// message as two buffers, the 2-byte length and the ciphertext. With TCP_NODELAY every one of
// those is a system call and, on the wire, a segment of its own: a consensus vote to a peer cost
// two writes, a 2-byte one and the rest, and the peer two reads. Measured with 16 nodes: 309,000
// socket writes in a 10 s run, 143,000 of them 2 bytes long; writes were 9% of the CPU profile.
// (Noise fixed the same thing for libp2p 2 in ChainSafe/js-libp2p-noise#387; the rewrite for
// libp2p 3 lost it.)
//
// The correction corks the socket on a connection's first write of an event-loop turn and uncorks
// it at the end of the turn (process.nextTick), so everything written to one peer in that turn
// leaves in one `writev`: the length and its ciphertext, and a burst of messages. Nothing waits
// for a later turn, and flow control is unchanged (`write` still says when the socket's buffer is
// full, and 'drain' still follows). It wraps the transport's upgrader, so it touches only the
// connections this transport makes, and only if they look as expected (a net.Socket and a
// sendData method); otherwise the connection is left as it is. Checked by
// test/p2p/tcp-writes.test.ts, which counts the writes.

import { Socket } from 'node:net'
import { tcp, type TCPComponents, type TCPOptions } from '@libp2p/tcp'
import type { MultiaddrConnection, Transport, Upgrader } from '@libp2p/interface'

const COALESCED = Symbol.for('troth.tcp-coalesced-writes')

type SendData = (data: unknown) => { sentBytes: number; canSendMore: boolean }

const uncork = (socket: Socket): void => {
  if (socket.writableCorked > 0) socket.uncork()
}

/** Make a TCP connection's writes of one event-loop turn leave in one system call. Returns
 * whether it could (false: not a connection of the shape this correction knows). */
export function coalesceWrites(maConn: unknown): boolean {
  const c = maConn as { socket?: unknown; sendData?: SendData; [COALESCED]?: true }
  if (c === null || typeof c !== 'object' || !(c.socket instanceof Socket) || typeof c.sendData !== 'function') return false
  if (c[COALESCED] === true) return true
  const socket = c.socket
  const sendData = c.sendData
  c.sendData = function coalescedSendData(this: unknown, data: unknown) {
    if (socket.writableCorked === 0 && socket.writable) {
      socket.cork()
      process.nextTick(uncork, socket)
    }
    return sendData.call(this, data)
  }
  c[COALESCED] = true
  return true
}

/** The upgrader, seen through a proxy that coalesces each raw connection's writes first. */
function coalescingUpgrader(upgrader: Upgrader): Upgrader {
  return new Proxy(upgrader, {
    get(target, prop) {
      if (prop === 'upgradeInbound' || prop === 'upgradeOutbound') {
        const upgrade = target[prop].bind(target) as (maConn: MultiaddrConnection, opts?: unknown) => unknown
        return (maConn: MultiaddrConnection, opts?: unknown) => {
          coalesceWrites(maConn)
          return upgrade(maConn, opts)
        }
      }
      const v = Reflect.get(target, prop, target) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}

/** `tcp()` whose connections coalesce their writes (see above). */
export function coalescingTcp(init?: TCPOptions): (components: TCPComponents) => Transport {
  const make = tcp(init)
  return (components: TCPComponents) => {
    const t = make(components)
    const dial = t.dial.bind(t)
    t.dial = (ma, options) => dial(ma, { ...options, upgrader: coalescingUpgrader(options.upgrader) })
    const createListener = t.createListener.bind(t)
    t.createListener = (options) => createListener({ ...options, upgrader: coalescingUpgrader(options.upgrader) })
    return t
  }
}
