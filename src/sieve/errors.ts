/**
 * How a Sieve script is refused: each problem with its line, column (both 1-based) and a
 * reason a person can act on. What `PUT /v1/sieve/scripts/{name}` answers in its 422 and what
 * ManageSieve's PUTSCRIPT/CHECKSCRIPT put in their NO (RFC 5804 section 2.6).
 */
export interface Position {
  line: number;
  column: number;
}

export interface SieveProblem extends Position {
  reason: string;
}

/** Thrown inside the lexer and parser; `parseScript` turns it into a SieveProblem. */
export class SieveSyntaxError extends Error {
  constructor(readonly at: Position, readonly reason: string) {
    super(`line ${at.line}, column ${at.column}: ${reason}`);
  }
}

/** A problem found while a script runs (a limit hit): the delivery keeps the message. */
export class SieveRuntimeError extends Error {
  constructor(readonly at: Position | undefined, message: string) {
    super(at ? `line ${at.line}: ${message}` : message);
  }
}
