// Shared fixtures for the identity tests: the checked-in RFC 8032 and Wycheproof vectors
// (test/vectors/README-identity.md), a noble verifier for the differential test, and a
// deterministic generator of malleated Ed25519 signatures (small-order and mixed-order points,
// non-canonical encodings, S + L) whose native answers docs/verification.md records.

import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import * as ed from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import { publicKeyOf, signRaw } from '../../src/identity/ed25519.ts'

ed.hashes.sha512 = sha512

export function hex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(s)) throw new Error(`bad hex fixture: ${s.slice(0, 16)}`)
  return new Uint8Array(Buffer.from(s, 'hex'))
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

function readVector(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), 'utf8'))
}

// ---------------------------------------------------------------------------------------------
// RFC 8032 §7.1

export interface Rfc8032Vector {
  name: string
  seed: Uint8Array
  publicKey: Uint8Array
  message: Uint8Array
  signature: Uint8Array
}

// The checked-in file (a copy of shared/vectors/rfc8032-ed25519.json, from noble-ed25519) holds
// TEST 1, TEST 2 and TEST 1024 of RFC 8032 §7.1 plus one 317-byte vector that is not in §7.1,
// and lacks TEST 3 and TEST SHA(abc). Those two are transcribed here from RFC 8032 §7.1; TEST 3
// is the same key, message and signature as Wycheproof tcId 82 (a second, independent source).
const NAMES_BY_PUBLIC_KEY: Record<string, string> = {
  d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a: 'TEST 1',
  '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c': 'TEST 2',
  '77d1d8ebacd13f4e2f8a40e28c4a63bc9ce3bfb69716334bcb28a33eb134086c': 'extra 317-byte vector (not in §7.1)',
  '278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e': 'TEST 1024',
}

const RFC8032_TRANSCRIBED = [
  {
    name: 'TEST 3',
    priv: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    pub: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    msg: 'af82',
    sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
  {
    name: 'TEST SHA(abc)',
    priv: '833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42',
    pub: 'ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf',
    // SHA-512("abc")
    msg: 'ddaf35a193617abacc417349ae204131' + '12e6fa4e89a97ea20a9eeee64b55d39a' + '2192992a274fc1a836ba3c23a3feebbd' + '454d4423643ce80e2a9ac94fa54ca49f',
    sig: 'dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589' + '09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704',
  },
]

/** The checked-in file's four vectors, then the two transcribed ones: six in all. */
export function rfc8032Vectors(): Rfc8032Vector[] {
  const raw = readVector('rfc8032-ed25519.json') as { priv: string; pub: string; msg: string; sig: string }[]
  const named = raw.map((v) => ({ name: NAMES_BY_PUBLIC_KEY[v.pub] ?? `unnamed ${v.pub.slice(0, 8)}`, ...v }))
  return [...named, ...RFC8032_TRANSCRIBED].map((v) => ({ name: v.name, seed: hex(v.priv), publicKey: hex(v.pub), message: hex(v.msg), signature: hex(v.sig) }))
}

// ---------------------------------------------------------------------------------------------
// Wycheproof (eddsa_test.json schema eddsa_verify_schema.json)

export interface WycheproofCase {
  tcId: number
  comment: string
  flags: string[]
  result: 'valid' | 'invalid' | 'acceptable'
  publicKey: Uint8Array
  message: Uint8Array
  signature: Uint8Array
}

export interface WycheproofFile {
  numberOfTests: number
  cases: WycheproofCase[]
}

export function wycheproofVectors(): WycheproofFile {
  const raw = readVector('wycheproof-ed25519.json') as {
    numberOfTests: number
    testGroups: { publicKey: { pk: string }; tests: { tcId: number; comment: string; flags: string[]; result: WycheproofCase['result']; msg: string; sig: string }[] }[]
  }
  const cases: WycheproofCase[] = []
  for (const group of raw.testGroups) {
    for (const t of group.tests) {
      cases.push({ tcId: t.tcId, comment: t.comment, flags: t.flags, result: t.result, publicKey: hex(group.publicKey.pk), message: hex(t.msg), signature: hex(t.sig) })
    }
  }
  return { numberOfTests: raw.numberOfTests, cases }
}

// ---------------------------------------------------------------------------------------------
// @noble/ed25519 as a second opinion. noble throws on malformed lengths (its style: malformed
// input throws, a bad signature returns false), so map a throw to false to compare answers.

export type NobleOptions = { zip215: boolean }

export function nobleVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, options: NobleOptions): boolean {
  try {
    return ed.verify(signature, message, publicKey, options)
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------
// Malleated signatures. Arithmetic by noble's Point (test-only); every case is deterministic.

const { Point } = ed
type EdPoint = InstanceType<typeof Point>

/** Group order L (RFC 8032 §5.1) and field prime p. */
export const L = 2n ** 252n + 27742317777372353535851937790883648493n
export const P = 2n ** 255n - 19n

export function le32(n: bigint): Uint8Array {
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) {
    out[i] = Number(n & 0xffn)
    n >>= 8n
  }
  return out
}

function fromLe(bytes: Uint8Array): bigint {
  let n = 0n
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] as number)
  return n
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}

