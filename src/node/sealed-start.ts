// Starting from a sealed checkpoint (DESIGN.md §3.2: "A new node can start from one";
// docs/consensus.md "Starting from a sealed checkpoint"). A peer offers its newest sealed
// checkpoint with the audit proof of that epoch's epoch.seal leaf (the member chain from genesis,
// docs/audit.md), the log frontier at the checkpoint, and the state records at the epoch's end,
// paged; the epoch's last block and its finalization certificate come by the ordinary `blocks`
// request. A fresh node that trusts only its genesis verifies all of it here (pure functions), and
// the store adopts it in one synced batch. The server side reads a LedgerStore.

import { TrothError } from '../errors.ts'
import { AUDIT_STATUSES, parseAuditProof, proveEntry, verifyAuditProof, type AuditProof, type AuditStatus } from '../audit/index.ts'
import { decodeSealLeaf, type EpochSeal } from '../ledger/apply.ts'
import { blockHash, decodeBlock, type Block } from '../ledger/block.ts'
import { certFromCbor, certToCbor, checkCertificate, ValidatorSet, type Certificate } from '../ledger/consensus/messages.ts'
import { asArray, asBytes, asMap, asText, asUint, encode, type CborValue } from '../ledger/encoding.ts'
import { genesisState } from '../ledger/genesis.ts'
import { bytesEqual, HASH_BYTES } from '../ledger/hash.ts'
import { MESSAGE_BYTES_MAX } from '../ledger/limits.ts'
import { CompactRange } from '../ledger/merkle.ts'
import { META_KEY, metaRecord, stateFromRecords, stateRecords, stateRoot, validatorsHash, type LedgerState, type Validator } from '../ledger/state.ts'
import type { Adoption, LedgerStore } from '../ledger/store.ts'
import type { Checkpoint } from '../ledger/tlog.ts'
import { SYNC_BLOCKS_MAX, type SyncRequest } from './replica.ts'

/** The audit verdicts that have no meaning for a start: it proves an epoch.seal leaf, never a
 * snapshot. */
type AuditOnly = 'not-a-seal' | 'snapshot-mismatch'
/** What a start checks beyond the auditors' verifier (docs/consensus.md lists each). */
const START_STATUSES = ['not-the-seal', 'block-mismatch', 'bad-certificate', 'bad-frontier', 'bad-state', 'state-root-mismatch', 'validators-mismatch'] as const
export type SealedStartStatus = Exclude<AuditStatus, AuditOnly> | (typeof START_STATUSES)[number]
/** Why an offer was refused, in a stable order: the audit verifier's statuses for the checkpoint
 * and its member chain (AUDIT_STATUSES), then what a start adds. */
export const SEALED_START_STATUSES: readonly SealedStartStatus[] = [
  ...AUDIT_STATUSES.filter((x): x is Exclude<AuditStatus, AuditOnly> => x !== 'not-a-seal' && x !== 'snapshot-mismatch'),
  ...START_STATUSES,
]

/** The offer's audit proof must leave room in one sync answer (the RPC frame is about 4 MiB). */
export const SEALED_PROOF_BYTES_MAX = 3 * 1024 * 1024
/** One `state` answer: at most this many records and about this many bytes of them. */
export const STATE_PAGE_RECORDS_MAX = 20_000
export const STATE_PAGE_BYTES_MAX = 3 * 1024 * 1024
/** A whole state: bounds what a peer can make a starting node hold in memory. */
export const STATE_RECORDS_MAX = 4_000_000
export const STATE_BYTES_MAX = 1024 * 1024 * 1024
/** A record key (ASCII: a space and a MemberId, a snapshot root in hex, a duty). */
const RECORD_KEY_BYTES_MAX = 512
/** Peers asked for a sealed start before falling back to replay. */
export const SEALED_PEERS_MAX = 4
/** How long a starting node waits for its first peer. */
export const SEALED_WAIT_PEERS_MS = 10_000
/** Penalty points for an offer that does not verify: a peer that serves a forged checkpoint is
 * not slow, it lies (PENALTY_POINTS.malformed is the same). */
export const SEALED_PENALTY_POINTS = 25

/** What a peer offers: the head of a sealed start. Nothing in it is trusted until verifyOffer. */
export interface SealedOffer {
  /** The sealed epoch. */
  readonly epoch: number
  /** Its last block's height (the block comes by a `blocks` request from this height). */
  readonly height: number
  /** The audit proof (docs/audit.md) of the epoch's epoch.seal leaf, at index size − 1. */
  readonly proof: string
  /** The compact range of the log at the checkpoint's size (RFC 9162 subtree roots, left first). */
  readonly frontier: readonly Uint8Array[]
  /** How many state records the epoch's end has (meta excluded). */
  readonly records: number
}

