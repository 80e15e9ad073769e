/**
 * Address-list header values (RFC 5322 section 3.4: mailboxes, angle-addrs, groups, comments,
 * quoted display names) read into name/address pairs the way mail readers read real-world
 * headers, which are often not RFC 5322: a bare address in free text is found, a comment names
 * an address that has no display name (`a@b (Alice)`), an unquoted comma in a display name is
 * folded back (`Joe Foo, PhD <joe@x>`). This follows the process host's parser (nodemailer's
 * addressparser and mailparser's decoding) so both ports list the same recipients; display names
 * have their encoded-words decoded (RFC 2047 section 5), an encoded-word in an address is kept
 * only if it decodes to a plain local@domain, and IDNA domains (`xn--`) are shown in Unicode
 * (RFC 3492). Pure; never throws; linear in the input.
 */
import type { NamedAddress } from "../../schemas/mail.ts";
import { decodeWords } from "./encoded_words.ts";

interface Token {
  op: string;
  text: string;
  /** A closing operator followed directly by text: that text continues the run before it. */
  noBreak?: boolean;
}

/** Operators and the character that closes what they open (a group's members are a list). */
const OPERATORS: Record<string, string> = {
  '"': '"',
  "(": ")",
  "<": ">",
  ",": "",
  ":": "",
  ";": "",
};

function tokenize(value: string): Token[] {
  const tokens: Token[] = [];
  let expecting = "";
  let escaped = false;
  let depth = 0;
  let text: Token | undefined;
  for (let i = 0; i < value.length; i++) {
    let c = value[i];
    if (!escaped && expecting === ")" && c === "(") depth++;
    else if (!escaped && expecting === ")" && c === ")" && depth > 0) {
      depth--;
      text ??= tokens[tokens.push({ op: "", text: "" }) - 1];
      text.text += c;
      continue;
    }
    if (escaped) {
      // the character is taken as it is
    } else if (expecting && c === expecting) {
      const next = value[i + 1];
      tokens.push({ op: c, text: "", noBreak: next !== undefined && !" \t\r\n,;".includes(next) });
      text = undefined;
      expecting = "";
      continue;
    } else if (!expecting && c in OPERATORS) {
      tokens.push({ op: c, text: "" });
      text = undefined;
      expecting = OPERATORS[c];
      continue;
    } else if ((expecting === '"' || expecting === ")") && c === "\\") {
      escaped = true;
      continue;
    }
    text ??= tokens[tokens.push({ op: "", text: "" }) - 1];
    if (c === "\n") c = " ";
    if (c.charCodeAt(0) >= 0x21 || c === " " || c === "\t") text.text += c;
    escaped = false;
  }
  for (const t of tokens) if (!t.op) t.text = t.text.trim();
  return tokens.filter((t) => t.op || t.text);
}

/** One mailbox, or a group of them (its `name` is the group's display name). */
export interface AddressEntry {
  name: string;
  address: string;
  group?: AddressEntry[];
}
type Entry = AddressEntry;

const PLAIN = /^[^@\s]+@[^@\s]+$/;

