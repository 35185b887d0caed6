// Display names (members, candidates) travel into terminals and logs: no control characters.

import { TrothError } from '../errors.ts'
import { asText, type CborValue } from './encoding.ts'
import { NAME_BYTES_MAX } from './limits.ts'

// C0 controls, DEL, C1 controls, and the bidirectional overrides that can disguise text.
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u

export function nameProblem(name: string): string | null {
  if (Buffer.byteLength(name, 'utf8') > NAME_BYTES_MAX) return `longer than ${NAME_BYTES_MAX} bytes`
  if (FORBIDDEN.test(name)) return 'contains a control or bidi-override character'
  return null
}

export function asName(v: CborValue | undefined, path: string): string {
  const name = asText(v, path, NAME_BYTES_MAX)
  const problem = nameProblem(name)
  if (problem !== null) throw new TrothError('schema.invalid', `${path}: ${problem}`)
  return name
}
