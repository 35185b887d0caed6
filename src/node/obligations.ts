// A node's duties (DESIGN.md §5.3–§5.5), the I/O side: serve snapshot chunks over
// /troth/<net>/chunk/1, fetch and store the snapshots this node replicates, answer audit
// challenges over /troth/<net>/audit/1 with a signed answer, audit the replicas it is assigned
// and file audit.report entries, and release data it no longer owes. Who owes what comes from
// the ledger (src/ledger/duties.ts); every byte from a peer is checked before it is used.

import { TrothError } from '../errors.ts'
import { parseMemberId } from '../identity/member-id.ts'
import { epochDuties } from '../ledger/duties.ts'
import { asArray, asBytes, asMap, asUint, type CborValue } from '../ledger/encoding.ts'
import type { Body } from '../ledger/entry.ts'
import { bytesEqual, fromHex, toHex } from '../ledger/hash.ts'
import { CHUNK_BYTES } from '../ledger/limits.ts'
import { leafHash, rootOf } from '../ledger/merkle.ts'
import { dutyKey, type LedgerState, type Snapshot } from '../ledger/state.ts'
import { AUDIT_INDEXES_MAX, answerSignatureValid, answerVerdict, answersChallenge, parseSignedAnswer, signAnswer, signedAnswerToCbor, type AuditAssignment } from '../obligation/index.ts'
import { RPC_FRAME_BYTES_CEILING, rpcProtocol, type Rpc, type RpcProtocol } from '../p2p/index.ts'
import type { ChunkStore } from './chunks.ts'

/** How often the duty loop looks at the ledger. */
export const DUTY_TICK_MS = 500
/** Leaf hashes per /chunk/ leaves response (2 MiB of hashes). */
export const LEAVES_PAGE_MAX = 65_536
/** Chunks fetched at once while replicating. */
export const FETCH_PARALLEL = 4
/** An auditor tries a replica at least this many times, AUDIT_RETRY_MS apart, and keeps trying
 * until half of the epoch's blocks are final, before reporting it unreachable: a replica that is
 * briefly away (a restart) is not reported, and an auditor is not contradicted by one that
 * reached it a moment later. */
export const AUDIT_ATTEMPTS = 3
export const AUDIT_RETRY_MS = 1_000
export const CHUNK_TIMEOUT_MS = 10_000
export const AUDIT_TIMEOUT_MS = 10_000
/** A filed report not final after this long is filed again (a leader may have dropped it). */
export const REPORT_RESUBMIT_MS = 5_000

export interface ObligationsConfig {
  readonly id: string
  readonly seed: Uint8Array
  readonly net: string
  readonly state: () => LedgerState
  readonly chunks: ChunkStore
  readonly rpc: Rpc
  /** Connected member ids. */
  readonly peers: () => string[]
  readonly submit: (body: Body) => Promise<{ status: string; wire: Uint8Array }>
  readonly pending: (wire: Uint8Array) => boolean
  readonly penalise: (from: string, reason: string) => void
  readonly log: (event: string, fields?: Record<string, unknown>) => void
  /** Test-only (TROTH_TEST_SKIP_AUDITS=1, read by the daemon at start): never audit. */
  readonly skipAudits: boolean
}

interface AuditState {
  attempts: number
  nextAt: number
  /** Report filed: its wire and when. */
  filed: { wire: Uint8Array; at: number } | null
  running: boolean
}

export function chunkProtocol(net: string): RpcProtocol {
  return rpcProtocol(net, 'chunk', { maxRequestBytes: 1024, maxResponseBytes: Math.max(CHUNK_BYTES, LEAVES_PAGE_MAX * 34) + 1024, timeoutMs: CHUNK_TIMEOUT_MS })
}

export function auditProtocol(net: string): RpcProtocol {
  return rpcProtocol(net, 'audit', { maxRequestBytes: 4096, maxResponseBytes: RPC_FRAME_BYTES_CEILING - 1024, timeoutMs: AUDIT_TIMEOUT_MS })
}

const ZERO_LEAF = new Uint8Array(32)

