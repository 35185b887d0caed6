// Domain-separation tags (DESIGN.md §1). Frozen: changing one is a format change. A signature is
// made over utf8(tag) || 0x00 || message, so a signature for one kind never verifies as another.

export const TAG = Object.freeze({
  entry: 'troth/entry/v1',
  vote: 'troth/vote/v1',
  finalize: 'troth/finalize/v1',
  audit: 'troth/audit/v1',
  inductRequest: 'troth/induct-request/v1',
  genesis: 'troth/genesis/v1',
  key: 'troth/key/v1',
} as const)

export type Tag = (typeof TAG)[keyof typeof TAG]
