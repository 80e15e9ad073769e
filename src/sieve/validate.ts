/**
 * Validation (RFC 5228 section 2.10.5 and each extension's grammar): every command and test is
 * known, its extension was `require`d (section 3.2), tags and positional arguments have the
 * right kinds, a comparator, match type or address part is given once, `elsif`/`else` follow an
 * `if`, and `require` comes first. Every problem is reported at once, each with its position.
 * What comes out is the normalised program the interpreter runs (tags resolved by name).
 */
import type { Position, SieveProblem } from "./errors.ts";
import { SieveSyntaxError } from "./errors.ts";
import { type Argument, type Command, parseCommands, type Test } from "./parser.ts";
import { type ArgKind, COMMANDS, type Spec, TESTS } from "./specs.ts";
import { decodeEncodedCharacters } from "./encoded.ts";

/** The extensions Postern implements (RFC 5804 SIEVE capability). */
export const EXTENSIONS = [
  "fileinto",
  "reject",
  "ereject",
  "envelope",
  "encoded-character",
  "imap4flags",
  "variables",
  "vacation",
  "copy",
  "relational",
  "subaddress",
  "date",
  "index",
  "body",
  "comparator-i;octet",
  "comparator-i;ascii-casemap",
  "comparator-i;ascii-numeric",
] as const;
const KNOWN = new Set<string>(EXTENSIONS);
/** Comparators that need no `require` (RFC 5228 section 2.7.3). */
const BUILTIN_COMPARATORS = new Set(["i;octet", "i;ascii-casemap"]);

export type Value = string[] | number;

export interface Node {
  name: string;
  /** Tags present; a tag with an argument maps to it, a flag tag to `true`. */
  tags: Map<string, Value | true>;
  positional: Value[];
  tests: Node[];
  block?: Node[];
  at: Position;
}

export interface Program {
  commands: Node[];
  extensions: Set<string>;
}

export type ParseResult =
  | { ok: true; program: Program; warnings: string[] }
  | { ok: false; errors: SieveProblem[] };

/** Parses and validates a script; never throws for bad input. */
export function parseScript(src: string): ParseResult {
  let commands: Command[];
  try {
    commands = parseCommands(src);
  } catch (e) {
    if (e instanceof SieveSyntaxError) {
      return { ok: false, errors: [{ ...e.at, reason: e.reason }] };
    }
    throw e;
  }
  const v = new Validator();
  const program = v.run(commands);
  if (v.errors.length > 0) return { ok: false, errors: v.errors };
  return { ok: true, program, warnings: v.warnings };
}

class Validator {
  errors: SieveProblem[] = [];
  warnings: string[] = [];
  extensions = new Set<string>();

  error(at: Position, reason: string) {
    if (this.errors.length < 50) this.errors.push({ ...at, reason });
  }

  run(commands: Command[]): Program {
    let leading = true;
    for (const c of commands) {
      if (c.name !== "require") leading = false;
      else if (!leading) this.error(c.at, '"require" must come before any other command');
    }
    return { commands: this.block(commands, true), extensions: this.extensions };
  }

  block(commands: Command[], top: boolean): Node[] {
    const out: Node[] = [];
    let previous: string | undefined;
    for (const c of commands) {
      if ((c.name === "elsif" || c.name === "else") && previous !== "if" && previous !== "elsif") {
        this.error(c.at, `"${c.name}" must follow "if" or "elsif"`);
      }
      if (c.name === "require" && !top) this.error(c.at, '"require" is allowed at the top only');
      const node = this.command(c);
      if (node) out.push(node);
      previous = c.name;
    }
    return out;
  }

  command(c: Command): Node | undefined {
    if (c.name === "require") {
      this.require(c);
      return undefined;
    }
    const spec = COMMANDS[c.name];
    if (!spec) {
      this.error(c.at, `unknown command "${c.name}"`);
      return undefined;
    }
    const node = this.check(c, spec, "command");
    if (spec.block && c.block === undefined) this.error(c.at, `"${c.name}" needs a block`);
    if (!spec.block && c.block !== undefined) {
      this.error(c.at, `"${c.name}" takes no block (end it with ";")`);
    }
    if (c.block) node.block = this.block(c.block, false);
    return node;
  }

  require(c: Command) {
    const arg = c.args[0];
    if (c.args.length !== 1 || arg.kind !== "strings" || c.tests.length > 0) {
      this.error(c.at, '"require" takes one string or string list');
      return;
    }
    for (const raw of arg.values) {
      const name = raw.toLowerCase();
      if (!KNOWN.has(name)) this.error(arg.at, `unsupported extension "${raw}"`);
      else this.extensions.add(name);
    }
  }

  test(t: Test): Node {
    const spec = TESTS[t.name];
    if (!spec) {
      this.error(t.at, `unknown test "${t.name}"`);
      return { name: t.name, tags: new Map(), positional: [], tests: [], at: t.at };
    }
    return this.check(t, spec, "test");
  }

