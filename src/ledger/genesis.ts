// Genesis (DESIGN.md §3, §6): the founding document. Its canonical CBOR is leaf 0 of the log and
// its SHA-256 is the network id `net` that every entry names. Founders are given by key (and an
// optional founding request proving they hold it); policy overrides are checked against ranges.

import { TrothError } from '../errors.ts'
import { formatMemberId } from '../identity/member-id.ts'
import { memberKeyAcceptable } from '../identity/key-check.ts'
import { asArray, asBytes, asMap, asText, asUint, decode, encode, type CborValue } from './encoding.ts'
import { sha256, bytesEqual, toHex } from './hash.ts'
import { asName, nameProblem } from './names.ts'
import { CompactRange, leafHash } from './merkle.ts'
import { GENESIS_BYTES_MAX, GENESIS_FOUNDERS_MAX, NAME_BYTES_MAX, STANDING_MAX, STANDING_PRIOR_EVENTS, WEIGHT_FULL } from './limits.ts'
import { FOUNDING_NET, openRequest, parseSignedRequest, requestSignatureValid, signedRequestToCbor, type SignedRequest } from './request.ts'
import { PARAM_NAMES, genesisPolicy, type ParamName, type PolicyValues } from './policy.ts'
import type { EpochState, LedgerState, Member, MemberId, PolicyParamState, Validator } from './state.ts'

export const GENESIS_VERSION = 1

export interface Founder {
  readonly key: Uint8Array
  readonly name: string
  readonly request: SignedRequest | null
}

export interface Genesis {
  readonly version: number
  readonly name: string
  /** Unix ms. Blocks must not be older. */
  readonly time: number
  readonly founders: readonly Founder[]
  /** Only the parameters the founders set; the rest are defaults. */
  readonly policy: Readonly<Record<string, number>>
}

export function genesisToCbor(g: Genesis): CborValue {
  return {
    version: g.version,
    name: g.name,
    time: g.time,
    founders: g.founders.map((f) => ({ key: f.key, name: f.name, request: f.request === null ? null : signedRequestToCbor(f.request) })),
    policy: { ...g.policy },
  }
}

export function encodeGenesis(g: Genesis): Uint8Array {
  return encode(genesisToCbor(g))
}

export function genesisHash(bytes: Uint8Array): Uint8Array {
  return sha256(bytes)
}

/** The log's C2SP checkpoint origin (DESIGN.md §3.2): `troth/<network name>/<net hex>`. */
export function ledgerOrigin(name: string, net: Uint8Array): string {
  return `troth/${name}/${toHex(net)}`
}

function invalid(msg: string): TrothError {
  return new TrothError('genesis.invalid', msg)
}

/** Check a genesis completely: structure, names, unique founders, founding requests, policy. */
export function validateGenesis(g: Genesis): PolicyValues {
  if (g.version !== GENESIS_VERSION) throw invalid(`unsupported genesis version ${g.version}`)
  if (g.name.length === 0 || !/^[A-Za-z0-9._-]+$/.test(g.name)) throw invalid(`network name "${g.name}" must be non-empty and use only A-Z a-z 0-9 . _ -`)
  if (g.founders.length === 0) throw invalid('a genesis needs at least one founder')
  if (g.founders.length > GENESIS_FOUNDERS_MAX) throw invalid(`at most ${GENESIS_FOUNDERS_MAX} founders`)
  const seen = new Set<string>()
  for (const [i, f] of g.founders.entries()) {
    const id = formatMemberId(f.key)
    const bad = nameProblem(f.name)
    if (bad !== null) throw invalid(`founder ${id}: name ${bad}`)
    if (!memberKeyAcceptable(f.key)) throw invalid(`founder ${id} has a key that is not a canonical prime-order point`)
    if (seen.has(id)) throw invalid(`founder ${id} is listed twice`)
    seen.add(id)
    if (f.request !== null) {
      const r = openRequest(f.request)
      if (!bytesEqual(r.key, f.key)) throw invalid(`founders[${i}]: request is for another key`)
      if (!bytesEqual(r.net, FOUNDING_NET)) throw invalid(`founders[${i}]: request names a network; a founding request must not`)
      if (!requestSignatureValid(f.request, r)) throw invalid(`founders[${i}]: request signature does not verify`)
      if (r.name !== f.name) throw invalid(`founders[${i}]: name differs from the request's`)
    }
  }
  return genesisPolicy(g.policy)
}

