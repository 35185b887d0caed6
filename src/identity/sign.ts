// Domain-separated signatures (DESIGN.md §1): sign(key, utf8(tag) || 0x00 || message).

import { type Tag } from './tags.ts'
import { signRaw, verifyRaw } from './ed25519.ts'

const encoder = new TextEncoder()

export function domainMessage(tag: Tag, message: Uint8Array): Uint8Array {
  const t = encoder.encode(tag)
  const out = new Uint8Array(t.length + 1 + message.length)
  out.set(t, 0)
  out[t.length] = 0x00
  out.set(message, t.length + 1)
  return out
}

export function sign(seed: Uint8Array, tag: Tag, message: Uint8Array): Uint8Array {
  return signRaw(seed, domainMessage(tag, message))
}

export function verify(publicKey: Uint8Array, tag: Tag, message: Uint8Array, signature: Uint8Array): boolean {
  return verifyRaw(publicKey, domainMessage(tag, message), signature)
}