/** k = SHA-512(R || A || M) mod L (RFC 8032 §5.1.7), over the exact bytes given. */
function challenge(r: Uint8Array, a: Uint8Array, m: Uint8Array): bigint {
  return fromLe(new Uint8Array(createHash('sha512').update(concat(r, a, m)).digest())) % L
}

/** The clamped secret scalar of a seed (RFC 8032 §5.1.5 steps 1-3). */
function secretScalar(seed: Uint8Array): bigint {
  const h = new Uint8Array(createHash('sha512').update(seed).digest()).slice(0, 32)
  h[0] = (h[0] as number) & 248
  h[31] = ((h[31] as number) & 127) | 64
  return fromLe(h)
}

/** A generator of the 8-torsion subgroup (a point of order 8), and its multiples T[0..7]. */
const T8_HEX = 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa'
export function torsionPoints(): EdPoint[] {
  const t8 = Point.fromHex(T8_HEX)
  const out: EdPoint[] = []
  let acc = Point.ZERO
  for (let i = 0; i < 8; i++) {
    out.push(acc)
    acc = acc.add(t8)
  }
  if (!acc.is0() || out[4]?.is0() !== false) throw new Error('T8 is not of order 8')
  return out
}

export type MalleatedGroup =
  | 'control' // honest signatures
  | 's-plus-l' // S replaced by S + nL: non-canonical S
  | 'mixed-order-r' // R = rB + T, T a non-zero torsion point: passes only the cofactored equation
  | 'mixed-order-a-torsion-visible' // A = aB + T with k*T != 0: passes only the cofactored equation
  | 'mixed-order-a-torsion-cancels' // A = aB + T with k*T == 0: passes both equations
  | 'small-order-a' // A in the 8-torsion subgroup (canonical encoding)
  | 'small-order-r' // honest A, R = identity (canonical)
  | 'non-canonical-a' // small-order A with a non-canonical encoding (y >= p, or x = 0 with sign bit set)
  | 'non-canonical-r' // honest A, R = identity with a non-canonical encoding

export interface MalleatedCase {
  name: string
  group: MalleatedGroup
  publicKey: Uint8Array
  message: Uint8Array
  signature: Uint8Array
}

const utf8 = new TextEncoder()

/** Find a signature (R, S) that satisfies the cofactorless equation [S]B = R + [k]A for a
 * small-order A by trying R = [S]B - T over torsion points T and messages; S = 0 or S = 1000. */
function smallOrderSignature(aPoint: EdPoint, aBytes: Uint8Array, torsion: EdPoint[], s: bigint): { message: Uint8Array; signature: Uint8Array } {
  for (let j = 0; j < 256; j++) {
    const message = utf8.encode(`small-order ${j}`)
    for (const t of torsion) {
      const r = s === 0n ? t.negate() : Point.BASE.multiply(s).subtract(t)
      const rBytes = r.toBytes()
      const k = challenge(rBytes, aBytes, message)
      if (aPoint.multiply(k, false).equals(t)) return { message, signature: concat(rBytes, le32(s)) }
    }
  }
  throw new Error('no small-order signature found')
}

