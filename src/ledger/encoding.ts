// Deterministic CBOR (DESIGN.md §2; RFC 8949 §4.2.1 core deterministic encoding) over a small
// data model, a strict decoder that accepts exactly the bytes the encoder produces, and schema
// helpers for decoded values. docs/encoding.md states the rules; this file is their one home.
//
// Encoding goes through cborg with its RFC 8949 bytewise map-key order, after a walk that rejects
// every value outside the data model. Decoding is a hand-written reader: cborg's decoder cannot
// tell apart the failures we must name (non-canonical heads, key order, invalid UTF-8, ...), and
// it would allocate a declared length before noticing the input is too short.

import { encode as cborgEncode, rfc8949EncodeOptions } from 'cborg'
import { TrothError, assert } from '../errors.ts'

/** The data model: nothing else is ever encoded or decoded. Maps have text keys only. */
export type CborValue =
  | number
  | string
  | boolean
  | null
  | Uint8Array
  | readonly CborValue[]
  | { readonly [key: string]: CborValue }

export interface CborLimits {
  /** Input longer than this is rejected before any parsing. */
  readonly bytesMax: number
  /** Arrays and maps nested inside one another; a scalar adds no depth. */
  readonly depthMax?: number
  /** Data items in total: every scalar, array, map, key and value counts one. */
  readonly itemsMax?: number
}

export const CBOR_DEPTH_MAX = 16
export const CBOR_ITEMS_MAX = 100_000
/** The decoder recurses once per level; a caller's depthMax may not exceed this. */
const CBOR_DEPTH_CEILING = 1024

const INT_MAX = Number.MAX_SAFE_INTEGER // 2^53 − 1
const TWO_POW_32 = 2 ** 32

const MAJOR_UINT = 0
const MAJOR_NEGINT = 1
const MAJOR_BYTES = 2
const MAJOR_TEXT = 3
const MAJOR_ARRAY = 4
const MAJOR_MAP = 5
const MAJOR_TAG = 6
const MAJOR_SIMPLE = 7

const MAJOR_NAMES = ['unsigned integer', 'negative integer', 'byte string', 'text string', 'array', 'map', 'tag', 'simple/float']

/** Lone surrogates have no UTF-8 encoding (RFC 3629 §3); a well-formed pair matches as one code point. */
const LONE_SURROGATE = /\p{Cs}/u
/** Keys printed as `.key` in error paths; any other key is printed as `["key"]`. */
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

// ignoreBOM: a leading U+FEFF is data and must survive the round trip.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const utf8Encoder = new TextEncoder()

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * RFC 8949 §4.2.1 core deterministic encoding: shortest heads, definite lengths, map keys sorted
 * bytewise by their encoded form. Throws TrothError on any value outside the data model.
 */
export function encode(value: CborValue): Uint8Array {
  writer.start(value)
  writer.value(value, 0)
  const out = new Uint8Array(writer.pos)
  out.set(writer.buf.subarray(0, writer.pos))
  if (writer.buf.length > WRITER_KEEP_BYTES) writer.buf = Buffer.allocUnsafe(WRITER_START_BYTES)
  return out
}

/** The encoding as cborg makes it (`rfc8949EncodeOptions`): the reference `encode` is checked
 * against, byte for byte, in the tests. Same checks first. */
export function encodeReference(value: CborValue): Uint8Array {
  checkEncodable(value, [], new Set())
  return new Uint8Array(cborgEncode(value, rfc8949EncodeOptions))
}

const WRITER_START_BYTES = 4096
/** A scratch buffer grown past this (a large block) is dropped after use rather than kept. */
const WRITER_KEEP_BYTES = 1024 * 1024
const TWO_POW_16 = 2 ** 16
/** Encoded map keys (head and UTF-8), kept for the key names that recur; cleared when full. */
const KEY_CACHE_MAX = 4096

/** Past this depth the writer has checkEncodable walk the whole value once (a cycle would
 * otherwise recurse until the stack ends). */
const WRITER_DEPTH_CHECK = 256

