// Membership from the command line (DESIGN.md §6), as people would do it: three founders run
// `troth start` on 127.0.0.1; a candidate inits, requests and starts its node; members vouch,
// object, vote on policy, leave and exile, each with the CLI against its own running node.

import { writeFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { troth, trothAsync, type Run } from '../cli/helpers.ts'
import { Cluster, type NodeStatus } from './cluster.ts'
import { encode } from '../../src/ledger/encoding.ts'
import { fromHex } from '../../src/ledger/hash.ts'
import { makeRequest, signedRequestToCbor } from '../../src/ledger/request.ts'

const POLICY = { epochBlocks: 10, inductionWindowMs: 8000, inductionWindowFloorMs: 8000, objectionWeight: 2000, vouchCap: 2 }

describe('membership from the CLI, through live nodes', () => {
  let c: Cluster
  let cand = -1
  const run = (i: number, args: readonly string[]): Run => troth([...args, '--data', c.members[i]!.data])
  /** run() for commands that do not depend on each other, to be awaited together. */
  const runAsync = (i: number, args: readonly string[]): Promise<Run> => trothAsync([...args, '--data', c.members[i]!.data])
  /** `troth status --json` of several nodes, side by side (null where the command failed, as c.status). */
  const statuses = async (which: readonly number[]): Promise<Array<NodeStatus | null>> =>
    (await Promise.all(which.map((i) => runAsync(i, ['status', '--json'])))).map((r) => (r.code === 0 ? (JSON.parse(r.stdout) as NodeStatus) : null))
  const policyAt = (i: number, p: string): number | undefined =>
    c.json<{ params: Array<{ param: string; effective: number }> }>(i, 'policy')?.params.find((x) => x.param === p)?.effective
  // The same reads for the conditions c.until() polls, straight from the nodes' control ports
  // (Cluster.peek: the answers `troth status --json` and `troth policy --json` print), every node
  // at once, rather than a CLI process per node and look; what the test asserts once a wait is
  // over is still read through the CLI.
  const peekStatusOf = async (which: readonly number[], id: string): Promise<Array<string | undefined>> =>
    (await Promise.all(which.map((i) => c.peekStatus(i)))).map((s) => s?.members.find((m) => m.id === id)?.status)
  const peekPolicyAt = async (which: readonly number[], p: string): Promise<Array<number | undefined>> =>
    (await Promise.all(which.map((i) => c.peek<{ params: Array<{ param: string; effective: number }> }>(i, '/policy')))).map((v) => v?.params.find((x) => x.param === p)?.effective)
  /** Candidates' keys (troth init) and induction requests (troth request), made side by side. */
  const requests = async (names: readonly string[], genesis: string): Promise<Array<{ id: string; file: string }>> => {
    const made = (await c.addNodes(names)).map((i, k) => ({ i, id: c.members[i]!.id, file: join(c.dir, `${names[k]}.request`) }))
    const rs = await Promise.all(made.map((m) => trothAsync(['request', '--data', c.members[m.i]!.data, '--genesis', genesis, '--out', m.file])))
    for (const r of rs) expect(r.code, r.stderr).toBe(0)
    return made.map(({ id, file }) => ({ id, file }))
  }
  const request = async (name: string, genesis: string): Promise<{ id: string; file: string }> => (await requests([name], genesis))[0]!
  const progresses = async (which: number[], what: string): Promise<void> => {
    const h = Math.max(...(await c.peekHeights(which)))
    await c.until(what, async () => (await c.peekHeights(which)).every((x) => x >= h + 4), 60_000)
  }

  beforeAll(async () => {
    c = await Cluster.create(3, POLICY)
    await c.startAll()
    await c.until('first blocks', async () => (await c.peekHeights([0, 1, 2])).every((h) => h >= 2))
  }, 120_000)
  afterAll(async () => {
    await c.destroy()
  })

  it('a candidate inits, requests, two sponsors vouch, one member objects below the objection weight: active at the next epoch everywhere, voting, listed with its sponsors', async () => {
    const carol = await request('carol', c.genesis)
    cand = c.members.length - 1
    await c.start(cand)

    const v0 = run(0, ['induct', carol.file])
    expect(v0.code, v0.stderr).toBe(0)
    expect(v0.stdout).toMatch(new RegExp(`vouched for ${carol.id} \\(carol\\).*final at height \\d+`))
    // The second vouch and the objection, once the first vouch is final (sponsors listed in order).
    const [v1, obj] = await Promise.all([runAsync(1, ['induct', carol.file, '--json']), runAsync(2, ['object', carol.id, '--reason', 'I have not met her'])])
    expect(v1.code, v1.stderr).toBe(0)
    expect(obj.code, obj.stderr).toBe(0)

    const listed = runAsync(0, ['inductions'])
    const open = c.json<{ inductions: Array<{ candidate: string; name: string; vouches: Array<{ id: string }>; objections: Array<{ id: string }>; vouchWeight: number; objectionWeight: number; windowClosesAt: number }> }>(0, 'inductions')
    const ind = open?.inductions.find((x) => x.candidate === carol.id)
    expect(ind, JSON.stringify(open)).toBeDefined()
    expect(ind!.vouches.map((x) => x.id)).toEqual([c.members[0]!.id, c.members[1]!.id])
    expect(ind!.objections.map((x) => x.id)).toEqual([c.members[2]!.id])
    expect(ind!.objectionWeight).toBe(1000) // below POLICY.objectionWeight
    expect((await listed).stdout).toMatch(/carol .*2\/2 n0,n1 .*1\/2 n2/)

    await c.until('carol active on every node, her own included', async () => (await peekStatusOf([0, 1, 2, cand], carol.id)).every((s) => s === 'active'), 90_000)
    await c.until('four validators', async () => (await Promise.all([0, 1, 2, cand].map((i) => c.peekStatus(i)))).every((s) => s?.members.filter((m) => m.status === 'active').length === 4))
    // Her node votes: with a founder stopped, three of four validators must include her.
    await c.stop(2)
    await progresses([0, 1, cand], 'progress with n0, n1 and carol (3 of 4, so carol votes)')
    await c.start(2)
    await c.until('n2 back', () => c.peekAgree([0, 1, 2, cand]), 60_000)

    const [asJson, asText] = await Promise.all([runAsync(1, ['members', '--json']), runAsync(1, ['members'])])
    const members = asJson.code === 0 ? (JSON.parse(asJson.stdout) as { members: Array<{ id: string; sponsors: string[]; joinedEpoch: number; status: string }> }) : null
    const m = members?.members.find((x) => x.id === carol.id)
    expect(m?.sponsors).toEqual([c.members[0]!.id, c.members[1]!.id])
    expect(m?.joinedEpoch).toBeGreaterThan(0)
    expect(asText.stdout).toMatch(new RegExp(`${carol.id}\\s+carol\\s+active .*epoch ${m!.joinedEpoch}\\s+n0,n1`))
  }, 300_000)

  it('refusals name their reason and exit non-zero: over the vouch cap, below the standing floor, expired, tampered and foreign requests', async () => {
    const [d1, d2, d3] = (await requests(['dan', 'erin', 'fay'], c.genesis)) as [{ id: string; file: string }, { id: string; file: string }, { id: string; file: string }]
    expect(run(0, ['induct', d1.file]).code).toBe(0)
    expect(run(0, ['induct', d2.file]).code).toBe(0)
    const cap = run(0, ['induct', d3.file])
    expect(cap.code).toBe(3)
    expect(cap.stderr).toMatch(/refused \(vouch-cap\): 2 open vouches already/)

    // The other refusals do not depend on each other (none changes the ledger): asked side by side.
    const net = c.status(0) as unknown as { net: string }
    const expired = join(c.dir, 'expired.request')
    writeFileSync(expired, encode(signedRequestToCbor(makeRequest(randomBytes(32), { net: fromHex(net.net), name: 'gus', expires: Date.now() - 60_000 }))))
    const tampered = join(c.dir, 'tampered.request')
    const bytes = readFileSync(d3.file)
    bytes[bytes.length - 1]! ^= 0x01 // the signature's last byte
    writeFileSync(tampered, bytes)
    const garbage = join(c.dir, 'garbage.request')
    writeFileSync(garbage, 'not a request')
    const other = join(c.dir, 'other.genesis')
    const foreign = join(c.dir, 'foreign.request')
    const foreignInduct = async (): Promise<Run> => {
      expect((await trothAsync(['genesis', '--name', 'other', '--founder', c.members[0]!.id, '--out', other])).code).toBe(0)
      expect((await trothAsync(['request', '--data', c.members[c.members.length - 1]!.data, '--genesis', other, '--out', foreign])).code).toBe(0)
      return runAsync(1, ['induct', foreign])
    }
    const [low, old, bad, wrong, g] = await Promise.all([
      runAsync(cand, ['induct', d3.file]),
      runAsync(1, ['induct', expired]),
      runAsync(1, ['induct', tampered]),
      foreignInduct(),
      runAsync(1, ['induct', garbage]),
    ])

    // A newcomer's standing (standingInitial 500) is below the sponsors' floor (600).
    expect(low.code).toBe(3)
    expect(low.stderr).toMatch(/refused \(standing-too-low\): standing 500 is below the floor 600/)

    expect(old.code).toBe(3)
    expect(old.stderr).toMatch(/refused \(request-expired\)/)

    expect(bad.code).toBe(3)
    expect(bad.stderr).toMatch(/refused \(request-invalid\): request signature does not verify/)

    expect(wrong.code).toBe(3)
    expect(wrong.stderr).toMatch(/refused \(request-wrong-net\): the request is for another network/)

    expect(g.code).toBe(1)
    expect(g.stderr).toMatch(/is not a valid induction request/)
    // Nothing refused reached the ledger: the inductions are the two open ones.
    expect(c.json<{ inductions: Array<{ candidate: string }> }>(0, 'inductions')?.inductions.map((x) => x.candidate).sort()).toEqual([d1.id, d2.id].sort())
  }, 180_000)

  it('policy votes from several members move the effective value to the weighted median at the next epoch, and a changed vote moves it again', async () => {
    expect(policyAt(0, 'chunksPerAudit')).toBe(4) // the genesis default
    // Three members vote, each through its own node, side by side.
    const votes = await Promise.all([runAsync(0, ['policy', 'vote', 'chunksPerAudit', '10']), runAsync(1, ['policy', 'vote', 'chunksPerAudit', '6']), runAsync(cand, ['policy', 'vote', 'chunksPerAudit', '8'])])
    for (const v of votes) expect(v.code, v.stderr).toBe(0)
    // n2 does not vote and counts at the genesis value: [4, 6, 8, 10] at equal weight → 6.
    await c.until('6 in force everywhere', async () => (await peekPolicyAt([0, 1, 2, cand], 'chunksPerAudit')).every((v) => v === 6), 60_000)
    expect(run(1, ['policy', 'vote', 'chunksPerAudit', '12']).code).toBe(0) // [4, 8, 10, 12] → 8
    await c.until('8 in force everywhere', async () => (await peekPolicyAt([0, 1, 2, cand], 'chunksPerAudit')).every((v) => v === 8), 60_000)
    const mine = c.json<{ params: Array<{ param: string; myVote: number | null; votes: number }> }>(1, 'policy')?.params.find((p) => p.param === 'chunksPerAudit')
    expect(mine).toMatchObject({ myVote: 12, votes: 3 })
    const bad = run(0, ['policy', 'vote', 'chunksPerAudit', '13'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/chunksPerAudit must be within \[1, 12\]/)
  }, 180_000)

  it('a leave and a passed exile vote take effect at the next epoch, and those nodes are refused; an exile vote below the threshold changes nothing', async () => {
    const [n0, , n2] = c.members.slice(0, 3).map((m) => m.id) as [string, string, string]
    const carol = c.members[cand]!.id
    const [unconfirmed, leave] = await Promise.all([runAsync(2, ['leave']), runAsync(2, ['leave', '--yes'])])
    expect(unconfirmed.code).toBe(2) // needs --yes
    expect(leave.code, leave.stderr).toBe(0)
    await c.until('n2 left on n0, n1 and carol', async () => (await peekStatusOf([0, 1, cand], n2)).every((s) => s === 'left'), 60_000)

    // Below the threshold: one yes of three.
    expect(run(1, ['exile', 'propose', n0, '--reason', 'a test of a weak proposal']).code).toBe(0)
    const list = JSON.parse(run(0, ['exile', 'list', '--json']).stdout) as { exiles: Array<{ member: string; passes: boolean; yesWeight: number }> }
    expect(list.exiles.find((x) => x.member === n0)).toMatchObject({ passes: false, yesWeight: 1000 })
    const epoch = c.status(0)!.epoch
    await c.until('an epoch closes', async () => ((await c.peekStatus(0))?.epoch ?? 0) >= epoch + 1)
    expect((await statuses([0, 1, cand])).map((s) => s?.members.find((m) => m.id === n0)?.status)).toEqual(['active', 'active', 'active'])

    // Passing: two yes of three (> 500 permille).
    expect(run(0, ['exile', 'propose', carol, '--reason', 'never met anyone']).code).toBe(0)
    const vote = run(1, ['exile', 'vote', carol])
    expect(vote.code, vote.stderr).toBe(0)
    expect(vote.stdout).toMatch(/yes vote on the exile of .* recorded/)
    await c.until('carol exiled on n0 and n1', async () => (await peekStatusOf([0, 1], carol)).every((s) => s === 'exiled'), 60_000)
    expect(c.json<{ members: Array<{ id: string; exileReason: string }> }>(0, 'members')?.members.find((m) => m.id === carol)?.exileReason).toBe('vote: never met anyone')

    // The departed nodes are refused: the remaining two see only each other and keep finalizing.
    await c.until('n0 and n1 connected only to each other', async () => (await Promise.all([0, 1].map((i) => c.peekStatus(i)))).every((s) => (s?.peers.length ?? -1) === 1), 30_000)
    await progresses([0, 1], 'progress with the two remaining members')
    for (const s of await statuses([2, cand])) expect(s?.peers ?? []).toEqual([])

    // An exiled member's vouch is refused, with the reason.
    await c.until('carol\'s node knows she is exiled', async () => (await peekStatusOf([cand], carol))[0] === 'exiled', 30_000)
    const d = await request('hal', c.genesis)
    const ex = run(cand, ['induct', d.file])
    expect(ex.code).toBe(3)
    expect(ex.stderr).toMatch(/refused \(author-not-active\)/)
  }, 300_000)
})
