// Assignment of duties by weight (DESIGN.md §5.2): which members replicate a snapshot (weighted
// rendezvous hashing, Schindelhauer & Schomaker, SPAA 2005), who audits each replica in an epoch,
// and which chunks each auditor challenges. Pure and deterministic: the inputs are public ledger
// data, the only randomness is SHA-256 of them, and no result depends on floating point.
// docs/obligations.md states every rule byte for byte.

import { assert } from '../errors.ts'
import { encode } from '../ledger/encoding.ts'
import { sha256, toHex } from '../ledger/hash.ts'

/** Hash domain tags. Frozen: changing one changes every assignment (a format change). */
export const REPLICA_TAG = 'troth/replica/v1'
export const AUDITOR_TAG = 'troth/auditor/v1'
export const CHALLENGE_TAG = 'troth/challenge/v1'

/** Bits of the rendezvous hash used as U's numerator; U = (x + 0.5) / 2^53 lies in (0, 1). */
export const RENDEZVOUS_BITS = 53
/** Fractional bits of the fixed-point −ln U (docs/obligations.md "Exact ordering"). */
export const LN_FRAC_BITS = 128
/** Auditors a replica below the standing floor draws, as a multiple of auditorsPerReplica. */
export const LOW_STANDING_AUDITOR_FACTOR = 2
/** A member's draw weight is raised by at most this factor to make up for the draws it is
 * excluded from (docs/obligations.md "Making up for exclusions"). */
export const EXCLUSION_BOOST_MAX = 4

const FRAC = BigInt(LN_FRAC_BITS)
/** ln f for f in [1, 2) is split at 2^LN_TABLE_BITS table points, so the series argument is < 2^-9. */
const LN_TABLE_BITS = 8
const LN_TABLE_SIZE = 1 << LN_TABLE_BITS
/** atanh(z) for z ≤ 1/3 gains ≥ log2(9) bits per term: 192 bits need 62 terms. */
const ATANH_TERMS_MAX = 96
/** Extra bits the constants (ln 2, the table) are computed with before rounding to LN_FRAC_BITS. */
const CONSTANT_GUARD_BITS = 64n
/** U = m / 2^54 with m = 2x + 1 odd, so 1 ≤ m < 2^54. */
const M_BITS = RENDEZVOUS_BITS + 1
const TWO_POW_32 = 2 ** 32

// ---------------------------------------------------------------------------------------------
// Fixed-point −ln U (docs/obligations.md "Exact ordering"). Integer arithmetic only, so every
// engine and every language computes the same integer; BigInt `/` and `>>` both round toward
// −∞ here because every operand is non-negative.

/** Σ z^(2k+1) / (2k+1), k ≥ 0: atanh(z) for z ≤ 1/3, in fixed point with `frac` fraction bits. */
function atanhFixed(z: bigint, frac: bigint): bigint {
  assert(z >= 0n && 3n * z <= 1n << frac, 'atanhFixed: argument outside [0, 1/3]')
  const z2 = (z * z) >> frac
  let sum = z
  let term = z
  for (let i = 1; i <= ATANH_TERMS_MAX; i++) {
    term = (term * z2) >> frac
    if (term === 0n) return sum
    sum += term / BigInt(2 * i + 1)
  }
  assert(false, 'atanhFixed: series did not converge')
}

interface LnConstants {
  /** ln 2 = 2·atanh(1/3). */
  readonly ln2: bigint
  /** table[j] = ln(1 + j/256) = 2·atanh(j / (512 + j)). */
  readonly table: readonly bigint[]
}

let lnConstants: LnConstants | undefined

/**
 * Computed once, on first use, by the same series with CONSTANT_GUARD_BITS more precision, then
 * rounded to nearest: no constant is typed in by hand, and each is within half a unit.
 */
