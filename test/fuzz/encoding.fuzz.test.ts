// Fuzzing the strict CBOR decoder (src/ledger/encoding.ts), the door every binary input comes in
// by: it returns a value of the data model or throws a TrothError 'cbor.*', never anything else,
// whatever the bytes and whatever the limits; what it accepts re-encodes to the very same bytes.

import fc from 'fast-check'
import { describe } from 'vitest'
import { decode, encode, type CborLimits } from '../../src/ledger/encoding.ts'
import { attempt, expectCanonical, fuzz } from './harness.ts'
import { cborValueArb, hostileBytes, mutatedBytes } from './mutate.ts'
import * as corpus from './corpus.ts'

const CBOR_CODES = [
  'cbor.too-large', 'cbor.truncated', 'cbor.trailing-bytes', 'cbor.non-canonical-int', 'cbor.indefinite-length', 'cbor.float', 'cbor.map-key-order',
  'cbor.duplicate-key', 'cbor.map-key-type', 'cbor.unsupported-type', 'cbor.int-range', 'cbor.too-deep', 'cbor.too-many-items', 'cbor.invalid-utf8', 'cbor.malformed',
] as const

function samples(): Uint8Array[] {
  return [
    ...corpus.entryWires(),
    ...corpus.blockBytes().slice(0, 4),
    ...corpus.requestBytes(),
    ...corpus.genesisBytes(),
    ...corpus.consensusBytes(),
    ...corpus.stateRecordBytes().map(([, v]) => v),
    ...corpus.syncRequests().map(encode),
  ]
}

/** Encodings of random values of the data model, then mutated. */
const structured = cborValueArb.chain((v) => fc.oneof(fc.constant(encode(v)), mutatedBytes([encode(v)])))

const limitsArb: fc.Arbitrary<CborLimits> = fc.oneof(
  fc.constant({ bytesMax: 1 << 22 }),
  fc.record({ bytesMax: fc.nat(1 << 16), depthMax: fc.nat(1024), itemsMax: fc.integer({ min: 1, max: 200_000 }) }),
  fc.record({ bytesMax: fc.constant(1 << 22), depthMax: fc.constantFrom(0, 1, 2, 16, 17), itemsMax: fc.constantFrom(1, 2, 5, 9, 100_000) }),
)

describe('fuzz: CBOR decode', () => {
  fuzz('cbor.decode: hostile bytes under any limits decode or fail with a cbor.* TrothError; accepted bytes are canonical', fc.tuple(hostileBytes(samples(), [structured]), limitsArb), ([bytes, limits]) => {
    const r = attempt(() => decode(bytes, limits), CBOR_CODES)
    if (r.ok) expectCanonical(bytes, encode(r.value), 'cbor.decode')
  })

  fuzz('cbor.encode→decode: every value of the data model round-trips to the same bytes', cborValueArb, (v) => {
    const bytes = encode(v)
    expectCanonical(bytes, encode(decode(bytes, { bytesMax: bytes.length, depthMax: 1024 })), 'cbor round trip')
  })
})
