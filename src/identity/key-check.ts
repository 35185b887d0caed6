// Which public keys may become a member's key (induction, founding, rotation, recovery). The
// verification rule (ed25519.ts) already rejects small-order keys, but it accepts a key that is a
// real key plus a small-order component, under which signatures verify for only some messages.
// Honest key generation never makes one, so we refuse them at the door: a member key must be a
// canonical encoding of a point in the prime-order subgroup (not the identity).

import { Point } from '@noble/ed25519'
import { PUBLIC_KEY_BYTES } from './ed25519.ts'

export function memberKeyAcceptable(publicKey: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) return false
  let p: Point
  try {
    p = Point.fromBytes(publicKey, false) // strict: canonical y, valid x
  } catch {
    return false
  }
  // fromBytes(zip215=false) refuses non-canonical y; re-encoding must give the same bytes too.
  if (Buffer.compare(Buffer.from(p.toBytes()), Buffer.from(publicKey)) !== 0) return false
  return !p.isSmallOrder() && p.isTorsionFree()
}
