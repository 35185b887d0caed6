// Input generators shared by the fuzz targets (docs/fuzzing.md): mutations of valid encodings,
// byte-level (bit flips, truncation, insertion, splicing) and CBOR-aware (a head's argument set to
// a huge or off-by-one length, a map key duplicated, keys swapped, an item wrapped in deep
// nesting, an item replaced by one outside the data model), the same for text formats line by
// line, and random CBOR values for structure-aware generation. A mutation is a plan of small
// integers, so fast-check can shrink a failing input to the smallest plan that still fails.

import fc from 'fast-check'
import type { CborValue } from '../../src/ledger/encoding.ts'

// ---------------------------------------------------------------------------------------------
// A lenient CBOR walker: where each data item of a (mostly) valid encoding starts and ends.

export interface ItemSpan {
  readonly start: number
  readonly headEnd: number
  readonly end: number
  readonly major: number
  readonly arg: number
  /** Child items in order (for a map: key, value, key, value...). */
  readonly kids: readonly ItemSpan[]
}

/** All items it can find, outermost first; stops quietly where the bytes stop making sense. */
export function walkCbor(b: Uint8Array): ItemSpan[] {
  const out: ItemSpan[] = []
  const item = (pos: number, depth: number): ItemSpan | null => {
    if (pos >= b.length || depth > 64) return null
    const initial = b[pos] as number
    const major = initial >> 5
    const info = initial & 0x1f
    let p = pos + 1
    let arg = info
    if (info >= 24 && info <= 27) {
      const n = 1 << (info - 24)
      if (p + n > b.length) return null
      arg = 0
      for (let i = 0; i < n; i++) arg = arg * 256 + (b[p + i] as number)
      p += n
    } else if (info > 27) return null
    const headEnd = p
    const kids: ItemSpan[] = []
    const span = (end: number): ItemSpan => ({ start: pos, headEnd, end, major, arg, kids })
    if (major === 2 || major === 3) {
      if (p + arg > b.length) return null
      const s = span(p + arg)
      out.push(s)
      return s
    }
    if (major === 4 || major === 5) {
      const count = major === 5 ? arg * 2 : arg
      if (count > b.length) return null
      const index = out.length
      out.push(span(p)) // placeholder, replaced below
      for (let i = 0; i < count; i++) {
        const k = item(p, depth + 1)
        if (k === null) {
          out.splice(index, 1)
          return null
        }
        kids.push(k)
        p = k.end
      }
      const s = span(p)
      out[index] = s
      return s
    }
    if (major === 6) {
      const k = item(p, depth + 1)
      if (k === null) return null
      const s = span(k.end)
      out.push(s)
      return s
    }
    const s = span(p)
    out.push(s)
    return s
  }
  item(0, 0)
  return out
}

/** A CBOR head: shortest form, or a forced width (1, 2, 4 or 8 argument bytes) to make it non-canonical. */
export function head(major: number, arg: number, width?: 0 | 1 | 2 | 4 | 8): Uint8Array {
  const w = width ?? (arg < 24 ? 0 : arg < 0x100 ? 1 : arg < 0x10000 ? 2 : arg < 2 ** 32 ? 4 : 8)
  if (w === 0) return Uint8Array.of((major << 5) | Math.min(arg, 23))
  const out = new Uint8Array(1 + w)
  out[0] = (major << 5) | (24 + Math.log2(w))
  let x = BigInt(Math.max(0, Math.floor(arg)))
  for (let i = w; i >= 1; i--) {
    out[i] = Number(x & 0xffn)
    x >>= 8n
  }
  return out
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0)
  const out = new Uint8Array(n)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))

