// Real nodes for multi-node tests: `troth start` processes on 127.0.0.1 (port 0), driven through
// the CLI exactly as an operator would. Every process is killed when the test ends.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CONTROL_FILE, type ControlInfo } from '../../src/node/control.ts'
import { TROTH, troth, trothAsync } from '../cli/helpers.ts'

export interface NodeStatus {
  height: number
  epoch: number
  view: number
  logSize: number
  logRoot: string
  /** Set when the node started from a sealed checkpoint. */
  base?: { epoch: number; height: number; logSize: number } | null
  peers: string[]
  /** Validators the node counts as out of reach (no connection, not seen lately). */
  outOfReach: string[]
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
  /** The Node that runs bin/troth. On one older than 22.18 (the system's Node 20 under a bare
   * `vitest`), bin/troth stays as a wrapper and runs the daemon as its child: signals then go
   * to the process group (start() makes each member its own), or a SIGKILL or SIGSTOP would
   * reach only the wrapper and leave the daemon running. */
  node: string = process.execPath

  constructor(n: number, policy: Record<string, number> = {}, idleMs = 150) {
    this.dir = mkdtempSync(join(tmpdir(), 'troth-cluster-'))
    this.idleMs = idleMs
    this.genesis = join(this.dir, 'coop.genesis')
    if (n === 0) return // Cluster.create: the founders are made there
    for (let i = 0; i < n; i++) {
      const data = join(this.dir, `n${i}`)
      const r = troth(['init', '--data', data, '--name', `n${i}`, '--insecure-plain-key'])
      if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`)
      this.members.push(new Member(i, data, r.stdout.trim()))
    }
    this.writeGenesis(policy)
  }

  /** The same cluster as `new Cluster(n, policy, idleMs)`, with the founders' `troth init`s run
   * side by side (each is a Node process that takes about a second to start). */
  static async create(n: number, policy: Record<string, number> = {}, idleMs = 150): Promise<Cluster> {
    if (n < 1) throw new Error('a cluster needs a founder')
    const c = new Cluster(0, policy, idleMs)
    const ids = await Promise.all(Array.from({ length: n }, (_, i) => c.initNode(`n${i}`)))
    ids.forEach((id, i) => c.members.push(new Member(i, join(c.dir, `n${i}`), id)))
    c.writeGenesis(policy)
    return c
  }

  private writeGenesis(policy: Record<string, number>): void {
    const args = ['genesis', '--name', 'coop', '--out', this.genesis]
    for (const m of this.members) args.push('--founder', `${m.id}=n${m.index}`)
    for (const [k, v] of Object.entries(policy)) args.push('--policy', `${k}=${v}`)
    const g = troth(args)
    if (g.code !== 0) throw new Error(`genesis failed: ${g.stderr}`)
  }

  private async initNode(name: string): Promise<string> {
    const r = await trothAsync(['init', '--data', join(this.dir, name), '--name', name, '--insecure-plain-key'])
    if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`)
    return r.stdout.trim()
  }

