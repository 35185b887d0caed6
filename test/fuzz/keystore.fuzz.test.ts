// Fuzzing the keystore file parser (src/identity/keystore.ts): `troth id`, `troth start` and
// every command that signs read DIR/key. readKeystorePublic and loadKeystore return the key or
// throw a TrothError 'keystore.*', whatever the file holds. Damaged files get their checksum
// recomputed half of the time, so the parser's later checks (name, kind, scrypt parameters, key
// match, AEAD tag) run on hostile fields instead of stopping at the checksum.

import { createHash } from 'node:crypto'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe } from 'vitest'
import { KEYSTORE_ENCRYPTED_BYTES, KEYSTORE_PLAIN_BYTES, createKeystore, loadKeystore, readKeystorePublic } from '../../src/identity/keystore.ts'
import { attempt, fuzz } from './harness.ts'
import { applyStep, stepArb } from './mutate.ts'
import { scratchDir } from './scratch.ts'
import * as corpus from './corpus.ts'

const CODES = ['keystore.corrupt', 'keystore.truncated', 'keystore.wrong-passphrase', 'keystore.no-passphrase', 'keystore.permissions', 'keystore.io', 'keystore.not-found'] as const
const PASSPHRASE = 'correct horse battery staple'
const OFF_LOG_N = 108
const OFF_KIND = 9

/** Field offsets of docs/keystore.md, to aim edits at. */
const FIELDS: ReadonlyArray<readonly [number, number]> = [[8, 1], [9, 1], [10, 1], [11, 64], [75, 32], [107, 1], [108, 1], [109, 1], [110, 1], [111, 32], [143, 12], [155, 48]]

function withChecksum(bytes: Uint8Array): Uint8Array {
  const size = bytes[OFF_KIND] === 0x01 ? KEYSTORE_ENCRYPTED_BYTES : KEYSTORE_PLAIN_BYTES
  if (bytes.length !== size) return bytes
  const out = bytes.slice()
  out.set(createHash('sha256').update(out.subarray(0, size - 32)).digest(), size - 32)
  return out
}

describe('fuzz: keystore files', () => {
  const dir = scratchDir('keystore')
  const plainPath = join(dir.path, 'plain')
  const encryptedPath = join(dir.path, 'encrypted')
  createKeystore(plainPath, { seed: corpus.alice.seed, name: 'alice', plain: true })
  createKeystore(encryptedPath, { seed: corpus.bob.seed, name: 'bob \u00e9', passphrase: PASSPHRASE, scryptLogN: 14 })
  const samples = [new Uint8Array(readFileSync(plainPath)), new Uint8Array(readFileSync(encryptedPath))]

  const fieldEdit = fc.record({ field: fc.nat(FIELDS.length - 1), value: fc.oneof(fc.nat(255), fc.constantFrom(0, 1, 2, 13, 14, 15, 20, 21, 64, 65, 255)), fill: fc.uint8Array({ minLength: 1, maxLength: 8 }) })
  const input = fc.record({
    sample: fc.nat(samples.length - 1),
    edits: fc.array(fc.oneof(fieldEdit.map((e) => ({ kind: 'field' as const, ...e })), stepArb.map((s) => ({ kind: 'step' as const, s }))), { minLength: 0, maxLength: 3 }),
    fix: fc.boolean(),
    passphrase: fc.oneof({ arbitrary: fc.constant(undefined), weight: 20 }, { arbitrary: fc.constantFrom(PASSPHRASE, 'wrong', ''), weight: 1 }),
  })

  let n = 0
  fuzz(
    'readKeystorePublic and loadKeystore: a hostile key file gives the key or a keystore.* TrothError',
    input,
    ({ sample, edits, fix, passphrase }) => {
      let bytes = samples[sample] as Uint8Array
      for (const e of edits) {
        if (e.kind === 'step') bytes = applyStep(bytes, e.s, samples)
        else {
          const [at, len] = FIELDS[e.field] as [number, number]
          bytes = bytes.slice()
          if (len === 1) bytes[at] = e.value
          else for (let i = 0; i < len && at + i < bytes.length; i++) bytes[at + i] = e.fill[i % e.fill.length] as number
        }
      }
      if (fix) bytes = withChecksum(bytes)
      const path = join(dir.path, `key-${n++}`)
      writeFileSync(path, bytes, { mode: 0o600 })
      try {
        attempt(() => readKeystorePublic(path), CODES)
        // scrypt's memory grows 2^logN: only the sample's cost (2^14) is paid with a passphrase,
        // a higher logN is still parsed (and refused without a passphrase).
        const cheap = bytes[OFF_KIND] !== 0x01 || bytes[OFF_LOG_N] === 14
        const r = attempt(() => loadKeystore(path, cheap ? { passphrase } : {}), CODES)
        if (r.ok) r.value.seed.wipe()
      } finally {
        rmSync(path, { force: true })
      }
    },
    { hangMs: 10_000, after: () => dir.remove() },
  )

})