export function offerToCbor(o: SealedOffer): CborValue {
  return { epoch: o.epoch, height: o.height, proof: o.proof, frontier: [...o.frontier], records: o.records }
}

/** Strict decoding of a `sealed` answer: `{ offer: null }` (nothing to offer) or the offer. */
export function offerFromAnswer(v: CborValue): SealedOffer | null {
  const m = asMap(v, 'res', ['offer'])
  if (m.offer === null) return null
  const o = asMap(m.offer, 'res.offer', ['epoch', 'height', 'proof', 'frontier', 'records'])
  const records = asUint(o.records, 'res.offer.records')
  if (records < 1 || records > STATE_RECORDS_MAX) throw new TrothError('schema.invalid', `res.offer.records: ${records} is not within 1..${STATE_RECORDS_MAX}`)
  return {
    epoch: asUint(o.epoch, 'res.offer.epoch'),
    height: asUint(o.height, 'res.offer.height'),
    proof: asText(o.proof, 'res.offer.proof', SEALED_PROOF_BYTES_MAX),
    frontier: asArray(o.frontier, 'res.offer.frontier', 64).map((h, i) => asBytes(h, `res.offer.frontier[${i}]`, HASH_BYTES)),
    records,
  }
}

/** Strict decoding of a `state` answer: a non-empty page of [key, value] records. */
export function pageFromAnswer(v: CborValue): Array<[string, CborValue]> {
  const list = asArray(asMap(v, 'res', ['records']).records, 'res.records', STATE_PAGE_RECORDS_MAX)
  if (list.length === 0) throw new TrothError('schema.invalid', 'res.records: an empty page')
  return list.map((r, i) => {
    const pair = asArray(r, `res.records[${i}]`, 2)
    if (pair.length !== 2) throw new TrothError('schema.invalid', `res.records[${i}]: a record is [key, value]`)
    return [asText(pair[0], `res.records[${i}][0]`, RECORD_KEY_BYTES_MAX), pair[1] as CborValue]
  })
}

/** The audit verdicts a proof without data can reach are statuses of ours too. */
function fromAudit(status: AuditStatus): Exclude<SealedStartStatus, 'ok'> {
  return status !== 'ok' && (SEALED_START_STATUSES as readonly string[]).includes(status) ? (status as Exclude<SealedStartStatus, 'ok'>) : 'malformed'
}

export type Verified<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly status: Exclude<SealedStartStatus, 'ok'>; readonly reason: string }

const refuse = (status: Exclude<SealedStartStatus, 'ok'>, reason: string): { ok: false; status: Exclude<SealedStartStatus, 'ok'>; reason: string } => ({ ok: false, status, reason })

/** An offer whose checkpoint, member chain, block, certificate and frontier all verified. */
export interface VerifiedOffer {
  readonly offer: SealedOffer
  readonly checkpoint: Checkpoint
  readonly note: string
  readonly proof: AuditProof
  readonly seal: EpochSeal
  readonly sealLeaf: Uint8Array
  /** The sealed epoch's validators, as the member chain from genesis gives them. */
  readonly members: readonly Validator[]
  readonly block: Block
  readonly cert: Certificate
}

/**
 * Step 1 of a sealed start, trusting only `genesis`: the offer's audit proof verifies from genesis
 * (its checkpoint cosigned by more than 2/3 of the epoch's weight, the member chain sound) and
 * proves the epoch's own epoch.seal leaf as the checkpoint's last leaf; the block is that epoch's
 * last, ends the log at the checkpoint's size and root, and is finalized by a quorum of the
 * epoch's validators; the frontier folds to the checkpoint's root.
 */
