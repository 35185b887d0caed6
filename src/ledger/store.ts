// The durable ledger store (DESIGN.md §3, §8 crash safety): everything on disk through `level`,
// one atomic, synced batch per applied block, so a kill -9 leaves exactly a prefix of blocks.
// Reopen re-checks that the pieces agree (genesis, last block, log frontier, state records).
// A store may start at a sealed checkpoint instead of genesis (adopt, docs/consensus.md "Starting
// from a sealed checkpoint"): it then holds no blocks, leaves or tree nodes below its base.

import { Level } from 'level'
import { TrothError, assert } from '../errors.ts'
import { collectGarbage } from '../gc.ts'
import { applyBlock, type Applied, type Refused } from './apply.ts'
import { blockHash, decodeBlock, encodeBlock, type Block } from './block.ts'
import { asBytes, asMap, asText, asUint, decode, encode, type CborValue } from './encoding.ts'
import { genesisHash, genesisState, decodeGenesis } from './genesis.ts'
import { bytesEqual, toHex } from './hash.ts'
import { CompactRange, leafHash, type NodeReader } from './merkle.ts'
import { BLOCK_BYTES_MAX, GENESIS_BYTES_MAX } from './limits.ts'
import { META_KEY, recordAt, stateFromRecords, stateRecords, validatorsFromCbor, validatorsHash, validatorsToCbor, type LedgerState, type Validator } from './state.ts'

export const STORE_FORMAT = 4
const RECORD_BYTES_MAX = 16 * 1024 * 1024
/** While the state is read at open, a full collection after this many records (when exposed). */
const STATE_RECORDS_PER_COLLECTION = 1000

// Key spaces. Numbers are fixed-width hex so that key order is numeric order.
const K_FORMAT = 'x/format'
const K_GENESIS = 'x/genesis'
const recordKey = (k: string): string => `s/${k}`
const hex16 = (n: number): string => n.toString(16).padStart(16, '0')
const blockKey = (height: number): string => `b/${hex16(height)}`
const leafKey = (index: number): string => `l/${hex16(index)}`
const nodeKey = (level: number, index: number): string => `n/${level.toString(16).padStart(2, '0')}/${hex16(index)}`
/** Finalization certificate of a directly finalized block, by height. */
const certKey = (height: number): string => `c/${hex16(height)}`
/** Height of a finalized block, by digest (to serve blocks by digest). */
const digestKey = (digest: Uint8Array): string => `d/${toHex(digest)}`
/** Sealed checkpoint note of an epoch. */
const checkpointKey = (epoch: number): string => `k/${hex16(epoch)}`
/** Log index of an epoch's epoch.seal leaf (the last leaf of its checkpoint), for audit proofs. */
const sealKey = (epoch: number): string => `e/${hex16(epoch)}`
/** Validator set of an epoch whose set differs from the epoch before (audit proofs, §3.2). */
const validatorsKey = (epoch: number): string => `v/${hex16(epoch)}`
/** The sealed checkpoint a store started from, when it did not replay from genesis. */
const K_BASE = 'x/base'
/** States right after an epoch's last block, kept to serve sealed starts: the newest few. */
export const SEALED_STATES_KEPT = 2

/** Where a store that started from a sealed checkpoint begins (docs/consensus.md). */
export interface StoreBase {
  /** The sealed epoch: its last block is the first block the store holds. */
  readonly epoch: number
  readonly height: number
  /** The checkpoint's tree size: leaves below it are not held (except leaf 0, the genesis). */
  readonly logSize: number
  readonly logRoot: Uint8Array
  /** The audit proof of the epoch's epoch.seal leaf (docs/audit.md), as verified at adoption: the
   * member chain from genesis that later proofs from this store start with. */
  readonly proof: string
}

/** Everything a store needs to start at a sealed checkpoint; verified before (src/node/sealed-start.ts). */
export interface Adoption {
  readonly base: StoreBase
  /** The state after the epoch's last block, its chain position (meta) rebuilt. */
  readonly state: LedgerState
  readonly block: Block
  /** The block's finalization certificate, canonical CBOR. */
  readonly cert: Uint8Array
  /** The epoch.seal leaf: the checkpoint's last leaf. */
  readonly sealLeaf: Uint8Array
  /** Its RFC 9162 inclusion proof in the checkpoint (leaf sibling first), verified. */
  readonly sealPath: readonly Uint8Array[]
  /** Sealed checkpoint notes known from the member chain, the base's included. */
  readonly notes: ReadonlyArray<readonly [number, string]>
  /** Log indexes of epoch.seal leaves known from the member chain. */
  readonly seals: ReadonlyArray<readonly [number, number]>
  /** Validator sets of epochs whose set changed, from the member chain (the `v/` index). */
  readonly validators: ReadonlyArray<readonly [number, readonly Validator[]]>
}

