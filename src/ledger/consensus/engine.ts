// The pure rules of weighted Simplex for one epoch (DESIGN.md §4; notes/consensus.md §1.2). No
// I/O and no clock: every input is an event carrying `now`, every output an Action the driver
// carries out IN ORDER ('persist' must be durable before any later 'broadcast' leaves the node).
// Deviations from the paper are listed in docs/consensus.md.

import { assert } from '../../errors.ts'
import { applyBlock, type Applied } from '../apply.ts'
import { blockHash, decodeBlock, encodeBlock, type Block } from '../block.ts'
import { bytesEqual, fromHex, toHex } from '../hash.ts'
import type { LedgerState } from '../state.ts'
import { leaderOf } from './leader.ts'
import {
  checkCertificate, checkVote, conflicting, makeCertificate, signVote,
  type Certificate, ValidatorSet, type Vote,
} from './messages.ts'

/** Votes are accepted up to this many views ahead of the current one (memory bound). */
export const VIEWS_AHEAD_MAX = 2
/** Views kept behind the last finalized one (to serve certificates and detect equivocation). */
export const VIEWS_RETAINED = 64
/** After a view ends without a block, the next view's timers stretch by this factor, up to
 * TIMEOUT_STRETCH_MAX; a notarized view resets them. Under load or after a partition this lets
 * timers grow past the real delay instead of nullifying view after view (liveness after GST). */
export const TIMEOUT_STRETCH = 1.5
export const TIMEOUT_STRETCH_MAX = 4

export type ConsensusMessage =
  | { readonly t: 'proposal'; readonly vote: Vote; readonly block: Uint8Array }
  | { readonly t: 'vote'; readonly vote: Vote }
  | { readonly t: 'cert'; readonly cert: Certificate }

export interface FinalizedBlock {
  readonly block: Block
  readonly bytes: Uint8Array
  readonly applied: Applied
}

export type Action =
  | { readonly type: 'persist'; readonly vote: Vote }
  /** Send to every peer, except the validators in `except` (they have shown they need not); or,
   * with `to`, only to those validators. */
  | { readonly type: 'broadcast'; readonly msg: ConsensusMessage; readonly except?: ReadonlySet<string>; readonly to?: readonly string[] }
  /** Call onTimer(at) at (or after) time `at`. */
  | { readonly type: 'timer'; readonly at: number }
  /** I lead this view: call propose() when entries wait (after a short window) or when idle. */
  | { readonly type: 'lead'; readonly view: number }
  /** Blocks final in this order (ancestors first), proven by `cert`. */
  | { readonly type: 'finalize'; readonly blocks: readonly FinalizedBlock[]; readonly cert: Certificate; readonly endsEpoch: boolean }
  | { readonly type: 'fetch-block'; readonly digest: Uint8Array }
  | { readonly type: 'fetch-certs'; readonly views: readonly number[] }
  | { readonly type: 'evidence'; readonly a: Vote; readonly b: Vote }

export type Verdict = 'ok' | 'ignored' | 'bad'

export interface Timing {
  /** Wait for the leader's proposal this long after entering a view (idle interval + 2Δ). */
  readonly leaderMs: number
  /** Nullify a view that has not ended this long after entering it (idle interval + 3Δ). */
  readonly advanceMs: number
  /** Rebroadcast our nullify and the certificate that let us in, this often. */
  readonly retryMs: number
  /** Pass a certificate on to the validators that have shown no sign of holding it this long
   * after we got it (default: advanceMs − leaderMs, i.e. Δ). See scheduleForward(). */
  readonly forwardMs?: number
}

export interface EngineConfig {
  readonly net: Uint8Array
  readonly validators: ValidatorSet
  /** Epoch seed: leaders are drawn from it. */
  readonly seed: Uint8Array
  /** Where this engine starts: the last finalized block and the view that finalized it — the
   * epoch's previous boundary at view 0, or (after a restart mid-epoch) the last block stored,
   * with the view of its finalization certificate. No valid proposal builds below it. */
  readonly genesis: { readonly digest: Uint8Array; readonly state: LedgerState; readonly view: number }
  /** Last height of this epoch; it must be finalized directly. */
  readonly boundaryHeight: number
  /** This node's validator identity, or null for an observer. */
  readonly me: { readonly id: string; readonly seed: Uint8Array } | null
  readonly timing: Timing
  /**
   * How NOTARIZE and FINALIZE votes travel (docs/consensus.md, "Votes through a collector").
   * 'all' (the default here): every vote to every peer, each node forms each certificate itself.
   * 'collector': a vote of view v goes only to v's collector, the leader of v + 1, which forms the
   * certificate and sends it to all at once; a voter that holds no certificate leaderMs after
   * voting sends its vote to all. NULLIFY and proposals go to all either way.
   */
  readonly relay?: 'all' | 'collector'
  /**
   * Whether a validator can be reached now (the driver's view of the network: a connection to
   * it, or word from it through gossip lately). Absent: every one can. A view whose leader
   * cannot be reached is nullified at once instead of after leaderMs; in collector mode, a vote
   * whose collector cannot be reached goes to every validator at once instead of after
   * leaderMs. Timing only: safety never depends on it (docs/consensus.md "A validator out of
   * reach").
   */
  readonly reachable?: (member: string) => boolean
}

interface KnownBlock {
  readonly block: Block
  readonly bytes: Uint8Array
  /** Set once the block was executed on its parent's state (deterministic). */
  applied: Applied | null
}

