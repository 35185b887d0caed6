// Run the real CLI (bin/troth) as a child process, the way a user does.

import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

export const TROTH = join(import.meta.dirname, '..', '..', 'bin', 'troth')

export interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export function troth(args: readonly string[], opts: { cwd?: string; env?: Record<string, string | undefined>; input?: string } = {}): Run {
  const env: Record<string, string | undefined> = { ...process.env, TROTH_PASSPHRASE: undefined, ...opts.env }
  const r = spawnSync(process.execPath, [TROTH, ...args], {
    cwd: opts.cwd,
    env: Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>,
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}
