// Which validators count as reachable, and when a message goes by gossip too (node/reach.ts):
// on a fake clock.

import { describe, expect, it } from 'vitest'
import { REACH_TIMES, Reach } from '../../src/node/reach.ts'

const times = { lostMs: 3_000, heardMs: 12_000, probeMs: 5_000 }

function at(start = 1_000_000): { reach: Reach; go: (ms: number) => void } {
  let now = start
  return { reach: new Reach(() => now, times), go: (ms) => { now += ms } }
}

describe('reach', () => {
  it('the daemon defaults are these times', () => {
    expect(REACH_TIMES).toEqual(times)
  })

  it('in the first heardMs every validator counts as reachable (connections still forming) and gets gossip', () => {
    const { reach, go } = at()
    expect(reach.recentlySeen('a')).toBe(true)
    expect(reach.viaGossip(['a'])).toBe(true)
    expect(reach.viaGossip(['a'])).toBe(true) // every message, not only a probe
    go(11_999)
    expect(reach.recentlySeen('a')).toBe(true)
    go(1)
    expect(reach.recentlySeen('a')).toBe(false)
  })

  it('a lost connection counts for lostMs; word by gossip for heardMs', () => {
    const { reach, go } = at()
    go(20_000)
    reach.connected(['a', 'b'])
    go(2_999)
    expect(reach.recentlySeen('a')).toBe(true)
    go(1)
    expect(reach.recentlySeen('a')).toBe(false) // connection gone 3 s: down
    reach.heard('b')
    go(11_999)
    expect(reach.recentlySeen('b')).toBe(true) // heard through gossip: reachable that way
    go(1)
    expect(reach.recentlySeen('b')).toBe(false)
    expect(reach.recentlySeen('never')).toBe(false)
  })

  it('with only out-of-reach validators unconnected, one message every probeMs goes by gossip; none when all are connected', () => {
    const { reach, go } = at()
    go(20_000)
    expect(reach.viaGossip([])).toBe(false)
    const sent: number[] = []
    for (let t = 0; t < 20_000; t += 100) {
      if (reach.viaGossip(['down'])) sent.push(t)
      go(100)
    }
    expect(sent).toEqual([0, 5_000, 10_000, 15_000])
    // Once the validator speaks through gossip, every message for it goes that way again.
    reach.heard('down')
    expect(reach.viaGossip(['down'])).toBe(true)
    expect(reach.viaGossip(['down'])).toBe(true)
    // One of several still reachable is enough.
    go(12_000)
    reach.heard('other')
    expect(reach.viaGossip(['down', 'other'])).toBe(true)
  })
})
