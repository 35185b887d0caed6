// Builds big ledgers for the catch-up and memory benches, through the real state machine
// (buildBlock: every entry signed, checked and applied) into a real LedgerStore laid out as a
// node's data dir (DIR/ledger), so that LedgerStore.open and Daemon.start take it as it is.
// Deterministic: member seeds, entries and block times follow from the options alone. Resumable:
// a build that stops (Ctrl-C, the 10-minute limit of a shell) goes on from the stored head.
//
// Members beyond GENESIS_FOUNDERS_MAX (1,024) can only join by induction: founders vouch, the
// window is 0, one vouch of weight 1 suffices (inductionVouches = 1000 milli), and each sponsor
// may hold vouchCap = 20 open vouches; candidates become members at the next epoch close.

import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { assert } from '../src/errors.ts'
import { publicKeyOf } from '../src/identity/ed25519.ts'
import { formatMemberId } from '../src/identity/member-id.ts'
import { buildBlock, closesEpoch, type Applied } from '../src/ledger/apply.ts'
import type { Block } from '../src/ledger/block.ts'
import { certToCbor, makeCertificate, signVote, ValidatorSet } from '../src/ledger/consensus/messages.ts'
import { encode } from '../src/ledger/encoding.ts'
import { encodeSignedEntry, signEntry, type Body } from '../src/ledger/entry.ts'
import { encodeGenesis, genesisState, ledgerOrigin } from '../src/ledger/genesis.ts'
import { rootAt } from '../src/ledger/merkle.ts'
import { cosign, formatCheckpoint, formatNote } from '../src/ledger/tlog.ts'
import { sha256, toHex } from '../src/ledger/hash.ts'
import { GENESIS_FOUNDERS_MAX } from '../src/ledger/limits.ts'
import { makeRequest } from '../src/ledger/request.ts'
import type { LedgerState } from '../src/ledger/state.ts'
import { LedgerStore } from '../src/ledger/store.ts'
import { ensureDataDir, ledgerPath } from '../src/node/data-dir.ts'

export const BUILD_GENESIS_TIME = 1_700_000_000_000
/** Block time step: one block a second. */
const BLOCK_MS = 1000
/** Blocks per synced commit (and per certificate when certificates are stored). */
const COMMIT_BLOCKS = 16
const VOUCH_CAP = 20

export interface BuildOptions {
  /** Members named in the genesis (at most GENESIS_FOUNDERS_MAX). */
  readonly founders: number
  /** Members in all; those beyond the founders are inducted first. */
  readonly members: number
  /** Entries after the inductions: announcements, with `seals` seals and `votes` policy votes spread evenly. */
  readonly entries: number
  readonly seals: number
  readonly votes: number
  readonly blockEntries: number
  readonly epochBlocks: number
  /** New candidates vouched for per epoch (bounded by founders × vouchCap). */
  readonly inductionsPerEpoch: number
  /** Store a finalization certificate (a quorum of FINALIZE votes) with every commit, as a live
   * node does: sync serves only runs of blocks that end in one. Needs the validators' seeds, so
   * only with founders as the validators (no inductions). */
  readonly certs: boolean
}

export interface Built {
  readonly genesis: Uint8Array
  /** Seconds spent building in this call (0 when the cached ledger was complete). */
  readonly seconds: number
  readonly fromHeight: number
  readonly height: number
  readonly logSize: number
}

const seedCache = new Map<number, Uint8Array>()
/** The seed of member `i` (founders first, then candidates in induction order). Kept: the signing
 * key cache in src/identity is keyed by the seed object. */
export function memberSeed(i: number): Uint8Array {
  let s = seedCache.get(i)
  if (s === undefined) {
    s = sha256(new TextEncoder().encode(`troth bench member ${i}`))
    seedCache.set(i, s)
  }
  return s
}

const keyCache = new Map<number, { key: Uint8Array; id: string }>()
/** Member `i`'s public key and MemberId (deriving a key costs ~0.2 ms: cached). */
export function member(i: number): { key: Uint8Array; id: string } {
  let m = keyCache.get(i)
  if (m === undefined) {
    const key = publicKeyOf(memberSeed(i))
    m = { key, id: formatMemberId(key) }
    keyCache.set(i, m)
  }
  return m
}

export function buildGenesis(o: BuildOptions): Uint8Array {
  assert(o.founders >= 1 && o.founders <= GENESIS_FOUNDERS_MAX, 'founders out of range')
  return encodeGenesis({
    version: 1,
    name: 'bench',
    time: BUILD_GENESIS_TIME,
    founders: Array.from({ length: o.founders }, (_, i) => ({ key: member(i).key, name: `m${i}`, request: null })),
    // Replicas owe audits only 100 epochs after a seal: nobody audits in these ledgers, and missed
    // duties would lower standing and exile members, which is not what is measured.
    policy: { epochBlocks: o.epochBlocks, inductionVouches: 1000, inductionWindowMs: 0, inductionWindowFloorMs: 0, vouchCap: VOUCH_CAP, replicaGraceEpochs: 100 },
  })
}

