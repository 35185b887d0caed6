// Real nodes for multi-node tests: `troth start` processes on 127.0.0.1 (port 0), driven through
// the CLI exactly as an operator would. Every process is killed when the test ends.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TROTH, troth } from '../cli/helpers.ts'

export interface NodeStatus {
  height: number
  epoch: number
  view: number
  logSize: number
  logRoot: string
  /** Set when the node started from a sealed checkpoint. */
  base?: { epoch: number; height: number; logSize: number } | null
  peers: string[]
  members: Array<{ id: string; name: string; status: string; weight: number; seq: number }>
  recent: Array<{ height: number; hash: string; logSize: number; logRoot: string }>
}

export class Member {
  readonly index: number
  readonly data: string
  readonly id: string
  proc: ChildProcess | null = null
  addr = ''
  starts = 0
  /** The node's stdout and stderr go to this file, not a pipe: a pipe nobody drains while the test
   * blocks in spawnSync fills up, and then the node blocks on its next log line. */
  readonly log: string

  constructor(index: number, data: string, id: string) {
    this.index = index
    this.data = data
    this.id = id
    this.log = `${data}.log`
  }

  /** Everything the node printed, over all its runs. */
  get output(): string {
    try {
      return readFileSync(this.log, 'utf8')
    } catch {
      return ''
    }
  }
}

export class Cluster {
  readonly dir: string
  readonly genesis: string
  readonly members: Member[] = []
  readonly idleMs: number

  constructor(n: number, policy: Record<string, number> = {}, idleMs = 150) {
    this.dir = mkdtempSync(join(tmpdir(), 'troth-cluster-'))
    this.idleMs = idleMs
    for (let i = 0; i < n; i++) {
      const data = join(this.dir, `n${i}`)
      const r = troth(['init', '--data', data, '--name', `n${i}`, '--insecure-plain-key'])
      if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`)
      this.members.push(new Member(i, data, r.stdout.trim()))
    }
    this.genesis = join(this.dir, 'coop.genesis')
    const args = ['genesis', '--name', 'coop', '--out', this.genesis]
    for (const m of this.members) args.push('--founder', `${m.id}=n${m.index}`)
    for (const [k, v] of Object.entries(policy)) args.push('--policy', `${k}=${v}`)
    const g = troth(args)
    if (g.code !== 0) throw new Error(`genesis failed: ${g.stderr}`)
  }

  /** A node that is not a founder (a candidate): its key and data dir; start() runs it. */
  addNode(name: string): number {
    const data = join(this.dir, name)
    const r = troth(['init', '--data', data, '--name', name, '--insecure-plain-key'])
    if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`)
    this.members.push(new Member(this.members.length, data, r.stdout.trim()))
    return this.members.length - 1
  }

  /** Start a member, bootstrapping to every other running member; resolves once it listens. */
  async start(i: number, env: Record<string, string> = {}, extra: readonly string[] = []): Promise<void> {
    const m = this.members[i] as Member
    const args = [TROTH, 'start', '--data', m.data, '--genesis', this.genesis, '--listen', '/ip4/127.0.0.1/tcp/0', '--status', '127.0.0.1:0', '--idle-ms', String(this.idleMs), '--delta-ms', '50', ...extra]
    for (const o of this.members) if (o !== m && o.proc !== null && o.addr !== '') args.push('--bootstrap', o.addr)
    const from = m.output.length
    const fd = openSync(m.log, 'a')
    const proc = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } })
    closeSync(fd)
    m.proc = proc
    m.starts++
    m.addr = ''
    let exited: number | null | undefined
    proc.on('exit', (code) => (exited = code))
    for (const end = Date.now() + 30_000; ; ) {
      const line = m.output.slice(from).split('\n').find((l) => l.includes('"event":"started"'))
      if (line !== undefined) {
        m.addr = (JSON.parse(line) as { addrs: string[] }).addrs[0] as string
        return
      }
      if (exited !== undefined) throw new Error(`n${i} exited with ${String(exited)}: ${m.output.slice(from).slice(-800)}`)
      if (Date.now() > end) throw new Error(`n${i} did not start: ${m.output.slice(from).slice(-500)}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  async startAll(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.start(i)
  }

  /** Stop a member: SIGTERM (a clean stop) or SIGKILL (a crash). */
  async stop(i: number, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const m = this.members[i] as Member
    const p = m.proc
    if (p === null) return
    m.proc = null
    if (p.exitCode !== null || p.signalCode !== null) return
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()))
    p.kill(signal)
    await exited
  }

  status(i: number): NodeStatus | null {
    const r = spawnSync(process.execPath, [TROTH, 'status', '--json', '--data', (this.members[i] as Member).data], { encoding: 'utf8', timeout: 20_000 })
    if (r.status !== 0) return null
    return JSON.parse(r.stdout) as NodeStatus
  }

  /** Poll until `pred` holds (checked every 200 ms), or fail after `ms`. */
  async until(what: string, pred: () => boolean, ms = 60_000): Promise<void> {
    const end = Date.now() + ms
    while (Date.now() < end) {
      if (pred()) return
      await new Promise((r) => setTimeout(r, 200))
    }
    throw new Error(`timed out waiting for ${what}`)
  }

  /** `troth <command> --json --data DIR` of member i, parsed; null if the command failed. */
  json<T>(i: number, command: string): T | null {
    const r = spawnSync(process.execPath, [TROTH, command, '--json', '--data', (this.members[i] as Member).data], { encoding: 'utf8', timeout: 20_000 })
    if (r.status !== 0) return null
    return JSON.parse(r.stdout) as T
  }

  heights(which: readonly number[]): number[] {
    return which.map((i) => this.status(i)?.height ?? -1)
  }

  /**
   * True when the given members hold the same finalized block, log size and log root at a common
   * height (the newest height all of them report among their recent blocks). Nodes keep
   * finalizing while we read them one after another, so the comparison is made at one height.
   * Throws if any two disagree at any common height: that is a fork.
   */
  agree(which: readonly number[]): boolean {
    const s = which.map((i) => this.status(i))
    if (s.some((x) => x === null)) return false
    const byHeight = new Map<number, string[]>()
    for (const x of s as NodeStatus[]) for (const b of x.recent) byHeight.set(b.height, [...(byHeight.get(b.height) ?? []), `${b.hash}/${b.logSize}/${b.logRoot}`])
    let common = -1
    for (const [h, list] of byHeight) {
      if (new Set(list).size > 1) throw new Error(`fork at height ${h}: ${list.join(' vs ')}`)
      if (list.length === which.length && h > common) common = h
    }
    return common > 0
  }

  async destroy(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.stop(i, 'SIGKILL')
    rmSync(this.dir, { recursive: true, force: true })
  }
}
