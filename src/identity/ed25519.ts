// Ed25519 signing and THE verification rule (DESIGN.md §1). Every signature check on every node
// goes through verifyRaw(): Node's native crypto (OpenSSL), whose accept/reject answers are pinned
// by the RFC 8032 and Wycheproof vectors in test/identity/. docs/verification.md states the rule.

import { createHash, createPrivateKey, createPublicKey, randomBytes, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto'
import { TrothError } from '../errors.ts'

export const SEED_BYTES = 32
export const PUBLIC_KEY_BYTES = 32
export const SIGNATURE_BYTES = 64

// DER prefixes for raw Ed25519 keys (RFC 8410): PKCS#8 private key and SPKI public key.
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20])
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

function concat(a: Uint8Array, b: Uint8Array): Buffer {
  return Buffer.concat([a, b])
}

/** A fresh 32-byte secret seed from the OS CSPRNG. */
export function generateSeed(): Uint8Array {
  return new Uint8Array(randomBytes(SEED_BYTES))
}

// A node signs many votes with one seed: keep its parsed key, keyed by the seed object itself
// (a WeakMap, so no copy of the secret is made and it goes when the seed does).
const privateKeys = new WeakMap<Uint8Array, { key: KeyObject; check: string }>()

function privateKeyObject(seed: Uint8Array): KeyObject {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) throw new TrothError('id.invalid-key', 'secret key must be 32 bytes')
  // The bytes may have been changed (e.g. wiped) since they were cached: compare a cheap digest.
  const check = createHash('sha256').update(seed).digest('base64')
  const hit = privateKeys.get(seed)
  if (hit !== undefined && hit.check === check) return hit.key
  const key = createPrivateKey({ key: concat(PKCS8_PREFIX, seed), format: 'der', type: 'pkcs8' })
  privateKeys.set(seed, { key, check })
  return key
}

/** The 32-byte public key of a seed (RFC 8032 §5.1.5). */
export function publicKeyOf(seed: Uint8Array): Uint8Array {
  const spki = createPublicKey(privateKeyObject(seed)).export({ format: 'der', type: 'spki' })
  return new Uint8Array(spki.subarray(SPKI_PREFIX.length))
}

/** Plain RFC 8032 Ed25519 over `message`, no domain tag. Only for formats that fix their own
 * prefix (C2SP notes and cosignatures); everything else uses sign(). */
export function signRaw(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(nodeSign(null, message, privateKeyObject(seed)))
}

// Parsing a public key is the slow part of a native verify; members' keys repeat, so keep a few.
const PUBLIC_KEY_CACHE_MAX = 4096
const publicKeyCache = new Map<string, KeyObject | null>()

function publicKeyObject(publicKey: Uint8Array): KeyObject | null {
  const id = Buffer.from(publicKey).toString('hex')
  const hit = publicKeyCache.get(id)
  if (hit !== undefined) return hit
  let key: KeyObject | null
  try {
    key = createPublicKey({ key: concat(SPKI_PREFIX, publicKey), format: 'der', type: 'spki' })
  } catch {
    key = null // not a point encoding OpenSSL accepts: no signature under it verifies
  }
  if (publicKeyCache.size >= PUBLIC_KEY_CACHE_MAX) {
    const oldest = publicKeyCache.keys().next().value
    if (oldest !== undefined) publicKeyCache.delete(oldest)
  }
  publicKeyCache.set(id, key)
  return key
}

let nativeVerifies = 0

/** Signature checks that reached OpenSSL in this process so far (repeats answered by the cache
 * of identity/sign.ts are not counted): bench figures. */
export function nativeVerifyCount(): number {
  return nativeVerifies
}

/** THE verification rule: true iff native Ed25519 (OpenSSL) accepts `signature` on `message`
 * under `publicKey`. Wrong lengths or an unparsable key are a bad signature (false), never a throw. */
export function verifyRaw(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) return false
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) return false
  if (!(message instanceof Uint8Array)) return false
  const key = publicKeyObject(publicKey)
  if (key === null) return false
  nativeVerifies++
  try {
    return nodeVerify(null, message, key, signature)
  } catch {
    return false
  }
}
