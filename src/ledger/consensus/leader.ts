// Leader election by weight (DESIGN.md §4, §5.2): the leader of view v in epoch e is drawn from
// the epoch seed and v, each validator with probability weight / W. Deterministic: every node
// computes the same leader, and anyone can check who it was.

import { encode } from '../encoding.ts'
import { sha256, toHex } from '../hash.ts'
import type { ValidatorSet } from './messages.ts'

export function leaderOf(seed: Uint8Array, set: ValidatorSet, view: number): string {
  if (set.totalWeight <= 0) throw new Error('an epoch without weight has no leader')
  // 128 bits of hash reduced mod W: the bias is below 2^-100 for any realistic W.
  const h = sha256(seed, encode(['troth/leader/v1', set.epoch, view]))
  let x = BigInt(`0x${toHex(h.subarray(0, 16))}`) % BigInt(set.totalWeight)
  for (const v of set.list) {
    const w = BigInt(v.weight)
    if (x < w) return v.id
    x -= w
  }
  throw new Error('unreachable: the cumulative weight covers [0, W)')
}
