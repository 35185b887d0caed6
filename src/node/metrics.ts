// Prometheus metrics of one node (docs/operations.md#metrics), with prom-client. A registry per
// daemon (tests run several in one process); values are read from the daemon when scraped,
// except the finality histogram, which is fed as own entries become final.

import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { ChannelStats } from '../p2p/channel.ts'
import type { Daemon } from './daemon.ts'

/** Submit-to-final latency buckets (seconds): finality is meant to be below human perception. */
export const FINALITY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 1, 2, 5, 10, 30]
/** Walking the data dir for its size is cheap but not free: at most once per this many ms. */
export const STORE_SIZE_CACHE_MS = 10_000

async function dirBytes(path: string, depth = 0): Promise<number> {
  if (depth > 16) return 0
  let total = 0
  let names: string[]
  try {
    names = await readdir(path)
  } catch {
    return 0
  }
  for (const name of names) {
    const p = join(path, name)
    try {
      const s = await stat(p)
      total += s.isDirectory() ? await dirBytes(p, depth + 1) : s.size
    } catch {
      // removed while we walked: not counted
    }
  }
  return total
}

export class NodeMetrics {
  readonly registry = new Registry()
  readonly finality: Histogram
  private seenFinality = 0
  private storeBytes = { at: 0, value: 0 }

  constructor(d: Daemon, data: string) {
    const registers = [this.registry]
    const self = this
    this.finality = new Histogram({
      name: 'troth_finality_seconds',
      help: 'Time from submitting an own entry to its block being finalized and committed',
      buckets: FINALITY_BUCKETS,
      registers,
      collect() {
        // The latencies that arrived since the last scrape.
        const all = d.replica.finality
        if (all.length < self.seenFinality) self.seenFinality = 0 // the replica trimmed its list
        for (const ms of all.slice(self.seenFinality)) this.observe(ms / 1000)
        self.seenFinality = all.length
      },
    })
    new Gauge({ name: 'troth_finalized_height', help: 'Height of the last finalized block', registers, collect() { this.set(d.store.state.meta.height) } })
    new Gauge({ name: 'troth_epoch', help: 'Current epoch', registers, collect() { this.set(d.store.state.epoch.number) } })
    new Gauge({ name: 'troth_view', help: 'Current consensus view', registers, collect() { this.set(d.replica.currentEngine?.currentView ?? 0) } })
    new Gauge({ name: 'troth_log_size', help: 'Leaves in the ledger log', registers, collect() { this.set(d.store.state.meta.logSize) } })
    new Gauge({ name: 'troth_peers', help: 'Connected peers', registers, collect() { this.set(d.host.peers().length) } })
    new Gauge({ name: 'troth_members', help: 'Members by status', labelNames: ['status'], registers, collect() {
      const counts = new Map<string, number>([['active', 0], ['left', 0], ['exiled', 0]])
      for (const m of d.store.state.members.values()) counts.set(m.status, (counts.get(m.status) ?? 0) + 1)
      for (const [status, n] of counts) this.set({ status }, n)
    } })
    new Gauge({ name: 'troth_mempool_entries', help: 'Entries waiting to be proposed', registers, collect() { this.set(d.replica.mempoolSize) } })
    // Entries per second: rate(troth_finalized_entries_total[1m]).
    let countedHeight = d.store.state.meta.height
    const entries = new Counter({ name: 'troth_finalized_entries_total', help: 'Entries in blocks finalized since the node started', registers })
    d.onFinalized((n, height) => {
      if (height > countedHeight) {
        countedHeight = height
        entries.inc(n)
      }
    })
    // Duties of this member, as the ledger counts them at each epoch close (monotonic).
    const dutyCounter = (name: string, help: string, read: () => number): void => {
      let last = read()
      const c = new Counter({ name, help, registers, collect() {
        const now = read()
        if (now > last) c.inc(now - last)
        last = now
      } })
      c.inc(last)
    }
    const me = (): { dutiesDone: number; dutiesMissed: number } => d.store.state.members.get(d.id)?.standing ?? { dutiesDone: 0, dutiesMissed: 0 }
    dutyCounter('troth_duties_done_total', 'Audit duties this member did, as settled at epoch closes', () => me().dutiesDone)
    dutyCounter('troth_duties_missed_total', 'Audit duties this member missed, as settled at epoch closes', () => me().dutiesMissed)
    new Gauge({ name: 'troth_standing_permille', help: 'This member\'s standing (0..1000)', registers, collect() { this.set(d.store.state.members.get(d.id)?.standing.score ?? 0) } })
    // Direct channels (consensus messages, own entries): frames and bytes each way, and drops.
    const channels = (): Array<[string, ChannelStats | null]> => [['consensus', d.channel?.stats ?? null], ['entry', d.entryChannel?.stats ?? null]]
    const channelCounter = (name: string, help: string, labelNames: string[], fields: Array<[keyof ChannelStats, Record<string, string>]>): void => {
      const last = new Map<string, number>()
      const c = new Counter({ name, help, labelNames, registers, collect() {
        for (const [channel, stats] of channels()) {
          for (const [field, extra] of fields) {
            const key = `${channel}/${field}`
            const now = stats?.[field] ?? 0
            const before = last.get(key) ?? 0
            // A channel's counts only grow; a smaller one is a new channel, counted from zero.
            const delta = now >= before ? now - before : now
            if (delta > 0) c.inc({ channel, ...extra }, delta)
            last.set(key, now)
          }
        }
      } })
      for (const [channel] of channels()) for (const [, extra] of fields) c.inc({ channel, ...extra }, 0)
    }
    channelCounter('troth_channel_frames_total', 'Frames over the direct channels, by channel and direction', ['channel', 'direction'], [['framesOut', { direction: 'out' }], ['framesIn', { direction: 'in' }]])
    channelCounter('troth_channel_bytes_total', 'Frame bytes over the direct channels, by channel and direction', ['channel', 'direction'], [['bytesOut', { direction: 'out' }], ['bytesIn', { direction: 'in' }]])
    channelCounter('troth_channel_dropped_total', 'Frames not sent on a direct channel (queue full, peer unreachable, write failed, too large)', ['channel'], [['dropped', {}]])
    // Messages published by gossip: only for validators without a direct connection that are
    // not out of reach (node/reach.ts), and the occasional probe.
    const published = new Map<string, number>()
    const gossipCounter = new Counter({ name: 'troth_gossip_published_total', help: 'Messages this node published by gossip (for validators it has no connection to), by topic', labelNames: ['topic'], registers, collect() {
      for (const [topic, now] of Object.entries(d.gossip.stats.published)) {
        const delta = now - (published.get(topic) ?? 0)
        if (delta > 0) gossipCounter.inc({ topic }, delta)
        published.set(topic, now)
      }
    } })
    for (const topic of ['consensus', 'entries']) gossipCounter.inc({ topic }, 0)
    new Gauge({ name: 'troth_store_bytes', help: 'Bytes in the data directory (ledger, WAL, chunks)', registers, async collect() {
      const now = Date.now()
      if (now - self.storeBytes.at > STORE_SIZE_CACHE_MS) self.storeBytes = { at: now, value: await dirBytes(data) }
      this.set(self.storeBytes.value)
    } })
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ text: string; type: string }> {
    return { text: await this.registry.metrics(), type: this.registry.contentType }
  }
}
