// Who cosigned a checkpoint (DESIGN.md §3.2, §4): the members' cosignature/v1 lines of a signed
// checkpoint note, each member counted once, against the quorum rule of the epoch's weight.
// One function serves the audit verifier (strict: every line must be a member's cosignature) and
// the witness (lenient: unknown lines are ignored, as tlog-witness requires).

import { parseMemberId, isMemberId } from '../identity/member-id.ts'
import { bytesEqual } from '../ledger/hash.ts'
import { ValidatorSet } from '../ledger/consensus/messages.ts'
import type { Validator } from '../ledger/state.ts'
import { SIG_TYPE_COSIGNATURE_V1, keyId, verifyCosignature, type Note } from '../ledger/tlog.ts'

export interface Cosigner {
  readonly id: string
  readonly weight: number
  /** The cosignature's timestamp, POSIX seconds. */
  readonly time: number
}

/** Where a member was seen in the chain: its key then, and its first and last epoch. */
export interface PastMember {
  readonly key: Uint8Array
  readonly from: number
  readonly to: number
}

export type CosignFailure = 'bad-cosignature' | 'not-a-member' | 'duplicate-cosigner' | 'no-quorum'

export type CosignCheck =
  | { readonly ok: true; readonly cosigners: Cosigner[]; readonly weight: number; readonly totalWeight: number; readonly ignored: number }
  | { readonly ok: false; readonly status: CosignFailure; readonly reason: string; readonly weight: number; readonly totalWeight: number }

export interface CosignOptions {
  /** strict: a line that is not a cosignature of a member of the epoch rejects the note (troth's
   * seals carry nothing else); lenient: such lines are ignored (tlog-witness, signed-note). */
  readonly strict: boolean
  /** Members seen in earlier epochs, to name a former member who cosigns. */
  readonly past?: ReadonlyMap<string, PastMember>
  /** How the epoch is named in messages, e.g. "epoch 3" or "the members this witness knows". */
  readonly epochLabel: string
}

/** A key name for a message: from a hostile file, so printable ASCII only (no terminal controls or
 * bidi overrides), and short. */
const short = (name: string): string => {
  const safe = name.replace(/[^\x20-\x7e]/g, '?')
  return safe.length > 20 ? `${safe.slice(0, 16)}…` : safe
}

/**
 * Checks the signatures of `note` (a parsed signed checkpoint) against the member set `members`.
 * Each line naming a member with that member's cosignature/v1 key ID must verify; a member named
 * twice, a former member's cosignature, or (strict) any other line rejects the note; the valid
 * cosigners must hold more than 2/3 of the set's weight. Failures are reported in a fixed order
 * (bad cosignature, not a member, duplicate, no quorum) so that one input gives one answer.
 */
export function checkCosigners(note: Note, members: readonly Validator[], opts: CosignOptions): CosignCheck {
  const set = new ValidatorSet(0, members)
  const cosigners: Cosigner[] = []
  const seen = new Set<string>()
  let bad: string | null = null
  let stranger: string | null = null
  let twice: string | null = null
  let ignored = 0
  for (const [i, sig] of note.signatures.entries()) {
    const line = `signature line ${i + 1} (${short(sig.name)})`
    const v = set.get(sig.name)
    if (v !== undefined) {
      if (!bytesEqual(sig.keyId, keyId(sig.name, SIG_TYPE_COSIGNATURE_V1, v.key))) {
        if (opts.strict) bad ??= `${line}: its key ID is not the cosignature key of member ${sig.name}`
        else ignored++
        continue
      }
      const r = verifyCosignature(v.key, sig.name, note.text, sig)
      if (!r.ok) {
        bad ??= `${line}: the cosignature of member ${sig.name} does not verify over this checkpoint`
        continue
      }
      if (seen.has(sig.name)) {
        twice ??= `member ${sig.name} cosigned twice (${line}); each member counts once`
        continue
      }
      seen.add(sig.name)
      cosigners.push({ id: sig.name, weight: v.weight, time: r.timestamp })
      continue
    }
    // Not a member of this epoch. Lenient: a key this checker does not know, ignored. Strict: is
    // it a troth member's cosignature at all (its name a MemberId, its key ID that of the member's
    // key, now or as the chain saw it)? Either way it rejects the note, with the right reason.
    if (!opts.strict) {
      ignored++
      continue
    }
    if (isMemberId(sig.name)) {
      const past = opts.past?.get(sig.name)
      const keys = [parseMemberId(sig.name), ...(past !== undefined ? [past.key] : [])]
      if (keys.some((k) => bytesEqual(sig.keyId, keyId(sig.name, SIG_TYPE_COSIGNATURE_V1, k)))) {
        const when = past !== undefined ? `it was a member in epochs ${past.from}–${past.to}` : 'it is not a member anywhere in this chain'
        stranger ??= `${line}: ${sig.name} cosigned, but is not a member of ${opts.epochLabel} (${when})`
        continue
      }
    }
    stranger ??= `${line}: "${short(sig.name)}" is not a cosignature of a member of ${opts.epochLabel}`
  }
  const weight = set.weightOf(seen)
  const totalWeight = set.totalWeight
  if (bad !== null) return { ok: false, status: 'bad-cosignature', reason: bad, weight, totalWeight }
  if (stranger !== null) return { ok: false, status: 'not-a-member', reason: stranger, weight, totalWeight }
  if (twice !== null) return { ok: false, status: 'duplicate-cosigner', reason: twice, weight, totalWeight }
  if (!set.isQuorum(weight)) {
    const reason = `cosigned by ${seen.size} of the ${members.length} members of ${opts.epochLabel}, holding ${weight} of ${totalWeight} weight; a seal needs more than 2/3 of the weight`
    return { ok: false, status: 'no-quorum', reason, weight, totalWeight }
  }
  return { ok: true, cosigners, weight, totalWeight, ignored }
}
