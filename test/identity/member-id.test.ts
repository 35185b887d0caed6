// MemberId (DESIGN.md §1, src/identity/member-id.ts): `troth1` + lowercase RFC 4648 base32 of the
// 32-byte public key, no padding. Known answers computed here bit by bit from the RFC 4648 §6
// alphabet, round-trip properties, and one rejection per way a spelling can be wrong.

import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { MEMBER_ID_CHARS, MEMBER_ID_PREFIX, formatMemberId, isMemberId, parseMemberId } from '../../src/identity/member-id.ts'
import { publicKeyOf } from '../../src/identity/ed25519.ts'
import { TrothError } from '../../src/errors.ts'
import { hex, toHex } from './vectors.ts'

/** RFC 4648 §6, written out: value i is character i. */
const RFC4648_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.toLowerCase()

/** Reference encoder, independent of the one under test: bits as a string, 5 at a time. */
function referenceBase32(bytes: Uint8Array): string {
  let bits = ''
  for (const b of bytes) bits += b.toString(2).padStart(8, '0')
  while (bits.length % 5 !== 0) bits += '0'
  let out = ''
  for (let i = 0; i < bits.length; i += 5) out += RFC4648_ALPHABET[parseInt(bits.slice(i, i + 5), 2)]
  return out
}

function rejects(text: string, messagePart: string | RegExp): void {
  let error: unknown
  try {
    parseMemberId(text)
  } catch (err) {
    error = err
  }
  expect(error).toBeInstanceOf(TrothError)
  expect((error as TrothError).code).toBe('id.invalid-member-id')
  expect((error as TrothError).message).toMatch(messagePart)
  expect(isMemberId(text)).toBe(false)
}

const RFC8032_TEST1_PUBLIC_KEY = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'

describe('known answers', () => {
  it('RFC 4648 §10 test vectors through the reference encoder (sanity of the reference)', () => {
    const cases: [string, string][] = [['', ''], ['f', 'my'], ['fo', 'mzxq'], ['foo', 'mzxw6'], ['foob', 'mzxw6yq'], ['fooba', 'mzxw6ytb'], ['foobar', 'mzxw6ytboi']]
    for (const [input, output] of cases) expect(referenceBase32(new TextEncoder().encode(input))).toBe(output)
  })

  it('all-zero and all-ones keys', () => {
    expect(formatMemberId(new Uint8Array(32))).toBe('troth1' + 'a'.repeat(52))
    // 256 one bits: 51 characters of 11111 ('7'), then 1 + four zero pad bits = 10000 ('q')
    expect(formatMemberId(new Uint8Array(32).fill(0xff))).toBe('troth1' + '7'.repeat(51) + 'q')
  })

  it('RFC 8032 TEST 1 public key', () => {
    const key = hex(RFC8032_TEST1_PUBLIC_KEY)
    const expected = 'troth1' + referenceBase32(key)
    expect(expected).toBe('troth125njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkena')
    expect(formatMemberId(key)).toBe(expected)
    expect(toHex(parseMemberId(expected))).toBe(RFC8032_TEST1_PUBLIC_KEY)
  })

  it('has the documented shape', () => {
    expect(MEMBER_ID_PREFIX).toBe('troth1')
    expect(MEMBER_ID_CHARS).toBe(58)
  })
})

describe('round trip', () => {
  const keyArb = fc.uint8Array({ minLength: 32, maxLength: 32 })

  it('parse(format(key)) = key, and the form is 58 lowercase characters', () => {
    fc.assert(
      fc.property(keyArb, (key) => {
        const id = formatMemberId(key)
        expect(id.length).toBe(58)
        expect(id).toMatch(/^troth1[a-z2-7]{51}[aq]$/)
        expect(id).toBe('troth1' + referenceBase32(key))
        expect(toHex(parseMemberId(id))).toBe(toHex(key))
        expect(isMemberId(id)).toBe(true)
      }),
      { numRuns: 500 },
    )
  })

  it('one spelling per key: any accepted string is format(parse(string))', () => {
    const charArb = fc.constantFrom(...RFC4648_ALPHABET)
    fc.assert(
      fc.property(fc.array(charArb, { minLength: 52, maxLength: 52 }), (chars) => {
        const text = 'troth1' + chars.join('')
        const accepted = isMemberId(text)
        expect(accepted).toBe(chars[51] === 'a' || chars[51] === 'q')
        if (accepted) expect(formatMemberId(parseMemberId(text))).toBe(text)
      }),
      { numRuns: 500 },
    )
  })

  it('works for real keys', () => {
    const key = publicKeyOf(new Uint8Array(32).fill(9))
    expect(toHex(parseMemberId(formatMemberId(key)))).toBe(toHex(key))
  })
})

describe('strict parsing', () => {
  const good = formatMemberId(hex(RFC8032_TEST1_PUBLIC_KEY))

  it('rejects uppercase, whole or in part', () => {
    rejects(good.toUpperCase(), /prefix|troth1/)
    rejects('troth1' + good.slice(6).toUpperCase(), /lowercase/)
    rejects(good.slice(0, 20) + good.charAt(20).toUpperCase() + good.slice(21), /lowercase.*position 20/)
  })

  it('rejects a wrong or missing prefix', () => {
    for (const prefix of ['troth2', 'troth', 'Troth1', 'troth_', 'xtroth1', '']) {
      rejects(prefix + good.slice(6), /troth1|characters long|alphabet/)
    }
    rejects('troth2' + good.slice(6), /must start with "troth1"/)
    rejects(good.slice(6), /must start with "troth1"/)
  })

  it('rejects a wrong length', () => {
    rejects('troth1', /58 characters long, got 6/)
    rejects(good.slice(0, -1), /58 characters long, got 57/)
    rejects(good + 'a', /58 characters long, got 59/)
    rejects(good + '====', /58 characters long/) // RFC 4648 padding is not part of the form
    rejects(good.slice(0, -2), /got 56/)
  })

  it('rejects characters outside a-z2-7', () => {
    for (const c of ['0', '1', '8', '9', '=', ' ', '-', '_', '+', '/', 'é', '\u0000', '\ud83d']) {
      rejects(good.slice(0, 30) + c + good.slice(31), /character 30 is not in the base32 alphabet/)
    }
  })

  it('rejects non-zero trailing pad bits: the last character must be a or q', () => {
    const body = good.slice(0, -1)
    let accepted = 0
    for (const c of RFC4648_ALPHABET) {
      if (c === 'a' || c === 'q') {
        expect(isMemberId(body + c)).toBe(true)
        accepted++
      } else {
        rejects(body + c, /trailing pad bits/)
      }
    }
    expect(accepted).toBe(2)
  })

  it('rejects non-strings without throwing from isMemberId', () => {
    for (const x of [null, undefined, 42, {}, [], new Uint8Array(32)]) {
      expect(isMemberId(x)).toBe(false)
      expect(() => parseMemberId(x as string)).toThrow(TrothError)
    }
  })

  it('formatMemberId refuses keys that are not 32 bytes', () => {
    for (const length of [0, 31, 33, 64]) {
      let error: unknown
      try {
        formatMemberId(new Uint8Array(length))
      } catch (err) {
        error = err
      }
      expect((error as TrothError).code).toBe('id.invalid-key')
    }
  })
})