export function verifyOffer(genesis: Uint8Array, offer: SealedOffer, blockBytes: Uint8Array, cert: Certificate): Verified<VerifiedOffer> {
  const audit = verifyAuditProof(offer.proof, genesis)
  if (!audit.verdict.valid || audit.sealed === undefined) return refuse(fromAudit(audit.verdict.status), `the checkpoint's proof: ${audit.verdict.reason}`)
  const { checkpoint: cp, note, epoch, members } = audit.sealed
  const entry = audit.verdict.entry
  if (epoch !== offer.epoch || entry?.kind !== 'epoch.seal' || entry.epoch !== epoch || entry.index !== cp.size - 1) {
    return refuse('not-the-seal', `the proof must prove epoch ${offer.epoch}'s epoch.seal leaf as the last leaf of its checkpoint; it proves leaf ${entry?.index ?? '?'} (${entry?.kind ?? '?'}) in the checkpoint of epoch ${epoch} of size ${cp.size}`)
  }
  const proof = parseAuditProof(offer.proof) // verified above, so it parses
  const seal = decodeSealLeaf(proof.entry)
  let block: Block
  try {
    block = decodeBlock(blockBytes)
  } catch (err) {
    return refuse('malformed', `the epoch's last block does not decode: ${(err as Error).message}`)
  }
  if (block.epoch !== epoch || block.height !== offer.height || block.logSize !== cp.size || !bytesEqual(block.logRoot, cp.root)) {
    return refuse('block-mismatch', `block ${block.height} of epoch ${block.epoch} ends the log at size ${block.logSize}; the checkpoint of epoch ${epoch} is at size ${cp.size} with another root, or the offer named block ${offer.height}`)
  }
  if (cert.kind !== 'finalize' || !bytesEqual(cert.digest, blockHash(block))) return refuse('bad-certificate', `the certificate is not a finalization of block ${block.height}`)
  const certified = checkCertificate(genesisOf(genesis).meta.net, new ValidatorSet(epoch, members), cert)
  if (certified !== 'ok') return refuse('bad-certificate', `block ${block.height}'s finalization certificate does not verify under epoch ${epoch}'s validators (${certified})`)
  let frontierRoot: Uint8Array
  try {
    frontierRoot = CompactRange.from(cp.size, offer.frontier).root()
  } catch (err) {
    return refuse('bad-frontier', `the frontier does not fit a log of ${cp.size} leaves: ${(err as Error).message}`)
  }
  if (!bytesEqual(frontierRoot, cp.root)) return refuse('bad-frontier', `the frontier does not fold to the checkpoint's root (size ${cp.size})`)
  return { ok: true, value: { offer, checkpoint: cp, note, proof, seal, sealLeaf: proof.entry, members, block, cert } }
}

/**
 * Step 2: the state records at the epoch's end. Sorted, unique, without meta, exactly as many as
 * offered; they decode strictly; the state they make has the root the epoch.seal leaf names and
 * the validator set it names. Gives what the store adopts: the state with its chain position
 * rebuilt from the block and the frontier, and the indexes the member chain tells.
 */
export function verifyState(genesis: Uint8Array, v: VerifiedOffer, records: ReadonlyArray<[string, CborValue]>): Verified<Adoption> {
  if (records.length !== v.offer.records) return refuse('bad-state', `${records.length} state records came; ${v.offer.records} were offered`)
  let prev = ''
  for (const [key] of records) {
    if (key <= prev && prev !== '') return refuse('bad-state', `state records are not in strict key order at ${JSON.stringify(key.slice(0, 80))}`)
    if (key === META_KEY) return refuse('bad-state', 'the chain position (meta) is not part of the sealed state; a peer does not send it')
    prev = key
  }
  const g = genesisOf(genesis)
  const hash = blockHash(v.block)
  const meta = { ...g.meta, height: v.block.height, lastBlock: hash, lastTime: v.block.time, logSize: v.checkpoint.size, logFrontier: v.offer.frontier.map((h) => h.slice()) }
  let state: LedgerState
  try {
    // The next epoch's seed is the hash of the block that closed this one (DESIGN.md §4).
    state = stateFromRecords([...records, [META_KEY, metaRecord(meta, hash)]])
  } catch (err) {
    return refuse('bad-state', `the state records do not decode: ${(err as Error).message}`)
  }
  if (!bytesEqual(stateRoot(state), v.seal.stateRoot)) return refuse('state-root-mismatch', `the state records do not hash to the state root epoch ${v.offer.epoch}'s epoch.seal leaf names`)
  if (!bytesEqual(validatorsHash(state.epoch.validators), v.seal.validators)) return refuse('validators-mismatch', `the state's validator set is not the one epoch ${v.offer.epoch}'s epoch.seal leaf names`)
  if (state.epoch.number !== v.offer.epoch + 1 || state.epoch.startHeight !== v.block.height + 1) {
    return refuse('bad-state', `the state is of epoch ${state.epoch.number} from height ${state.epoch.startHeight}, not of epoch ${v.offer.epoch + 1} from ${v.block.height + 1}`)
  }
  // What the member chain tells about the epochs before: their sealed notes, where their
  // epoch.seal leaves are, and the sets that changed (so that proofs built later find them).
  const notes: Array<[number, string]> = []
  const seals: Array<[number, number]> = []
  const sets: Array<[number, readonly Validator[]]> = []
  for (const [i, step] of v.proof.chain.entries()) {
    const e = decodeSealLeaf(step.seal.leaf).epoch
    notes.push([e, i === v.proof.chain.length - 1 ? v.proof.checkpoint : (step.checkpoint as string)])
    seals.push([e, step.seal.index])
    if (step.prior !== null) seals.push([e - 1, step.prior.index])
    // The set this step's epoch had: named by the leaf sealing the epoch before (genesis for 0).
    const had = step.prior === null ? validatorsHash(g.epoch.validators) : decodeSealLeaf(step.prior.leaf).validators
    if (step.next !== null && !bytesEqual(validatorsHash(step.next), had)) sets.push([e + 1, step.next])
  }
  if (!sets.some(([e]) => e === v.offer.epoch + 1) && !bytesEqual(v.seal.validators, validatorsHash(v.members))) sets.push([v.offer.epoch + 1, state.epoch.validators])
  return {
    ok: true,
    value: {
      base: { epoch: v.offer.epoch, height: v.block.height, logSize: v.checkpoint.size, logRoot: v.checkpoint.root, proof: v.offer.proof },
      state,
      block: v.block,
      cert: encode(certToCbor(v.cert)),
      sealLeaf: v.sealLeaf,
      sealPath: (v.proof.chain.at(-1) as AuditProof['chain'][number]).seal.proof,
      notes,
      seals,
      validators: sets,
    },
  }
}

