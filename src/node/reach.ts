// Which validators this node can reach, and when a message must also go by gossip
// (docs/consensus.md "A validator out of reach").
//
// Consensus messages go over direct connections; gossip carries them to validators this node
// has no connection to, through the peers that do. A validator that is down has no connection
// to anyone, and gossiping every message for it cost three times the CPU at 16 nodes (each
// node forwards each copy to its mesh) for nothing. So a validator without a connection counts
// as out of reach once its connection has been gone for `lostMs` and nothing it signed has come
// through gossip for `heardMs`; in the node's first `heardMs` (connections still forming) every
// validator counts as reachable. While some are out of reach, one message every `probeMs` still
// goes by gossip, so that a validator reachable only through others hears from us, gossips to
// us in turn, and is heard again.

export interface ReachTimes {
  /** A connection gone this long (and no word by gossip): out of reach. */
  readonly lostMs: number
  /** No word by gossip this long (and no connection): out of reach. */
  readonly heardMs: number
  /** While some validator is out of reach, one message this often still goes by gossip. */
  readonly probeMs: number
}

export const REACH_TIMES: ReachTimes = { lostMs: 3_000, heardMs: 12_000, probeMs: 5_000 }
const CONNECTED_NOTE_MS = 100

export class Reach {
  readonly #now: () => number
  readonly #times: ReachTimes
  /** The last time each member had a connection (as far as we looked). */
  readonly #connected = new Map<string, number>()
  /** The last time something each member signed came through gossip. */
  readonly #heard = new Map<string, number>()
  readonly #start: number
  #lastProbe = -Infinity
  #connectedNoted = -Infinity

  constructor(now: () => number, times: ReachTimes = REACH_TIMES) {
    this.#now = now
    this.#times = times
    this.#start = now()
  }

  /** A message `member` signed came through gossip. */
  heard(member: string): void {
    this.#heard.set(member, this.#now())
  }

  /** These members have a connection now. Called with every message sent; noted at most every
   * CONNECTED_NOTE_MS (a lost connection then counts up to that much longer). */
  connected(members: Iterable<string>): void {
    const t = this.#now()
    if (t - this.#connectedNoted < CONNECTED_NOTE_MS && t >= this.#connectedNoted) return
    this.#connectedNoted = t
    for (const m of members) this.#connected.set(m, t)
  }

  /** A member without a connection now: still reachable (its connection just went, or it speaks
   * through gossip, or we have only just started)? */
  recentlySeen(member: string): boolean {
    const t = this.#now()
    return t - this.#start < this.#times.heardMs ||
      t - (this.#connected.get(member) ?? -Infinity) < this.#times.lostMs ||
      t - (this.#heard.get(member) ?? -Infinity) < this.#times.heardMs
  }

  /** Whether a message for `unconnected` (members without a connection now) goes by gossip too:
   * if any of them was seen lately, or as the probe (once every probeMs). */
  viaGossip(unconnected: readonly string[]): boolean {
    if (unconnected.length === 0) return false
    if (unconnected.some((m) => this.recentlySeen(m))) return true
    const t = this.#now()
    if (t - this.#lastProbe < this.#times.probeMs) return false
    this.#lastProbe = t
    return true
  }
}