interface ViewRec {
  proposal: { digest: string; parent: number } | null
  /** First block proposal seen from the leader, waiting for its parent, nullifications or block. */
  pending: boolean
  readonly notarize: Map<string, Map<string, Vote>>
  readonly nullify: Map<string, Vote>
  readonly finalize: Map<string, Map<string, Vote>>
  /** Validators known to hold this view's notarization: their FINALIZE reached us (checked, or
   * sent by themselves over an authenticated link). */
  readonly finalizers: Set<string>
  notarization: Certificate | null
  nullification: Certificate | null
  finalization: Certificate | null
  myNotarize: Vote | null
  myNullify: Vote | null
  myFinalize: Vote | null
  leaderEquivocated: boolean
}

const hex = toHex

export class EpochEngine {
  readonly cfg: EngineConfig
  readonly epoch: number
  private view = 0
  private leaderDeadline = Infinity
  private advanceDeadline = Infinity
  private retryAt = Infinity
  private stretch = 1
  private readonly views = new Map<number, ViewRec>()
  private readonly blocks = new Map<string, KnownBlock>()
  /** Votes seen by view, then signer, to turn conflicting pairs into evidence. */
  private readonly seen = new Map<number, Map<string, Vote[]>>()
  private readonly reported = new Set<string>()
  private finalizedDigest: string
  private finalizedView = 0
  private finalizedHeight: number
  private pendingFinal: Certificate | null = null
  private done = false
  /** The highest view each validator was seen voting in (verified votes, certificate signers). */
  private readonly lastVoted = new Map<string, number>()
  /** Certificates to pass on at `at`, in time order (see scheduleForward). */
  private readonly forwards: Array<{ readonly cert: Certificate; readonly at: number }> = []
  /** Views below this were pruned already. */
  private prunedBelow = 0
  private readonly collect: boolean
  private readonly leaders = new Map<number, string>()
  /** nextEpochLeaders(), kept for the last block it was computed from. */
  private nextLeaders: { key: string; ids: readonly string[] } | null = null
  /** Collector mode: own votes to send to all at `at` if their certificate has not come by then. */
  private readonly fallbacks: Array<{ readonly vote: Vote; readonly at: number }> = []
  /** Collector mode: by view, the signers whose NULLIFY we answered with a certificate already. */
  private readonly answered = new Map<number, Set<string>>()

  constructor(cfg: EngineConfig) {
    assert(cfg.validators.totalWeight > 0, 'an epoch needs weight')
    this.cfg = cfg
    this.epoch = cfg.validators.epoch
    this.finalizedDigest = hex(cfg.genesis.digest)
    this.finalizedView = cfg.genesis.view
    this.view = cfg.genesis.view
    this.finalizedHeight = cfg.genesis.state.meta.height
    this.collect = cfg.relay === 'collector'
    assert(cfg.genesis.state.epoch.number === this.epoch, 'genesis state is in another epoch')
  }

  // -------------------------------------------------------------------------------------------
  // Introspection (status, tests, the driver).

  get currentView(): number {
    return this.view
  }
  get isDone(): boolean {
    return this.done
  }
  get lastFinalizedView(): number {
    return this.finalizedView
  }
  leader(view: number): string {
    // Asked several times per message (a hash and a CBOR encoding each): kept for the views in
    // play, which prune() trims; a view far from ours (a peer's junk) is computed, not kept.
    const near = view >= this.prunedBelow && view <= this.view + VIEWS_AHEAD_MAX + 1
    const hit = near ? this.leaders.get(view) : undefined
    if (hit !== undefined) return hit
    const id = leaderOf(this.cfg.seed, this.cfg.validators, view)
    if (near) this.leaders.set(view, id)
    return id
  }
  /**
   * The leaders of the next epoch's first `count` views, once this view's block is known to be
   * the epoch's last one: its state (executed here, from this view's proposal, or the parent of
   * a re-proposal) holds the next epoch's validators and seed (the last block's hash). Empty in
   * any other view, and until that block is known. The driver sends its own entries there too,
   * so the next epoch's first leader holds them when it starts (docs/consensus.md "Network").
   */
  nextEpochLeaders(count: number): readonly string[] {
    const parent = this.parentState()
    let last: LedgerState | null = null
    if (parent !== null && parent.reproposal) last = parent.state
    else if (parent !== null && parent.state.meta.height + 1 === this.cfg.boundaryHeight) {
      const proposal = this.views.get(this.view)?.proposal
      if (proposal != null) last = this.stateOf(proposal.digest)
    }
    if (last === null || last.meta.height !== this.cfg.boundaryHeight) return []
    const key = `${hex(last.meta.lastBlock)}/${count}`
    if (this.nextLeaders?.key !== key) {
      const set = new ValidatorSet(last.epoch.number, last.epoch.validators)
      this.nextLeaders = { key, ids: set.totalWeight <= 0 ? [] : Array.from({ length: count }, (_, i) => leaderOf(last.epoch.seed, set, i + 1)) }
    }
    return this.nextLeaders.ids
  }
  /** Who forms view `view`'s certificates in collector mode: the leader of the next view, which
   * needs the notarization first to build on it. */
  collector(view: number): string {
    return this.leader(view + 1)
  }
  amLeader(view = this.view): boolean {
    return this.cfg.me !== null && this.leader(view) === this.cfg.me.id
  }
  certificate(view: number, kind: 'notarize' | 'nullify' | 'finalize'): Certificate | null {
    const r = this.views.get(view)
    if (r === undefined) return null
    return kind === 'notarize' ? r.notarization : kind === 'nullify' ? r.nullification : r.finalization
  }
  blockBytes(digest: Uint8Array): Uint8Array | null {
    return this.blocks.get(hex(digest))?.bytes ?? null
  }
  /** What the current view waits for (status page, debugging). */
  debug(): Record<string, unknown> {
    const r = this.views.get(this.view)
    return {
      view: this.view,
      leader: this.leader(this.view),
      finalizedView: this.finalizedView,
      leaderDeadline: this.leaderDeadline,
      advanceDeadline: this.advanceDeadline,
      retryAt: this.retryAt,
      proposal: r?.proposal ?? null,
      pending: r?.pending ?? false,
      my: { notarize: r?.myNotarize !== null && r !== undefined, nullify: r?.myNullify != null, finalize: r?.myFinalize != null },
      notarizeVotes: r === undefined ? 0 : [...r.notarize.values()].reduce((a, m) => a + m.size, 0),
      nullifyVotes: r?.nullify.size ?? 0,
      proposeBlocker: this.proposeBlocker(),
      pendingFinal: this.pendingFinal?.view ?? null,
    }
  }