// Decoding a genesis checks every founder key: once per genesis.
let anchor: { bytes: Uint8Array; state: LedgerState } | null = null
function genesisOf(genesis: Uint8Array): LedgerState {
  if (anchor === null || !bytesEqual(anchor.bytes, genesis)) anchor = { bytes: genesis.slice(), state: genesisState(genesis) }
  return anchor.state
}

// ---------------------------------------------------------------------------------------------
// Serving (any node that keeps the state of a recent epoch end).

/** A `sealed` answer: the newest epoch (or the one asked for) whose sealed note and end state this
 * store still holds, with its proof; `{ offer: null }` when there is none. */
export async function serveSealed(store: LedgerStore, epoch: number | null): Promise<CborValue> {
  for (const e of store.sealedEpochs()) {
    if (epoch !== null && e !== epoch) continue
    const state = store.sealedState(e) as LedgerState
    const index = await store.sealIndex(e)
    if (index === undefined || (await store.checkpoint(e)) === undefined || (await store.cert(state.meta.height)) === undefined) continue
    const proven = await proveEntry(store, { index })
    if (proven.epoch !== e || proven.text.length > SEALED_PROOF_BYTES_MAX) continue
    const records = stateRecords(state, false).length
    return { offer: offerToCbor({ epoch: e, height: state.meta.height, proof: proven.text, frontier: state.meta.logFrontier, records }) }
  }
  return { offer: null }
}

/** A `state` answer: the records of epoch `epoch`'s end from index `from`, as many as fit a page
 * (`pageRecordsMax` smaller than the default only in tests, to page a small state). */
export function serveState(store: LedgerStore, epoch: number, from: number, pageRecordsMax = STATE_PAGE_RECORDS_MAX): CborValue {
  const state = store.sealedState(epoch)
  if (state === undefined) throw new TrothError('input.not-found', `this node no longer keeps the state of epoch ${epoch}'s end; ask for a newer sealed checkpoint`)
  const all = stateRecords(state, false)
  if (from >= all.length) throw new TrothError('input.invalid', `epoch ${epoch}'s end has ${all.length} state records; none from ${from}`)
  const page: CborValue[] = []
  let bytes = 0
  for (let i = from; i < all.length && page.length < Math.min(pageRecordsMax, STATE_PAGE_RECORDS_MAX); i++) {
    const [k, v] = all[i] as [string, CborValue]
    const size = encode([k, v]).length
    if (page.length > 0 && bytes + size > STATE_PAGE_BYTES_MAX) break
    page.push([k, v])
    bytes += size
  }
  return { records: page }
}

// ---------------------------------------------------------------------------------------------
// Fetching (a fresh node, before its replica starts).

