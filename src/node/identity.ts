// Which member a key belongs to (DESIGN.md §1, §6). A member keeps its MemberId (its first key)
// for life, but key.rotate and key.recover change the key it signs with, and a libp2p PeerId is
// always made from the current key. So the node answers "which member is this connection" from the
// ledger: a member's current key names it; a key a member used to hold names nobody (it may be
// the lost or stolen one); any other key is a stranger or a candidate, named by itself.

import { formatMemberId } from '../identity/member-id.ts'
import type { MemberId } from '../identity/member-id.ts'
import type { LedgerState } from '../ledger/state.ts'
import type { PeerIdentity } from '../p2p/host.ts'

/** Keys change only at an epoch close, so one index per epoch serves every lookup in it. */
export function ledgerIdentity(state: () => LedgerState): PeerIdentity {
  let cached: { epoch: number; height: number; byKey: Map<string, MemberId> } | null = null
  const index = (s: LedgerState): Map<string, MemberId> => {
    // A store that went back (never in practice) or moved to another epoch rebuilds the index.
    if (cached === null || cached.epoch !== s.epoch.number || s.meta.height < cached.height) {
      const byKey = new Map<string, MemberId>()
      for (const [id, m] of s.members) byKey.set(formatMemberId(m.key), id)
      cached = { epoch: s.epoch.number, height: s.meta.height, byKey }
    }
    return cached.byKey
  }
  return {
    memberOf: (keyId) => {
      const s = state()
      const owner = index(s).get(keyId)
      if (owner !== undefined) return owner
      // A MemberId whose member holds another key now: the old key speaks for nobody.
      if (s.members.has(keyId)) return null
      return keyId
    },
    keyOf: (memberId) => {
      const m = state().members.get(memberId)
      return m === undefined ? memberId : formatMemberId(m.key)
    },
  }
}