function baseToCbor(b: StoreBase): CborValue {
  return { epoch: b.epoch, height: b.height, logSize: b.logSize, logRoot: b.logRoot, proof: b.proof }
}

function baseFromCbor(bytes: Uint8Array): StoreBase {
  const m = asMap(decode(bytes, { bytesMax: RECORD_BYTES_MAX }), 'base', ['epoch', 'height', 'logSize', 'logRoot', 'proof'])
  return {
    epoch: asUint(m.epoch, 'base.epoch'),
    height: asUint(m.height, 'base.height'),
    logSize: asUint(m.logSize, 'base.logSize'),
    logRoot: asBytes(m.logRoot, 'base.logRoot', 32),
    proof: asText(m.proof, 'base.proof', RECORD_BYTES_MAX),
  }
}

/** The perfect subtrees a compact range of `size` leaves consists of, left to right: the nodes its
 * frontier hashes are (RFC 9162 §2.1: one per set bit of the size). */
export function frontierNodes(size: number): Array<{ level: number; index: number }> {
  const out: Array<{ level: number; index: number }> = []
  let start = 0
  for (let level = 52; level >= 0; level--) {
    const span = 2 ** level
    if (Math.floor(size / span) % 2 === 1) {
      out.push({ level, index: start / span })
      start += span
    }
  }
  return out
}

type Op = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }

export class LedgerStore {
  private readonly db: Level<string, Uint8Array>
  private current: LedgerState
  private closed = false
  private writing = false
  private baseRecord: StoreBase | null
  /** States right after an epoch's last block, by the epoch they sealed; newest last. */
  private readonly sealedStates = new Map<number, LedgerState>()

  private constructor(db: Level<string, Uint8Array>, state: LedgerState, base: StoreBase | null) {
    this.db = db
    this.current = state
    this.baseRecord = base
    // Opened right at an epoch's end (a ledger copied at its tip, or a node stopped there): that
    // state is the sealed one, and it can be served at once.
    if (state.meta.height > 0 && state.meta.height === state.epoch.startHeight - 1) this.keepSealed(state.epoch.number - 1, state)
  }

  /**
   * Open the store in `dir`. A new store is initialised from `genesis` (bytes); an existing one is
   * checked, and if `genesis` is given it must be the one the store was made with.
   */
  static async open(dir: string, genesis?: Uint8Array): Promise<LedgerStore> {
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    try {
      await db.open()
    } catch (err) {
      throw new TrothError('store.corrupt', `cannot open the store in ${dir}: ${(err as Error).message}`, { cause: err })
    }
    try {
      const format = await db.get(K_FORMAT)
      if (format === undefined) {
        if (genesis === undefined) throw new TrothError('store.mismatch', `no ledger in ${dir} and no genesis given`)
        const state = genesisState(genesis)
        await db.batch(initialOps(state, genesis), { sync: true })
        return new LedgerStore(db, state, null)
      }
      const state = await LedgerStore.check(db, format, genesis)
      return new LedgerStore(db, state, await LedgerStore.checkBase(db, state))
    } catch (err) {
      await db.close()
      throw err
    }
  }

