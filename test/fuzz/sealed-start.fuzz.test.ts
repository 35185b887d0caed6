// Fuzzing a sealed start (src/node/sealed-start.ts), both sides. The client: a fresh node decodes
// a peer's `sealed` answer (offerFromAnswer) and `state` pages (pageFromAnswer), then checks them
// trusting only its genesis (verifyOffer, verifyState). Hostile answers decode or fail with a
// TrothError; the checks never throw, and accept only what the honest store served (a peer cannot
// make a fresh node adopt any other state). The server: hostile `sealed`/`state` requests
// (decodeSyncRequest, then serveSealed/serveState, as the daemon's /sync/1 handler does) answer
// within the sync limit or fail with a TrothError.

import { rmSync } from 'node:fs'
import fc from 'fast-check'
import { afterAll, describe } from 'vitest'
import { decode, encode, type CborValue } from '../../src/ledger/encoding.ts'
import { bytesEqual } from '../../src/ledger/hash.ts'
import { RPC_FRAME_BYTES_CEILING } from '../../src/p2p/rpc.ts'
import { decodeSyncRequest } from '../../src/node/replica.ts'
import { offerFromAnswer, offerToCbor, pageFromAnswer, serveSealed, serveState, verifyOffer, verifyState, type SealedOffer, type VerifiedOffer } from '../../src/node/sealed-start.ts'
import { auditLedger } from '../audit/ledger.ts'
import { served } from '../node/sealed-fixture.ts'
import { DECODE_CODES, attempt, attemptAsync, fuzz, fuzzAsync } from './harness.ts'
import { cborValueArb, hostileBytes, mutatedBytes, mutatedText, setField, shapedMapArb } from './mutate.ts'

const SYNC_RESPONSE_LIMIT = RPC_FRAME_BYTES_CEILING - 1024

// A real store: four founders, an exile and an induction, epochs 0–3 closed and sealed, a
// finalization certificate with each block (test/audit/ledger.ts).
const l = await auditLedger({ lastEpoch: 3, certs: true })
const honest = await served(l.store)
afterAll(async () => {
  await l.close()
  rmSync(l.dir, { recursive: true, force: true })
})

const checked = verifyOffer(l.genesis, honest.offer, honest.block, honest.cert)
if (!checked.ok) throw new Error(`the honest offer does not verify: ${checked.reason}`)
const verified: VerifiedOffer = checked.value
const honestRecords = encode(honest.records.map(([k, v]) => [k, v]))

/** The same offer: what a fresh node may accept. */
function sameOffer(a: SealedOffer, b: SealedOffer): boolean {
  return a.epoch === b.epoch && a.height === b.height && a.proof === b.proof && a.records === b.records && a.frontier.length === b.frontier.length && a.frontier.every((h, i) => bytesEqual(h, b.frontier[i] as Uint8Array))
}

const answers = [encode({ offer: offerToCbor(honest.offer) }), encode({ offer: null })]
/** Offers whose fields are each replaced, or whose proof text is mutated line by line. */
const shapedOffer = fc
  .record({
    m: shapedMapArb(['epoch', 'height', 'proof', 'frontier', 'records']),
    proof: fc.oneof(mutatedText([honest.offer.proof], 3), fc.constant(honest.offer.proof)),
    keep: fc.subarray(['epoch', 'height', 'frontier', 'records'] as const),
  })
  .map(({ m, proof, keep }) => {
    setField(m, 'proof', proof)
    const o = offerToCbor(honest.offer) as Record<string, CborValue>
    for (const k of keep) setField(m, k, o[k] as CborValue)
    return encode({ offer: m })
  })

const pages = [0, 3, 7].filter((from) => from < honest.records.length).map((from) => encode(serveState(l.store, honest.offer.epoch, from, 4)))

/** The value with one of its numbers moved by one, or one byte of one of its byte strings
 * flipped (the `n`-th such leaf): a record that still decodes, with another meaning. */
function tweak(v: CborValue, n: number): CborValue {
  const leaves: Array<(x: CborValue) => CborValue> = []
  const copy = (x: CborValue): CborValue => {
    if (typeof x === 'number') return x
    if (x instanceof Uint8Array) return x.slice()
    if (Array.isArray(x)) return x.map(copy)
    if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, copy(y as CborValue)]))
    return x
  }
  const out = copy(v)
  const walk = (x: CborValue): void => {
    if (Array.isArray(x)) {
      x.forEach((y, i) => {
        if (typeof y === 'number') leaves.push(() => (x[i] = y === 0 ? 1 : y - 1))
        else if (y instanceof Uint8Array && y.length > 0) leaves.push(() => ((y[0] as number) ^= 1, y))
        else walk(y)
      })
    } else if (x !== null && typeof x === 'object' && !(x instanceof Uint8Array)) {
      const o = x as Record<string, CborValue>
      for (const [k, y] of Object.entries(o)) {
        if (typeof y === 'number') leaves.push(() => (o[k] = y === 0 ? 1 : y - 1))
        else if (y instanceof Uint8Array && y.length > 0) leaves.push(() => ((y[0] as number) ^= 1, y))
        else walk(y)
      }
    }
  }
  walk(out)
  if (leaves.length > 0) (leaves[n % leaves.length] as (x: CborValue) => CborValue)(out)
  return out
}

