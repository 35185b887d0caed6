// The verdicts' early exit: a check that fails throws the status it reached and a sentence; the
// verifier's entry point turns it into a verdict. Shared by verify.ts and consistency.ts.

export class Rejected<S extends string> extends Error {
  readonly status: S
  constructor(status: S, reason: string) {
    super(reason)
    this.status = status
  }
}