export function parseGenesis(v: CborValue): Genesis {
  const m = asMap(v, 'genesis', ['version', 'name', 'time', 'founders', 'policy'])
  const founders = asArray(m.founders as CborValue, 'genesis.founders', GENESIS_FOUNDERS_MAX).map((x, i) => {
    const f = asMap(x, `genesis.founders[${i}]`, ['key', 'name', 'request'])
    return {
      key: asBytes(f.key as CborValue, `genesis.founders[${i}].key`, 32),
      name: asName(f.name as CborValue, `genesis.founders[${i}].name`),
      request: f.request === null ? null : parseSignedRequest(f.request as CborValue, `genesis.founders[${i}].request`),
    }
  })
  const pm = asMap(m.policy as CborValue, 'genesis.policy', [], PARAM_NAMES)
  const policy: Record<string, number> = {}
  for (const [k, val] of Object.entries(pm)) policy[k] = asUint(val, `genesis.policy.${k}`)
  return {
    version: asUint(m.version as CborValue, 'genesis.version'),
    name: asText(m.name as CborValue, 'genesis.name', NAME_BYTES_MAX),
    time: asUint(m.time as CborValue, 'genesis.time'),
    founders,
    policy,
  }
}

/** Strictly decode and validate genesis bytes. Errors are TrothErrors naming the problem. */
export function decodeGenesis(bytes: Uint8Array): { genesis: Genesis; net: Uint8Array } {
  const genesis = parseGenesis(decode(bytes, { bytesMax: GENESIS_BYTES_MAX }))
  validateGenesis(genesis)
  return { genesis, net: genesisHash(bytes) }
}

export function founderMember(f: Founder): Member {
  return {
    key: f.key,
    name: f.name,
    joinedEpoch: 0,
    sponsors: [],
    status: 'active',
    weight: WEIGHT_FULL,
    seq: 0,
    standing: { score: STANDING_MAX, strikes: 0, dutiesDone: 0, dutiesMissed: 0, alpha: STANDING_PRIOR_EVENTS * 1000, beta: 0, history: [] },
    addrs: [],
    pendingLeave: false,
    pendingKey: null,
    exileReason: '',
  }
}

export function validatorSet(members: ReadonlyMap<MemberId, Member>): { validators: Validator[]; totalWeight: number } {
  const validators: Validator[] = []
  let totalWeight = 0
  for (const id of [...members.keys()].sort()) {
    const m = members.get(id) as Member
    if (m.status !== 'active' || m.weight <= 0) continue
    validators.push({ id, key: m.key, weight: m.weight })
    totalWeight += m.weight
  }
  return { validators, totalWeight }
}

/** The state before the first block: founders active at full weight, epoch 0 starting at height
 * 1, the log holding one leaf (the genesis document). */
export function genesisState(bytes: Uint8Array): LedgerState {
  const { genesis, net } = decodeGenesis(bytes)
  const values = genesisPolicy(genesis.policy)
  const members = new Map<MemberId, Member>()
  for (const f of genesis.founders) members.set(formatMemberId(f.key), founderMember(f))
  const policy = new Map<ParamName, PolicyParamState>()
  for (const p of PARAM_NAMES) policy.set(p, { genesis: values[p], effective: values[p], votes: new Map() })
  const { validators, totalWeight } = validatorSet(members)
  const epoch: EpochState = { number: 0, startHeight: 1, length: values.epochBlocks, seed: net, validators, totalWeight }
  const log = new CompactRange()
  log.append(leafHash(bytes))
  return {
    meta: {
      net,
      name: genesis.name,
      genesisTime: genesis.time,
      height: 0,
      lastBlock: net,
      lastTime: genesis.time,
      logSize: log.size,
      logFrontier: log.frontier(),
    },
    epoch,
    members,
    inductions: new Map(),
    exiles: new Map(),
    recoveries: new Map(),
    snapshots: new Map(),
    policy,
    reports: new Map(),
  }
}
