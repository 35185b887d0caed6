// Every input the fuzzers (test/fuzz/*.fuzz.test.ts) found that broke a decoder or a handler,
// kept as a named regression test: the name says what broke, the body is the input, shrunk, and
// the behaviour the fix gives it. docs/fuzzing.md lists them with their fixes.

import { describe, expect, test } from 'vitest'
import { TrothError } from '../../src/errors.ts'
import { decode, type CborValue } from '../../src/ledger/encoding.ts'
import { stateFromRecords } from '../../src/ledger/state.ts'
import * as corpus from './corpus.ts'

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
})