/** Items outside the data model or at its edges, to drop in place of a valid one. */
export const HOSTILE_ITEMS: readonly Uint8Array[] = [
  hex('f90000'), hex('fa3f800000'), hex('fb7ff8000000000000'), // floats (NaN too)
  hex('f7'), hex('f0'), hex('f820'), hex('fc'), hex('ff'), // undefined, simple values, reserved, break
  hex('c000'), hex('d8ff00'), hex('c249010000000000000000'), // tags, a bignum
  hex('9fff'), hex('5fff'), hex('7fff'), hex('bfff'), hex('9f01ff'), // indefinite lengths
  hex('1c'), hex('3f'), // reserved info, indefinite integer
  hex('1bffffffffffffffff'), hex('1b001fffffffffffff'), hex('1b0020000000000000'), hex('3b001ffffffffffffe'), hex('3b001fffffffffffff'), // integer range edges
  hex('5bffffffffffffffff'), hex('5b0000000100000000'), hex('5affffffff'), hex('7affffffff'), hex('9affffffff'), hex('baffffffff'), hex('9b001fffffffffffff'), // huge lengths
  hex('1801'), hex('190001'), hex('1a00000001'), hex('1b0000000000000001'), hex('5801ff'), hex('980100'), // non-canonical heads
  hex('62c328'), hex('63eda080'), hex('61ff'), hex('64f4908080'), // invalid UTF-8, a surrogate, out of range
  hex('a2616100616100'), hex('a2616200616100'), hex('a10000'), hex('a14000'), // duplicate key, key order, non-text keys
  cat(new Uint8Array(3000).fill(0x81), hex('00')), // deep nesting
  cat(new Uint8Array(20).fill(0x81), hex('00')),
  hex('00'), hex('20'), hex('40'), hex('60'), hex('80'), hex('a0'), hex('f4'), hex('f5'), hex('f6'), // one of each plain kind
  hex('3b001ffffffffffffd'), hex('1b001ffffffffffffe'),
]

/** Arguments that sit on edges: zero, off-by-one, width boundaries, beyond any input, beyond 2^53. */
export const EDGE_ARGS: readonly number[] = [0, 1, 22, 23, 24, 31, 32, 63, 64, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 64 - 1]

// ---------------------------------------------------------------------------------------------
// Byte mutations.

export const BYTE_OPS = [
  'flip', 'set', 'truncate', 'delete', 'insert', 'append', 'splice', 'dup-range', // byte-level
  'head-arg', 'head-width', 'huge-length', 'major', 'dup-key', 'swap-keys', 'nest', 'replace-item', 'drop-item', 'dup-item', // CBOR-aware
] as const
export type ByteOp = (typeof BYTE_OPS)[number]

export interface Step {
  readonly op: ByteOp
  readonly a: number
  readonly b: number
  readonly data: Uint8Array
}

export const stepArb: fc.Arbitrary<Step> = fc.record({
  op: fc.constantFrom(...BYTE_OPS),
  a: fc.nat(),
  b: fc.nat(),
  data: fc.uint8Array({ minLength: 1, maxLength: 12 }),
})

function pickItem(b: Uint8Array, a: number, filter: (s: ItemSpan) => boolean = () => true): ItemSpan | null {
  const items = walkCbor(b).filter(filter)
  return items.length === 0 ? null : (items[a % items.length] as ItemSpan)
}

function replaceRange(b: Uint8Array, start: number, end: number, bytes: Uint8Array): Uint8Array {
  return cat(b.subarray(0, start), bytes, b.subarray(end))
}

