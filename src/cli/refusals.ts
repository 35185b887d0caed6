// One line a person can act on for each reason the ledger (or the node's mempool) refuses an
// entry. The ledger's own detail, when it gives one, is more precise and is printed instead.

const SENTENCES: Readonly<Record<string, string>> = {
  'malformed': 'the entry does not decode',
  'wrong-net': 'the entry is for another cooperative',
  'unknown-author': 'this node\'s key is not a member of the cooperative',
  'author-not-active': 'you are not an active member (you left, were exiled, or are not inducted yet)',
  'not-a-member': 'this node\'s key is not a member of the cooperative',
  'bad-seq': 'the entry\'s sequence number was used already; try again',
  'time-ahead': 'this machine\'s clock is ahead of the ledger; check its time',
  'bad-signature': 'the signature does not verify',
  'request-invalid': 'the request is damaged or its signature does not verify',
  'request-wrong-net': 'the request is for another cooperative',
  'request-expired': 'the request has expired; ask the candidate for a new one',
  'request-mismatch': 'an induction for this candidate is open with a different request',
  'already-member': 'the candidate is, or was, a member',
  'key-in-use': 'that key is in use by a member or an open candidate',
  'already-vouched': 'you vouched for this candidate already',
  'already-objected': 'you objected to this candidate already',
  'vouch-cap': 'you vouch in as many open inductions as the policy allows (vouchCap)',
  'standing-too-low': 'your standing is below the floor a sponsor needs (standingFloor)',
  'no-such-induction': 'there is no open induction for that candidate',
  'already-leaving': 'you are leaving at the end of this epoch already',
  'last-member': 'you are the last member who is not leaving; the cooperative needs one',
  'self-target': 'you cannot target yourself',
  'target-not-active': 'that member is not active (left or exiled)',
  'proposal-exists': 'an exile proposal against that member is open: vote on it instead',
  'no-such-proposal': 'there is no open exile proposal against that member',
  'already-voted': 'you voted on this already',
  'unknown-param': 'no such policy parameter',
  'value-out-of-range': 'the value is outside the parameter\'s range',
  'key-pending': 'a key change for this member is pending already',
  'key-invalid': 'the new key is not a valid Ed25519 member key',
  'key-proof-invalid': 'the new key\'s proof of possession does not verify',
  'no-such-recovery': 'there is no open recovery for that member',
  'not-permitted': 'you may not do this for that member',
  'duplicate': 'the same entry is waiting already',
  'too-large': 'the entry is too large',
  'seq-too-far-ahead': 'too many of your entries are waiting; try again after a block',
  'mempool-full': 'the node\'s mempool is full; try again later',
  'after-refused': 'an earlier entry of yours was refused, and this one came after it',
}

/** "refused (status): sentence" for a status and the ledger's detail (possibly empty). */
export function refusal(status: string, detail: string): string {
  const text = detail !== '' ? detail : (SENTENCES[status] ?? 'refused by the ledger')
  return `refused (${status}): ${text}`
}
