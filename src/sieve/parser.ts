/**
 * The Sieve grammar (RFC 5228 section 8.2) over the lexer's tokens: commands with their
 * arguments (tags, numbers, strings and string lists), a test or a test list, and a block or
 * a semicolon. Pure and generic: which commands exist and what they accept is the validator's
 * business (validate.ts), so an unknown extension parses and is then refused with its position.
 */
import { type Position, SieveSyntaxError } from "./errors.ts";
import { type Token, tokenize } from "./lexer.ts";

export type Argument =
  | { kind: "tag"; name: string; at: Position }
  | { kind: "number"; value: number; at: Position }
  | { kind: "strings"; values: string[]; list: boolean; at: Position };

export interface Test {
  name: string;
  args: Argument[];
  tests: Test[];
  /** The tests came in parentheses (a test list), not as a single test. */
  testList: boolean;
  at: Position;
}

export interface Command extends Test {
  /** Undefined for a command ended by ";". */
  block?: Command[];
}

/** How deep blocks and tests may nest before the script is refused (stack safety). */
export const MAX_NESTING = 32;

/** Parses a whole script; throws SieveSyntaxError at the first problem. */
export function parseCommands(src: string): Command[] {
  const tokens = tokenize(src);
  let p = 0;
  const peek = () => tokens[p];
  const fail = (reason: string, at: Position = peek().at): never => {
    throw new SieveSyntaxError(at, reason);
  };
  const isPunct = (value: string) => {
    const t = peek();
    return t.kind === "punct" && t.value === value;
  };
  const expect = (value: string, what: string) => {
    if (!isPunct(value)) fail(`expected "${value}" ${what}, found ${describe(peek())}`);
    p++;
  };

  const commands = readCommands(0);
  if (peek().kind !== "eof") fail(`unexpected ${describe(peek())}`);
  return commands;

  function readCommands(depth: number): Command[] {
    const out: Command[] = [];
    while (peek().kind === "identifier") out.push(readCommand(depth));
    return out;
  }

  function readCommand(depth: number): Command {
    const head = peek() as Extract<Token, { kind: "identifier" }>;
    p++;
    const { args, tests, testList } = readArguments(depth);
    const cmd: Command = { name: head.value, args, tests, testList, at: head.at };
    if (isPunct(";")) {
      p++;
      return cmd;
    }
    if (isPunct("{")) {
      if (depth >= MAX_NESTING) fail(`blocks nest deeper than ${MAX_NESTING}`);
      p++;
      cmd.block = readCommands(depth + 1);
      expect("}", `to close the block of "${head.value}"`);
      return cmd;
    }
    return fail(`expected ";" or "{" after "${head.value}", found ${describe(peek())}`);
  }

  function readArguments(depth: number): { args: Argument[]; tests: Test[]; testList: boolean } {
    const args: Argument[] = [];
    for (;;) {
      const t = peek();
      if (t.kind === "tag") {
        args.push({ kind: "tag", name: t.value, at: t.at });
        p++;
      } else if (t.kind === "number") {
        args.push({ kind: "number", value: t.value, at: t.at });
        p++;
      } else if (t.kind === "string") {
        args.push({ kind: "strings", values: [t.value], list: false, at: t.at });
        p++;
      } else if (t.kind === "punct" && t.value === "[") {
        args.push(readStringList());
      } else break;
    }
    if (depth >= MAX_NESTING) fail(`tests nest deeper than ${MAX_NESTING}`);
    if (peek().kind === "identifier") {
      return { args, tests: [readTest(depth + 1)], testList: false };
    }
    if (isPunct("(")) {
      p++;
      const tests = [readTest(depth + 1)];
      while (isPunct(",")) {
        p++;
        tests.push(readTest(depth + 1));
      }
      expect(")", "to close the test list");
      return { args, tests, testList: true };
    }
    return { args, tests: [], testList: false };
  }

  function readTest(depth: number): Test {
    const t = peek();
    if (t.kind !== "identifier") return fail(`expected a test, found ${describe(t)}`);
    p++;
    const { args, tests, testList } = readArguments(depth);
    return { name: t.value, args, tests, testList, at: t.at };
  }

  function readStringList(): Argument {
    const at = peek().at;
    p++;
    const values: string[] = [];
    for (;;) {
      const t = peek();
      if (t.kind !== "string") return fail(`expected a string in the list, found ${describe(t)}`);
      values.push(t.value);
      p++;
      if (isPunct(",")) {
        p++;
        continue;
      }
      expect("]", "to close the string list");
      return { kind: "strings", values, list: true, at };
    }
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case "eof":
      return "the end of the script";
    case "string":
      return "a string";
    case "number":
      return `the number ${t.value}`;
    case "tag":
      return `the tag ":${t.value}"`;
    case "identifier":
      return `"${t.value}"`;
    default:
      return `"${t.value}"`;
  }
}
