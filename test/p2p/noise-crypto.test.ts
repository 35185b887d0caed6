// src/p2p/noise-crypto.ts: Noise's ChaCha20-Poly1305 with a kept KeyObject from 1 KiB on. The
// bytes must be exactly those of Noise's default crypto (the peer may run it), both ways, at every
// size around the switch, for whole buffers and for lists of chunks; a wrong tag, nonce or
// associated data must fail; a key changed in place must not be served from the cache.

import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { NODE_CIPHER_FROM_BYTES, noiseCrypto } from '../../src/p2p/noise-crypto.ts'

const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const flat = (x: Uint8Array | Uint8ArrayList): Uint8Array => (x instanceof Uint8Array ? new Uint8Array(x) : x.subarray())
const SIZES = [0, 1, 100, NODE_CIPHER_FROM_BYTES - 1, NODE_CIPHER_FROM_BYTES, NODE_CIPHER_FROM_BYTES + 1, 1500, 65_519]

describe('noise crypto', () => {
  it('encrypts to the same bytes as the default crypto, and each decrypts the other', () => {
    const k = bytes(32)
    const ad = bytes(32)
    for (const size of SIZES) {
      const nonce = bytes(12)
      const plain = bytes(size)
      const ours = flat(noiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k))
      const theirs = flat(defaultCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k))
      expect(ours.length, `size ${size}`).toBe(size + 16)
      expect(Buffer.from(ours).equals(theirs), `size ${size}`).toBe(true)
      expect(flat(noiseCrypto.chaCha20Poly1305Decrypt(theirs, nonce, ad, k))).toEqual(plain)
      expect(flat(defaultCrypto.chaCha20Poly1305Decrypt(ours, nonce, ad, k))).toEqual(plain)
    }
  })

  it('takes lists of chunks as well as whole buffers', () => {
    const k = bytes(32)
    const nonce = bytes(12)
    const ad = new Uint8Array(0)
    const plain = bytes(3000)
    const list = new Uint8ArrayList(plain.subarray(0, 7), plain.subarray(7, 1400), plain.subarray(1400))
    const sealed = flat(noiseCrypto.chaCha20Poly1305Encrypt(list, nonce, ad, k))
    expect(Buffer.from(sealed).equals(flat(defaultCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k)))).toBe(true)
    const sealedList = new Uint8ArrayList(sealed.subarray(0, 1000), sealed.subarray(1000))
    expect(flat(noiseCrypto.chaCha20Poly1305Decrypt(sealedList, nonce, ad, k))).toEqual(plain)
  })

  it('refuses a changed tag, ciphertext, nonce or associated data, above and below the switch', () => {
    const k = bytes(32)
    const ad = bytes(8)
    for (const size of [100, 2000]) {
      const nonce = bytes(12)
      const sealed = flat(noiseCrypto.chaCha20Poly1305Encrypt(bytes(size), nonce, ad, k))
      for (const at of [0, sealed.length - 1]) {
        const bad = sealed.slice()
        bad[at] = (bad[at] as number) ^ 1
        expect(() => noiseCrypto.chaCha20Poly1305Decrypt(bad, nonce, ad, k), `size ${size} byte ${at}`).toThrow()
      }
      expect(() => noiseCrypto.chaCha20Poly1305Decrypt(sealed, bytes(12), ad, k)).toThrow()
      expect(() => noiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, bytes(8), k)).toThrow()
    }
  })

  it('never uses a cached key for a key whose bytes changed in place', () => {
    const k = bytes(32)
    const nonce = bytes(12)
    const ad = new Uint8Array(0)
    const plain = bytes(2000)
    noiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k) // cached now
    k[0] = (k[0] as number) ^ 0xff
    const sealed = flat(noiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k))
    expect(Buffer.from(sealed).equals(flat(defaultCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k)))).toBe(true)
  })
})
