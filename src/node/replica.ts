// A replica: one member's consensus participation, independent of how bytes travel or where
// they are stored (DESIGN.md §4, §8). It owns the epoch engine, the mempool, the vote WAL, the
// finalized ledger, catch-up sync, evidence and checkpoint cosigning. The simulation (test/sim)
// and the daemon (src/node/daemon.ts) run this same code with different environments.

import { TrothError } from '../errors.ts'
import { formatMemberId, parseMemberId } from '../identity/member-id.ts'
import { applyBlock, buildBlock, checkEntry, ENTRY_STATUSES, type Applied } from '../ledger/apply.ts'
import { blockHash, decodeBlock, type Block } from '../ledger/block.ts'
import { asArray, asBytes, asMap, asText, asUint, decode, encode, type CborValue } from '../ledger/encoding.ts'
import { decodeSignedEntry, encodeSignedEntry, signEntry } from '../ledger/entry.ts'
import { bytesEqual, fromHex, sha256, toHex } from '../ledger/hash.ts'
import { ENTRY_BYTES_MAX, MESSAGE_BYTES_MAX } from '../ledger/limits.ts'
import { consistencyProof, verifyConsistency, type NodeReader } from '../ledger/merkle.ts'
import type { LedgerState, Validator } from '../ledger/state.ts'
import { ledgerOrigin } from '../ledger/genesis.ts'
import { cosign, formatCheckpoint, formatNote, keyId, parseNote, SIG_TYPE_COSIGNATURE_V1, verifyCosignature, type NoteSignature } from '../ledger/tlog.ts'
import { EpochEngine, type Action, type ConsensusMessage, type Timing } from '../ledger/consensus/engine.ts'
import { certFromCbor, certToCbor, checkCertificate, ValidatorSet, voteFromCbor, voteToCbor, type Certificate, type Vote } from '../ledger/consensus/messages.ts'

export const MEMPOOL_ENTRIES_MAX = 10_000
export const RECENT_BLOCKS_MAX = 256
/** A leader whose parent is not ready yet looks again this often. */
export const PROPOSE_RETRY_MS = 5
/** Own entries go to the leaders of this many views from the current one (routeOwn). */
export const OWN_ENTRY_LEADERS = 3
/** An own entry not final after this many leader timeouts goes to every peer. */
export const OWN_ENTRY_ALL_AFTER_LEADER_TIMEOUTS = 4
/** An unsealed checkpoint is fetched from peers this long after our epoch ended, a few times. */
export const CHECKPOINT_FETCH_AFTER_MS = 2_000
export const CHECKPOINT_FETCH_TRIES = 5
/** Peers asked, one after another, in each try. */
export const CHECKPOINT_FETCH_PEERS = 3
/** An epoch's checkpoint is cosigned COSIGN_AFTER_DELTAS · Δ after the epoch ended, each
 * validator later by its place in the list, the places spread over at most COSIGN_SPREAD_DELTAS · Δ
 * (cosignDelay). */
export const COSIGN_AFTER_DELTAS = 2
export const COSIGN_SPREAD_DELTAS = 4
export const FUTURE_MESSAGES_MAX = 1_000
export const SYNC_BLOCKS_MAX = 256
/** A sync response holds at least one block of up to 4 MiB and stays under the RPC frame ceiling. */
export const SYNC_RESPONSE_BYTES_MAX = 4 * 1024 * 1024 + 32 * 1024
export const CERT_VIEWS_MAX = 64
/** Entries from one author may run this far ahead of its finalized seq in the mempool. */
export const MEMPOOL_SEQ_AHEAD_MAX = 64
/** Own entries whose fate the node remembers for the CLI (oldest forgotten first). */
export const OUTCOMES_MAX = 10_000

/**
 * The run of finalized blocks a sync response carries from `from`: as many as fit (at most
 * SYNC_BLOCKS_MAX, SYNC_RESPONSE_BYTES_MAX in all), within one epoch (the certificate must verify
 * under that epoch's validators), ending at the last one that carries its finalization
 * certificate (`top`; -1 when none does, and then no blocks).
 */
export async function syncRun(
  ledger: { readonly state: LedgerState; blockBytes(h: number): Promise<Uint8Array | undefined>; certifiedHeights(from: number, count: number): Promise<number[]> },
  from: number,
): Promise<{ blocks: Uint8Array[]; top: number }> {
  const head = ledger.state.meta.height
  const certified = new Set(await ledger.certifiedHeights(from, SYNC_BLOCKS_MAX))
  const blocks: Uint8Array[] = []
  let bytes = 0
  let top = -1
  let upTo = 0
  let epoch = -1
  for (let h = from; h < from + SYNC_BLOCKS_MAX && h <= head; h++) {
    const b = await ledger.blockBytes(h)
    if (b === undefined || bytes + b.length > SYNC_RESPONSE_BYTES_MAX) break
    const e = decodeBlock(b).epoch
    if (epoch >= 0 && e !== epoch) break
    epoch = e
    blocks.push(b)
    bytes += b.length
    if (certified.has(h)) {
      top = h
      upTo = blocks.length
    }
  }
  blocks.length = top < 0 ? 0 : upTo
  return { blocks, top }
}

/** The fate of an own entry: waiting, in a finalized block, or dropped with the ledger's reason. */
export type EntryOutcome =
  | { readonly state: 'pending' }
  | { readonly state: 'final'; readonly height: number }
  | { readonly state: 'dropped'; readonly status: string; readonly detail: string }
/** Refusals an honest peer causes by timing alone (its view is a block or an epoch away from
 * ours, or the entry was finalized meanwhile): dropped without a penalty. */
const TIMING_REFUSALS: ReadonlySet<string> = new Set(['duplicate', 'bad-seq', 'mempool-full', 'wrong-epoch', 'already-reported', 'not-assigned', 'no-such-snapshot'])

/** The finalized ledger a replica appends to (LedgerStore on disk; an in-memory one in sims). */
export interface FinalizedLedger {
  readonly state: LedgerState
  commitChain(chain: ReadonlyArray<{ block: Block; applied: Applied }>, cert: Uint8Array | null): Promise<void>
  blockBytes(height: number): Promise<Uint8Array | undefined>
  heightOf(digest: Uint8Array): Promise<number | undefined>
  cert(height: number): Promise<Uint8Array | undefined>
  certifiedHeights(height: number, span: number): Promise<number[]>
  putCheckpoint(epoch: number, note: string): Promise<void>
  checkpoint(epoch: number): Promise<string | undefined>
  latestCheckpoint(): Promise<[number, string] | undefined>
  /** The validators of `epoch` (any epoch up to the current one). */
  validatorsOf(epoch: number): Promise<Validator[]>
  readonly nodes: NodeReader
  /** Set when the ledger started from a sealed checkpoint and holds nothing below it. */
  readonly base?: { readonly epoch: number; readonly height: number; readonly logSize: number; readonly logRoot: Uint8Array } | null
}

/** A tree this node cosigned: the log's size and root. */
export interface CosignedTree {
  readonly size: number
  readonly root: Uint8Array
}

/** What the node signed, durable before it leaves the node (DESIGN.md §4: persist before
 * sending): its votes, and the last checkpoint tree it cosigned (the tlog-witness rule, "cosign
 * only a tree that extends the last one", must hold across restarts too). */
export interface Wal {
  append(vote: Vote): Promise<void>
  load(): Promise<Vote[]>
  /** Drop votes of epochs before `epoch` (they can never be needed again). */
  prune(epoch: number): Promise<void>
  /** The last tree saved with saveCosigned, or null if none ever was. */
  cosigned(): Promise<CosignedTree | null>
  /** Durable when the promise resolves; replaces the one saved before. */
  saveCosigned(tree: CosignedTree): Promise<void>
}