function constants(): LnConstants {
  if (lnConstants === undefined) {
    const wide = FRAC + CONSTANT_GUARD_BITS
    const round = (v: bigint): bigint => (v + (1n << (CONSTANT_GUARD_BITS - 1n))) >> CONSTANT_GUARD_BITS
    const ln2 = round(2n * atanhFixed((1n << wide) / 3n, wide))
    const table: bigint[] = []
    for (let j = 0; j < LN_TABLE_SIZE; j++) {
      const jb = BigInt(j)
      table.push(round(2n * atanhFixed((jb << wide) / (BigInt(2 * LN_TABLE_SIZE) + jb), wide)))
    }
    lnConstants = { ln2, table }
  }
  return lnConstants
}

/** Number of significant bits of a non-negative safe integer (0 → 0), without Math.log. */
function bitLength(x: number): number {
  if (x >= TWO_POW_32) return 64 - Math.clz32(Math.floor(x / TWO_POW_32))
  return 32 - Math.clz32(x)
}

/**
 * 2^128 · (−ln U) for U = (2x + 1) / 2^54, by the fixed integer steps of docs/obligations.md:
 * less than 64 units (2^-122) from the true value, hence strictly decreasing in x (neighbouring
 * x differ by more than 2^-53).
 * With m = 2x + 1 = 2^e · f, f ∈ [1, 2), j = ⌊256 (f − 1)⌋, c = 1 + j/256:
 *   −ln U = (54 − e)·ln 2 − ln c − 2·atanh((f − c) / (f + c)).
 */
export function negLnFixed(x: number): bigint {
  assert(Number.isSafeInteger(x) && x >= 0 && x < 2 ** RENDEZVOUS_BITS, 'negLnFixed: x must be a 53-bit integer')
  const { ln2, table } = constants()
  const m = 2n * BigInt(x) + 1n
  const e = bitLength(x) // = bitLength(m) − 1
  const eb = BigInt(e)
  const j = Number(((m << BigInt(LN_TABLE_BITS)) >> eb) - BigInt(LN_TABLE_SIZE))
  const lnC = table[j]
  assert(lnC !== undefined && j >= 0, 'negLnFixed: table index out of range')
  const a = m << BigInt(LN_TABLE_BITS) // 256·m
  const b = BigInt(LN_TABLE_SIZE + j) << eb // 256·c·2^e
  const z = ((a - b) << FRAC) / (a + b)
  const out = BigInt(M_BITS - e) * ln2 - lnC - 2n * atanhFixed(z, FRAC)
  assert(out > 0n, 'negLnFixed: −ln U must be positive')
  return out
}

// ---------------------------------------------------------------------------------------------
// Hash inputs. Every hash is SHA-256 of encode([tag, ...fields]) (deterministic CBOR, RFC 8949
// §4.2.1). To hash many inputs that share a prefix, the array is built from its encoded items:
// a definite-length array of n < 24 items is the one head byte 0x80 + n followed by the items
// (RFC 8949 §3.1, §4.2.1), byte for byte what encode() emits (tested).

function arrayPrefix(itemCount: number, items: readonly Uint8Array[]): Uint8Array {
  assert(Number.isInteger(itemCount) && itemCount >= items.length && itemCount < 24, 'arrayPrefix: bad item count')
  let length = 1
  for (const it of items) length += it.length
  const out = new Uint8Array(length)
  out[0] = 0x80 | itemCount
  let at = 1
  for (const it of items) {
    out.set(it, at)
    at += it.length
  }
  return out
}

/** The first 53 bits of a digest, big-endian, as an exact integer. */
function first53(h: Uint8Array): number {
  const hi = (((h[0] as number) << 24) | ((h[1] as number) << 16) | ((h[2] as number) << 8) | (h[3] as number)) >>> 0
  const lo = ((h[4] as number) << 13) | ((h[5] as number) << 5) | ((h[6] as number) >>> 3)
  return hi * 2 ** 21 + lo
}

/** Below this modulus, the first 128 bits mod m fit Number arithmetic exactly: r·2^32 + w < 2^53. */
const MOD_NUMBER_MAX = 2 ** 21

/**
 * (the first 128 bits of digest h, big-endian) mod m, exactly. Small moduli take a Horner walk
 * over 32-bit words in Number arithmetic (every intermediate is an integer below 2^53); larger
 * ones take BigInt. Both give the same integer; the split is speed only.
 */
