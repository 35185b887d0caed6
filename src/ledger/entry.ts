// Entries (DESIGN.md §3.1): a member's signed statement. Entry = { net, author, seq, kind, body,
// time }, carried as SignedEntry = { entry: canonical CBOR of Entry, sig } with the signature over
// the entry bytes under the tag troth/entry/v1. Byte-level formats: docs/entries.md.

import { TAG } from '../identity/tags.ts'
import { sign, verify } from '../identity/sign.ts'
import { TrothError } from '../errors.ts'
import { asArray, asBool, asBytes, asEnum, asMap, asText, asUint, decode, encode, type CborValue } from './encoding.ts'
import { ADDRS_MAX, ADDR_BYTES_MAX, ENTRY_BYTES_MAX, NAME_BYTES_MAX, REASON_BYTES_MAX, SNAPSHOT_BYTES_MAX, SNAPSHOT_CHUNKS_MAX } from './limits.ts'
import { parseSignedRequest, signedRequestToCbor, type SignedRequest } from './request.ts'
import { voteFromCbor, voteToCbor, type Vote } from './consensus/messages.ts'
import { AUDIT_VERDICTS } from './state.ts'
import { parseSignedAnswer, signedAnswerToCbor, type SignedAnswer } from '../obligation/audit.ts'

export const ENTRY_KINDS = [
  'induct.vouch',
  'induct.object',
  'leave',
  'exile.propose',
  'exile.vote',
  'policy.vote',
  'seal',
  'audit.report',
  'evidence',
  'announce',
  'key.rotate',
  'key.recover',
] as const
export type EntryKind = (typeof ENTRY_KINDS)[number]

export type Body =
  | { readonly kind: 'induct.vouch'; readonly request: SignedRequest }
  | { readonly kind: 'induct.object'; readonly candidate: Uint8Array; readonly reason: string }
  | { readonly kind: 'leave' }
  | { readonly kind: 'exile.propose'; readonly member: Uint8Array; readonly reason: string }
  | { readonly kind: 'exile.vote'; readonly member: Uint8Array }
  | { readonly kind: 'policy.vote'; readonly param: string; readonly value: number | null }
  | { readonly kind: 'seal'; readonly root: Uint8Array; readonly size: number; readonly chunks: number; readonly name: string }
  | { readonly kind: 'announce'; readonly addrs: readonly string[] }
  | { readonly kind: 'key.rotate'; readonly key: Uint8Array; readonly keySig: Uint8Array }
  | { readonly kind: 'key.recover'; readonly member: Uint8Array; readonly key: Uint8Array; readonly keySig: Uint8Array }
  | { readonly kind: 'key.recover'; readonly member: Uint8Array; readonly cancel: true }
  /** Two conflicting signed consensus votes by one validator (DESIGN.md §4). */
  | { readonly kind: 'evidence'; readonly a: Vote; readonly b: Vote }
  /** An auditor's report on one duty (DESIGN.md §5.4); pass and fail carry the replica's signed answer. */
  | { readonly kind: 'audit.report'; readonly epoch: number; readonly root: Uint8Array; readonly replica: Uint8Array; readonly verdict: 'pass' | 'fail' | 'unreachable'; readonly answer: SignedAnswer | null }

export interface Entry {
  readonly net: Uint8Array
  readonly author: Uint8Array
  readonly seq: number
  readonly time: number
  readonly body: Body
}

export interface SignedEntry {
  /** Canonical CBOR of the Entry: exactly the signed bytes. */
  readonly bytes: Uint8Array
  readonly sig: Uint8Array
  readonly entry: Entry
}

function bodyToCbor(b: Body): CborValue {
  switch (b.kind) {
    case 'induct.vouch': return { request: signedRequestToCbor(b.request) }
    case 'induct.object': return { candidate: b.candidate, reason: b.reason }
    case 'leave': return {}
    case 'exile.propose': return { member: b.member, reason: b.reason }
    case 'exile.vote': return { member: b.member }
    case 'policy.vote': return { param: b.param, value: b.value }
    case 'seal': return { root: b.root, size: b.size, chunks: b.chunks, name: b.name }
    case 'announce': return { addrs: [...b.addrs] }
    case 'key.rotate': return { key: b.key, keySig: b.keySig }
    case 'key.recover': return 'cancel' in b ? { member: b.member, cancel: true } : { member: b.member, key: b.key, keySig: b.keySig }
    case 'evidence': return { a: voteToCbor(b.a), b: voteToCbor(b.b) }
    case 'audit.report': return { epoch: b.epoch, root: b.root, replica: b.replica, verdict: b.verdict, answer: b.answer === null ? null : signedAnswerToCbor(b.answer) }
  }
}