  private static async check(db: Level<string, Uint8Array>, format: Uint8Array, genesis: Uint8Array | undefined): Promise<LedgerState> {
    const f = decode(format, { bytesMax: 64 })
    if (f !== STORE_FORMAT) throw new TrothError('store.mismatch', `store format ${String(f)} is not ${STORE_FORMAT}`)
    const stored = await db.get(K_GENESIS)
    if (stored === undefined) throw new TrothError('store.corrupt', 'store has no genesis')
    if (genesis !== undefined && !bytesEqual(stored, genesis)) {
      throw new TrothError('store.mismatch', `this data dir belongs to network ${toHex(genesisHash(stored))}, not ${toHex(genesisHash(genesis))}`)
    }
    const { net } = decodeGenesis(stored)
    // The records stay encoded until stateFromRecords takes them one by one, and the garbage their
    // decoding leaves is collected as it goes (src/gc.ts): holding all of them decoded at once,
    // beside the state built from them, was the daemon's peak of memory (docs/performance.md).
    const raw: Array<[string, Uint8Array]> = []
    for await (const [key, value] of db.iterator({ gte: 's/', lt: 's0' })) raw.push([key.slice(2), value])
    collectGarbage()
    const state = stateFromRecords((function* (): Generator<[string, CborValue]> {
      for (let i = 0; i < raw.length; i++) {
        const [key, value] = raw[i] as [string, Uint8Array]
        raw[i] = undefined as unknown as [string, Uint8Array]
        if (i % STATE_RECORDS_PER_COLLECTION === STATE_RECORDS_PER_COLLECTION - 1) collectGarbage()
        yield [key, decode(value, { bytesMax: RECORD_BYTES_MAX })]
      }
    })())
    collectGarbage()
    const m = state.meta
    if (!bytesEqual(m.net, net)) throw new TrothError('store.corrupt', 'state net differs from the genesis hash')
    const leaf0 = await db.get(leafKey(0))
    if (leaf0 === undefined || !bytesEqual(leaf0, stored)) throw new TrothError('store.corrupt', 'log leaf 0 is not the genesis')
    const log = CompactRange.from(m.logSize, m.logFrontier)
    if (m.height === 0) {
      if (!bytesEqual(m.lastBlock, net) || m.logSize !== 1) throw new TrothError('store.corrupt', 'genesis state is inconsistent')
    } else {
      const bytes = await db.get(blockKey(m.height))
      if (bytes === undefined) throw new TrothError('store.corrupt', `block ${m.height} is missing`)
      const last = decodeBlock(bytes)
      if (!bytesEqual(blockHash(last), m.lastBlock)) throw new TrothError('store.corrupt', `block ${m.height} does not hash to the state's last block`)
      if (last.logSize !== m.logSize || !bytesEqual(last.logRoot, log.root())) throw new TrothError('store.corrupt', 'log frontier does not match the last block')
    }
    if ((await db.get(blockKey(m.height + 1))) !== undefined) throw new TrothError('store.corrupt', `block ${m.height + 1} is stored beyond the state`)
    const lastLeaf = await db.get(leafKey(m.logSize - 1))
    if (lastLeaf === undefined) throw new TrothError('store.corrupt', `log leaf ${m.logSize - 1} is missing`)
    const lastNode = await db.get(nodeKey(0, m.logSize - 1))
    if (lastNode === undefined || !bytesEqual(lastNode, leafHash(lastLeaf))) throw new TrothError('store.corrupt', 'last log leaf hash is wrong')
    return state
  }

  /** The base checkpoint's record, when the store started from a sealed checkpoint (docs/consensus.md). */
  private static async checkBase(db: Level<string, Uint8Array>, state: LedgerState): Promise<StoreBase | null> {
    const bytes = await db.get(K_BASE)
    if (bytes === undefined) return null
    let base: StoreBase
    try {
      base = baseFromCbor(bytes)
    } catch (err) {
      throw new TrothError('store.corrupt', `the base record is unreadable: ${(err as Error).message}`, { cause: err })
    }
    if (base.height > state.meta.height || base.logSize > state.meta.logSize) throw new TrothError('store.corrupt', `the base (height ${base.height}) is beyond the stored head (height ${state.meta.height})`)
    const block = await db.get(blockKey(base.height))
    if (block === undefined || decodeBlock(block).logSize !== base.logSize) throw new TrothError('store.corrupt', `the base block ${base.height} is missing or does not end at log size ${base.logSize}`)
    if ((await db.get(leafKey(base.logSize - 1))) === undefined) throw new TrothError('store.corrupt', `the base's epoch.seal leaf ${base.logSize - 1} is missing`)
    return base
  }

  get state(): LedgerState {
    return this.current
  }

  /** Where the store begins when it started from a sealed checkpoint; null when it holds all history. */
  get base(): StoreBase | null {
    return this.baseRecord
  }

  /** The state right after epoch `epoch`'s last block, if this store still keeps it (the newest
   * SEALED_STATES_KEPT epochs it closed, adopted, or was opened at). */
  sealedState(epoch: number): LedgerState | undefined {
    return this.sealedStates.get(epoch)
  }

  /** Epochs whose sealed state is kept, newest first. */
  sealedEpochs(): number[] {
    return [...this.sealedStates.keys()].sort((a, b) => b - a)
  }

