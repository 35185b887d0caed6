// Domain separation (DESIGN.md §1, src/identity/sign.ts): sign(key, utf8(tag) || 0x00 || message).
// A signature made under one tag never verifies under another tag, nor as a raw untagged message.

import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { TAG, type Tag } from '../../src/identity/tags.ts'
import { domainMessage, sign, verify } from '../../src/identity/sign.ts'
import { publicKeyOf, signRaw, verifyRaw } from '../../src/identity/ed25519.ts'
import { toHex } from './vectors.ts'

const TAGS: Tag[] = Object.values(TAG)
const seed = new Uint8Array(32).map((_, i) => i + 1)
const pub = publicKeyOf(seed)
const utf8 = new TextEncoder()

describe('tags', () => {
  it('are distinct, frozen, versioned and free of NUL bytes', () => {
    expect(TAGS.length).toBeGreaterThanOrEqual(6)
    expect(new Set(TAGS).size).toBe(TAGS.length)
    expect(Object.isFrozen(TAG)).toBe(true)
    for (const tag of TAGS) {
      // A tag without 0x00 makes utf8(tag) || 0x00 || message split in exactly one way.
      expect(utf8.encode(tag).includes(0)).toBe(false)
      expect(tag).toMatch(/^troth\/[a-z0-9-]+\/v[0-9]+$/)
    }
  })
})

describe('domainMessage', () => {
  it('is utf8(tag) || 0x00 || message, byte for byte', () => {
    const message = Uint8Array.of(0xde, 0xad, 0x00, 0xbe, 0xef)
    expect(toHex(domainMessage(TAG.entry, message))).toBe(Buffer.from('troth/entry/v1', 'utf8').toString('hex') + '00' + 'dead00beef')
    expect(toHex(domainMessage(TAG.vote, new Uint8Array(0)))).toBe(Buffer.from('troth/vote/v1\0', 'utf8').toString('hex'))
  })

  it('sign(seed, tag, m) is signRaw(seed, domainMessage(tag, m))', () => {
    const message = utf8.encode('hello')
    for (const tag of TAGS) expect(toHex(sign(seed, tag, message))).toBe(toHex(signRaw(seed, domainMessage(tag, message))))
  })

  it('is injective: equal bytes only for the same tag and message', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TAGS), fc.constantFrom(...TAGS), fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b, m1, m2) => {
        const same = toHex(domainMessage(a, m1)) === toHex(domainMessage(b, m2))
        expect(same).toBe(a === b && toHex(m1) === toHex(m2))
      }),
      { numRuns: 500 },
    )
  })
})

describe('a signature for one kind never verifies as another', () => {
  const message = utf8.encode('the same bytes, signed for every kind')

  it(`all ${TAGS.length}×${TAGS.length} tag pairs: verifies only under its own tag`, () => {
    let pairs = 0
    for (const signed of TAGS) {
      const sig = sign(seed, signed, message)
      for (const checked of TAGS) {
        pairs++
        expect(verify(pub, checked, message, sig)).toBe(signed === checked)
      }
    }
    expect(pairs).toBe(TAGS.length * TAGS.length)
  })

  it('a tagged signature is not a raw signature, and a raw signature verifies under no tag', () => {
    const raw = signRaw(seed, message)
    expect(verifyRaw(pub, message, raw)).toBe(true)
    for (const tag of TAGS) {
      expect(verifyRaw(pub, message, sign(seed, tag, message))).toBe(false)
      expect(verify(pub, tag, message, raw)).toBe(false)
    }
  })

  it('property: random message and random pair of distinct tags', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), fc.constantFrom(...TAGS), fc.constantFrom(...TAGS), (m, a, b) => {
        const sig = sign(seed, a, m)
        expect(verify(pub, a, m, sig)).toBe(true)
        expect(verify(pub, b, m, sig)).toBe(a === b)
        expect(verifyRaw(pub, m, sig)).toBe(false)
      }),
      { numRuns: 300 },
    )
  })

  it('property: random keys, messages and tags round-trip, and a flipped message bit fails', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 1, maxLength: 256 }), fc.constantFrom(...TAGS), fc.nat(), (s, m, tag, n) => {
        const p = publicKeyOf(s)
        const sig = sign(s, tag, m)
        expect(verify(p, tag, m, sig)).toBe(true)
        const flipped = m.slice()
        const bit = n % (m.length * 8)
        flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7))
        expect(verify(p, tag, flipped, sig)).toBe(false)
      }),
      { numRuns: 200 },
    )
  })
})
