// Operating errors (STYLE.md "three kinds of failure", kind 2): a TrothError carries a stable
// code from a closed list and a message a person can act on. Broken invariants use assert().

export const ERROR_CODES = [
  // encoding (src/ledger/encoding.ts)
  'cbor.too-large',
  'cbor.truncated',
  'cbor.trailing-bytes',
  'cbor.non-canonical-int',
  'cbor.indefinite-length',
  'cbor.float',
  'cbor.map-key-order',
  'cbor.duplicate-key',
  'cbor.map-key-type',
  'cbor.unsupported-type',
  'cbor.int-range',
  'cbor.too-deep',
  'cbor.too-many-items',
  'cbor.invalid-utf8',
  'cbor.malformed',
  // schema checks of decoded values
  'schema.invalid',
  // identity
  'id.invalid-member-id',
  'id.invalid-key',
  'keystore.exists',
  'keystore.not-found',
  'keystore.permissions',
  'keystore.truncated',
  'keystore.corrupt',
  'keystore.wrong-passphrase',
  'keystore.no-passphrase',
  'keystore.io',
  // merkle / transparency log formats
  'merkle.invalid-proof',
  'merkle.out-of-range',
  'note.malformed',
  'note.too-large',
  'checkpoint.malformed',
  'proof.malformed',
  // store
  'store.corrupt',
  'store.mismatch',
  'store.closed',
  // input files, CLI, config
  'input.invalid',
  'input.too-large',
  'input.not-found',
  'genesis.invalid',
  // the ledger's answer to an entry the CLI submitted (exit 3), or no answer in time (exit 4)
  'ledger.refused',
  'ledger.not-final',
  // network (src/p2p/)
  'net.timeout',
  'net.too-large',
  'net.refused',
  'net.protocol',
  'net.dial-failed',
  'net.remote-error',
  'net.aborted',
  'net.not-started',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

export class TrothError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = 'TrothError'
  }
}

/** A broken invariant: a bug, never a peer's or user's mistake. */
export class AssertionError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'AssertionError'
  }
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message)
}
