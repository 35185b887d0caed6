// Must-show 3: troth's checkpoints and cosignatures verify with a verifier written here from the
// C2SP specs (test/audit/independent.ts), and the C2SP signed-note example verifies with that
// verifier and with troth's. The live network's proof goes through the same verifier in
// test/node/audit.test.ts.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { proveEntry } from '../../src/audit/index.ts'
import { formatMemberId } from '../../src/identity/member-id.ts'
import { parseNote, parseVerifierKey, verifyNoteSignature } from '../../src/ledger/tlog.ts'
import { ROOT_EARLY, ROOT_SEALED, auditLedger, type AuditLedger } from './ledger.ts'
import { cosigners, foundersOf, memberIdOf, specVerify, verifyEd25519Note } from './independent.ts'

// c2sp.org/signed-note's example (also ../shared/vectors/README.md).
const EXAMPLE_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k'
const EXAMPLE_NOTE = 'This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n'

let l: AuditLedger
beforeAll(async () => {
  l = await auditLedger()
})
afterAll(async () => {
  await l.close()
})

describe('an independent verifier from the C2SP specs', () => {
  it('verifies the C2SP signed-note example, as troth does; neither accepts it altered', () => {
    const { name, publicKey } = parseVerifierKey(EXAMPLE_VKEY)
    expect(verifyEd25519Note(EXAMPLE_NOTE, name, publicKey)).toBe(true)
    const note = parseNote(EXAMPLE_NOTE)
    expect(verifyNoteSignature(publicKey, name, note.text, note.signatures[0]!)).toBe(true)
    const altered = EXAMPLE_NOTE.replace('example message', 'example massage')
    expect(verifyEd25519Note(altered, name, publicKey)).toBe(false)
    expect(verifyNoteSignature(publicKey, name, parseNote(altered).text, parseNote(altered).signatures[0]!)).toBe(false)
  })

  it('spells MemberIds as troth does', () => {
    for (const v of l.chain.state.epoch.validators) expect(memberIdOf(v.key)).toBe(formatMemberId(v.key))
  })

  it('reads troth\'s audit proof as a standard tlog-proof: inclusion verifies, the checkpoint is cosigned by more than 2/3 of its members', async () => {
    // Epoch 0's checkpoint is cosigned by the founders, whom the genesis names.
    const early = specVerify((await proveEntry(l.store, { root: ROOT_EARLY })).text, foundersOf(l.genesis))
    expect(early).toMatchObject({ origin: l.origin, included: true, quorum: true })
    expect(early.cosigners).toHaveLength(4)
    // Epoch 2's, by its members (alice, bob, carol and xavier), whatever the chain says about them.
    const e2 = l.epochs[2]!
    const keys = new Map(e2.members.map((m) => [m.id, m.key]))
    const p = (await proveEntry(l.store, { root: ROOT_SEALED })).text
    const v = specVerify(p, keys)
    expect(v).toMatchObject({ origin: l.origin, size: BigInt(e2.size), included: true, quorum: true })
    expect(v.cosigners.sort()).toEqual([...keys.keys()].sort())
    // Its checkpoints, every epoch's, verify the same way.
    for (const e of l.epochs) expect(cosigners(e.note, new Map(e.members.map((m) => [m.id, m.key])))).toHaveLength(e.members.length)
    // And it is not fooled: an altered index, an altered root, a flipped signature bit.
    expect(specVerify(p.replace(/\nindex (\d+)\n/, (_m, d: string) => `\nindex ${Number(d) - 1}\n`), keys).included).toBe(false)
    const sigLine = p.split('\n').findIndex((x) => x.startsWith('\u2014 '))
    const lines = p.split('\n')
    const b = Buffer.from((lines[sigLine] as string).split(' ')[2] as string, 'base64')
    b[40]! ^= 1
    lines[sigLine] = `${(lines[sigLine] as string).split(' ').slice(0, 2).join(' ')} ${b.toString('base64')}`
    expect(specVerify(lines.join('\n'), keys).cosigners).toHaveLength(3)
  })
})