/** The honest records with a few of them dropped, duplicated, swapped, re-keyed or re-valued. */
const recordsArb: fc.Arbitrary<Array<[string, CborValue]>> = fc
  .array(
    fc.record({
      op: fc.constantFrom('drop', 'dup', 'swap', 'key', 'value', 'meta', 'swap-value', 'tweak', 'tweak'),
      i: fc.nat(honest.records.length - 1),
      j: fc.nat(honest.records.length - 1),
      v: cborValueArb,
      k: fc.string({ maxLength: 60 }),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .map((ops) => {
    const r: Array<[string, CborValue]> = honest.records.map(([k, v]) => [k, v])
    for (const { op, i, j, v, k } of ops) {
      if (r.length === 0) break
      const a = i % r.length
      const b = j % r.length
      if (op === 'drop') r.splice(a, 1)
      else if (op === 'dup') r.splice(a, 0, r[a] as [string, CborValue])
      else if (op === 'swap') [r[a], r[b]] = [r[b] as [string, CborValue], r[a] as [string, CborValue]]
      else if (op === 'key') r[a] = [k, (r[a] as [string, CborValue])[1]]
      else if (op === 'meta') r.splice(a, 0, [' meta', v])
      else if (op === 'swap-value') r[a] = [(r[a] as [string, CborValue])[0], (r[b] as [string, CborValue])[1]]
      else if (op === 'tweak') r[a] = [(r[a] as [string, CborValue])[0], tweak((r[a] as [string, CborValue])[1], j)]
      else r[a] = [(r[a] as [string, CborValue])[0], v]
    }
    return r
  })

/** Hostile requests of the two new kinds (and the old ones' shapes, mixed in by the mutations). */
const requests = [encode({ t: 'sealed', epoch: null }), encode({ t: 'sealed', epoch: honest.offer.epoch }), encode({ t: 'state', epoch: honest.offer.epoch, from: 0 }), encode({ t: 'state', epoch: honest.offer.epoch, from: 5 })]
const shapedRequest = fc
  .record({ m: shapedMapArb(['epoch', 'from']), t: fc.constantFrom<CborValue>('sealed', 'state', 'blocks', 7) })
  .map(({ m, t }) => {
    setField(m, 't', t)
    return encode(m)
  })

describe('fuzz: sealed start', () => {
  fuzz('offerFromAnswer + verifyOffer: hostile `sealed` answers decode or fail with a TrothError; the check never throws and accepts only the honest offer', hostileBytes(answers, [shapedOffer]), (bytes) => {
    const offer = attempt(() => offerFromAnswer(decode(bytes, { bytesMax: SYNC_RESPONSE_LIMIT })), DECODE_CODES)
    if (!offer.ok || offer.value === null) return
    const v = verifyOffer(l.genesis, offer.value, honest.block, honest.cert)
    if (v.ok && !sameOffer(offer.value, honest.offer)) throw new Error('verifyOffer accepted an offer the store did not serve')
  })

  fuzz('verifyOffer: a hostile last block never makes it throw, and only the honest block passes', mutatedBytes([honest.block]), (block) => {
    const v = verifyOffer(l.genesis, honest.offer, block, honest.cert)
    if (v.ok && !bytesEqual(block, honest.block)) throw new Error('verifyOffer accepted another block')
  })

  fuzz('pageFromAnswer: hostile `state` pages decode or fail with a TrothError', hostileBytes(pages), (bytes) => {
    attempt(() => pageFromAnswer(decode(bytes, { bytesMax: SYNC_RESPONSE_LIMIT })), DECODE_CODES)
  })

  fuzz('verifyState: changed state records are refused by name and never make it throw', recordsArb, (records) => {
    const v = verifyState(l.genesis, verified, records)
    if (v.ok && !bytesEqual(encode(records.map(([k, x]) => [k, x])), honestRecords)) throw new Error('verifyState accepted records the store did not serve')
  })

  fuzzAsync('serveSealed/serveState: hostile requests answer within the sync limit or fail with a TrothError', hostileBytes(requests, [shapedRequest]), async (bytes) => {
    const req = attempt(() => decodeSyncRequest(decode(bytes, { bytesMax: 64 * 1024 })), DECODE_CODES)
    if (!req.ok) return
    const r = req.value
    if (r.t !== 'sealed' && r.t !== 'state') return
    const res = await attemptAsync(() => (r.t === 'sealed' ? serveSealed(l.store, r.epoch) : Promise.resolve(serveState(l.store, r.epoch, r.from))), ['input.not-found', 'input.invalid'])
    if (res.ok && encode({ ok: res.value }).length > SYNC_RESPONSE_LIMIT) throw new Error(`a ${r.t} answer is over the sync limit`)
  })
})