  /** My own votes, for the WAL check in tests. */
  myVotes(view: number): { notarize: Vote | null; nullify: Vote | null; finalize: Vote | null } {
    const r = this.views.get(view)
    return { notarize: r?.myNotarize ?? null, nullify: r?.myNullify ?? null, finalize: r?.myFinalize ?? null }
  }

  // -------------------------------------------------------------------------------------------
  // Start and restart.

  /**
   * Start the epoch at view 1, or — after a restart — at the highest view we had voted in,
   * with our own votes from the WAL re-installed so we never vote twice in a view.
   */
  start(now: number, walVotes: readonly Vote[] = []): Action[] {
    const out: Action[] = []
    let top = this.cfg.genesis.view + 1
    for (const v of walVotes) {
      if (v.epoch !== this.epoch || this.cfg.me === null || v.signer !== this.cfg.me.id) continue
      const r = this.rec(v.view)
      if (v.kind === 'notarize') r.myNotarize = v
      else if (v.kind === 'nullify') r.myNullify = v
      else r.myFinalize = v
      this.record(v)
      top = Math.max(top, v.view)
    }
    this.enter(top, now, out)
    return out
  }

  private rec(view: number): ViewRec {
    let r = this.views.get(view)
    if (r === undefined) {
      r = {
        proposal: null, pending: false, notarize: new Map(), nullify: new Map(), finalize: new Map(), finalizers: new Set(),
        notarization: null, nullification: null, finalization: null,
        myNotarize: null, myNullify: null, myFinalize: null, leaderEquivocated: false,
      }
      this.views.set(view, r)
    }
    return r
  }

  private enter(view: number, now: number, out: Action[]): void {
    if (view <= this.view || this.done) return
    this.view = view
    // How did the previous view end? A nullification stretches the timers; a notarization resets.
    const prev = this.views.get(view - 1)
    if (prev?.notarization != null || prev?.finalization != null) this.stretch = 1
    else if (prev?.nullification != null) this.stretch = Math.min(TIMEOUT_STRETCH_MAX, this.stretch * TIMEOUT_STRETCH)
    // A leader out of reach will send no proposal we can get: nullify at once (a nullify is
    // always safe; only the timer is shorter).
    const absent = !this.amLeader(view) && this.cfg.me !== null && this.cfg.reachable?.(this.leader(view)) === false
    this.leaderDeadline = absent ? now : now + Math.round(this.cfg.timing.leaderMs * this.stretch)
    this.advanceDeadline = now + Math.round(this.cfg.timing.advanceMs * this.stretch)
    this.retryAt = Infinity
    out.push({ type: 'timer', at: this.leaderDeadline })
    const r = this.rec(view)
    if (r.myNullify !== null) {
      // Restarted inside a view we had already given up on: keep saying so.
      this.retryAt = now
      out.push({ type: 'timer', at: now })
    }
    if (this.amLeader(view) && r.myNotarize === null && r.myNullify === null) out.push({ type: 'lead', view })
    // A proposal for this view may have arrived while we were behind.
    if (r.pending) this.tryNotarize(view, now, out)
    this.prune()
  }

  // -------------------------------------------------------------------------------------------
  // Proposing (leader).

  /** The parent a leader of `view` must build on: the highest view p < view with a notarization
   * (or the genesis, p = 0) such that every view in (p, view) has a nullification. */
  parentFor(view: number): { view: number; digest: string } | null {
    for (let p = view - 1; p >= this.cfg.genesis.view; p--) {
      if (p === this.cfg.genesis.view) return { view: p, digest: hex(this.cfg.genesis.digest) }
      const r = this.views.get(p)
      const cert = r?.finalization ?? r?.notarization ?? null
      if (cert !== null) return { view: p, digest: hex(cert.digest) }
      if (p <= this.finalizedView) return null
      if (r?.nullification === null || r?.nullification === undefined) return null
    }
    return null
  }

  /** Views between the last finalized one and the current one for which we hold neither a
   * notarization nor a nullification: what a leader must fetch before it can pick a parent. */
  missingCertificates(max = 64): number[] {
    const out: number[] = []
    for (let v = this.view - 1; v > this.finalizedView && out.length < max; v--) {
      const r = this.views.get(v)
      if (r?.notarization == null && r?.nullification == null && r?.finalization == null) out.push(v)
    }
    return out
  }

