// Deterministic CBOR (src/ledger/encoding.ts, DESIGN.md §2): golden bytes written by hand from
// RFC 8949 (§3, §4.2.1, Appendix A), a negative sweep with one hand-made input per rejection
// code, a cross-check against cborg's own decoder, round-trip properties and the schema helpers.

import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { decode as cborgDecode } from 'cborg'
import {
  CBOR_DEPTH_MAX,
  CBOR_ITEMS_MAX,
  asArray,
  asBool,
  asBytes,
  asEnum,
  asInt,
  asMap,
  asText,
  asUint,
  decode,
  encode,
  encodeReference,
  type CborValue,
} from '../../src/ledger/encoding.ts'
import { TrothError, type ErrorCode } from '../../src/errors.ts'

const LIMITS = { bytesMax: 1 << 20 }

function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '')
  expect(clean.length % 2).toBe(0)
  return new Uint8Array(Buffer.from(clean, 'hex'))
}

function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

/** The TrothError code thrown by fn; fails the test on any other outcome. */
function codeOf(fn: () => unknown): ErrorCode {
  try {
    fn()
  } catch (err) {
    if (err instanceof TrothError) return err.code
    throw err
  }
  throw new Error('expected a TrothError, nothing was thrown')
}

function messageOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof TrothError) return err.message
    throw err
  }
  throw new Error('expected a TrothError, nothing was thrown')
}

/** A map with the given keys in the given insertion order. */
function obj(entries: [string, CborValue][]): CborValue {
  const o: Record<string, CborValue> = {}
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
  return o
}

describe('golden bytes', () => {
  // [description, value, hand-written hex]
  const cases: [string, CborValue, string][] = [
    ['0', 0, '00'],
    ['23: largest immediate', 23, '17'],
    ['24: first one-byte argument', 24, '1818'],
    ['255', 255, '18ff'],
    ['256: first two-byte argument', 256, '190100'],
    ['65535', 65535, '19ffff'],
    ['65536: first four-byte argument', 65536, '1a00010000'],
    ['2^32 − 1', 2 ** 32 - 1, '1affffffff'],
    ['2^32: first eight-byte argument', 2 ** 32, '1b0000000100000000'],
    ['1000000 (RFC 8949 App. A)', 1000000, '1a000f4240'],
    ['1000000000000 (RFC 8949 App. A)', 1000000000000, '1b000000e8d4a51000'],
    ['2^53 − 1', Number.MAX_SAFE_INTEGER, '1b001fffffffffffff'],
    ['−1', -1, '20'],
    ['−24', -24, '37'],
    ['−25', -25, '3818'],
    ['−256', -256, '38ff'],
    ['−257', -257, '390100'],
    ['−1000 (RFC 8949 App. A)', -1000, '3903e7'],
    ['−65537', -65537, '3a00010000'],
    ['−2^32 − 1', -(2 ** 32) - 1, '3b0000000100000000'],
    ['−(2^53 − 1)', -Number.MAX_SAFE_INTEGER, '3b001ffffffffffffe'],
    ['false', false, 'f4'],
    ['true', true, 'f5'],
    ['null', null, 'f6'],
    ['empty bytes', new Uint8Array(0), '40'],
    ['bytes', new Uint8Array([1, 2, 3, 4]), '4401020304'],
    ['24 bytes: one-byte length', new Uint8Array(24), '5818' + '00'.repeat(24)],
    ['256 bytes: two-byte length', new Uint8Array(256), '590100' + '00'.repeat(256)],
    ['empty text', '', '60'],
    ['"a"', 'a', '6161'],
    ['"IETF"', 'IETF', '6449455446'],
    ['"ü"', '\u00fc', '62c3bc'],
    ['"水"', '\u6c34', '63e6b0b4'],
    ['"𐅑" (surrogate pair)', '\ud800\udd51', '64f0908591'],
    ['leading BOM is data', '\ufeffa', '64efbbbf61'],
    ['23-char text', 'x'.repeat(23), '77' + '78'.repeat(23)],
    ['24-char text', 'x'.repeat(24), '7818' + '78'.repeat(24)],
    ['empty array', [], '80'],
    ['[1, 2, 3]', [1, 2, 3], '83010203'],
    ['[1, [2, 3], [4, 5]]', [1, [2, 3], [4, 5]], '8301820203820405'],
    ['25 items: one-byte count', Array.from({ length: 25 }, (_, i) => i + 1), '98190102030405060708090a0b0c0d0e0f101112131415161718181819'],
    ['empty map', {}, 'a0'],
    ['{"a": 1, "b": [2, 3]}', { a: 1, b: [2, 3] }, 'a26161016162820203'],
    ['["a", {"b": "c"}]', ['a', { b: 'c' }], '826161a161626163'],
    ['five keys', { e: 'E', d: 'D', c: 'C', b: 'B', a: 'A' }, 'a56161614161626142616361436164614461656145'],
    // "b" < "aa": the encoded length sits in the head, so a shorter key sorts first.
    ['"b" before "aa"', obj([['aa', 2], ['b', 1]]), 'a261620162616102'],
    ['"z"×23 before "a"×24', obj([['a'.repeat(24), 1], ['z'.repeat(23), 2]]), 'a2' + '77' + '7a'.repeat(23) + '02' + '7818' + '61'.repeat(24) + '01'],
    ['"" before "a" before "b"', obj([['b', 3], ['a', 2], ['', 1]]), 'a36001616102616203'],
    ['"__proto__" is an ordinary key', obj([['__proto__', 1]]), 'a1695f5f70726f746f5f5f01'],
  ]

  for (const [name, value, bytes] of cases) {
    it(`${name} ⇄ ${bytes.length > 40 ? bytes.slice(0, 40) + '…' : bytes}`, () => {
      expect(toHex(encode(value))).toBe(bytes)
      const back = decode(hex(bytes), LIMITS)
      expect(back).toEqual(value)
      expect(toHex(encode(back))).toBe(bytes)
    })
  }

  it('returns a plain Uint8Array that owns its buffer', () => {
    for (const v of [0, 'a', { a: [1, 2] }, new Uint8Array(100), 'x'.repeat(300)] as CborValue[]) {
      const out = encode(v)
      expect(Object.getPrototypeOf(out)).toBe(Uint8Array.prototype)
      expect(out.byteOffset).toBe(0)
      expect(out.buffer.byteLength).toBe(out.length)
    }
  })

  it('encodes a Buffer like a Uint8Array, and -0 as 0', () => {
    expect(toHex(encode(Buffer.from([1, 2])))).toBe('420102')
    expect(toHex(encode(-0))).toBe('00')
  })
})

