// Run the real CLI (bin/troth) as a child process, the way a user does.

import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'

export const TROTH = join(import.meta.dirname, '..', '..', 'bin', 'troth')

export interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

type RunOptions = { cwd?: string; env?: Record<string, string | undefined>; input?: string }

function runEnv(opts: RunOptions): Record<string, string> {
  const env: Record<string, string | undefined> = { ...process.env, TROTH_PASSPHRASE: undefined, ...opts.env }
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>
}

export function troth(args: readonly string[], opts: RunOptions = {}): Run {
  const r = spawnSync(process.execPath, [TROTH, ...args], {
    cwd: opts.cwd,
    env: runEnv(opts),
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}

/** troth() without blocking the test's event loop, so that independent commands (each a Node
 * process that takes about a second to start) can run side by side. Same environment, input and
 * 60-second limit as troth(); a command killed at the limit ends with code -1, as there. */
export function trothAsync(args: readonly string[], opts: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [TROTH, ...args], { cwd: opts.cwd, env: runEnv(opts), stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 })
    let stdout = ''
    let stderr = ''
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
    p.stdin.on('error', () => {}) // a command that exits without reading its input (EPIPE)
    p.stdin.end(opts.input ?? '')
  })
}
