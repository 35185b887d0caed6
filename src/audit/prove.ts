// Building what auditors verify (docs/audit.md), from a node's ledger store: the audit proof of
// an entry (its inclusion in the first sealed checkpoint that covers it, and the member chain from
// genesis to that checkpoint), and the append-only proof between two tree sizes in the
// tlog-witness add-checkpoint body format. Reads only; the store's indexes of epoch.seal leaves
// and changed validator sets (docs/entries.md "The store") make both O(changes · log n).

import { TrothError, assert } from '../errors.ts'
import { decodeSealLeaf } from '../ledger/apply.ts'
import type { Block } from '../ledger/block.ts'
import { decodeSignedEntry } from '../ledger/entry.ts'
import { bytesEqual, toHex } from '../ledger/hash.ts'
import { consistencyProof, inclusionProof, leafHash, verifyInclusion, type NodeReader } from '../ledger/merkle.ts'
import { validatorsHash, type LedgerState, type Validator } from '../ledger/state.ts'
import { formatConsistencyBody, parseCheckpoint, parseNote, type Checkpoint } from '../ledger/tlog.ts'
import type { StoreBase } from '../ledger/store.ts'
import { formatAuditProof, parseAuditProof, type ChainStep, type LeafProof } from './bundle.ts'

/** What the prover reads; LedgerStore provides it. */
export interface AuditSource {
  readonly state: LedgerState
  readonly nodes: NodeReader
  leaf(index: number): Promise<Uint8Array | undefined>
  block(height: number): Promise<Block | undefined>
  checkpoint(epoch: number): Promise<string | undefined>
  latestCheckpoint(): Promise<[number, string] | undefined>
  sealIndex(epoch: number): Promise<number | undefined>
  validatorsOf(epoch: number): Promise<Validator[]>
  membershipChanges(upTo: number): Promise<number[]>
  /** Set when the store started from a sealed checkpoint and holds no history below it. */
  readonly base: StoreBase | null
}

/** The sentence for anything below a base: what the node lacks, and where to go instead. */
function belowBase(base: StoreBase, what: string): TrothError {
  return new TrothError('input.not-found', `${what}: this node started from the sealed checkpoint of epoch ${base.epoch} (block ${base.height}, log size ${base.logSize}) and holds no history below it; ask a node that replayed from genesis (troth start --sync replay)`)
}

export type ProveTarget = { readonly index: number } | { readonly root: Uint8Array }

export interface Proven {
  readonly text: string
  readonly index: number
  readonly epoch: number
  readonly size: number
  /** Steps of the member chain, the proof's checkpoint included. */
  readonly steps: number
}

function checkpointOf(note: string): Checkpoint {
  return parseCheckpoint(parseNote(note).text)
}

async function leafOf(src: AuditSource, index: number): Promise<Uint8Array> {
  const leaf = await src.leaf(index)
  if (leaf === undefined) throw new TrothError('store.corrupt', `log leaf ${index} is missing from the store`)
  return leaf
}

async function leafProof(src: AuditSource, index: number, cp: Checkpoint): Promise<LeafProof> {
  const leaf = await leafOf(src, index)
  const proof = await inclusionProof(index, cp.size, src.nodes)
  // Check what we hand out: a proof that fails here would fail at every auditor.
  assert(verifyInclusion(index, cp.size, leafHash(leaf), proof, cp.root), `stored log nodes do not prove leaf ${index} in the sealed checkpoint of size ${cp.size}`)
  return { index, leaf, proof }
}