export function entryToCbor(e: Entry): CborValue {
  return { net: e.net, author: e.author, seq: e.seq, kind: e.body.kind, body: bodyToCbor(e.body), time: e.time }
}

function parseBody(kind: EntryKind, v: CborValue): Body {
  const p = 'entry.body'
  switch (kind) {
    case 'induct.vouch': {
      const m = asMap(v, p, ['request'])
      return { kind, request: parseSignedRequest(m.request as CborValue, `${p}.request`) }
    }
    case 'induct.object': {
      const m = asMap(v, p, ['candidate', 'reason'])
      return { kind, candidate: asBytes(m.candidate as CborValue, `${p}.candidate`, 32), reason: asText(m.reason as CborValue, `${p}.reason`, REASON_BYTES_MAX) }
    }
    case 'leave':
      asMap(v, p, [])
      return { kind }
    case 'exile.propose': {
      const m = asMap(v, p, ['member', 'reason'])
      return { kind, member: asBytes(m.member as CborValue, `${p}.member`, 32), reason: asText(m.reason as CborValue, `${p}.reason`, REASON_BYTES_MAX) }
    }
    case 'exile.vote': {
      const m = asMap(v, p, ['member'])
      return { kind, member: asBytes(m.member as CborValue, `${p}.member`, 32) }
    }
    case 'policy.vote': {
      const m = asMap(v, p, ['param', 'value'])
      const value = m.value === null ? null : asUint(m.value as CborValue, `${p}.value`)
      return { kind, param: asText(m.param as CborValue, `${p}.param`, NAME_BYTES_MAX), value }
    }
    case 'seal': {
      const m = asMap(v, p, ['root', 'size', 'chunks', 'name'])
      return {
        kind,
        root: asBytes(m.root as CborValue, `${p}.root`, 32),
        size: asUint(m.size as CborValue, `${p}.size`, SNAPSHOT_BYTES_MAX),
        chunks: asUint(m.chunks as CborValue, `${p}.chunks`, SNAPSHOT_CHUNKS_MAX),
        name: asText(m.name as CborValue, `${p}.name`, NAME_BYTES_MAX),
      }
    }
    case 'announce': {
      const m = asMap(v, p, ['addrs'])
      const addrs = asArray(m.addrs as CborValue, `${p}.addrs`, ADDRS_MAX).map((a, i) => asText(a, `${p}.addrs[${i}]`, ADDR_BYTES_MAX))
      return { kind, addrs }
    }
    case 'key.rotate': {
      const m = asMap(v, p, ['key', 'keySig'])
      return { kind, key: asBytes(m.key as CborValue, `${p}.key`, 32), keySig: asBytes(m.keySig as CborValue, `${p}.keySig`, 64) }
    }
    case 'key.recover': {
      const m = asMap(v, p, ['member'], ['key', 'keySig', 'cancel'])
      const member = asBytes(m.member as CborValue, `${p}.member`, 32)
      if (m.cancel !== undefined) {
        if (m.key !== undefined || m.keySig !== undefined) throw new TrothError('schema.invalid', `${p}: a cancel carries no key`)
        if (!asBool(m.cancel, `${p}.cancel`)) throw new TrothError('schema.invalid', `${p}.cancel: must be true when present`)
        return { kind, member, cancel: true }
      }
      if (m.key === undefined || m.keySig === undefined) throw new TrothError('schema.invalid', `${p}: key and keySig are required`)
      return { kind, member, key: asBytes(m.key, `${p}.key`, 32), keySig: asBytes(m.keySig, `${p}.keySig`, 64) }
    }
    case 'evidence': {
      const m = asMap(v, p, ['a', 'b'])
      return { kind, a: voteFromCbor(m.a as CborValue, `${p}.a`), b: voteFromCbor(m.b as CborValue, `${p}.b`) }
    }
    case 'audit.report': {
      const m = asMap(v, p, ['epoch', 'root', 'replica', 'verdict', 'answer'])
      const verdict = asEnum(m.verdict as CborValue, `${p}.verdict`, AUDIT_VERDICTS)
      const answer = m.answer === null ? null : parseSignedAnswer(m.answer as CborValue, `${p}.answer`)
      // Decoding already ties the verdict to the answer's presence: pass/fail prove, unreachable cannot.
      if ((verdict === 'unreachable') !== (answer === null)) throw new TrothError('schema.invalid', `${p}: ${verdict} ${verdict === 'unreachable' ? 'carries no answer' : 'needs the signed answer'}`)
      return {
        kind,
        epoch: asUint(m.epoch as CborValue, `${p}.epoch`),
        root: asBytes(m.root as CborValue, `${p}.root`, 32),
        replica: asBytes(m.replica as CborValue, `${p}.replica`, 32),
        verdict,
        answer,
      }
    }
  }
}