/** What entry number `j` of the bulk is, and who writes it (same options, same answer): seals
 * and votes are spread evenly, each by the next member in turn, so that the votes come from as
 * many voters as there are votes (up to every member); announcements come from members in a
 * scattered order (a prime stride). */
function bulkEntry(o: BuildOptions, j: number): { author: number; body: Body } {
  const sealEvery = o.seals > 0 ? Math.floor(o.entries / o.seals) : 0
  const voteEvery = o.votes > 0 ? Math.floor(o.entries / o.votes) : 0
  if (sealEvery > 0 && j % sealEvery === Math.floor(sealEvery / 2)) {
    const k = Math.floor(j / sealEvery)
    return { author: k % o.members, body: { kind: 'seal', root: sha256(new TextEncoder().encode(`bench seal ${j}`)), size: 1000, chunks: 1, name: `s${k}` } }
  }
  if (voteEvery > 0 && j % voteEvery === 0) {
    const k = j / voteEvery
    return { author: k % o.members, body: { kind: 'policy.vote', param: 'chunksPerAudit', value: 1 + (k % 12) } }
  }
  return { author: (j * 7919) % o.members, body: { kind: 'announce', addrs: [`/ip4/127.0.0.1/tcp/${4000 + (j % 60000)}`] } }
}

export async function buildLedger(dataDir: string, o: BuildOptions, progress: (line: string) => void = () => undefined): Promise<Built> {
  assert(o.members >= o.founders, 'members < founders')
  assert(!o.certs || o.members === o.founders, 'certificates need the validators\' seeds: founders only')
  const genesis = buildGenesis(o)
  ensureDataDir(dataDir)
  const marker = join(dataDir, 'bench-build.json')
  const want = JSON.stringify({ options: o, genesis: toHex(sha256(genesis)) })
  if (existsSync(marker) && readFileSync(marker, 'utf8') !== want) throw new Error(`${dataDir} holds a ledger built with other options; remove it first`)
  writeFileSync(marker, want)
  const store = await LedgerStore.open(ledgerPath(dataDir), genesis)
  const fromHeight = store.state.meta.height
  const t0 = performance.now()
  const ids = new Map<string, number>()
  for (let i = 0; i < o.founders; i++) ids.set(member(i).id, i)
  try {
    let run: Array<{ block: Block; applied: Applied }> = []
    let state = store.state
    const next = async (entries: Uint8Array[]): Promise<void> => {
      const closing = closesEpoch(state, state.meta.height + 1)
      // The first founder proposes every block: any validator may, and its key is at hand.
      const proposer = state.epoch.validators.find((v) => ids.has(v.id))
      assert(proposer !== undefined, 'no founder among the validators')
      const before = state
      const built = buildBlock(state, { proposer: member(ids.get(proposer.id) as number).key, time: state.meta.lastTime + BLOCK_MS }, entries)
      assert(built.rejected.length === 0, `bench entry refused: ${built.rejected[0]?.verdict.status} ${built.rejected[0]?.verdict.detail}`)
      assert(built.block.entries.length === entries.length, 'bench block cut short')
      run.push({ block: built.block, applied: built.applied })
      state = built.applied.state
      // A run ends at an epoch's last block, so that a certificate covers it under its own epoch.
      if (closing || run.length >= COMMIT_BLOCKS) await flushAt(before)
    }
    const flushAt = async (epochState: LedgerState): Promise<void> => {
      if (run.length === 0) return
      await store.commitChain(run, o.certs ? certFor(epochState, run) : null)
      run = []
    }
    const finishEpoch = async (): Promise<void> => {
      const e = state.epoch.number
      while (state.epoch.number === e) await next([])
    }
    const sign = (i: number, seq: number, body: Body, time: number): Uint8Array =>
      encodeSignedEntry(signEntry(memberSeed(i), { net: state.meta.net, author: member(i).key, seq, time, body }))

    // Inductions, a batch per epoch: founders vouch in turn, each under vouchCap.
    while (state.members.size + state.inductions.size < o.members) {
      const batch: number[] = []
      for (let i = o.founders; i < o.members && batch.length < Math.min(o.inductionsPerEpoch, o.founders * VOUCH_CAP); i++) {
        const id = member(i).id
        if (!state.members.has(id) && !state.inductions.has(id)) batch.push(i)
      }
      const seqs = new Map<number, number>()
      let entries: Uint8Array[] = []
      for (const [k, i] of batch.entries()) {
        const sponsor = k % o.founders
        const seq = (seqs.get(sponsor) ?? (state.members.get(member(sponsor).id)?.seq ?? 0)) + 1
        seqs.set(sponsor, seq)
        const request = makeRequest(memberSeed(i), { net: state.meta.net, name: `m${i}`, expires: BUILD_GENESIS_TIME + 10 ** 12 })
        entries.push(sign(sponsor, seq, { kind: 'induct.vouch', request }, state.meta.lastTime))
        if (entries.length >= o.blockEntries) {
          await next(entries)
          entries = []
          seqs.clear()
        }
      }
      if (entries.length > 0) await next(entries)
      await finishEpoch()
      await flushAt(state)
      progress(`inducted: members=${state.members.size} height=${state.meta.height} ${((performance.now() - t0) / 1000).toFixed(0)} s`)
    }

    // The bulk. Entries so far = log leaves − the genesis leaf − one epoch.seal leaf per closed
    // epoch − one vouch per inducted member.
    let done = state.meta.logSize - 1 - state.epoch.number - (o.members - o.founders)
    let lastReport = performance.now()
    while (done < o.entries) {
      const entries: Uint8Array[] = []
      const seqs = new Map<number, number>()
      const time = state.meta.lastTime + BLOCK_MS
      while (entries.length < o.blockEntries && done + entries.length < o.entries) {
        const j = done + entries.length
        const { author, body } = bulkEntry(o, j)
        const seq = (seqs.get(author) ?? (state.members.get(member(author).id)?.seq ?? 0)) + 1
        seqs.set(author, seq)
        entries.push(sign(author, seq, body, time))
      }
      await next(entries)
      done += entries.length
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now()
        progress(`entries=${done}/${o.entries} height=${state.meta.height} ${((performance.now() - t0) / 1000).toFixed(0)} s`)
      }
    }
    await flushAt(state)
    // Live nodes cosign each epoch's checkpoint; a sealed start needs the notes (and the cached
    // ledgers of earlier builds lack them): every founder cosigns what is not sealed yet.
    if (o.certs) await sealCheckpoints(store, genesis)
    return { genesis, seconds: fromHeight === state.meta.height ? 0 : (performance.now() - t0) / 1000, fromHeight, height: state.meta.height, logSize: state.meta.logSize }
  } finally {
    await store.close()
  }
}