/** Apply one step; `others` are valid samples to splice from. */
export function applyStep(b: Uint8Array, s: Step, others: readonly Uint8Array[]): Uint8Array {
  const len = b.length
  switch (s.op) {
    case 'flip': {
      if (len === 0) return b
      const out = b.slice()
      out[s.a % len] = (out[s.a % len] as number) ^ (1 << (s.b % 8))
      return out
    }
    case 'set': {
      if (len === 0) return b
      const out = b.slice()
      out[s.a % len] = s.data[0] as number
      return out
    }
    case 'truncate':
      return b.slice(0, s.a % (len + 1))
    case 'delete': {
      if (len === 0) return b
      const at = s.a % len
      return replaceRange(b, at, Math.min(len, at + 1 + (s.b % 16)), new Uint8Array(0))
    }
    case 'insert':
      return replaceRange(b, s.a % (len + 1), s.a % (len + 1), s.data)
    case 'append':
      return cat(b, s.data)
    case 'splice': {
      const other = others.length === 0 ? b : (others[s.b % others.length] as Uint8Array)
      return cat(b.subarray(0, s.a % (len + 1)), other.subarray(s.b % (other.length + 1)))
    }
    case 'dup-range': {
      if (len === 0) return b
      const at = s.a % len
      const piece = b.subarray(at, Math.min(len, at + 1 + (s.b % 64)))
      return replaceRange(b, at, at, piece)
    }
    case 'head-arg': {
      const it = pickItem(b, s.a)
      if (it === null) return b
      const arg = (EDGE_ARGS[s.b % EDGE_ARGS.length] as number) + ((s.data[0] as number) % 3) - 1
      return replaceRange(b, it.start, it.headEnd, head(it.major === 7 ? 0 : it.major, Math.max(0, arg)))
    }
    case 'head-width': {
      // Same argument, a wider (non-canonical) head.
      const it = pickItem(b, s.a, (x) => x.major !== 7)
      if (it === null) return b
      const widths = [1, 2, 4, 8] as const
      return replaceRange(b, it.start, it.headEnd, head(it.major, it.arg, widths[s.b % 4]))
    }
    case 'huge-length': {
      const it = pickItem(b, s.a, (x) => x.major >= 2 && x.major <= 5)
      if (it === null) return b
      const huge = [2 ** 16 - 1, 2 ** 32 - 1, 2 ** 53 - 1, 2 ** 64 - 1, it.arg + 1, it.arg * 2 + 1, it.arg + 1000][s.b % 7] as number
      return replaceRange(b, it.start, it.headEnd, head(it.major, huge))
    }
    case 'major': {
      const it = pickItem(b, s.a)
      if (it === null) return b
      const out = b.slice()
      out[it.start] = (((out[it.start] as number) & 0x1f) | ((s.b % 8) << 5)) & 0xff
      return out
    }
    case 'dup-key': {
      const it = pickItem(b, s.a, (x) => x.major === 5 && x.kids.length >= 2)
      if (it === null) return b
      const pair = (s.b % (it.kids.length / 2)) * 2
      const k = it.kids[pair] as ItemSpan
      const v = it.kids[pair + 1] as ItemSpan
      const copy = b.slice(k.start, v.end)
      // Insert the copy right after the pair, and count one more entry.
      const withCopy = replaceRange(b, v.end, v.end, copy)
      return replaceRange(withCopy, it.start, it.headEnd, head(5, it.arg + 1))
    }
    case 'swap-keys': {
      const it = pickItem(b, s.a, (x) => x.major === 5 && x.kids.length >= 4)
      if (it === null) return b
      const pair = (s.b % (it.kids.length / 2 - 1)) * 2
      const k1 = it.kids[pair] as ItemSpan
      const v1 = it.kids[pair + 1] as ItemSpan
      const k2 = it.kids[pair + 2] as ItemSpan
      const v2 = it.kids[pair + 3] as ItemSpan
      return replaceRange(b, k1.start, v2.end, cat(b.subarray(k2.start, v2.end), b.subarray(k1.start, v1.end)))
    }
    case 'nest': {
      const it = pickItem(b, s.a)
      if (it === null) return cat(new Uint8Array(1 + (s.b % 3000)).fill(0x81), b)
      const depth = [1, 2, 15, 16, 17, 100, 1023, 1024, 1025, 5000][s.b % 10] as number
      return replaceRange(b, it.start, it.start, new Uint8Array(depth).fill(0x81))
    }
    case 'replace-item': {
      const it = pickItem(b, s.a)
      const hostile = HOSTILE_ITEMS[s.b % HOSTILE_ITEMS.length] as Uint8Array
      if (it === null) return hostile
      return replaceRange(b, it.start, it.end, hostile)
    }
    case 'drop-item': {
      const it = pickItem(b, s.a, (x) => x.start > 0)
      if (it === null) return b
      return replaceRange(b, it.start, it.end, new Uint8Array(0))
    }
    case 'dup-item': {
      const it = pickItem(b, s.a)
      if (it === null) return b
      return replaceRange(b, it.end, it.end, b.slice(it.start, it.end))
    }
  }
}

