// `troth start` as a user runs it (bin/troth as a child process): it re-executes itself in place
// with the daemon's Node flags and environment (docs/operations.md#memory), so the PID a user,
// systemd or a test signals is the daemon's own: SIGTERM stops it cleanly, kill -9 kills it.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TROTH, troth } from './helpers.ts'

const SHIPPED_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size', '--expose-gc']
/** /proc shows what a process was started with (Linux); elsewhere only the log line is checked. */
const PROC = existsSync('/proc/self/cmdline')
/** A Node older than 22.18 on the PATH's usual place: bin/troth then runs the project's Node as a
 * child, which re-executes itself in turn. */
const OLD_NODE = ((): string | null => {
  const r = spawnSync('/usr/bin/node', ['-p', 'process.versions.node'], { encoding: 'utf8' })
  if (r.status !== 0) return null
  const [major, minor] = r.stdout.trim().split('.').map(Number) as [number, number]
  return major < 22 || (major === 22 && minor < 18) ? '/usr/bin/node' : null
})()

let dir: string
let data: string
let genesis: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'troth-start-'))
  data = join(dir, 'n')
  const id = troth(['init', '--data', data, '--name', 'n', '--insecure-plain-key']).stdout.trim()
  genesis = join(dir, 'g.genesis')
  expect(troth(['genesis', '--name', 'c', '--founder', `${id}=n`, '--out', genesis]).code).toBe(0)
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Started {
  readonly proc: ChildProcess
  /** The log lines so far, parsed. */
  readonly lines: () => Array<Record<string, unknown>>
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Start a node the way a user does and wait for its `started` line. */
async function start(env: Record<string, string | undefined> = {}, node: string = process.execPath): Promise<Started> {
  const merged = { ...process.env, NODE_COMPILE_CACHE: join(dir, 'compile-cache'), ...env }
  const proc = spawn(node, [TROTH, 'start', '--data', data, '--genesis', genesis, '--listen', '/ip4/127.0.0.1/tcp/0', '--status', '', '--idle-ms', '300', '--log-format', 'json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)) as Record<string, string>,
  })
  let out = ''
  let err = ''
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()))
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })))
  const lines = (): Array<Record<string, unknown>> => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  for (const end = Date.now() + 40_000; !lines().some((l) => l.event === 'started'); ) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`troth start exited: ${err}${out}`)
    if (Date.now() > end) throw new Error(`troth start did not start: ${err}${out}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return { proc, lines, exit }
}

const cmdline = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((x) => x !== '')
const environ = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')

describe('troth start runs the daemon with its memory settings, in the process it was started as', () => {
  it('the flags and MALLOC_ARENA_MAX are on, in the same PID; SIGTERM stops it cleanly', async () => {
    const s = await start({ MALLOC_ARENA_MAX: undefined, TROTH_NODE_FLAGS: undefined })
    const runtime = s.lines().find((l) => l.event === 'runtime') as { pid: number; flags: string[]; malloc_arena_max: string | null }
    expect(runtime.pid).toBe(s.proc.pid)
    expect(runtime.flags).toEqual(expect.arrayContaining(SHIPPED_FLAGS))
    expect(runtime.malloc_arena_max).toBe('2')
    if (PROC) {
      const pid = s.proc.pid as number
      expect(cmdline(pid)).toEqual(expect.arrayContaining([...SHIPPED_FLAGS, TROTH, 'start']))
      expect(environ(pid)).toContain('MALLOC_ARENA_MAX=2')
    }
    s.proc.kill('SIGTERM')
    expect(await s.exit).toEqual({ code: 0, signal: null })
    expect(s.lines().at(-1)?.event).toBe('stopped')
  }, 60_000)

  it('the compile cache is filled once: the first start fills it and leaves a marker, the next finds it; neither daemon loads the type stripper', async () => {
    const cacheDir = join(dir, 'fresh-compile-cache')
    const markers = (): Array<{ path: string; mtimeMs: number }> => {
      const found: Array<{ path: string; mtimeMs: number }> = []
      if (!existsSync(cacheDir)) return found
      for (const f of readdirSync(cacheDir, { recursive: true }).map(String)) if (/troth-filled-[0-9a-f]{32}$/.test(f)) found.push({ path: f, mtimeMs: statSync(join(cacheDir, f)).mtimeMs })
      return found
    }
    expect(markers()).toEqual([])
    for (const round of [1, 2]) {
      const s = await start({ NODE_COMPILE_CACHE: cacheDir })
      const runtime = s.lines().find((l) => l.event === 'runtime') as { type_stripper: boolean | null }
      expect(runtime.type_stripper, `round ${round}`).toBe(false)
      s.proc.kill('SIGTERM')
      expect(await s.exit).toEqual({ code: 0, signal: null })
      if (round === 1) expect(markers()).toHaveLength(1)
    }
    const [m] = markers()
    // The second start did not fill the cache again: the marker is the first start's.
    expect(markers()).toEqual([m])
  }, 90_000)

  it('kill -9 kills the daemon itself', async () => {
    const s = await start()
    const pid = s.proc.pid as number
    s.proc.kill('SIGKILL')
    expect(await s.exit).toEqual({ code: null, signal: 'SIGKILL' })
    if (PROC) expect(existsSync(`/proc/${pid}`)).toBe(false)
  }, 60_000)

  it('TROTH_NODE_FLAGS replaces the flags, a given MALLOC_ARENA_MAX is kept, and a flag given to node wins', async () => {
    const s = await start({ TROTH_NODE_FLAGS: '--max-semi-space-size=2 --stack-size=900', MALLOC_ARENA_MAX: '3', NODE_OPTIONS: '--max-semi-space-size=4' })
    const runtime = s.lines().find((l) => l.event === 'runtime') as { pid: number; flags: string[]; malloc_arena_max: string | null }
    expect(runtime.pid).toBe(s.proc.pid)
    // NODE_OPTIONS are not in execArgv; the semi-space flag the node was given is not overridden.
    expect(runtime.flags).toEqual(['--stack-size=900'])
    expect(runtime.malloc_arena_max).toBe('3')
    s.proc.kill('SIGTERM')
    expect((await s.exit).code).toBe(0)
  }, 60_000)

  it('TROTH_NODE_FLAGS=off: no re-execution, plain Node', async () => {
    const s = await start({ TROTH_NODE_FLAGS: 'off', MALLOC_ARENA_MAX: undefined })
    const runtime = s.lines().find((l) => l.event === 'runtime') as { pid: number; flags: string[]; malloc_arena_max: string | null }
    expect(runtime).toMatchObject({ pid: s.proc.pid, flags: [], malloc_arena_max: null })
    s.proc.kill('SIGTERM')
    expect((await s.exit).code).toBe(0)
  }, 60_000)

  it.runIf(OLD_NODE !== null)('on an older Node, bin/troth runs the project\'s Node, which re-executes itself with the flags; signals reach it', async () => {
    const s = await start({ MALLOC_ARENA_MAX: undefined, TROTH_NODE_FLAGS: undefined }, OLD_NODE as string)
    const runtime = s.lines().find((l) => l.event === 'runtime') as { pid: number; node: string; flags: string[]; malloc_arena_max: string | null }
    expect(runtime.pid).not.toBe(s.proc.pid) // the wrapper's child
    expect(Number(runtime.node.slice(1).split('.')[0])).toBeGreaterThanOrEqual(24)
    expect(runtime.flags).toEqual(expect.arrayContaining(SHIPPED_FLAGS))
    expect(runtime.malloc_arena_max).toBe('2')
    if (PROC) expect(cmdline(runtime.pid)).toEqual(expect.arrayContaining([...SHIPPED_FLAGS, TROTH, 'start']))
    s.proc.kill('SIGTERM') // to the wrapper, which passes it on
    expect(await s.exit).toEqual({ code: 0, signal: null })
    expect(s.lines().at(-1)?.event).toBe('stopped')
    if (PROC) expect(existsSync(`/proc/${runtime.pid}`)).toBe(false)
  }, 60_000)
})
