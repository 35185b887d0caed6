// `troth demo` (docs/operations.md#the-demo): a small cooperative on this machine, narrated. Four
// founders start on 127.0.0.1, a fifth member is inducted, a sample snapshot is sealed, audits run,
// and a node that skips its audits is exiled by the protocol. Every node is a real `troth start`
// process; every step goes through the same CLI commands a member would type.

import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TrothError } from '../errors.ts'
import type { Io } from './io.ts'

const TROTH = fileURLToPath(new URL('../../bin/troth', import.meta.url))

/** Short epochs and windows so that everything happens in a couple of minutes. */
export const DEMO_POLICY: Readonly<Record<string, number>> = {
  epochBlocks: 30,
  inductionWindowMs: 3000,
  inductionWindowFloorMs: 3000,
  replicationMin: 2,
  replicationTarget: 3,
  replicationMax: 4,
  auditorsPerReplica: 2,
  chunksPerAudit: 2,
  replicaGraceEpochs: 1,
  dutyWindowEpochs: 6,
  missedEpochsMax: 2,
  unavailableEpochsMax: 6,
  falseReportsMax: 6,
  lossStrikesMax: 2,
}
export const DEMO_IDLE_MS = 150
export const DEMO_DEADLINE_MS = 10 * 60_000

interface DemoNode {
  name: string
  data: string
  id: string
  proc: ChildProcess | null
  addr: string
  status: string
  output: string
}

export interface DemoOptions {
  dir?: string | undefined
  /** Stop (and clean up) once the exile has happened, instead of waiting for Ctrl-C. */
  exitWhenDone: boolean
  keep: boolean
}

/** A CLI call in a child process: stdout, stderr, exit code. */
function troth(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [TROTH, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TROTH_PASSPHRASE: '' } })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    p.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }))
  })
}