  check(c: Test, spec: Spec, what: "command" | "test"): Node {
    const node: Node = { name: c.name, tags: new Map(), positional: [], tests: [], at: c.at };
    if (spec.ext && !this.extensions.has(spec.ext)) {
      this.error(c.at, `${what} "${c.name}" needs require "${spec.ext}"`);
    }
    const groups = new Map<string, string>();
    const args = c.args;
    const positional: Argument[] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (a.kind !== "tag") {
        positional.push(a);
        node.positional.push(this.value(a));
        continue;
      }
      const tag = spec.tags?.[a.name];
      if (!tag) {
        this.error(a.at, `"${c.name}" has no tag ":${a.name}"`);
        continue;
      }
      if (tag.ext && !tag.ext.some((e) => this.extensions.has(e))) {
        this.error(a.at, `":${a.name}" needs require "${tag.ext[0]}"`);
      }
      if (tag.group) {
        const other = groups.get(tag.group);
        if (other) this.error(a.at, `":${a.name}" and ":${other}" cannot be used together`);
        groups.set(tag.group, a.name);
      } else if (node.tags.has(a.name)) this.error(a.at, `":${a.name}" is given twice`);
      if (!tag.arg) {
        node.tags.set(a.name, true);
        continue;
      }
      const next = args[i + 1];
      if (!next || next.kind === "tag" || !fits(next, tag.arg)) {
        this.error(a.at, `":${a.name}" needs ${KIND_NAMES[tag.arg]} after it`);
        continue;
      }
      i++;
      node.tags.set(a.name, this.value(next));
    }
    const kinds = spec.positional ?? [];
    const min = spec.optionalFrom ?? kinds.length;
    if (positional.length < min || positional.length > kinds.length) {
      const count = min === kinds.length ? `${min}` : `${min} to ${kinds.length}`;
      const list = kinds.map((k) => KIND_NAMES[k]).join(", ");
      this.error(
        c.at,
        `"${c.name}" takes ${count} positional argument(s)${list ? ` (${list})` : ""}, ` +
          `got ${positional.length}`,
      );
    } else {
      positional.forEach((a, i) => {
        if (!fits(a, kinds[i])) {
          this.error(a.at, `argument ${i + 1} of "${c.name}" must be ${KIND_NAMES[kinds[i]]}`);
        }
      });
    }
    const want = spec.tests ?? "none";
    if (want === "none" && c.tests.length > 0) this.error(c.at, `"${c.name}" takes no test`);
    if (want === "one" && (c.tests.length !== 1 || c.testList)) {
      this.error(c.at, `"${c.name}" needs exactly one test`);
    }
    if (want === "list" && !c.testList) this.error(c.at, `"${c.name}" needs a test list (…)`);
    node.tests = c.tests.map((t) => this.test(t));
    spec.check?.(node, (reason, at = c.at) => this.error(at, reason), this.extensions);
    this.comparator(node);
    return node;
  }

  /** RFC 5228 section 2.7.3 and RFC 4790: a comparator must be known and required. */
  comparator(node: Node) {
    const cmp = node.tags.get("comparator");
    if (!Array.isArray(cmp)) return;
    const name = cmp[0].toLowerCase();
    // RFC 4790 section 9.1: i;ascii-numeric orders and compares, it has no substring operation.
    if (name === "i;ascii-numeric" && (node.tags.has("contains") || node.tags.has("matches"))) {
      this.error(node.at, "i;ascii-numeric cannot be used with :contains or :matches");
    }
    if (BUILTIN_COMPARATORS.has(name)) return;
    if (!KNOWN.has(`comparator-${name}`)) {
      this.error(node.at, `unknown comparator "${cmp[0]}"`);
    } else if (!this.extensions.has(`comparator-${name}`)) {
      this.error(node.at, `comparator "${name}" needs require "comparator-${name}"`);
    }
  }

  /** A string argument, with RFC 5228 section 2.4.2.4 encoded characters decoded when required. */
  value(a: Exclude<Argument, { kind: "tag" }>): Value {
    if (a.kind === "number") return a.value;
    if (!this.extensions.has("encoded-character")) return a.values;
    return a.values.map((s) => {
      const decoded = decodeEncodedCharacters(s);
      if (decoded === undefined) {
        this.error(a.at, "bad ${hex:…} or ${unicode:…} encoding");
        return s;
      }
      return decoded;
    });
  }
}

const KIND_NAMES: Record<ArgKind, string> = {
  string: "a string",
  strings: "a string list",
  number: "a number",
};

function fits(a: Argument, kind: ArgKind): boolean {
  if (kind === "number") return a.kind === "number";
  if (kind === "string") return a.kind === "strings" && !a.list && a.values.length === 1;
  return a.kind === "strings";
}
