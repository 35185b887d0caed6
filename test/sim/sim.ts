// Deterministic simulation of many replicas in one process (DESIGN.md §9; STYLE.md tests layer 4):
// the same Replica and EpochEngine code as the daemon, over a seeded clock, a simulated network
// (per-link delay, loss, partitions), in-memory disks that survive crashes, and byzantine mocks.
// The same seed always produces the same event hash.

import { createHash } from 'node:crypto'
import { formatMemberId } from '../../src/identity/member-id.ts'
import { publicKeyOf } from '../../src/identity/ed25519.ts'
import { blockHash, decodeBlock, encodeBlock } from '../../src/ledger/block.ts'
import { decode, encode } from '../../src/ledger/encoding.ts'
import { encodeGenesis } from '../../src/ledger/genesis.ts'
import { sha256, toHex } from '../../src/ledger/hash.ts'
import { signVote, type Vote } from '../../src/ledger/consensus/messages.ts'
import {
  Replica, decodeConsensus, decodeSyncRequest, encodeConsensus, encodeSyncRequest,
  type ReplicaEnv, type SyncRequest,
} from '../../src/node/replica.ts'
import { MemoryLedger, MemoryWal } from './memory-ledger.ts'
import { Rng } from './rng.ts'

export type Byzantine = 'equivocator' | 'double-voter' | 'nullify-finalize' | 'forger' | 'wrong-epoch' | 'replayer' | 'silent-leader' | 'withholder'

export interface SimOptions {
  readonly seed: number
  readonly nodes: number
  readonly byzantine?: ReadonlyArray<{ index: number; kind: Byzantine }>
  readonly epochBlocks?: number
  readonly delayMs?: [number, number]
  readonly loss?: number
  readonly idleMs?: number
  /** How votes travel (EngineConfig.relay); default 'collector', as the daemon runs. */
  readonly relay?: 'all' | 'collector'
  /** Nodes know which others they can reach (up, link not cut), as the daemon does from its
   * connections (EngineConfig.reachable); default true. */
  readonly reach?: boolean
}

interface Event {
  readonly at: number
  readonly seq: number
  readonly fn: () => Promise<void> | void
}

const TRACE = process.env.SIM_TRACE

export class SimNode {
  readonly index: number
  readonly seed: Uint8Array
  readonly id: string
  readonly ledger: MemoryLedger
  readonly wal = new MemoryWal()
  replica: Replica | null = null
  up = false
  incarnation = 0
  byzantine: Byzantine | null = null
  /** Every vote this node ever sent (honest nodes must never have two conflicting). */
  readonly sent: Vote[] = []
  /** The NOTARIZE votes of the proposals this node sent (one per view it led and proposed in). */
  readonly proposed: Vote[] = []
  readonly seenVotes: Vote[] = []

  constructor(index: number, seed: Uint8Array, genesis: Uint8Array) {
    this.index = index
    this.seed = seed
    this.id = formatMemberId(publicKeyOf(seed))
    this.ledger = new MemoryLedger(genesis)
  }
}

export class Sim {
  readonly rng: Rng
  readonly opts: SimOptions
  readonly nodes: SimNode[]
  readonly genesis: Uint8Array
  now = 1_800_000_000_000
  private seq = 0
  private heap: Event[] = []
  private readonly hash = createHash('sha256')
  /** Blocked directed links "a>b". */
  private readonly cut = new Set<string>()
  readonly penalties: Array<{ by: string; from: string; reason: string }> = []
  readonly errors: string[] = []
  events = 0

  constructor(opts: SimOptions) {
    this.opts = opts
    this.rng = new Rng(opts.seed)
    const seeds = Array.from({ length: opts.nodes }, (_, i) => sha256(new TextEncoder().encode(`sim node ${i}`)))
    this.genesis = encodeGenesis({
      version: 1,
      name: 'sim',
      time: this.now,
      founders: seeds.map((s, i) => ({ key: publicKeyOf(s), name: `n${i}`, request: null })),
      policy: { epochBlocks: opts.epochBlocks ?? 12 },
    })
    this.nodes = seeds.map((s, i) => new SimNode(i, s, this.genesis))
    for (const b of opts.byzantine ?? []) (this.nodes[b.index] as SimNode).byzantine = b.kind
  }

  // ---- event queue (binary heap on (at, seq)) ----