export interface SealedStartEnv {
  readonly genesis: Uint8Array
  /** Connected peers (MemberIds). */
  peers(): string[]
  /** One sync request to one peer; throws if it fails or the peer answers an error. */
  ask(peer: string, req: SyncRequest): Promise<CborValue>
  penalise(peer: string, reason: string, points: number): void
  log(event: string, fields?: Record<string, unknown>): void
  sleep(ms: number): Promise<void>
  now(): number
}

/** Asks up to SEALED_PEERS_MAX peers in turn for a sealed start; the first that verifies wins.
 * A peer whose answer does not verify is penalised and the next is asked; null when none had one
 * (the node then replays from genesis). */
export async function fetchSealedStart(env: SealedStartEnv): Promise<Adoption | null> {
  const deadline = env.now() + SEALED_WAIT_PEERS_MS
  while (env.peers().length === 0 && env.now() < deadline) await env.sleep(100)
  // Each try picks among the peers connected by then (more bootstrap peers connect meanwhile).
  const asked = new Set<string>()
  for (let i = 0; i < SEALED_PEERS_MAX; i++) {
    const fresh = env.peers().filter((p) => !asked.has(p))
    const peer = fresh[Math.floor(Math.random() * fresh.length)]
    if (peer === undefined) break
    asked.add(peer)
    const r = await fromPeer(env, peer)
    if (r === null) continue
    if (!r.ok) {
      env.penalise(peer, `sealed start: ${r.status}: ${r.reason}`, SEALED_PENALTY_POINTS)
      env.log('sealed.refused', { peer, status: r.status, reason: r.reason })
      continue
    }
    return r.value
  }
  return null
}

/** One peer's sealed start, verified; null when it has none or the exchange failed (not its lie). */
async function fromPeer(env: SealedStartEnv, peer: string): Promise<Verified<Adoption> | null> {
  let offer: SealedOffer | null
  try {
    offer = offerFromAnswer(await env.ask(peer, { t: 'sealed', epoch: null }))
  } catch (err) {
    if (err instanceof TrothError && err.code === 'schema.invalid') return refuse('malformed', `the offer: ${err.message}`)
    env.log('sealed.unavailable', { peer, error: (err as Error).message })
    return null
  }
  if (offer === null) {
    env.log('sealed.none', { peer })
    return null
  }
  env.log('sealed.offered', { peer, epoch: offer.epoch, height: offer.height, records: offer.records })
  // The epoch's last block with its certificate: the ordinary sync answer from that height.
  let block: Uint8Array
  let cert: Certificate
  try {
    const m = asMap(await env.ask(peer, { t: 'blocks', from: offer.height }), 'res', ['blocks', 'cert'])
    const blocks = asArray(m.blocks, 'res.blocks', SYNC_BLOCKS_MAX)
    if (blocks.length !== 1 || m.cert === null) return refuse('block-mismatch', `asked for block ${offer.height}, the epoch's last, with its certificate; got ${blocks.length} blocks${m.cert === null ? ' and no certificate' : ''}`)
    block = asBytes(blocks[0], 'res.blocks[0]', undefined, MESSAGE_BYTES_MAX)
    cert = certFromCbor(m.cert as CborValue, 'res.cert')
  } catch (err) {
    if (err instanceof TrothError && err.code === 'schema.invalid') return refuse('malformed', `the block answer: ${err.message}`)
    env.log('sealed.unavailable', { peer, error: (err as Error).message })
    return null
  }
  const v = verifyOffer(env.genesis, offer, block, cert)
  if (!v.ok) return v
  const records: Array<[string, CborValue]> = []
  let bytes = 0
  while (records.length < offer.records) {
    let page: Array<[string, CborValue]>
    try {
      page = pageFromAnswer(await env.ask(peer, { t: 'state', epoch: offer.epoch, from: records.length }))
    } catch (err) {
      if (err instanceof TrothError && err.code === 'schema.invalid') return refuse('malformed', `a state page: ${err.message}`)
      env.log('sealed.unavailable', { peer, error: (err as Error).message })
      return null
    }
    for (const r of page) bytes += encode(r[1]).length + r[0].length
    if (records.length + page.length > offer.records || bytes > STATE_BYTES_MAX) return refuse('bad-state', `more state than offered (${offer.records} records, at most ${STATE_BYTES_MAX} bytes)`)
    records.push(...page)
  }
  return verifyState(env.genesis, v.value, records)
}
