// The daemon (DESIGN.md §8): composition root. It validates its options, opens the store and the
// vote WAL, starts the libp2p host, and wires a Replica to gossip, sync and a local control API.
// Everything protocol-level lives in Replica (shared with the simulation); this file does I/O.

import { join } from 'node:path'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { TrothError } from '../errors.ts'
import { collectGarbage } from '../gc.ts'
import { formatMemberId } from '../identity/member-id.ts'
import { publicKeyOf } from '../identity/ed25519.ts'
import { encode, decode, type CborValue } from '../ledger/encoding.ts'
import { Channel } from '../p2p/channel.ts'
import { toHex } from '../ledger/hash.ts'
import { readSnapshot, snapshotChunks } from '../obligation/snapshot.ts'
import { ENTRY_BYTES_MAX, MESSAGE_BYTES_MAX } from '../ledger/limits.ts'
import { LedgerStore } from '../ledger/store.ts'
import { RPC_FRAME_BYTES_CEILING, createGossip, createHost, createRpc, rpcProtocol, type Gossip, type Rpc, type RpcProtocol, type TrothHost } from '../p2p/index.ts'
import type { PeerIdentity } from '../p2p/host.ts'
import { ControlServer } from './control.ts'
import { NodeMetrics } from './metrics.ts'
import { StatusServer } from './status-page.ts'
import type { Logger } from 'pino'
import type { NatOptions } from '../p2p/host.ts'
import { ledgerIdentity } from './identity.ts'
import { ledgerPath } from './data-dir.ts'
import { Replica, decodeSyncRequest, encodeSyncRequest, type SyncRequest } from './replica.ts'
import { fetchSealedStart, serveSealed, serveState } from './sealed-start.ts'
import { FileWal } from './wal.ts'
import { Reach, type ReachTimes } from './reach.ts'
import { ChunkStore } from './chunks.ts'
import { Obligations } from './obligations.ts'

export interface DaemonOptions {
  readonly data: string
  readonly seed: Uint8Array
  readonly genesis: Uint8Array
  readonly listen: readonly string[]
  readonly bootstrap: readonly string[]
  /** A leader with nothing to propose waits this long, then proposes an empty block. */
  readonly idleMs: number
  /** Δ: the network delay bound the timers assume. */
  readonly deltaMs: number
  /** Where structured log lines go (one JSON object per line). */
  readonly log: (line: string) => void
  /** Start the control API (the CLI's way in); off for in-process benchmarks. */
  readonly control?: boolean
  /** Structured logging (pino): when given, events go here at a level per event instead of to
   * `log`. */
  readonly logger?: Logger
  /** The status page and metrics, HOST:PORT (port 0 picks one); '' or absent: none. */
  readonly status?: string
  /** libp2p's home-network services (docs/operations.md#nat); all off by default. */
  readonly nat?: NatOptions
  /** The public key of DIR/key.next, a rotation's new key waiting to take effect (or null);
   * read when the key is checked, since `troth key rotate` writes it while the node runs. */
  readonly nextKey?: () => Uint8Array | null
  /** How a store at genesis catches up (docs/consensus.md "Starting from a sealed checkpoint"):
   * 'replay' (default) every block from genesis, keeping all history; 'checkpoint' adopts a
   * peer's newest sealed checkpoint first, falling back to replay when no peer has one. */
  readonly sync?: SyncMode
  /** How votes travel (docs/consensus.md "Votes through a collector"): 'auto' (default: by the
   * epoch's validator count, RELAY_ALL_MAX_VALIDATORS), or forced 'all' / 'collector' (bench and
   * tests compare them). */
  readonly relay?: 'all' | 'collector' | 'auto'
  /** When a validator without a connection counts as out of reach (node/reach.ts; default
   * REACH_TIMES; tests shorten them). */
  readonly reach?: ReachTimes
}

