// `troth demo`, driven the way the README tells a newcomer to run it, but without a terminal:
// it must reach the exile of the node that skips its audits and print a status page address.

import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { TROTH } from '../cli/helpers.ts'

describe('troth demo', () => {
  it('narrates a cooperative to the protocol exiling the node that skips its audits, and prints the status page address', async () => {
    const proc = spawn(process.execPath, [TROTH, 'demo', '--exit-when-done'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()))
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const code = await new Promise<number | null>((r) => proc.on('exit', (c) => r(c)))
    expect(code, out).toBe(0)
    const steps = out.split('\n').filter((l) => l.startsWith('▸ '))
    expect(steps.map((s) => s.slice(2))).toEqual([
      expect.stringMatching(/^A cooperative of four founder/),
      expect.stringMatching(/^Starting their nodes/),
      expect.stringMatching(/^Inducting a fifth member/),
      expect.stringMatching(/^Sealing a sample snapshot/),
      expect.stringMatching(/^Audits run every epoch/),
      expect.stringMatching(/^dave was exiled by the protoc/),
      expect.stringMatching(/^Status page: http/),
    ])
    expect(out).toMatch(/▸ dave was exiled by the protocol: duties: audit duties missed in \d+ of the last \d+ epochs/)
    expect(out).toMatch(/▸ Status page: http:\/\/127\.0\.0\.1:\d+\//)
    expect(out).toMatch(/erin is a member from this epoch/)
  }, 600_000)
})
