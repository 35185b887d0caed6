// Every input the fuzzers (test/fuzz/*.fuzz.test.ts) found that broke a decoder or a handler,
// kept as a named regression test: the name says what broke, the body is the input, shrunk, and
// the behaviour the fix gives it. docs/fuzzing.md lists them with their fixes.

import { request } from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { TrothError } from '../../src/errors.ts'
import { decode, type CborValue } from '../../src/ledger/encoding.ts'
import { stateFromRecords } from '../../src/ledger/state.ts'
import { CONTROL_FILE, ControlServer, type ControlInfo } from '../../src/node/control.ts'
import { createHost } from '../../src/p2p/host.ts'
import { scratchDir } from './scratch.ts'
import { controlStandIn } from './stand-ins.ts'
import * as corpus from './corpus.ts'

/** One request to a control API started over the stand-in daemon: its status and body. */
async function control(method: string, path: string, body: string): Promise<{ status: number; text: string }> {
  const dir = scratchDir('control-crasher')
  const server = await ControlServer.start(dir.path, controlStandIn())
  try {
    const info = JSON.parse(readFileSync(join(dir.path, CONTROL_FILE), 'utf8')) as ControlInfo
    return await new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: info.port, method, path, headers: { authorization: `Bearer ${info.token}`, 'content-length': Buffer.byteLength(body) } }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
      })
      req.on('error', reject)
      req.end(body)
    })
  } finally {
    await server.stop()
    dir.remove()
  }
}

function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof TrothError) return err.code
    throw err
  }
  throw new Error('expected a TrothError, nothing was thrown')
}

describe('fuzz crashers', () => {
  test('state: a record under a key without a slash ("snapshots") is refused, not read as the snapshot space', () => {
    // Found by state.fuzz.test.ts (op "rename"): key.slice(0, indexOf('/')) with no slash cut
    // the last character, so "snapshots" became space "snapshot", id "snapshots".
    const records: Array<[string, CborValue]> = corpus.stateRecordBytes().map(([k, v]) => [k, decode(v, { bytesMax: 1 << 24 })])
    const i = records.findIndex(([k]) => k.startsWith('snapshot/'))
    expect(i).toBeGreaterThanOrEqual(0)
    expect(() => stateFromRecords(records)).not.toThrow()
    records[i] = ['snapshots', (records[i] as [string, CborValue])[1]]
    expect(codeOf(() => stateFromRecords(records))).toBe('store.corrupt')
    records[i] = ['members', (records.find(([k]) => k.startsWith('member/')) as [string, CborValue])[1]]
    expect(codeOf(() => stateFromRecords(records))).toBe('store.corrupt')
  })

  test('control: a request target of "//" is a 400, not a 500 from new URL() throwing a TypeError', async () => {
    // Found by control.fuzz.test.ts: the WHATWG parser reads "//" as a URL with an empty host.
    const r = await control('GET', '//', '')
    expect(r.status).toBe(400)
    expect(r.text).toContain('malformed request target')
  })

  test('control: a JSON body of null is a 400, not a 500 from reading .param of null', async () => {
    // Found by control.fuzz.test.ts: JSON.parse("null") passed the body check as an object.
    for (const path of ['/submit', '/seal']) {
      const r = await control('POST', path, 'null')
      expect(r.status).toBe(400)
      expect(r.text).toContain('JSON object')
    }
    expect((await control('POST', '/submit', '[]')).status).toBe(400)
  })

  test('host: a bootstrap address whose /p2p/ value is no peer id ("12D3Koo") is input.invalid, not an untyped "Incorrect length"', async () => {
    // Found by host.fuzz.test.ts: multiaddr() checks the base58 encoding only; peerIdFromString threw.
    const err = await createHost({ seed: corpus.alice.seed, net: 'ab'.repeat(32), listen: [], bootstrap: ['/ip4/1.2.3.4/tcp/1/p2p/12D3Koo'], admit: () => true }).then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(TrothError)
    expect((err as TrothError).code).toBe('input.invalid')
    expect((err as TrothError).message).toContain('is not a peer id')
  })
})
