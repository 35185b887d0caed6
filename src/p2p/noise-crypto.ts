// The ChaCha20-Poly1305 of Noise (@chainsafe/libp2p-noise 17.0.0), with one correction: for
// messages of 1 KiB and more the default crypto calls Node's createCipheriv with the key as raw
// bytes, and Node then checks whether those bytes are a KeyObject or a CryptoKey by reading private
// slots, which throws and catches an exception each time. A cipher set up that way costs about
// 17-23 µs at any size; set up with a KeyObject, 5-9 µs. At 16 nodes those checks were 4% of a
// node's CPU profile (certificates and proposals are above 1 KiB; every one is encrypted once and
// decrypted once a hop). So a connection's key is turned into a KeyObject once and kept, keyed by
// the key's bytes object (a WeakMap: it goes with the connection) and checked against a copy of
// its bytes, so a key changed in place is never served stale.
//
// Below 1 KiB the default's WebAssembly ChaCha20-Poly1305 is the faster (2-5 µs), and stays.
// The cipher itself is unchanged (OpenSSL's chacha20-poly1305, 16-byte tag): the bytes on the wire
// are the same, which test/p2p/noise-crypto.test.ts checks against the default implementation.

import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import type { Uint8ArrayList } from 'uint8arraylist'

/** From this many bytes on, Node's cipher with a KeyObject beats the WebAssembly one. */
export const NODE_CIPHER_FROM_BYTES = 1024
const TAG_BYTES = 16
const ALGORITHM = 'chacha20-poly1305'

const keys = new WeakMap<Uint8Array, { bytes: Buffer; key: KeyObject }>()

function keyObject(k: Uint8Array): KeyObject {
  const hit = keys.get(k)
  if (hit !== undefined && hit.bytes.equals(k)) return hit.key
  const bytes = Buffer.from(k)
  const key = createSecretKey(bytes)
  keys.set(k, { bytes, key })
  return key
}

function encrypt(plaintext: Uint8Array | Uint8ArrayList, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array): Uint8Array | Uint8ArrayList {
  if (plaintext.byteLength < NODE_CIPHER_FROM_BYTES) return defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)
  const cipher = createCipheriv(ALGORITHM, keyObject(k), nonce, { authTagLength: TAG_BYTES })
  cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
  const parts = plaintext instanceof Uint8Array ? [cipher.update(plaintext)] : [...plaintext].map((buf) => cipher.update(buf))
  parts.push(cipher.final(), cipher.getAuthTag())
  return Buffer.concat(parts)
}

function decrypt(ciphertext: Uint8Array | Uint8ArrayList, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array, dst?: Uint8Array): Uint8Array | Uint8ArrayList {
  if (ciphertext.byteLength < NODE_CIPHER_FROM_BYTES + TAG_BYTES) return defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst)
  const decipher = createDecipheriv(ALGORITHM, keyObject(k), nonce, { authTagLength: TAG_BYTES })
  const text = ciphertext.subarray(0, ciphertext.byteLength - TAG_BYTES)
  decipher.setAAD(ad, { plaintextLength: text.byteLength })
  decipher.setAuthTag(ciphertext.subarray(ciphertext.byteLength - TAG_BYTES))
  const output = decipher.update(text)
  const final = decipher.final() // throws when the tag does not match
  return final.byteLength > 0 ? Buffer.concat([output, final]) : output
}

/** Noise's default crypto, with the ChaCha20-Poly1305 above. */
export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  chaCha20Poly1305Encrypt: encrypt,
  chaCha20Poly1305Decrypt: decrypt,
}