/**
 * Writes a value into one scratch buffer in a single walk, checking the data model on the way;
 * at the first thing outside it, checkEncodable walks the whole value and throws its error, with
 * its path (so the errors are those of checkEncodable alone). It replaced a checkEncodable walk
 * followed by cborg's encoder, which builds a token for every item and encodes every map key
 * anew to sort it: together 40% of what a busy node allocated (docs/encoding.md "Encoding").
 */
class Writer {
  buf = Buffer.allocUnsafe(WRITER_START_BYTES)
  pos = 0
  private readonly keys = new Map<string, Buffer>()
  private root: unknown = null
  private deepChecked = false

  start(root: unknown): void {
    this.pos = 0
    this.root = root
    this.deepChecked = false
  }

  /** Something outside the data model: checkEncodable names it. */
  private invalid(): never {
    checkEncodable(this.root, [], new Set())
    assert(false, 'encode: the writer refused a value checkEncodable accepts')
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** A head with the shortest argument (rule 1); `arg` is a safe non-negative integer. */
  head(major: number, arg: number): void {
    this.room(9)
    const b = this.buf
    const m = major << 5
    if (arg < 24) {
      b[this.pos++] = m | arg
    } else if (arg < 256) {
      b[this.pos++] = m | 24
      b[this.pos++] = arg
    } else if (arg < TWO_POW_16) {
      b[this.pos++] = m | 25
      b.writeUInt16BE(arg, this.pos)
      this.pos += 2
    } else if (arg < TWO_POW_32) {
      b[this.pos++] = m | 26
      b.writeUInt32BE(arg, this.pos)
      this.pos += 4
    } else {
      b[this.pos++] = m | 27
      b.writeUInt32BE(Math.floor(arg / TWO_POW_32), this.pos)
      b.writeUInt32BE(arg % TWO_POW_32, this.pos + 4)
      this.pos += 8
    }
  }

  /** A map key's encoding (head and UTF-8): written at the end of the buffer, copied out, kept. */
  private key(k: string): Buffer {
    let enc = this.keys.get(k)
    if (enc === undefined) {
      if (!k.isWellFormed()) this.invalid()
      const start = this.pos
      this.value(k, 0)
      enc = Buffer.from(this.buf.subarray(start, this.pos))
      this.pos = start
      if (this.keys.size >= KEY_CACHE_MAX) this.keys.clear()
      this.keys.set(k, enc)
    }
    return enc
  }

  value(v: CborValue, depth: number): void {
    switch (typeof v) {
      case 'number':
        if (!Number.isSafeInteger(v)) this.invalid()
        if (v >= 0) this.head(MAJOR_UINT, v)
        else this.head(MAJOR_NEGINT, -1 - v)
        return
      case 'string': {
        if (!v.isWellFormed()) this.invalid()
        const len = Buffer.byteLength(v, 'utf8')
        this.head(MAJOR_TEXT, len)
        this.room(len)
        this.pos += this.buf.write(v, this.pos, len, 'utf8')
        return
      }
      case 'boolean':
        this.room(1)
        this.buf[this.pos++] = v ? 0xf5 : 0xf4
        return
      case 'object':
        break
      default:
        this.invalid()
    }
    if (depth > WRITER_DEPTH_CHECK && !this.deepChecked) {
      checkEncodable(this.root, [], new Set())
      this.deepChecked = true
    }
    if (v === null) {
      this.room(1)
      this.buf[this.pos++] = 0xf6
    } else if (v instanceof Uint8Array) {
      this.head(MAJOR_BYTES, v.length)
      this.room(v.length)
      this.buf.set(v, this.pos)
      this.pos += v.length
    } else if (Array.isArray(v)) {
      const arr = v as readonly CborValue[]
      this.head(MAJOR_ARRAY, arr.length)
      // A hole reads as undefined, which is outside the model too.
      for (let i = 0; i < arr.length; i++) this.value(arr[i] as CborValue, depth + 1)
    } else {
      const proto: unknown = Object.getPrototypeOf(v)
      if ((proto !== Object.prototype && proto !== null) || Object.getOwnPropertySymbols(v).length > 0) this.invalid()
      const map = v as { readonly [key: string]: CborValue }
      const names = Object.keys(map)
      const encoded: Buffer[] = new Array<Buffer>(names.length)
      // Rule 3: bytewise by encoded key. Most maps are built in that order already.
      let sorted = true
      for (let i = 0; i < names.length; i++) {
        encoded[i] = this.key(names[i] as string)
        if (sorted && i > 0 && Buffer.compare(encoded[i - 1] as Buffer, encoded[i] as Buffer) >= 0) sorted = false
      }
      this.head(MAJOR_MAP, names.length)
      const order = sorted ? null : names.map((_, i) => i).sort((a, b) => Buffer.compare(encoded[a] as Buffer, encoded[b] as Buffer))
      for (let j = 0; j < names.length; j++) {
        const i = order === null ? j : (order[j] as number)
        const k = encoded[i] as Buffer
        this.room(k.length)
        k.copy(this.buf, this.pos)
        this.pos += k.length
        this.value(map[names[i] as string] as CborValue, depth + 1)
      }
    }
  }
}

const writer = new Writer()

/** Where a value sits, for error messages: `$`, `$.key`, `$[3]`, `$["odd key"]`. The path is
 * kept as segments and spelled out only when there is an error to report (building the string
 * at every step was a tenth of the allocation of a busy node). */
function pathOf(segs: ReadonlyArray<string | number>): string {
  let path = '$'
  for (const s of segs) path += typeof s === 'number' ? `[${s}]` : IDENTIFIER.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`
  return path
}

/** Rejects everything cborg would encode outside our data model (or encode lossily). `segs` is
 * the path to `v`, pushed and popped on the way down. */
function checkEncodable(v: unknown, segs: Array<string | number>, ancestors: Set<object>): void {
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v) || !Number.isInteger(v)) {
        throw new TrothError('cbor.float', `${pathOf(segs)}: ${String(v)} is not an integer; floats are not in the data model`)
      }
      if (!Number.isSafeInteger(v)) {
        throw new TrothError('cbor.int-range', `${pathOf(segs)}: integer ${String(v)} is outside ±(2^53 − 1)`)
      }
      return
    case 'string':
      if (LONE_SURROGATE.test(v)) {
        throw new TrothError('cbor.invalid-utf8', `${pathOf(segs)}: text holds a lone surrogate, which has no UTF-8 encoding`)
      }
      return
    case 'boolean':
      return
    case 'bigint':
      if (v > BigInt(INT_MAX) || v < -BigInt(INT_MAX)) {
        throw new TrothError('cbor.int-range', `${pathOf(segs)}: bigint ${v.toString()} is outside ±(2^53 − 1)`)
      }
      throw new TrothError('cbor.unsupported-type', `${pathOf(segs)}: bigint is not in the data model; use a number`)
    case 'undefined':
    case 'function':
    case 'symbol':
      throw new TrothError('cbor.unsupported-type', `${pathOf(segs)}: ${typeof v} is not in the data model`)
    case 'object':
      break
  }
  if (v === null || v instanceof Uint8Array) return
  const obj = v as object
  if (ancestors.has(obj)) {
    throw new TrothError('cbor.unsupported-type', `${pathOf(segs)}: circular reference`)
  }
  ancestors.add(obj)
  if (Array.isArray(obj)) {
    const arr: readonly unknown[] = obj
    for (let i = 0; i < arr.length; i++) {
      segs.push(i)
      if (!(i in arr)) throw new TrothError('cbor.unsupported-type', `${pathOf(segs)}: hole in a sparse array`)
      checkEncodable(arr[i], segs, ancestors)
      segs.pop()
    }
  } else {
    const proto: unknown = Object.getPrototypeOf(obj)
    if (proto !== Object.prototype && proto !== null) {
      throw new TrothError('cbor.unsupported-type', `${pathOf(segs)}: ${describeObject(obj)} is not in the data model (plain objects, arrays and Uint8Array only)`)
    }
    if (Object.getOwnPropertySymbols(obj).length > 0) {
      throw new TrothError('cbor.map-key-type', `${pathOf(segs)}: symbol keys are not in the data model (text keys only)`)
    }
    const record = obj as Record<string, unknown>
    for (const key of Object.keys(record)) {
      segs.push(key)
      checkEncodable(key, segs, ancestors)
      checkEncodable(record[key], segs, ancestors)
      segs.pop()
    }
  }
  ancestors.delete(obj)
}

function describeObject(obj: object): string {
  const name: unknown = (obj.constructor as { name?: unknown } | undefined)?.name
  return typeof name === 'string' && name !== '' ? `an instance of ${name}` : 'a non-plain object'
}

// ---------------------------------------------------------------------------------------------
// Decoding

/**
 * Strict decode: accepts exactly the bytes `encode` would produce for some value, so that
 * encode(decode(bytes)) is byte-identical to bytes. Every rejection is a TrothError.
 */
export function decode(bytes: Uint8Array, limits: CborLimits): CborValue {
  assert(bytes instanceof Uint8Array, 'decode: bytes must be a Uint8Array')
  const depthMax = limits.depthMax ?? CBOR_DEPTH_MAX
  const itemsMax = limits.itemsMax ?? CBOR_ITEMS_MAX
  assert(Number.isSafeInteger(limits.bytesMax) && limits.bytesMax >= 0, 'decode: bytesMax must be a non-negative integer')
  assert(Number.isSafeInteger(depthMax) && depthMax >= 0 && depthMax <= CBOR_DEPTH_CEILING, 'decode: depthMax out of range')
  assert(Number.isSafeInteger(itemsMax) && itemsMax >= 1, 'decode: itemsMax must be a positive integer')

  if (bytes.length > limits.bytesMax) {
    throw new TrothError('cbor.too-large', `input is ${bytes.length} bytes; the limit is ${limits.bytesMax}`)
  }
  const reader = new Reader(bytes, depthMax, itemsMax)
  const value = reader.item(0)
  if (reader.pos !== bytes.length) {
    throw new TrothError('cbor.trailing-bytes', `${bytes.length - reader.pos} bytes after the top-level item, from byte ${reader.pos}`)
  }
  return value
}

interface Head {
  readonly major: number
  /** The head's argument: the value, a length or a count. */
  readonly arg: number
}

class Reader {
  readonly bytes: Uint8Array
  readonly depthMax: number
  readonly itemsMax: number
  pos = 0
  items = 0

  constructor(bytes: Uint8Array, depthMax: number, itemsMax: number) {
    this.bytes = bytes
    this.depthMax = depthMax
    this.itemsMax = itemsMax
  }

  get remaining(): number {
    return this.bytes.length - this.pos
  }

  /** One data item; `depth` = arrays and maps already open around it. */
  item(depth: number): CborValue {
    const start = this.pos
    this.countItems(1, start)
    const head = this.head()
    switch (head.major) {
      case MAJOR_UINT:
        return head.arg
      case MAJOR_NEGINT:
        // −1 − arg must stay within −(2^53 − 1): arg ≤ 2^53 − 2.
        if (head.arg > INT_MAX - 1) {
          throw new TrothError('cbor.int-range', `negative integer at byte ${start} is below −(2^53 − 1)`)
        }
        return -1 - head.arg
      case MAJOR_BYTES:
        return this.byteString(head.arg, start)
      case MAJOR_TEXT:
        return this.textString(head.arg, start)
      case MAJOR_ARRAY:
        return this.array(head.arg, start, depth + 1)
      case MAJOR_MAP:
        return this.map(head.arg, start, depth + 1)
      case MAJOR_SIMPLE:
        // head() only returns major 7 for false, true and null.
        return head.arg === 20 ? false : head.arg === 21 ? true : null
    }
    assert(false, `unreachable major type ${head.major}`)
  }

  /**
   * Reads an initial byte and its argument, enforcing RFC 8949 §4.2.1 shortest form. For major 7
   * returns only false/true/null (arg = additional info); everything else there is rejected.
   */
  head(): Head {
    const start = this.pos
    const initial = this.bytes[start]
    if (initial === undefined) {
      throw new TrothError('cbor.truncated', `input ends at byte ${start} where a data item was expected`)
    }
    const major = initial >> 5
    const info = initial & 0x1f
    this.pos++
    if (major === MAJOR_SIMPLE) return { major, arg: this.simple(info, start) }
    if (major === MAJOR_TAG) {
      throw new TrothError('cbor.unsupported-type', `tag (initial byte 0x${hex2(initial)}) at byte ${start}; tags are not in the data model`)
    }
    if (info < 24) return { major, arg: info }
    if (info === 31) {
      if (major === MAJOR_UINT || major === MAJOR_NEGINT) {
        throw new TrothError('cbor.malformed', `additional information 31 is not valid for an ${MAJOR_NAMES[major]} (byte ${start})`)
      }
      throw new TrothError('cbor.indefinite-length', `indefinite-length ${MAJOR_NAMES[major]} at byte ${start}`)
    }
    if (info > 27) {
      throw new TrothError('cbor.malformed', `reserved additional information ${info} (initial byte 0x${hex2(initial)}) at byte ${start}`)
    }
    const argBytes = 1 << (info - 24) // 24 → 1, 25 → 2, 26 → 4, 27 → 8
    if (this.remaining < argBytes) {
      throw new TrothError('cbor.truncated', `input ends inside the ${argBytes}-byte argument of the head at byte ${start}`)
    }
    const b = this.bytes
    const p = this.pos
    let arg: number
    let min: number
    if (argBytes === 1) {
      arg = b[p] as number
      min = 24
    } else if (argBytes === 2) {
      arg = ((b[p] as number) << 8) | (b[p + 1] as number)
      min = 0x100
    } else if (argBytes === 4) {
      arg = readUint32(b, p)
      min = 0x10000
    } else {
      const hi = readUint32(b, p)
      const lo = readUint32(b, p + 4)
      if (hi >= 2 ** 21) {
        // ≥ 2^53: no safe integer, and longer than any input we could hold.
        this.pos += 8
        if (major === MAJOR_UINT || major === MAJOR_NEGINT) {
          throw new TrothError('cbor.int-range', `${MAJOR_NAMES[major]} at byte ${start} is outside ±(2^53 − 1)`)
        }
        throw new TrothError('cbor.truncated', `${MAJOR_NAMES[major]} at byte ${start} declares a length ≥ 2^53, past the end of the input`)
      }
      arg = hi * TWO_POW_32 + lo
      min = TWO_POW_32
    }
    if (arg < min) {
      throw new TrothError('cbor.non-canonical-int', `${MAJOR_NAMES[major]} head at byte ${start} carries ${arg} in ${1 + argBytes} bytes; the shortest form is required`)
    }
    this.pos += argBytes
    return { major, arg }
  }

  /** Major type 7: only false (20), true (21) and null (22) are in the data model. */
  simple(info: number, start: number): number {
    if (info === 20 || info === 21 || info === 22) return info
    if (info === 23) throw new TrothError('cbor.unsupported-type', `undefined (0xf7) at byte ${start}`)
    if (info < 24) throw new TrothError('cbor.unsupported-type', `simple value ${info} at byte ${start}`)
    if (info === 24) throw new TrothError('cbor.unsupported-type', `one-byte simple value (0xf8) at byte ${start}`)
    if (info <= 27) {
      const width = info === 25 ? 16 : info === 26 ? 32 : 64
      throw new TrothError('cbor.float', `${width}-bit float at byte ${start}; floats are not in the data model`)
    }
    if (info === 31) throw new TrothError('cbor.indefinite-length', `break byte (0xff) at byte ${start} outside any indefinite-length item`)
    throw new TrothError('cbor.malformed', `reserved additional information ${info} (initial byte 0x${hex2(0xe0 | info)}) at byte ${start}`)
  }

  countItems(n: number, at: number): void {
    if (n > this.itemsMax - this.items) {
      throw new TrothError('cbor.too-many-items', `more than ${this.itemsMax} data items (at byte ${at})`)
    }
    this.items += n
  }

  /** Length check before any allocation: a declared length never allocates more than the input. */
  need(length: number, what: string, start: number): void {
    if (length > this.remaining) {
      throw new TrothError('cbor.truncated', `${what} at byte ${start} declares ${length} bytes but only ${this.remaining} remain`)
    }
  }

  byteString(length: number, start: number): Uint8Array {
    this.need(length, 'byte string', start)
    // A copy, never a view: a decoded field must not keep the whole input alive.
    const out = new Uint8Array(length)
    out.set(this.bytes.subarray(this.pos, this.pos + length))
    this.pos += length
    return out
  }

  textString(length: number, start: number): string {
    this.need(length, 'text string', start)
    const raw = this.bytes.subarray(this.pos, this.pos + length)
    let text: string
    try {
      text = utf8Decoder.decode(raw)
    } catch (cause) {
      throw new TrothError('cbor.invalid-utf8', `text string at byte ${start} is not valid UTF-8`, { cause })
    }
    this.pos += length
    return text
  }

  array(count: number, start: number, depth: number): CborValue[] {
    this.enter(depth, start)
    // Every element takes at least one byte and counts as one item.
    if (count > this.remaining) {
      throw new TrothError('cbor.truncated', `array at byte ${start} declares ${count} items but only ${this.remaining} bytes remain`)
    }
    this.checkItemBudget(count, start)
    const out: CborValue[] = []
    for (let i = 0; i < count; i++) out.push(this.item(depth))
    return out
  }

  map(count: number, start: number, depth: number): Record<string, CborValue> {
    this.enter(depth, start)
    // Every key and every value take at least one byte each and count as one item each.
    if (count > this.remaining / 2) {
      throw new TrothError('cbor.truncated', `map at byte ${start} declares ${count} entries but only ${this.remaining} bytes remain`)
    }
    this.checkItemBudget(count * 2, start)
    // Null prototype: a key such as "__proto__" is data, never a prototype switch.
    const out = Object.create(null) as Record<string, CborValue>
    let prevStart = -1
    let prevEnd = -1
    for (let i = 0; i < count; i++) {
      const keyStart = this.pos
      const initial = this.bytes[keyStart]
      if (initial !== undefined && initial >> 5 !== MAJOR_TEXT) {
        throw new TrothError('cbor.map-key-type', `map key at byte ${keyStart} is a ${MAJOR_NAMES[initial >> 5]}; keys must be text strings`)
      }
      const key = this.item(depth) as string // major 3 (or truncated, which threw)
      const keyEnd = this.pos
      if (prevStart >= 0) {
        // RFC 8949 §4.2.1: keys sorted bytewise by their deterministic encodings.
        const order = compareRange(this.bytes, prevStart, prevEnd, keyStart, keyEnd)
        if (order === 0) {
          throw new TrothError('cbor.duplicate-key', `duplicate map key ${JSON.stringify(key)} at byte ${keyStart}`)
        }
        if (order > 0) {
          throw new TrothError('cbor.map-key-order', `map key ${JSON.stringify(key)} at byte ${keyStart} sorts before the previous key; keys must be in bytewise order of their encodings`)
        }
      }
      prevStart = keyStart
      prevEnd = keyEnd
      out[key] = this.item(depth)
    }
    return out
  }

  enter(depth: number, start: number): void {
    if (depth > this.depthMax) {
      throw new TrothError('cbor.too-deep', `nesting deeper than ${this.depthMax} arrays/maps at byte ${start}`)
    }
  }

  /** Reject a declared count that cannot fit the item budget before reading any of it. */
  checkItemBudget(n: number, start: number): void {
    if (n > this.itemsMax - this.items) {
      throw new TrothError('cbor.too-many-items', `container at byte ${start} declares ${n} items; more than ${this.itemsMax} data items in total`)
    }
  }
}

function readUint32(b: Uint8Array, p: number): number {
  return ((b[p] as number) * 0x1000000) + (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number))
}

/** Bytewise lexicographic comparison of b[aStart, aEnd) and b[bStart, bEnd); shorter prefix first. */
function compareRange(b: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): number {
  const aLen = aEnd - aStart
  const bLen = bEnd - bStart
  const n = Math.min(aLen, bLen)
  for (let i = 0; i < n; i++) {
    const d = (b[aStart + i] as number) - (b[bStart + i] as number)
    if (d !== 0) return d
  }
  return aLen - bLen
}

function hex2(byte: number): string {
  return byte.toString(16).padStart(2, '0')
}

// ---------------------------------------------------------------------------------------------
// Schema helpers: check the shape of a decoded value. Each throws TrothError('schema.invalid')
// with a message that names the path, e.g. "entry.body.weight: expected unsigned integer, got text".
// They take `CborValue | undefined` so a field read from a map can be passed as is; a missing
// field is reported as missing.

function schemaError(path: string, message: string): TrothError {
  return new TrothError('schema.invalid', `${path}: ${message}`)
}

function describe(v: CborValue | undefined): string {
  if (v === undefined) return 'nothing (missing)'
  if (v === null) return 'null'
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return 'non-integer number'
    return v < 0 ? 'negative integer' : 'unsigned integer'
  }
  if (typeof v === 'string') return 'text'
  if (typeof v === 'boolean') return 'boolean'
  if (v instanceof Uint8Array) return 'byte string'
  if (Array.isArray(v)) return 'array'
  return 'map'
}

function isMap(v: CborValue | undefined): v is { readonly [key: string]: CborValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

/**
 * A map with exactly the given key set: every required key present, no key outside required ∪
 * optional. The result's required keys are typed as present, optional ones as possibly absent.
 */
export function asMap<R extends string, O extends string = never>(
  v: CborValue | undefined,
  path: string,
  required: readonly R[],
  optional: readonly O[] = [],
): Record<R, CborValue> & Partial<Record<O, CborValue>> {
  if (!isMap(v)) throw schemaError(path, `expected map, got ${describe(v)}`)
  const allowed = new Set<string>([...required, ...optional])
  for (const key of Object.keys(v)) {
    if (!allowed.has(key)) throw schemaError(`${path}.${key}`, 'unknown field')
  }
  for (const key of required) {
    if (!Object.prototype.hasOwnProperty.call(v, key)) throw schemaError(`${path}.${key}`, 'missing required field')
  }
  return v as Record<R, CborValue> & Partial<Record<O, CborValue>>
}

export function asUint(v: CborValue | undefined, path: string, max: number = INT_MAX): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw schemaError(path, `expected unsigned integer, got ${describe(v)}`)
  }
  if (v > max) throw schemaError(path, `${v} exceeds the maximum ${max}`)
  return v
}

export function asInt(v: CborValue | undefined, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw schemaError(path, `expected integer, got ${describe(v)}`)
  }
  return v
}

export function asBytes(v: CborValue | undefined, path: string, length?: number, maxLength?: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw schemaError(path, `expected byte string, got ${describe(v)}`)
  if (length !== undefined && v.length !== length) {
    throw schemaError(path, `expected ${length} bytes, got ${v.length}`)
  }
  if (maxLength !== undefined && v.length > maxLength) {
    throw schemaError(path, `${v.length} bytes exceeds the maximum ${maxLength}`)
  }
  return v
}

/** Text whose UTF-8 encoding is at most maxBytes long. */
export function asText(v: CborValue | undefined, path: string, maxBytes: number): string {
  if (typeof v !== 'string') throw schemaError(path, `expected text, got ${describe(v)}`)
  // A UTF-16 code unit is at most 3 UTF-8 bytes: skip the count when that already fits.
  if (v.length * 3 > maxBytes) {
    const byteLength = utf8Encoder.encode(v).length
    if (byteLength > maxBytes) throw schemaError(path, `text of ${byteLength} UTF-8 bytes exceeds the maximum ${maxBytes}`)
  }
  return v
}

export function asArray(v: CborValue | undefined, path: string, maxItems: number): readonly CborValue[] {
  if (!Array.isArray(v)) throw schemaError(path, `expected array, got ${describe(v)}`)
  const arr: readonly CborValue[] = v
  if (arr.length > maxItems) throw schemaError(path, `${arr.length} items exceeds the maximum ${maxItems}`)
  return arr
}

export function asBool(v: CborValue | undefined, path: string): boolean {
  if (typeof v !== 'boolean') throw schemaError(path, `expected boolean, got ${describe(v)}`)
  return v
}

export function asEnum<T extends string>(v: CborValue | undefined, path: string, values: readonly T[]): T {
  if (typeof v !== 'string') throw schemaError(path, `expected one of ${values.join(', ')}, got ${describe(v)}`)
  const found = values.find((x) => x === v)
  if (found === undefined) {
    throw schemaError(path, `${JSON.stringify(v)} is not one of ${values.join(', ')}`)
  }
  return found
}
