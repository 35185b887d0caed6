// Debian's Chromium for browser tests, driven by playwright-core (no browser download). If it is
// missing, the test setup installs it with apt-get (CI runs as root on Debian; .ci/run does the
// same up front). Anything else is a clear failure, never a silent skip.

import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

export const CHROMIUM = process.env.TROTH_CHROMIUM ?? '/usr/bin/chromium'

export function ensureChromium(): string {
  if (existsSync(CHROMIUM)) return CHROMIUM
  const root = typeof process.getuid === 'function' && process.getuid() === 0
  if (!root || spawnSync('apt-get', ['--version']).status !== 0) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium), or set TROTH_CHROMIUM to a Chromium binary`)
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env, timeout: 300_000 })
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { stdio: 'ignore', env, timeout: 600_000 })
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get installed chromium but ${CHROMIUM} is still missing`)
  return CHROMIUM
}
