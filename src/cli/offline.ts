// Offline commands (DESIGN.md §8): keys, requests, genesis, inspection. No daemon needed.

import { existsSync } from 'node:fs'
import { TrothError } from '../errors.ts'
import { generateSeed } from '../identity/ed25519.ts'
import { createKeystore, loadKeystore, readKeystorePublic } from '../identity/keystore.ts'
import { formatMemberId, isMemberId, parseMemberId } from '../identity/member-id.ts'
import { decode, type CborValue } from '../ledger/encoding.ts'
import { decodeGenesis, encodeGenesis, genesisHash, ledgerOrigin, type Founder } from '../ledger/genesis.ts'
import { toHex } from '../ledger/hash.ts'
import { GENESIS_BYTES_MAX, NAME_BYTES_MAX, REQUEST_BYTES_MAX } from '../ledger/limits.ts'
import { PARAMS, PARAM_NAMES, genesisPolicy, isParamName } from '../ledger/policy.ts'
import { FOUNDING_NET, decodeSignedRequest, makeRequest, openRequest, requestSignatureValid, signedRequestToCbor } from '../ledger/request.ts'
import { encode } from '../ledger/encoding.ts'
import { nameProblem } from '../ledger/names.ts'
import { NOTE_BYTES_MAX, TLOG_PROOF_HEADER, parseCheckpoint, parseConsistencyBody, parseNote, parseTlogProof, verifyCosignature, keyId, SIG_TYPE_COSIGNATURE_V1, SIG_TYPE_ED25519 } from '../ledger/tlog.ts'
import { ensureDataDir, keyPath } from '../node/data-dir.ts'
import { AUDIT_PROOF_BYTES_MAX, parseAuditProof } from '../audit/index.ts'
import { readFileCapped, writeNewFile, type Io } from './io.ts'

const DAY_MS = 24 * 60 * 60 * 1000
export const EXPIRES_DAYS_MAX = 365

function usage(message: string): TrothError {
  return new TrothError('input.invalid', `usage: ${message}`)
}

function printJson(io: Io, value: unknown): void {
  io.out(`${JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? toHex(v) : v), 2)}\n`)
}

/** The passphrase: TROTH_PASSPHRASE, else asked on the terminal (twice when creating). */
async function passphrase(io: Io, confirm: boolean): Promise<string> {
  const env = io.env.TROTH_PASSPHRASE
  if (env !== undefined && env !== '') return env
  const first = await io.askSecret('Passphrase: ')
  if (first === undefined) throw new TrothError('keystore.no-passphrase', 'no passphrase: set TROTH_PASSPHRASE or run in a terminal')
  if (first === '') throw new TrothError('keystore.no-passphrase', 'the passphrase must not be empty')
  if (confirm) {
    const again = await io.askSecret('Passphrase again: ')
    if (again !== first) throw new TrothError('keystore.no-passphrase', 'the passphrases do not match')
  }
  return first
}

export async function unlockKey(io: Io, data: string): ReturnType<typeof loadKeystoreAsync> {
  return loadKeystoreAsync(io, data)
}

/** The public part of this data dir's keystore, with a hint when there is none. */
function readPublic(data: string): ReturnType<typeof readKeystorePublic> {
  try {
    return readKeystorePublic(keyPath(data))
  } catch (err) {
    if (err instanceof TrothError && err.code === 'keystore.not-found') {
      throw new TrothError('keystore.not-found', `no key in ${data}: create one with troth init --data ${data}`)
    }
    throw err
  }
}

async function loadKeystoreAsync(io: Io, data: string): Promise<ReturnType<typeof loadKeystore>> {
  return loadKeystore(keyPath(data), { passphrase: await passphraseFor(io, data) })
}

/** The passphrase of this data dir's keystore (asked once), or undefined if it is stored plain. */
export async function passphraseFor(io: Io, data: string): Promise<string | undefined> {
  return readPublic(data).encrypted ? passphrase(io, false) : undefined
}