export type SyncRequest =
  | { readonly t: 'blocks'; readonly from: number }
  | { readonly t: 'block'; readonly digest: Uint8Array }
  | { readonly t: 'certs'; readonly epoch: number; readonly views: readonly number[] }
  | { readonly t: 'checkpoint'; readonly epoch: number }
  /** A sealed start (src/node/sealed-start.ts): the newest offer, or the one of `epoch`. */
  | { readonly t: 'sealed'; readonly epoch: number | null }
  /** A page of the state records at `epoch`'s end, from record index `from`. */
  | { readonly t: 'state'; readonly epoch: number; readonly from: number }

export interface ReplicaEnv {
  now(): number
  /** Call replica.onTimer(at) at (or soon after) `at`. */
  wake(at: number): void
  /** Send to every peer (directly, and by gossip to those out of reach), except the members in
   * `except`; or, with `to`, only to those members (by gossip if out of reach). */
  broadcast(payload: Uint8Array, except?: ReadonlySet<string>, to?: readonly string[]): void
  /** Send an own entry to every peer, or with `to` only to those members (by gossip if out of
   * reach). */
  gossipEntry(wire: Uint8Array, to?: readonly string[]): void
  /** Ask a peer (the environment picks one, optionally a preferred member); null if none answered. */
  request(req: SyncRequest, prefer?: string): Promise<CborValue | null>
  /** A peer sent something invalid. */
  penalise(from: string, reason: string): void
  log(event: string, fields?: Record<string, unknown>): void
  /** Whether a member can be reached now (EngineConfig.reachable); absent: every one can. */
  reachable?(member: string): boolean
}

export interface ReplicaConfig {
  readonly me: { readonly id: string; readonly seed: Uint8Array } | null
  readonly ledger: FinalizedLedger
  readonly wal: Wal
  readonly env: ReplicaEnv
  readonly timing: Timing
  /** A leader with nothing to propose waits this long, then proposes an empty block. */
  readonly idleMs: number
  /** A leader with waiting entries waits this long for more before proposing. */
  readonly collectMs: number
  /** How votes travel (EngineConfig.relay). 'auto' (default): all to all in an epoch of at
   * most RELAY_ALL_MAX_VALIDATORS validators, through a collector above. */
  readonly relay?: 'all' | 'collector' | 'auto'
  /** Test-only misbehaviour (never set by peers): see test/sim. */
  readonly fault?: { readonly skipProposals?: boolean }
}

/**
 * Up to this many validators, votes go all to all; above, through a collector (docs/consensus.md
 * "Votes through a collector"). All to all costs 2n(n − 1) vote frames a view, the collector
 * about 4(n − 1), but two hops more to finality. With few validators the frames are cheap and
 * the hops are what a member waits for (tens of milliseconds each between home servers); on one
 * 2-core machine the collector won from 8 nodes up and lost at 4 (p99 50–62 ms against 26–31).
 * Every node derives the mode from the epoch's validator set, so all agree on it (and a node
 * that did not would still be safe and live, through the fallback).
 */
export const RELAY_ALL_MAX_VALIDATORS = 8

export function relayFor(relay: 'all' | 'collector' | 'auto', validators: number): 'all' | 'collector' {
  return relay !== 'auto' ? relay : validators <= RELAY_ALL_MAX_VALIDATORS ? 'all' : 'collector'
}

export function encodeConsensus(msg: ConsensusMessage | CosigMessage): Uint8Array {
  switch (msg.t) {
    case 'proposal': return encode({ t: 'proposal', vote: voteToCbor(msg.vote), block: msg.block })
    case 'vote': return encode({ t: 'vote', vote: voteToCbor(msg.vote) })
    case 'cert': return encode({ t: 'cert', cert: certToCbor(msg.cert) })
    case 'cosig': return encode({ t: 'cosig', epoch: msg.epoch, name: msg.sig.name, keyId: msg.sig.keyId, sig: msg.sig.signature })
  }
}

export interface CosigMessage {
  readonly t: 'cosig'
  readonly epoch: number
  readonly sig: NoteSignature
}

/** Strictly decode a consensus-topic payload; throws TrothError. */
export function decodeConsensus(bytes: Uint8Array): ConsensusMessage | CosigMessage {
  const v = decode(bytes, { bytesMax: MESSAGE_BYTES_MAX })
  const t = asMap(v, 'msg', ['t'], ['vote', 'block', 'cert', 'epoch', 'name', 'keyId', 'sig']).t
  switch (t) {
    case 'proposal': {
      const m = asMap(v, 'msg', ['t', 'vote', 'block'])
      return { t, vote: voteFromCbor(m.vote, 'msg.vote'), block: asBytes(m.block, 'msg.block', undefined, MESSAGE_BYTES_MAX) }
    }
    case 'vote': return { t, vote: voteFromCbor(asMap(v, 'msg', ['t', 'vote']).vote, 'msg.vote') }
    case 'cert': return { t, cert: certFromCbor(asMap(v, 'msg', ['t', 'cert']).cert, 'msg.cert') }
    case 'cosig': {
      const m = asMap(v, 'msg', ['t', 'epoch', 'name', 'keyId', 'sig'])
      return { t, epoch: asUint(m.epoch, 'msg.epoch'), sig: { name: asText(m.name, 'msg.name', 128), keyId: asBytes(m.keyId, 'msg.keyId', 4), signature: asBytes(m.sig, 'msg.sig', 72) } }
    }
    default: throw new TrothError('schema.invalid', `msg.t: unknown message type ${JSON.stringify(t)}`)
  }
}

export function checkpointOrigin(state: LedgerState): string {
  return ledgerOrigin(state.meta.name, state.meta.net)
}

/**
 * How long after an epoch's end this node cosigns its checkpoint. At once, every validator sent
 * its cosignature to every other in the same few milliseconds, and each checked them: n² frames
 * and about 2n²/3 signature checks on top of the next epoch's first view, whose block already
 * carries the entries that waited out the epoch change (at 16 nodes on two cores that view took
 * 57-128 ms from proposal to finality instead of 30-60). So the cosignatures wait out the first views (2Δ) and leave one
 * validator after the other (by place in the list, at most Δ/4 apart and 4Δ in all). The
 * checkpoint is sealed a few hundred milliseconds later; nothing waits for it.
 */
export function cosignDelay(timing: Timing, set: ValidatorSet | null, me: string | undefined): number {
  const delta = Math.max(0, timing.advanceMs - timing.leaderMs)
  const n = set?.list.length ?? 0
  const rank = me === undefined || set === null ? 0 : Math.max(0, set.list.findIndex((v) => v.id === me))
  const step = n === 0 ? 0 : Math.min(delta / 4, (COSIGN_SPREAD_DELTAS * delta) / n)
  return Math.round(COSIGN_AFTER_DELTAS * delta + rank * step)
}

