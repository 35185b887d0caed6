// `troth start --config` and `troth config init`: every bad configuration gives one clear line
// and a non-zero exit, before the node does anything; the example configuration is valid.

import { createServer, type Server } from 'node:net'
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { spawn, spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { envOverrides, exampleConfig, parseConfigText, resolveConfig } from '../../src/node/config.ts'
import { TROTH, troth } from './helpers.ts'

const NOBODY = 65534

let dir: string
let data: string
let genesis: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'troth-config-'))
  data = join(dir, 'n')
  const id = troth(['init', '--data', data, '--name', 'n', '--insecure-plain-key']).stdout.trim()
  genesis = join(dir, 'g.genesis')
  expect(troth(['genesis', '--name', 'c', '--founder', `${id}=n`, '--out', genesis]).code).toBe(0)
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Run `troth start` with a config file of this text (and extra args); expect a quick failure. */
function startWith(text: string, extra: string[] = [], env: Record<string, string> = {}): { code: number; line: string } {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.toml`)
  writeFileSync(file, text)
  const r = troth(['start', '--config', file, ...extra], { env })
  const lines = r.stderr.trim().split('\n')
  return { code: r.code, line: lines.length === 1 ? (lines[0] as string) : r.stderr }
}

const base = (): string => `data = "${data}"\ngenesis = "${genesis}"\nlisten = ["/ip4/127.0.0.1/tcp/0"]\n[status]\nlisten = "127.0.0.1:0"\n`

describe('troth config init', () => {
  it('prints a commented example in which every key validates once data and genesis are filled in', () => {
    const r = troth(['config', 'init'])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(exampleConfig())
    expect(r.stdout).toMatch(/^# troth node configuration/)
    const parsed = parseConfigText(r.stdout, 'example')
    const c = resolveConfig({ file: parsed })
    expect(c).toMatchObject({ idle_ms: 1000, delta_ms: 250, status: { listen: '127.0.0.1:7780' }, log: { level: 'info', format: 'auto' }, nat: { autonat: false, upnp: false, relay: false } })
    const out = join(dir, 'written.toml')
    expect(troth(['config', 'init', '--out', out]).code).toBe(0)
    const again = troth(['config', 'init', '--out', out])
    expect(again.code).toBe(1) // never overwrites
  })

  it('precedence: flags over TROTH_* over the file over defaults', () => {
    const file = parseConfigText('data = "/f"\ngenesis = "/g"\nidle_ms = 500\n[log]\nlevel = "warn"\n', 'f')
    const env = envOverrides({ TROTH_IDLE_MS: '700', TROTH_LOG_FORMAT: 'json', TROTH_NAT_AUTONAT: 'true', TROTH_LISTEN: '/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/tcp/2' })
    const c = resolveConfig({ file, env, flags: { idle_ms: 900 } })
    expect(c).toMatchObject({ data: '/f', idle_ms: 900, log: { level: 'warn', format: 'json' }, nat: { autonat: true }, listen: ['/ip4/127.0.0.1/tcp/1', '/ip4/127.0.0.1/tcp/2'] })
    expect(resolveConfig({ file, env }).idle_ms).toBe(700)
  })
})

describe('logs', () => {
  it('pretty mode prints one readable line per event, with its level; JSON mode one object per line', async () => {
    const run = async (format: string): Promise<string> => {
      const p = spawn(process.execPath, [TROTH, 'start', '--data', data, '--genesis', genesis, '--listen', '/ip4/127.0.0.1/tcp/0', '--status', '', '--idle-ms', '300', '--log-format', format], { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      p.stdout.on('data', (d: Buffer) => (out += d.toString()))
      const end = Date.now() + 20_000
      while (!/started/.test(out) && Date.now() < end) await new Promise((r) => setTimeout(r, 100))
      const exited = new Promise((r) => p.once('exit', r))
      p.kill('SIGTERM')
      await exited
      return out
    }
    const pretty = await run('pretty')
    expect(pretty).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: started \{"id":"troth1/m)
    expect(pretty).toMatch(/INFO: stopped/)
    const json = (await run('json')).trim().split('\n').map((l) => JSON.parse(l) as { level: string; time: number; event: string })
    expect(json.map((l) => l.event)).toContain('started')
    expect(json.every((l) => typeof l.time === 'number' && ['debug', 'info', 'warn', 'error'].includes(l.level))).toBe(true)
  }, 60_000)
})

describe('a bad configuration is one clear line and a non-zero exit', () => {
  it.each([
    ['an unknown key', 'colour = "blue"\n', /^troth: config: unknown key "colour" in .*\.toml \(see troth config init\)$/],
    ['an unknown key in a table', '[log]\nlevl = "info"\n', /^troth: config: unknown key "log.levl"/],
    ['a wrong type', 'idle_ms = "fast"\n', /^troth: config: "idle_ms" expected number, received string/],
    ['a number out of range', 'delta_ms = 1\n', /^troth: config: "delta_ms" Too small: expected number to be >=5/],
    ['a bad enum', '[log]\nlevel = "loud"\n', /^troth: config: "log.level" /],
    ['a bad list item', 'bootstrap = ["/ip4/127.0.0.1/tcp/1"]\n', /^troth: config: "bootstrap\[0\]" must end in \/p2p\/<peer id>/],
    ['a TOML syntax error', 'idle_ms = = 3\n', /^troth: config: .*\.toml is not valid TOML at line \d+, column \d+: /],
  ])('%s', (_what, extra, reason) => {
    const r = startWith(base().replace('[status]', `${extra}[status]`).replace(/^(\[log\]\n)(.*)\[status\]/s, '$1$2[status]'))
    // TOML tables end where the next begins: keys given before [status] belong to the top level
    // unless the snippet opens its own table.
    expect(r.code).not.toBe(0)
    expect(r.line).toMatch(reason)
  })

  it('a required key missing', () => {
    const r = startWith('listen = ["/ip4/127.0.0.1/tcp/0"]\n')
    expect(r.code).toBe(1)
    expect(r.line).toMatch(/^troth: config: "data" is required \(in .*, as a flag, or TROTH_DATA\)$/)
  })

  it('a bad TROTH_* override names the variable', () => {
    const r = startWith(base(), [], { TROTH_IDLE_MS: 'soon' })
    expect(r.code).toBe(1)
    expect(r.line).toBe('troth: config: TROTH_IDLE_MS="soon" must be a whole number (it sets idle_ms)')
  })

  describe('ports in use', () => {
    let server: Server
    let port = 0
    beforeAll(async () => {
      server = createServer()
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
      port = (server.address() as { port: number }).port
    })
    afterAll(() => new Promise<void>((r) => server.close(() => r())))

    it('the status page port', () => {
      const r = startWith(base().replace('127.0.0.1:0', `127.0.0.1:${port}`))
      expect(r.code).toBe(1)
      expect(r.line).toBe(`troth: status listen 127.0.0.1:${port}: the port is in use (set status.listen to another port, or "" to turn the page off)`)
    })

    it('the libp2p port', () => {
      const r = startWith(base().replace('/ip4/127.0.0.1/tcp/0', `/ip4/127.0.0.1/tcp/${port}`))
      expect(r.code).toBe(1)
      expect(r.line).toBe(`troth: listen /ip4/127.0.0.1/tcp/${port}: the port is in use (another troth, or another program?)`)
    })
  })

  it('an unwritable data dir', () => {
    // A data dir with a key that this user may read but not write to. Permission bits do not stop
    // root, so as root the node runs as nobody, with the key handed to nobody.
    const ro = join(dir, 'ro')
    expect(troth(['init', '--data', ro, '--name', 'ro', '--insecure-plain-key']).code).toBe(0)
    const root = process.getuid?.() === 0
    if (root) {
      chownSync(join(ro, 'key'), NOBODY, NOBODY)
      chmodSync(ro, 0o755)
      chmodSync(dir, 0o755)
    } else chmodSync(ro, 0o500)
    const r = spawnSync(process.execPath, [TROTH, 'start', '--data', ro, '--genesis', genesis, '--listen', '/ip4/127.0.0.1/tcp/0', '--status', ''], {
      encoding: 'utf8', timeout: 30_000, ...(root ? { uid: NOBODY, gid: NOBODY } : {}),
    })
    chmodSync(ro, 0o700)
    expect(r.status).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(new RegExp(`^troth: data dir ${ro} is not writable \\(EACCES\\): troth needs to write its ledger, vote log and chunks there`))
  })
})