function mod128(h: Uint8Array, m: number): number {
  assert(Number.isSafeInteger(m) && m >= 1 && h.length >= 16, 'mod128: bad modulus or digest')
  if (m <= MOD_NUMBER_MAX) {
    let r = 0
    for (let at = 0; at < 16; at += 4) {
      const w = (((h[at] as number) << 24) | ((h[at + 1] as number) << 16) | ((h[at + 2] as number) << 8) | (h[at + 3] as number)) >>> 0
      r = (r * TWO_POW_32 + w) % m
    }
    return r
  }
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength)
  return Number(((v.getBigUint64(0) << 64n) | v.getBigUint64(8)) % BigInt(m))
}

// ---------------------------------------------------------------------------------------------
// Replication: weighted rendezvous (DESIGN.md §5.2)

export interface WeightedMember {
  readonly id: string
  /** Milli-weight (1000 = weight 1); 0 = never assigned anything. */
  readonly weight: number
}

/** x of member `id` for snapshot `root`: U = (x + 0.5) / 2^53. */
export function replicaDraw(root: Uint8Array, id: string): number {
  return first53(sha256(encode([REPLICA_TAG, root, id])))
}

interface Ranked {
  readonly id: string
  readonly weight: number
  readonly weightBig: bigint
  /** Larger x = smaller −ln U. */
  readonly x: number
  ln: bigint | undefined
}

function lnOf(r: Ranked): bigint {
  if (r.ln === undefined) r.ln = negLnFixed(r.x)
  return r.ln
}

/**
 * True when `a` ranks strictly before `b`: a smaller −ln(U)/w, compared exactly as the rationals
 * L_a/w_a < L_b/w_b ⇔ L_a·w_b < L_b·w_a; equal scores go to the smaller id. Equal weights
 * compare x directly: the same answer, since the fixed-point L is strictly decreasing in x.
 */
function ranksBefore(a: Ranked, b: Ranked): boolean {
  if (a.weight === b.weight) {
    if (a.x !== b.x) return a.x > b.x
    return a.id < b.id
  }
  const left = lnOf(a) * b.weightBig
  const right = lnOf(b) * a.weightBig
  if (left !== right) return left < right
  return a.id < b.id
}

/** The `count` best of `items` by ranksBefore, best first. One pass; order of `items` is irrelevant. */
function topK(items: Iterable<Ranked>, count: number): Ranked[] {
  const best: Ranked[] = []
  if (count === 0) return best
  for (const r of items) {
    const worst = best[best.length - 1]
    if (best.length === count && worst !== undefined && !ranksBefore(r, worst)) continue
    let at = best.length
    while (at > 0 && ranksBefore(r, best[at - 1] as Ranked)) at--
    best.splice(at, 0, r)
    if (best.length > count) best.pop()
  }
  return best
}

function checkWeighted(members: ReadonlyArray<WeightedMember>): void {
  const seen = new Set<string>()
  for (const m of members) {
    assert(typeof m.id === 'string' && m.id !== '', 'member id must be a non-empty string')
    assert(Number.isSafeInteger(m.weight) && m.weight >= 0, `member ${m.id}: weight must be a non-negative integer`)
    assert(!seen.has(m.id), `member ${m.id} is listed twice`)
    seen.add(m.id)
  }
}

/**
 * The replicas of the snapshot with Merkle root `root`: the `count` members with the smallest
 * weighted rendezvous score −ln(U)/w (DESIGN.md §5.2), best first; ties go to the smaller id.
 * Members of weight 0 are never chosen; with fewer eligible members than `count`, all of them.
 * The list is the rendezvous ranking, so `count = members.length` gives the repair order too.
 * Depends on the root and the member set only, never on the order of `members`.
 */
export function replicasFor(root: Uint8Array, members: ReadonlyArray<WeightedMember>, count: number): string[] {
  assert(root instanceof Uint8Array, 'replicasFor: root must be bytes')
  assert(Number.isSafeInteger(count) && count >= 0, 'replicasFor: count must be a non-negative integer')
  checkWeighted(members)
  const prefix = arrayPrefix(3, [encode(REPLICA_TAG), encode(root)])
  function* candidates(): Generator<Ranked> {
    for (const m of members) {
      if (m.weight === 0) continue
      yield { id: m.id, weight: m.weight, weightBig: BigInt(m.weight), x: first53(sha256(prefix, encode(m.id))), ln: undefined }
    }
  }
  return topK(candidates(), count).map((r) => r.id)
}

