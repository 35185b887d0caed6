import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadKeystore } from '../../src/identity/keystore.ts'
import { sha256, toHex } from '../../src/ledger/hash.ts'
import { cosign, formatCheckpoint, formatNote, formatTlogProof } from '../../src/ledger/tlog.ts'
import { formatMemberId } from '../../src/identity/member-id.ts'
import { person } from '../ledger/fixtures.ts'
import { TROTH, troth, type Run } from './helpers.ts'

let work: string
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'troth-cli-'))
})
afterAll(() => rmSync(work, { recursive: true, force: true }))

const MEMBER_ID = /^troth1[a-z2-7]{52}$/

/** An operating error: exit 1, exactly one line on stderr, no stack trace, nothing on stdout. */
function expectOneLineError(r: Run, pattern: RegExp): void {
  expect(r.code).toBe(1)
  expect(r.stdout).toBe('')
  const lines = r.stderr.trimEnd().split('\n')
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(/^troth: /)
  expect(lines[0]).toMatch(pattern)
  expect(r.stderr).not.toMatch(/\n\s+at /)
}

describe('troth --help', () => {
  it('lists the commands', () => {
    const r = troth(['--help'])
    expect(r.code).toBe(0)
    for (const c of ['init', 'id', 'request', 'genesis', 'inspect']) expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'))
  })

  it('runs on the project\'s Node even when the first node on PATH is an old one', () => {
    // Strip node_modules/.bin from PATH: `#!/usr/bin/env node` then finds the machine's node
    // (Node 20 here) and the entry re-executes itself with the registry's Node.
    const PATH = (process.env.PATH ?? '').split(delimiter).filter((p) => !p.includes('node_modules')).join(delimiter)
    const found = spawnSync('node', ['--version'], { env: { PATH }, encoding: 'utf8' })
    if (found.status !== 0) return // no system node at all: nothing to check
    const r = spawnSync(TROTH, ['--help'], { env: { PATH }, encoding: 'utf8' })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/^  genesis\b/m)
  })

  it('usage errors exit 2', () => {
    expect(troth(['frobnicate']).code).toBe(2)
    expect(troth(['init']).code).toBe(2) // --data missing
    expect(troth(['request', '--data', work, '--out', join(work, 'x'), '--expires-days', 'soon']).code).toBe(2)
  })
})