export class Replica {
  readonly cfg: ReplicaConfig
  private engine: EpochEngine | null = null
  private mempool = new Map<string, { wire: Uint8Array; author: string; seq: number; at: number }>()
  private future: Array<{ bytes: Uint8Array; from: string }> = []
  private queue: Promise<void> = Promise.resolve()
  private proposeAt = Infinity
  /** When we became leader of the current view (the 'lead' action): an empty block waits idleMs from then. */
  private leadSince = 0
  private wakes = new Set<number>()
  private syncing = false
  /** Durable commits, in order; and the head they will reach (ahead of the store meanwhile). */
  private commits: Promise<void> = Promise.resolve()
  /** Checkpoint cosigning, epoch after epoch, beside the queue (nextEpoch). Never rejects. */
  private cosigning: Promise<void> = Promise.resolve()
  /** Checkpoints to cosign once their time has come (cosignDelay), oldest first. */
  private cosignDue: Array<{ at: number; run: () => Promise<void> }> = []
  private headHeight = -1
  private headHash: Uint8Array = new Uint8Array(0)
  private fetchingCerts = false
  private stopped = false
  /** Cosignatures collected per epoch, until sealed. */
  /** `checked`: the names whose cosignature in `sigs` was verified against `body` already. */
  private cosigs = new Map<number, { body: string; set: ValidatorSet; sigs: Map<string, NoteSignature>; checked: Set<string>; sealed: boolean }>()
  private lastCosigned: CosignedTree | null = null
  /** Epochs whose checkpoint we have not sealed locally yet: ask peers for it when due. */
  private checkpointDue = new Map<number, { at: number; tries: number; set: ValidatorSet; body: string }>()
  /** Own submitted entries waiting for finality (for latency figures). */
  private submittedAt = new Map<string, number>()
  private readonly outcomes = new Map<string, EntryOutcome>()
  readonly finality: number[] = []
  /** The same, for the entries of an epoch's last block and of the next epoch's first two: what
   * an epoch change adds (bench figures). */
  readonly finalityEpochChange: number[] = []
  /** The last finalized blocks (height, hash, log size and root after it), newest last. */
  readonly recent: Array<{ height: number; hash: string; logSize: number; logRoot: string }> = []
  private nextSeq = 0
  /** Own entries not final yet, and the members each went to (routeOwn; docs/consensus.md "Network"). */
  private own = new Map<string, { wire: Uint8Array; at: number; sentTo: Set<string>; toAll: boolean }>()
  /** The view (epoch/view) own entries were last routed for. */
  private routedFor = ''

  constructor(cfg: ReplicaConfig) {
    this.cfg = cfg
  }

  get ledger(): FinalizedLedger {
    return this.cfg.ledger
  }
  get currentEngine(): EpochEngine | null {
    return this.engine
  }
  get mempoolSize(): number {
    return this.mempool.size
  }
  debug(): Record<string, unknown> {
    return { engine: this.engine?.debug() ?? null, proposeAt: this.proposeAt, wakes: [...this.wakes].slice(0, 8), syncing: this.syncing, now: this.cfg.env.now() }
  }

  /** Work that runs beside the queue (fetches, sync): its failure is logged, never thrown into
   * the void (an unhandled rejection would end the process); once stopped, it is expected. */
  private background(what: string, p: Promise<unknown>): void {
    p.catch((err: unknown) => {
      if (!this.stopped) this.cfg.env.log('replica.background-error', { what, error: (err as Error).message })
    })
  }

  /** Serialize every input: the engine sees one event at a time, actions run in order. */
  private run(fn: () => Promise<void> | void, evenStopped = false): Promise<void> {
    const next = this.queue.then(async () => {
      if (this.stopped && !evenStopped) return
      await fn()
      if (!this.stopped && this.own.size > 0) this.routeOwn(false)
    })
    this.queue = next.catch((err: unknown) => {
      this.cfg.env.log('replica.error', { error: (err as Error).message, stack: (err as Error).stack })
    })
    return this.queue
  }

  start(): Promise<void> {
    return this.run(async () => {
      // The next checkpoint we cosign must extend the last tree we cosigned (saved beside the
      // WAL), or the sealed checkpoint the ledger started from (the frontier stored with it gives
      // the consistency proof), whichever is larger.
      const base = this.cfg.ledger.base ?? null
      const saved = await this.cfg.wal.cosigned()
      const candidates = [this.lastCosigned, saved, base === null ? null : { size: base.logSize, root: base.logRoot }]
      for (const c of candidates) if (c !== null && (this.lastCosigned === null || c.size > this.lastCosigned.size)) this.lastCosigned = c
      const votes = await this.cfg.wal.load()
      await this.startEngine(votes)
      await this.resumeCheckpoint().catch((err: unknown) => this.cfg.env.log('replica.background-error', { what: 'checkpoint.resume', error: (err as Error).message }))
    })
  }

  /**
   * The last epoch's checkpoint is not sealed here: the node stopped or crashed before it was
   * (its cosignature waits cosignDelay after the epoch's end). Cosign it again, as at the epoch's
   * end (a second cosignature of the same tree is no conflict); if it is not sealed soon after,
   * it is fetched from peers, as always.
   */
  private async resumeCheckpoint(): Promise<void> {
    const state = this.cfg.ledger.state
    const closed = state.epoch.number - 1
    const height = state.epoch.startHeight - 1
    if (closed < 0 || height < 1 || (this.cfg.ledger.base?.height ?? 0) > height) return
    if ((await this.cfg.ledger.checkpoint(closed)) !== undefined) return
    const bytes = await this.cfg.ledger.blockBytes(height)
    if (bytes === undefined) return
    const set = new ValidatorSet(closed, await this.cfg.ledger.validatorsOf(closed))
    const end = { height, logSize: decodeBlock(bytes).logSize }
    this.cfg.env.log('checkpoint.resume', { epoch: closed })
    this.scheduleCosign(closed, set, end)
  }

  /** As a crash leaves it (the simulation's crash): no more input, and nothing flushed. */
  halt(): void {
    this.stopped = true
  }

  /** No input is taken from now on. Resolves once what is in flight has landed: the queue, the
   * commits, and the checkpoint cosignings (those not due yet are done now). Queued as work
   * that runs even once stopped (other work is skipped from now on). */
  stop(): Promise<void> {
    this.stopped = true
    return this.run(async () => {
      await this.commits
      this.cosignDueNow(this.cfg.env.now(), true)
      await this.cosigning
    }, true)
  }

  /** (Re)create the engine for the ledger's current epoch, starting at its last finalized block. */
  private async startEngine(walVotes: readonly Vote[]): Promise<void> {
    await this.commits
    const state = this.cfg.ledger.state
    this.headHeight = state.meta.height
    this.headHash = state.meta.lastBlock
    const set = new ValidatorSet(state.epoch.number, state.epoch.validators)
    let view = 0
    if (state.meta.height >= state.epoch.startHeight) {
      const certBytes = await this.cfg.ledger.cert(state.meta.height)
      if (certBytes !== undefined) view = certFromCbor(decode(certBytes, { bytesMax: MESSAGE_BYTES_MAX })).view
    }
    const me = this.cfg.me !== null && set.get(this.cfg.me.id) !== undefined ? this.cfg.me : null
    this.engine = new EpochEngine({
      net: state.meta.net,
      validators: set,
      seed: state.epoch.seed,
      genesis: { digest: state.meta.lastBlock, state, view },
      boundaryHeight: state.epoch.startHeight + state.epoch.length - 1,
      me,
      timing: this.cfg.timing,
      relay: relayFor(this.cfg.relay ?? 'auto', set.list.length),
      ...(this.cfg.env.reachable !== undefined ? { reachable: (member: string) => this.cfg.env.reachable?.(member) ?? true } : {}),
    })
    this.proposeAt = Infinity
    this.cfg.env.log('epoch.start', { epoch: state.epoch.number, height: state.meta.height, view, validator: me !== null })
    await this.perform(this.engine.start(this.cfg.env.now(), walVotes.filter((v) => v.epoch === state.epoch.number)))
    // Messages for this epoch that arrived early.
    const early = this.future
    this.future = []
    for (const m of early) await this.handleConsensus(m.bytes, m.from)
  }

  // -------------------------------------------------------------------------------------------
  // Inputs from the network and the local control API.

  onConsensus(bytes: Uint8Array, from: string): Promise<void> {
    return this.run(() => this.handleConsensus(bytes, from))
  }