/** One mailbox from its tokens. */
function mailbox(tokens: Token[]): Entry {
  const address: string[] = [];
  const comment: string[] = [];
  let text: string[] = [];
  /** Whether each text run was a quoted string: no address is taken out of one. */
  let quoted: boolean[] = [];
  let state: "text" | "address" | "comment" = "text";
  let inQuotes = false;
  let previous: Token | undefined;
  for (const t of tokens) {
    const after = previous;
    previous = t;
    if (t.op) {
      inQuotes = t.op === '"' ? !inQuotes : false;
      state = t.op === "<" ? "address" : t.op === "(" ? "comment" : "text";
      continue;
    }
    const list = state === "address" ? address : state === "comment" ? comment : text;
    const last = list.length - 1;
    // Text right after a closing quote, bracket or parenthesis continues the run before it
    // (`"john"@x.test`); a comment joins only across an "@" (it is folding whitespace).
    if (
      after?.noBreak && last >= 0 &&
      (after.op !== ")" || list[last].endsWith("@") || t.text.startsWith("@"))
    ) {
      list[last] += t.text;
      if (state === "text" && inQuotes) quoted[last] = true;
      continue;
    }
    list.push(t.text);
    if (state === "text") quoted.push(inQuotes);
  }
  let fromComment = false;
  if (text.length === 0 && comment.length > 0) {
    text = comment.splice(0);
    quoted = text.map(() => false);
    fromComment = true;
  }
  if (address.length === 0 && text.length > 0 && !fromComment) {
    // The first addr-spec in the text is the mailbox; then the first one inside free text.
    const strict = text.findIndex((t, i) => !quoted[i] && PLAIN.test(t.replace(/\s*@\s*/, "@")));
    if (strict >= 0) {
      address.push(text[strict].replace(/\s*@\s*/, "@"));
      text.splice(strict, 1);
    } else {
      for (let i = 0; i < text.length && address.length === 0; i++) {
        if (quoted[i]) continue;
        text[i] = text[i].replace(/\s*\b[^@\s]+@[^\s]+\b\s*/, (found) => {
          address.push(found.trim());
          return " ";
        }).trim();
      }
      text = text.filter((t) => t);
    }
  }
  if (text.length === 0 && comment.length > 0) text = comment.splice(0);
  if (address.length > 1) text.push(...address.splice(1));
  // A second "<" inside an angle-addr drops what comes before it (as Apple Mail reads it).
  let addr = address.map((a) => a.slice(a.lastIndexOf("<") + 1).trim()).filter((a) => a)
    .join(" ").replace(/\s*@\s*/, "@");
  // An angle-addr holding more than a mailbox (`<a@x.test junk>`, an unclosed "<"): the run
  // that reads as an address is the address, the rest display text.
  if (/\s/.test(addr) && !addr.startsWith('"')) {
    const runs = addr.split(/\s+/).filter((r) => r);
    let pick = runs.findIndex((r) => PLAIN.test(r));
    if (pick < 0) pick = runs.findIndex((r) => /^[^@\s]+@\S+$/.test(r));
    if (pick >= 0) {
      addr = runs[pick];
      text.push(...runs.filter((_, i) => i !== pick));
    }
  }
  let name = text.join(" ");
  // Only quoted text is left and it holds an "@": that is a quoted local part, and its quotes
  // go back on, so no "@" or "," inside it can route or split (`"a@evil, b"@good.test`).
  if (!addr && quoted.some((q) => q) && name.includes("@")) {
    addr = quoteLocalPart(name.replace(/\s*@\s*(?=[^@]*$)/, "@"));
    name = "";
  }
  const entry = { address: addr || (fromComment ? "" : name), name: name || addr };
  if (entry.address === entry.name) {
    if (entry.address.includes("@")) entry.name = "";
    else entry.address = "";
  }
  return entry;
}

