// Blocks (DESIGN.md §3.2): consensus orders blocks { epoch, height, parent, proposer, time,
// entries[], logSize, logRoot }. entries are signed-entry leaf bytes; logSize/logRoot describe the
// log after the block's entries (and after the epoch.seal leaf when the block closes an epoch).
// The block hash is SHA-256 of the block's canonical CBOR. A block names no consensus view: the
// view belongs to the proposal that carries it, so the last block of an epoch can be proposed
// again, unchanged, in a later view until it is finalized directly (DESIGN.md §4).

import { asArray, asBytes, asMap, asUint, decode, encode, type CborValue } from './encoding.ts'
import { sha256 } from './hash.ts'
import { BLOCK_BYTES_MAX, BLOCK_ENTRIES_MAX, ENTRY_BYTES_MAX } from './limits.ts'

export interface Block {
  readonly epoch: number
  readonly height: number
  readonly parent: Uint8Array
  readonly proposer: Uint8Array
  /** Proposer's clock, unix ms; never below the parent's. */
  readonly time: number
  readonly entries: readonly Uint8Array[]
  readonly logSize: number
  readonly logRoot: Uint8Array
}

export function blockToCbor(b: Block): CborValue {
  return {
    epoch: b.epoch,
    height: b.height,
    parent: b.parent,
    proposer: b.proposer,
    time: b.time,
    entries: [...b.entries],
    logSize: b.logSize,
    logRoot: b.logRoot,
  }
}

export function encodeBlock(b: Block): Uint8Array {
  return encode(blockToCbor(b))
}

// A block is hashed at each step it passes (proposal, vote, execution, commit): keep each
// block object's hash. Blocks are never changed in place (their fields are readonly).
const hashes = new WeakMap<Block, Uint8Array>()

export function blockHash(b: Block): Uint8Array {
  let h = hashes.get(b)
  if (h === undefined) {
    h = sha256(encodeBlock(b))
    hashes.set(b, h)
  }
  return h
}

export function parseBlock(v: CborValue): Block {
  const m = asMap(v, 'block', ['epoch', 'height', 'parent', 'proposer', 'time', 'entries', 'logSize', 'logRoot'])
  return {
    epoch: asUint(m.epoch as CborValue, 'block.epoch'),
    height: asUint(m.height as CborValue, 'block.height'),
    parent: asBytes(m.parent as CborValue, 'block.parent', 32),
    proposer: asBytes(m.proposer as CborValue, 'block.proposer', 32),
    time: asUint(m.time as CborValue, 'block.time'),
    entries: asArray(m.entries as CborValue, 'block.entries', BLOCK_ENTRIES_MAX).map((e, i) =>
      asBytes(e, `block.entries[${i}]`, undefined, ENTRY_BYTES_MAX),
    ),
    logSize: asUint(m.logSize as CborValue, 'block.logSize'),
    logRoot: asBytes(m.logRoot as CborValue, 'block.logRoot', 32),
  }
}

export function decodeBlock(bytes: Uint8Array): Block {
  return parseBlock(decode(bytes, { bytesMax: BLOCK_BYTES_MAX }))
}
