// The direct channels' counters in /metrics (src/node/metrics.ts): they follow the channels'
// counts, only ever grow, and exist (at 0) before any frame has gone through; and the count of
// messages published by gossip.

import { describe, expect, test } from 'vitest'
import type { ChannelStats } from '../../src/p2p/channel.ts'
import type { Daemon } from '../../src/node/daemon.ts'
import { NodeMetrics } from '../../src/node/metrics.ts'

const stats = (): ChannelStats => ({ framesOut: 0, bytesOut: 0, framesIn: 0, bytesIn: 0, dropped: 0 })

/** What NodeMetrics reads of a daemon, with channels whose counts the test sets. */
function standIn(): { d: Daemon; consensus: ChannelStats; gossip: { consensus: number; entries: number }; setChannel: (s: ChannelStats | null) => void } {
  const consensus = stats()
  const gossip = { consensus: 0, entries: 0 }
  const d = {
    id: 'me',
    replica: { finality: [], currentEngine: null, mempoolSize: 0 },
    store: { state: { meta: { height: 0, logSize: 0 }, epoch: { number: 0 }, members: new Map() } },
    host: { peers: () => [] },
    onFinalized: () => undefined,
    channel: { stats: consensus } as { stats: ChannelStats } | null,
    entryChannel: null,
    gossip: { stats: { published: gossip } },
  }
  return { d: d as unknown as Daemon, consensus, gossip, setChannel: (s) => void (d.channel = s === null ? null : { stats: s }) }
}

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  if (line === undefined) throw new Error(`no ${series} in\n${text}`)
  return Number(line.slice(series.length + 1))
}

describe('channel metrics', () => {
  test('frames, bytes and drops per channel and direction follow the channels, and only grow', async () => {
    const { d, consensus, setChannel } = standIn()
    const m = new NodeMetrics(d, '/nonexistent')
    let text = (await m.render()).text
    for (const ch of ['consensus', 'entry']) {
      expect(value(text, `troth_channel_frames_total{channel="${ch}",direction="out"}`)).toBe(0)
      expect(value(text, `troth_channel_frames_total{channel="${ch}",direction="in"}`)).toBe(0)
      expect(value(text, `troth_channel_dropped_total{channel="${ch}"}`)).toBe(0)
    }
    Object.assign(consensus, { framesOut: 30, bytesOut: 4500, framesIn: 28, bytesIn: 4100, dropped: 2 })
    text = (await m.render()).text
    expect(value(text, 'troth_channel_frames_total{channel="consensus",direction="out"}')).toBe(30)
    expect(value(text, 'troth_channel_frames_total{channel="consensus",direction="in"}')).toBe(28)
    expect(value(text, 'troth_channel_bytes_total{channel="consensus",direction="out"}')).toBe(4500)
    expect(value(text, 'troth_channel_bytes_total{channel="consensus",direction="in"}')).toBe(4100)
    expect(value(text, 'troth_channel_dropped_total{channel="consensus"}')).toBe(2)
    expect(value(text, 'troth_channel_frames_total{channel="entry",direction="out"}')).toBe(0)
    // Scraped again with no traffic: unchanged.
    text = (await m.render()).text
    expect(value(text, 'troth_channel_frames_total{channel="consensus",direction="out"}')).toBe(30)
    // A new channel (counting from zero again) adds its counts; the counter does not go back.
    setChannel({ ...stats(), framesOut: 5 })
    text = (await m.render()).text
    expect(value(text, 'troth_channel_frames_total{channel="consensus",direction="out"}')).toBe(35)
    expect(value(text, 'troth_channel_frames_total{channel="consensus",direction="in"}')).toBe(28)
  })

  test('messages published by gossip, by topic', async () => {
    const { d, gossip } = standIn()
    const m = new NodeMetrics(d, '/nonexistent')
    let text = (await m.render()).text
    expect(value(text, 'troth_gossip_published_total{topic="consensus"}')).toBe(0)
    expect(value(text, 'troth_gossip_published_total{topic="entries"}')).toBe(0)
    gossip.consensus = 7
    gossip.entries = 2
    text = (await m.render()).text
    expect(value(text, 'troth_gossip_published_total{topic="consensus"}')).toBe(7)
    expect(value(text, 'troth_gossip_published_total{topic="entries"}')).toBe(2)
    gossip.consensus = 9
    text = (await m.render()).text
    expect(value(text, 'troth_gossip_published_total{topic="consensus"}')).toBe(9)
  })
})