describe('troth init / id', () => {
  it('creates a 0600 keystore in a 0700 data dir and prints the MemberId; refuses a second init', () => {
    const data = join(work, 'plain')
    const r = troth(['init', '--data', data, '--name', 'alice', '--insecure-plain-key'])
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toMatch(MEMBER_ID)
    expect(statSync(join(data, 'key')).mode & 0o777).toBe(0o600)
    expect(statSync(data).mode & 0o777).toBe(0o700)
    const id = troth(['id', '--data', data])
    expect(id.stdout).toBe(r.stdout)
    expect(JSON.parse(troth(['id', '--data', data, '--json']).stdout)).toMatchObject({ id: r.stdout.trim(), name: 'alice', encrypted: false })
    expectOneLineError(troth(['init', '--data', data, '--insecure-plain-key']), /already exists/)
    expect(troth(['id', '--data', data]).stdout).toBe(r.stdout)
  })

  it('encrypts with TROTH_PASSPHRASE; a wrong or missing passphrase is a one-line error', () => {
    const data = join(work, 'enc')
    const env = { TROTH_PASSPHRASE: 'correct horse battery staple' }
    const r = troth(['init', '--data', data, '--name', 'bob'], { env })
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toMatch(MEMBER_ID)
    expect(troth(['id', '--data', data]).stdout).toBe(r.stdout) // no passphrase needed
    const out = join(work, 'bob.req')
    expectOneLineError(troth(['request', '--data', data, '--out', out], { env: { TROTH_PASSPHRASE: 'wrong' } }), /passphrase/i)
    expectOneLineError(troth(['request', '--data', data, '--out', out]), /TROTH_PASSPHRASE/)
    expect(existsSync(out)).toBe(false)
    expect(troth(['request', '--data', data, '--out', out], { env }).code).toBe(0)
    expect(troth(['init', '--data', join(work, 'nopass'), '--name', 'x']).code).toBe(1)
  })

  it('a truncated key file, or one readable by others, is a one-line error naming the problem', () => {
    const data = join(work, 'damaged')
    expect(troth(['init', '--data', data, '--name', 'carol', '--insecure-plain-key']).code).toBe(0)
    const key = join(data, 'key')
    const whole = readFileSync(key)
    chmodSync(key, 0o644)
    expectOneLineError(troth(['id', '--data', data]), /chmod 600/)
    expectOneLineError(troth(['request', '--data', data, '--out', join(work, 'c.req')]), /chmod 600/)
    chmodSync(key, 0o600)
    truncateSync(key, 40)
    expectOneLineError(troth(['id', '--data', data]), /truncated|corrupt/)
    writeFileSync(key, whole.subarray(0, whole.length - 1))
    expectOneLineError(troth(['request', '--data', data, '--out', join(work, 'c.req')]), /truncated|corrupt/)
    expectOneLineError(troth(['id', '--data', join(work, 'nothing-here')]), /no key in .*troth init/)
  })

  it('never prints the secret key, in any output of any command', () => {
    const data = join(work, 'secret')
    const outputs: Run[] = []
    outputs.push(troth(['init', '--data', data, '--name', 'dave', '--insecure-plain-key', '--json']))
    const seed = loadKeystore(join(data, 'key')).seed
    const forms = [toHex(seed), Buffer.from(seed).toString('base64'), Buffer.from(seed).toString('base64url'), JSON.stringify([...seed])]
    outputs.push(troth(['id', '--data', data, '--json']))
    outputs.push(troth(['request', '--data', data, '--out', join(work, 'd.req'), '--json']))
    outputs.push(troth(['inspect', join(work, 'd.req'), '--json']))
    outputs.push(troth(['inspect', join(data, 'key')]))
    outputs.push(troth(['request', '--data', data, '--out', join(work, 'd.req')]))
    const all = outputs.map((r) => r.stdout + r.stderr).join('\n')
    for (const f of forms) expect(all).not.toContain(f)
    expect(all).toContain(formatMemberId(loadKeystore(join(data, 'key')).publicKey))
  })
})

