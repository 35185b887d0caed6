// The node's configuration (DESIGN.md §8, docs/operations.md): a TOML file, environment overrides
// and command-line flags, in that order of strength over the defaults. Every value is checked
// with a schema that refuses unknown keys and wrong types; the first problem is reported as one
// line naming the key.

import { parse as parseToml, TomlError } from 'smol-toml'
import { z } from 'zod'
import { TrothError } from '../errors.ts'
import { DELTA_MS_DEFAULT, IDLE_MS_DEFAULT, SYNC_MODES } from './daemon.ts'

export const CONFIG_BYTES_MAX = 64 * 1024
export const STATUS_LISTEN_DEFAULT = '127.0.0.1:7780'

const multiaddr = z.string().min(1).max(256).regex(/^\//, 'must be a multiaddr starting with /')
const hostPort = z
  .string()
  .max(128)
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/, 'must be HOST:PORT, e.g. 127.0.0.1:7780 (or "" to turn it off)')
  .or(z.literal(''))

export const ConfigSchema = z
  .object({
    data: z.string().min(1).max(4096),
    genesis: z.string().min(1).max(4096),
    listen: z.array(multiaddr).min(1).max(16),
    bootstrap: z.array(multiaddr.regex(/\/p2p\/[A-Za-z0-9]+$/, 'must end in /p2p/<peer id>')).max(64),
    idle_ms: z.number().int().min(10).max(600_000),
    delta_ms: z.number().int().min(5).max(60_000),
    sync: z.enum(SYNC_MODES),
    status: z.strictObject({ listen: hostPort }),
    log: z.strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error']),
      format: z.enum(['json', 'pretty', 'auto']),
    }),
    nat: z.strictObject({ autonat: z.boolean(), upnp: z.boolean(), relay: z.boolean() }),
  })
  .strict()

export type Config = z.infer<typeof ConfigSchema>

/** Everything but data and genesis has a default. */
export const DEFAULTS = {
  listen: ['/ip4/0.0.0.0/tcp/7700'],
  bootstrap: [] as string[],
  idle_ms: IDLE_MS_DEFAULT,
  delta_ms: DELTA_MS_DEFAULT,
  sync: 'replay',
  status: { listen: STATUS_LISTEN_DEFAULT },
  log: { level: 'info', format: 'auto' },
  nat: { autonat: false, upnp: false, relay: false },
} as const

/** TROTH_* variables and the key each sets; lists are comma-separated, booleans true/false. */
export const ENV_KEYS: ReadonlyArray<readonly [string, string, 'string' | 'list' | 'int' | 'bool']> = [
  ['TROTH_DATA', 'data', 'string'],
  ['TROTH_GENESIS', 'genesis', 'string'],
  ['TROTH_LISTEN', 'listen', 'list'],
  ['TROTH_BOOTSTRAP', 'bootstrap', 'list'],
  ['TROTH_IDLE_MS', 'idle_ms', 'int'],
  ['TROTH_DELTA_MS', 'delta_ms', 'int'],
  ['TROTH_SYNC', 'sync', 'string'],
  ['TROTH_STATUS_LISTEN', 'status.listen', 'string'],
  ['TROTH_LOG_LEVEL', 'log.level', 'string'],
  ['TROTH_LOG_FORMAT', 'log.format', 'string'],
  ['TROTH_NAT_AUTONAT', 'nat.autonat', 'bool'],
  ['TROTH_NAT_UPNP', 'nat.upnp', 'bool'],
  ['TROTH_NAT_RELAY', 'nat.relay', 'bool'],
]

type Tree = Record<string, unknown>

function bad(message: string): TrothError {
  return new TrothError('input.invalid', `config: ${message}`)
}

function setPath(t: Tree, path: string, value: unknown): void {
  const parts = path.split('.')
  let node = t
  for (const p of parts.slice(0, -1)) {
    if (typeof node[p] !== 'object' || node[p] === null) node[p] = {}
    node = node[p] as Tree
  }
  node[parts[parts.length - 1] as string] = value
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base }
  for (const [k, v] of Object.entries(over)) {
    out[k] = typeof v === 'object' && v !== null && !Array.isArray(v) && typeof out[k] === 'object' && out[k] !== null && !Array.isArray(out[k]) ? merge(out[k] as Tree, v as Tree) : v
  }
  return out
}

/** Parse the TOML text of a config file (nothing checked yet but the syntax). */
export function parseConfigText(text: string, path: string): Tree {
  if (Buffer.byteLength(text, 'utf8') > CONFIG_BYTES_MAX) throw bad(`${path} is over ${CONFIG_BYTES_MAX} bytes`)
  try {
    return parseToml(text) as Tree
  } catch (err) {
    const where = err instanceof TomlError ? ` at line ${err.line}, column ${err.column}` : ''
    throw bad(`${path} is not valid TOML${where}: ${(err as Error).message.split('\n')[0]}`)
  }
}

