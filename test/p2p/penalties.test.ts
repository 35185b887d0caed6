// Penalty scores: decay, bans with a cool-down, a bounded table (no network, a fake clock).

import { describe, expect, test } from 'vitest'
import { AssertionError } from '../../src/errors.ts'
import { PenaltyBox } from '../../src/p2p/index.ts'

describe('PenaltyBox', () => {
  test('scores add up, halve every half-life, and ban at the threshold for the cool-down', () => {
    let now = 0
    const box = new PenaltyBox({ thresholdPoints: 100, coolDownMs: 1_000, halfLifeMs: 10_000 }, () => now)
    expect(box.penaltyOf('m1')).toBe(0)
    expect(box.penalise('m1', 'gossip.malformed', 60)).toEqual({ memberId: 'm1', reason: 'gossip.malformed', points: 60, score: 60, banned: false })
    now = 10_000
    expect(box.penaltyOf('m1')).toBeCloseTo(30)
    expect(box.penalise('m1', 'rpc.malformed', 60).banned).toBe(false) // 90
    const event = box.penalise('m1', 'rpc.malformed', 20) // 110
    expect(event.banned).toBe(true)
    expect(box.isBanned('m1')).toBe(true)
    expect(box.penalise('m1', 'rpc.malformed', 20).banned).toBe(false) // already banned: no new ban
    expect(box.isBanned('m2')).toBe(false)
    now = 11_001
    expect(box.isBanned('m1')).toBe(false)
  })

  test('the table is bounded, and banned peers are kept over un-banned ones', () => {
    const box = new PenaltyBox({ thresholdPoints: 10, peersMax: 2 }, () => 0)
    box.penalise('banned', 'x', 10)
    box.penalise('a', 'x', 1)
    box.penalise('b', 'x', 1) // forgets 'a', the oldest that is not banned
    expect(box.isBanned('banned')).toBe(true)
    expect(box.penaltyOf('a')).toBe(0)
    expect(box.penaltyOf('b')).toBe(1)
  })

  test('bad points and bad config are bugs', () => {
    const box = new PenaltyBox()
    expect(() => box.penalise('m', 'x', 0)).toThrow(AssertionError)
    expect(() => box.penalise('m', 'x', Number.NaN)).toThrow(AssertionError)
    expect(() => new PenaltyBox({ thresholdPoints: 0 })).toThrow(AssertionError)
  })
})