/** Mutations of the given valid samples: one to four steps each. */
export function mutatedBytes(samples: readonly Uint8Array[], maxSteps = 4): fc.Arbitrary<Uint8Array> {
  if (samples.length === 0) throw new Error('mutatedBytes needs samples')
  return fc
    .record({ i: fc.nat(samples.length - 1), steps: fc.array(stepArb, { minLength: 1, maxLength: maxSteps }) })
    .map(({ i, steps }) => steps.reduce((b, s) => applyStep(b, s, samples), samples[i] as Uint8Array))
}

/** The three kinds of input: random bytes, mutated valid encodings, and the valid ones as they are
 * (plus any structure-aware arbitraries the target adds). */
export function hostileBytes(samples: readonly Uint8Array[], structured: ReadonlyArray<fc.Arbitrary<Uint8Array>> = [], maxRandom = 256): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: maxRandom }), weight: 2 },
    { arbitrary: mutatedBytes(samples), weight: 6 },
    { arbitrary: fc.constantFrom(...samples), weight: 1 },
    ...structured.map((arbitrary) => ({ arbitrary, weight: Math.max(1, Math.floor(4 / structured.length)) })),
  )
}

// ---------------------------------------------------------------------------------------------
// Text mutations, line by line and character by character (notes, checkpoints, proofs).

export const TEXT_OPS = ['char-flip', 'insert', 'delete', 'truncate', 'dup-line', 'drop-line', 'swap-lines', 'blank-line', 'replace-line', 'number', 'base64', 'splice', 'crlf'] as const
export type TextOp = (typeof TEXT_OPS)[number]

export interface TextStep {
  readonly op: TextOp
  readonly a: number
  readonly b: number
  readonly s: string
}

const textInserts = ['\n', '\n\n', ' ', '+', '=', '\u2014 ', '\u0000', '\r', '\u00ff', '\ud800', '\u{1f600}', 'A', '0', '-1', '9007199254740992', '99999999999999999999', 'index ', 'old ', 'extra ', '/', '==']

export const textStepArb: fc.Arbitrary<TextStep> = fc.record({
  op: fc.constantFrom(...TEXT_OPS),
  a: fc.nat(),
  b: fc.nat(),
  s: fc.oneof(fc.constantFrom(...textInserts), fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ maxLength: 8 })),
})

export function applyTextStep(t: string, st: TextStep, others: readonly string[]): string {
  const len = t.length
  const lines = t.split('\n')
  const li = st.a % lines.length
  switch (st.op) {
    case 'char-flip': {
      if (len === 0) return t
      const at = st.a % len
      return t.slice(0, at) + String.fromCharCode(t.charCodeAt(at) ^ (1 << (st.b % 16))) + t.slice(at + 1)
    }
    case 'insert':
      return t.slice(0, st.a % (len + 1)) + st.s + t.slice(st.a % (len + 1))
    case 'delete': {
      if (len === 0) return t
      const at = st.a % len
      return t.slice(0, at) + t.slice(at + 1 + (st.b % 8))
    }
    case 'truncate':
      return t.slice(0, st.a % (len + 1))
    case 'dup-line':
      lines.splice(li, 0, lines[li] as string)
      return lines.join('\n')
    case 'drop-line':
      lines.splice(li, 1)
      return lines.join('\n')
    case 'swap-lines': {
      const lj = st.b % lines.length
      const x = lines[li] as string
      lines[li] = lines[lj] as string
      lines[lj] = x
      return lines.join('\n')
    }
    case 'blank-line':
      lines.splice(li, 0, '')
      return lines.join('\n')
    case 'replace-line':
      lines[li] = st.s
      return lines.join('\n')
    case 'number': {
      // Replace the first decimal number on a line by an edge value.
      const edges = ['0', '1', '00', '01', '-1', '9007199254740991', '9007199254740992', '18446744073709551616', '1e3', '0x10', ' 1', '']
      lines[li] = (lines[li] as string).replace(/[0-9]+/, edges[st.b % edges.length] as string)
      return lines.join('\n')
    }
    case 'base64': {
      // Damage the base64 on a line: change padding, add or drop a character.
      const l = lines[li] as string
      const forms = [l + '=', l.replace(/=+$/, ''), l.slice(0, -1), l + 'A', l.replace(/[A-Za-z0-9+/]/, '-'), l.replace(/=$/, 'A='), l.replace(/[A-Za-z0-9+/](=*)$/, 'B$1')]
      lines[li] = forms[st.b % forms.length] as string
      return lines.join('\n')
    }
    case 'splice': {
      const other = others.length === 0 ? t : (others[st.b % others.length] as string)
      return t.slice(0, st.a % (len + 1)) + other.slice(st.b % (other.length + 1))
    }
    case 'crlf':
      return t.replace(/\n/g, st.b % 2 === 0 ? '\r\n' : '\n\n')
  }
}