// ---------------------------------------------------------------------------------------------
// Audits (DESIGN.md §5.2, §5.4)

export interface AuditMember {
  readonly id: string
  /** Milli-weight in force this epoch; 0 = never audits. */
  readonly weight: number
  /** The members who inducted this one. */
  readonly sponsors: readonly string[]
  /** Standing score, permille. */
  readonly standingScore: number
}

export interface AuditSnapshot {
  readonly root: Uint8Array
  readonly chunks: number
  readonly replicas: readonly string[]
}

export interface AuditInput {
  /** The epoch seed (hash of the block that closed the previous epoch). */
  readonly seed: Uint8Array
  readonly epoch: number
  /** The epoch's active members; any order (they are sorted by id here). */
  readonly members: ReadonlyArray<AuditMember>
  readonly snapshots: ReadonlyArray<AuditSnapshot>
  readonly auditorsPerReplica: number
  readonly chunksPerAudit: number
  /** Permille; a replica whose standing is below it draws LOW_STANDING_AUDITOR_FACTOR× auditors. */
  readonly standingFloor: number
}

/** One audit duty of the epoch: `auditor` challenges `replica` on these chunks of `root`. */
export interface AuditAssignment {
  /** Snapshot Merkle root, lowercase hex. */
  readonly root: string
  readonly replica: string
  readonly auditor: string
  /** Challenged chunk indexes, in challenge order i = 0, 1, …; repeats are possible. */
  readonly chunks: readonly number[]
}

/** Auditors a replica needs this epoch before the cap at the eligible count. */
export function auditorsRequired(standingScore: number, auditorsPerReplica: number, standingFloor: number): number {
  return standingScore < standingFloor ? LOW_STANDING_AUDITOR_FACTOR * auditorsPerReplica : auditorsPerReplica
}

interface Indexed {
  readonly id: string
  readonly weight: number
  /** Start of this member's interval on the line [0, W) of positive weights, in id order. */
  readonly start: number
  readonly sponsors: readonly string[]
  readonly standingScore: number
  readonly enc: Uint8Array
}

function checkAuditInput(input: AuditInput): void {
  assert(input.seed instanceof Uint8Array, 'auditAssignments: seed must be bytes')
  assert(Number.isSafeInteger(input.epoch) && input.epoch >= 0, 'auditAssignments: epoch must be a non-negative integer')
  assert(Number.isSafeInteger(input.auditorsPerReplica) && input.auditorsPerReplica >= 1, 'auditAssignments: auditorsPerReplica must be ≥ 1')
  assert(Number.isSafeInteger(input.chunksPerAudit) && input.chunksPerAudit >= 1, 'auditAssignments: chunksPerAudit must be ≥ 1')
  assert(Number.isSafeInteger(input.standingFloor), 'auditAssignments: standingFloor must be an integer')
  checkWeighted(input.members)
  for (const m of input.members) {
    assert(Number.isSafeInteger(m.standingScore), `member ${m.id}: standingScore must be an integer`)
    assert(Array.isArray(m.sponsors), `member ${m.id}: sponsors must be an array`)
  }
  let total = 0
  for (const m of input.members) total += m.weight
  assert(Number.isSafeInteger(total), 'auditAssignments: total weight exceeds 2^53')
}

/**
 * Challenge indexes from the snapshot's prefix — the head byte of a 7-item array, then the
 * encoded tag, epoch, seed and root — the encoded replica and auditor, and each encoded i.
 */
function challengesFrom(snapshotPrefix: Uint8Array, encReplica: Uint8Array, encAuditor: Uint8Array, encIndexes: readonly Uint8Array[], chunks: number): number[] {
  return encIndexes.map((encI) => mod128(sha256(snapshotPrefix, encReplica, encAuditor, encI), chunks))
}