export class Obligations {
  readonly chunk: RpcProtocol
  readonly audit: RpcProtocol
  private readonly cfg: ObligationsConfig
  private timer: NodeJS.Timeout | null = null
  private busy = false
  private stopped = false
  private auditEpoch = -1
  private readonly audits = new Map<string, AuditState>()
  /** Roots being fetched (one fetch per root at a time). */
  private readonly fetching = new Set<string>()
  /** What the chunk store holds, by root: read once, then kept up to date by this class (the
   * loop runs every DUTY_TICK_MS and must not read a meta file per snapshot each time). */
  private readonly held = new Map<string, 'complete' | 'partial' | 'none'>()

  constructor(cfg: ObligationsConfig) {
    this.cfg = cfg
    this.chunk = chunkProtocol(cfg.net)
    this.audit = auditProtocol(cfg.net)
  }

  async start(): Promise<void> {
    for (const root of await this.cfg.chunks.list()) this.held.set(root, (await this.cfg.chunks.info(root))?.complete === true ? 'complete' : 'partial')
    await this.cfg.rpc.handle(this.chunk, (req, from) => this.serveChunk(req, from))
    await this.cfg.rpc.handle(this.audit, (req, from) => this.serveAudit(req, from))
    this.timer = setInterval(() => void this.tick(), DUTY_TICK_MS)
  }

