// src/identity/ed25519.ts against the RFC 8032 §7.1 vectors (test/vectors/rfc8032-ed25519.json plus
// two transcribed in vectors.ts), a cross-check of key derivation and signing with @noble/ed25519
// (allowed for keygen and signing by DESIGN.md §1), properties over random keys and messages,
// and a wrong-input sweep.

import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as ed from '@noble/ed25519'
import { PUBLIC_KEY_BYTES, SEED_BYTES, SIGNATURE_BYTES, generateSeed, publicKeyOf, signRaw, verifyRaw } from '../../src/identity/ed25519.ts'
import { TrothError } from '../../src/errors.ts'
import { rfc8032Vectors, toHex, wycheproofVectors } from './vectors.ts'

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice()
  out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7))
  return out
}

describe('RFC 8032 §7.1 vectors', () => {
  const vectors = rfc8032Vectors()

  it('has the five §7.1 vectors and the extra one from the checked-in file', () => {
    expect(vectors.map((v) => v.name)).toEqual(['TEST 1', 'TEST 2', 'extra 317-byte vector (not in §7.1)', 'TEST 1024', 'TEST 3', 'TEST SHA(abc)'])
    expect(vectors.map((v) => v.message.length)).toEqual([0, 1, 317, 1023, 2, 64])
  })

  it('TEST 3 is Wycheproof tcId 82 (the transcription is checked against a second source)', () => {
    const test3 = vectors.find((v) => v.name === 'TEST 3')
    const tc82 = wycheproofVectors().cases.find((c) => c.tcId === 82)
    expect(test3 && tc82).toBeTruthy()
    if (test3 === undefined || tc82 === undefined) return
    expect([toHex(tc82.publicKey), toHex(tc82.message), toHex(tc82.signature)]).toEqual([toHex(test3.publicKey), toHex(test3.message), toHex(test3.signature)])
  })

  it('TEST SHA(abc) signs SHA-512("abc")', () => {
    const v = vectors.find((x) => x.name === 'TEST SHA(abc)')
    expect(v && toHex(v.message)).toBe(createHash('sha512').update('abc').digest('hex'))
  })

  for (const v of vectors) {
    describe(`${v.name} (${v.message.length}-byte message)`, () => {
      it('publicKeyOf(seed) is the public key', () => {
        expect(toHex(publicKeyOf(v.seed))).toBe(toHex(v.publicKey))
      })
      it('signRaw gives the signature', () => {
        expect(toHex(signRaw(v.seed, v.message))).toBe(toHex(v.signature))
      })
      it('verifyRaw accepts it', () => {
        expect(verifyRaw(v.publicKey, v.message, v.signature)).toBe(true)
      })
      it('verifyRaw rejects a flipped message bit (or an extra byte for the empty message)', () => {
        if (v.message.length === 0) {
          expect(verifyRaw(v.publicKey, Uint8Array.of(0), v.signature)).toBe(false)
        }
        for (let bit = 0; bit < Math.min(v.message.length * 8, 64); bit++) {
          expect(verifyRaw(v.publicKey, flipBit(v.message, bit), v.signature)).toBe(false)
        }
        if (v.message.length > 0) expect(verifyRaw(v.publicKey, flipBit(v.message, v.message.length * 8 - 1), v.signature)).toBe(false)
      })
      it('verifyRaw rejects every flipped signature bit and every flipped key bit', () => {
        for (let bit = 0; bit < SIGNATURE_BYTES * 8; bit++) {
          expect(verifyRaw(v.publicKey, v.message, flipBit(v.signature, bit))).toBe(false)
        }
        for (let bit = 0; bit < PUBLIC_KEY_BYTES * 8; bit++) {
          expect(verifyRaw(flipBit(v.publicKey, bit), v.message, v.signature)).toBe(false)
        }
      })
      it('@noble/ed25519 derives the same key and the same signature', () => {
        expect(toHex(ed.getPublicKey(v.seed))).toBe(toHex(v.publicKey))
        expect(toHex(ed.sign(v.message, v.seed))).toBe(toHex(v.signature))
      })
    })
  }
})

