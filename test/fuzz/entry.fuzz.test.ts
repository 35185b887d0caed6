// Fuzzing signed entries and induction requests (src/ledger/entry.ts, src/ledger/request.ts):
// the bytes a peer gossips, a block carries and a sponsor vouches with. Each decoder returns the
// value or throws a TrothError; what it accepts re-encodes to the same bytes (the signature is
// over those bytes, so two spellings of one entry would be two entries).

import fc from 'fast-check'
import { describe } from 'vitest'
import { decode, encode, type CborValue } from '../../src/ledger/encoding.ts'
import { ENTRY_KINDS, decodeEntry, decodeSignedEntry, encodeSignedEntry, entryToCbor } from '../../src/ledger/entry.ts'
import { decodeSignedRequest, openRequest, requestToCbor, signedRequestToCbor } from '../../src/ledger/request.ts'
import { DECODE_CODES, attempt, expectCanonical, fuzz } from './harness.ts'
import { fieldValueArb, hostileBytes, setField, shapedMapArb } from './mutate.ts'
import * as corpus from './corpus.ts'


export const BODY_KEYS: Record<(typeof ENTRY_KINDS)[number], readonly string[]> = {
  'induct.vouch': ['request'],
  'induct.object': ['candidate', 'reason'],
  leave: [],
  'exile.propose': ['member', 'reason'],
  'exile.vote': ['member'],
  'policy.vote': ['param', 'value'],
  seal: ['root', 'size', 'chunks', 'name'],
  announce: ['addrs'],
  'key.rotate': ['key', 'keySig'],
  'key.recover': ['member', 'key', 'keySig', 'cancel'],
  evidence: ['a', 'b'],
  'audit.report': ['epoch', 'root', 'replica', 'verdict', 'answer'],
}

/** Field values, including well-formed sub-structures (requests, votes, answers) to put in the wrong place. */
function fieldArb(): fc.Arbitrary<CborValue> {
  const subs: CborValue[] = [
    ...corpus.voteValues(),
    ...corpus.answerValues(),
    ...corpus.requestBytes().map((b) => decode(b, { bytesMax: 4096 })),
    true,
    null,
    'pass',
    'fail',
    'unreachable',
    'vouchCap',
    ['/ip4/1.2.3.4/tcp/1'],
  ]
  return fc.oneof({ arbitrary: fieldValueArb(), weight: 3 }, { arbitrary: fc.constantFrom(...subs), weight: 2 })
}

/** An entry map of a random kind whose fields are missing, extra or of any type. */
export function shapedEntryBytes(): fc.Arbitrary<Uint8Array> {
  return fc
    .record({
      kind: fc.oneof(fc.constantFrom(...ENTRY_KINDS), fc.string({ maxLength: 14 })),
      outer: shapedMapArb(['net', 'author', 'seq', 'time'], fieldArb()),
      body: fc.constantFrom(...ENTRY_KINDS).chain((k) => shapedMapArb(BODY_KEYS[k], fieldArb())),
    })
    .map(({ kind, outer, body }) => {
      const m: Record<string, CborValue> = { ...outer }
      setField(m, 'kind', kind)
      setField(m, 'body', body)
      return encode(m)
    })
}

describe('fuzz: entries and requests', () => {
  fuzz('decodeSignedEntry: hostile wire bytes decode or fail with a TrothError; accepted wires re-encode exactly', hostileBytes(corpus.entryWires(), [shapedEntryBytes().map((bytes) => encode({ entry: bytes, sig: new Uint8Array(64) }))]), (wire) => {
    const r = attempt(() => decodeSignedEntry(wire), DECODE_CODES)
    if (!r.ok) return
    expectCanonical(wire, encodeSignedEntry(r.value), 'signed entry')
    expectCanonical(r.value.bytes, encode(entryToCbor(r.value.entry)), 'entry')
  })

  const innerSamples = corpus.entryWires().map((w) => decodeSignedEntry(w).bytes)
  fuzz('decodeEntry: hostile entry bytes (every kind, mutated and shaped) decode or fail; accepted ones re-encode exactly', hostileBytes(innerSamples, [shapedEntryBytes()]), (bytes) => {
    const r = attempt(() => decodeEntry(bytes), DECODE_CODES)
    if (r.ok) expectCanonical(bytes, encode(entryToCbor(r.value)), 'entry')
  })

  const requestShaped = fc
    .record({ inner: shapedMapArb(['net', 'key', 'name', 'expires'], fieldArb()), sig: fieldArb() })
    .map(({ inner, sig }) => encode({ request: encode(inner), sig }))
  fuzz('decodeSignedRequest + openRequest: hostile request files decode or fail; accepted ones re-encode exactly', hostileBytes(corpus.requestBytes(), [requestShaped]), (bytes) => {
    const r = attempt(() => decodeSignedRequest(bytes), DECODE_CODES)
    if (!r.ok) return
    expectCanonical(bytes, encode(signedRequestToCbor(r.value)), 'signed request')
    const open = attempt(() => openRequest(r.value), DECODE_CODES)
    if (open.ok) expectCanonical(r.value.request, encode(requestToCbor(open.value)), 'request')
  })
})