describe('decode: shape of the result', () => {
  it('maps have a null prototype; "__proto__" is own data', () => {
    const v = decode(hex('a2 63 61 6263 01 69 5f5f70726f746f5f5f a1 61 78 02'), LIMITS) as Record<string, CborValue>
    expect(Object.getPrototypeOf(v)).toBeNull()
    expect(Object.keys(v)).toEqual(['abc', '__proto__'])
    expect(Object.prototype.hasOwnProperty.call(v, '__proto__')).toBe(true)
    expect(v['__proto__']).toEqual({ x: 2 })
    expect(({} as Record<string, unknown>)['x']).toBeUndefined() // no prototype was touched
  })

  it('byte strings are copies, not views of the input', () => {
    const input = hex('82 43 010203 44 04050607')
    const v = decode(input, LIMITS) as Uint8Array[]
    for (const b of v) {
      expect(Object.getPrototypeOf(b)).toBe(Uint8Array.prototype)
      expect(b.buffer).not.toBe(input.buffer)
      expect(b.buffer.byteLength).toBe(b.length)
    }
    input.fill(0)
    expect(v).toEqual([new Uint8Array([1, 2, 3]), new Uint8Array([4, 5, 6, 7])])
  })

  it('reads input given as a Buffer slice at an offset', () => {
    const backing = Buffer.from('ff' + '8201a1616102' + 'ff', 'hex')
    expect(decode(backing.subarray(1, 7), LIMITS)).toEqual([1, { a: 2 }])
  })

  it('accepts exactly bytesMax bytes, exactly depthMax levels and exactly itemsMax items', () => {
    expect(decode(hex('83010203'), { bytesMax: 4, itemsMax: 4, depthMax: 1 })).toEqual([1, 2, 3])
    const deep = hex('81'.repeat(CBOR_DEPTH_MAX - 1) + '80')
    expect(() => decode(deep, LIMITS)).not.toThrow()
    // An array of CBOR_ITEMS_MAX − 1 zeros (four-byte count): with the array itself, exactly the limit.
    const items = new Uint8Array(5 + CBOR_ITEMS_MAX - 1)
    new DataView(items.buffer).setUint32(1, CBOR_ITEMS_MAX - 1)
    items[0] = 0x9a
    expect((decode(items, LIMITS) as CborValue[]).length).toBe(CBOR_ITEMS_MAX - 1)
  })
})