  /** A node that is not a founder (a candidate): its key and data dir; start() runs it. */
  addNode(name: string): number {
    const data = join(this.dir, name)
    const r = troth(['init', '--data', data, '--name', name, '--insecure-plain-key'])
    if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`)
    this.members.push(new Member(this.members.length, data, r.stdout.trim()))
    return this.members.length - 1
  }

  /** addNode for several candidates, their `troth init`s side by side; indexes in the given order. */
  async addNodes(names: readonly string[]): Promise<number[]> {
    const ids = await Promise.all(names.map((name) => this.initNode(name)))
    return ids.map((id, k) => {
      this.members.push(new Member(this.members.length, join(this.dir, names[k] as string), id))
      return this.members.length - 1
    })
  }

  /** Start a member, bootstrapping to every other running member; resolves once it listens. */
  async start(i: number, env: Record<string, string> = {}, extra: readonly string[] = []): Promise<void> {
    const m = this.members[i] as Member
    const args = [TROTH, 'start', '--data', m.data, '--genesis', this.genesis, '--listen', '/ip4/127.0.0.1/tcp/0', '--status', '127.0.0.1:0', '--idle-ms', String(this.idleMs), '--delta-ms', '50', ...extra]
    for (const o of this.members) if (o !== m && o.proc !== null && o.addr !== '') args.push('--bootstrap', o.addr)
    const from = m.output.length
    const fd = openSync(m.log, 'a')
    const proc = spawn(this.node, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env }, detached: true })
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
    signalGroup(p, signal)
    await exited
  }

  /** Send a signal to a running member's processes (SIGSTOP and SIGCONT: a pause). */
  signal(i: number, signal: NodeJS.Signals): void {
    const p = (this.members[i] as Member).proc
    if (p !== null) signalGroup(p, signal)
  }

  status(i: number): NodeStatus | null {
    const r = spawnSync(process.execPath, [TROTH, 'status', '--json', '--data', (this.members[i] as Member).data], { encoding: 'utf8', timeout: 20_000 })
    if (r.status !== 0) return null
    return JSON.parse(r.stdout) as NodeStatus
  }

  /** Poll until `pred` holds (checked every 200 ms; it may be async), or fail after `ms`. */
  async until(what: string, pred: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
    const end = Date.now() + ms
    while (Date.now() < end) {
      if (await pred()) return
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
   * GET `path` (for example '/status') from member i's running node, parsed; null if the node
   * does not answer (not running, or not yet). This is the request `troth <command> --json`
   * makes (`troth status --json` is `/status`, `members` is `/members`, `snapshots` is
   * `/snapshots`, `policy` is `/policy`), to the port and with the token the node wrote to
   * the control file, without starting a CLI process. For the conditions until() polls: a CLI
   * process per look cost about a second of CPU, on a 2-core machine shared with the nodes,
   * and polls of several nodes took seconds each. What tests assert about a command's output
   * they still read through the CLI.
   */
  peek<T>(i: number, path: string): Promise<T | null> {
    let info: ControlInfo
    try {
      info = JSON.parse(readFileSync(join((this.members[i] as Member).data, CONTROL_FILE), 'utf8')) as ControlInfo
    } catch {
      return Promise.resolve(null)
    }
    return new Promise((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: info.port, method: 'GET', path, timeout: 20_000, headers: { authorization: `Bearer ${info.token}` } }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (d: Buffer) => chunks.push(d))
        res.on('error', () => resolve(null))
        res.on('end', () => {
          try {
            resolve(res.statusCode === 200 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as T) : null)
          } catch {
            resolve(null)
          }
        })
      })
      req.on('timeout', () => req.destroy(new Error('timed out')))
      req.on('error', () => resolve(null))
      req.end()
    })
  }

  /** status(i) through peek: for polling. */
  peekStatus(i: number): Promise<NodeStatus | null> {
    return this.peek<NodeStatus>(i, '/status')
  }

  /** heights() through peek, the nodes asked at once: for polling. */
  async peekHeights(which: readonly number[]): Promise<number[]> {
    return (await Promise.all(which.map((i) => this.peekStatus(i)))).map((s) => s?.height ?? -1)
  }

  /** agree() through peek, the nodes asked at once: for polling. Throws on a fork, as agree() does. */
  async peekAgree(which: readonly number[]): Promise<boolean> {
    return agreeing(await Promise.all(which.map((i) => this.peekStatus(i))))
  }

  /**
   * True when the given members hold the same finalized block, log size and log root at a common
   * height (the newest height all of them report among their recent blocks). Nodes keep
   * finalizing while we read them one after another, so the comparison is made at one height.
   * Throws if any two disagree at any common height: that is a fork.
   */
  agree(which: readonly number[]): boolean {
    return agreeing(which.map((i) => this.status(i)))
  }

  async destroy(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.stop(i, 'SIGKILL')
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Signal the process group a member leads (see Cluster.node); the process alone if it has none. */
function signalGroup(p: ChildProcess, signal: NodeJS.Signals): void {
  if (p.exitCode !== null || p.signalCode !== null) return
  try {
    process.kill(-(p.pid as number), signal)
  } catch {
    p.kill(signal)
  }
}

/** agree()'s test over the members' statuses, read one after another. */
function agreeing(s: ReadonlyArray<NodeStatus | null>): boolean {
  if (s.some((x) => x === null)) return false
  const byHeight = new Map<number, string[]>()
  for (const x of s as NodeStatus[]) for (const b of x.recent) byHeight.set(b.height, [...(byHeight.get(b.height) ?? []), `${b.hash}/${b.logSize}/${b.logRoot}`])
  let common = -1
  for (const [h, list] of byHeight) {
    if (new Set(list).size > 1) throw new Error(`fork at height ${h}: ${list.join(' vs ')}`)
    if (list.length === s.length && h > common) common = h
  }
  return common > 0
}