export const SYNC_MODES = ['replay', 'checkpoint'] as const
export type SyncMode = (typeof SYNC_MODES)[number]

/**
 * Why a running daemon must stop and be started again (see Daemon.keyChange):
 * - 'switch': our rotation took effect; restart with DIR/key.next as the key;
 * - 'replaced': a key recovery gave our member another key; this key speaks for nobody now;
 * - 'identity': the ledger now names our key's member differently (a recovery made this key the
 *   member's), so restart to act as that member.
 */
export type KeyChange = 'switch' | 'replaced' | 'identity'

/** The level of each log event; everything not listed is info. */
const EVENT_LEVELS: Readonly<Record<string, 'debug' | 'warn' | 'error'>> = {
  'finalized': 'debug',
  'synced': 'debug',
  'sync.ask': 'debug',
  'checkpoint.fetching': 'debug',
  'checkpoint.fetched': 'debug',
  'penalty': 'warn',
  'evidence': 'warn',
  'finalize.gap': 'warn',
  'checkpoint.inconsistent': 'warn',
  'mempool.dropped': 'warn',
  'snapshot.fetch-failed': 'warn',
  'replica.error': 'error',
  'replica.background-error': 'error',
  'gossip.error': 'error',
  'duties.error': 'error',
}

export function levelOf(event: string): 'debug' | 'info' | 'warn' | 'error' {
  return EVENT_LEVELS[event] ?? 'info'
}

export const SYNC_TIMEOUT_MS = 5_000
/** A consensus message (a proposal carries its block) fits one frame. */
export const CONSENSUS_FRAME_BYTES_MAX = 4 * 1024 * 1024 + 16 * 1024
export const IDLE_MS_DEFAULT = 1_000
export const DELTA_MS_DEFAULT = 250

/** Make `obj[method]` wait `ms` before it runs (a slow disk, for the perturbation tests). */
function slowDown<T extends object>(obj: T, method: keyof T & string, ms: number): void {
  const f = (obj[method] as (...a: unknown[]) => Promise<unknown>).bind(obj)
  ;(obj as Record<string, unknown>)[method] = async (...a: unknown[]): Promise<unknown> => {
    await new Promise((r) => setTimeout(r, ms))
    return f(...a)
  }
}

/** The data dir must take a new file now, not at the first vote (a read-only disk, a wrong owner). */
function checkWritable(data: string): void {
  const probe = join(data, `.write-test-${process.pid}`)
  try {
    mkdirSync(data, { recursive: true, mode: 0o700 })
    writeFileSync(probe, '')
    rmSync(probe)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error'
    throw new TrothError('input.invalid', `data dir ${data} is not writable (${code}): troth needs to write its ledger, vote log and chunks there`)
  }
}

export class Daemon {
  readonly store: LedgerStore
  readonly wal: FileWal
  readonly host: TrothHost
  readonly gossip: Gossip
  /** Which validators this node can reach (node/reach.ts). */
  reach: Reach | null = null
  readonly rpc: Rpc
  readonly replica: Replica
  readonly chunks: ChunkStore
  obligations: Obligations | null = null
  readonly id: string
  readonly startedAt = Date.now()
  private control: ControlServer | null = null
  channel: Channel | null = null
  /** Own entries, straight to every connected peer (see gossipEntry below). */
  entryChannel: Channel | null = null
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly sync: RpcProtocol
  private stopped = false
  metrics: NodeMetrics | null = null
  statusServer: StatusServer | null = null
  private finalizedListeners: Array<(entries: number, height: number) => void> = []
  /** Resolves when the ledger changed which member this key is (checked at start and at every epoch). */
  readonly keyChange: Promise<KeyChange>
  private readonly keyChanged: (why: KeyChange) => void
  private nextKey: () => Uint8Array | null = () => null
  /** The current key's id (the MemberId unless the member rotated or was recovered). */
  keyId = ''
  private logEvent: (event: string, fields?: Record<string, unknown>) => void = () => undefined