/** Strictly decode the Entry inside a SignedEntry's bytes. Throws TrothError naming the problem. */
export function decodeEntry(bytes: Uint8Array): Entry {
  const m = asMap(decode(bytes, { bytesMax: ENTRY_BYTES_MAX }), 'entry', ['net', 'author', 'seq', 'kind', 'body', 'time'])
  const kind = asEnum(m.kind as CborValue, 'entry.kind', ENTRY_KINDS)
  return {
    net: asBytes(m.net as CborValue, 'entry.net', 32),
    author: asBytes(m.author as CborValue, 'entry.author', 32),
    seq: asUint(m.seq as CborValue, 'entry.seq'),
    time: asUint(m.time as CborValue, 'entry.time'),
    body: parseBody(kind, m.body as CborValue),
  }
}

/** The log leaf / wire form of a signed entry: canonical CBOR { entry: bytes, sig: bytes }. */
export function encodeSignedEntry(s: Pick<SignedEntry, 'bytes' | 'sig'>): Uint8Array {
  return encode({ entry: s.bytes, sig: s.sig })
}

export function decodeSignedEntryValue(v: CborValue): SignedEntry {
  const m = asMap(v, 'signed-entry', ['entry', 'sig'])
  const bytes = asBytes(m.entry as CborValue, 'signed-entry.entry', undefined, ENTRY_BYTES_MAX)
  const sig = asBytes(m.sig as CborValue, 'signed-entry.sig', 64)
  return { bytes, sig, entry: decodeEntry(bytes) }
}

export function decodeSignedEntry(wire: Uint8Array): SignedEntry {
  if (wire.length > ENTRY_BYTES_MAX) throw new TrothError('cbor.too-large', `signed entry is ${wire.length} bytes, limit ${ENTRY_BYTES_MAX}`)
  return decodeSignedEntryValue(decode(wire, { bytesMax: ENTRY_BYTES_MAX }))
}

/** Build and sign an entry. The caller's seed must belong to the author's current key. */
export function signEntry(seed: Uint8Array, entry: Entry): SignedEntry {
  const bytes = encode(entryToCbor(entry))
  if (bytes.length + 80 > ENTRY_BYTES_MAX) throw new TrothError('input.too-large', `entry is ${bytes.length} bytes, limit ${ENTRY_BYTES_MAX}`)
  // Re-decode what we made: an entry we cannot read back must never be signed.
  decodeEntry(bytes)
  return { bytes, sig: sign(seed, TAG.entry, bytes), entry }
}

export function entrySignatureValid(s: SignedEntry, key: Uint8Array): boolean {
  return verify(key, TAG.entry, s.bytes, s.sig)
}

/** The message a new key signs to prove possession in key.rotate / key.recover. */
export function keyProofMessage(net: Uint8Array, member: Uint8Array, key: Uint8Array): Uint8Array {
  return encode({ net, member, key })
}

export function signKeyProof(newSeed: Uint8Array, net: Uint8Array, member: Uint8Array, key: Uint8Array): Uint8Array {
  return sign(newSeed, TAG.key, keyProofMessage(net, member, key))
}

export function keyProofValid(net: Uint8Array, member: Uint8Array, key: Uint8Array, keySig: Uint8Array): boolean {
  return verify(key, TAG.key, keyProofMessage(net, member, key), keySig)
}