export async function cmdInit(io: Io, o: { data: string; name: string; plain: boolean; json: boolean }): Promise<void> {
  if (Buffer.byteLength(o.name, 'utf8') > NAME_BYTES_MAX || o.name.length === 0) throw usage(`--name must be 1 to ${NAME_BYTES_MAX} bytes`)
  const bad = nameProblem(o.name)
  if (bad !== null) throw usage(`--name ${bad}`)
  ensureDataDir(o.data)
  const path = keyPath(o.data)
  if (existsSync(path)) throw new TrothError('keystore.exists', `${path} already exists: this data dir has a key (troth id --data ${o.data})`)
  const pass = o.plain ? undefined : await passphrase(io, true)
  const seed = generateSeed()
  try {
    const ks = createKeystore(path, { seed, name: o.name, ...(o.plain ? { plain: true } : { passphrase: pass }) })
    const id = formatMemberId(ks.publicKey)
    if (o.json) printJson(io, { id, name: ks.name, encrypted: ks.encrypted, keystore: path })
    else io.out(`${id}\n`)
    if (o.plain && !o.json) io.err('troth: warning: the key is stored unencrypted (--insecure-plain-key)\n')
  } finally {
    seed.fill(0)
  }
}

export async function cmdId(io: Io, o: { data: string; json: boolean }): Promise<void> {
  const ks = readPublic(o.data)
  const id = formatMemberId(ks.publicKey)
  if (o.json) printJson(io, { id, name: ks.name, encrypted: ks.encrypted })
  else io.out(`${id}\n`)
}

function parseUint(text: string, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) throw usage(`${what} must be a non-negative integer, got "${text}"`)
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n > max) throw usage(`${what} must be at most ${max}`)
  return n
}

export function readGenesisFile(path: string): { bytes: Uint8Array; net: Uint8Array; genesis: ReturnType<typeof decodeGenesis>['genesis'] } {
  const bytes = readFileCapped(path, GENESIS_BYTES_MAX, 'genesis')
  const { genesis, net } = decodeGenesis(bytes)
  return { bytes, net, genesis }
}

export async function cmdRequest(io: Io, o: { data: string; out: string; genesis: string | undefined; expiresDays: string; json: boolean }): Promise<void> {
  const days = parseUint(o.expiresDays, '--expires-days', EXPIRES_DAYS_MAX)
  if (days === 0) throw usage('--expires-days must be at least 1')
  const net = o.genesis === undefined ? FOUNDING_NET : readGenesisFile(o.genesis).net
  const ks = await loadKeystoreAsync(io, o.data)
  try {
    const expires = Date.now() + days * DAY_MS
    const signed = makeRequest(ks.seed, { net, name: ks.name, expires })
    const bytes = encode(signedRequestToCbor(signed))
    writeNewFile(o.out, bytes)
    const id = formatMemberId(ks.publicKey)
    if (o.json) printJson(io, { id, name: ks.name, net: o.genesis === undefined ? null : toHex(net), expires, out: o.out })
    else io.out(`${o.genesis === undefined ? 'founding' : 'induction'} request for ${id} (${ks.name}) written to ${o.out}\n`)
  } finally {
    ks.seed.wipe()
  }
}

function parseFounder(arg: string): Founder {
  const eq = arg.indexOf('=')
  const idPart = eq >= 0 ? arg.slice(0, eq) : arg
  if (isMemberId(idPart)) {
    const name = eq >= 0 ? arg.slice(eq + 1) : ''
    if (Buffer.byteLength(name, 'utf8') > NAME_BYTES_MAX) throw usage(`founder name "${name}" is longer than ${NAME_BYTES_MAX} bytes`)
    return { key: parseMemberId(idPart), name, request: null }
  }
  if (arg.startsWith('troth1')) parseMemberId(idPart) // throws the precise reason
  if (!existsSync(arg)) throw usage(`--founder ${arg} is neither a MemberId nor an existing request file`)
  const signed = decodeSignedRequest(readFileCapped(arg, REQUEST_BYTES_MAX * 2, 'request'))
  const r = openRequest(signed)
  return { key: r.key, name: r.name, request: signed }
}