/**
 * The chunk indexes `auditor` challenges on `replica`'s copy of `root` in the epoch:
 * first128(SHA-256(encode([CHALLENGE_TAG, epoch, seed, root, replica, auditor, i]))) mod chunks,
 * for i = 0 … count − 1. Replica and auditor compute the same list; so can anyone.
 */
export function challengeChunks(seed: Uint8Array, epoch: number, root: Uint8Array, replica: string, auditor: string, chunks: number, count: number): number[] {
  assert(Number.isSafeInteger(chunks) && chunks >= 1, 'challengeChunks: chunks must be ≥ 1')
  assert(Number.isSafeInteger(count) && count >= 0, 'challengeChunks: count must be ≥ 0')
  const prefix = arrayPrefix(7, [encode(CHALLENGE_TAG), encode(epoch), encode(seed), encode(root)])
  return challengesFrom(prefix, encode(replica), encode(auditor), Array.from({ length: count }, (_, i) => encode(i)), chunks)
}

/**
 * The epoch's audit duties (DESIGN.md §5.2). For each snapshot and each of its replicas that is
 * an active member, auditors are drawn by weight without replacement (successive sampling, the
 * distribution of the Efraimidis–Spirakis order) from the active members of positive weight other
 * than the replica, its sponsors and the members it sponsored. A replica below the standing
 * floor draws LOW_STANDING_AUDITOR_FACTOR× auditorsPerReplica; the count is capped at the
 * eligible members. Each auditor gets chunksPerAudit challenged chunk indexes.
 *
 * Output order is canonical whatever the input order: snapshots by root bytes, replicas by id,
 * auditors in draw order.
 */