  private async handleConsensus(bytes: Uint8Array, from: string): Promise<void> {
    let msg: ConsensusMessage | CosigMessage
    try {
      msg = decodeConsensus(bytes)
    } catch (err) {
      this.cfg.env.penalise(from, `malformed consensus message: ${(err as Error).message}`)
      return
    }
    if (msg.t === 'cosig') return this.onCosig(msg, from)
    const engine = this.engine
    if (engine === null) return
    const epoch = msg.t === 'cert' ? msg.cert.epoch : msg.vote.epoch
    if (epoch > engine.epoch) {
      // Peers are in a later epoch: keep a few of their messages and catch up.
      if (this.future.length < FUTURE_MESSAGES_MAX) this.future.push({ bytes, from })
      this.startCatchUp()
      return
    }
    if (epoch < engine.epoch) return
    const { verdict, actions } = engine.onMessage(this.cfg.env.now(), msg, from)
    if (verdict === 'bad') this.cfg.env.penalise(from, `invalid ${msg.t}`)
    await this.perform(actions)
  }

  onEntry(wire: Uint8Array, from: string): Promise<void> {
    return this.run(() => {
      const v = this.admit(wire)
      if (v !== 'ok' && !TIMING_REFUSALS.has(v)) this.cfg.env.penalise(from, `entry refused: ${v}`)
    })
  }

  /** Sign and submit an entry as this member, with the next free seq (inside the queue, so two
   * submissions never take the same seq). */
  submitOwn(body: Parameters<typeof signEntry>[1]['body']): Promise<{ status: string; detail: string; wire: Uint8Array }> {
    if (this.cfg.me === null) return Promise.reject(new TrothError('input.invalid', 'this node has no member key'))
    let out: { status: string; detail: string; wire: Uint8Array } = { status: 'stopped', detail: 'the node is stopping', wire: new Uint8Array(0) }
    return this.run(() => {
      const wire = this.signOwn(body)
      const v = this.admitWithDetail(wire)
      if (v.status === 'ok') {
        this.sendOwn(wire)
        this.submittedAt.set(toHex(wire), this.cfg.env.now())
        this.noteOutcome(wire, { state: 'pending' })
      } else {
        // The seq it took is free again.
        this.revalidate(false)
      }
      out = { status: v.status, detail: v.detail, wire }
    }).then(() => out)
  }

  /** What became of an own entry submitted since the node started (by its entry hash, hex). */
  outcome(entryHash: string): EntryOutcome | undefined {
    return this.outcomes.get(entryHash)
  }

  private noteOutcome(wire: Uint8Array, o: EntryOutcome): void {
    const key = toHex(sha256(wire))
    this.outcomes.delete(key)
    this.outcomes.set(key, o)
    if (this.outcomes.size > OUTCOMES_MAX) this.outcomes.delete(this.outcomes.keys().next().value as string)
  }

  /** An own entry with the next seq free after the finalized one and those in the mempool. */
  private signOwn(body: Parameters<typeof signEntry>[1]['body']): Uint8Array {
    const me = this.cfg.me as { id: string; seed: Uint8Array }
    const state = this.cfg.ledger.state
    let seq = Math.max(state.members.get(me.id)?.seq ?? 0, this.nextSeq) + 1
    for (const e of this.mempool.values()) if (e.author === me.id && e.seq >= seq) seq = e.seq + 1
    this.nextSeq = seq
    return encodeSignedEntry(signEntry(me.seed, { net: state.meta.net, author: parseMemberId(me.id), seq, time: this.cfg.env.now(), body }))
  }

  /** admit(), with the ledger's sentence for a refusal the state machine gave. */
  private admitWithDetail(wire: Uint8Array): { status: string; detail: string } {
    const status = this.admit(wire)
    if (status === 'ok' || !(ENTRY_STATUSES as readonly string[]).includes(status)) return { status, detail: '' }
    return { status, detail: checkEntry(this.cfg.ledger.state, wire, this.cfg.env.now()).detail }
  }

  /** Mempool admission: decodable, for this net, by an active member, signed, seq in a window. */
  private admit(wire: Uint8Array): string {
    if (wire.length > ENTRY_BYTES_MAX) return 'too-large'
    const key = toHex(wire)
    if (this.mempool.has(key)) return 'duplicate'
    let s
    try {
      s = decodeSignedEntry(wire)
    } catch (err) {
      return `malformed: ${(err as Error).message}`
    }
    const state = this.cfg.ledger.state
    const author = formatMemberId(s.entry.author)
    const m = state.members.get(author)
    if (m === undefined || m.status !== 'active') return 'author-not-active'
    if (s.entry.seq <= m.seq) return 'bad-seq'
    if (s.entry.seq > m.seq + MEMPOOL_SEQ_AHEAD_MAX) return 'seq-too-far-ahead'
    if (s.entry.seq === m.seq + 1) {
      const v = checkEntry(state, wire, this.cfg.env.now())
      if (v.status !== 'ok') return v.status
    }
    if (this.mempool.size >= MEMPOOL_ENTRIES_MAX) return 'mempool-full'
    this.mempool.set(key, { wire, author, seq: s.entry.seq, at: this.cfg.env.now() })
    if (this.engine?.amLeader() && Number.isFinite(this.proposeAt)) this.scheduleProposal(this.cfg.env.now() + this.cfg.collectMs)
    return 'ok'
  }

  /** A wake-up asked for time `at` has come. Clocks may fire a timer a little early: the time
   * the engine sees is never before `at`, so a deadline is never missed and re-armed forever. */
  onTimer(at?: number): Promise<void> {
    return this.run(async () => {
      const now = Math.max(this.cfg.env.now(), at ?? 0)
      if (at !== undefined) this.wakes.delete(at)
      for (const w of [...this.wakes]) if (w <= now) this.wakes.delete(w)
      if (this.engine === null) return
      await this.perform(this.engine.onTimer(now))
      if (now >= this.proposeAt) await this.propose()
      this.cosignDueNow(now, false)
      for (const [epoch, due] of this.checkpointDue) {
        if (due.at > now) continue
        if (this.cosigs.get(epoch)?.sealed === true || due.tries >= CHECKPOINT_FETCH_TRIES) {
          this.checkpointDue.delete(epoch)
          continue
        }
        due.tries++
        this.cfg.env.log('checkpoint.fetching', { epoch, try: due.tries })
        due.at = now + CHECKPOINT_FETCH_AFTER_MS
        this.wake(due.at)
        this.background('checkpoint.fetch', this.fetchCheckpoint(epoch, due.set, due.body).then(async () => {
          if (!this.stopped && (await this.cfg.ledger.checkpoint(epoch)) !== undefined) this.checkpointDue.delete(epoch)
        }))
      }
    })
  }

  private wake(at: number): void {
    if (this.wakes.has(at)) return
    this.wakes.add(at)
    this.cfg.env.wake(at)
  }

  private scheduleProposal(at: number): void {
    if (at < this.proposeAt) {
      this.proposeAt = at
      this.wake(at)
    }
  }

  /** Whether the mempool holds an entry that `state` (the parent's) has not taken yet. Entries
   * stay in the mempool until final, so those in notarized ancestors do not count. */
  private hasFresh(state: LedgerState | undefined): boolean {
    if (state === undefined) return this.mempool.size > 0
    for (const e of this.mempool.values()) {
      const m = state.members.get(e.author)
      if (m === undefined || e.seq > m.seq) return true
    }
    return false
  }