export async function cmdGenesis(
  io: Io,
  o: { name: string; founders: string[]; policy: string[]; time: string | undefined; out: string; json: boolean },
): Promise<void> {
  if (o.founders.length === 0) throw usage('at least one --founder is required')
  const policy: Record<string, number> = {}
  for (const kv of o.policy) {
    const eq = kv.indexOf('=')
    if (eq <= 0) throw usage(`--policy expects key=value, got "${kv}"`)
    const key = kv.slice(0, eq)
    if (!isParamName(key)) throw usage(`unknown policy parameter "${key}" (known: ${PARAM_NAMES.join(', ')})`)
    if (key in policy) throw usage(`--policy ${key} given twice`)
    policy[key] = parseUint(kv.slice(eq + 1), `--policy ${key}`)
  }
  genesisPolicy(policy) // range checks, with the parameter named
  const time = o.time === undefined ? Date.now() : parseUint(o.time, '--time')
  const genesis = { version: 1, name: o.name, time, founders: o.founders.map(parseFounder), policy }
  const bytes = encodeGenesis(genesis)
  const { net } = decodeGenesis(bytes) // full validation, exactly as nodes will do it
  writeNewFile(o.out, bytes)
  const origin = ledgerOrigin(o.name, net)
  if (o.json) printJson(io, { net: toHex(net), origin, founders: genesis.founders.map((f) => formatMemberId(f.key)), out: o.out })
  else io.out(`genesis for ${o.name} written to ${o.out}\nnet ${toHex(net)}\norigin ${origin}\nfounders ${genesis.founders.length}\n`)
}

// ---------------------------------------------------------------------------------------------
// inspect: tell the file kind from its content, then print it.

const INSPECT_BYTES_MAX = Math.max(GENESIS_BYTES_MAX, NOTE_BYTES_MAX, AUDIT_PROOF_BYTES_MAX) + 1024

function isoTime(ms: number): string {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString()
}

function describeSignatures(note: ReturnType<typeof parseNote>, body: string): Array<Record<string, unknown>> {
  return note.signatures.map((s) => {
    const out: Record<string, unknown> = { name: s.name, keyId: toHex(s.keyId) }
    // troth cosigners are named by MemberId, so their public key is in the name: check it.
    if (isMemberId(s.name)) {
      const key = parseMemberId(s.name)
      if (toHex(s.keyId) === toHex(keyId(s.name, SIG_TYPE_COSIGNATURE_V1, key))) {
        const v = verifyCosignature(key, s.name, body, s)
        out.type = 'cosignature/v1'
        out.valid = v.ok
        if (v.ok) out.time = v.timestamp
      } else if (toHex(s.keyId) === toHex(keyId(s.name, SIG_TYPE_ED25519, key))) {
        out.type = 'ed25519'
      }
    }
    return out
  })
}

function inspectCheckpoint(text: string): Record<string, unknown> {
  const note = parseNote(text)
  const c = parseCheckpoint(note.text)
  return {
    kind: 'checkpoint',
    origin: c.origin,
    size: c.size,
    root: toHex(c.root),
    ...(c.extensions.length > 0 ? { extensions: c.extensions } : {}),
    signatures: describeSignatures(note, note.text),
  }
}