export function mutatedText(samples: readonly string[], maxSteps = 4): fc.Arbitrary<string> {
  if (samples.length === 0) throw new Error('mutatedText needs samples')
  return fc
    .record({ i: fc.nat(samples.length - 1), steps: fc.array(textStepArb, { minLength: 1, maxLength: maxSteps }) })
    .map(({ i, steps }) => steps.reduce((t, s) => applyTextStep(t, s, samples), samples[i] as string))
}

export function hostileText(samples: readonly string[], structured: ReadonlyArray<fc.Arbitrary<string>> = []): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.string({ unit: 'binary', maxLength: 200 }), weight: 1 },
    { arbitrary: fc.string({ unit: fc.constantFrom('a', '\n', ' ', '\u2014', '+', '=', '0', '1', 'A', '/'), maxLength: 200 }), weight: 1 },
    { arbitrary: mutatedText(samples), weight: 6 },
    { arbitrary: fc.constantFrom(...samples), weight: 1 },
    ...structured.map((arbitrary) => ({ arbitrary, weight: Math.max(1, Math.floor(4 / structured.length)) })),
  )
}

// ---------------------------------------------------------------------------------------------
// Structure-aware values.

const safeInt = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.constantFrom(0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER),
  fc.maxSafeInteger(),
  fc.maxSafeNat(),
)

/** Any value of the data model: what encode() accepts. */
export const cborValueArb: fc.Arbitrary<CborValue> = fc.letrec<{ value: CborValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    safeInt,
    fc.string({ unit: 'binary', maxLength: 16 }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 40 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 5 }),
  ),
})).value

/** A value of the right kind for a typical field, or any value: a field swap with a type mix-up. */
export function fieldValueArb(): fc.Arbitrary<CborValue> {
  return fc.oneof(
    { arbitrary: safeInt, weight: 3 },
    { arbitrary: fc.uint8Array({ minLength: 0, maxLength: 72 }), weight: 2 },
    { arbitrary: fc.constantFrom(new Uint8Array(32), new Uint8Array(32).fill(0xff), new Uint8Array(64), new Uint8Array(4)), weight: 2 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 2 },
    { arbitrary: cborValueArb, weight: 1 },
  )
}

/** A map over (mostly) the expected keys, with values from `values`: missing, extra and mistyped fields. */
export function shapedMapArb(keys: readonly string[], values: fc.Arbitrary<CborValue> = fieldValueArb()): fc.Arbitrary<Record<string, CborValue>> {
  return fc
    .record({
      drop: fc.subarray([...keys], { maxLength: Math.min(2, keys.length) }),
      extra: fc.dictionary(fc.constantFrom('extra', '', '__proto__', 'constructor', ...keys.map((k) => `${k}_`)), values, { maxKeys: 1 }),
      vals: fc.tuple(...keys.map(() => values)),
      noExtra: fc.boolean(),
    })
    .map(({ drop, extra, vals, noExtra }) => {
      const out: Record<string, CborValue> = {}
      keys.forEach((k, i) => {
        if (!drop.includes(k)) setField(out, k, vals[i] as CborValue)
      })
      if (!noExtra) for (const [k, v] of Object.entries(extra)) setField(out, k, v)
      return out
    })
}

/** An own, enumerable field even for "__proto__" (plain assignment would switch the prototype). */
export function setField(o: Record<string, CborValue>, k: string, v: CborValue): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
}
