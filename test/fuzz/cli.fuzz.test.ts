// Fuzzing the CLI's file and argument parsing (src/cli/), run in-process through main() as
// bin/troth runs it: `troth inspect FILE` on any file (genesis, request, checkpoint, proofs, or
// anything), and `troth genesis` with hostile names, founders (MemberIds and request files) and
// policy arguments. The exit code is 0, 1 or 2 (with a one-line message), never 70 (an internal
// error: an exception that is not a TrothError); a genesis it writes is one nodes accept. Also
// the MemberId parser every command and record uses: strict, one spelling per key.

import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe } from 'vitest'
import { EXIT_INTERNAL, main } from '../../src/cli/main.ts'
import type { Io } from '../../src/cli/io.ts'
import { formatMemberId, parseMemberId } from '../../src/identity/member-id.ts'
import { decodeGenesis } from '../../src/ledger/genesis.ts'
import { PARAM_NAMES } from '../../src/ledger/policy.ts'
import { attempt, expectSameText, fuzz, fuzzAsync } from './harness.ts'
import { applyTextStep, hostileBytes, hostileText, mutatedText, textStepArb } from './mutate.ts'
import { scratchDir } from './scratch.ts'
import * as corpus from './corpus.ts'

function captureIo(): Io & { text: () => string } {
  let out = ''
  return {
    out: (t) => void (out += t),
    err: (t) => void (out += t),
    env: {},
    askSecret: async () => undefined,
    text: () => out,
  }
}

const enc = new TextEncoder()

describe('fuzz: CLI', () => {
  const scratch = scratchDir('cli')
  let n = 0
  const fileSamples = [
    ...corpus.genesisBytes(),
    ...corpus.requestBytes(),
    ...corpus.notes().map((t) => enc.encode(t)),
    ...corpus.tlogProofs().map((t) => enc.encode(t)),
    ...corpus.consistencyBodies().map((t) => enc.encode(t)),
    ...corpus.checkpointBodies().map((t) => enc.encode(t)),
  ]
  const textFiles = fc.oneof(hostileText([...corpus.notes(), ...corpus.tlogProofs(), ...corpus.consistencyBodies()]).map((t) => enc.encode(t)), hostileBytes(fileSamples))

  fuzzAsync(
    'troth inspect: any file prints a description or fails with exit 1 or 2, never an internal error',
    fc.tuple(textFiles, fc.boolean()),
    async ([bytes, json]) => {
      const file = join(scratch.path, `inspect-${n++}`)
      writeFileSync(file, bytes)
      const io = captureIo()
      const code = await main(['inspect', file, ...(json ? ['--json'] : [])], io)
      rmSync(file)
      if (code === EXIT_INTERNAL || ![0, 1, 2].includes(code)) throw new Error(`exit ${code}: ${io.text().slice(0, 300)}`)
    },
  )

  // --- troth genesis ---
  const ids = corpus.FOUNDERS.map((p) => p.id)
  const requestFiles: string[] = []
  const founderArg = fc.oneof(
    fc.constantFrom(...ids),
    fc.tuple(fc.constantFrom(...ids), fc.string({ unit: 'binary', maxLength: 12 })).map(([id, name]) => `${id}=${name}`),
    mutatedText(ids, 2),
    fc.nat(3).map((i) => `@request-${i}`), // a request file: good, mutated or foreign
    fc.string({ maxLength: 20 }),
  )
  const policyArg = fc.oneof(
    fc.tuple(fc.constantFrom(...PARAM_NAMES), fc.oneof(fc.nat(200_000).map(String), fc.constantFrom('', '-1', '01', '1e3', '9007199254740992', 'x'))).map(([k, v]) => `${k}=${v}`),
    fc.string({ maxLength: 16 }),
    fc.constantFrom('=', 'vouchCap', '=3', '__proto__=1', 'constructor=2'),
  )
  const genesisArgs = fc.record({
    name: fc.oneof(fc.constantFrom('coop', 'my.coop-1', '', ' ', 'a/b', '-x'), fc.string({ maxLength: 10 })),
    founders: fc.array(founderArg, { maxLength: 4 }),
    policy: fc.array(policyArg, { maxLength: 3 }),
    time: fc.option(fc.oneof(fc.nat().map(String), fc.constantFrom('', '-5', '9007199254740993', 'now')), { nil: null }),
    steps: fc.array(textStepArb, { maxLength: 2 }),
  })

  fuzzAsync(
    'troth genesis: hostile names, founders and policies exit 0, 1 or 2; a genesis written is one nodes accept',
    genesisArgs,
    async ({ name, founders, policy, time, steps }) => {
      const out = join(scratch.path, `genesis-${n++}`)
      const args = ['genesis', `--name=${name}`, `--out=${out}`] // the = form: a value may start with '-'
      for (const f of founders) {
        if (f.startsWith('@request-')) {
          const i = Number(f.slice('@request-'.length))
          const text = Buffer.from(readFileSync(requestFiles[i % requestFiles.length] as string)).toString('latin1')
          const file = join(scratch.path, `req-${n++}`)
          writeFileSync(file, Buffer.from(steps.reduce((t, s) => applyTextStep(t, s, []), text), 'latin1'))
          args.push(`--founder=${file}`)
        } else args.push(`--founder=${f}`)
      }
      for (const p of policy) args.push(`--policy=${p}`)
      if (time !== null) args.push(`--time=${time}`)
      const io = captureIo()
      const code = await main(args, io)
      if (code === EXIT_INTERNAL || ![0, 1, 2].includes(code)) throw new Error(`exit ${code} for ${JSON.stringify(args).slice(0, 300)}: ${io.text().slice(0, 300)}`)
      if (code === 0) decodeGenesis(new Uint8Array(readFileSync(out)))
      rmSync(out, { force: true })
    },
    {
      before: () => {
        for (const [i, bytes] of corpus.requestBytes().entries()) {
          const file = join(scratch.path, `request-${i}`)
          writeFileSync(file, bytes)
          requestFiles.push(file)
        }
      },
      after: () => scratch.remove(),
    },
  )

  // --- MemberIds ---
  const idSamples = [...ids, corpus.person('xavier').id]
  fuzz('parseMemberId: hostile text parses to a key or fails with id.invalid-member-id; an accepted id is the one spelling of its key', hostileText(idSamples, [fc.uint8Array({ minLength: 32, maxLength: 32 }).map(formatMemberId)]), (text) => {
    const r = attempt(() => parseMemberId(text), ['id.invalid-member-id'])
    if (r.ok) expectSameText(text, formatMemberId(r.value), 'member id')
  })
})