describe('decode: negative sweep', () => {
  // [hex, expected code, what it is, optional limits]
  type Case = [string, ErrorCode, string, { bytesMax: number; depthMax?: number; itemsMax?: number }?]
  const manyItems = '9a000186a1' + '00'.repeat(100_001) // 100001 elements + the array itself
  const cases: Case[] = [
    // too large: checked before parsing, so even garbage reports the size
    ['ffff', 'cbor.too-large', '2 bytes over a 1-byte limit, before parsing', { bytesMax: 1 }],
    ['00', 'cbor.too-large', 'any input over a 0-byte limit', { bytesMax: 0 }],
    // truncated
    ['', 'cbor.truncated', 'empty input'],
    ['18', 'cbor.truncated', 'one-byte argument missing'],
    ['1a0001', 'cbor.truncated', 'four-byte argument cut short'],
    ['6261', 'cbor.truncated', 'text of 2 bytes, 1 present'],
    ['5b0000001000000000', 'cbor.truncated', 'bytes declaring 2^36 bytes: must not allocate'],
    ['5b0020000000000000', 'cbor.truncated', 'bytes declaring 2^53 bytes'],
    ['7bffffffffffffffff', 'cbor.truncated', 'text declaring 2^64 − 1 bytes'],
    ['5affffffff', 'cbor.truncated', 'bytes declaring 2^32 − 1 bytes'],
    ['9b0000001000000000', 'cbor.truncated', 'array declaring 2^36 items'],
    ['bb0000001000000000', 'cbor.truncated', 'map declaring 2^36 entries'],
    ['8201', 'cbor.truncated', 'array missing its second item'],
    ['a16161', 'cbor.truncated', 'map missing a value'],
    ['a2616101', 'cbor.truncated', 'map of 2 entries with 1 present'],
    // trailing bytes
    ['0000', 'cbor.trailing-bytes', 'two top-level items'],
    ['8000', 'cbor.trailing-bytes', 'array then 0'],
    // non-canonical heads
    ['1817', 'cbor.non-canonical-int', '23 in a one-byte argument'],
    ['1800', 'cbor.non-canonical-int', '0 in a one-byte argument'],
    ['1900ff', 'cbor.non-canonical-int', '255 in a two-byte argument'],
    ['1a0000ffff', 'cbor.non-canonical-int', '65535 in a four-byte argument'],
    ['1b00000000ffffffff', 'cbor.non-canonical-int', '2^32 − 1 in an eight-byte argument'],
    ['3817', 'cbor.non-canonical-int', '−24 in a one-byte argument'],
    ['3900ff', 'cbor.non-canonical-int', '−256 in a two-byte argument'],
    ['580161', 'cbor.non-canonical-int', 'byte-string length 1 in a one-byte argument'],
    ['59000161', 'cbor.non-canonical-int', 'byte-string length 1 in a two-byte argument'],
    ['780161', 'cbor.non-canonical-int', 'text length 1 in a one-byte argument'],
    ['7a0000000161', 'cbor.non-canonical-int', 'text length 1 in a four-byte argument'],
    ['980101', 'cbor.non-canonical-int', 'array count 1 in a one-byte argument'],
    ['9b000000000000000101', 'cbor.non-canonical-int', 'array count 1 in an eight-byte argument'],
    ['b801616101', 'cbor.non-canonical-int', 'map count 1 in a one-byte argument'],
    ['a161611801', 'cbor.non-canonical-int', 'non-canonical value inside a map'],
    // indefinite lengths and break
    ['9fff', 'cbor.indefinite-length', 'indefinite array'],
    ['9f01ff', 'cbor.indefinite-length', 'indefinite array with an item'],
    ['5fff', 'cbor.indefinite-length', 'indefinite byte string'],
    ['5f4101ff', 'cbor.indefinite-length', 'indefinite byte string with a chunk'],
    ['7fff', 'cbor.indefinite-length', 'indefinite text'],
    ['bfff', 'cbor.indefinite-length', 'indefinite map'],
    ['ff', 'cbor.indefinite-length', 'lone break byte'],
    ['8201ff', 'cbor.indefinite-length', 'break inside a definite array'],
    // floats, even when integral
    ['f93c00', 'cbor.float', 'half float 1.0'],
    ['f90000', 'cbor.float', 'half float 0.0'],
    ['f97e00', 'cbor.float', 'half float NaN'],
    ['fa3f800000', 'cbor.float', 'single float 1.0'],
    ['fb3ff0000000000000', 'cbor.float', 'double float 1.0'],
    ['fb7ff0000000000000', 'cbor.float', 'double float Infinity'],
    ['8201fb3ff8000000000000', 'cbor.float', 'double 1.5 inside an array'],
    // map keys
    ['a2616201616102', 'cbor.map-key-order', '"b" then "a"'],
    ['a262616101616202', 'cbor.map-key-order', '"aa" then "b": shorter encodings sort first'],
    ['a3616101616202616103', 'cbor.map-key-order', '"a", "b", "a": a later repeat is out of order'],
    ['a2616101616102', 'cbor.duplicate-key', '"a" twice'],
    ['a260016002', 'cbor.duplicate-key', 'empty key twice'],
    ['a10102', 'cbor.map-key-type', 'integer key'],
    ['a12001', 'cbor.map-key-type', 'negative integer key'],
    ['a1416101', 'cbor.map-key-type', 'byte-string key'],
    ['a18001', 'cbor.map-key-type', 'array key'],
    ['a1a001', 'cbor.map-key-type', 'map key'],
    ['a1f601', 'cbor.map-key-type', 'null key'],
    ['a1c06001', 'cbor.map-key-type', 'tagged key'],
    // types outside the data model
    ['c060', 'cbor.unsupported-type', 'tag 0 (date string)'],
    ['c11a514b67b0', 'cbor.unsupported-type', 'tag 1 (epoch date)'],
    ['c249010000000000000000', 'cbor.unsupported-type', 'tag 2 (bignum)'],
    ['d82060', 'cbor.unsupported-type', 'tag 32 with a one-byte argument'],
    ['c0', 'cbor.unsupported-type', 'bare tag head'],
    ['f7', 'cbor.unsupported-type', 'undefined'],
    ['f0', 'cbor.unsupported-type', 'simple value 16'],
    ['e0', 'cbor.unsupported-type', 'simple value 0'],
    ['f820', 'cbor.unsupported-type', 'one-byte simple value 32'],
    ['8201f7', 'cbor.unsupported-type', 'undefined inside an array'],
    // integers outside ±(2^53 − 1)
    ['1b0020000000000000', 'cbor.int-range', '2^53'],
    ['1bffffffffffffffff', 'cbor.int-range', '2^64 − 1'],
    ['3b001fffffffffffff', 'cbor.int-range', '−2^53'],
    ['3bffffffffffffffff', 'cbor.int-range', '−2^64'],
    // limits
    ['81'.repeat(CBOR_DEPTH_MAX) + '80', 'cbor.too-deep', `${CBOR_DEPTH_MAX + 1} nested arrays`],
    ['a16161'.repeat(CBOR_DEPTH_MAX) + 'a0', 'cbor.too-deep', `${CBOR_DEPTH_MAX + 1} nested maps`],
    ['818100', 'cbor.too-deep', 'depthMax 1 with two arrays', { bytesMax: 10, depthMax: 1 }],
    ['8100', 'cbor.too-deep', 'depthMax 0 with one array', { bytesMax: 10, depthMax: 0 }],
    ['83010203', 'cbor.too-many-items', '4 items with itemsMax 3', { bytesMax: 10, itemsMax: 3 }],
    ['a26161016162820203', 'cbor.too-many-items', 'keys count as items', { bytesMax: 20, itemsMax: 6 }],
    ['82820102820102', 'cbor.too-many-items', 'nested items count', { bytesMax: 20, itemsMax: 6 }],
    [manyItems, 'cbor.too-many-items', `${CBOR_ITEMS_MAX + 2} items by default`, { bytesMax: 200_000 }],
    // invalid UTF-8
    ['61ff', 'cbor.invalid-utf8', '0xff is never UTF-8'],
    ['61c3', 'cbor.invalid-utf8', 'sequence cut short'],
    ['62c328', 'cbor.invalid-utf8', 'bad continuation byte'],
    ['62c080', 'cbor.invalid-utf8', 'overlong NUL'],
    ['63eda080', 'cbor.invalid-utf8', 'encoded surrogate U+D800'],
    ['64f4908080', 'cbor.invalid-utf8', 'code point above U+10FFFF'],
    ['a161ff00', 'cbor.invalid-utf8', 'invalid UTF-8 in a map key'],
    // reserved additional information (RFC 8949 §3: not well-formed)
    ['1c', 'cbor.malformed', 'uint, ai 28'],
    ['1d', 'cbor.malformed', 'uint, ai 29'],
    ['1e', 'cbor.malformed', 'uint, ai 30'],
    ['3c', 'cbor.malformed', 'negint, ai 28'],
    ['5c', 'cbor.malformed', 'bytes, ai 28'],
    ['7d', 'cbor.malformed', 'text, ai 29'],
    ['9e', 'cbor.malformed', 'array, ai 30'],
    ['bc', 'cbor.malformed', 'map, ai 28'],
    ['fc', 'cbor.malformed', 'major 7, ai 28'],
    ['fd', 'cbor.malformed', 'major 7, ai 29'],
    ['fe', 'cbor.malformed', 'major 7, ai 30'],
    ['1f', 'cbor.malformed', 'uint with ai 31 (no indefinite integers)'],
    ['3f', 'cbor.malformed', 'negint with ai 31'],
  ]

  for (const [input, code, what, limits] of cases) {
    it(`${code}: ${what} (${input.length > 24 ? input.slice(0, 24) + '…' : input || 'empty'})`, () => {
      expect(codeOf(() => decode(hex(input), limits ?? { bytesMax: 1 << 20 }))).toBe(code)
    })
  }

  it('error messages name the byte offset', () => {
    expect(messageOf(() => decode(hex('83 01 02 1817'), LIMITS))).toMatch(/byte 3\b/)
    expect(messageOf(() => decode(hex('82 01 f93c00'), LIMITS))).toMatch(/16-bit float at byte 2/)
    expect(messageOf(() => decode(hex('a2 6162 01 6161 02'), LIMITS))).toMatch(/"a" at byte 4/)
    expect(messageOf(() => decode(hex('00 00 00'), LIMITS))).toMatch(/2 bytes after .* byte 1/)
  })

  it('a huge declared length fails at once instead of allocating', () => {
    // 2^36 bytes would be 64 GiB; success here means no allocation was attempted.
    for (const h of ['5b0000001000000000', '7b0000001000000000', '9b0000001000000000', 'bb0000001000000000']) {
      expect(messageOf(() => decode(hex(h), LIMITS))).toMatch(/declares 68719476736 .* only 0 (bytes )?remain/)
    }
  })
})

