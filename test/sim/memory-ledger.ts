// An in-memory FinalizedLedger and vote WAL for the simulation: the same contracts as LedgerStore
// (atomic commit of a finalized chain with its certificate) and FileWal, kept in memory. They
// play the node's disk: they survive a simulated crash.

import type { Applied } from '../../src/ledger/apply.ts'
import { encodeBlock, type Block } from '../../src/ledger/block.ts'
import { genesisState } from '../../src/ledger/genesis.ts'
import { bytesEqual, toHex } from '../../src/ledger/hash.ts'
import { leafHash } from '../../src/ledger/merkle.ts'
import type { LedgerState, Validator } from '../../src/ledger/state.ts'
import type { Vote } from '../../src/ledger/consensus/messages.ts'
import type { CosignedTree, FinalizedLedger, Wal } from '../../src/node/replica.ts'

export class MemoryWal implements Wal {
  votes: Vote[] = []
  /** The last tree saved (tests may set it, as a disk holding another tree would). */
  tree: CosignedTree | null = null
  async append(v: Vote): Promise<void> {
    this.votes.push(v)
  }
  async load(): Promise<Vote[]> {
    return [...this.votes]
  }
  async prune(epoch: number): Promise<void> {
    this.votes = this.votes.filter((v) => v.epoch >= epoch)
  }
  async cosigned(): Promise<CosignedTree | null> {
    return this.tree
  }
  async saveCosigned(tree: CosignedTree): Promise<void> {
    this.tree = { size: tree.size, root: tree.root.slice() }
  }
}

export class MemoryLedger implements FinalizedLedger {
  state: LedgerState
  readonly blocks: Uint8Array[] = [] // index = height - 1
  readonly hashes: string[] = []
  private readonly certs = new Map<number, Uint8Array>()
  private readonly byDigest = new Map<string, number>()
  private readonly checkpoints = new Map<number, string>()
  private readonly nodeHashes = new Map<string, Uint8Array>()
  private readonly validatorSets = new Map<number, Validator[]>()

  constructor(genesis: Uint8Array) {
    this.state = genesisState(genesis)
    this.nodeHashes.set('0/0', leafHash(genesis))
    this.validatorSets.set(0, this.state.epoch.validators.slice())
  }

  async commitChain(chain: ReadonlyArray<{ block: Block; applied: Applied }>, cert: Uint8Array | null): Promise<void> {
    let head = this.state
    for (const { block, applied } of chain) {
      if (block.height !== head.meta.height + 1 || !bytesEqual(block.parent, head.meta.lastBlock)) throw new Error('memory ledger: chain does not follow')
      head = applied.state
    }
    for (const { block, applied } of chain) {
      this.blocks.push(encodeBlock(block))
      this.hashes.push(toHex(applied.hash))
      this.byDigest.set(toHex(applied.hash), block.height)
      for (const n of applied.nodes) this.nodeHashes.set(`${n.level}/${n.index}`, n.hash)
      this.validatorSets.set(applied.state.epoch.number, applied.state.epoch.validators.slice())
    }
    if (cert !== null) this.certs.set(head.meta.height, cert)
    this.state = head
  }

  async validatorsOf(epoch: number): Promise<Validator[]> {
    const set = this.validatorSets.get(epoch)
    if (set === undefined) throw new Error(`memory ledger: no validators of epoch ${epoch}`)
    return set.slice()
  }

  async blockBytes(height: number): Promise<Uint8Array | undefined> {
    return this.blocks[height - 1]
  }
  async heightOf(digest: Uint8Array): Promise<number | undefined> {
    return this.byDigest.get(toHex(digest))
  }
  async cert(height: number): Promise<Uint8Array | undefined> {
    return this.certs.get(height)
  }
  async certifiedHeights(height: number, span: number): Promise<number[]> {
    const out: number[] = []
    for (let h = height; h < height + span && h <= this.state.meta.height; h++) if (this.certs.has(h)) out.push(h)
    return out
  }
  async putCheckpoint(epoch: number, note: string): Promise<void> {
    this.checkpoints.set(epoch, note)
  }
  async checkpoint(epoch: number): Promise<string | undefined> {
    return this.checkpoints.get(epoch)
  }
  async latestCheckpoint(): Promise<[number, string] | undefined> {
    const e = Math.max(-1, ...this.checkpoints.keys())
    return e < 0 ? undefined : [e, this.checkpoints.get(e) as string]
  }
  allCheckpoints(): ReadonlyMap<number, string> {
    return this.checkpoints
  }
  readonly nodes = (level: number, index: number): Uint8Array => {
    const h = this.nodeHashes.get(`${level}/${index}`)
    if (h === undefined) throw new Error(`memory ledger: node ${level}/${index} missing`)
    return h
  }
}