async function must(args: readonly string[]): Promise<string> {
  const r = await troth(args)
  if (r.code !== 0) throw new TrothError('input.invalid', `demo step failed: troth ${args.join(' ')}: ${r.stderr.trim() || r.stdout.trim()}`)
  return r.stdout
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function cmdDemo(io: Io, o: DemoOptions): Promise<void> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'troth-demo-'))
  mkdirSync(dir, { recursive: true })
  const say = (text: string): void => io.out(`${text}\n`)
  const step = (text: string): void => say(`\n▸ ${text}`)
  const nodes: DemoNode[] = []
  const deadline = Date.now() + DEMO_DEADLINE_MS
  const until = async (what: string, pred: () => Promise<boolean>): Promise<void> => {
    while (!(await pred())) {
      if (Date.now() > deadline) throw new TrothError('net.timeout', `demo: timed out waiting for ${what}`)
      await sleep(500)
    }
  }
  const json = async <T>(n: DemoNode, command: readonly string[]): Promise<T> => JSON.parse(await must([...command, '--json', '--data', n.data])) as T
  const members = (n: DemoNode): Promise<{ members: Array<{ id: string; name: string; status: string; dutiesDone: number; dutiesMissed: number; exileReason: string }> }> => json(n, ['members'])

  const start = async (n: DemoNode, env: Record<string, string> = {}): Promise<void> => {
    const args = [TROTH, 'start', '--data', n.data, '--genesis', join(dir, 'coop.genesis'), '--listen', '/ip4/127.0.0.1/tcp/0', '--status', '127.0.0.1:0', '--idle-ms', String(DEMO_IDLE_MS), '--delta-ms', '50', '--log-format', 'json']
    for (const other of nodes) if (other !== n && other.addr !== '') args.push('--bootstrap', other.addr)
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    n.proc = proc
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        n.output = (n.output + d.toString()).slice(-200_000)
        for (const line of n.output.split('\n')) {
          if (n.addr === '' && line.includes('"event":"started"')) n.addr = (JSON.parse(line) as { addrs: string[] }).addrs[0] ?? ''
          if (n.status === '' && line.includes('"event":"status.listening"')) n.status = (JSON.parse(line) as { url: string }).url
        }
        if (n.addr !== '' && n.status !== '') resolve()
      })
      proc.stderr.on('data', (d: Buffer) => (n.output += d.toString()))
      proc.on('exit', (code) => {
        if (n.addr === '') reject(new TrothError('input.invalid', `demo: ${n.name}'s node exited with ${String(code)}: ${n.output.slice(-400)}`))
      })
    })
  }
  const stopAll = async (): Promise<void> => {
    await Promise.all(nodes.map(async (n) => {
      const p = n.proc
      if (p === null || p.exitCode !== null) return
      const exited = new Promise((r) => p.once('exit', r))
      p.kill('SIGTERM')
      await Promise.race([exited, sleep(10_000)])
      if (p.exitCode === null) p.kill('SIGKILL')
    }))
  }
  const make = async (name: string): Promise<DemoNode> => {
    const data = join(dir, name)
    const id = (await must(['init', '--data', data, '--name', name, '--insecure-plain-key'])).trim()
    const n = { name, data, id, proc: null, addr: '', status: '', output: '' }
    nodes.push(n)
    return n
  }

  let interrupted = false
  const onSignal = (): void => {
    interrupted = true
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    step(`A cooperative of four founders, in ${dir}`)
    say('  Each founder has a key (troth init; stored unencrypted here, for the demo only) and the')
    say('  genesis names them all, with short epochs so that the demo takes minutes, not days.')
    const founders = [] as DemoNode[]
    for (const name of ['alice', 'bob', 'carol', 'dave']) founders.push(await make(name))
    const [alice, bob, carol, dave] = founders as [DemoNode, DemoNode, DemoNode, DemoNode]
    const g = ['genesis', '--name', 'demo-coop', '--out', join(dir, 'coop.genesis')]
    for (const n of founders) g.push('--founder', `${n.id}=${n.name}`)
    for (const [k, v] of Object.entries(DEMO_POLICY)) g.push('--policy', `${k}=${v}`)
    await must(g)
    for (const n of founders) say(`  ${n.name.padEnd(6)} ${n.id}`)

    step('Starting their nodes on 127.0.0.1 (real TCP, Noise, yamux, gossip)')
    say('  dave\'s node is started with TROTH_TEST_SKIP_AUDITS=1: it votes in consensus but skips')
    say('  every audit it owes. The switch is read from its own environment; no peer can set it.')
    for (const n of founders) await start(n, n === dave ? { TROTH_TEST_SKIP_AUDITS: '1' } : {})
    await until('the first finalized blocks', async () => (await json<{ height: number }>(alice, ['status'])).height >= 3)
    say(`  finalized height ${(await json<{ height: number }>(alice, ['status'])).height}; alice's status page: ${alice.status}`)

    step('Inducting a fifth member, erin')
    const erin = await make('erin')
    const request = join(dir, 'erin.request')
    await must(['request', '--data', erin.data, '--genesis', join(dir, 'coop.genesis'), '--out', request])
    say('  erin: troth init, troth request → erin.request, and troth start (refused until a vouch opens her induction)')
    await start(erin)
    say(`  alice: ${(await must(['induct', request, '--data', alice.data])).trim()}`)
    say(`  bob:   ${(await must(['induct', request, '--data', bob.data])).trim()}`)
    say('  two vouches are enough; the objection window (3 s here, days in a real cooperative) runs…')
    await until('erin active', async () => (await members(alice)).members.some((m) => m.id === erin.id && m.status === 'active'))
    say('  erin is a member from this epoch: her node now votes, holds replicas and audits.')

    step('Sealing a sample snapshot at carol')
    const sample = join(dir, 'minutes-2026')
    mkdirSync(sample, { recursive: true })
    writeFileSync(join(sample, 'README.txt'), 'Minutes of the general assembly, sealed with troth.\n')
    writeFileSync(join(sample, 'budget.csv'), Array.from({ length: 2000 }, (_, i) => `${i},item ${i},${(i * 37) % 1000}`).join('\n'))
    writeFileSync(join(sample, 'scan.bin'), randomBytes(1024 * 1024))
    const root = (await must(['seal', sample, '--data', carol.data])).trim()
    say(`  root ${root}`)
    await until('the replicas to hold it', async () => {
      const s = await json<{ snapshots: Array<{ root: string; replicas: Array<{ id: string }> }> }>(carol, ['snapshots'])
      return (s.snapshots.find((x) => x.root === root)?.replicas.length ?? 0) >= DEMO_POLICY.replicationMin!
    })
    const names = new Map(nodes.map((n) => [n.id, n.name]))
    const snap = (await json<{ snapshots: Array<{ root: string; replicas: Array<{ id: string }> }> }>(carol, ['snapshots'])).snapshots.find((x) => x.root === root)
    say(`  replicas, chosen by weight from the epoch seed: ${snap?.replicas.map((r) => names.get(r.id) ?? r.id).join(', ')}`)

    step('Audits run every epoch; dave skips his')
    say('  Each epoch, members are assigned audits of the replicas by weight. An audit challenges random')
    say('  chunks; the replica answers with the chunks and Merkle proofs, signed; the report goes in the')
    say(`  ledger. Missing audit duties in ${DEMO_POLICY.missedEpochsMax} epochs of a ${DEMO_POLICY.dutyWindowEpochs}-epoch window means exile.`)
    let lastEpoch = -1
    let exiled: { exileReason: string } | undefined
    await until('dave exiled', async () => {
      const s = await json<{ epoch: number }>(alice, ['status'])
      const m = (await members(alice)).members
      if (s.epoch !== lastEpoch) {
        lastEpoch = s.epoch
        const order = nodes.map((n) => n.id)
        const line = m.filter((x) => x.status === 'active').sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id)).map((x) => `${x.name} ${x.dutiesDone} done/${x.dutiesMissed} missed`).join(', ')
        say(`  epoch ${s.epoch}: ${line}`)
      }
      exiled = m.find((x) => x.id === dave.id && x.status === 'exiled')
      return exiled !== undefined
    })
    step(`dave was exiled by the protocol: ${exiled?.exileReason ?? ''}`)
    say('  No vote was needed: every node applied the same rule at the epoch close. dave\'s node is now')
    say('  refused by every member, and his replicas are repaired on the others.')

    step(`Status page: ${alice.status}`)
    say(`  (every node serves one; metrics at ${alice.status}metrics)`)
    if (o.exitWhenDone) return
    say('  Press Ctrl-C to stop the cooperative.')
    while (!interrupted) await sleep(250)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await stopAll()
    if (!o.keep && o.dir === undefined) rmSync(dir, { recursive: true, force: true })
    else say(`data kept in ${dir}`)
  }
}
