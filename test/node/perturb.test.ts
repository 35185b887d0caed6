// The perturbation suite (in the spirit of CometBFT's e2e runner): four `troth start` processes
// on 127.0.0.1; a scheduler applies kill -9, pause (SIGSTOP/SIGCONT), disconnect (the node drops
// and refuses every connection for a while), clean restart, and one node runs on a slow disk;
// meanwhile a client submits entries and seals snapshots through the CLI. Then a checker: every
// node holds the same finalized log, no acknowledged entry is lost, nobody signed two conflicting
// votes, and the network recovered within a bound.
//
// Short form in CI. PERTURB_LONG=1 runs the long form: at least 100 kill -9 restarts.

import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { TROTH } from '../cli/helpers.ts'
import { Cluster } from './cluster.ts'

const LONG = process.env.PERTURB_LONG === '1'
/** Faults per kind in one run (kill -9 gets the long form's 100). */
const KILLS = LONG ? 100 : 4
const OTHERS = LONG ? 20 : 2
const RECOVERY_BOUND_MS = 60_000
const ENV = { TROTH_TEST_FAULTS: '1' }
const SLOW = { ...ENV, TROTH_TEST_SLOW_DISK_MS: '25' } // node 3's disk
const NODES = [0, 1, 2, 3]

/** The CLI, without blocking the event loop (the nodes' logs keep flowing meanwhile). */
function cli(args: readonly string[], timeoutMs = 40_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [TROTH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs)
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    p.on('close', (code) => {
      clearTimeout(t)
      resolve({ code: code ?? -1, stdout, stderr })
    })
  })
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('perturbation: kill -9, pause, disconnect, restart, slow disk', () => {
  let c: Cluster
  const env = (i: number): Record<string, string> => (i === 3 ? SLOW : ENV)
  beforeAll(async () => {
    // The suite checks consensus and durability; the duty rules would exile members for the
    // outages it causes (3-second epochs, a fault every two seconds), so they are set out of reach.
    c = new Cluster(4, { epochBlocks: 20, sponsorStrikeEpochs: 0, dutyWindowEpochs: 1000, missedEpochsMax: 1000, lossStrikesMax: 1000, unavailableEpochsMax: 1000, falseReportsMax: 1000 }, 150)
    for (const i of NODES) await c.start(i, env(i))
    await c.until('first blocks', () => c.heights(NODES).every((h) => h >= 2))
  }, 120_000)
  afterAll(async () => {
    await c.destroy()
  })

  /** Pull a node's cable for `ms` through its test-only control endpoint. */
  const isolate = (i: number, ms: number): Promise<void> =>
    new Promise((resolve) => {
      let info: { port: number; token: string }
      try {
        info = JSON.parse(readFileSync(join(c.members[i]!.data, 'control.json'), 'utf8')) as { port: number; token: string }
      } catch {
        return resolve()
      }
      const req = request({ host: '127.0.0.1', port: info.port, method: 'POST', path: `/test/isolate?ms=${ms}`, headers: { authorization: `Bearer ${info.token}` }, timeout: 5_000 }, (res) => {
        res.resume()
        res.on('end', () => resolve())
      })
      req.on('error', () => resolve())
      req.end()
    })

  it('the logs agree, no acknowledged entry is lost, no vote is doubled, and the network recovers in bounded time', async () => {
    onTestFailed(() => {
      console.error(`heights ${JSON.stringify(c.heights(NODES))}`)
      // Whole logs for the post-mortem (the lines below are only each node's last ones).
      const logs = mkdtempSync(join(tmpdir(), 'troth-perturb-logs-'))
      for (const m of c.members) writeFileSync(join(logs, `n${m.index}.log`), m.output)
      console.error(`whole logs: ${logs}`)
      for (const m of c.members) console.error(`--- n${m.index}\n${m.output.split('\n').filter((l) => !/"event":"(finalized|synced|checkpoint\.fetch)/.test(l)).slice(-15).join('\n')}`)
    })
    const acked = new Map<string, number[]>() // author → acknowledged sponsorStrikeEpochs values, in order
    const submitted = new Map<string, number[]>()
    const sealed: string[] = []
    let value = 0
    let faultsDone = false
    const down = new Set<number>()
    const counts = { kill9: 0, pause: 0, disconnect: 0, restart: 0, submitted: 0, acked: 0, seals: 0 }

    // The client: a standing policy vote with a fresh value, every few hundred ms, at a live node;
    // now and then a small file sealed. Acknowledged = the CLI said final (exit 0).
    const client = (async (): Promise<void> => {
      for (let k = 0; !faultsDone; k++) {
        const live = NODES.filter((i) => !down.has(i))
        const i = live[k % live.length] as number
        const m = c.members[i]!
        if (k % 7 === 6) {
          const file = join(c.dir, `s${k}.bin`)
          writeFileSync(file, randomBytes(64 * 1024 + k))
          const r = await cli(['seal', file, '--json', '--data', m.data])
          if (r.code === 0 && (JSON.parse(r.stdout) as { final: boolean }).final) sealed.push((JSON.parse(r.stdout) as { root: string }).root)
          counts.seals++
          continue
        }
        const v = ++value
        submitted.set(m.id, [...(submitted.get(m.id) ?? []), v])
        counts.submitted++
        const r = await cli(['policy', 'vote', 'sponsorStrikeEpochs', String(v), '--json', '--wait-seconds', '20', '--data', m.data])
        if (r.code === 0 && (JSON.parse(r.stdout) as { state: string }).state === 'final') {
          acked.set(m.id, [...(acked.get(m.id) ?? []), v])
          counts.acked++
        }
        await sleep(200)
      }
    })()

    // The scheduler: one fault at a time (three of four stay up, so the network can progress),
    // kinds in turn, targets at random.
    const plan: string[] = []
    for (let k = 0; k < KILLS; k++) plan.push('kill9')
    for (let k = 0; k < OTHERS; k++) plan.push('pause', 'disconnect', 'restart')
    plan.sort(() => Math.random() - 0.5)
    let lastFault = Date.now()
    for (const kind of plan) {
      const i = NODES[Math.floor(Math.random() * NODES.length)] as number
      await sleep(500 + Math.random() * 1500)
      if (kind === 'kill9' || kind === 'restart') {
        down.add(i)
        await c.stop(i, kind === 'kill9' ? 'SIGKILL' : 'SIGTERM')
        await sleep(200 + Math.random() * 800)
        await c.start(i, env(i))
        down.delete(i)
      } else if (kind === 'pause') {
        down.add(i)
        c.signal(i, 'SIGSTOP')
        await sleep(1000 + Math.random() * 2000)
        c.signal(i, 'SIGCONT')
        down.delete(i)
      } else {
        await isolate(i, 1000 + Math.floor(Math.random() * 2000))
      }
      counts[kind as 'kill9' | 'pause' | 'disconnect' | 'restart']++
      lastFault = Date.now()
    }
    faultsDone = true
    await client

    // Recovery: every node past the highest height seen when the faults ended, within the bound.
    const top = Math.max(...c.heights(NODES))
    await c.until('every node past the faults', () => c.heights(NODES).every((h) => h >= top + 3), RECOVERY_BOUND_MS)
    const recoveredMs = Date.now() - lastFault
    await c.until('one log on every node', () => c.agree(NODES), 30_000) // agree() throws on a fork

    // No acknowledged entry lost: each author's seq covers what it had acknowledged, and its
    // standing vote is its last acknowledged value or one it submitted after it.
    const final = c.status(0)!
    for (const [author, values] of acked) {
      const m = final.members.find((x) => x.id === author)!
      expect(m.seq, `seq of ${author}`).toBeGreaterThanOrEqual(values.length)
      const i = c.members.findIndex((x) => x.id === author)
      const mine = c.json<{ params: Array<{ param: string; myVote: number | null }> }>(i, 'policy')?.params.find((p) => p.param === 'sponsorStrikeEpochs')?.myVote
      const last = values[values.length - 1] as number
      const later = (submitted.get(author) ?? []).filter((v) => v >= last)
      expect(later, `the standing vote of ${author}`).toContain(mine)
    }
    for (const i of NODES) {
      const roots = (c.json<{ snapshots: Array<{ root: string }> }>(i, 'snapshots')?.snapshots ?? []).map((s) => s.root)
      for (const r of sealed) expect(roots, `sealed ${r} on node ${i}`).toContain(r)
    }
    // No double vote: an equivocation would be seen, logged and turned into evidence.
    for (const m of c.members) expect(m.output).not.toMatch(/"event":"evidence"/)
    const convicted = c.json<{ members: Array<{ id: string; exileReason: string }> }>(0, 'members')?.members.filter((m) => /conflicting votes/.test(m.exileReason)) ?? []
    expect(convicted).toEqual([])

    console.log(`perturbation${LONG ? ' (long)' : ''}: ${JSON.stringify({ ...counts, lost: 0, divergent: 0, doubleVotes: 0, recoveredMs, height: final.height })}`)
    expect(counts.acked).toBeGreaterThan(0)
  }, LONG ? 3_600_000 : 300_000)
})
