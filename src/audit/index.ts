// Auditors (DESIGN.md §3.2, docs/audit.md): offline proofs that a snapshot is sealed in the
// ledger and that the ledger only grew, in C2SP formats, and a remembering witness.

export { AUDIT_FORMAT, AUDIT_PROOF_BYTES_MAX, CHAIN_STEPS_MAX, formatAuditProof, parseAuditProof, type AuditProof, type ChainStep, type LeafProof } from './bundle.ts'
export { checkCosigners, type Cosigner, type CosignCheck } from './cosigners.ts'
export { AUDIT_STATUSES, verifyAuditProof, type AuditResult, type AuditStatus, type AuditVerdict, type SnapshotFacts } from './verify.ts'
export { proveConsistency, proveEntry, type AuditSource, type ConsistencyProven, type ProveTarget, type Proven } from './prove.ts'
export { WITNESS_HTTP, WITNESS_STATUSES, WitnessStore, decideAdd, type AddInput, type WitnessAnswer, type WitnessRecord, type WitnessStatus } from './witness.ts'
export { CONSISTENCY_STATUSES, verifyConsistencyFiles, type ConsistencyStatus, type ConsistencyVerdict } from './consistency.ts'