  private async propose(): Promise<void> {
    const engine = this.engine
    if (engine === null || this.cfg.me === null) return
    this.proposeAt = Infinity
    if (this.cfg.fault?.skipProposals) return
    const blocker = engine.proposeBlocker()
    if (blocker !== null) {
      // The parent's certificate or block may still be on its way: look again shortly, for as
      // long as we lead this view and have not voted in it.
      if (blocker === 'no certified parent yet' || blocker === 'parent block not executed yet') {
        if (blocker === 'no certified parent yet' && !this.fetchingCerts) {
          const missing = engine.missingCertificates()
          if (missing.length > 0) {
            this.fetchingCerts = true
            this.background('certs.fetch', this.fetchCerts(missing).finally(() => {
              this.fetchingCerts = false
            }))
          }
        }
        if (blocker === 'parent block not executed yet') {
          const parent = engine.parentFor(engine.currentView)
          if (parent !== null) await this.perform(engine.fetchParent(parent.digest))
        }
        this.scheduleProposal(this.cfg.env.now() + PROPOSE_RETRY_MS)
      }
      return
    }
    const parent = engine.parentState() as { state: LedgerState; reproposal: boolean }
    const now = this.cfg.env.now()
    let block: Block | null = null
    if (!parent.reproposal) {
      const candidates = [...this.mempool.values()].sort((a, b) => (a.author === b.author ? a.seq - b.seq : a.at - b.at)).map((e) => e.wire)
      block = buildBlock(parent.state, { proposer: parseMemberId(this.cfg.me.id), time: Math.max(now, parent.state.meta.lastTime) }, candidates).block
    }
    // Nothing new (what the mempool holds may sit in blocks not final yet), or the epoch's last
    // block re-proposed (see 'lead'; the parent's state may not have been known then): either
    // costs every node two quorums of signature checks, so it waits idleMs like an idle leader.
    if ((block === null || block.entries.length === 0) && now < this.leadSince + this.cfg.idleMs) {
      this.scheduleProposal(this.leadSince + this.cfg.idleMs)
      return
    }
    await this.perform(engine.propose(now, block))
  }

  // -------------------------------------------------------------------------------------------
  // Actions.

  private async perform(actions: readonly Action[]): Promise<void> {
    for (const a of actions) {
      switch (a.type) {
        case 'persist':
          await this.cfg.wal.append(a.vote)
          break
        case 'broadcast':
          this.cfg.env.broadcast(encodeConsensus(a.msg), a.except, a.to)
          break
        case 'timer':
          this.wake(a.at)
          break
        case 'lead': {
          const now = this.cfg.env.now()
          const parent = this.engine?.parentState()
          // The epoch's last block, notarized in the view before, is finalized in that view
          // almost always (its FINALIZE votes are on their way): re-proposing it at once only
          // adds a round of votes to the busiest moment of an epoch. It is re-proposed when a
          // leader with nothing to propose would propose, if the epoch has not ended by then.
          this.leadSince = now
          this.scheduleProposal(now + (parent?.reproposal !== true && this.hasFresh(parent?.state) ? this.cfg.collectMs : this.cfg.idleMs))
          break
        }
        case 'finalize':
          await this.commitFinal(a.blocks, a.cert, a.endsEpoch)
          break
        case 'fetch-block':
          this.background('block.fetch', this.fetchBlock(a.digest))
          break
        case 'fetch-certs':
          this.background('certs.fetch', this.fetchCerts(a.views))
          break
        case 'evidence':
          this.cfg.env.log('evidence', { signer: a.a.signer, view: a.a.view, kinds: [a.a.kind, a.b.kind] })
          this.submitOwnNow({ kind: 'evidence', a: a.a, b: a.b })
          break
      }
    }
  }

  /** submitOwn from inside the queue (no re-entry into run()). */
  private submitOwnNow(body: Parameters<typeof signEntry>[1]['body']): void {
    if (this.cfg.me === null) return
    const wire = this.signOwn(body)
    if (this.admit(wire) === 'ok') this.sendOwn(wire)
  }

  /** Whether an own entry submitted before `before` has not gone to every peer yet. */
  private ownOverdue(before: number): boolean {
    for (const e of this.own.values()) if (!e.toAll && e.at <= before) return true
    return false
  }

  /** A new own entry: to the leaders of the next views (routeOwn). */
  private sendOwn(wire: Uint8Array): void {
    this.own.set(toHex(wire), { wire, at: this.cfg.env.now(), sentTo: new Set(), toAll: false })
    this.routeOwn(true)
  }

  /**
   * Own entries go to the leaders of the current view and the next OWN_ENTRY_LEADERS − 1, and,
   * as views pass, to each leader that enters that window, until they are final: a leader is
   * the only node that needs an entry before it is proposed (the proposal brings it to the
   * others). Sent to every peer, each entry cost a frame and a signature check at every node
   * (at 16 nodes, a fifth of the frames). Once the epoch's last block is known, the views after
   * it never come: the entries go to the next epoch's first OWN_ENTRY_LEADERS − 1 leaders too
   * (engine.nextEpochLeaders), so they hold them when they start it. With no engine (catching
   * up, not a validator), or once an entry has waited OWN_ENTRY_ALL_AFTER_LEADER_TIMEOUTS leader timeouts, it goes to
   * every peer, once.
   */
  private routeOwn(fresh: boolean): void {
    const engine = this.engine
    const now = this.cfg.env.now()
    // The next epoch's first leaders become known within a view (its block is the epoch's last).
    const nextEpoch = engine === null ? [] : engine.nextEpochLeaders(OWN_ENTRY_LEADERS - 1)
    const where = engine === null ? '' : `${engine.epoch}/${engine.currentView}/${nextEpoch.length}`
    const allAfter = OWN_ENTRY_ALL_AFTER_LEADER_TIMEOUTS * this.cfg.timing.leaderMs
    if (!fresh && where === this.routedFor && !this.ownOverdue(now - allAfter)) return
    this.routedFor = where
    const me = this.cfg.me?.id
    const leaders = new Set<string>()
    if (engine !== null) {
      for (let v = engine.currentView; v < engine.currentView + OWN_ENTRY_LEADERS; v++) leaders.add(engine.leader(v))
      // The epoch's last block is in play: the views after it in this epoch never come, and the
      // next epoch's first leader would otherwise get the entries only once we have started it.
      for (const l of nextEpoch) leaders.add(l)
    }
    if (me !== undefined) leaders.delete(me)
    for (const [key, e] of this.own) {
      if (!this.mempool.has(key)) {
        this.own.delete(key) // final, or dropped
        continue
      }
      if (e.toAll) continue
      if (engine === null || now - e.at >= allAfter) {
        e.toAll = true
        this.cfg.env.gossipEntry(e.wire)
        continue
      }
      const to = [...leaders].filter((l) => !e.sentTo.has(l))
      if (to.length === 0) continue
      for (const l of to) e.sentTo.add(l)
      this.cfg.env.gossipEntry(e.wire, to)
    }
  }

  /**
   * Make finalized blocks durable. Commits run in order on their own chain, beside the consensus
   * queue, so voting in the next view does not wait for the disk; what depends on the new state
   * (the mempool, finality figures, the next epoch) happens when the commit has landed. The end
   * of an epoch waits for it: the next epoch is built from the committed state.
   */
  private async commitFinal(blocks: ReadonlyArray<{ block: Block; applied: Applied }>, cert: Certificate, endsEpoch: boolean): Promise<void> {
    // Blocks already committed or on their way (caught up by sync, or an earlier finalization) are skipped.
    const fresh = blocks.filter((b) => b.block.height > this.headHeight)
    if (fresh.length === 0) return
    const first = (fresh[0] as { block: Block }).block
    if (first.height !== this.headHeight + 1 || !bytesEqual(first.parent, this.headHash)) {
      this.cfg.env.log('finalize.gap', { have: this.headHeight, from: first.height })
      this.startCatchUp()
      return
    }
    const top = fresh[fresh.length - 1] as { block: Block; applied: Applied }
    this.headHeight = top.block.height
    this.headHash = top.applied.hash
    const certBytes = encode(certToCbor(cert))
    this.commits = this.commits.then(async () => {
      await this.cfg.ledger.commitChain(fresh, certBytes)
      this.afterCommit(fresh)
    })
    if (endsEpoch) {
      await this.commits
      await this.nextEpoch()
    }
  }