  private keepSealed(epoch: number, state: LedgerState): void {
    this.sealedStates.set(epoch, state)
    while (this.sealedStates.size > SEALED_STATES_KEPT) this.sealedStates.delete(Math.min(...this.sealedStates.keys()))
  }

  /**
   * Start this store at a sealed checkpoint instead of genesis (docs/consensus.md "Starting from a
   * sealed checkpoint"). `a` must have been verified (src/node/sealed-start.ts). One synced batch:
   * after a crash the store is either still at genesis or wholly at the checkpoint. Allowed only on
   * a store at genesis.
   */
  async adopt(a: Adoption): Promise<void> {
    if (this.closed) throw new TrothError('store.closed', 'store is closed')
    assert(!this.writing, 'adopt while a commit is in flight')
    if (this.current.meta.height !== 0 || this.baseRecord !== null) {
      throw new TrothError('store.mismatch', `only a store at genesis can start from a sealed checkpoint; this one is at height ${this.current.meta.height}`)
    }
    const m = a.state.meta
    const hash = blockHash(a.block)
    assert(a.block.height === m.height && a.block.height === a.base.height && bytesEqual(hash, m.lastBlock), 'adopt: the block is not the state\'s head')
    assert(m.logSize === a.base.logSize && a.block.logSize === m.logSize && bytesEqual(a.block.logRoot, a.base.logRoot), 'adopt: the block does not end at the checkpoint')
    assert(bytesEqual(CompactRange.from(m.logSize, m.logFrontier).root(), a.base.logRoot), 'adopt: the frontier does not give the checkpoint\'s root')
    assert(bytesEqual(m.net, this.current.meta.net), 'adopt: another network\'s state')
    const ops: Op[] = []
    // The genesis state's records go; the checkpoint's come.
    const records = stateRecords(a.state, true)
    const keep = new Set(records.map(([k]) => recordKey(k)))
    for await (const key of this.db.keys({ gte: 's/', lt: 's0' })) if (!keep.has(key)) ops.push({ type: 'del', key })
    for (const [k, v] of records) ops.push({ type: 'put', key: recordKey(k), value: encode(v) })
    ops.push({ type: 'put', key: blockKey(a.block.height), value: encodeBlock(a.block) })
    ops.push({ type: 'put', key: digestKey(hash), value: encode(a.block.height) })
    ops.push({ type: 'put', key: certKey(a.block.height), value: a.cert })
    ops.push({ type: 'put', key: leafKey(m.logSize - 1), value: a.sealLeaf })
    ops.push({ type: 'put', key: nodeKey(0, m.logSize - 1), value: leafHash(a.sealLeaf) })
    // The frontier's subtrees: with them, inclusion proofs of later leaves and consistency proofs
    // from the base size can be built (every other node they need is made by later appends).
    frontierNodes(m.logSize).forEach((n, i) => ops.push({ type: 'put', key: nodeKey(n.level, n.index), value: m.logFrontier[i] as Uint8Array }))
    // And the left siblings of the seal leaf inside the frontier's last subtree: later proofs show
    // that leaf (it names the members of the epoch after the base). They are the first hashes of
    // its inclusion proof, one per trailing zero bit of the size.
    for (let level = 0, span = 1; m.logSize % (2 * span) === 0; level++, span *= 2) {
      const index = Math.floor((m.logSize - 1) / span)
      assert(index % 2 === 1 && a.sealPath[level] !== undefined, 'adopt: the seal leaf\'s path is too short')
      ops.push({ type: 'put', key: nodeKey(level, index - 1), value: a.sealPath[level] as Uint8Array })
    }
    for (const [epoch, note] of a.notes) ops.push({ type: 'put', key: checkpointKey(epoch), value: new TextEncoder().encode(note) })
    for (const [epoch, index] of a.seals) ops.push({ type: 'put', key: sealKey(epoch), value: encode(index) })
    for (const [epoch, vs] of a.validators) ops.push({ type: 'put', key: validatorsKey(epoch), value: encode(validatorsToCbor(vs)) })
    ops.push({ type: 'put', key: K_BASE, value: encode(baseToCbor(a.base)) })
    this.writing = true
    try {
      await this.db.batch(ops, { sync: true })
    } finally {
      this.writing = false
    }
    this.current = a.state
    this.baseRecord = a.base
    this.keepSealed(a.base.epoch, a.state)
  }

