// Domain-separated signatures (DESIGN.md §1): sign(key, utf8(tag) || 0x00 || message).

import { type Tag } from './tags.ts'
import { createHash } from 'node:crypto'
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

// Consensus checks the same signature several times (a vote, then inside a certificate, then in
// a rebroadcast). Verification is a pure function of (key, tag, message, signature), so a
// bounded set of triples already found valid saves the repeats. Only successes are remembered.
const VERIFIED_MAX = 65_536
let verified = new Set<string>()

export function verify(publicKey: Uint8Array, tag: Tag, message: Uint8Array, signature: Uint8Array): boolean {
  const m = domainMessage(tag, message)
  const id = createHash('sha256').update(publicKey).update(signature).update(m).digest('base64')
  if (verified.has(id)) return true
  const ok = verifyRaw(publicKey, m, signature)
  if (ok) {
    if (verified.size >= VERIFIED_MAX) verified = new Set()
    verified.add(id)
  }
  return ok
}