  /** The validators of the epoch this node counts as out of reach (docs/consensus.md "A
   * validator out of reach"): no connection, and not seen lately. */
  outOfReach(): string[] {
    return this.store.state.epoch.validators.map((v) => v.id).filter((v) => !this.reachable(v)).sort()
  }

  /** Whether this node can reach `member`: itself, a connection, or seen lately (EngineConfig.reachable). */
  reachable(member: string): boolean {
    return member === this.id || this.host.peers().includes(member) || this.reach?.recentlySeen(member) !== false
  }

  private constructor(parts: { store: LedgerStore; wal: FileWal; host: TrothHost; gossip: Gossip; rpc: Rpc; replica: Replica; id: string; sync: RpcProtocol; chunks: ChunkStore }) {
    this.chunks = parts.chunks
    this.store = parts.store
    this.wal = parts.wal
    this.host = parts.host
    this.gossip = parts.gossip
    this.rpc = parts.rpc
    this.replica = parts.replica
    this.id = parts.id
    this.sync = parts.sync
    let resolve!: (why: KeyChange) => void
    this.keyChange = new Promise<KeyChange>((r) => (resolve = r))
    this.keyChanged = resolve
  }

  /** Called with (entries, top height) whenever finalized blocks are committed. */
  onFinalized(f: (entries: number, height: number) => void): void {
    this.finalizedListeners.push(f)
  }

  /** Compare who the ledger says this key is with who we act as; report a change once. */
  private checkKey(identity: PeerIdentity): void {
    const now = identity.memberOf(this.keyId)
    if (now === this.id) return
    if (now !== null) return this.keyChanged('identity')
    let next: Uint8Array | null = null
    try {
      next = this.nextKey()
    } catch {
      // An unreadable key.next is no key of ours.
    }
    this.keyChanged(next !== null && identity.memberOf(formatMemberId(next)) === this.id ? 'switch' : 'replaced')
  }