describe('encode: values outside the data model', () => {
  class Point {
    x = 1
  }
  const circular: Record<string, unknown> = { a: 1 }
  circular['self'] = circular
  const sparse: unknown[] = [1]
  sparse[2] = 3 // index 1 is a hole
  const withSymbol = { a: 1, [Symbol('s')]: 2 }

  const cases: [string, unknown, ErrorCode][] = [
    ['1.5', 1.5, 'cbor.float'],
    ['NaN', NaN, 'cbor.float'],
    ['Infinity', Infinity, 'cbor.float'],
    ['−Infinity', -Infinity, 'cbor.float'],
    ['2^53', 2 ** 53, 'cbor.int-range'],
    ['−2^53', -(2 ** 53), 'cbor.int-range'],
    ['1e300', 1e300, 'cbor.int-range'],
    ['bigint 5n', 5n, 'cbor.unsupported-type'],
    ['bigint 2^64', 2n ** 64n, 'cbor.int-range'],
    ['undefined', undefined, 'cbor.unsupported-type'],
    ['a function', () => 1, 'cbor.unsupported-type'],
    ['a symbol', Symbol('x'), 'cbor.unsupported-type'],
    ['a Map', new Map([['a', 1]]), 'cbor.unsupported-type'],
    ['a Set', new Set([1]), 'cbor.unsupported-type'],
    ['a Date', new Date(0), 'cbor.unsupported-type'],
    ['a class instance', new Point(), 'cbor.unsupported-type'],
    ['an ArrayBuffer', new ArrayBuffer(2), 'cbor.unsupported-type'],
    ['a Uint16Array', new Uint16Array(2), 'cbor.unsupported-type'],
    ['a DataView', new DataView(new ArrayBuffer(2)), 'cbor.unsupported-type'],
    ['a lone surrogate', 'a\ud800b', 'cbor.invalid-utf8'],
    ['a lone low surrogate as a key', { ['\udc00']: 1 }, 'cbor.invalid-utf8'],
    ['undefined as a field', { a: undefined }, 'cbor.unsupported-type'],
    ['undefined in an array', [1, undefined], 'cbor.unsupported-type'],
    ['a sparse array', sparse, 'cbor.unsupported-type'],
    ['a symbol key', withSymbol, 'cbor.map-key-type'],
    ['a circular reference', circular, 'cbor.unsupported-type'],
    ['a float deep inside', { a: [1, { b: 0.5 }] }, 'cbor.float'],
  ]
  for (const [name, value, code] of cases) {
    it(`${code}: ${name}`, () => {
      expect(codeOf(() => encode(value as CborValue))).toBe(code)
    })
  }

  it('names the path of the bad value', () => {
    expect(messageOf(() => encode({ a: [1, { b: 0.5 }] }))).toMatch(/^\$\.a\[1\]\.b: 0\.5/)
    expect(messageOf(() => encode({ 'odd key': [{ ok: 1, x: undefined }] } as unknown as CborValue))).toMatch(/^\$\["odd key"\]\[0\]\.x: undefined/)
    expect(messageOf(() => encode({ a: sparse } as CborValue))).toMatch(/^\$\.a\[1\]: hole in a sparse array/)
    expect(messageOf(() => encode({ a: { ['\udc00']: 1 } }))).toMatch(/^\$\.a\["\\udc00"\]: text holds a lone surrogate/)
    expect(messageOf(() => encode(1.5))).toMatch(/^\$: 1\.5/)
    // Siblings after a good branch do not inherit its path.
    expect(messageOf(() => encode([{ a: [1, 2] }, { b: { c: 2 ** 60 } }]))).toMatch(/^\$\[1\]\.b\.c: integer/)
  })

  it('accepts the same object twice when it is not an ancestor of itself', () => {
    const shared = { x: 1 }
    expect(toHex(encode([shared, shared]))).toBe('82a1617801a1617801')
  })
})

