// Fuzzing the consensus wire formats (src/node/replica.ts decodeConsensus over
// src/ledger/consensus/messages.ts votes and certificates, and decodeSyncRequest): what arrives on
// the consensus channel and topic and in /sync/1 requests. Each decoder returns the message or
// throws a TrothError; what it accepts re-encodes to the same bytes.

import fc from 'fast-check'
import { describe } from 'vitest'
import { encode, type CborValue } from '../../src/ledger/encoding.ts'
import { VOTE_KINDS, certFromCbor, certToCbor, voteFromCbor, voteToCbor } from '../../src/ledger/consensus/messages.ts'
import { decodeConsensus, decodeSyncRequest, encodeConsensus, encodeSyncRequest } from '../../src/node/replica.ts'
import { DECODE_CODES, attempt, expectCanonical, fuzz } from './harness.ts'
import { cborValueArb, fieldValueArb, hostileBytes, setField, shapedMapArb } from './mutate.ts'
import * as corpus from './corpus.ts'

const CODES = [...DECODE_CODES, 'id.invalid-member-id', 'id.invalid-key'] as const

const fields = fc.oneof(
  { arbitrary: fieldValueArb(), weight: 3 },
  { arbitrary: fc.constantFrom<CborValue>(...VOTE_KINDS, 0, 1, 2 ** 53 - 1, new Uint8Array(32), new Uint8Array(0), corpus.alice.key, []), weight: 2 },
)
const signers = fc.array(fc.oneof(fc.tuple(fields, fields), fc.tuple(fc.constantFrom(...corpus.FOUNDERS.map((p) => p.key)), fc.uint8Array({ minLength: 64, maxLength: 64 })), fields as fc.Arbitrary<CborValue>), { maxLength: 5 })
const voteShape = shapedMapArb(['kind', 'epoch', 'view', 'parent', 'digest', 'signer', 'sig'], fields)
const certShape = fc.tuple(shapedMapArb(['kind', 'epoch', 'view', 'parent', 'digest'], fields), signers).map(([m, s]) => {
  setField(m, 'signers', s as CborValue)
  return m
})
/** Messages of every type whose parts are missing, extra or mistyped. */
const shapedMessage = fc
  .record({ t: fc.oneof(fc.constantFrom('proposal', 'vote', 'cert', 'cosig'), fc.string({ maxLength: 8 })), vote: voteShape, cert: certShape, rest: shapedMapArb(['block', 'epoch', 'name', 'keyId', 'sig'], fields), keep: fc.subarray(['vote', 'cert']) })
  .map(({ t, vote, cert, rest, keep }) => {
    const m: Record<string, CborValue> = { ...rest }
    setField(m, 't', t)
    if (keep.includes('vote')) setField(m, 'vote', vote)
    if (keep.includes('cert')) setField(m, 'cert', cert)
    return encode(m)
  })

describe('fuzz: consensus messages and sync requests', () => {
  fuzz('decodeConsensus: hostile consensus frames decode or fail with a TrothError; accepted ones re-encode exactly', hostileBytes(corpus.consensusBytes(), [shapedMessage]), (bytes) => {
    const r = attempt(() => decodeConsensus(bytes), CODES)
    if (r.ok) expectCanonical(bytes, encodeConsensus(r.value), 'consensus message')
  })

  fuzz('voteFromCbor and certFromCbor: hostile values decode or fail; accepted ones re-encode exactly', fc.oneof(voteShape, certShape, fc.constantFrom(...corpus.voteValues(), ...corpus.certValues()), cborValueArb), (v) => {
    const vote = attempt(() => voteFromCbor(v as CborValue), CODES)
    if (vote.ok) expectCanonical(encode(v as CborValue), encode(voteToCbor(vote.value)), 'vote')
    const cert = attempt(() => certFromCbor(v as CborValue), CODES)
    if (cert.ok) expectCanonical(encode(v as CborValue), encode(certToCbor(cert.value)), 'certificate')
  })

  const syncShape = shapedMapArb(['t', 'from', 'digest', 'epoch', 'views'], fc.oneof(fields, fc.constantFrom<CborValue>('blocks', 'block', 'certs', 'checkpoint'), fc.array(fields, { maxLength: 70 }) as fc.Arbitrary<CborValue>))
  fuzz('decodeSyncRequest: hostile /sync/1 requests decode or fail; accepted ones re-encode exactly', fc.oneof(fc.constantFrom(...corpus.syncRequests()), syncShape as fc.Arbitrary<CborValue>, cborValueArb), (v) => {
    const r = attempt(() => decodeSyncRequest(v), CODES)
    if (r.ok) expectCanonical(encode(v), encode(encodeSyncRequest(r.value)), 'sync request')
  })
})