  /** Whether propose() would do something now; if not, why (for the driver and tests). */
  proposeBlocker(): string | null {
    if (this.done) return 'epoch over'
    if (!this.amLeader()) return 'not the leader'
    const r = this.rec(this.view)
    if (r.myNotarize !== null || r.myNullify !== null) return 'already voted in this view'
    const parent = this.parentFor(this.view)
    if (parent === null) return 'no certified parent yet'
    if (this.stateOf(parent.digest) === null) return 'parent block not executed yet'
    return null
  }

  /** Execute (fetching what is missing) the block a leader wants to build on. */
  fetchParent(digest: string): Action[] {
    const out: Action[] = []
    this.execute(digest, out)
    return out
  }

  /** The state after a parent (for the leader's builder), or null if not executed here. */
  parentState(): { state: LedgerState; reproposal: boolean } | null {
    const parent = this.parentFor(this.view)
    if (parent === null) return null
    const state = this.stateOf(parent.digest)
    if (state === null) return null
    return { state, reproposal: state.meta.height >= this.cfg.boundaryHeight }
  }

  /**
   * Propose `block` (built by the driver on parentState()) as this view's leader. When the parent
   * is the epoch's last block, the block must be that parent itself: it is re-proposed unchanged
   * until it is finalized directly (DESIGN.md §4 reconfiguration).
   */
  propose(now: number, block: Block | null): Action[] {
    const out: Action[] = []
    if (this.proposeBlocker() !== null) return out
    const parent = this.parentFor(this.view) as { view: number; digest: string }
    const parentBlock = this.blocks.get(parent.digest)
    const reproposal = (this.stateOf(parent.digest) as LedgerState).meta.height >= this.cfg.boundaryHeight
    let bytes: Uint8Array
    let digest: Uint8Array
    if (reproposal) {
      assert(parentBlock !== undefined, 'the boundary block is known when it can be re-proposed')
      bytes = parentBlock.bytes
      digest = blockHash(parentBlock.block)
    } else {
      assert(block !== null, 'a proposal needs a block unless it re-proposes the boundary')
      bytes = encodeBlock(block)
      digest = blockHash(block)
      const known = this.learnBlock(bytes)
      assert(known !== null, 'our own block decodes')
    }
    const me = this.cfg.me as { id: string; seed: Uint8Array }
    const vote = signVote(this.cfg.net, me.seed, me.id, { kind: 'notarize', epoch: this.epoch, view: this.view, parent: parent.view, digest })
    // Process our proposal like anyone's: it runs the same checks and sends our NOTARIZE.
    this.onProposal(now, { t: 'proposal', vote, block: bytes }, out, true)
    return out
  }

  // -------------------------------------------------------------------------------------------
  // Inputs.

  /** A message from a peer; `from` is the member the network layer authenticated as its sender. */
  onMessage(now: number, msg: ConsensusMessage, from?: string): { verdict: Verdict; actions: Action[] } {
    const out: Action[] = []
    if (this.done) return { verdict: 'ignored', actions: out }
    let verdict: Verdict
    switch (msg.t) {
      case 'proposal': verdict = this.onProposal(now, msg, out, false); break
      case 'vote': verdict = this.onVote(now, msg.vote, out, false, from); break
      case 'cert': verdict = this.onCert(now, msg.cert, out); break
    }
    return { verdict, actions: out }
  }

  /** A block fetched from a peer (by digest). */
  onBlock(now: number, bytes: Uint8Array): { verdict: Verdict; actions: Action[] } {
    const out: Action[] = []
    const known = this.learnBlock(bytes)
    if (known === null) return { verdict: 'bad', actions: out }
    this.progress(now, out)
    return { verdict: 'ok', actions: out }
  }

  onTimer(now: number): Action[] {
    const out: Action[] = []
    if (this.done) return out
    this.forwardDue(now, out)
    this.fallbackDue(now, out)
    const r = this.rec(this.view)
    if (now >= this.leaderDeadline && r.myNotarize === null) this.timeout(now, out)
    else if (now >= this.advanceDeadline) this.timeout(now, out)
    if (now >= this.retryAt && r.myNullify !== null) {
      // Rebroadcast our nullify with the certificate that let us into this view (DESIGN.md §4.4).
      out.push({ type: 'broadcast', msg: { t: 'vote', vote: r.myNullify } })
      const prev = this.views.get(this.view - 1)
      const entry = prev?.notarization ?? prev?.nullification ?? null
      if (entry !== null) out.push({ type: 'broadcast', msg: { t: 'cert', cert: entry } })
      this.retryAt = now + this.cfg.timing.retryMs
    } else if (now >= this.retryAt) this.retryAt = Infinity // nothing to retry in this view
    const next = Math.min(
      r.myNotarize === null && r.myNullify === null ? this.leaderDeadline : Infinity,
      r.myNullify === null ? this.advanceDeadline : Infinity,
      this.retryAt,
      this.forwards[0]?.at ?? Infinity,
      this.fallbacks[0]?.at ?? Infinity,
    )
    if (Number.isFinite(next) && next > now) out.push({ type: 'timer', at: next })
    return out
  }

