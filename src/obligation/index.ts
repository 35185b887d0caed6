// The obligations module's public face (DESIGN.md §5): who replicates each snapshot, who audits
// each replica in an epoch and on which chunks, what a replica signs, how an epoch's duties are
// settled, and the snapshot format. Other modules import from here. docs/obligations.md states
// the rules.

export {
  AUDITOR_TAG,
  CHALLENGE_TAG,
  EXCLUSION_BOOST_MAX,
  LN_FRAC_BITS,
  LOW_STANDING_AUDITOR_FACTOR,
  RENDEZVOUS_BITS,
  REPLICA_TAG,
  auditAssignments,
  auditorsRequired,
  challengeChunks,
  dutiesOf,
  negLnFixed,
  replicaDraw,
  replicasFor,
  shareOfDuties,
  tallyDuties,
  type AuditAssignment,
  type AuditInput,
  type AuditMember,
  type AuditSnapshot,
  type DutyShareRow,
  type DutyShares,
  type WeightedMember,
} from './assign.ts'
export {
  AUDIT_ANSWER_BYTES_MAX,
  AUDIT_INDEXES_MAX,
  answerSignatureValid,
  answerVerdict,
  answersChallenge,
  decodeAnswer,
  parseSignedAnswer,
  signAnswer,
  signedAnswerToCbor,
  type AuditAnswer,
  type Challenge,
  type SignedAnswer,
} from './audit.ts'
export { EVENT, events, exileReason, nextStanding, scoreOf, settleEpoch, type EpochOutcome, type Thresholds, type Verdict, type WindowCounts } from './settle.ts'
export {
  chunkLeaves,
  readSnapshot,
  snapshotChunks,
  snapshotName,
  unpackSnapshot,
  type Manifest,
  type ManifestFile,
  type SnapshotInfo,
  type SnapshotKind,
} from './snapshot.ts'