  static async start(o: DaemonOptions): Promise<Daemon> {
    if (!(o.idleMs >= 10 && o.idleMs <= 600_000)) throw new TrothError('input.invalid', 'usage: --idle-ms must be within [10, 600000]')
    if (!(o.deltaMs >= 5 && o.deltaMs <= 60_000)) throw new TrothError('input.invalid', 'usage: --delta-ms must be within [5, 60000]')
    checkWritable(o.data)
    const store = await LedgerStore.open(ledgerPath(o.data), o.genesis)
    const chunks = await ChunkStore.open(join(o.data, 'chunks'))
    const wal = new FileWal(join(o.data, 'votes.wal'))
    // Test-only (docs/operations.md#test-switches): a slow disk, read from this process's own
    // environment. Every vote and every commit waits this long before its (still durable) write.
    const slowDiskMs = Number(process.env.TROTH_TEST_SLOW_DISK_MS ?? '0')
    if (Number.isInteger(slowDiskMs) && slowDiskMs > 0 && slowDiskMs <= 10_000) {
      slowDown(wal, 'append', slowDiskMs)
      slowDown(store, 'commitChain', slowDiskMs)
    }
    // Who we are: the member whose current key this is (our first key is our MemberId unless we
    // rotated or were recovered). A key no member holds any more acts as a stranger until the
    // check below stops the daemon.
    const identity = ledgerIdentity(() => store.state)
    const keyId = formatMemberId(publicKeyOf(o.seed))
    const id = identity.memberOf(keyId) ?? keyId
    const net = toHex(store.state.meta.net)
    const sync = rpcProtocol(net, 'sync', { maxRequestBytes: 64 * 1024, maxResponseBytes: RPC_FRAME_BYTES_CEILING - 1024, timeoutMs: SYNC_TIMEOUT_MS })
    const hex = (_k: string, v: unknown): unknown => (v instanceof Uint8Array ? toHex(v) : v)
    const finalizedListeners: Array<(entries: number, height: number) => void> = []
    const log = (event: string, fields: Record<string, unknown> = {}): void => {
      if (event === 'finalized') for (const f of finalizedListeners) f(Number(fields.entries ?? 0), Number(fields.height ?? 0))
      if (o.logger !== undefined) o.logger[levelOf(event)](JSON.parse(JSON.stringify({ event, ...fields }, hex)) as object)
      else o.log(JSON.stringify({ t: Date.now(), event, ...fields }, hex))
    }
    // The gater admits active members, and candidates with an open induction (DESIGN.md §7).
    const admit = (member: string): boolean => {
      const s = store.state
      return s.members.get(member)?.status === 'active' || s.inductions.has(member)
    }
    let host: TrothHost
    try {
      host = await createHost({ seed: o.seed, memberId: id, identity, listen: o.listen, bootstrap: o.bootstrap, net, admit, onPenalty: (e) => log('penalty', { ...e }), ...(o.nat !== undefined ? { nat: o.nat } : {}) })
    } catch (err) {
      await store.close()
      throw err
    }
    const gossip = createGossip(host)
    const rpc = createRpc(host)
    const holder: { d: Daemon | null } = { d: null }
    /**
     * Consensus messages and own entries go straight to every connected peer over a long-lived
     * one-way stream each (one hop, one copy; gossipsub's relaying sent each message several
     * times to every node). Gossip carries them only when some validator of the epoch is out of
     * direct reach: otherwise it would just double the work. `except`: members not to send to;
     * `to`: the only members to send to (a vote for its collector, a certificate for one peer).
     */
    const reach = new Reach(() => Date.now(), o.reach)
    const toAll = (channel: Channel | null, topic: 'consensus' | 'entries', payload: Uint8Array, except?: ReadonlySet<string>, to?: readonly string[]): void => {
      const peers = host.peers()
      reach.connected(peers)
      const unconnected: string[] = []
      if (to !== undefined) {
        for (const member of to) {
          if (member === id) continue
          if (peers.includes(member)) channel?.send(member, payload)
          else unconnected.push(member)
        }
      } else {
        for (const peer of peers) if (except?.has(peer) !== true) channel?.send(peer, payload)
        const connected = new Set(peers)
        for (const v of store.state.epoch.validators) if (v.id !== id && !connected.has(v.id) && except?.has(v.id) !== true) unconnected.push(v.id)
      }
      // By gossip too for validators without a connection, unless they are out of reach (down):
      // then only as the occasional probe (node/reach.ts).
      if (reach.viaGossip(unconnected)) void gossip.publish(topic, payload).catch((err: unknown) => log('gossip.error', { error: (err as Error).message }))
    }
    const replica = new Replica({
      me: { id, seed: o.seed },
      ledger: store,
      wal,
      timing: { leaderMs: o.idleMs + 2 * o.deltaMs, advanceMs: o.idleMs + 3 * o.deltaMs, retryMs: Math.max(100, 4 * o.deltaMs) },
      idleMs: o.idleMs,
      collectMs: 1,
      relay: o.relay ?? 'auto',
      env: {
        now: () => Date.now(),
        wake: (at) => holder.d?.wake(at),
        broadcast: (payload, except, to) => toAll(holder.d?.channel ?? null, 'consensus', payload, except, to),
        gossipEntry: (wire, to) => toAll(holder.d?.entryChannel ?? null, 'entries', wire, undefined, to),
        request: (req, prefer) => holder.d?.request(req, prefer) ?? Promise.resolve(null),
        penalise: (from, reason) => host.penalise(from, reason, 10),
        reachable: (member) => holder.d?.reachable(member) ?? true,
        log: (event, fields) => {
          log(event, fields)
          // Membership may have changed at an epoch boundary: drop peers no longer admitted; and
          // our own key may have changed.
          if (event === 'epoch.start') {
            void host.refresh().catch(() => undefined)
            holder.d?.checkKey(identity)
          }
        },
      },
      ...(process.env.TROTH_TEST_SKIP_PROPOSALS === '1' ? { fault: { skipProposals: true } } : {}),
    })
    const d = new Daemon({ store, wal, host, gossip, rpc, replica, id, sync, chunks })
    d.reach = reach
    d.finalizedListeners = finalizedListeners
    d.keyId = keyId
    d.logEvent = log
    if (o.nextKey !== undefined) d.nextKey = o.nextKey
    holder.d = d
    await rpc.handle(sync, async (request, from) => {
      let req: SyncRequest
      try {
        req = decodeSyncRequest(request)
      } catch (err) {
        host.penalise(from, `bad sync request: ${(err as Error).message}`, 10)
        throw err
      }
      if (req.t === 'sealed') return serveSealed(store, req.epoch)
      if (req.t === 'state') return serveState(store, req.epoch, req.from)
      return replica.serve(req)
    })
    try {
      await host.start()
    } catch (err) {
      await store.close()
      const e = err as NodeJS.ErrnoException
      if (e.code === 'EADDRINUSE' || /EADDRINUSE|address already in use/i.test(e.message)) {
        throw new TrothError('input.invalid', `listen ${o.listen.join(', ')}: the port is in use (another troth, or another program?)`, { cause: err })
      }
      throw err
    }
    // Before the channels open: until the adopted state is in, peers' entries and votes would be
    // judged against the genesis.
    if (o.sync === 'checkpoint' && store.state.meta.height === 0) {
      try {
        await d.startFromSealed(o.genesis, log)
      } catch (err) {
        await d.stop()
        throw err
      }
    }
    d.channel = await Channel.open(host, 'consensus', CONSENSUS_FRAME_BYTES_MAX, (frame, from) => void replica.onConsensus(frame, from))
    d.entryChannel = await Channel.open(host, 'entry', ENTRY_BYTES_MAX, (frame, from) => void replica.onEntry(frame, from))
    gossip.subscribe('consensus', (payload, from) => {
      reach.heard(from)
      return replica.onConsensus(payload, from)
    })
    gossip.subscribe('entries', (payload, from) => {
      reach.heard(from)
      return replica.onEntry(payload, from)
    })
    await replica.start()
    collectGarbage() // the WAL read and the engine's start (src/gc.ts)
    // Duties (DESIGN.md §5). TROTH_TEST_SKIP_AUDITS=1 is a test-only switch read here, from this
    // process's own environment: no peer message can turn it on (docs/obligations.md).
    const skipAudits = process.env.TROTH_TEST_SKIP_AUDITS === '1'
    if (skipAudits) log('duties.test-switch', { skipAudits })
    d.obligations = new Obligations({
      id,
      seed: o.seed,
      net,
      state: () => store.state,
      chunks,
      rpc,
      peers: () => host.peers(),
      submit: (body) => replica.submitOwn(body),
      pending: (wire) => replica.pending(wire),
      penalise: (from, reason) => host.penalise(from, reason, 10),
      log,
      skipAudits,
    })
    await d.obligations.start()
    if (o.control !== false) d.control = await ControlServer.start(o.data, d)
    d.metrics = new NodeMetrics(d, o.data)
    if (o.status !== undefined && o.status !== '') {
      try {
        d.statusServer = await StatusServer.start(o.status, d, d.metrics)
      } catch (err) {
        await d.stop()
        throw err
      }
      log('status.listening', { url: d.statusServer.url })
    }
    log('started', { id, key: keyId, addrs: host.addrs(), height: store.state.meta.height, epoch: store.state.epoch.number })
    d.checkKey(identity)
    return d
  }

