// Duties across five real nodes on 127.0.0.1 (DESIGN.md §5), driven through the CLI: a sealed
// 20 MiB file lands on exactly its replicas and comes back with the submitter stopped; a short
// outage is forgiven; a node that skips its audits is exiled, refused and its data repaired; a
// replica that deletes its chunks is exiled for proven loss.

import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { troth, trothAsync } from '../cli/helpers.ts'
import { Cluster } from './cluster.ts'

interface SnapshotRow { root: string; name: string; size: number; chunks: number; submitter: string; replicas: Array<{ id: string; since: number }>; holding: string }
interface MemberRow { id: string; status: string; strikes: number; dutiesDone: number; dutiesMissed: number; exileReason: string; history: Array<{ epoch: number; missed: number; lost: number; unavailable: boolean }> }

const POLICY = {
  epochBlocks: 40,
  replicationMin: 3,
  replicationTarget: 3,
  replicationMax: 4,
  auditorsPerReplica: 2,
  chunksPerAudit: 4,
  replicaGraceEpochs: 2,
  dutyWindowEpochs: 6,
  missedEpochsMax: 4,
  lossStrikesMax: 2,
  unavailableEpochsMax: 4,
  falseReportsMax: 6, // the whole window: see the note on the restarted replica in docs/obligations.md
}
const MiB = 1024 * 1024