  /** Apply a block to the current state and, if valid, persist it durably before returning. */
  async append(block: Block): Promise<Applied | Refused> {
    const r = applyBlock(this.current, block)
    if (!r.ok) return r
    await this.commit(block, r)
    return r
  }

  /** Persist an applied block in one synced batch. Refuses if the state moved underneath. */
  async commit(block: Block, applied: Applied): Promise<void> {
    await this.commitChain([{ block, applied }], null)
  }

  /**
   * Persist consecutive applied blocks, and the certificate (canonical CBOR) that finalized the
   * last one, in ONE synced batch: after a crash the store holds all of them or none, so its head
   * is always a block whose finalization certificate is stored with it.
   */
  async commitChain(chain: ReadonlyArray<{ block: Block; applied: Applied }>, cert: Uint8Array | null): Promise<void> {
    if (this.closed) throw new TrothError('store.closed', 'store is closed')
    assert(!this.writing, 'commit while another commit is in flight')
    assert(chain.length > 0, 'commit: nothing to commit')
    let head = this.current
    const changed = new Set<string>()
    const ops: Op[] = []
    for (const { block, applied } of chain) {
      assert(block.height === head.meta.height + 1, 'commit: block does not follow the stored state')
      assert(bytesEqual(block.parent, head.meta.lastBlock), 'commit: block parent is not the stored head')
      ops.push({ type: 'put', key: blockKey(block.height), value: encodeBlock(block) })
      ops.push({ type: 'put', key: digestKey(applied.hash), value: encode(block.height) })
      for (const key of applied.changed) changed.add(key)
      for (const l of applied.leaves) ops.push({ type: 'put', key: leafKey(l.index), value: l.bytes })
      for (const n of applied.nodes) ops.push({ type: 'put', key: nodeKey(n.level, n.index), value: n.hash })
      if (applied.sealed !== null) ops.push(...sealOps(head, applied))
      head = applied.state
    }
    const sealed = chain.filter((c) => c.applied.sealed !== null).map((c) => c.applied)
    for (const key of changed) {
      const v = recordAt(head, key)
      ops.push(v === undefined ? { type: 'del', key: recordKey(key) } : { type: 'put', key: recordKey(key), value: encode(v) })
    }
    if (cert !== null) ops.push({ type: 'put', key: certKey(head.meta.height), value: cert })
    this.writing = true
    try {
      await this.db.batch(ops, { sync: true })
    } finally {
      this.writing = false
    }
    this.current = head
    for (const applied of sealed) this.keepSealed((applied.sealed as { epoch: number }).epoch, applied.state)
  }

  /** The finalization certificate stored with a directly finalized block (CBOR bytes). */
  async cert(height: number): Promise<Uint8Array | undefined> {
    return this.db.get(certKey(height))
  }

  /** Heights in [height, height + span) whose blocks carry a stored certificate, ascending. */
  async certifiedHeights(height: number, span: number): Promise<number[]> {
    const out: number[] = []
    for await (const key of this.db.keys({ gte: certKey(height), lt: certKey(height + span) })) out.push(parseInt(key.slice(2), 16))
    return out
  }

  async heightOf(digest: Uint8Array): Promise<number | undefined> {
    const v = await this.db.get(digestKey(digest))
    return v === undefined ? undefined : (decode(v, { bytesMax: 16 }) as number)
  }

  async putCheckpoint(epoch: number, note: string): Promise<void> {
    await this.db.put(checkpointKey(epoch), new TextEncoder().encode(note), { sync: true })
  }

  async checkpoint(epoch: number): Promise<string | undefined> {
    const v = await this.db.get(checkpointKey(epoch))
    return v === undefined ? undefined : new TextDecoder().decode(v)
  }

  /** The newest `n` sealed checkpoints, newest first: [epoch, note]. */
  async recentCheckpoints(n: number): Promise<Array<[number, string]>> {
    const out: Array<[number, string]> = []
    for await (const [key, value] of this.db.iterator({ gte: 'k/', lt: 'k0', reverse: true, limit: n })) out.push([parseInt(key.slice(2), 16), new TextDecoder().decode(value)])
    return out
  }

  /** The newest sealed checkpoint: [epoch, note]. */
  async latestCheckpoint(): Promise<[number, string] | undefined> {
    for await (const [key, value] of this.db.iterator({ gte: 'k/', lt: 'k0', reverse: true, limit: 1 })) {
      return [parseInt(key.slice(2), 16), new TextDecoder().decode(value)]
    }
    return undefined
  }