export function malleatedCases(): MalleatedCase[] {
  const cases: MalleatedCase[] = []
  const torsion = torsionPoints()
  const seed = new Uint8Array(32).fill(0x42)
  const pub = publicKeyOf(seed)
  const a = secretScalar(seed)
  const aPoint = Point.BASE.multiply(a % L)
  if (!(aPoint.toHex() === toHex(pub))) throw new Error('secret scalar derivation')

  for (let i = 0; i < 4; i++) {
    const message = utf8.encode(`control ${i}`)
    const sig = signRaw(seed, message)
    cases.push({ name: `control ${i}`, group: 'control', publicKey: pub, message, signature: sig })
    const s = fromLe(sig.subarray(32))
    for (const n of [1n, 2n, 3n]) {
      cases.push({ name: `S+${n}L ${i}`, group: 's-plus-l', publicKey: pub, message, signature: concat(sig.subarray(0, 32), le32(s + n * L)) })
    }
  }

  const message = utf8.encode('malleate me')
  for (let t = 1; t < 8; t++) {
    const r = 1000n + BigInt(t)
    const rBytes = Point.BASE.multiply(r).add(torsion[t] as EdPoint).toBytes()
    const k = challenge(rBytes, pub, message)
    cases.push({ name: `R=rB+T${t}`, group: 'mixed-order-r', publicKey: pub, message, signature: concat(rBytes, le32((r + k * a) % L)) })
  }

  for (let t = 1; t < 8; t++) {
    const tPoint = torsion[t] as EdPoint
    const aBytes = aPoint.add(tPoint).toBytes()
    let visible = false
    let cancels = false
    for (let j = 0; j < 512 && !(visible && cancels); j++) {
      const m = utf8.encode(`mixed-order key ${j}`)
      const r = 5000n + BigInt(j)
      const rBytes = Point.BASE.multiply(r).toBytes()
      const k = challenge(rBytes, aBytes, m)
      const kills = tPoint.multiply(k, false).is0()
      if (kills ? cancels : visible) continue
      if (kills) cancels = true
      else visible = true
      cases.push({
        name: `A=aB+T${t} k*T${kills ? '=0' : '!=0'}`,
        group: kills ? 'mixed-order-a-torsion-cancels' : 'mixed-order-a-torsion-visible',
        publicKey: aBytes,
        message: m,
        signature: concat(rBytes, le32((r + k * a) % L)),
      })
    }
    if (!(visible && cancels)) throw new Error(`mixed-order key T${t}: cases not found`)
  }

  for (let t = 0; t < 8; t++) {
    const tPoint = torsion[t] as EdPoint
    const aBytes = tPoint.toBytes()
    for (const s of [0n, 1000n]) {
      const found = smallOrderSignature(tPoint, aBytes, torsion, s)
      cases.push({ name: `A=T${t} S=${s}`, group: 'small-order-a', publicKey: aBytes, ...found })
    }
  }

  {
    const rBytes = Point.ZERO.toBytes()
    const k = challenge(rBytes, pub, message)
    cases.push({ name: 'R=identity', group: 'small-order-r', publicKey: pub, message, signature: concat(rBytes, le32((k * a) % L)) })
  }

  // Non-canonical encodings of small-order points: y + p for y in {0, 1} (both sign bits), and
  // the x = 0 points (y = 1, y = p - 1) with the sign bit set ("negative zero").
  const nonCanonical: [string, Uint8Array][] = [
    ['y=p+0', le32(P)],
    ['y=p+0 sign', le32(P + (1n << 255n))],
    ['y=p+1', le32(P + 1n)],
    ['y=p+1 sign', le32(P + 1n + (1n << 255n))],
    ['y=1 sign', le32(1n + (1n << 255n))],
    ['y=p-1 sign', le32(P - 1n + (1n << 255n))],
  ]
  for (const [label, encoding] of nonCanonical) {
    const point = Point.fromBytes(encoding, true)
    if (!point.isSmallOrder()) throw new Error(`${label} is not small order`)
    const found = smallOrderSignature(point, encoding, torsion, 0n)
    cases.push({ name: `A ${label}`, group: 'non-canonical-a', publicKey: encoding, ...found })
    if (point.is0()) {
      const k = challenge(encoding, pub, message)
      cases.push({ name: `R ${label}`, group: 'non-canonical-r', publicKey: pub, message, signature: concat(encoding, le32((k * a) % L)) })
    }
  }
  return cases
}