// ---------------------------------------------------------------------------------------------
// Properties

const BOUNDARY_INTS = [0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]
const intArb = fc.oneof(
  fc.maxSafeInteger(),
  fc.integer({ min: -300, max: 300 }),
  fc.constantFrom(...BOUNDARY_INTS, ...BOUNDARY_INTS.map((n) => -n - 1).filter(Number.isSafeInteger), -Number.MAX_SAFE_INTEGER),
)
const textArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 20, maxLength: 300 }),
)
const keyArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 'a', 'b', 'aa', 'x'.repeat(23), 'x'.repeat(24)),
)
const scalarArb: fc.Arbitrary<CborValue> = fc.oneof(
  intArb,
  textArb,
  fc.uint8Array({ maxLength: 300 }),
  fc.boolean(),
  fc.constant(null),
)
const valueArb: fc.Arbitrary<CborValue> = fc.letrec<{ value: CborValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 8, depthIdentifier: 'cbor' },
    scalarArb,
    fc.array(tie('value'), { maxLength: 6, depthIdentifier: 'cbor' }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 6, depthIdentifier: 'cbor' }),
  ),
})).value

/** cborg's decoder in its strictest settings, with maps turned into null-prototype objects. */
function cborgStrictDecode(bytes: Uint8Array): CborValue {
  const raw: unknown = cborgDecode(bytes, {
    strict: true,
    allowIndefinite: false,
    allowUndefined: false,
    allowInfinity: false,
    allowNaN: false,
    allowBigInt: false,
    rejectDuplicateMapKeys: true,
    useMaps: true,
  })
  const convert = (v: unknown): CborValue => {
    if (v instanceof Map) {
      const o = Object.create(null) as Record<string, CborValue>
      for (const [k, x] of v) o[k as string] = convert(x)
      return o
    }
    if (Array.isArray(v)) return v.map(convert)
    return v as CborValue
  }
  return convert(raw)
}

