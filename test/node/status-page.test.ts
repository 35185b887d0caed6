// The home-server surface of one running node (docs/operations.md): the status page in a real
// headless browser, the Prometheus endpoint read with curl, and a SIGTERM that leaves a store
// that reopens cleanly.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LedgerStore } from '../../src/ledger/store.ts'
import { TROTH, troth } from '../cli/helpers.ts'
import { ensureChromium } from './browser.ts'

/** The series docs/operations.md lists. */
const SERIES = [
  'troth_finality_seconds_bucket', 'troth_finality_seconds_sum', 'troth_finality_seconds_count',
  'troth_finalized_height', 'troth_epoch', 'troth_view', 'troth_log_size', 'troth_peers', 'troth_members',
  'troth_mempool_entries', 'troth_finalized_entries_total', 'troth_duties_done_total', 'troth_duties_missed_total',
  'troth_standing_permille', 'troth_store_bytes',
  'troth_channel_frames_total', 'troth_channel_bytes_total', 'troth_channel_dropped_total',
]

/**
 * The Prometheus text exposition format (0.0.4), checked line by line: comments are HELP or TYPE
 * with a valid name (TYPE one of the five types, before the samples), samples are
 * `name{label="value",...} value [timestamp]` with a valid name, escaped label values and a float.
 * Returns the sample names seen.
 */
function checkExposition(text: string): Set<string> {
  const name = '[a-zA-Z_:][a-zA-Z0-9_:]*'
  const label = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`
  const float = '(?:[+-]?(?:[0-9]+(?:\\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\\.[0-9]+)|[+-]?Inf|NaN)'
  const sample = new RegExp(`^(${name})(?:\\{(?:${label}(?:,${label})*,?)?\\})? ${float}(?: -?[0-9]+)?$`)
  const help = new RegExp(`^# HELP (${name}) .*$`)
  const type = new RegExp(`^# TYPE (${name}) (counter|gauge|histogram|summary|untyped)$`)
  const typed = new Set<string>()
  const seen = new Set<string>()
  expect(text.endsWith('\n')).toBe(true)
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue
    if (line.startsWith('#')) {
      const t = type.exec(line)
      if (t !== null) {
        expect(typed.has(t[1]!), `TYPE twice for ${t[1]}`).toBe(false)
        typed.add(t[1]!)
      } else expect(line, 'a comment that is neither HELP nor TYPE').toMatch(help)
      continue
    }
    const m = sample.exec(line)
    expect(m, `not a sample line: ${line}`).not.toBeNull()
    const n = m![1]!
    const family = n.replace(/_(bucket|sum|count)$/, '')
    expect(typed.has(n) || typed.has(family), `sample ${n} before its TYPE`).toBe(true)
    seen.add(n)
  }
  return seen
}

describe('one node as a home server runs it', () => {
  let dir: string
  let data: string
  let genesis: string
  let proc: ChildProcess
  let output = ''
  let url = ''
  let browser: Browser | null = null

  beforeAll(async () => {
    const exe = ensureChromium()
    dir = mkdtempSync(join(tmpdir(), 'troth-status-'))
    data = join(dir, 'solo')
    const id = troth(['init', '--data', data, '--name', 'solo', '--insecure-plain-key']).stdout.trim()
    genesis = join(dir, 'coop.genesis')
    expect(troth(['genesis', '--name', 'solo-coop', '--founder', `${id}=solo`, '--policy', 'epochBlocks=8', '--out', genesis]).code).toBe(0)
    proc = spawn(process.execPath, [TROTH, 'start', '--data', data, '--genesis', genesis, '--listen', '/ip4/127.0.0.1/tcp/0', '--status', '127.0.0.1:0', '--idle-ms', '300', '--delta-ms', '50'], { stdio: ['ignore', 'pipe', 'pipe'] })
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()))
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()))
    const end = Date.now() + 30_000
    while (url === '' && Date.now() < end) {
      const line = output.split('\n').find((l) => l.includes('"event":"status.listening"'))
      if (line !== undefined) url = (JSON.parse(line) as { url: string }).url
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(url, output).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox', '--headless=new'] })
  }, 900_000)
  afterAll(async () => {
    await browser?.close()
    if (proc.exitCode === null) proc.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  it('the status page loads from the node, shows the members and the finalized height, and updates after a new block', async () => {
    const page = await browser!.newPage()
    await page.goto(url)
    await page.waitForFunction('document.getElementById("height")?.textContent !== "–"')
    const first = Number(await page.textContent('#height'))
    expect(first).toBeGreaterThanOrEqual(0)
    await expect.poll(async () => page.textContent('#members tbody')).toContain('solo')
    expect(await page.textContent('#members tbody')).toContain('active')
    // A new block comes every idle period; the page picks it up without a reload.
    await page.waitForFunction(`Number(document.getElementById("height")?.textContent) > ${first}`, undefined, { timeout: 20_000 })
    const later = Number(await page.textContent('#height'))
    expect(later).toBeGreaterThan(first)
    const status = JSON.parse(troth(['status', '--json', '--data', data]).stdout) as { height: number }
    expect(status.height).toBeGreaterThanOrEqual(later)
    expect(await page.locator('#chart').count()).toBe(1)
    const shot = join(tmpdir(), `troth-status-page-${process.pid}.png`)
    await page.screenshot({ path: shot, fullPage: true })
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG')
    console.log(`status page screenshot: ${shot}`)
    await page.close()
  }, 120_000)

  it('curl of /metrics returns valid Prometheus text with every series docs/operations.md lists', () => {
    // A vote makes an own entry final, so the finality histogram has a sample.
    expect(troth(['policy', 'vote', 'chunksPerAudit', '5', '--data', data]).code).toBe(0)
    const r = spawnSync('curl', ['-sS', '-D', '-', `${url}metrics`], { encoding: 'utf8', timeout: 20_000 })
    expect(r.status, r.stderr).toBe(0)
    const [head, body] = r.stdout.split('\r\n\r\n') as [string, string]
    expect(head).toMatch(/^HTTP\/1\.1 200/)
    expect(head.toLowerCase()).toMatch(/content-type: text\/plain; version=0\.0\.4/)
    const seen = checkExposition(body)
    for (const s of SERIES) expect(seen, `missing ${s}`).toContain(s)
    expect(body).toMatch(/^troth_finality_seconds_count [1-9]/m)
    expect(body).toMatch(/^troth_members\{status="active"\} 1$/m)
  }, 60_000)

  it('SIGTERM during operation stops the node cleanly, and its store reopens at the height it reached', async () => {
    const before = (JSON.parse(troth(['status', '--json', '--data', data]).stdout) as { height: number }).height
    const token = (JSON.parse(readFileSync(join(data, 'control.json'), 'utf8')) as { token: string }).token
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
    proc.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(output).toMatch(/"event":"stopped"/)
    // Never a secret in the log: not the control token, not the (plain, here) seed.
    expect(output).not.toContain(token)
    expect(output).not.toContain(Buffer.from(readFileSync(join(data, 'key'))).subarray(-64, -32).toString('hex'))
    const store = await LedgerStore.open(join(data, 'ledger'), readFileSync(genesis))
    try {
      expect(store.state.meta.height).toBeGreaterThanOrEqual(before)
    } finally {
      await store.close()
    }
  }, 60_000)
})