describe('troth genesis / request / inspect', () => {
  it('founds a network from ids and founding requests; inspect shows the same net and founders', () => {
    const a = join(work, 'ga')
    const b = join(work, 'gb')
    const idA = troth(['init', '--data', a, '--name', 'ann', '--insecure-plain-key']).stdout.trim()
    const idB = troth(['init', '--data', b, '--name', 'ben', '--insecure-plain-key']).stdout.trim()
    const reqB = join(work, 'ben-founding.req')
    expect(troth(['request', '--data', b, '--out', reqB]).code).toBe(0)
    const gfile = join(work, 'coop.genesis')
    const g = troth(['genesis', '--name', 'coop', '--founder', `${idA}=ann`, '--founder', reqB, '--policy', 'epochBlocks=10', '--time', '1700000000000', '--out', gfile, '--json'])
    expect(g.code).toBe(0)
    const net = toHex(sha256(readFileSync(gfile)))
    expect(JSON.parse(g.stdout)).toMatchObject({ net, origin: `troth/coop/${net}`, founders: [idA, idB] })
    const inspected = JSON.parse(troth(['inspect', gfile, '--json']).stdout)
    expect(inspected).toMatchObject({ kind: 'genesis', name: 'coop', net, time: '2023-11-14T22:13:20.000Z' })
    expect(inspected.founders).toEqual([{ id: idA, name: 'ann', request: false }, { id: idB, name: 'ben', request: true }])
    expect(inspected.policy.epochBlocks).toEqual({ value: 10, set: true, default: 100 })
    const text = troth(['inspect', gfile])
    expect(text.stdout).toMatch(/^kind: genesis$/m)
    expect(text.stdout).toMatch(/epochBlocks: 10 \(default 100\)/)
    // An induction request names the network.
    const c = join(work, 'gc')
    troth(['init', '--data', c, '--name', 'cy', '--insecure-plain-key'])
    const reqC = join(work, 'cy.req')
    expect(troth(['request', '--data', c, '--genesis', gfile, '--out', reqC]).code).toBe(0)
    expect(JSON.parse(troth(['inspect', reqC, '--json']).stdout)).toMatchObject({ kind: 'induction-request', name: 'cy', net, signatureValid: true })
    // A tampered request is shown as such.
    const bytes = readFileSync(reqC)
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1
    writeFileSync(join(work, 'cy-bad.req'), bytes)
    expect(JSON.parse(troth(['inspect', join(work, 'cy-bad.req'), '--json']).stdout)).toMatchObject({ signatureValid: false })
  })

  it('refuses bad genesis input with a message naming what was wrong', () => {
    const id = formatMemberId(person('solo').key)
    const out = (n: string): string => join(work, `bad-${n}.genesis`)
    const r1 = troth(['genesis', '--name', 'coop', '--founder', id, '--policy', 'epochBlocks=1', '--out', out('1')])
    expect(r1.code).toBe(1)
    expect(r1.stderr).toMatch(/epochBlocks=1 is outside its range \[4, 100000\]/)
    expect(troth(['genesis', '--name', 'coop', '--founder', id, '--policy', 'nope=1', '--out', out('2')]).stderr).toMatch(/unknown policy parameter "nope"/)
    expect(troth(['genesis', '--name', 'bad name', '--founder', id, '--out', out('3')]).stderr).toMatch(/network name/)
    expect(troth(['genesis', '--name', 'coop', '--founder', id, '--founder', id, '--out', out('4')]).stderr).toMatch(/listed twice/)
    expect(troth(['genesis', '--name', 'coop', '--founder', 'troth1abc', '--out', out('5')]).stderr).toMatch(/member id/)
    expect(troth(['genesis', '--name', 'coop', '--founder', id, '--out', out('6')]).code).toBe(0)
    expectOneLineError(troth(['genesis', '--name', 'coop', '--founder', id, '--out', out('6')]), /already exists/)
    for (const n of ['1', '2', '3', '4', '5']) expect(existsSync(out(n))).toBe(false)
  })

  it('inspects a cosigned checkpoint (checking troth cosignatures) and an inclusion proof', () => {
    const [p, q] = [person('cos-1'), person('cos-2')]
    const body = formatCheckpoint({ origin: 'troth/coop/00ff', size: 5, root: sha256(new Uint8Array([1])) })
    const sigs = [cosign(p.seed, p.id, 1_700_000_000, body), cosign(q.seed, q.id, 1_700_000_001, body)]
    const bad = cosign(q.seed, q.id, 1_700_000_002, body)
    bad.signature[20] = (bad.signature[20] as number) ^ 1
    const note = formatNote(body, [...sigs, { ...bad, name: p.id }])
    writeFileSync(join(work, 'cp.txt'), note)
    const v = JSON.parse(troth(['inspect', join(work, 'cp.txt'), '--json']).stdout)
    expect(v).toMatchObject({ kind: 'checkpoint', origin: 'troth/coop/00ff', size: 5, root: toHex(sha256(new Uint8Array([1]))) })
    expect(v.signatures[0]).toMatchObject({ name: p.id, type: 'cosignature/v1', valid: true, time: 1_700_000_000 })
    expect(v.signatures[1]).toMatchObject({ name: q.id, valid: true })
    expect(v.signatures[2]).not.toMatchObject({ valid: true })
    writeFileSync(join(work, 'proof.txt'), formatTlogProof({ index: 3, proof: [sha256(new Uint8Array([2]))], checkpoint: note }))
    const pr = JSON.parse(troth(['inspect', join(work, 'proof.txt'), '--json']).stdout)
    expect(pr).toMatchObject({ kind: 'inclusion-proof', index: 3, checkpoint: { kind: 'checkpoint', size: 5 } })
    expect(troth(['inspect', join(work, 'proof.txt')]).stdout).toMatch(/^kind: inclusion-proof$/m)
    writeFileSync(join(work, 'junk.bin'), new Uint8Array([0xff, 0x00, 0x13]))
    expectOneLineError(troth(['inspect', join(work, 'junk.bin')]), /not a troth genesis, request, checkpoint or proof/)
  })
})