  /**
   * Certificates are passed on lazily (deviation, docs/consensus.md): every validator sends its
   * votes to all, so in the common case every node assembles each certificate itself, and
   * relaying n copies of every certificate to n nodes was most of the traffic (each carries more
   * than 2n/3 signatures). A notarization or nullification we formed or received is sent,
   * forwardMs later, only to the validators that have not shown they are past it: a vote of a
   * later view, or (for a notarization) their FINALIZE of that view. Those stuck without it get
   * it within Δ more. Nodes that vote nothing (observers) always get it. Finalizations are not
   * forwarded: nobody needs one to move on, and a later one finalizes the same blocks; the
   * epoch's last one is sent to all at once (the engine stops with it). A node stuck in a view
   * still rebroadcasts the certificate that let it in.
   */
  private scheduleForward(now: number, c: Certificate, out: Action[]): void {
    const at = now + (this.cfg.timing.forwardMs ?? Math.max(0, this.cfg.timing.advanceMs - this.cfg.timing.leaderMs))
    this.forwards.push({ cert: c, at })
    out.push({ type: 'timer', at })
  }

  private forwardDue(now: number, out: Action[]): void {
    while (this.forwards.length > 0 && (this.forwards[0] as { at: number }).at <= now) {
      const { cert } = this.forwards.shift() as { cert: Certificate }
      out.push({ type: 'broadcast', msg: { t: 'cert', cert }, except: this.holders(cert) })
    }
  }

  /** Collector mode: a vote whose certificate has not come leaderMs (idle + 2Δ) after it was
   * sent to the collector goes to every validator (the collector may be down, slow or
   * withholding), which form the certificate themselves. A silent collector so costs a view about
   * what a silent leader does. (After only Δ, a busy machine whose views run past Δ turned every
   * vote into a fallback: more frames than all-to-all.) */
  private fallbackDue(now: number, out: Action[]): void {
    while (this.fallbacks.length > 0 && (this.fallbacks[0] as { at: number }).at <= now) {
      const { vote } = this.fallbacks.shift() as { vote: Vote }
      const r = this.views.get(vote.view)
      const held = vote.kind === 'notarize'
        ? r?.notarization != null || r?.nullification != null || r?.finalization != null
        : r?.finalization != null || vote.view <= this.finalizedView
      if (held || vote.view + VIEWS_RETAINED < this.finalizedView) continue
      const except = new Set<string>([vote.signer, this.collector(vote.view)])
      out.push({ type: 'broadcast', msg: { t: 'vote', vote }, except })
    }
  }

  /**
   * Collector mode: a validator that sends us, itself, a NULLIFY for a view we have left is stuck
   * there without the certificate that ended it (it went only from the collector, which may have
   * kept it back): send it ours, once. Fallback NOTARIZE and FINALIZE votes are not answered: on
   * a busy machine they come while the certificate is on its way, and n answers to each of n
   * voters were more frames than all-to-all; a node without a parent's notarization fetches it
   * when the next proposal needs it, and one without a finalization gets the next.
   */
  private answer(v: Vote, from: string | undefined, out: Action[]): void {
    if (!this.collect || v.kind !== 'nullify' || from !== v.signer || v.view >= this.view) return
    if (this.cfg.me !== null && v.signer === this.cfg.me.id) return
    const r = this.views.get(v.view)
    if (r === undefined) return
    const cert = r.nullification ?? r.finalization ?? r.notarization
    if (cert === null) return
    let done = this.answered.get(v.view)
    if (done === undefined) {
      done = new Set()
      this.answered.set(v.view, done)
    }
    if (done.has(v.signer)) return
    done.add(v.signer)
    out.push({ type: 'broadcast', msg: { t: 'cert', cert }, to: [v.signer] })
  }

  private timeout(now: number, out: Action[]): void {
    const r = this.rec(this.view)
    if (r.myNullify !== null || r.myFinalize !== null) return
    const view = this.view
    this.castVote(now, { kind: 'nullify', epoch: this.epoch, view, parent: 0, digest: new Uint8Array(0) }, out)
    // Our NULLIFY may have completed the nullification and moved us on: the retry is for a view
    // we are still stuck in (a stale retryAt in the next view stopped its timers).
    if (this.view !== view) return
    this.retryAt = now + this.cfg.timing.retryMs
    out.push({ type: 'timer', at: this.retryAt })
  }

  /** Persist, then send, then count our own vote. */
  private castVote(now: number, v: Pick<Vote, 'kind' | 'epoch' | 'view' | 'parent' | 'digest'>, out: Action[]): void {
    const me = this.cfg.me
    if (me === null) return
    const vote = signVote(this.cfg.net, me.seed, me.id, v)
    const r = this.rec(v.view)
    if (vote.kind === 'notarize') r.myNotarize = vote
    else if (vote.kind === 'nullify') r.myNullify = vote
    else r.myFinalize = vote
    out.push({ type: 'persist', vote })
    if (this.collect && vote.kind !== 'nullify') {
      // To the collector only (unless that is us), and to all later if no certificate came; to
      // all at once if the collector is out of reach.
      const collector = this.collector(vote.view)
      if (this.collectorAbsent(vote.view)) out.push({ type: 'broadcast', msg: { t: 'vote', vote }, except: new Set([collector]) })
      else {
        if (collector !== me.id) out.push({ type: 'broadcast', msg: { t: 'vote', vote }, to: [collector] })
        const at = now + this.cfg.timing.leaderMs
        this.fallbacks.push({ vote, at })
        out.push({ type: 'timer', at })
      }
    } else out.push({ type: 'broadcast', msg: { t: 'vote', vote } })
    this.onVote(now, vote, out, true)
  }