/** An address whose local part needs quoting (RFC 5322 section 3.4.1) gets its quotes back. */
function quoteLocalPart(address: string): string {
  const at = address.lastIndexOf("@");
  if (at < 0) return address;
  const local = address.slice(0, at);
  if (/^[^\s"(),:;<>@[\\\]]+$/.test(local) || /^"(?:[^"\\]|\\[\s\S])*"$/.test(local)) {
    return address;
  }
  return `"${local.replace(/["\\]/g, "\\$&")}"@${address.slice(at + 1)}`;
}

/** "Joe Foo, PhD <joe@x>" was split at its comma: a name-only entry joins the next one. */
function mergeFragments(list: Entry[]): Entry[] {
  const merged: Entry[] = [];
  for (let i = list.length - 1; i >= 0; i--) {
    const current = list[i];
    const next = merged[merged.length - 1];
    if (
      next && current.address === "" && current.name && !current.group && next.address && next.name
    ) {
      next.name = `${current.name}, ${next.name}`;
    } else merged.push(current);
  }
  return merged.reverse();
}

function parseEntries(value: string): Entry[] {
  const tokens = tokenize(value);
  const out: Entry[] = [];
  let group: Entry | undefined;
  let members: Entry[] = [];
  let from = 0;
  for (let i = 0; i <= tokens.length; i++) {
    const op = i < tokens.length ? tokens[i].op : "";
    if (i < tokens.length && op !== "," && op !== ";" && op !== ":") continue;
    if (op === ":") {
      if (!group) {
        group = {
          name: tokens.slice(from, i).filter((t) => !t.op).map((t) => t.text).join(" "),
          address: "",
          group: [],
        };
        members = [];
      }
      from = i + 1;
      continue;
    }
    if (i > from) {
      (group ? members : out).push(mailbox(tokens.slice(from, i)));
    }
    from = i + 1;
    if (group && (op === ";" || i === tokens.length)) {
      group.group = mergeFragments(members);
      out.push(group);
      group = undefined;
    }
  }
  return mergeFragments(out);
}

// RFC 3492 section 5 parameters.
const BASE = 36, TMIN = 1, TMAX = 26, SKEW = 38, DAMP = 700;

function adapt(delta: number, points: number, first: boolean): number {
  delta = first ? Math.floor(delta / DAMP) : delta >> 1;
  delta += Math.floor(delta / points);
  let k = 0;
  while (delta > ((BASE - TMIN) * TMAX) >> 1) {
    delta = Math.floor(delta / (BASE - TMIN));
    k += BASE;
  }
  return k + Math.floor(((BASE - TMIN + 1) * delta) / (delta + SKEW));
}

/** One Punycode label decoded (RFC 3492 section 6.2); throws on bad input. */
function punycodeLabel(input: string): string {
  const output: number[] = [];
  const basic = input.lastIndexOf("-");
  for (let j = 0; j < Math.max(basic, 0); j++) {
    if (input.charCodeAt(j) >= 0x80) throw new Error("not basic");
    output.push(input.charCodeAt(j));
  }
  let n = 128, i = 0, bias = 72;
  for (let index = basic > 0 ? basic + 1 : 0; index < input.length;) {
    const oldi = i;
    for (let w = 1, k = BASE;; k += BASE) {
      if (index >= input.length) throw new Error("bad input");
      const c = input.charCodeAt(index++);
      const digit = c >= 0x30 && c <= 0x39
        ? c - 22
        : c >= 0x41 && c <= 0x5a
        ? c - 0x41
        : c >= 0x61 && c <= 0x7a
        ? c - 0x61
        : BASE;
      if (digit >= BASE) throw new Error("bad digit");
      i += digit * w;
      const t = k <= bias ? TMIN : k >= bias + TMAX ? TMAX : k - bias;
      if (digit < t) break;
      w *= BASE - t;
      if (w > 0x7fffffff) throw new Error("overflow");
    }
    const points = output.length + 1;
    bias = adapt(i - oldi, points, oldi === 0);
    n += Math.floor(i / points);
    i %= points;
    if (n > 0x10ffff) throw new Error("overflow");
    output.splice(i++, 0, n);
  }
  return String.fromCodePoint(...output);
}

/** A domain with its `xn--` labels in Unicode (kept as written if one does not decode). */
export function domainToUnicode(domain: string): string {
  try {
    return domain.split(".").map((label) =>
      label.startsWith("xn--") ? punycodeLabel(label.slice(4).toLowerCase()) : label
    ).join(".");
  } catch {
    return domain;
  }
}

const ENCODED_WORD = /=\?[^?]+\?[BbQq]\?[^?]*\?=/;

function decodeEntries(list: Entry[]): void {
  for (const entry of list) {
    entry.name = entry.name.trim();
    if (entry.name) entry.name = decodeWords(entry.name);
    // RFC 2047 section 5: no encoded-words in an addr-spec; keep one only if it is plain.
    if (entry.address && ENCODED_WORD.test(entry.address)) {
      const decoded = decodeWords(entry.address);
      entry.address = PLAIN.test(decoded) && !/=\?/.test(decoded) ? decoded : "";
    }
    if (entry.address && /@xn--/.test(entry.address)) {
      const at = entry.address.lastIndexOf("@");
      entry.address = entry.address.slice(0, at + 1) + domainToUnicode(entry.address.slice(at + 1));
    }
    if (entry.group) decodeEntries(entry.group);
  }
}

/** An address-list value as entries and groups, names and domains decoded. */
export function readAddressEntries(value: string): AddressEntry[] {
  const entries = parseEntries(value);
  decodeEntries(entries);
  return entries;
}

/** The mailboxes of entries, groups flattened, entries without address dropped. */
export function flattenAddresses(entries: AddressEntry[]): NamedAddress[] {
  const out: NamedAddress[] = [];
  const walk = (list: Entry[]) => {
    for (const entry of list) {
      if (entry.group) walk(entry.group);
      else if (entry.address) out.push({ name: entry.name, address: entry.address });
    }
  };
  walk(entries);
  return out;
}

/** The mailboxes of an address-list value, groups flattened, entries without address dropped. */
export const readAddressList = (value: string): NamedAddress[] =>
  flattenAddresses(readAddressEntries(value));