  stop(): void {
    this.stopped = true
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** The daemon stored a snapshot itself (troth seal). */
  noteHeld(root: string): void {
    this.held.set(root, 'complete')
  }

  /** This epoch's audit duties of this node, with their state (for `troth duties`). */
  dutiesNow(): { epoch: number; audits: Array<AuditAssignment & { state: string }>; replicas: Array<{ root: string; name: string; since: number; holding: string }> } {
    const state = this.cfg.state()
    const audits = epochDuties(state).assignments.filter((a) => a.auditor === this.cfg.id).map((a) => {
      const key = dutyKey(a.root, a.replica, a.auditor)
      const filed = state.reports.get(key)
      const local = this.audits.get(key)
      const status = filed !== undefined ? `reported ${filed}` : this.cfg.skipAudits ? 'skipped (test switch)' : local?.filed ? 'filed, not final yet' : local ? `attempt ${local.attempts}` : 'pending'
      return { ...a, state: status }
    })
    const replicas: Array<{ root: string; name: string; since: number; holding: string }> = []
    for (const [root, s] of state.snapshots) {
      const r = s.replicas.find((x) => x.id === this.cfg.id)
      if (r !== undefined) replicas.push({ root, name: s.name, since: r.since, holding: this.fetching.has(root) ? 'fetching' : (this.held.get(root) ?? 'none') })
    }
    return { epoch: state.epoch.number, audits, replicas }
  }

  private async tick(): Promise<void> {
    if (this.busy || this.stopped) return
    this.busy = true
    try {
      const state = this.cfg.state()
      if (state.members.get(this.cfg.id)?.status !== 'active') return
      await this.replicate(state)
      if (!this.cfg.skipAudits) this.auditAll(state)
    } catch (err) {
      this.cfg.log('duties.error', { error: (err as Error).message })
    } finally {
      this.busy = false
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Replication (DESIGN.md §5.3): fetch what we owe, release what we no longer owe.

  private async replicate(state: LedgerState): Promise<void> {
    for (const [root, s] of state.snapshots) {
      const mine = s.replicas.some((r) => r.id === this.cfg.id)
      const held = this.held.get(root) ?? 'none'
      if (mine && held !== 'complete' && !this.fetching.has(root)) {
        this.fetching.add(root)
        this.held.set(root, 'partial')
        void this.fetchInto(root, s)
          .then(() => {
            this.held.set(root, 'complete')
            this.cfg.log('snapshot.held', { root })
          })
          .catch((err: unknown) => this.cfg.log('snapshot.fetch-failed', { root, error: (err as Error).message }))
          .finally(() => this.fetching.delete(root))
      } else if (!mine && held !== 'none' && s.submitter !== this.cfg.id && !this.fetching.has(root)) {
        // Released (the band moved it elsewhere, §5.2): only the owed copies are kept.
        await this.cfg.chunks.remove(root)
        this.held.set(root, 'none')
        this.cfg.log('snapshot.released', { root })
      }
    }
  }

  /** Members that may hold `s`: its replicas, then its submitter, connected ones only. */
  private sources(s: Snapshot): string[] {
    const peers = new Set(this.cfg.peers())
    const ids = [...s.replicas.map((r) => r.id), s.submitter].filter((id, i, all) => id !== this.cfg.id && peers.has(id) && all.indexOf(id) === i)
    return ids.sort(() => Math.random() - 0.5)
  }

  /** The chunks of a sealed snapshot in order, each checked against the sealed root: from this
   * node's store when it holds them, else from the replicas and the submitter (`troth fetch`). */
  async *stream(root: string): AsyncGenerator<Uint8Array> {
    const s = this.cfg.state().snapshots.get(root)
    if (s === undefined) throw new TrothError('input.not-found', `no sealed snapshot ${root} in the ledger`)
    const local = await this.cfg.chunks.info(root)
    const held = local?.complete === true
    const sources = this.sources(s)
    const leaves = held ? local.leaves : await this.fetchLeaves(root, s, sources)
    for (let i = 0; i < s.chunks; i++) {
      const leaf = leaves[i] as Uint8Array
      const mine = held ? await this.cfg.chunks.get(root, i) : null
      if (mine !== null && bytesEqual(leafHash(mine), leaf)) yield mine
      else yield await this.fetchChunk(root, i, leaf, sources)
    }
  }

  /** The snapshot's leaf hashes from a peer, checked against the root. */
  async fetchLeaves(root: string, s: Pick<Snapshot, 'chunks'>, sources: readonly string[]): Promise<Uint8Array[]> {
    const rootBytes = fromHex(root)
    for (const peer of sources) {
      try {
        const leaves: Uint8Array[] = []
        while (leaves.length < s.chunks) {
          const count = Math.min(LEAVES_PAGE_MAX, s.chunks - leaves.length)
          const res = asMap(await this.cfg.rpc.request(peer, this.chunk, { root: rootBytes, from: leaves.length, count }), 'chunk.leaves', ['leaves'])
          const page = asArray(res.leaves as CborValue, 'chunk.leaves', count).map((h, i) => asBytes(h, `chunk.leaves[${i}]`, 32))
          if (page.length !== count) throw new TrothError('net.protocol', `asked ${count} leaves, got ${page.length}`)
          leaves.push(...page)
        }
        if (!bytesEqual(rootOf(leaves), rootBytes)) {
          this.cfg.penalise(peer, 'snapshot leaves do not match the root')
          continue
        }
        return leaves
      } catch (err) {
        this.cfg.log('snapshot.leaves-failed', { root, peer, error: (err as Error).message })
      }
    }
    throw new TrothError('net.dial-failed', `no connected member served the leaves of ${root}`)
  }

  /** One chunk from one of the sources, checked against its leaf. */
  async fetchChunk(root: string, index: number, leaf: Uint8Array, sources: readonly string[]): Promise<Uint8Array> {
    const rootBytes = fromHex(root)
    for (const peer of sources) {
      try {
        const res = asMap(await this.cfg.rpc.request(peer, this.chunk, { root: rootBytes, index }), 'chunk', ['data'])
        const data = asBytes(res.data as CborValue, 'chunk.data', undefined, CHUNK_BYTES)
        if (!bytesEqual(leafHash(data), leaf)) {
          this.cfg.penalise(peer, `chunk ${index} of ${root} does not match its leaf`)
          continue
        }
        return data
      } catch (err) {
        this.cfg.log('snapshot.chunk-failed', { root, index, peer, error: (err as Error).message })
      }
    }
    throw new TrothError('net.dial-failed', `no connected member served chunk ${index} of ${root}`)
  }

  private async fetchInto(root: string, s: Snapshot): Promise<void> {
    const sources = this.sources(s)
    let info = await this.cfg.chunks.info(root)
    if (info === null) {
      await this.cfg.chunks.begin(root, s.size, s.chunks, await this.fetchLeaves(root, s, sources))
      info = await this.cfg.chunks.info(root)
    }
    const leaves = (info as { leaves: Uint8Array[] }).leaves
    const missing = await this.cfg.chunks.missing(root)
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < missing.length && !this.stopped) {
        const index = missing[next++] as number
        await this.cfg.chunks.put(root, index, await this.fetchChunk(root, index, leaves[index] as Uint8Array, sources))
      }
    }
    await Promise.all(Array.from({ length: FETCH_PARALLEL }, worker))
    if (!this.stopped) await this.cfg.chunks.markComplete(root)
  }

  private async serveChunk(req: CborValue, from: string): Promise<CborValue> {
    let m
    try {
      m = asMap(req, 'chunk request', ['root'], ['index', 'from', 'count'])
    } catch (err) {
      this.cfg.penalise(from, `bad chunk request: ${(err as Error).message}`)
      throw err
    }
    const root = toHex(asBytes(m.root as CborValue, 'chunk.root', 32))
    const info = await this.cfg.chunks.info(root)
    if (info === null || !info.complete) throw new TrothError('input.not-found', `this node does not hold ${root}`)
    if (m.index !== undefined) {
      const index = asUint(m.index, 'chunk.index', info.chunks - 1)
      const data = await this.cfg.chunks.get(root, index)
      if (data === null) throw new TrothError('input.not-found', `chunk ${index} of ${root} is missing here`)
      return { data }
    }
    const start = asUint(m.from as CborValue, 'chunk.from', info.chunks - 1)
    const count = asUint(m.count as CborValue, 'chunk.count', LEAVES_PAGE_MAX)
    return { leaves: info.leaves.slice(start, start + count) }
  }

  // ---------------------------------------------------------------------------------------------
  // Audits (DESIGN.md §5.4).

  /** The replica's side: a signed answer over what is on this node's disk, plus the chunks. */
  private async serveAudit(req: CborValue, from: string): Promise<CborValue> {
    let m
    try {
      m = asMap(req, 'audit request', ['epoch', 'root', 'indexes'])
    } catch (err) {
      this.cfg.penalise(from, `bad audit request: ${(err as Error).message}`)
      throw err
    }
    const epoch = asUint(m.epoch as CborValue, 'audit.epoch')
    const rootBytes = asBytes(m.root as CborValue, 'audit.root', 32)
    const indexes = asArray(m.indexes as CborValue, 'audit.indexes', AUDIT_INDEXES_MAX).map((x, i) => asUint(x, `audit.indexes[${i}]`))
    const state = this.cfg.state()
    if (epoch !== state.epoch.number) throw new TrothError('input.invalid', `this node is in epoch ${state.epoch.number}, not ${epoch}`)
    const root = toHex(rootBytes)
    // Only the assigned auditor, with the assigned chunks: we are nobody's oracle.
    const owed = epochDuties(state).byKey.get(dutyKey(root, this.cfg.id, from))
    if (owed === undefined || owed.length !== indexes.length || owed.some((x, i) => x !== indexes[i])) {
      throw new TrothError('input.invalid', `${from} has no such audit of this node in epoch ${epoch}`)
    }
    const info = await this.cfg.chunks.info(root)
    if (info === null || !info.complete) throw new TrothError('input.not-found', `this node does not hold ${root} yet`)
    const data: Uint8Array[] = []
    for (const i of indexes) data.push((await this.cfg.chunks.get(root, i)) ?? new Uint8Array(0))
    const answer = signAnswer(this.cfg.seed, {
      net: state.meta.net,
      epoch,
      root: rootBytes,
      replica: parseMemberId(this.cfg.id),
      auditor: parseMemberId(from),
      indexes,
      // What is on disk, honestly: a missing chunk signs a zero leaf (a provable loss).
      leaves: data.map((d) => (d.length === 0 ? ZERO_LEAF : leafHash(d))),
      proofs: await Promise.all(indexes.map((i) => this.cfg.chunks.proof(root, i))),
    })
    return { answer: signedAnswerToCbor(answer), chunks: data }
  }

  private auditAll(state: LedgerState): void {
    if (state.epoch.number !== this.auditEpoch) {
      this.auditEpoch = state.epoch.number
      this.audits.clear()
    }
    const now = Date.now()
    for (const a of epochDuties(state).assignments) {
      if (a.auditor !== this.cfg.id) continue
      const key = dutyKey(a.root, a.replica, a.auditor)
      if (state.reports.has(key)) continue
      let st = this.audits.get(key)
      if (st === undefined) {
        st = { attempts: 0, nextAt: now, filed: null, running: false }
        this.audits.set(key, st)
      }
      if (st.running) continue
      if (st.filed !== null) {
        if (this.cfg.pending(st.filed.wire) || now - st.filed.at < REPORT_RESUBMIT_MS) continue
        st.filed = null // dropped before it was final: file again
      }
      if (now < st.nextAt) continue
      st.running = true
      void this.auditOne(state, a, st).finally(() => {
        st.running = false
      })
    }
  }

  private async auditOne(state: LedgerState, a: AuditAssignment, st: AuditState): Promise<void> {
    const epoch = state.epoch.number
    let verdict: 'pass' | 'fail' | 'unreachable' | null = null
    let answer = null
    try {
      const found = await this.challenge(state, a)
      verdict = found.verdict
      answer = found.answer
    } catch (err) {
      st.attempts++
      st.nextAt = Date.now() + AUDIT_RETRY_MS
      this.cfg.log('audit.attempt-failed', { root: a.root, replica: a.replica, attempt: st.attempts, error: (err as Error).message })
      const now = this.cfg.state()
      const halfway = now.epoch.number > epoch || now.meta.height >= now.epoch.startHeight + Math.floor(now.epoch.length / 2)
      if (st.attempts >= AUDIT_ATTEMPTS && halfway) verdict = 'unreachable'
    }
    if (verdict === null || this.cfg.state().epoch.number !== epoch) return
    const base = { kind: 'audit.report', epoch, root: fromHex(a.root), replica: parseMemberId(a.replica) } as const
    const body: Body = verdict === 'unreachable' ? { ...base, verdict, answer: null } : { ...base, verdict, answer: answer as NonNullable<typeof answer> }
    const r = await this.cfg.submit(body)
    this.cfg.log('audit.reported', { root: a.root, replica: a.replica, verdict, status: r.status })
    if (r.status === 'ok') st.filed = { wire: r.wire, at: Date.now() }
  }

  /** Challenge the replica; a verdict only for an answer we can show to everyone. */
  private async challenge(state: LedgerState, a: AuditAssignment): Promise<{ verdict: 'pass' | 'fail'; answer: ReturnType<typeof parseSignedAnswer> }> {
    const snapshot = state.snapshots.get(a.root) as Snapshot
    const rootBytes = fromHex(a.root)
    const res = asMap(await this.cfg.rpc.request(a.replica, this.audit, { epoch: state.epoch.number, root: rootBytes, indexes: [...a.chunks] }), 'audit response', ['answer', 'chunks'])
    const answer = parseSignedAnswer(res.answer as CborValue, 'audit.answer')
    const data = asArray(res.chunks as CborValue, 'audit.chunks', AUDIT_INDEXES_MAX).map((c, i) => asBytes(c, `audit.chunks[${i}]`, undefined, CHUNK_BYTES))
    const replicaKey = state.members.get(a.replica)?.key
    const challenge = { net: state.meta.net, epoch: state.epoch.number, root: rootBytes, chunks: snapshot.chunks, replica: parseMemberId(a.replica), auditor: parseMemberId(this.cfg.id), indexes: a.chunks }
    if (replicaKey === undefined || !answersChallenge(answer.answer, challenge) || !answerSignatureValid(answer, replicaKey)) {
      throw new TrothError('net.protocol', 'the answer is not a signed answer to this challenge')
    }
    const verdict = answerVerdict(answer.answer, rootBytes, snapshot.chunks)
    // A pass must come with the data it signed for; a mismatch is a lie we cannot prove to
    // others, so it is treated like no answer (and ends as `unreachable`).
    if (verdict === 'pass' && (data.length !== a.chunks.length || data.some((d, i) => !bytesEqual(leafHash(d), answer.answer.leaves[i] as Uint8Array)))) {
      throw new TrothError('net.protocol', 'the chunks sent do not match the signed leaves')
    }
    return { verdict, answer }
  }
}