  /**
   * A store at genesis, started with --sync checkpoint: adopt a peer's newest sealed checkpoint
   * (verified from the genesis alone), then let ordinary block sync go on from there. Runs before
   * the replica starts, so the engine starts at the adopted head. No peer with one: replay.
   */
  private async startFromSealed(genesis: Uint8Array, log: (event: string, fields?: Record<string, unknown>) => void): Promise<void> {
    const t0 = Date.now()
    const adoption = await fetchSealedStart({
      genesis,
      peers: () => this.host.peers(),
      ask: (peer, req) => this.ask(peer, req),
      penalise: (peer, reason, points) => this.host.penalise(peer, reason, points),
      log,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      now: () => Date.now(),
    })
    if (adoption === null) {
      log('sealed.fallback', { reason: 'no peer offered a sealed checkpoint that verifies; replaying from genesis' })
      return
    }
    await this.store.adopt(adoption)
    log('sealed.adopted', { epoch: adoption.base.epoch, height: adoption.base.height, logSize: adoption.base.logSize, members: adoption.state.members.size, ms: Date.now() - t0 })
    // Who is admitted follows the adopted members now.
    await this.host.refresh().catch(() => undefined)
  }

  /** One sync request to one peer, its answer strictly re-decoded (hostile until checked). */
  private async ask(peer: string, req: SyncRequest): Promise<CborValue> {
    // Which blocks a node asks for shows (debug) that a node started from a checkpoint never asks below it.
    if (req.t === 'blocks') this.logEvent('sync.ask', { peer, from: req.from })
    const res = await this.rpc.request(peer, this.sync, encodeSyncRequest(req))
    return decode(encode(res), { bytesMax: MESSAGE_BYTES_MAX * 2 })
  }