/** The log index of the seal entry of snapshot `root`, from the block that finalized it. */
async function snapshotIndex(src: AuditSource, root: Uint8Array): Promise<number> {
  const snap = src.state.snapshots.get(toHex(root))
  if (snap === undefined) throw new TrothError('input.not-found', `no sealed snapshot ${toHex(root)} in this node's ledger (see troth snapshots)`)
  if (src.base !== null && snap.sealedHeight <= src.base.height) throw belowBase(src.base, `snapshot ${toHex(root)} was sealed in block ${snap.sealedHeight}`)
  const block = await src.block(snap.sealedHeight)
  const before = snap.sealedHeight === 1 ? undefined : await src.block(snap.sealedHeight - 1)
  if (block === undefined || (snap.sealedHeight > 1 && before === undefined)) throw new TrothError('store.corrupt', `block ${snap.sealedHeight}, which sealed ${toHex(root)}, is missing`)
  const first = before === undefined ? 1 : before.logSize // leaf 0 is the genesis
  for (const [i, wire] of block.entries.entries()) {
    const body = decodeSignedEntry(wire).entry.body
    if (body.kind === 'seal' && bytesEqual(body.root, root)) return first + i
  }
  throw new TrothError('store.corrupt', `block ${snap.sealedHeight} holds no seal entry for ${toHex(root)}`)
}

/** The first closed epoch whose epoch.seal leaf is at or after `index`: its checkpoint is the first
 * to cover the entry. Binary search over the monotonic seal indexes. */
async function firstCoveringEpoch(src: AuditSource, index: number): Promise<number | undefined> {
  // Below a base only the base's own epoch.seal index is held; entries past it are covered later.
  let lo = src.base === null ? 0 : src.base.epoch + 1
  let hi = src.state.epoch.number - 1 // the last closed epoch
  if (hi < lo) return undefined
  const at = async (e: number): Promise<number> => {
    const i = await src.sealIndex(e)
    if (i === undefined) throw new TrothError('store.corrupt', `the store has no epoch.seal index for closed epoch ${e}`)
    return i
  }
  if ((await at(hi)) < index) return undefined
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2)
    if ((await at(mid)) >= index) hi = mid
    else lo = mid + 1
  }
  return lo
}

/** One step of the member chain: the sealed checkpoint of `epoch`, with its seal leaves. */
async function step(src: AuditSource, epoch: number, note: string | null, cp: Checkpoint, prevSize: number, next: readonly Validator[] | null): Promise<ChainStep> {
  const seal = await leafProof(src, cp.size - 1, cp)
  assert(decodeSealLeaf(seal.leaf).epoch === epoch, `the last leaf of epoch ${epoch}'s checkpoint is not its epoch.seal`)
  let prior: LeafProof | null = null
  if (epoch > 0) {
    const i = await src.sealIndex(epoch - 1)
    if (i === undefined) throw new TrothError('store.corrupt', `the store has no epoch.seal index for epoch ${epoch - 1}`)
    prior = await leafProof(src, i, cp)
  }
  const consistency = prevSize === 0 ? [] : await consistencyProof(prevSize, cp.size, src.nodes)
  return { checkpoint: note, consistency, seal, prior, next }
}