  private learnBlock(bytes: Uint8Array): KnownBlock | null {
    let block: Block
    try {
      block = decodeBlock(bytes)
    } catch {
      return null
    }
    const d = hex(blockHash(block))
    let known = this.blocks.get(d)
    if (known === undefined) {
      known = { block, bytes, applied: null }
      this.blocks.set(d, known)
    }
    return known
  }

  /** The ledger state after a block, if we have executed it (or it is the epoch's genesis). */
  private stateOf(digest: string): LedgerState | null {
    if (digest === hex(this.cfg.genesis.digest)) return this.cfg.genesis.state
    return this.blocks.get(digest)?.applied?.state ?? null
  }

  /** Execute a known block on its parent's state if possible (recursively fetching ancestors). */
  private execute(digest: string, out: Action[], depth = 0): LedgerState | null {
    const s = this.stateOf(digest)
    if (s !== null) return s
    const known = this.blocks.get(digest)
    if (known === undefined) {
      out.push({ type: 'fetch-block', digest: fromHex(digest) })
      return null
    }
    if (known.block.epoch !== this.epoch || known.block.height <= this.finalizedHeight || depth > 10_000) return null
    const parentState = this.execute(hex(known.block.parent), out, depth + 1)
    if (parentState === null) return null
    const r = applyBlock(parentState, known.block)
    if (!r.ok) return null
    known.applied = r
    return r.state
  }

  private onProposal(now: number, msg: Extract<ConsensusMessage, { t: 'proposal' }>, out: Action[], own: boolean): Verdict {
    const v = msg.vote
    if (v.kind !== 'notarize' || v.epoch !== this.epoch) return 'ignored'
    if (v.signer !== this.leader(v.view)) return 'bad'
    if (checkVote(this.cfg.net, this.cfg.validators, v) !== 'ok') return 'bad'
    const known = this.learnBlock(msg.block)
    if (known === null || !bytesEqual(blockHash(known.block), v.digest)) return 'bad'
    const r = this.rec(v.view)
    const d = hex(v.digest)
    if (r.proposal === null) {
      r.proposal = { digest: d, parent: v.parent }
      r.pending = true
    } else if (r.proposal.digest !== d || r.proposal.parent !== v.parent) {
      r.leaderEquivocated = true // the vote pair becomes evidence in onVote
    }
    if (own) {
      // The leader's own NOTARIZE travels with the block, persisted first like every vote.
      r.myNotarize = v
      r.pending = false
      out.push({ type: 'persist', vote: v })
      out.push({ type: 'broadcast', msg })
      this.onVote(now, v, out, true)
      return 'ok'
    }
    this.onVote(now, v, out, true)
    if (v.view === this.view) this.tryNotarize(v.view, now, out)
    return 'ok'
  }

  /** DESIGN.md §4.3: on the first proposal, require the parent's certificate and a nullification
   * for every skipped view, re-execute the block, then persist and send NOTARIZE. */
  private tryNotarize(view: number, now: number, out: Action[]): void {
    const r = this.rec(view)
    if (view !== this.view || r.proposal === null || !r.pending) return
    if (r.myNotarize !== null || r.myNullify !== null || r.leaderEquivocated) return
    const p = r.proposal.parent
    let parentDigest: string
    if (p < this.cfg.genesis.view) {
      // Below a finalized view: no honest leader builds there (the finalized view was never
      // nullified), so the proposal is invalid.
      r.pending = false
      this.timeout(now, out)
      return
    }
    if (p === this.cfg.genesis.view) parentDigest = hex(this.cfg.genesis.digest)
    else {
      const pr = this.views.get(p)
      const cert = pr?.finalization ?? pr?.notarization ?? null
      if (cert === null) {
        if (p > this.finalizedView) out.push({ type: 'fetch-certs', views: [p] })
        return
      }
      parentDigest = hex(cert.digest)
    }
    const missing: number[] = []
    for (let u = p + 1; u < view; u++) if (this.views.get(u)?.nullification == null) missing.push(u)
    if (missing.length > 0) {
      out.push({ type: 'fetch-certs', views: missing.slice(0, 64) })
      return
    }
    const parentState = this.execute(parentDigest, out)
    if (parentState === null) return
    const known = this.blocks.get(r.proposal.digest)
    if (known === undefined) return
    r.pending = false
    let ok: boolean
    if (r.proposal.digest === parentDigest) {
      // A re-proposal is valid only for the epoch's last block.
      ok = parentState.meta.height === this.cfg.boundaryHeight
    } else {
      const b = known.block
      ok = b.epoch === this.epoch && b.height <= this.cfg.boundaryHeight && hex(b.parent) === parentDigest
      if (ok && known.applied === null) {
        const res = applyBlock(parentState, b)
        ok = res.ok
        if (res.ok) known.applied = res
      }
    }
    if (!ok) {
      this.timeout(now, out) // an invalid proposal ends the view for us (deviation: immediate)
      return
    }
    this.castVote(now, { kind: 'notarize', epoch: this.epoch, view, parent: p, digest: fromHex(r.proposal.digest) }, out)
  }

  private record(v: Vote): Vote | null {
    let byView = this.seen.get(v.view)
    if (byView === undefined) {
      byView = new Map()
      this.seen.set(v.view, byView)
    }
    const list = byView.get(v.signer) ?? []
    let conflict: Vote | null = null
    for (const prev of list) if (conflicting(prev, v)) conflict = prev
    if (!list.some((p) => p.kind === v.kind && bytesEqual(p.digest, v.digest) && p.parent === v.parent)) list.push(v)
    byView.set(v.signer, list)
    return conflict
  }

