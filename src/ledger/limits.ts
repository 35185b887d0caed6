// Hard limits on everything that comes from outside (DESIGN.md §2). Each is enforced at the edge
// where bytes enter (decode) and tested. Units last.

export const ENTRY_BYTES_MAX = 64 * 1024
export const BLOCK_BYTES_MAX = 4 * 1024 * 1024
export const BLOCK_ENTRIES_MAX = 4096
export const MESSAGE_BYTES_MAX = 4 * 1024 * 1024
export const NAME_BYTES_MAX = 64
export const REASON_BYTES_MAX = 256
export const ADDRS_MAX = 8
export const ADDR_BYTES_MAX = 256
export const GENESIS_BYTES_MAX = 1024 * 1024
export const GENESIS_FOUNDERS_MAX = 1024
/** Validators one epoch may have (members with weight). */
export const VALIDATORS_MAX = 1_000_000
export const REQUEST_BYTES_MAX = 1024
/** An entry may be stamped at most this far ahead of the block that carries it. */
export const ENTRY_TIME_AHEAD_MS_MAX = 10 * 60 * 1000
/** Snapshot chunk size (DESIGN.md §5.3). */
export const CHUNK_BYTES = 256 * 1024
export const SNAPSHOT_CHUNKS_MAX = 2 ** 32
export const SNAPSHOT_BYTES_MAX = SNAPSHOT_CHUNKS_MAX * CHUNK_BYTES
/** Full democratic weight of one member, in milli-weight (DESIGN.md §5.1: weight 1). */
export const WEIGHT_FULL = 1000
/** Standing is a score in permille. */
export const STANDING_MAX = 1000
/** Standing starts as if from this many earlier epochs of duty (α + β, in events). */
export const STANDING_PRIOR_EVENTS = 10