/** The TROTH_* overrides present in `env`, as a tree. */
export function envOverrides(env: Readonly<Record<string, string | undefined>>): Tree {
  const t: Tree = {}
  for (const [name, key, kind] of ENV_KEYS) {
    const v = env[name]
    if (v === undefined) continue
    if (kind === 'string') setPath(t, key, v)
    else if (kind === 'list') setPath(t, key, v === '' ? [] : v.split(',').map((x) => x.trim()))
    else if (kind === 'int') {
      if (!/^[0-9]{1,9}$/.test(v)) throw bad(`${name}=${JSON.stringify(v)} must be a whole number (it sets ${key})`)
      setPath(t, key, Number(v))
    } else {
      if (v !== 'true' && v !== 'false') throw bad(`${name}=${JSON.stringify(v)} must be true or false (it sets ${key})`)
      setPath(t, key, v === 'true')
    }
  }
  return t
}

function valueAt(t: unknown, path: readonly PropertyKey[]): unknown {
  let v = t
  for (const p of path) {
    if (typeof v !== 'object' || v === null) return undefined
    v = (v as Record<PropertyKey, unknown>)[p]
  }
  return v
}

/** Where a schema problem is, as the key a person wrote. */
function keyOf(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[')
}

/** Defaults, then the file, then the environment, then flags; checked as a whole. */
export function resolveConfig(layers: { file?: Tree; env?: Tree; flags?: Tree }, source = 'the configuration'): Config {
  let t = merge(DEFAULTS as unknown as Tree, layers.file ?? {})
  t = merge(t, layers.env ?? {})
  t = merge(t, layers.flags ?? {})
  const r = ConfigSchema.safeParse(t)
  if (r.success) return r.data
  const issue = r.error.issues[0] as z.core.$ZodIssue
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length === 0 ? '' : `${keyOf(issue.path)}.`
    throw bad(`unknown key ${issue.keys.map((k) => `"${where}${k}"`).join(', ')} in ${source} (see troth config init)`)
  }
  const key = keyOf(issue.path)
  if (issue.code === 'invalid_type' && valueAt(t, issue.path) === undefined) {
    throw bad(`"${key}" is required (in ${source}, as a flag, or TROTH_${key.toUpperCase().replace(/\./g, '_')})`)
  }
  throw bad(`"${key}" ${issue.message.replace(/^Invalid input: /, '')} (in ${source})`)
}

/** `troth config init`: every key, its default, and what it does. */
export function exampleConfig(): string {
  return `# troth node configuration (TOML). \`troth start --config FILE\` reads it.
# Precedence: command-line flags > TROTH_* environment variables > this file > defaults.
# Unknown keys and wrong types are refused with one line naming the key.

# The data directory (made by \`troth init\`): key, ledger, vote WAL, chunks. Required.
data = "/var/lib/troth"
# The cooperative's genesis file. Required.
genesis = "/etc/troth/coop.genesis"

# Where libp2p listens (multiaddrs). Default: all interfaces, port 7700.
listen = ["/ip4/0.0.0.0/tcp/7700"]
# Peers to connect to at start and keep redialling, each ending in /p2p/<peer id>.
bootstrap = []

# A leader with nothing to propose waits this long (ms) before an empty block. 10 .. 600000
idle_ms = ${IDLE_MS_DEFAULT}
# The network delay bound the consensus timers assume (ms). 5 .. 60000
delta_ms = ${DELTA_MS_DEFAULT}
# How a new node (a ledger still at genesis) catches up: "replay" replays every block from
# genesis and keeps the full history; "checkpoint" adopts a peer's newest sealed checkpoint,
# verified from the genesis alone, and syncs on from there, holding no history below it (it
# cannot prove old entries). With no peer offering one, it replays. replay | checkpoint
sync = "replay"

[status]
# The status page and Prometheus metrics (/metrics), HOST:PORT; "" turns them off.
# Keep it on 127.0.0.1 unless a reverse proxy with authentication is in front of it.
listen = "${STATUS_LISTEN_DEFAULT}"

[log]
# trace | debug | info | warn | error. "debug" adds one line per finalized block.
level = "info"
# json (one object per line) | pretty (for a terminal) | auto (pretty on a terminal, else json)
format = "auto"

[nat]
# Home networks (docs/operations.md#nat). All off by default.
# AutoNAT: ask peers whether our addresses are reachable from outside.
autonat = false
# UPnP: ask the router to forward our listen port (sends SSDP multicast on the LAN).
upnp = false
# Circuit relay v2 client: be reachable through a relay when behind NAT.
relay = false
`
}