export function auditAssignments(input: AuditInput): AuditAssignment[] {
  checkAuditInput(input)
  // Members in sorted id order: the weight line [0, W) is cut in that order.
  const sorted = [...input.members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  // Inductees: who names whom as sponsor, among active members.
  const inductees = new Map<string, string[]>()
  for (const m of sorted) {
    for (const s of new Set(m.sponsors)) {
      if (s === m.id) continue
      const list = inductees.get(s)
      if (list === undefined) inductees.set(s, [m.id])
      else list.push(m.id)
    }
  }
  const boosted = drawWeights(sorted, input, inductees)
  const byId = new Map<string, Indexed>()
  const line: Indexed[] = [] // positive weight only: a zero-width interval is never hit
  let total = 0
  for (const m of sorted) {
    const weight = boosted.get(m.id) ?? 0
    const ix: Indexed = { id: m.id, weight, start: total, sponsors: m.sponsors, standingScore: m.standingScore, enc: encode(m.id) }
    byId.set(m.id, ix)
    if (weight > 0) {
      line.push(ix)
      total += weight
    }
  }
  assert(Number.isSafeInteger(total), 'auditAssignments: boosted weight exceeds 2^53')
  const lineIndex = new Map<string, number>(line.map((m, i) => [m.id, i]))

  const encEpoch = encode(input.epoch)
  const encSeed = encode(input.seed)
  const encDrawTag = encode(AUDITOR_TAG)
  const encChallengeTag = encode(CHALLENGE_TAG)
  const encIndexes = Array.from({ length: input.chunksPerAudit }, (_, i) => encode(i))
  const drawsMax = LOW_STANDING_AUDITOR_FACTOR * input.auditorsPerReplica
  const encDraws = Array.from({ length: drawsMax }, (_, j) => encode(j))

  const snapshots = input.snapshots.map((s) => {
    assert(s.root instanceof Uint8Array, 'auditAssignments: snapshot root must be bytes')
    assert(Number.isSafeInteger(s.chunks) && s.chunks >= 0, 'auditAssignments: snapshot chunks must be a non-negative integer')
    return { s, hex: toHex(s.root) }
  })
  snapshots.sort((a, b) => (a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : 0))

  const out: AuditAssignment[] = []
  let previousHex: string | undefined
  for (const { s, hex } of snapshots) {
    assert(hex !== previousHex, `auditAssignments: snapshot ${hex} is listed twice`)
    previousHex = hex
    if (s.chunks === 0) continue // nothing to challenge
    const encRoot = encode(s.root)
    // Shared prefixes; each hash appends the rest as separate parts (no per-hash copy).
    const drawPrefix = arrayPrefix(6, [encDrawTag, encEpoch, encSeed, encRoot])
    const challengePrefix = arrayPrefix(7, [encChallengeTag, encEpoch, encSeed, encRoot])
    const replicas = [...s.replicas].sort()
    for (let r = 0; r < replicas.length; r++) {
      const replicaId = replicas[r] as string
      assert(r === 0 || replicaId !== replicas[r - 1], `auditAssignments: replica ${replicaId} listed twice for ${hex}`)
      const replica = byId.get(replicaId)
      if (replica === undefined) continue // no longer an active member: repair replaces it (§5.5)

      // Excluded: the replica, its sponsors, its inductees — as positions on the weight line.
      const removed: number[] = []
      for (const id of [replicaId, ...replica.sponsors, ...(inductees.get(replicaId) ?? [])]) {
        const at = lineIndex.get(id)
        if (at !== undefined && !removed.includes(at)) removed.push(at)
      }
      removed.sort((a, b) => a - b)
      let remaining = total
      for (const at of removed) remaining -= (line[at] as Indexed).weight
      const eligible = line.length - removed.length
      const k = Math.min(auditorsRequired(replica.standingScore, input.auditorsPerReplica, input.standingFloor), eligible)
      assert(k <= drawsMax, 'auditAssignments: more draws than the low-standing maximum')

      for (let j = 0; j < k; j++) {
        const at = drawOnLine(line, removed, remaining, sha256(drawPrefix, replica.enc, encDraws[j] as Uint8Array))
        const auditor = line[at] as Indexed
        insertSorted(removed, at)
        remaining -= auditor.weight
        out.push({ root: hex, replica: replicaId, auditor: auditor.id, chunks: challengesFrom(challengePrefix, replica.enc, auditor.enc, encIndexes, s.chunks) })
      }
    }
  }
  return out
}

/** The excluded members of a replica: itself, its sponsors and its inductees (may repeat). */
function excludedOf(replica: AuditMember, inductees: ReadonlyMap<string, string[]>): string[] {
  return [replica.id, ...replica.sponsors, ...(inductees.get(replica.id) ?? [])]
}

/**
 * Draw weights that make up for exclusions (docs/obligations.md "Making up for exclusions"):
 * over the epoch's draws D (each audited pair counts its auditor count k), member m is excluded
 * from E_m of them (as the replica, a sponsor or an inductee), so its weight is raised to
 * ⌊w·D / (D − E_m)⌋, at most EXCLUSION_BOOST_MAX·w. To first order every member then gets its
 * weight's share of the duties, however many relations it has. Exact integers; 0 stays 0.
 */
function drawWeights(sorted: readonly AuditMember[], input: AuditInput, inductees: ReadonlyMap<string, string[]>): Map<string, number> {
  const byId = new Map(sorted.map((m) => [m.id, m]))
  let positive = 0
  for (const m of sorted) if (m.weight > 0) positive++
  const excluded = new Map<string, number>()
  let draws = 0
  for (const s of input.snapshots) {
    if (s.chunks === 0) continue
    for (const replicaId of new Set(s.replicas)) {
      const replica = byId.get(replicaId)
      if (replica === undefined) continue
      const out = new Set(excludedOf(replica, inductees).filter((id) => (byId.get(id)?.weight ?? 0) > 0))
      const k = Math.min(auditorsRequired(replica.standingScore, input.auditorsPerReplica, input.standingFloor), positive - out.size)
      draws += k
      for (const id of out) excluded.set(id, (excluded.get(id) ?? 0) + k)
    }
  }
  const weights = new Map<string, number>()
  for (const m of sorted) {
    const e = excluded.get(m.id) ?? 0
    if (m.weight === 0 || e === 0 || e >= draws) {
      weights.set(m.id, m.weight)
      continue
    }
    const raised = (BigInt(m.weight) * BigInt(draws)) / BigInt(draws - e)
    weights.set(m.id, Number(raised < BigInt(EXCLUSION_BOOST_MAX * m.weight) ? raised : BigInt(EXCLUSION_BOOST_MAX * m.weight)))
  }
  return weights
}

/**
 * One step of successive weighted sampling: the eligible members (those not in `removed`), in id
 * order, each own an interval as wide as its weight on [0, remaining); return the line position
 * of the member whose interval holds (first 128 bits of h) mod remaining. `removed` is sorted:
 * the walk skips each removed interval that starts at or before the running offset, so a draw
 * costs O(|removed| + log n) instead of a walk over every member.
 */
function drawOnLine(line: readonly Indexed[], removed: readonly number[], remaining: number, h: Uint8Array): number {
  assert(remaining > 0, 'drawOnLine: no eligible weight left')
  let y = mod128(h, remaining)
  for (const at of removed) {
    const m = line[at] as Indexed
    if (m.start > y) break
    y += m.weight
  }
  // Binary search: the last member whose interval starts at or before y.
  let lo = 0
  let hi = line.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if ((line[mid] as Indexed).start <= y) lo = mid
    else hi = mid - 1
  }
  const found = line[lo] as Indexed
  assert(y >= found.start && y < found.start + found.weight && !removed.includes(lo), 'drawOnLine: landed outside the eligible weight')
  return lo
}