  private afterCommit(blocks: ReadonlyArray<{ block: Block }>): void {
    if (this.finality.length > 100_000) this.finality.splice(0, 50_000)
    if (this.finalityEpochChange.length > 10_000) this.finalityEpochChange.splice(0, 5_000)
    const now = this.cfg.env.now()
    const epochStart = this.cfg.ledger.state.epoch.startHeight
    let entries = 0
    for (const { block } of blocks) {
      entries += block.entries.length
      this.recent.push({ height: block.height, hash: toHex(blockHash(block)), logSize: block.logSize, logRoot: toHex(block.logRoot) })
      if (this.recent.length > RECENT_BLOCKS_MAX) this.recent.shift()
      for (const e of block.entries) {
        const key = toHex(e)
        this.mempool.delete(key)
        const t = this.submittedAt.get(key)
        if (t !== undefined) {
          this.finality.push(now - t)
          if (block.height >= epochStart - 1 && block.height <= epochStart + 1) this.finalityEpochChange.push(now - t)
          this.submittedAt.delete(key)
          this.noteOutcome(e, { state: 'final', height: block.height })
        }
      }
    }
    // Entries made stale by what was finalized (their seq is used now) leave the mempool.
    const state = this.cfg.ledger.state
    for (const [k, e] of this.mempool) {
      const m = state.members.get(e.author)
      if (m === undefined || m.status !== 'active' || e.seq <= m.seq) this.mempool.delete(k)
    }
    this.revalidate(blocks.some(({ block }) => block.height === state.epoch.startHeight - 1))
    const top = blocks[blocks.length - 1] as { block: Block }
    this.cfg.env.log('finalized', { height: top.block.height, entries, epoch: top.block.epoch })
  }

  /**
   * Drop entries that can no longer apply: an author's next entry that the finalized state now
   * refuses (an audit report whose epoch closed, a vote on a finished proposal), and with it that
   * author's later entries, which a seq gap would block forever. Own entries are checked after
   * every commit (our next seq depends on them), everyone's at an epoch change.
   */
  private revalidate(everyone: boolean): void {
    const state = this.cfg.ledger.state
    const me = this.cfg.me?.id
    const byAuthor = new Map<string, Array<[string, { wire: Uint8Array; seq: number }]>>()
    for (const [k, e] of this.mempool) {
      if (!everyone && e.author !== me) continue
      const list = byAuthor.get(e.author)
      if (list === undefined) byAuthor.set(e.author, [[k, e]])
      else list.push([k, e])
    }
    const now = this.cfg.env.now()
    for (const [author, list] of byAuthor) {
      list.sort((a, b) => a[1].seq - b[1].seq)
      const first = list[0] as [string, { wire: Uint8Array; seq: number }]
      if (first[1].seq !== (state.members.get(author)?.seq ?? 0) + 1) continue // its predecessor may still come
      const v = checkEntry(state, first[1].wire, Math.max(now, state.meta.lastTime))
      if (v.status === 'ok') continue
      for (const [k, e] of list) {
        this.mempool.delete(k)
        if (author === me && this.submittedAt.delete(k)) {
          this.noteOutcome(e.wire, k === first[0] ? { state: 'dropped', status: v.status, detail: v.detail } : { state: 'dropped', status: 'after-refused', detail: `an earlier entry of yours (seq ${first[1].seq}) was refused: ${v.status}` })
        }
      }
      this.cfg.env.log('mempool.dropped', { author, seq: first[1].seq, entries: list.length, status: v.status, detail: v.detail })
    }
    if (me !== undefined) {
      let top = state.members.get(me)?.seq ?? 0
      for (const e of this.mempool.values()) if (e.author === me && e.seq > top) top = e.seq
      this.nextSeq = top
    }
  }

  /** True while this entry waits in the mempool. */
  pending(wire: Uint8Array): boolean {
    return this.mempool.has(toHex(wire))
  }

  private async nextEpoch(): Promise<void> {
    const closing = this.engine
    const boundary = this.cfg.ledger.state
    const closedEpoch = boundary.epoch.number - 1
    await this.cfg.wal.prune(boundary.epoch.number)
    await this.startEngine([])
    // The checkpoint is cosigned once the next epoch runs: its store reads, signature and
    // cosignature checks are not on the path of the next epoch's first view. It is the
    // boundary's checkpoint whatever has been committed since.
    // In order, one epoch after the other (each checks that it extends the one cosigned before).
    const set = closing === null ? null : closing.cfg.validators
    this.scheduleCosign(closedEpoch, set, { height: boundary.meta.height, logSize: boundary.meta.logSize })
  }

  /** Cosign epoch `epoch`'s checkpoint (the log after the block at `end.height`) cosignDelay from now. */
  private scheduleCosign(epoch: number, set: ValidatorSet | null, end: { readonly height: number; readonly logSize: number }): void {
    const at = this.cfg.env.now() + cosignDelay(this.cfg.timing, set, this.cfg.me?.id)
    this.cosignDue.push({ at, run: () => this.cosignCheckpoint(epoch, set, end) })
    this.wake(at)
  }

  /** Start the checkpoint cosignings that are due (all of them when `all`), in epoch order. */
  private cosignDueNow(now: number, all: boolean): void {
    while (this.cosignDue.length > 0 && (all || (this.cosignDue[0] as { at: number }).at <= now)) {
      this.onCosigning('checkpoint.cosign', (this.cosignDue.shift() as { run: () => Promise<void> }).run)
    }
  }

  /** Append `fn` to the cosigning chain (in order, beside the queue; stop() waits for it). A
   * failure is logged, and the chain goes on. */
  private onCosigning(what: string, fn: () => Promise<void>): void {
    this.cosigning = this.cosigning.then(fn).catch((err: unknown) => {
      if (!this.stopped) this.cfg.env.log('replica.background-error', { what, error: (err as Error).message })
    })
  }

  // -------------------------------------------------------------------------------------------
  // Checkpoints (DESIGN.md §3.2): cosign each epoch's checkpoint, seal it at > 2/3 of the weight.

  /** Cosign the checkpoint of the log after the block at height `end.height`, epoch `epoch`'s last. */
  private async cosignCheckpoint(epoch: number, set: ValidatorSet | null, end: { readonly height: number; readonly logSize: number }): Promise<void> {
    const root = await this.rootAt(end.height)
    const body = formatCheckpoint({ origin: checkpointOrigin(this.cfg.ledger.state), size: end.logSize, root })
    const validators = set ?? new ValidatorSet(epoch, [])
    const entry = { body, set: validators, sigs: new Map<string, NoteSignature>(), checked: new Set<string>(), sealed: false }
    const existing = this.cosigs.get(epoch)
    this.cosigs.set(epoch, entry)
    // Cosignatures that came before we closed the epoch (no body yet) are checked in maybeSeal.
    if (existing !== undefined && (existing.body === '' || existing.body === body)) for (const s of existing.sigs.values()) entry.sigs.set(s.name, s)
    const me = this.cfg.me
    if (me !== null && validators.get(me.id) !== undefined) {
      // Cosign only a tree that extends the last one we cosigned (tlog-witness rule), across
      // restarts too: that tree is durable before the cosignature leaves.
      const last = this.lastCosigned
      if (last !== null) {
        const proof = last.size > end.logSize ? null : await consistencyProof(last.size, end.logSize, this.cfg.ledger.nodes)
        if (proof === null || !verifyConsistency(last.size, end.logSize, last.root, root, proof)) {
          this.cfg.env.log('checkpoint.inconsistent', { epoch, size: end.logSize, cosigned_size: last.size })
          return
        }
      }
      const sig = cosign(me.seed, me.id, Math.floor(this.cfg.env.now() / 1000), body)
      if (last === null || last.size < end.logSize) await this.cfg.wal.saveCosigned({ size: end.logSize, root })
      this.lastCosigned = { size: end.logSize, root }
      entry.sigs.set(me.id, sig)
      entry.checked.add(me.id)
      this.cfg.env.broadcast(encodeConsensus({ t: 'cosig', epoch, sig }))
      this.cfg.env.log('checkpoint.cosigned', { epoch })
    }
    await this.maybeSeal(epoch)
    // Cosignatures that never reached us (we were busy, or they were lost) must not leave us
    // without the sealed checkpoint: if it is not sealed here soon, fetch it from a peer.
    if (!entry.sealed) {
      const at = this.cfg.env.now() + CHECKPOINT_FETCH_AFTER_MS
      this.checkpointDue.set(epoch, { at, tries: 0, set: validators, body })
      this.wake(at)
    }
    // Drop collections for epochs long gone.
    for (const e of this.cosigs.keys()) if (e + 4 < epoch) this.cosigs.delete(e)
  }