function inspectValue(file: string, bytes: Uint8Array): Record<string, unknown> {
  const text = Buffer.from(bytes).toString('utf8')
  if (text.startsWith(`${TLOG_PROOF_HEADER}\nextra `)) {
    // A troth audit proof: shown, not verified (troth verify does that). Another application's
    // tlog-proof with extra data is shown as an inclusion proof.
    let p
    try {
      p = parseAuditProof(text)
    } catch {
      const t = parseTlogProof(text, AUDIT_PROOF_BYTES_MAX)
      return { kind: 'inclusion-proof', extraBytes: t.extra?.length ?? 0, index: t.index, proof: t.proof.map(toHex), checkpoint: inspectCheckpoint(t.checkpoint) }
    }
    return {
      kind: 'audit-proof',
      index: p.index,
      entryBytes: p.entry.length,
      proof: p.proof.map(toHex),
      chain: p.chain.map((s) => ({ checkpointSize: s.seal.index + 1, sealLeaf: s.seal.index, nextMembers: s.next === null ? null : s.next.length })),
      checkpoint: inspectCheckpoint(p.checkpoint),
    }
  }
  if (text.startsWith(`${TLOG_PROOF_HEADER}\n`)) {
    const p = parseTlogProof(text)
    return { kind: 'inclusion-proof', index: p.index, proof: p.proof.map(toHex), checkpoint: inspectCheckpoint(p.checkpoint) }
  }
  if (text.startsWith('old ')) {
    const b = parseConsistencyBody(text)
    return { kind: 'consistency-proof', oldSize: b.oldSize, proof: b.proof.map(toHex), checkpoint: inspectCheckpoint(b.checkpoint) }
  }
  if (/^[^\n]+\n(0|[1-9][0-9]*)\n[A-Za-z0-9+/=]+\n/.test(text)) return inspectCheckpoint(text)
  let value: CborValue
  try {
    value = decode(bytes, { bytesMax: INSPECT_BYTES_MAX })
  } catch (err) {
    throw new TrothError('input.invalid', `${file} is not a troth genesis, request, checkpoint or proof (${(err as Error).message})`)
  }
  const keys = value !== null && typeof value === 'object' && !(value instanceof Uint8Array) && !Array.isArray(value) ? Object.keys(value).sort().join(',') : ''
  if (keys === 'request,sig') {
    const signed = decodeSignedRequest(bytes)
    const r = openRequest(signed)
    const founding = r.net.every((b) => b === 0)
    return {
      kind: founding ? 'founding-request' : 'induction-request',
      id: formatMemberId(r.key),
      name: r.name,
      net: founding ? null : toHex(r.net),
      expires: isoTime(r.expires),
      signatureValid: requestSignatureValid(signed, r),
    }
  }
  if (keys === 'founders,name,policy,time,version') {
    const { genesis, net } = decodeGenesis(bytes)
    const policy = genesisPolicy(genesis.policy)
    return {
      kind: 'genesis',
      name: genesis.name,
      net: toHex(genesisHash(bytes)),
      origin: ledgerOrigin(genesis.name, net),
      time: isoTime(genesis.time),
      founders: genesis.founders.map((f) => ({ id: formatMemberId(f.key), name: f.name, request: f.request !== null })),
      policy: Object.fromEntries(PARAM_NAMES.map((p) => [p, { value: policy[p], set: p in genesis.policy, default: PARAMS[p].default }])),
    }
  }
  throw new TrothError('input.invalid', `${file} is CBOR but not a troth genesis or request`)
}

function render(v: Record<string, unknown>, indent = ''): string {
  let out = ''
  for (const [k, val] of Object.entries(v)) {
    if (Array.isArray(val)) {
      out += `${indent}${k}:${val.length === 0 ? ' (none)' : ''}\n`
      for (const item of val) {
        if (item !== null && typeof item === 'object') {
          const inner = render(item as Record<string, unknown>, `${indent}    `)
          out += `${indent}  - ${inner.trimStart()}`
        } else out += `${indent}  - ${String(item)}\n`
      }
    } else if (val !== null && typeof val === 'object') {
      out += `${indent}${k}:\n${render(val as Record<string, unknown>, `${indent}  `)}`
    } else {
      out += `${indent}${k}: ${val === null ? '-' : String(val)}\n`
    }
  }
  return out
}

export async function cmdInspect(io: Io, o: { file: string; json: boolean }): Promise<void> {
  const bytes = readFileCapped(o.file, INSPECT_BYTES_MAX, 'file')
  const v = inspectValue(o.file, bytes)
  if (o.json) return printJson(io, v)
  if (v.kind === 'genesis') {
    // One line per parameter for people: value, and the default where the founders changed it.
    const policy = v.policy as Record<string, { value: number; set: boolean; default: number }>
    v.policy = Object.fromEntries(Object.entries(policy).map(([k, p]) => [k, p.set ? `${p.value} (default ${p.default})` : `${p.value}`]))
  }
  io.out(render(v))
}