/** The audit proof of an entry (by log index) or of a sealed snapshot (by root). */
export async function proveEntry(src: AuditSource, target: ProveTarget): Promise<Proven> {
  const size = src.state.meta.logSize
  const index = 'root' in target ? await snapshotIndex(src, target.root) : target.index
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new TrothError('input.invalid', `entry ${index} is not in the log (it has ${size} entries, 0 to ${size - 1})`)
  const base = src.base
  if (base !== null && index < base.logSize) {
    // The base's own epoch.seal leaf: its proof is the one verified at adoption.
    if (index === base.logSize - 1) return { text: base.proof, index, epoch: base.epoch, size: base.logSize, steps: parseAuditProof(base.proof).chain.length }
    throw belowBase(base, `entry ${index} is below the base`)
  }
  const found = await firstCoveringEpoch(src, index)
  if (found === undefined) throw new TrothError('input.not-found', `entry ${index} is not covered by a sealed checkpoint yet: wait until epoch ${src.state.epoch.number} ends and its checkpoint is sealed`)
  // The first covering epoch whose sealed checkpoint this node holds (it may lack one it never got).
  let epoch = found
  let note: string | undefined
  for (; epoch < src.state.epoch.number; epoch++) {
    note = await src.checkpoint(epoch)
    if (note !== undefined) break
  }
  if (note === undefined) throw new TrothError('input.not-found', `this node holds no sealed checkpoint covering entry ${index} yet (epochs ${found} to ${src.state.epoch.number - 1}); try again after the next epoch, or on another node`)
  const cp = checkpointOf(note)
  // One step per change of the member set before `epoch`: the checkpoint of the epoch whose close
  // changed it (cosigned by the old set, naming the new one), then the proof's own checkpoint.
  const chain: ChainStep[] = base === null ? [] : baseSteps(base)
  let prevSize = base === null ? 0 : base.logSize
  for (const changed of await src.membershipChanges(epoch)) {
    const e = changed - 1
    if (base !== null && e <= base.epoch) continue // in the base's chain already
    const n = await src.checkpoint(e)
    if (n === undefined) throw new TrothError('input.not-found', `this node does not hold the sealed checkpoint of epoch ${e}, at whose close the members changed; an audit proof needs it (try another node)`)
    const c = checkpointOf(n)
    chain.push(await step(src, e, n, c, prevSize, await src.validatorsOf(changed)))
    prevSize = c.size
  }
  // The set the proof's own epoch.seal names, when it changed: a witness keeps it.
  let next: Validator[] | null = null
  if (epoch + 1 <= src.state.epoch.number) {
    const now = await src.validatorsOf(epoch)
    const after = await src.validatorsOf(epoch + 1)
    if (!bytesEqual(validatorsHash(now), validatorsHash(after))) next = after
  }
  chain.push(await step(src, epoch, null, cp, prevSize, next))
  const leaf = await leafProof(src, index, cp)
  const text = formatAuditProof({ index, proof: leaf.proof, checkpoint: note, entry: leaf.leaf, chain })
  return { text, index, epoch, size: cp.size, steps: chain.length }
}

/** The member chain of a store's base, as steps a later proof starts with: the base proof's chain,
 * its last step given its checkpoint (it is no longer the proof's own). Each step is
 * self-contained (its proofs are in its own checkpoint), so no history below the base is needed. */
function baseSteps(base: StoreBase): ChainStep[] {
  const p = parseAuditProof(base.proof)
  return p.chain.map((s, i) => (i === p.chain.length - 1 ? { ...s, checkpoint: p.checkpoint } : s))
}

export interface ConsistencyProven {
  readonly text: string
  readonly oldSize: number
  readonly size: number
  readonly epoch: number
}

/** The tlog-witness add-checkpoint body from `oldSize` to the newest sealed checkpoint: `old N`,
 * RFC 9162 PROOF(N, size) (empty when N is 0 or the size itself), blank line, the signed note. */
export async function proveConsistency(src: AuditSource, oldSize: number): Promise<ConsistencyProven> {
  const latest = await src.latestCheckpoint()
  if (latest === undefined) throw new TrothError('input.not-found', 'no sealed checkpoint yet (the first epoch has not ended)')
  const [epoch, note] = latest
  const cp = checkpointOf(note)
  if (!Number.isSafeInteger(oldSize) || oldSize < 0 || oldSize > cp.size) {
    throw new TrothError('input.invalid', `old size ${oldSize} is larger than the newest sealed checkpoint (epoch ${epoch}, size ${cp.size})`)
  }
  // From the base's size on, the frontier stored at adoption is enough; below it, nodes are missing.
  if (src.base !== null && oldSize > 0 && oldSize < src.base.logSize) throw belowBase(src.base, `a consistency proof from size ${oldSize}`)
  const proof = oldSize === 0 || oldSize === cp.size ? [] : await consistencyProof(oldSize, cp.size, src.nodes)
  return { text: formatConsistencyBody({ oldSize, proof, checkpoint: note }), oldSize, size: cp.size, epoch }
}
