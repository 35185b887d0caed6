// Auditors against a live network (four `troth start` processes on 127.0.0.1), driven through the
// CLI: a directory is sealed and proved, a witness follows the log as it grows and refuses a fork
// cosigned by the members' own keys, then every node stops and an auditor with only the proof
// file, the genesis and the data decides, offline. The proof also goes through the verifier
// written from the C2SP specs (test/audit/independent.ts).

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadKeystore } from '../../src/identity/keystore.ts'
import { keyPath } from '../../src/node/data-dir.ts'
import { cosign, formatCheckpoint, formatConsistencyBody, formatNote, parseCheckpoint, parseConsistencyBody, parseNote } from '../../src/ledger/tlog.ts'
import { foundersOf, specVerify } from '../audit/independent.ts'
import { troth } from '../cli/helpers.ts'
import { Cluster } from './cluster.ts'

describe('auditors and a live four-node network', () => {
  let c: Cluster
  let data: string
  let out: string
  beforeAll(async () => {
    c = new Cluster(4, { epochBlocks: 20 })
    await c.startAll()
    out = mkdtempSync(join(tmpdir(), 'troth-auditor-'))
    data = join(c.dir, 'minutes')
    mkdirSync(join(data, '2026'), { recursive: true })
    writeFileSync(join(data, '2026', 'march.txt'), 'The cooperative met on 3 March and agreed on the budget.\n')
    writeFileSync(join(data, '2026', 'budget.bin'), randomBytes(600 * 1024)) // three chunks of the archive
    writeFileSync(join(data, 'README'), 'Minutes of the cooperative.\n')
  }, 120_000)
  afterAll(async () => {
    await c.destroy()
    rmSync(out, { recursive: true, force: true })
  })

  it('seal, prove, witness the growth and refuse a fork; then, every node stopped, verify offline against the directory', async () => {
    const dataDir = (i: number): string => c.members[i]!.data
    // A witness starts from the first sealed checkpoint (old size 0), with the genesis as anchor.
    const witness = join(out, 'witness')
    await c.until('a sealed checkpoint', () => troth(['checkpoint', '--data', dataDir(1)]).code === 0, 60_000)
    let held = 0
    let adds = 0
    const follow = (i: number): boolean => {
      const file = join(out, `grow-${adds}.tlog-witness`)
      const p = troth(['prove-consistency', String(held), '--out', file, '--data', dataDir(i), '--json'])
      if (p.code !== 0) throw new Error(p.stderr)
      const size = (JSON.parse(p.stdout) as { size: number }).size
      if (size === held) {
        rmSync(file)
        return false
      }
      const a = troth(['witness', 'add', file, '--store', witness, '--genesis', c.genesis, '--json'])
      expect(a.code, a.stdout + a.stderr).toBe(0)
      expect(JSON.parse(a.stdout)).toMatchObject({ status: 'ok', oldSize: held, size })
      held = size
      adds++
      return true
    }
    expect(follow(1)).toBe(true)

    // Seal a directory at node 0; prove it at node 2 once a sealed checkpoint covers it.
    const sealed = troth(['seal', data, '--data', dataDir(0), '--json'])
    expect(sealed.code, sealed.stderr).toBe(0)
    const root = (JSON.parse(sealed.stdout) as { root: string; final: boolean }).root
    const proofFile = join(out, 'minutes.tlog-proof')
    let proved = { code: -1, stdout: '', stderr: '' }
    await c.until('a sealed checkpoint covering the seal', () => {
      proved = troth(['prove', root, '--out', proofFile, '--data', dataDir(2), '--json'])
      if (proved.code !== 0) expect(proved.stderr).toMatch(/not covered by a sealed checkpoint yet|no sealed checkpoint covering/)
      return proved.code === 0
    }, 60_000)
    expect(JSON.parse(proved.stdout)).toMatchObject({ out: proofFile, steps: 1 })
    expect(troth(['prove', root, '--out', proofFile, '--data', dataDir(2)])).toMatchObject({ code: 1, stderr: expect.stringMatching(/already exists/) })
    expect(troth(['prove', '--entry', '999999', '--out', join(out, 'x'), '--data', dataDir(2)])).toMatchObject({ code: 1, stderr: expect.stringMatching(/is not in the log/) })
    expect(troth(['prove', 'ab', '--out', join(out, 'x'), '--data', dataDir(2)]).code).toBe(2)

    // The witness follows the log over two more epochs, from another node each time.
    for (const i of [3, 0]) await c.until(`a newer checkpoint at node ${i}`, () => follow(i), 60_000)
    expect(adds).toBeGreaterThanOrEqual(3)

    // A fork: a checkpoint one entry longer than the one held, with a root of its own, cosigned by
    // all four members with their real keys, and a consistency proof from the real log.
    const proofNow = join(out, 'real.tlog-witness')
    expect(troth(['prove-consistency', '1', '--out', proofNow, '--data', dataDir(1)]).code).toBe(0)
    const real = parseConsistencyBody(readFileSync(proofNow, 'utf8'))
    const heldNote = JSON.parse(troth(['witness', 'show', '--store', witness, '--json']).stdout).logs[0].checkpoint as string
    const heldCp = parseCheckpoint(parseNote(heldNote).text)
    const forged = formatCheckpoint({ origin: heldCp.origin, size: held + 1, root: randomBytes(32) })
    const sigs = c.members.map((m) => cosign(loadKeystore(keyPath(m.data), {}).seed, m.id, Math.floor(Date.now() / 1000), forged)).sort((a, b) => (a.name < b.name ? -1 : 1))
    const forkFile = join(out, 'fork.tlog-witness')
    writeFileSync(forkFile, formatConsistencyBody({ oldSize: held, proof: real.proof.slice(0, 1), checkpoint: formatNote(forged, sigs) }))
    const refused = troth(['witness', 'add', forkFile, '--store', witness])
    expect(refused.code, refused.stdout).toBe(3)
    expect(refused.stdout).toMatch(new RegExp(`^REFUSED \\(inconsistent, HTTP 422 in tlog-witness\\): the checkpoint of size ${held + 1} is not a consistent extension of the witnessed checkpoint of size ${held} .*the log has forked`))

    // Every node stops. The auditor has a fresh directory with the proof and the genesis, and the data.
    for (let i = 0; i < 4; i++) await c.stop(i)
    const auditor = join(out, 'auditor')
    mkdirSync(auditor)
    copyFileSync(proofFile, join(auditor, 'minutes.tlog-proof'))
    copyFileSync(c.genesis, join(auditor, 'coop.genesis'))
    const verify = (...extra: string[]): ReturnType<typeof troth> => troth(['verify', 'minutes.tlog-proof', '--genesis', 'coop.genesis', '--path', data, ...extra], { cwd: auditor })
    const ok = verify()
    expect(ok.code, ok.stdout + ok.stderr).toBe(0)
    expect(ok.stdout).toMatch(new RegExp(`^VALID: the data is exactly the snapshot minutes/ \\(root ${root.slice(0, 16)}…\\) sealed in coop's ledger`))
    expect(JSON.parse(verify('--json').stdout)).toMatchObject({ valid: true, data: { root, matches: true }, entry: { kind: 'seal', author: c.members[0]!.id } })

    // The same proof, read by the verifier written from the C2SP specs.
    const spec = specVerify(readFileSync(join(auditor, 'minutes.tlog-proof'), 'utf8'), foundersOf(readFileSync(join(auditor, 'coop.genesis'))))
    expect(spec).toMatchObject({ included: true, quorum: true, origin: heldCp.origin })

    // One byte of one file changed: not valid, and the reason names the mismatch.
    const march = join(data, '2026', 'march.txt')
    const bytes = readFileSync(march)
    bytes[20]! ^= 0x01
    writeFileSync(march, bytes)
    const bad = verify()
    expect(bad.code).toBe(3)
    expect(bad.stdout).toMatch(new RegExp(`^NOT VALID \\(snapshot-mismatch\\): the data's snapshot root [0-9a-f]{64} differs from the sealed root ${root}: same size`))

    // The witness's state outlived every process that wrote it.
    const shown = JSON.parse(troth(['witness', 'show', '--store', witness, '--json']).stdout) as { logs: Array<{ size: number }> }
    expect(shown.logs).toEqual([expect.objectContaining({ size: held })])
  }, 300_000)
})
