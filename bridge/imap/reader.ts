/**
 * The lexical layer of IMAP command parsing (RFC 3501 section 9 formal syntax): a cursor over a
 * command as the server received it — text lines and the literal octets between them
 * (`{n}` and LITERAL+ `{n+}`, RFC 7888) — with readers for atoms, astrings, quoted strings,
 * literals, numbers and sequence sets (section 9 `sequence-set`, with `*` and RFC 5182 `$`).
 * Bad input raises `ParseError`, which the command parser turns into a result; nothing here
 * escapes to the caller as an exception.
 */

/** A command as received: text, literal, text, literal, …, text. */
export type CommandParts = (string | Uint8Array)[];

export class ParseError extends Error {}

/** `{n}` / `{n+}` at the end of a line announces a literal (RFC 3501 section 4.3). */
export const LITERAL_RE = /\{(\d{1,20})(\+?)\}$/;

/** One range of a sequence set; `"*"` is the largest number in use. */
export type SeqRange = [number | "*", number | "*"];
/** A sequence set, or `$` (the saved search result of RFC 5182). */
export type SequenceSet = { ranges: SeqRange[] } | { saved: true };

const decoder = new TextDecoder();

// atom-specials: ( ) { SP CTL list-wildcards quoted-specials resp-specials
// deno-lint-ignore no-control-regex
const ATOM_CHAR = /[^(){ \x00-\x1f\x7f%*"\\\]]/;
// deno-lint-ignore no-control-regex
const ASTRING_CHAR = /[^(){ \x00-\x1f\x7f%*"\\]/;
// list-char: ATOM-CHAR / list-wildcards / resp-specials
// deno-lint-ignore no-control-regex
const LIST_CHAR = /[^(){ \x00-\x1f\x7f"\\]/;

export class Reader {
  private part = 0;
  private pos = 0;
  constructor(private readonly parts: CommandParts) {
    if (parts.length === 0 || typeof parts[0] !== "string") this.parts = [""];
  }

  private get text(): string {
    const p = this.parts[this.part];
    return typeof p === "string" ? p : "";
  }

  /** The next character of the current text, or undefined at the end of the command. */
  peek(): string | undefined {
    return this.text[this.pos];
  }

  /** True when nothing is left at all. */
  get atEnd(): boolean {
    return this.pos >= this.text.length && this.part >= this.parts.length - 1;
  }

  fail(what: string): never {
    throw new ParseError(what);
  }

  /** Consumes `c` if it is next. */
  eat(c: string): boolean {
    if (this.text.startsWith(c, this.pos)) {
      this.pos += c.length;
      return true;
    }
    return false;
  }

  expect(c: string, what = `expected "${c}"`): void {
    if (!this.eat(c)) this.fail(what);
  }

  sp(): void {
    this.expect(" ", "expected a space");
  }

  end(): void {
    if (!this.atEnd) this.fail(`unexpected "${this.text.slice(this.pos, this.pos + 20)}"`);
  }

  private run(re: RegExp): string {
    const start = this.pos;
    const t = this.text;
    while (this.pos < t.length && re.test(t[this.pos])) this.pos++;
    return t.slice(start, this.pos);
  }

  atom(what = "expected an atom"): string {
    const a = this.run(ATOM_CHAR);
    if (a.length === 0) this.fail(what);
    return a;
  }

  /** A keyword-ish atom that may hold `[`, `]`, `.` (fetch-att names stop at "[" or "<"). */
  word(): string {
    return this.run(/[A-Za-z0-9.\-]/);
  }

  number(what = "expected a number"): number {
    const d = this.run(/[0-9]/);
    if (d.length === 0 || d.length > 10) this.fail(what);
    const n = Number(d);
    if (n > 0xffffffff) this.fail(what);
    return n;
  }

  nzNumber(what = "expected a non-zero number"): number {
    const n = this.number(what);
    if (n === 0) this.fail(what);
    return n;
  }

  /** mod-sequence-value (RFC 7162 section 7): 1 to 2^63-1. */
  modseq(): number {
    const d = this.run(/[0-9]/);
    if (d.length === 0 || d.length > 19) this.fail("expected a mod-sequence");
    const n = Number(d);
    if (!Number.isSafeInteger(n)) this.fail("mod-sequence out of range");
    return n;
  }

  /** A literal announced at the end of the current text part; its octets. */
  private literal(): Uint8Array | undefined {
    const rest = this.text.slice(this.pos);
    const m = LITERAL_RE.exec(rest);
    if (!m || m.index !== 0) return undefined;
    const lit = this.parts[this.part + 1];
    if (!(lit instanceof Uint8Array) || lit.byteLength !== Number(m[1])) {
      this.fail("literal octets missing");
    }
    this.part += 2;
    this.pos = 0;
    if (this.part >= this.parts.length) this.parts.push("");
    return lit;
  }

  /** quoted / literal as octets (RFC 3501 `string`). */
  stringBytes(): Uint8Array {
    if (this.peek() === "{") {
      const lit = this.literal();
      if (lit) return lit;
      this.fail("malformed literal");
    }
    return new TextEncoder().encode(this.quoted());
  }

  quoted(): string {
    this.expect('"', "expected a string");
    let out = "";
    const t = this.text;
    for (;;) {
      const c = t[this.pos++];
      if (c === undefined) this.fail("unterminated quoted string");
      if (c === '"') return out;
      if (c === "\\") {
        const e = t[this.pos++];
        if (e !== '"' && e !== "\\") this.fail("bad escape in quoted string");
        out += e;
      } else if (c === "\r" || c === "\n") {
        this.fail("line break in quoted string");
      } else out += c;
    }
  }

  string(): string {
    if (this.peek() === "{") return decoder.decode(this.stringBytes());
    return this.quoted();
  }

  /** astring = 1*ASTRING-CHAR / string */
  astring(what = "expected a string"): string {
    const c = this.peek();
    if (c === '"' || c === "{") return this.string();
    const a = this.run(ASTRING_CHAR);
    if (a.length === 0) this.fail(what);
    return a;
  }

  /** nstring = string / NIL */
  nstring(): string | null {
    if (this.peek() === '"' || this.peek() === "{") return this.string();
    const a = this.atom("expected a string or NIL");
    if (a.toUpperCase() !== "NIL") this.fail("expected a string or NIL");
    return null;
  }

  /** list-mailbox = 1*list-char / string (LIST patterns keep % and *). */
  listMailbox(): string {
    const c = this.peek();
    if (c === '"' || c === "{") return this.string();
    const a = this.run(LIST_CHAR);
    if (a.length === 0) this.fail("expected a mailbox pattern");
    return a;
  }

  /** A flag: `\Seen`, `\*` (in PERMANENTFLAGS only) or a keyword atom. */
  flag(): string {
    if (this.eat("\\")) {
      if (this.eat("*")) return "\\*";
      return "\\" + this.atom("expected a flag name");
    }
    return this.atom("expected a flag");
  }

  /** `(flag *(SP flag))` or, where allowed, a bare flag list without parentheses. */
  flagList(allowBare: boolean): string[] {
    const flags: string[] = [];
    if (this.eat("(")) {
      if (this.eat(")")) return flags;
      flags.push(this.flag());
      while (this.eat(" ")) flags.push(this.flag());
      this.expect(")", "unbalanced parentheses in flag list");
      return flags;
    }
    if (!allowBare) this.fail("expected a flag list");
    flags.push(this.flag());
    while (this.peek() === " " && this.text[this.pos + 1] !== undefined) {
      const save = this.pos;
      this.pos++;
      const c = this.peek();
      if (c === "\\" || (c !== undefined && ATOM_CHAR.test(c))) flags.push(this.flag());
      else {
        this.pos = save;
        break;
      }
    }
    return flags;
  }

  sequenceSet(): SequenceSet {
    if (this.eat("$")) return { saved: true };
    const ranges: SeqRange[] = [];
    do {
      const a = this.seqNumber();
      const b = this.eat(":") ? this.seqNumber() : a;
      ranges.push([a, b]);
    } while (this.eat(","));
    return { ranges };
  }

  private seqNumber(): number | "*" {
    if (this.eat("*")) return "*";
    return this.nzNumber("invalid sequence set");
  }
}

/** The members of `set` among `max` (the largest UID or sequence number in use), ascending. */
export function* expandSet(set: { ranges: SeqRange[] }, max: number): Generator<[number, number]> {
  for (const [a, b] of set.ranges) {
    const x = a === "*" ? max : a;
    const y = b === "*" ? max : b;
    yield x <= y ? [x, y] : [y, x];
  }
}

/** Whether `n` is in `set`, where `*` stands for `max`. */
export function inSet(set: { ranges: SeqRange[] }, n: number, max: number): boolean {
  for (const [lo, hi] of expandSet(set, max)) if (n >= lo && n <= hi) return true;
  return false;
}
