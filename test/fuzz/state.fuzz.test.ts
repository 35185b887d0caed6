// Fuzzing the state records a store reopens from (src/ledger/state.ts stateFromRecords, after the
// same decode LedgerStore.check does): a damaged disk yields the state or a TrothError (every
// record problem named as 'store.corrupt', never a TypeError in disguise); what it accepts is
// exactly what it was given (recordAt re-encodes every record to the same key and bytes).

import fc from 'fast-check'
import { describe } from 'vitest'
import { TrothError } from '../../src/errors.ts'
import { decode, encode, type CborValue } from '../../src/ledger/encoding.ts'
import { stateFromRecords, stateRecords } from '../../src/ledger/state.ts'
import { attempt, expectCanonical, fuzz } from './harness.ts'
import { applyStep, cborValueArb, stepArb, textStepArb, applyTextStep } from './mutate.ts'
import * as corpus from './corpus.ts'

const RECORD_BYTES_MAX = 16 * 1024 * 1024

const recordOp = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('value' as const), i: fc.nat(), steps: fc.array(stepArb, { minLength: 1, maxLength: 3 }) }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('key' as const), i: fc.nat(), step: textStepArb }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('rename' as const), i: fc.nat(), how: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('drop' as const), i: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('dup' as const), i: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('swap' as const), i: fc.nat(), j: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('replace' as const), i: fc.nat(), value: cborValueArb }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('add' as const), key: fc.oneof(fc.constantFrom('member/', 'policy/bogus', 'report/x', 'members', 'epoch', 'meta', 'x'), fc.string({ maxLength: 12 })), value: cborValueArb }), weight: 1 },
)

type RecordOp = typeof recordOp extends fc.Arbitrary<infer T> ? T : never

function applyRecordOp(records: Array<[string, Uint8Array]>, op: RecordOp, samples: readonly Uint8Array[]): Array<[string, Uint8Array]> {
  const out = [...records]
  if (out.length === 0 && op.kind !== 'add') return out
  const i = 'i' in op ? op.i % Math.max(1, out.length) : 0
  const [key, value] = out[i] ?? ['', new Uint8Array(0)]
  switch (op.kind) {
    case 'value': out[i] = [key, op.steps.reduce((b, s) => applyStep(b, s, samples), value)]; break
    case 'key': out[i] = [applyTextStep(key, op.step, []), value]; break
    case 'rename': {
      // The same record filed under a key a damaged index might hold.
      const slash = key.indexOf('/')
      const space = slash < 0 ? key : key.slice(0, slash)
      const forms = [key.replace('/', ''), `${space}s`, `${space}/`, `${space}//${key.slice(slash + 1)}`, `${key}/`, key.toUpperCase(), `x${key}`, key.slice(0, -1), `${space}/${key}`]
      out[i] = [forms[op.how % forms.length] as string, value]
      break
    }
    case 'drop': out.splice(i, 1); break
    case 'dup': out.splice(i, 0, [key, value]); break
    case 'swap': {
      const j = op.j % out.length
      out[i] = [key, (out[j] as [string, Uint8Array])[1]]
      break
    }
    case 'replace': out[i] = [key, encode(op.value)]; break
    case 'add': out.push([op.key, encode(op.value)]); break
  }
  return out
}

describe('fuzz: state records', () => {
  const records = corpus.stateRecordBytes()
  const samples = records.map(([, v]) => v)
  fuzz('stateFromRecords: damaged records rebuild the state or fail with store.corrupt (never a disguised TypeError); accepted records re-encode exactly', fc.array(recordOp, { minLength: 0, maxLength: 3 }), (ops) => {
    const damaged = ops.reduce((rs, op) => applyRecordOp(rs, op, samples), records)
    const decoded: Array<[string, CborValue]> = []
    for (const [k, v] of damaged) {
      const d = attempt(() => decode(v, { bytesMax: RECORD_BYTES_MAX }))
      if (!d.ok) return // LedgerStore.check throws this TrothError as it is
      decoded.push([k, d.value])
    }
    const r = attempt(() => stateFromRecords(decoded), ['store.corrupt'])
    if (!r.ok) {
      const cause = r.error.cause
      if (cause !== undefined && !(cause instanceof TrothError)) throw new Error(`store.corrupt hides a ${(cause as Error).name}: ${(cause as Error).message}`, { cause })
      return
    }
    // Every record we were given must come back under the same key with the same bytes (the last
    // of a duplicated key wins, as it does on disk, where a key holds one value).
    const given = new Map(damaged)
    const back = new Map(stateRecords(r.value, true).map(([k, v]) => [k, encode(v)]))
    for (const [k, v] of given) {
      const again = back.get(k)
      if (again === undefined) throw new Error(`record ${JSON.stringify(k)} was accepted but the state does not hold it`)
      expectCanonical(v, again, `state record ${k}`)
    }
    if (back.size !== given.size) throw new Error(`accepted ${given.size} records, the state holds ${back.size}`)
  })
})