  /** The log root after the finalized block at height `h`: from the recent blocks kept in memory
   * (an epoch's last block, just committed), else from the store. */
  private async rootAt(h: number): Promise<Uint8Array> {
    const recent = this.recent.findLast((b) => b.height === h)
    if (recent !== undefined) return fromHex(recent.logRoot)
    const bytes = await this.cfg.ledger.blockBytes(h)
    if (bytes === undefined) throw new TrothError('store.corrupt', `block ${h} missing`)
    return decodeBlock(bytes).logRoot
  }

  private async onCosig(msg: CosigMessage, from: string): Promise<void> {
    let entry = this.cosigs.get(msg.epoch)
    if (entry === undefined) {
      // Not closed here yet: keep it for when we get there (bounded by the epochs we track).
      if (msg.epoch < this.cfg.ledger.state.epoch.number - 1 || this.cosigs.size > 8) return
      entry = { body: '', set: new ValidatorSet(msg.epoch, []), sigs: new Map(), checked: new Set(), sealed: false }
      this.cosigs.set(msg.epoch, entry)
      entry.sigs.set(msg.sig.name, msg.sig)
      return
    }
    if (entry.sealed || entry.body === '') {
      if (entry.body === '') entry.sigs.set(msg.sig.name, msg.sig)
      return
    }
    const v = entry.set.get(msg.sig.name)
    if (v === undefined || !bytesEqual(msg.sig.keyId, keyId(msg.sig.name, SIG_TYPE_COSIGNATURE_V1, v.key)) || !verifyCosignature(v.key, msg.sig.name, entry.body, msg.sig).ok) {
      this.cfg.env.penalise(from, 'invalid cosignature')
      return
    }
    entry.sigs.set(msg.sig.name, msg.sig)
    entry.checked.add(msg.sig.name)
    await this.maybeSeal(msg.epoch)
  }

  private async maybeSeal(epoch: number): Promise<void> {
    const entry = this.cosigs.get(epoch)
    if (entry === undefined || entry.sealed || entry.body === '') return
    // Verify what arrived before we had the body (each once: re-checking every cosignature at
    // each new one was n² signature checks an epoch, most of an epoch change's CPU at 16 nodes).
    for (const [name, s] of entry.sigs) {
      if (entry.checked.has(name)) continue
      const v = entry.set.get(name)
      if (v === undefined || !bytesEqual(s.keyId, keyId(name, SIG_TYPE_COSIGNATURE_V1, v.key)) || !verifyCosignature(v.key, name, entry.body, s).ok) entry.sigs.delete(name)
      else entry.checked.add(name)
    }
    if (!entry.set.isQuorum(entry.set.weightOf(entry.sigs.keys()))) return
    entry.sealed = true
    const sigs = [...entry.sigs.values()].sort((a, b) => (a.name < b.name ? -1 : 1))
    const note = formatNote(entry.body, sigs)
    // Written beside the queue, on the cosigning chain (stop() waits for it): a synced write
    // there held up the votes of the next epoch's first views.
    this.onCosigning('checkpoint.seal', async () => {
      await this.cfg.ledger.putCheckpoint(epoch, note)
      this.cfg.env.log('checkpoint.sealed', { epoch, cosigners: sigs.length })
    })
  }

  // -------------------------------------------------------------------------------------------
  // Fetching and catch-up.

  private async fetchBlock(digest: Uint8Array): Promise<void> {
    const res = await this.cfg.env.request({ t: 'block', digest })
    if (res === null) return
    let bytes: Uint8Array
    try {
      bytes = asBytes(asMap(res, 'res', ['block']).block, 'res.block', undefined, MESSAGE_BYTES_MAX)
    } catch {
      return
    }
    if (bytes.length === 0) return
    await this.run(async () => {
      if (this.engine === null) return
      const { actions } = this.engine.onBlock(this.cfg.env.now(), bytes)
      await this.perform(actions)
    })
  }

  private async fetchCerts(views: readonly number[]): Promise<void> {
    const engine = this.engine
    if (engine === null) return
    const res = await this.cfg.env.request({ t: 'certs', epoch: engine.epoch, views })
    if (res === null) return
    let certs: Certificate[]
    try {
      certs = asArray(asMap(res, 'res', ['certs']).certs, 'res.certs', 3 * CERT_VIEWS_MAX).map((c, i) => certFromCbor(c, `res.certs[${i}]`))
    } catch {
      return
    }
    await this.run(async () => {
      for (const cert of certs) {
        if (this.engine === null || cert.epoch !== this.engine.epoch) return
        const { actions } = this.engine.onMessage(this.cfg.env.now(), { t: 'cert', cert })
        await this.perform(actions)
      }
    })
  }

  /** Fetch finalized blocks from peers until they have nothing newer (DESIGN.md §4 catch-up). */
  startCatchUp(): void {
    if (this.syncing || this.stopped) return
    this.syncing = true
    this.background('sync', this.catchUp().finally(() => {
      this.syncing = false
    }))
  }

  private async catchUp(): Promise<void> {
    for (let round = 0; round < 10_000 && !this.stopped; round++) {
      const from = this.cfg.ledger.state.meta.height + 1
      const res = await this.cfg.env.request({ t: 'blocks', from })
      if (res === null) return
      let blocks: Uint8Array[]
      let cert: Certificate | null
      try {
        const m = asMap(res, 'res', ['blocks', 'cert'])
        blocks = asArray(m.blocks, 'res.blocks', SYNC_BLOCKS_MAX).map((b, i) => asBytes(b, `res.blocks[${i}]`, undefined, MESSAGE_BYTES_MAX))
        cert = m.cert === null ? null : certFromCbor(m.cert as CborValue, 'res.cert')
      } catch {
        return
      }
      if (blocks.length === 0 || cert === null) return
      let progressed = false
      await this.run(async () => {
        progressed = await this.applySynced(blocks, cert as Certificate)
      })
      if (!progressed) return
    }
  }

