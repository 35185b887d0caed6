// Fuzzing the genesis document (src/ledger/genesis.ts): the file `troth start --genesis` reads
// and `troth inspect` describes. decodeGenesis returns it or throws a TrothError; an accepted
// genesis re-encodes to the same bytes (its hash is the network id) and yields a starting state.

import fc from 'fast-check'
import { describe } from 'vitest'
import { encode, type CborValue } from '../../src/ledger/encoding.ts'
import { decodeGenesis, encodeGenesis, genesisState, type Founder } from '../../src/ledger/genesis.ts'
import { makeRequest, FOUNDING_NET } from '../../src/ledger/request.ts'
import { PARAM_NAMES, PARAMS } from '../../src/ledger/policy.ts'
import { attempt, expectCanonical, fuzz } from './harness.ts'
import { fieldValueArb, hostileBytes, setField, shapedMapArb } from './mutate.ts'
import * as corpus from './corpus.ts'

const CODES = ['cbor.too-large', 'cbor.truncated', 'cbor.trailing-bytes', 'cbor.non-canonical-int', 'cbor.indefinite-length', 'cbor.float', 'cbor.map-key-order', 'cbor.duplicate-key', 'cbor.map-key-type', 'cbor.unsupported-type', 'cbor.int-range', 'cbor.too-deep', 'cbor.too-many-items', 'cbor.invalid-utf8', 'cbor.malformed', 'schema.invalid', 'genesis.invalid', 'id.invalid-key'] as const

/** Genesis maps with missing, extra and mistyped fields, founders included. */
const shapedGenesis = fc
  .record({
    top: shapedMapArb(['version', 'name', 'time']),
    founders: fc.array(shapedMapArb(['key', 'name', 'request']), { maxLength: 3 }),
    policy: fc.dictionary(fc.oneof(fc.constantFrom(...PARAM_NAMES), fc.string({ maxLength: 6 })), fieldValueArb(), { maxKeys: 3 }),
  })
  .map(({ top, founders, policy }) => {
    const m: Record<string, CborValue> = { ...top }
    setField(m, 'founders', founders)
    setField(m, 'policy', policy)
    return encode(m)
  })

/** Well-typed genesis documents with hostile content: keys that are no points, names with
 * control characters, founders twice, requests for other keys or networks, policies out of range. */
const hostileGenesis = fc
  .record({
    version: fc.constantFrom(0, 1, 2),
    name: fc.oneof(fc.constantFrom('coop', '', 'a b', 'x'.repeat(64)), fc.string({ unit: 'binary', maxLength: 10 })),
    time: fc.oneof(fc.nat(), fc.maxSafeNat()),
    founders: fc.array(
      fc.record({
        who: fc.nat(5),
        randomKey: fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }), { nil: null }),
        name: fc.oneof(fc.constantFrom('alice', '', '\u0007bell', '\u202eevil'), fc.string({ unit: 'binary', maxLength: 8 })),
        request: fc.constantFrom('none', 'own', 'other', 'net'),
      }),
      { minLength: 0, maxLength: 4 },
    ),
    policy: fc.dictionary(fc.constantFrom(...PARAM_NAMES), fc.oneof(fc.nat(200_000), fc.maxSafeNat()), { maxKeys: 4 }),
  })
  .map(({ version, name, time, founders, policy }) => {
    const ps = [...corpus.FOUNDERS, corpus.person('xavier'), corpus.person('yolanda')]
    const expires = corpus.GENESIS_TIME + 86_400_000
    const list: Founder[] = founders.map((f) => {
      const p = ps[f.who % ps.length] as (typeof ps)[number]
      const other = ps[(f.who + 1) % ps.length] as (typeof ps)[number]
      const request =
        f.request === 'own' ? makeRequest(p.seed, { net: FOUNDING_NET, name: f.name, expires })
        : f.request === 'other' ? makeRequest(other.seed, { net: FOUNDING_NET, name: f.name, expires })
        : f.request === 'net' ? makeRequest(p.seed, { net: new Uint8Array(32).fill(1), name: f.name, expires })
        : null
      return { key: f.randomKey ?? p.key, name: f.name, request }
    })
    const clamped: Record<string, number> = {}
    for (const [k, v] of Object.entries(policy)) clamped[k] = v % 3 === 0 ? (PARAMS[k as keyof typeof PARAMS] as { max: number }).max : v
    return encodeGenesis({ version, name, time, founders: list, policy: clamped })
  })

describe('fuzz: genesis', () => {
  fuzz('decodeGenesis: hostile genesis files decode or fail with a TrothError; accepted ones re-encode exactly and start a state', hostileBytes(corpus.genesisBytes(), [shapedGenesis, hostileGenesis]), (bytes) => {
    const r = attempt(() => decodeGenesis(bytes), CODES)
    if (!r.ok) return
    expectCanonical(bytes, encodeGenesis(r.value.genesis), 'genesis')
    genesisState(bytes)
  })
})