  /** Log index of epoch `epoch`'s epoch.seal leaf, once that epoch has closed. */
  async sealIndex(epoch: number): Promise<number | undefined> {
    const v = await this.db.get(sealKey(epoch))
    return v === undefined ? undefined : (decode(v, { bytesMax: 16 }) as number)
  }

  /** The validator set of `epoch` (any epoch up to the current one). */
  async validatorsOf(epoch: number): Promise<Validator[]> {
    assert(Number.isSafeInteger(epoch) && epoch >= 0 && epoch <= this.current.epoch.number, 'validatorsOf: epoch out of range')
    for await (const value of this.db.values({ lte: validatorsKey(epoch), gte: 'v/', reverse: true, limit: 1 })) {
      return validatorsFromCbor(decode(value, { bytesMax: RECORD_BYTES_MAX }), 'stored validators')
    }
    return genesisState(await this.genesis()).epoch.validators.slice()
  }

  /** Epochs in [1, upTo] whose validator set differs from the epoch before, ascending. */
  async membershipChanges(upTo: number): Promise<number[]> {
    const out: number[] = []
    for await (const key of this.db.keys({ gt: 'v/', lte: validatorsKey(upTo) })) out.push(parseInt(key.slice(2), 16))
    return out
  }

  async block(height: number): Promise<Block | undefined> {
    const bytes = await this.db.get(blockKey(height))
    return bytes === undefined ? undefined : decodeBlock(bytes)
  }

  async blockBytes(height: number): Promise<Uint8Array | undefined> {
    const bytes = await this.db.get(blockKey(height))
    assert(bytes === undefined || bytes.length <= BLOCK_BYTES_MAX, 'stored block over the limit')
    return bytes
  }

  async leaf(index: number): Promise<Uint8Array | undefined> {
    return this.db.get(leafKey(index))
  }

  async genesis(): Promise<Uint8Array> {
    const g = await this.db.get(K_GENESIS)
    assert(g !== undefined && g.length <= GENESIS_BYTES_MAX, 'genesis vanished from an open store')
    return g
  }

  /** Perfect Merkle nodes of the log, for inclusion and consistency proofs. Read synchronously:
   * a proof is a few dozen small keys, mostly in LevelDB's caches, and each asynchronous read
   * waited its turn in the thread pool behind the vote WAL's and the commits' writes (10-20 ms a
   * read on a busy node, for a checkpoint's consistency proof at every epoch change). */
  readonly nodes: NodeReader = async (level: number, index: number) => {
    const h = this.db.getSync(nodeKey(level, index))
    if (h === undefined) throw new TrothError('merkle.out-of-range', `log node (${level}, ${index}) is not stored`)
    return h
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.db.close()
  }
}

/** The audit indexes of an epoch close (docs/audit.md): where its epoch.seal leaf is, and the
 * next epoch's validator set when it changed. */
function sealOps(before: LedgerState, applied: Applied): Op[] {
  const sealed = applied.sealed
  assert(sealed !== null, 'sealOps: the block closes no epoch')
  const leaf = applied.leaves.at(-1)
  assert(leaf !== undefined && bytesEqual(leaf.bytes, sealed.leaf), 'the epoch.seal leaf is the last leaf of the closing block')
  const ops: Op[] = [{ type: 'put', key: sealKey(sealed.epoch), value: encode(leaf.index) }]
  const next = applied.state.epoch
  assert(next.number === sealed.epoch + 1, 'the closing block starts the next epoch')
  if (!bytesEqual(validatorsHash(next.validators), validatorsHash(before.epoch.validators))) {
    ops.push({ type: 'put', key: validatorsKey(next.number), value: encode(validatorsToCbor(next.validators)) })
  }
  return ops
}

function initialOps(state: LedgerState, genesis: Uint8Array): Op[] {
  const ops: Op[] = [
    { type: 'put', key: K_FORMAT, value: encode(STORE_FORMAT) },
    { type: 'put', key: K_GENESIS, value: genesis },
    { type: 'put', key: leafKey(0), value: genesis },
    { type: 'put', key: nodeKey(0, 0), value: leafHash(genesis) },
  ]
  for (const [k, v] of stateRecords(state, true)) ops.push({ type: 'put', key: recordKey(k), value: encode(v) })
  assert(ops.some((o) => o.key === recordKey(META_KEY)), 'initial state has no meta record')
  return ops
}