  /** What a validator's vote shows it holds (for forwarding certificates). */
  private noteProgress(v: Vote): void {
    if ((this.lastVoted.get(v.signer) ?? 0) < v.view) this.lastVoted.set(v.signer, v.view)
    if (v.kind === 'finalize') this.rec(v.view).finalizers.add(v.signer)
  }

  /** Remember a verified vote; a conflicting pair from one signer becomes evidence (once). */
  private noteVote(v: Vote, out: Action[]): void {
    this.noteProgress(v)
    const conflict = this.record(v)
    if (conflict === null) return
    const id = `${v.signer}/${v.view}`
    if (!this.reported.has(id)) {
      this.reported.add(id)
      out.push({ type: 'evidence', a: conflict, b: v })
    }
    if (v.kind === 'notarize' && v.signer === this.leader(v.view)) this.rec(v.view).leaderEquivocated = true
  }

  /** `verified`: a vote we just signed, or whose signature was just checked. `from`: the
   * authenticated sender. */
  private onVote(now: number, v: Vote, out: Action[], verified = false, from?: string): Verdict {
    if (v.epoch !== this.epoch) return 'ignored'
    if (v.view > this.view + VIEWS_AHEAD_MAX || v.view + VIEWS_RETAINED < this.finalizedView) return 'ignored'
    if (!verified && this.redundant(v)) {
      // Unchecked, it still tells what its own signer has seen, when the signer sent it itself:
      // a member can only lie about itself that way (and only delays what it is sent).
      if (from === v.signer) this.noteProgress(v)
      return 'ignored'
    }
    const check = verified ? 'ok' : checkVote(this.cfg.net, this.cfg.validators, v)
    if (check !== 'ok') return 'bad'
    this.noteVote(v, out)
    const r = this.rec(v.view)
    if (v.kind === 'nullify') {
      r.nullify.set(v.signer, v)
      if (r.nullification === null && this.cfg.validators.isQuorum(this.cfg.validators.weightOf(r.nullify.keys()))) {
        this.onNullification(now, makeCertificate([...r.nullify.values()]), out)
      }
      if (!verified) this.answer(v, from, out)
      return 'ok'
    }
    const key = `${hex(v.digest)}/${v.parent}`
    const bucket = v.kind === 'notarize' ? r.notarize : r.finalize
    const votes = bucket.get(key) ?? new Map<string, Vote>()
    votes.set(v.signer, v)
    bucket.set(key, votes)
    if (this.cfg.validators.isQuorum(this.cfg.validators.weightOf(votes.keys()))) {
      const cert = makeCertificate([...votes.values()])
      if (v.kind === 'notarize' && r.notarization === null) this.onNotarization(now, cert, out, true)
      if (v.kind === 'finalize' && r.finalization === null) this.onFinalization(now, cert, out, true)
    }
    return 'ok'
  }

  /**
   * A NOTARIZE or FINALIZE for exactly the block of a certificate we already hold adds nothing:
   * it cannot complete a quorum, and it cannot conflict with anything its signer may send (two
   * votes conflict only if their digests differ, or for NULLIFY and FINALIZE). Its signature is
   * not checked, so it counts as no sign of life either. A leader's NOTARIZE is still checked:
   * it may be one half of an equivocation.
   */
  private redundant(v: Vote): boolean {
    if (v.kind === 'nullify') return false
    const r = this.views.get(v.view)
    const c = v.kind === 'notarize' ? r?.notarization : r?.finalization
    if (c == null || c.parent !== v.parent || !bytesEqual(c.digest, v.digest)) return false
    return !(v.kind === 'notarize' && v.signer === this.leader(v.view))
  }

  private onCert(now: number, c: Certificate, out: Action[]): Verdict {
    if (c.epoch !== this.epoch) return 'ignored'
    const r = this.views.get(c.view)
    const have = c.kind === 'notarize' ? r?.notarization : c.kind === 'nullify' ? r?.nullification : r?.finalization
    if (have != null) return 'ignored'
    if (c.view + VIEWS_RETAINED < this.finalizedView && c.kind !== 'finalize') return 'ignored'
    if (checkCertificate(this.cfg.net, this.cfg.validators, c) !== 'ok') return 'bad'
    // Each signature in a certificate is a signed vote: a signer who told us otherwise directly
    // (e.g. an equivocating leader sending different blocks to different halves) is caught here.
    for (const s of c.signers) this.noteVote({ kind: c.kind, epoch: c.epoch, view: c.view, parent: c.parent, digest: c.digest, signer: s.id, sig: s.sig }, out)
    if (c.kind === 'notarize') this.onNotarization(now, c, out)
    else if (c.kind === 'nullify') this.onNullification(now, c, out)
    else this.onFinalization(now, c, out)
    return 'ok'
  }

  /**
   * Collector mode: a certificate we formed from votes goes to all at once (but those that have
   * shown they hold it): we are its collector, or the votes were fallbacks (the collector is
   * down or slow), and then the others need it before their advance timers end the view. Not
   * when its collector is out of reach here: then every vote went to all (castVote).
   */
  private sendFormed(c: Certificate, out: Action[]): boolean {
    if (!this.collect || this.cfg.me === null) return false
    // Votes of a view whose collector is out of reach went to all: each forms the certificate
    // itself, as all to all, and it is passed on lazily.
    if (this.collectorAbsent(c.view)) return false
    out.push({ type: 'broadcast', msg: { t: 'cert', cert: c }, except: this.holders(c) })
    return true
  }

