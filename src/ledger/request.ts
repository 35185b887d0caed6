// Induction requests (DESIGN.md §6): a candidate's signed statement "admit this key, under this
// name, to this network, until this time". Sponsors carry it in induct.vouch entries; founders'
// requests go into a genesis and name no network (all-zero net) because it does not exist yet.

import { TAG } from '../identity/tags.ts'
import { sign, verify } from '../identity/sign.ts'
import { publicKeyOf } from '../identity/ed25519.ts'
import { asBytes, asMap, asUint, decode, encode, type CborValue } from './encoding.ts'
import { REQUEST_BYTES_MAX } from './limits.ts'
import { asName } from './names.ts'

export const FOUNDING_NET = new Uint8Array(32)

export interface InductRequest {
  readonly net: Uint8Array
  readonly key: Uint8Array
  readonly name: string
  /** Unix ms after which no sponsor may carry it. */
  readonly expires: number
}

export interface SignedRequest {
  readonly request: Uint8Array
  readonly sig: Uint8Array
}

export function requestToCbor(r: InductRequest): CborValue {
  return { net: r.net, key: r.key, name: r.name, expires: r.expires }
}

export function makeRequest(seed: Uint8Array, fields: Omit<InductRequest, 'key'>): SignedRequest {
  const request = encode(requestToCbor({ ...fields, key: publicKeyOf(seed) }))
  return { request, sig: sign(seed, TAG.inductRequest, request) }
}

export function signedRequestToCbor(s: SignedRequest): CborValue {
  return { request: s.request, sig: s.sig }
}

/** Strict parse of the signed wrapper; throws TrothError on malformed input. */
export function parseSignedRequest(v: CborValue, path: string): SignedRequest {
  const m = asMap(v, path, ['request', 'sig'])
  return {
    request: asBytes(m.request as CborValue, `${path}.request`, undefined, REQUEST_BYTES_MAX),
    sig: asBytes(m.sig as CborValue, `${path}.sig`, 64),
  }
}

export function decodeSignedRequest(bytes: Uint8Array): SignedRequest {
  return parseSignedRequest(decode(bytes, { bytesMax: REQUEST_BYTES_MAX * 2 }), 'request')
}

/** Decode the inner request (throws on malformed) — does NOT check the signature. */
export function openRequest(s: SignedRequest): InductRequest {
  const m = asMap(decode(s.request, { bytesMax: REQUEST_BYTES_MAX }), 'request', ['net', 'key', 'name', 'expires'])
  return {
    net: asBytes(m.net as CborValue, 'request.net', 32),
    key: asBytes(m.key as CborValue, 'request.key', 32),
    name: asName(m.name as CborValue, 'request.name'),
    expires: asUint(m.expires as CborValue, 'request.expires'),
  }
}

export function requestSignatureValid(s: SignedRequest, r: InductRequest): boolean {
  return verify(r.key, TAG.inductRequest, s.request, s.sig)
}