/** Reject = a TrothError; anything else thrown fails the property. Returns the decoded value or undefined. */
function tryDecode(bytes: Uint8Array): CborValue | undefined {
  try {
    return decode(bytes, LIMITS)
  } catch (err) {
    if (err instanceof TrothError) return undefined
    throw err
  }
}

describe('properties', () => {
  // encode() writes the bytes itself (one walk, one scratch buffer); cborg's encoder, with the
  // RFC 8949 bytewise key order, is the reference it must match byte for byte.
  it('encode gives exactly the bytes of cborg\'s RFC 8949 encoder', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        expect(toHex(encode(v))).toBe(toHex(encodeReference(v)))
      }),
      { numRuns: 3000 },
    )
  })

  it('encode matches cborg on keys whose UTF-16 order is not their UTF-8 order, big items and a grown scratch buffer', () => {
    const cases: CborValue[] = [
      // U+FFFF is 3 bytes in UTF-8, U+10000 four: bytewise, the shorter first; UTF-16 says otherwise.
      { '\u{10000}': 1, '\uFFFF': 2, 'é': 3, e: 4, zz: 5, '': 6 },
      { ['k'.repeat(300)]: 1, ['k'.repeat(24)]: 2, ['k'.repeat(23)]: 3, ['j'.repeat(300)]: 4 },
      Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`key${(i * 7919) % 40}`, i])),
      new Uint8Array(70_000).fill(7),
      'ü'.repeat(40_000),
      [new Uint8Array(3 * 1024 * 1024).fill(1), { a: [1, -1, -(2 ** 32) - 1, 2 ** 53 - 1, -(2 ** 53) + 1] }],
      { small: 'after a big one' },
      -0,
    ]
    for (const v of cases) expect(toHex(encode(v))).toBe(toHex(encodeReference(v)))
  })

  it('decode(encode(v)) deep-equals v, and re-encoding is byte-identical', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const bytes = encode(v)
        const back = decode(bytes, LIMITS)
        expect(back).toEqual(v)
        expect(toHex(encode(back))).toBe(toHex(bytes))
      }),
      { numRuns: 1000 },
    )
  })

  it('cborg, decoding strictly, reads our encodings as the same values', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const bytes = encode(v)
        expect(cborgStrictDecode(bytes)).toEqual(decode(bytes, LIMITS))
      }),
      { numRuns: 500 },
    )
  })

  it('encoding does not depend on the insertion order of keys', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(keyArb, scalarArb), { selector: ([k]) => k, maxLength: 10 }), (pairs) => {
        const forward = encode(obj(pairs))
        const backward = encode(obj([...pairs].reverse()))
        expect(toHex(backward)).toBe(toHex(forward))
      }),
    )
  })

  it('a map with its entries out of order, or with a key repeated, is rejected by name', () => {
    /** A map head (fewer than 24 entries) followed by the given entries, in the given order. */
    const rawMap = (entries: [string, CborValue][]): Uint8Array => {
      const parts = [new Uint8Array([0xa0 | entries.length]), ...entries.flatMap(([k, v]) => [encode(k), encode(v)])]
      return new Uint8Array(parts.flatMap((p) => Array.from(p)))
    }
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(keyArb, scalarArb), { selector: ([k]) => k, minLength: 2, maxLength: 8 }), (pairs) => {
        const sorted = Object.entries(decode(encode(obj(pairs)), LIMITS) as Record<string, CborValue>)
        expect(toHex(rawMap(sorted))).toBe(toHex(encode(obj(pairs))))
        expect(codeOf(() => decode(rawMap([...sorted].reverse()), LIMITS))).toBe('cbor.map-key-order')
        const [first, ...rest] = sorted
        expect(codeOf(() => decode(rawMap([first!, first!, ...rest]), LIMITS))).toBe('cbor.duplicate-key')
      }),
    )
  })

  it('arbitrary bytes: decode throws a TrothError or round-trips exactly', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const v = tryDecode(bytes)
        if (v !== undefined) expect(toHex(encode(v))).toBe(toHex(bytes))
      }),
      { numRuns: 5000 },
    )
  })

  it('mutated encodings: decode throws a TrothError or round-trips exactly', () => {
    const mutation = fc.record({
      at: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
      op: fc.constantFrom('set', 'insert', 'delete', 'truncate'),
    })
    fc.assert(
      fc.property(valueArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (v, mutations) => {
        let bytes = Array.from(encode(v))
        for (const m of mutations) {
          const at = bytes.length === 0 ? 0 : m.at % bytes.length
          if (m.op === 'set') bytes[at] = m.byte
          else if (m.op === 'insert') bytes.splice(at, 0, m.byte)
          else if (m.op === 'delete') bytes.splice(at, 1)
          else bytes = bytes.slice(0, at)
        }
        const input = new Uint8Array(bytes)
        const back = tryDecode(input)
        if (back !== undefined) expect(toHex(encode(back))).toBe(toHex(input))
      }),
      { numRuns: 3000 },
    )
  })
})

