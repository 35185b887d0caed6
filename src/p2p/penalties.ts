// Per-peer penalty scores (DESIGN.md §7: "a misbehaving peer is disconnected, not obeyed").
// Gossip, rpc and callers report misbehaviour in points; points decay with a half-life, and a
// peer whose score reaches the threshold is banned for a cool-down, during which the connection
// gater refuses it in both directions. docs/network.md lists the reasons and their points.

import { assert } from '../errors.ts'
import type { MemberId } from '../identity/index.ts'

/** Points for the misbehaviour the network layer detects itself. Callers pick their own. */
export const PENALTY_POINTS = {
  /** Bytes that are not what the protocol says: bad CBOR, bad envelope, wrong shape. */
  malformed: 25,
  /** A frame or payload over the protocol's limit. */
  tooLarge: 25,
  /** A peer that opened a stream and did not finish its side in time. */
  timeout: 5,
  /** A stream that ended, reset or broke the framing before a whole message arrived. */
  protocol: 10,
} as const

export interface PenaltyConfig {
  /** A score at or above this bans the peer. */
  readonly thresholdPoints: number
  /** How long a ban lasts. */
  readonly coolDownMs: number
  /** A score halves every this many milliseconds. */
  readonly halfLifeMs: number
  /** Peers tracked at once; past this the oldest un-banned entry is forgotten. */
  readonly peersMax: number
}

export const PENALTY_CONFIG_DEFAULT: PenaltyConfig = {
  thresholdPoints: 100,
  coolDownMs: 10 * 60 * 1000,
  halfLifeMs: 10 * 60 * 1000,
  peersMax: 10_000,
}

/** One report, as handed to an observer (logs, metrics). */
export interface PenaltyEvent {
  readonly memberId: MemberId
  readonly reason: string
  readonly points: number
  /** The score after this report. */
  readonly score: number
  /** True when this report started a ban. */
  readonly banned: boolean
}

interface Entry {
  points: number
  /** When `points` was last brought up to date. */
  atMs: number
  /** 0 when not banned. */
  bannedUntilMs: number
}

export class PenaltyBox {
  readonly config: PenaltyConfig
  readonly #now: () => number
  readonly #entries = new Map<MemberId, Entry>()

  constructor(config: Partial<PenaltyConfig> = {}, now: () => number = Date.now) {
    const c: PenaltyConfig = { ...PENALTY_CONFIG_DEFAULT, ...config }
    assert(Number.isFinite(c.thresholdPoints) && c.thresholdPoints > 0, 'penalty thresholdPoints must be > 0')
    assert(Number.isSafeInteger(c.coolDownMs) && c.coolDownMs >= 0, 'penalty coolDownMs must be a non-negative integer')
    assert(Number.isSafeInteger(c.halfLifeMs) && c.halfLifeMs > 0, 'penalty halfLifeMs must be a positive integer')
    assert(Number.isSafeInteger(c.peersMax) && c.peersMax > 0, 'penalty peersMax must be a positive integer')
    this.config = c
    this.#now = now
  }

  /** Add `points` to a peer's score; returns the report, with `banned` set if it started a ban. */
  penalise(memberId: MemberId, reason: string, points: number): PenaltyEvent {
    assert(typeof memberId === 'string' && memberId.length > 0, 'penalise: memberId required')
    assert(Number.isFinite(points) && points > 0, 'penalise: points must be a positive number')
    const now = this.#now()
    let entry = this.#entries.get(memberId)
    if (entry === undefined) {
      this.#makeRoom()
      entry = { points: 0, atMs: now, bannedUntilMs: 0 }
      this.#entries.set(memberId, entry)
    }
    this.#decay(entry, now)
    entry.points += points
    let banned = false
    if (entry.points >= this.config.thresholdPoints && entry.bannedUntilMs <= now) {
      entry.bannedUntilMs = now + this.config.coolDownMs
      banned = true
    }
    return { memberId, reason, points, score: entry.points, banned }
  }

  /** The peer's current (decayed) score; 0 for a peer never reported. */
  penaltyOf(memberId: MemberId): number {
    const entry = this.#entries.get(memberId)
    if (entry === undefined) return 0
    this.#decay(entry, this.#now())
    return entry.points
  }

  /** True while the peer's cool-down runs. */
  isBanned(memberId: MemberId): boolean {
    const entry = this.#entries.get(memberId)
    return entry !== undefined && entry.bannedUntilMs > this.#now()
  }

  #decay(entry: Entry, now: number): void {
    const elapsedMs = now - entry.atMs
    if (elapsedMs > 0) {
      entry.points *= 2 ** (-elapsedMs / this.config.halfLifeMs)
      if (entry.points < 1e-6) entry.points = 0
      entry.atMs = now
    }
  }

  /** Keep the table bounded: forget the oldest peer that is not serving a ban. */
  #makeRoom(): void {
    if (this.#entries.size < this.config.peersMax) return
    const now = this.#now()
    for (const [id, entry] of this.#entries) {
      if (entry.bannedUntilMs <= now) {
        this.#entries.delete(id)
        return
      }
    }
    // Every tracked peer is banned: forget the oldest ban rather than grow without limit.
    const oldest = this.#entries.keys().next().value
    if (oldest !== undefined) this.#entries.delete(oldest)
  }
}