describe('properties', () => {
  const seedArb = fc.uint8Array({ minLength: SEED_BYTES, maxLength: SEED_BYTES })
  const messageArb = fc.uint8Array({ maxLength: 300 })

  it('a signature verifies, and fails after any bit flip in message or signature', () => {
    fc.assert(
      fc.property(seedArb, messageArb, fc.nat(), (seed, message, n) => {
        const pub = publicKeyOf(seed)
        const sig = signRaw(seed, message)
        expect(sig.length).toBe(SIGNATURE_BYTES)
        expect(verifyRaw(pub, message, sig)).toBe(true)
        expect(verifyRaw(pub, message, flipBit(sig, n % (SIGNATURE_BYTES * 8)))).toBe(false)
        if (message.length > 0) expect(verifyRaw(pub, flipBit(message, n % (message.length * 8)), sig)).toBe(false)
      }),
      { numRuns: 200 },
    )
  })

  it('native and noble agree on keys and signatures for random seeds', () => {
    fc.assert(
      fc.property(seedArb, messageArb, (seed, message) => {
        expect(toHex(publicKeyOf(seed))).toBe(toHex(ed.getPublicKey(seed)))
        expect(toHex(signRaw(seed, message))).toBe(toHex(ed.sign(message, seed)))
      }),
      { numRuns: 100 },
    )
  })

  it('a signature does not verify under another key', () => {
    fc.assert(
      fc.property(seedArb, seedArb, messageArb, (a, b, message) => {
        fc.pre(toHex(a) !== toHex(b))
        expect(verifyRaw(publicKeyOf(b), message, signRaw(a, message))).toBe(false)
      }),
      { numRuns: 100 },
    )
  })
})

describe('keys and wrong inputs', () => {
  it('generateSeed gives fresh 32-byte seeds', () => {
    const seeds = new Set<string>()
    for (let i = 0; i < 16; i++) {
      const seed = generateSeed()
      expect(seed).toBeInstanceOf(Uint8Array)
      expect(seed.length).toBe(SEED_BYTES)
      seeds.add(toHex(seed))
    }
    expect(seeds.size).toBe(16)
  })

  it('publicKeyOf and signRaw throw id.invalid-key on a wrong-length seed', () => {
    for (const length of [0, 31, 33, 64]) {
      const seed = new Uint8Array(length)
      for (const call of [() => publicKeyOf(seed), () => signRaw(seed, new Uint8Array(1))]) {
        expect(call).toThrow(TrothError)
        try {
          call()
        } catch (err) {
          expect((err as TrothError).code).toBe('id.invalid-key')
        }
      }
    }
  })

  it('verifyRaw returns false, never throws, on wrong lengths and wrong types', () => {
    const [v] = rfc8032Vectors()
    if (v === undefined) throw new Error('no vectors')
    for (const length of [0, 31, 33, 64]) {
      expect(verifyRaw(new Uint8Array(length), v.message, v.signature)).toBe(false)
    }
    for (const length of [0, 32, 63, 65, 128]) {
      expect(verifyRaw(v.publicKey, v.message, new Uint8Array(length))).toBe(false)
    }
    expect(verifyRaw(v.publicKey, v.message, Buffer.concat([v.signature, Uint8Array.of(0)]))).toBe(false)
    const junk: unknown[] = [null, undefined, 'ab', 42, [1, 2, 3], {}]
    for (const x of junk) {
      expect(verifyRaw(x as Uint8Array, v.message, v.signature)).toBe(false)
      expect(verifyRaw(v.publicKey, x as Uint8Array, v.signature)).toBe(false)
      expect(verifyRaw(v.publicKey, v.message, x as Uint8Array)).toBe(false)
    }
  })

  it('verifyRaw gives the same answer from a cached key (second call)', () => {
    const [v] = rfc8032Vectors()
    if (v === undefined) throw new Error('no vectors')
    for (let i = 0; i < 3; i++) {
      expect(verifyRaw(v.publicKey, v.message, v.signature)).toBe(true)
      expect(verifyRaw(v.publicKey, Uint8Array.of(1), v.signature)).toBe(false)
    }
  })
})