/** Cosign the checkpoint of every closed epoch that has no sealed note yet, with all its validators
 * (founders, whose seeds we have), as live nodes do at each epoch's close (DESIGN.md §3.2). */
export async function sealCheckpoints(store: LedgerStore, genesis: Uint8Array): Promise<number> {
  const g = genesisState(genesis)
  const origin = ledgerOrigin(g.meta.name, g.meta.net)
  let sealed = 0
  for (let e = 0; e < store.state.epoch.number; e++) {
    if ((await store.checkpoint(e)) !== undefined) continue
    const index = await store.sealIndex(e)
    assert(index !== undefined, `no epoch.seal index for closed epoch ${e}`)
    const size = index + 1
    const body = formatCheckpoint({ origin, size, root: await rootAt(size, store.nodes) })
    const time = Math.floor(BUILD_GENESIS_TIME / 1000) + size
    const sigs = (await store.validatorsOf(e)).map((v) => cosign(memberSeed(founderIndex(v.id)), v.id, time, body))
    await store.putCheckpoint(e, formatNote(body, sigs))
    sealed++
  }
  return sealed
}

/** A finalization certificate for the last block of `run`, signed by just over 2/3 of the weight
 * of the epoch the run belongs to (the validators are the founders, whose seeds we have). */
function certFor(epochState: LedgerState, run: ReadonlyArray<{ block: Block; applied: Applied }>): Uint8Array {
  const top = run[run.length - 1] as { block: Block; applied: Applied }
  const set = new ValidatorSet(epochState.epoch.number, epochState.epoch.validators)
  const votes = []
  let w = 0
  for (const v of set.list) {
    if (set.isQuorum(w)) break
    votes.push(signVote(epochState.meta.net, memberSeed(founderIndex(v.id)), v.id, { kind: 'finalize', epoch: set.epoch, view: top.block.height - epochState.epoch.startHeight + 1, parent: 0, digest: top.applied.hash }))
    w += v.weight
  }
  return encode(certToCbor(makeCertificate(votes)))
}

function founderIndex(id: string): number {
  for (const [i, m] of keyCache) if (m.id === id) return i
  assert(false, `no seed for validator ${id}`)
}