  schedule(at: number, fn: () => Promise<void> | void): void {
    const e: Event = { at: Math.max(at, this.now), seq: this.seq++, fn }
    const h = this.heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (less(h[p] as Event, e)) break
      h[i] = h[p] as Event
      i = p
    }
    h[i] = e
  }

  private pop(): Event | undefined {
    const h = this.heap
    const top = h[0]
    const last = h.pop()
    if (top === undefined || last === undefined || h.length === 0) return top
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= h.length) break
      const r = l + 1
      const c = r < h.length && less(h[r] as Event, h[l] as Event) ? r : l
      if (less(last, h[c] as Event)) break
      h[i] = h[c] as Event
      i = c
    }
    h[i] = last
    return top
  }

  /** Run until simulated time `until` (or no events). */
  async runUntil(until: number): Promise<void> {
    for (;;) {
      const top = this.heap[0]
      if (top === undefined || top.at > until) break
      const e = this.pop() as Event
      this.now = e.at
      this.events++
      await e.fn()
      // Let every continuation triggered by this event finish before the next one (no real I/O
      // here, so one macrotask turn drains them all, in a deterministic order).
      await new Promise<void>((r) => setImmediate(r))
    }
    this.now = Math.max(this.now, until)
  }

  async runFor(ms: number): Promise<void> {
    await this.runUntil(this.now + ms)
  }

  /** Own entries sent, counted per recipient. */
  entryFrames = 0
  /** When set, every sending of an own entry is kept here: when, by whom, to whom (undefined: all),
   * and whom the sender's engine named then as the next epoch's first two leaders. */
  entrySends: Array<{ at: number; from: string; entry: Uint8Array; to: readonly string[] | undefined; nextEpochLeaders: readonly string[] }> | null = null

  /** How many times each logged event happened, by name (e.g. 'checkpoint.fetching'). */
  readonly eventCounts = new Map<string, number>()
  /** When each event of the names watched happened (watch()): simulated time and the log line. */
  readonly eventTimes = new Map<string, Array<{ at: number; line: string }>>()

  /** Keep the times of the events called `name` (eventTimes). */
  watch(name: string): void {
    if (!this.eventTimes.has(name)) this.eventTimes.set(name, [])
  }

  record(line: string): void {
    this.hash.update(`${this.now} ${line}\n`)
    const name = line.split(' ')[1]
    if (name !== undefined) this.eventCounts.set(name, (this.eventCounts.get(name) ?? 0) + 1)
    if (name !== undefined) this.eventTimes.get(name)?.push({ at: this.now, line })
    // SIM_TRACE=<prefix> prints the events that start with it (e.g. "1 " for node 1's): debugging.
    if (TRACE !== undefined && line.startsWith(TRACE)) console.log(this.now, line.slice(0, 300))
  }

  eventHash(): string {
    return this.hash.copy().digest('hex')
  }

  // ---- network ----

  partition(groups: number[][]): void {
    this.cut.clear()
    for (const a of this.nodes) for (const b of this.nodes) {
      if (a === b) continue
      const ga = groups.findIndex((g) => g.includes(a.index))
      const gb = groups.findIndex((g) => g.includes(b.index))
      if (ga !== gb) this.cut.add(`${a.index}>${b.index}`)
    }
  }

  heal(): void {
    this.cut.clear()
  }

  private linkDelay(from: SimNode, to: SimNode): number | null {
    if (this.cut.has(`${from.index}>${to.index}`)) return null
    if (this.opts.loss !== undefined && this.rng.chance(this.opts.loss)) return null
    const [lo, hi] = this.opts.delayMs ?? [1, 20]
    return lo + this.rng.int(hi - lo + 1)
  }

  private deliver(from: SimNode, to: SimNode, fn: (r: Replica) => Promise<void> | void): void {
    const d = this.linkDelay(from, to)
    if (d === null) return
    const inc = to.incarnation
    this.schedule(this.now + d, async () => {
      if (to.up && to.incarnation === inc && to.replica !== null) await fn(to.replica)
    })
  }

  broadcastFrom(from: SimNode, payload: Uint8Array, only?: (to: SimNode) => boolean): void {
    for (const to of this.nodes) {
      if (to === from || (only !== undefined && !only(to))) continue
      this.deliver(from, to, (r) => r.onConsensus(payload, from.id))
    }
  }

  // ---- nodes ----

  private envFor(node: SimNode): ReplicaEnv {
    const inc = node.incarnation
    const alive = (): boolean => node.up && node.incarnation === inc
    return {
      now: () => this.now,
      // As the daemon sees it: a connection to the node, i.e. it is up and the link is not cut.
      ...(this.opts.reach === false ? {} : {
        reachable: (member: string) => {
          const to = this.nodes.find((n) => n.id === member)
          return to !== undefined && to.up && !this.cut.has(`${node.index}>${to.index}`)
        },
      }),
      wake: (at) => {
        this.schedule(at, async () => {
          if (alive() && node.replica !== null) await node.replica.onTimer(at)
        })
      },
      broadcast: (payload, except, to) => {
        if (!alive()) return
        this.outgoing(node, payload, except, to)
      },
      gossipEntry: (wire, only) => {
        if (!alive()) return
        this.entryFrames += only?.length ?? this.nodes.length - 1
        this.entrySends?.push({ at: this.now, from: node.id, entry: wire, to: only, nextEpochLeaders: node.replica?.currentEngine?.nextEpochLeaders(2) ?? [] })
        for (const to of this.nodes) if (to !== node && (only === undefined || only.includes(to.id))) this.deliver(node, to, (r) => r.onEntry(wire, node.id))
      },
      request: (req, prefer) => this.request(node, req, prefer),
      penalise: (from, reason) => {
        this.penalties.push({ by: node.id, from, reason })
      },
      log: (event, fields) => {
        if (event === 'replica.error') this.errors.push(`${node.index}: ${String(fields?.error)} ${String(fields?.stack)}`)
        this.record(`${node.index} ${event} ${JSON.stringify(fields ?? {}, (_k, v: unknown) => (v instanceof Uint8Array ? toHex(v) : v))}`)
      },
    }
  }

  private request(node: SimNode, req: SyncRequest, prefer?: string): Promise<ReturnType<Replica['serve']> extends Promise<infer T> ? T | null : never> {
    return new Promise((resolve) => {
      const peers = this.nodes.filter((p) => p !== node && p.up && !this.cut.has(`${node.index}>${p.index}`))
      const preferred = peers.find((p) => p.id === prefer)
      const peer = preferred ?? (peers.length > 0 ? this.rng.pick(peers) : undefined)
      let settled = false
      const finish = (v: Parameters<typeof resolve>[0]): void => {
        if (!settled) {
          settled = true
          resolve(v)
        }
      }
      this.schedule(this.now + 1000, () => finish(null)) // request timeout
      if (peer === undefined) return
      const wire = encode(encodeSyncRequest(req))
      this.deliver(node, peer, async (r) => {
        const res = encode(await r.serve(decodeSyncRequest(decode(wire, { bytesMax: 1 << 20 }))))
        this.deliver(peer, node, () => finish(decode(res, { bytesMax: 1 << 24 })))
      })
    })
  }

  async start(index: number): Promise<void> {
    const node = this.nodes[index] as SimNode
    if (node.up) return
    node.up = true
    node.incarnation++
    node.replica = new Replica({
      me: { id: node.id, seed: node.seed },
      ledger: node.ledger,
      wal: node.wal,
      env: this.envFor(node),
      timing: { leaderMs: (this.opts.idleMs ?? 200) + 100, advanceMs: (this.opts.idleMs ?? 200) + 150, retryMs: 300 },
      idleMs: this.opts.idleMs ?? 200,
      collectMs: 2,
      relay: this.opts.relay ?? 'collector',
      fault: node.byzantine === 'silent-leader' ? { skipProposals: true } : {},
    })
    this.record(`${index} start`)
    await node.replica.start()
  }

  async startAll(): Promise<void> {
    for (const n of this.nodes) await this.start(n.index)
  }

  /** Crash: the process is gone; its ledger and WAL (its disk) remain. */
  crash(index: number): void {
    const node = this.nodes[index] as SimNode
    if (!node.up) return
    node.up = false
    node.incarnation++
    node.replica?.halt()
    node.replica = null
    this.record(`${index} crash`)
  }

  /** Submit an entry at a node (a policy vote, as a user would through the control API). */
  async submit(index: number, value: number): Promise<void> {
    const node = this.nodes[index] as SimNode
    if (!node.up || node.replica === null) return
    await node.replica.submitOwn({ kind: 'policy.vote', param: 'chunksPerAudit', value })
  }

  // ---- byzantine behaviour, applied to what a node sends ----

  private outgoing(node: SimNode, payload: Uint8Array, except?: ReadonlySet<string>, to?: readonly string[]): void {
    let msg
    try {
      msg = decodeConsensus(payload)
    } catch {
      return
    }
    if (msg.t === 'proposal') node.proposed.push(msg.vote)
    if (msg.t === 'vote' || msg.t === 'proposal') {
      node.sent.push(msg.vote)
      if (node.seenVotes.length < 500) node.seenVotes.push(msg.vote)
    }
    const net = node.ledger.state.meta.net
    const vote = msg.t === 'vote' || msg.t === 'proposal' ? msg.vote : null
    switch (node.byzantine) {
      case 'equivocator':
        if (msg.t === 'proposal') {
          // Two different blocks for one view: half the peers get each.
          const b = decodeBlock(msg.block)
          const other = encodeBlock({ ...b, time: b.time + 1 })
          const v2 = signVote(net, node.seed, node.id, { ...msg.vote, digest: blockHash(decodeBlock(other)) })
          node.sent.push(v2)
          this.broadcastFrom(node, payload, (to) => to.index % 2 === 0)
          this.broadcastFrom(node, encodeConsensus({ t: 'proposal', vote: v2, block: other }), (to) => to.index % 2 === 1)
          return
        }
        break
      case 'double-voter':
        if (vote !== null && vote.kind !== 'nullify') {
          const fake = signVote(net, node.seed, node.id, { ...vote, digest: sha256(vote.digest) })
          node.sent.push(fake)
          this.broadcastFrom(node, payload, (to) => to.index % 2 === 0)
          this.broadcastFrom(node, encodeConsensus({ t: 'vote', vote: fake }), (to) => to.index % 2 === 1)
          return
        }
        break
      case 'nullify-finalize':
        if (vote !== null && vote.kind === 'finalize') {
          const nul = signVote(net, node.seed, node.id, { kind: 'nullify', epoch: vote.epoch, view: vote.view, parent: 0, digest: new Uint8Array(0) })
          node.sent.push(nul)
          this.broadcastFrom(node, encodeConsensus({ t: 'vote', vote: nul }))
        }
        break
      case 'forger':
        if (vote !== null) {
          // Claim to be another validator, and send garbage signatures.
          const victim = this.nodes[(node.index + 1) % this.nodes.length] as SimNode
          const forged: Vote = { ...vote, signer: victim.id }
          const garbage: Vote = { ...vote, sig: new Uint8Array(64).fill(7) }
          this.broadcastFrom(node, encodeConsensus({ t: 'vote', vote: forged }))
          this.broadcastFrom(node, encodeConsensus({ t: 'vote', vote: garbage }))
        }
        break
      case 'wrong-epoch':
        if (vote !== null) {
          const bad = signVote(net, node.seed, node.id, { ...vote, epoch: vote.epoch + 1 })
          const old = vote.epoch > 0 ? signVote(net, node.seed, node.id, { ...vote, epoch: vote.epoch - 1 }) : null
          this.broadcastFrom(node, encodeConsensus({ t: 'vote', vote: bad }))
          if (old !== null) this.broadcastFrom(node, encodeConsensus({ t: 'vote', vote: old }))
        }
        break
      case 'withholder':
        // A collector that keeps the certificates it forms from the odd-indexed nodes (and any
        // certificate it passes on): they must get them through the fallback.
        if (msg.t === 'cert') {
          this.broadcastFrom(node, payload, (n) => n.index % 2 === 0 && (to === undefined || to.includes(n.id)) && except?.has(n.id) !== true)
          return
        }
        break
      case 'replayer':
        if (node.seenVotes.length > 10 && this.rng.chance(0.3)) {
          const old = this.rng.pick(node.seenVotes)
          this.broadcastFrom(node, encodeConsensus({ t: 'vote', vote: old }))
        }
        break
      default:
        break
    }
    if (to !== undefined) this.broadcastFrom(node, payload, (n) => to.includes(n.id))
    else this.broadcastFrom(node, payload, except === undefined ? undefined : (n) => !except.has(n.id))
  }

  // ---- checks ----

  /** Safety: no two different finalized blocks at one height; every log a prefix of the others. */
  checkSafety(): void {
    const longest = this.nodes.reduce((a, n) => (n.ledger.hashes.length > a.ledger.hashes.length ? n : a))
    for (const n of this.nodes) {
      if (n.byzantine !== null) continue
      for (let h = 0; h < n.ledger.hashes.length; h++) {
        if (n.ledger.hashes[h] !== longest.ledger.hashes[h]) {
          throw new Error(`safety violation: node ${n.index} and node ${longest.index} differ at height ${h + 1}`)
        }
      }
    }
  }

  /** No honest node ever sent two conflicting votes (the WAL's job across restarts). */
  checkNoHonestEquivocation(): void {
    for (const n of this.nodes) {
      if (n.byzantine !== null) continue
      const byView = new Map<string, Vote[]>()
      for (const v of n.sent) {
        const k = `${v.epoch}/${v.view}`
        const list = byView.get(k) ?? []
        for (const p of list) {
          const conflict = p.kind === v.kind ? p.kind !== 'nullify' && toHex(p.digest) !== toHex(v.digest) : new Set([p.kind, v.kind]).has('nullify') && new Set([p.kind, v.kind]).has('finalize')
          if (conflict) throw new Error(`node ${n.index} equivocated in epoch ${v.epoch} view ${v.view}: ${p.kind} vs ${v.kind}`)
        }
        list.push(v)
        byView.set(k, list)
      }
    }
  }

  honest(): SimNode[] {
    return this.nodes.filter((n) => n.byzantine === null)
  }

  minHeight(nodes: readonly SimNode[] = this.honest()): number {
    return Math.min(...nodes.map((n) => n.ledger.state.meta.height))
  }
}

function less(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

export { toHex }