// ---------------------------------------------------------------------------------------------
// Schema helpers

describe('schema helpers', () => {
  const schemaMessage = (fn: () => unknown): string => {
    expect(codeOf(fn)).toBe('schema.invalid')
    return messageOf(fn)
  }
  const body = decode(encode({ weight: 1000, name: 'ada', key: new Uint8Array(32), tags: ['a'], ok: true }), LIMITS)

  it('asMap accepts the exact key set, with optional keys absent or present', () => {
    const m = asMap(body, 'entry.body', ['weight', 'name', 'key'], ['tags', 'ok', 'note'])
    expect(asUint(m.weight, 'entry.body.weight')).toBe(1000)
    expect(m.note).toBeUndefined()
    expect(asMap({}, 'x', [])).toEqual({})
  })

  it('asMap rejects an unknown field, a missing field and a non-map', () => {
    expect(schemaMessage(() => asMap(body, 'entry.body', ['weight', 'name', 'key'], ['tags']))).toBe('entry.body.ok: unknown field')
    expect(schemaMessage(() => asMap(body, 'entry.body', ['weight', 'name', 'key', 'tags', 'ok', 'seq']))).toBe(
      'entry.body.seq: missing required field',
    )
    expect(schemaMessage(() => asMap([], 'entry', []))).toBe('entry: expected map, got array')
    expect(schemaMessage(() => asMap(null, 'entry', []))).toBe('entry: expected map, got null')
    expect(schemaMessage(() => asMap(new Uint8Array(1), 'entry', []))).toBe('entry: expected map, got byte string')
  })

  it('asMap does not see inherited properties', () => {
    expect(schemaMessage(() => asMap({}, 'm', ['toString']))).toBe('m.toString: missing required field')
  })

  it('asUint and asInt', () => {
    expect(asUint(0, 'n')).toBe(0)
    expect(asUint(Number.MAX_SAFE_INTEGER, 'n')).toBe(Number.MAX_SAFE_INTEGER)
    expect(asUint(10, 'n', 10)).toBe(10)
    expect(schemaMessage(() => asUint(11, 'entry.body.weight', 10))).toBe('entry.body.weight: 11 exceeds the maximum 10')
    expect(schemaMessage(() => asUint(-1, 'entry.body.weight'))).toBe('entry.body.weight: expected unsigned integer, got negative integer')
    expect(schemaMessage(() => asUint('1', 'entry.body.weight'))).toBe('entry.body.weight: expected unsigned integer, got text')
    expect(schemaMessage(() => asUint(1.5, 'w'))).toBe('w: expected unsigned integer, got non-integer number')
    expect(schemaMessage(() => asUint(undefined, 'w'))).toBe('w: expected unsigned integer, got nothing (missing)')
    expect(asInt(-5, 'i')).toBe(-5)
    expect(schemaMessage(() => asInt(true, 'i'))).toBe('i: expected integer, got boolean')
  })

  it('asBytes: exact length and maximum length', () => {
    const b = new Uint8Array(32)
    expect(asBytes(b, 'k', 32)).toBe(b)
    expect(asBytes(b, 'k', undefined, 32)).toBe(b)
    expect(schemaMessage(() => asBytes(b, 'k', 31))).toBe('k: expected 31 bytes, got 32')
    expect(schemaMessage(() => asBytes(b, 'k', undefined, 31))).toBe('k: 32 bytes exceeds the maximum 31')
    expect(schemaMessage(() => asBytes('ab', 'k'))).toBe('k: expected byte string, got text')
  })

  it('asText limits UTF-8 bytes, not UTF-16 code units', () => {
    expect(asText('abc', 'name', 3)).toBe('abc')
    expect(asText('ü', 'name', 2)).toBe('ü')
    expect(schemaMessage(() => asText('üü', 'name', 3))).toBe('name: text of 4 UTF-8 bytes exceeds the maximum 3')
    expect(schemaMessage(() => asText('x'.repeat(65), 'member.name', 64))).toBe('member.name: text of 65 UTF-8 bytes exceeds the maximum 64')
    expect(asText('水'.repeat(21), 'name', 64)).toBe('水'.repeat(21))
    expect(schemaMessage(() => asText('水'.repeat(22), 'name', 64))).toMatch(/66 UTF-8 bytes/)
    expect(schemaMessage(() => asText(new Uint8Array(1), 'name', 64))).toBe('name: expected text, got byte string')
  })

  it('asArray, asBool, asEnum', () => {
    expect(asArray([1, 2], 'xs', 2)).toEqual([1, 2])
    expect(schemaMessage(() => asArray([1, 2, 3], 'xs', 2))).toBe('xs: 3 items exceeds the maximum 2')
    expect(schemaMessage(() => asArray({}, 'xs', 2))).toBe('xs: expected array, got map')
    expect(asBool(false, 'b')).toBe(false)
    expect(schemaMessage(() => asBool(0, 'b'))).toBe('b: expected boolean, got unsigned integer')
    const status = asEnum('active', 'member.status', ['active', 'left', 'exiled'] as const)
    expect(status).toBe('active')
    expect(schemaMessage(() => asEnum('gone', 'member.status', ['active', 'left']))).toBe('member.status: "gone" is not one of active, left')
    expect(schemaMessage(() => asEnum(1, 'member.status', ['active']))).toBe('member.status: expected one of active, got unsigned integer')
  })
})