describe('obligations on five nodes', () => {
  let c: Cluster
  let file: string
  let root = ''
  let replicas: string[] = []
  const idx = (id: string): number => c.members.findIndex((m) => m.id === id)
  const snapshots = (i: number): SnapshotRow[] => c.json<{ snapshots: SnapshotRow[] }>(i, 'snapshots')?.snapshots ?? []
  const members = (i: number): MemberRow[] => c.json<{ members: MemberRow[] }>(i, 'members')?.members ?? []
  const chunkFiles = (i: number): string[] => {
    const dir = join(c.members[i]!.data, 'chunks', root)
    return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+$/.test(f)) : []
  }
  /** On failure: what the nodes logged about penalties and failed audits (the last lines). */
  const diagnostics = (): string =>
    c.members.map((m) => `n${m.index} ${m.id}: ${m.output.split('\n').filter((l) => /"event":"(penalty|audit\.attempt-failed|audit\.reported|mempool\.dropped)"/.test(l)).slice(-12).join('\n')}`).join('\n')
  const holders = (i: number): string[] => (snapshots(i).find((s) => s.root === root)?.replicas ?? []).map((r) => r.id)
  // The same reads for the conditions c.until() polls, straight from the nodes' control ports
  // (Cluster.peek: the answers the CLI prints) rather than a CLI process per look; what the test
  // asserts once a wait is over is still read through the CLI.
  const peekSnapshots = async (i: number): Promise<SnapshotRow[]> => (await c.peek<{ snapshots: SnapshotRow[] }>(i, '/snapshots'))?.snapshots ?? []
  const peekMember = async (i: number, id: string): Promise<MemberRow | undefined> => (await c.peek<{ members: MemberRow[] }>(i, '/members'))?.members.find((m) => m.id === id)
  const peekHolders = async (i: number): Promise<string[]> => ((await peekSnapshots(i)).find((s) => s.root === root)?.replicas ?? []).map((r) => r.id)
  const peekEpoch = async (i: number): Promise<number> => (await c.peekStatus(i))?.epoch ?? 0

  beforeAll(async () => {
    // 40 blocks at 250 ms idle: epochs of about 10 s, long enough that a stop and restart under a
    // loaded CI machine (the fetch with the submitter stopped) spans at most two epochs.
    c = await Cluster.create(5, POLICY, 250)
    await c.startAll()
    file = join(c.dir, 'twenty.bin')
    writeFileSync(file, randomBytes(20 * MiB))
  }, 120_000)
  afterAll(async () => {
    await c.destroy()
  })

  it('a 20 MiB file sealed at one node lands on exactly its replicas; fetch with the submitter stopped gives identical bytes', async () => {
    const sealed = troth(['seal', file, '--data', c.members[0]!.data, '--json'])
    expect(sealed.code, sealed.stderr).toBe(0)
    const out = JSON.parse(sealed.stdout) as { root: string; size: number; chunks: number; final: boolean }
    expect(out).toMatchObject({ size: 20 * MiB, chunks: 80, final: true })
    root = out.root
    replicas = holders(0)
    expect(replicas).toHaveLength(3)
    // Hostile or mistaken input is refused with a clear message, and the node keeps running
    // (asked while the replicas fetch, checked below).
    const refusals = Promise.all([
      trothAsync(['seal', join(c.dir, 'no-such-file'), '--data', c.members[0]!.data]),
      trothAsync(['fetch', 'ab'.repeat(32), '--out', join(c.dir, 'x.bin'), '--data', c.members[1]!.data]),
      trothAsync(['fetch', 'not-a-root', '--out', join(c.dir, 'y.bin'), '--data', c.members[1]!.data]),
    ])
    const holding = async (id: string): Promise<boolean> => (await peekSnapshots(idx(id))).find((s) => s.root === root)?.holding === 'complete'
    await c.until('every replica holds the snapshot', async () => (await Promise.all(replicas.map(holding))).every(Boolean), 90_000)
    expect(replicas.map((id) => snapshots(idx(id)).find((s) => s.root === root)?.holding)).toEqual(['complete', 'complete', 'complete'])
    for (let i = 0; i < 5; i++) {
      const id = c.members[i]!.id
      // From the stores themselves: 80 chunk files on each replica (and the submitter), none elsewhere.
      expect(chunkFiles(i).length, `node ${i}`).toBe(replicas.includes(id) || i === 0 ? 80 : 0)
    }
    const [missing, unknown, notRoot] = await refusals
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/no-such-file/)])
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringMatching(/no sealed snapshot/)])
    expect(notRoot.code).toBe(2)
    await c.stop(0)
    const reader = [1, 2, 3, 4].find((i) => !replicas.includes(c.members[i]!.id)) ?? 1
    const back = join(c.dir, 'back.bin')
    const fetched = troth(['fetch', root, '--out', back, '--data', c.members[reader]!.data])
    expect(fetched.code, fetched.stderr).toBe(0)
    const digest = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex')
    expect(digest(back)).toBe(digest(file))
    expect(chunkFiles(reader)).toHaveLength(replicas.includes(c.members[reader]!.id) ? 80 : 0) // fetch does not keep a copy
    await c.start(0)
  }, 240_000)

  it('a replica stopped for less than the availability window comes back and is never exiled', async () => {
    const r = idx(replicas.find((id) => id !== c.members[0]!.id) as string)
    const e0 = c.status(0)!.epoch
    await c.stop(r)
    await new Promise((res) => setTimeout(res, 3000))
    await c.start(r)
    await c.until('the window has passed', async () => (await peekEpoch(0)) >= e0 + POLICY.dutyWindowEpochs + 1, 180_000)
    const all = members(0) // one read of `troth members` for the three checks
    const m = all.find((x) => x.id === c.members[r]!.id)!
    expect(m.status, `${m.exileReason}\n${diagnostics()}`).toBe('active')
    expect(all.filter((x) => x.status !== 'active').map((x) => `${x.id}: ${x.exileReason}`), diagnostics()).toEqual([])
    // The duties were real: audits were done and reported.
    expect(all.reduce((n, x) => n + x.dutiesDone, 0)).toBeGreaterThan(0)
  }, 240_000)

  it('a node that keeps voting but skips its audits (test-only env switch) is exiled, refused, and its replica repaired elsewhere', async () => {
    const skipper = idx(replicas.find((id) => id !== c.members[0]!.id) as string)
    const skipperId = c.members[skipper]!.id
    await c.stop(skipper)
    await c.start(skipper, { TROTH_TEST_SKIP_AUDITS: '1' })
    // `troth duties` shows the switch: whatever it owes is skipped.
    const duties = c.json<{ audits: Array<{ state: string }> }>(skipper, 'duties')
    expect(duties).not.toBeNull()
    for (const a of duties!.audits) expect(a.state).toMatch(/^(skipped \(test switch\)|reported )/)
    await c.until('the skipper exiled by the protocol', async () => (await peekMember(0, skipperId))?.status === 'exiled', 240_000)
    // Nobody else: the honest members did their duties.
    const all = members(0)
    expect(all.filter((x) => x.status !== 'active' && x.id !== skipperId).map((x) => `${x.id}: ${x.exileReason}`), diagnostics()).toEqual([])
    const m = all.find((x) => x.id === skipperId)!
    expect(m.exileReason).toMatch(/^duties: audit duties missed in 4 of the last 6 epochs/)
    expect(m.dutiesMissed).toBeGreaterThanOrEqual(4)
    // Refused: nobody keeps a connection to it, and it cannot make one.
    const others = [0, 1, 2, 3, 4].filter((i) => i !== skipper)
    const peers = async (i: number, otherwise: string[]): Promise<string[]> => (await c.peekStatus(i))?.peers ?? otherwise
    await c.until('no connection to the exiled node', async () => (await Promise.all(others.map((i) => peers(i, [skipperId])))).every((p) => !p.includes(skipperId)) && (await peers(skipper, ['?'])).length === 0, 60_000)
    // Repaired: a new replica took its place and holds the data.
    await c.until('the replica set repaired', async () => {
      const now = await peekHolders(0)
      return now.length >= POLICY.replicationMin && !now.includes(skipperId)
    }, 60_000)
    const now = holders(0)
    const fresh = now.filter((id) => !replicas.includes(id))
    expect(fresh.length).toBeGreaterThan(0)
    await c.until('the new replica holds the data', async () => (await Promise.all(fresh.map(async (id) => chunkFiles(idx(id)).length === 80 && (await peekSnapshots(idx(id))).find((s) => s.root === root)?.holding === 'complete'))).every(Boolean), 90_000)
    for (const id of fresh) expect(snapshots(idx(id)).find((s) => s.root === root)?.holding).toBe('complete')
    replicas = now
    await c.stop(skipper)
  }, 360_000)

  it('a replica that deletes its stored chunks takes proven-loss strikes and is exiled', async () => {
    const victim = idx(replicas.find((id) => id !== c.members[0]!.id) as string)
    const victimId = c.members[victim]!.id
    const dir = join(c.members[victim]!.data, 'chunks', root)
    for (const f of chunkFiles(victim)) rmSync(join(dir, f))
    expect(chunkFiles(victim)).toEqual([])
    await c.until('the victim exiled for loss', async () => (await peekMember(0, victimId))?.status === 'exiled', 180_000)
    const all = members(0)
    const m = all.find((x) => x.id === victimId)!
    expect(m.exileReason, diagnostics()).toMatch(/^loss: \d+ proven-loss strikes/)
    expect(m.strikes).toBeGreaterThanOrEqual(POLICY.lossStrikesMax)
    // The surviving honest members never signed a wrong answer.
    for (const x of all) if (x.status === 'active') expect(x.history.every((h) => h.lost === 0)).toBe(true)
  }, 360_000)
})