  /** Verify a run of finalized blocks (hash-linked, ending in a block finalized by a quorum of
   * the epoch's validators) and commit it. */
  private async applySynced(raw: readonly Uint8Array[], cert: Certificate): Promise<boolean> {
    await this.commits
    let state = this.cfg.ledger.state
    const set = new ValidatorSet(state.epoch.number, state.epoch.validators)
    if (cert.kind !== 'finalize' || checkCertificate(state.meta.net, set, cert) !== 'ok') return false
    const chain: Array<{ block: Block; applied: Applied }> = []
    for (const bytes of raw) {
      let block: Block
      try {
        block = decodeBlock(bytes)
      } catch {
        return false
      }
      const r = applyBlock(state, block)
      if (!r.ok) return false
      chain.push({ block, applied: r })
      state = r.state
    }
    const top = chain[chain.length - 1] as { block: Block; applied: Applied }
    if (!bytesEqual(top.applied.hash, cert.digest)) return false
    if (top.block.height <= this.cfg.ledger.state.meta.height) return false
    await this.cfg.ledger.commitChain(chain, encode(certToCbor(cert)))
    this.afterCommit(chain)
    const endsEpoch = top.applied.sealed !== null
    this.cfg.env.log('synced', { height: top.block.height, blocks: chain.length })
    if (endsEpoch) {
      const closedEpoch = this.cfg.ledger.state.epoch.number - 1
      const body = formatCheckpoint({ origin: checkpointOrigin(this.cfg.ledger.state), size: top.block.logSize, root: top.block.logRoot })
      // Never wait for the network inside the queue: fetch the sealed checkpoint on the side, now
      // and (if peers have not sealed it yet: its cosignatures may still be in flight) again
      // later, like a checkpoint whose cosignatures we missed.
      const at = this.cfg.env.now()
      this.checkpointDue.set(closedEpoch, { at, tries: 0, set, body })
      this.wake(at)
      await this.cfg.wal.prune(this.cfg.ledger.state.epoch.number)
    }
    // Restart the engine at the new finalized head (same epoch mid-way, or the next one).
    await this.startEngine(endsEpoch ? [] : await this.cfg.wal.load())
    return true
  }

  /** A node that caught up past an epoch fetches its sealed checkpoint from a peer, and keeps it
   * only if it is exactly our log's checkpoint, cosigned by more than 2/3 of that epoch's weight. */
  private async fetchCheckpoint(epoch: number, set: ValidatorSet, body: string): Promise<void> {
    // A peer that has not sealed it either answers empty: ask a few (each request picks its own).
    for (let i = 0; i < CHECKPOINT_FETCH_PEERS && !this.stopped; i++) {
      if ((await this.cfg.ledger.checkpoint(epoch)) !== undefined) return
      const res = await this.cfg.env.request({ t: 'checkpoint', epoch })
      if (res === null) continue
      let note: string
      try {
        note = asText(asMap(res, 'res', ['note']).note, 'res.note', 1024 * 1024)
      } catch {
        continue
      }
      if (note === '' || !verifySealed(note, body, set)) continue
      await this.cfg.ledger.putCheckpoint(epoch, note)
      this.cfg.env.log('checkpoint.fetched', { epoch })
      return
    }
  }

  // -------------------------------------------------------------------------------------------
  // Serving peers.

  async serve(req: SyncRequest): Promise<CborValue> {
    switch (req.t) {
      case 'block': {
        const fromEngine = this.engine?.blockBytes(req.digest) ?? null
        if (fromEngine !== null) return { block: fromEngine }
        const h = await this.cfg.ledger.heightOf(req.digest)
        const bytes = h === undefined ? undefined : await this.cfg.ledger.blockBytes(h)
        return { block: bytes ?? new Uint8Array(0) }
      }
      case 'certs': {
        const certs: CborValue[] = []
        const engine = this.engine
        if (engine !== null && engine.epoch === req.epoch) {
          for (const v of req.views.slice(0, CERT_VIEWS_MAX)) {
            for (const kind of ['finalize', 'notarize', 'nullify'] as const) {
              const c = engine.certificate(v, kind)
              if (c !== null) certs.push(certToCbor(c))
            }
          }
        }
        return { certs }
      }
      case 'blocks': {
        const head = this.cfg.ledger.state.meta.height
        const base = this.cfg.ledger.base ?? null
        // Started from a sealed checkpoint: blocks below it were never here. An error, not an
        // empty answer, so that the asker tries another peer instead of thinking it is at the tip.
        if (base !== null && req.from < base.height) throw new TrothError('input.not-found', `blocks below ${base.height} are not held here: this node started from the sealed checkpoint of epoch ${base.epoch}`)
        if (req.from > head || req.from < 1) return { blocks: [], cert: null }
        const { blocks, top } = await syncRun(this.cfg.ledger, req.from)
        if (top < 0) return { blocks: [], cert: null }
        const cert = await this.cfg.ledger.cert(top)
        return { blocks, cert: cert === undefined ? null : decode(cert, { bytesMax: MESSAGE_BYTES_MAX }) }
      }
      case 'checkpoint':
        return { note: (await this.cfg.ledger.checkpoint(req.epoch)) ?? '' }
      case 'sealed':
      case 'state':
        // Served by the daemon from its store (src/node/sealed-start.ts); a replica alone has none.
        throw new TrothError('input.not-found', 'this peer serves no sealed starts')
    }
  }
}

/** True iff `note` is the checkpoint `body` with cosignatures (cosignature/v1, key name = the
 * MemberId) from more than 2/3 of the weight of `set`. Unknown signers are ignored (C2SP). */
export function verifySealed(note: string, body: string, set: ValidatorSet): boolean {
  let parsed
  try {
    parsed = parseNote(note)
  } catch {
    return false
  }
  if (parsed.text !== body) return false
  const good = new Set<string>()
  for (const s of parsed.signatures) {
    const v = set.get(s.name)
    if (v === undefined) continue
    if (!bytesEqual(s.keyId, keyId(s.name, SIG_TYPE_COSIGNATURE_V1, v.key))) continue
    if (!verifyCosignature(v.key, s.name, body, s).ok) return false // a known key that fails: reject (signed-note)
    good.add(s.name)
  }
  return set.isQuorum(set.weightOf(good))
}

export function encodeSyncRequest(req: SyncRequest): CborValue {
  switch (req.t) {
    case 'blocks': return { t: 'blocks', from: req.from }
    case 'block': return { t: 'block', digest: req.digest }
    case 'certs': return { t: 'certs', epoch: req.epoch, views: [...req.views] }
    case 'checkpoint': return { t: 'checkpoint', epoch: req.epoch }
    case 'sealed': return { t: 'sealed', epoch: req.epoch }
    case 'state': return { t: 'state', epoch: req.epoch, from: req.from }
  }
}

export function decodeSyncRequest(v: CborValue): SyncRequest {
  const t = asMap(v, 'req', ['t'], ['from', 'digest', 'epoch', 'views']).t
  switch (t) {
    case 'blocks': return { t, from: asUint(asMap(v, 'req', ['t', 'from']).from, 'req.from') }
    case 'block': return { t, digest: asBytes(asMap(v, 'req', ['t', 'digest']).digest, 'req.digest', 32) }
    case 'certs': {
      const m = asMap(v, 'req', ['t', 'epoch', 'views'])
      return { t, epoch: asUint(m.epoch, 'req.epoch'), views: asArray(m.views, 'req.views', CERT_VIEWS_MAX).map((x, i) => asUint(x, `req.views[${i}]`)) }
    }
    case 'checkpoint': return { t, epoch: asUint(asMap(v, 'req', ['t', 'epoch']).epoch, 'req.epoch') }
    case 'sealed': {
      const e = asMap(v, 'req', ['t', 'epoch']).epoch
      return { t, epoch: e === null ? null : asUint(e, 'req.epoch') }
    }
    case 'state': {
      const m = asMap(v, 'req', ['t', 'epoch', 'from'])
      return { t, epoch: asUint(m.epoch, 'req.epoch'), from: asUint(m.from, 'req.from') }
    }
    default: throw new TrothError('schema.invalid', `req.t: unknown request ${JSON.stringify(t)}`)
  }
}