function insertSorted(list: number[], value: number): void {
  let at = list.length
  while (at > 0 && (list[at - 1] as number) > value) at--
  list.splice(at, 0, value)
}

// ---------------------------------------------------------------------------------------------
// Duty accounting helpers (measurement; not consensus-critical, so floats are fine here)

/** The audits `member` owes: the assignments where it is the auditor. */
export function dutiesOf(assignments: ReadonlyArray<AuditAssignment>, member: string): AuditAssignment[] {
  return assignments.filter((a) => a.auditor === member)
}

/** Adds one to `into[auditor]` per assignment; returns `into`. */
export function tallyDuties(assignments: ReadonlyArray<AuditAssignment>, into: Map<string, number> = new Map()): Map<string, number> {
  for (const a of assignments) into.set(a.auditor, (into.get(a.auditor) ?? 0) + 1)
  return into
}

export interface DutyShareRow {
  readonly id: string
  readonly duties: number
  readonly dutyShare: number
  readonly weightShare: number
  /** dutyShare / weightShare − 1. */
  readonly relDeviation: number
}

export interface DutyShares {
  /** Members of positive weight, in id order. */
  readonly rows: readonly DutyShareRow[]
  readonly totalDuties: number
  /** Largest |relDeviation| over the rows. */
  readonly maxRelDeviation: number
  /** 99th percentile of |relDeviation| over the rows (nearest rank). */
  readonly p99RelDeviation: number
  /** Duties tallied to ids that have no positive weight in `members` (should be 0). */
  readonly strayDuties: number
}

/** Each member's share of the duties against its share of the weight (DESIGN.md §5.1). */
export function shareOfDuties(tally: ReadonlyMap<string, number>, members: ReadonlyArray<WeightedMember>): DutyShares {
  checkWeighted(members)
  const positive = members.filter((m) => m.weight > 0).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  let totalWeight = 0
  for (const m of positive) totalWeight += m.weight
  let totalDuties = 0
  for (const n of tally.values()) totalDuties += n
  let counted = 0
  const rows = positive.map((m): DutyShareRow => {
    const duties = tally.get(m.id) ?? 0
    counted += duties
    const dutyShare = totalDuties === 0 ? 0 : duties / totalDuties
    const weightShare = m.weight / totalWeight
    return { id: m.id, duties, dutyShare, weightShare, relDeviation: dutyShare / weightShare - 1 }
  })
  const devs = rows.map((r) => Math.abs(r.relDeviation)).sort((a, b) => a - b)
  const p99At = Math.max(0, Math.ceil(0.99 * devs.length) - 1)
  return {
    rows,
    totalDuties,
    maxRelDeviation: devs.length === 0 ? 0 : (devs[devs.length - 1] as number),
    p99RelDeviation: devs[p99At] ?? 0,
    strayDuties: totalDuties - counted,
  }
}