  /** View `view`'s collector is another validator, out of reach (EngineConfig.reachable). */
  private collectorAbsent(view: number): boolean {
    const collector = this.collector(view)
    return this.cfg.me !== null && collector !== this.cfg.me.id && this.cfg.reachable?.(collector) === false
  }

  /** Who need not be sent certificate `c`: us, and the validators that have shown they hold it.
   * A vote in a later view shows its signer left `c`'s view (so holds a notarization or a
   * nullification of it), not that it holds the finalization; a FINALIZE shows the notarization. */
  private holders(c: Certificate): Set<string> {
    const except = new Set<string>()
    if (this.cfg.me !== null) except.add(this.cfg.me.id)
    if (c.kind !== 'finalize') for (const [id, last] of this.lastVoted) if (last > c.view) except.add(id)
    if (c.kind === 'notarize') for (const id of this.views.get(c.view)?.finalizers ?? []) except.add(id)
    return except
  }

  /** `formed`: we assembled it from votes (else it came as a certificate). */
  private onNotarization(now: number, c: Certificate, out: Action[], formed = false): void {
    const r = this.rec(c.view)
    if (r.notarization !== null) return
    r.notarization = c
    // Before our FINALIZE is persisted: the certificate needs no WAL write to leave.
    if (formed ? !this.sendFormed(c, out) : !this.collect) this.scheduleForward(now, c, out)
    if (!this.blocks.has(hex(c.digest)) && hex(c.digest) !== hex(this.cfg.genesis.digest)) out.push({ type: 'fetch-block', digest: c.digest })
    // DESIGN.md §4.5: finalize only if we did not nullify this view (and saw no equivocation).
    if (r.myNullify === null && r.myFinalize === null && !r.leaderEquivocated && this.cfg.me !== null) {
      this.castVote(now, { kind: 'finalize', epoch: this.epoch, view: c.view, parent: 0, digest: c.digest }, out)
    }
    if (c.view >= this.view) this.enter(c.view + 1, now, out)
    this.progress(now, out)
  }

  private onNullification(now: number, c: Certificate, out: Action[]): void {
    const r = this.rec(c.view)
    if (r.nullification !== null) return
    r.nullification = c
    this.scheduleForward(now, c, out)
    if (c.view >= this.view) this.enter(c.view + 1, now, out)
    this.progress(now, out)
  }

  private onFinalization(now: number, c: Certificate, out: Action[], formed = false): void {
    const r = this.rec(c.view)
    if (r.finalization !== null) return
    r.finalization = c
    // Not forwarded (but the epoch's last, in tryFinalize): nobody needs a finalization to move
    // on, and any later one finalizes this block too. In collector mode, the collector sends
    // the one it formed to all: the others learn finality from it.
    if (formed) this.sendFormed(c, out)
    if (c.view > this.finalizedView && (this.pendingFinal === null || c.view > this.pendingFinal.view)) this.pendingFinal = c
    if (c.view >= this.view) this.enter(c.view + 1, now, out)
    this.progress(now, out)
  }

  /** Retry whatever waited for a block or certificate: the current proposal, a finalization. */
  private progress(now: number, out: Action[]): void {
    if (this.pendingFinal !== null) this.tryFinalize(out)
    if (!this.done) this.tryNotarize(this.view, now, out)
  }

  private tryFinalize(out: Action[]): void {
    const c = this.pendingFinal
    if (c === null) return
    const d = hex(c.digest)
    if (this.stateOf(d) === null && this.execute(d, out) === null) return
    // Walk back to the last finalized block: everything in between is final now.
    const chain: FinalizedBlock[] = []
    let cur = d
    while (cur !== this.finalizedDigest) {
      const k = this.blocks.get(cur)
      if (k === undefined || k.applied === null) return
      chain.push({ block: k.block, bytes: k.bytes, applied: k.applied })
      cur = hex(k.block.parent)
    }
    this.pendingFinal = null
    this.finalizedView = c.view
    if (chain.length === 0) return // a re-proposal finalized an already final block? cannot happen
    chain.reverse()
    const top = chain[chain.length - 1] as FinalizedBlock
    this.finalizedDigest = d
    this.finalizedHeight = top.block.height
    const endsEpoch = top.block.height === this.cfg.boundaryHeight
    out.push({ type: 'finalize', blocks: chain, cert: c, endsEpoch })
    if (endsEpoch) {
      // The engine stops here and forwards nothing later: the last finalization goes to all now.
      out.push({ type: 'broadcast', msg: { t: 'cert', cert: c } })
      this.done = true
    }
    this.prune()
  }

  private prune(): void {
    const floor = this.finalizedView - VIEWS_RETAINED
    if (floor <= this.prunedBelow) return // nothing new to drop (this runs at every view change)
    this.prunedBelow = floor
    for (const v of this.views.keys()) if (v < floor) this.views.delete(v)
    for (const v of this.seen.keys()) if (v < floor) this.seen.delete(v)
    for (const v of this.answered.keys()) if (v < floor) this.answered.delete(v)
    for (const v of this.leaders.keys()) if (v < floor) this.leaders.delete(v)
    for (const [d, k] of this.blocks) if (k.block.height <= this.finalizedHeight && d !== this.finalizedDigest) this.blocks.delete(d)
  }
}
