// MemberId (DESIGN.md §1): a member's 32-byte Ed25519 public key, printed as `troth1` followed by
// lowercase RFC 4648 §6 base32 of the key without padding. The printed form is what the ledger
// uses as a map key, so the parser is strict: every key has exactly one accepted spelling.

import { TrothError, assert } from '../errors.ts'
import { PUBLIC_KEY_BYTES } from './ed25519.ts'

/** The printed form of a member's public key, e.g. `troth1` + 52 base32 characters. */
export type MemberId = string

export const MEMBER_ID_PREFIX = 'troth1'
/** ceil(256 bits / 5 bits per character) = 52 characters; the last carries 4 zero pad bits. */
export const MEMBER_ID_BASE32_CHARS = Math.ceil((PUBLIC_KEY_BYTES * 8) / 5)
export const MEMBER_ID_CHARS = MEMBER_ID_PREFIX.length + MEMBER_ID_BASE32_CHARS

// RFC 4648 §6 alphabet, lowercase.
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const DECODE = new Int8Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i

const ALPHABET_CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0))
const PREFIX_CODES = Uint8Array.from(MEMBER_ID_PREFIX, (c) => c.charCodeAt(0))

/** `prefix` then RFC 4648 §6 base32 of `bytes` (lowercase, no padding), as one flat string: the
 * characters are gathered first, because appending them one by one (`out += c`) leaves a rope of
 * one node per character, about 1.3 KB per id, and ids are the keys of every member map a node
 * keeps (docs/performance.md, "Memory"). */
function base32Encode(prefix: Uint8Array, bytes: Uint8Array): string {
  const codes = new Uint8Array(prefix.length + Math.ceil((bytes.length * 8) / 5))
  codes.set(prefix)
  let n = prefix.length
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xfff // at most 4 + 8 live bits
    bits += 8
    while (bits >= 5) {
      bits -= 5
      codes[n++] = ALPHABET_CODES[(buffer >> bits) & 31] as number
    }
  }
  if (bits > 0) codes[n++] = ALPHABET_CODES[(buffer << (5 - bits)) & 31] as number // pad bits are zero
  assert(n === codes.length, 'base32: length arithmetic')
  return String.fromCharCode.apply(null, codes as unknown as number[])
}

function invalid(message: string): TrothError {
  return new TrothError('id.invalid-member-id', `invalid member id: ${message}`)
}

/** Print a 32-byte public key as a MemberId. */
export function formatMemberId(publicKey: Uint8Array): MemberId {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new TrothError('id.invalid-key', `public key must be ${PUBLIC_KEY_BYTES} bytes`)
  }
  return base32Encode(PREFIX_CODES, publicKey)
}

/** Parse a MemberId back to its 32-byte public key. Strict: exact prefix and length, lowercase
 * alphabet only, zero pad bits; anything else is a TrothError 'id.invalid-member-id'. */
export function parseMemberId(text: string): Uint8Array {
  if (typeof text !== 'string') throw invalid('expected a string')
  if (!text.startsWith(MEMBER_ID_PREFIX)) throw invalid(`must start with "${MEMBER_ID_PREFIX}"`)
  if (text.length !== MEMBER_ID_CHARS) {
    throw invalid(`must be ${MEMBER_ID_CHARS} characters long, got ${text.length}`)
  }
  const out = new Uint8Array(PUBLIC_KEY_BYTES)
  let buffer = 0
  let bits = 0
  let n = 0
  for (let i = MEMBER_ID_PREFIX.length; i < text.length; i++) {
    const code = text.charCodeAt(i)
    const value = code < 128 ? (DECODE[code] as number) : -1
    if (value < 0) {
      const upper = code >= 0x41 && code <= 0x5a
      throw invalid(upper ? `must be lowercase (uppercase at position ${i})` : `character ${i} is not in the base32 alphabet a-z2-7`)
    }
    buffer = ((buffer << 5) | value) & 0xfff // at most 7 + 5 live bits
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[n++] = (buffer >> bits) & 0xff
    }
  }
  // 52 * 5 = 260 bits: 256 key bits and 4 pad bits, which RFC 4648 §3.5 says must be zero.
  assert(n === PUBLIC_KEY_BYTES && bits === 4, 'member id length arithmetic')
  if ((buffer & 0x0f) !== 0) throw invalid('non-zero trailing pad bits (last character must be "a" or "q")')
  return out
}

export function isMemberId(text: unknown): text is MemberId {
  if (typeof text !== 'string') return false
  try {
    parseMemberId(text)
    return true
  } catch {
    return false
  }
}