  private wake(at: number): void {
    if (this.stopped) return
    const t = setTimeout(() => {
      this.timers.delete(t)
      void this.replica.onTimer(at)
    }, Math.max(0, at - Date.now()))
    this.timers.add(t)
  }

  /** Ask peers, the preferred one first, then up to two others; null if none answered well. */
  private async request(req: SyncRequest, prefer?: string): Promise<CborValue | null> {
    const peers = this.host.peers()
    const order = [...(prefer !== undefined && peers.includes(prefer) ? [prefer] : []), ...peers.filter((p) => p !== prefer).sort(() => Math.random() - 0.5)].slice(0, 3)
    for (const peer of order) {
      try {
        return await this.ask(peer, req)
      } catch {
        continue
      }
    }
    return null
  }

  /**
   * `troth seal PATH` (DESIGN.md §5.3): chunk the file or directory into this node's chunk store
   * (the submitter holds and serves it first), then submit the seal entry.
   */
  async seal(path: string): Promise<{ root: string; name: string; size: number; chunks: number; status: string }> {
    const info = await readSnapshot(path)
    const root = toHex(info.root)
    const body = { kind: 'seal', root: info.root, size: info.size, chunks: info.chunks, name: info.name } as const
    if (this.store.state.snapshots.has(root)) return { root, name: info.name, size: info.size, chunks: info.chunks, status: 'snapshot-exists' }
    await this.chunks.begin(root, info.size, info.chunks, info.leaves)
    let index = 0
    for await (const chunk of snapshotChunks(path, info.kind)) {
      if (index >= info.chunks) throw new TrothError('input.invalid', `${path} changed while it was being sealed`)
      await this.chunks.put(root, index++, chunk) // checked against the leaves: a changed file is refused
    }
    await this.chunks.markComplete(root)
    this.obligations?.noteHeld(root)
    const r = await this.replica.submitOwn(body)
    return { root, name: info.name, size: info.size, chunks: info.chunks, status: r.status }
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    await this.statusServer?.stop()
    await this.control?.stop()
    this.obligations?.stop()
    // The replica first: it takes no more input, and what it has in flight (commits, a checkpoint
    // cosignature) lands, and goes out, while the channels are still open.
    await this.replica.stop()
    await this.channel?.close()
    await this.entryChannel?.close()
    await this.host.stop()
    await this.wal.close()
    await this.store.close()
  }
}
