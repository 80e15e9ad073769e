/**
 * Address-list header values (RFC 5322 section 3.4: mailboxes, angle-addrs, groups, comments,
 * quoted display names) read into name/address pairs the way mail readers read real-world
 * headers, which are often not RFC 5322: a bare address in free text is found, a comment names
 * an address that has no display name (`a@b (Alice)`), an unquoted comma in a display name is
 * folded back (`Joe Foo, PhD <joe@x>`), comments and a stray "<" inside an angle-addr are
 * dropped, a quoted local part keeps its quotes (no "@" or "," inside it can route or split a
 * list). This follows the process host's parser (nodemailer's
 * addressparser and mailparser's decoding) so both ports list the same recipients; display names
 * have their encoded-words decoded (RFC 2047 section 5), an encoded-word in an address is kept
 * only if it decodes to a plain local@domain, and IDNA domains (`xn--`) are shown in Unicode
 * (RFC 3492). Pure; never throws; linear in the input.
 */
import type { NamedAddress } from "../../schemas/mail.ts";
import { decodeWords } from "./encoded_words.ts";
import { domainToUnicode } from "./punycode.ts";

export { domainToUnicode };

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

/**
 * Inside an angle-addr, the quoted strings, comments and domain literals it holds, which its
 * closing ">" cannot come from (`<"a>b"@x.test>`).
 */
class AngleInner {
  quoted = false;
  comment = 0;
  literal = false;
  escaped = false;
  afterAt = false;
  /** Whether `c` sits inside one of them (the one that closes it included). */
  track(c: string): boolean {
    if (this.escaped) {
      this.escaped = false;
      return true;
    }
    if (this.quoted) {
      if (c === "\\") this.escaped = true;
      else if (c === '"') this.quoted = false;
      return true;
    }
    if (this.comment) {
      if (c === "\\") this.escaped = true;
      else if (c === "(") this.comment++;
      else if (c === ")") this.comment--;
      return true;
    }
    if (this.literal) {
      if (c === "]") this.literal = false;
      return true;
    }
    if (c === '"') this.quoted = true;
    else if (c === "(") this.comment = 1;
    else if (c === "[" && this.afterAt) this.literal = true;
    else {
      if (!/\s/.test(c)) this.afterAt = c === "@";
      return false;
    }
    return true;
  }
}

function tokenize(value: string): Token[] {
  const tokens: Token[] = [];
  let expecting = "";
  let escaped = false;
  let depth = 0;
  let text: Token | undefined;
  let inner = new AngleInner();
  for (let i = 0; i < value.length; i++) {
    let c = value[i];
    if (expecting === ">" && inner.track(c)) {
      text ??= tokens[tokens.push({ op: "", text: "" }) - 1];
      text.text += c === "\n" ? " " : c;
      continue;
    }
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
      inner = new AngleInner();
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
  const angle: string[] = [];
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
    const list = state === "address" ? angle : state === "comment" ? comment : text;
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
  // Comments inside the angle-addr are not part of it (and a stray "<" restarts it).
  const addressComments: string[] = [];
  let address = angle.flatMap((part) => {
    const stripped = stripAddressComments(part);
    addressComments.push(...stripped.comments);
    return stripped.address ? [stripped.address] : [];
  });
  if (address.length === 0 && text.length > 0 && !fromComment) {
    // The first addr-spec in the text is the mailbox; then the first one inside free text.
    const strict = text.findIndex((t, i) => !quoted[i] && PLAIN.test(collapseAt(t)));
    if (strict >= 0) {
      address = [collapseAt(text[strict])];
      text.splice(strict, 1);
      quoted.splice(strict, 1);
    } else {
      for (let i = 0; i < text.length && address.length === 0; i++) {
        if (quoted[i]) continue;
        text[i] = text[i].replace(/\s*\b[^@\s]+@[^\s]+\b\s*/, (found) => {
          address.push(found.trim());
          return " ";
        }).trim();
      }
    }
  }
  if (text.length === 0 && comment.length > 0) text = comment.splice(0);
  if (address.length > 1) text.push(...address.splice(1));
  const fromQuoted = address.length === 0 && quoted.some((q) => q);
  let name = text.filter((t) => t).join(" ");
  let addr = address.join(" ");
  // Only quoted text is left and it holds an "@": that is a quoted local part, and its quotes
  // go back on, so no "@" or "," inside it can route or split (`"a@evil, b"@good.test`).
  if (fromQuoted && name.includes("@")) {
    const at = name.lastIndexOf("@");
    addr = quoteLocalPart(name.slice(0, at).trimEnd() + "@" + name.slice(at + 1).trimStart());
    name = "";
  }
  // An angle-addr holding more than a mailbox (`<a@x.test junk>`, an unclosed "<"): the run
  // that reads as an address is the address, the rest display text.
  addr = collapseAt(addr);
  if (/\s/.test(addr)) {
    const quotedLocal = addr.match(/^("(?:[^"\\]|\\[\s\S])*"@\S+)(?:\s+([\s\S]+))?$/);
    if (quotedLocal?.[2]) {
      addr = quotedLocal[1];
      name = [name, quotedLocal[2]].filter((t) => t).join(" ");
    } else if (!quotedLocal && !addr.includes('"')) {
      const runs = addr.split(/\s+/);
      let pick = runs.findIndex((r) => PLAIN.test(r) || /^[^@\s]+@\[[^[\]\\\s]*\]$/.test(r));
      if (pick < 0) pick = runs.findIndex((r) => /^[^@\s]+@\S+$/.test(r));
      if (pick >= 0) {
        addr = runs[pick];
        name = [name, ...runs.filter((_, i) => i !== pick)].filter((t) => t).join(" ");
      }
    }
  }
  // A comment names the mailbox only when nothing else does.
  if (!name && addressComments.length > 0) {
    name = addressComments.join(" ");
    fromComment = true;
  }
  const entry = { address: addr || (fromComment ? "" : name), name: name || addr };
  if (entry.address === entry.name) {
    if (entry.address.includes("@")) entry.name = "";
    else entry.address = "";
  }
  return entry;
}

/**
 * Whitespace beside an address's "@" dropped (RFC 5322 section 4.4 allows CFWS there), when it
 * has exactly one "@" and no quoted string after it.
 */
function collapseAt(value: string): string {
  const at = value.indexOf("@");
  if (at < 0 || value.indexOf("@", at + 1) >= 0 || value.lastIndexOf('"') > at) return value;
  return value.slice(0, at).trimEnd() + "@" + value.slice(at + 1).trimStart();
}

/**
 * Comments taken out of an angle-addr's text (nested, with escapes; one left open runs to the
 * end), a stray "<" restarting it as Apple Mail does, an obsolete route (`@a,@b:`) dropped.
 */
function stripAddressComments(value: string): { address: string; comments: string[] } {
  const comments: string[] = [];
  let result = "";
  let comment = "";
  let depth = 0;
  let closer = "";
  let lastChar = "";
  let pendingSpace = false;
  let firstChar = "";
  let quoteSeen = false;
  let routeEnd = -1;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (depth) {
      if (c === "\\" && i < value.length - 1) comment += value[++i];
      else if (c === "(") {
        depth++;
        comment += c;
      } else if (c === ")" && !--depth) {
        comments.push(comment.trim());
        comment = "";
        pendingSpace = lastChar !== "@";
      } else comment += c;
      continue;
    }
    if (pendingSpace && c !== "(") {
      pendingSpace = false;
      if (c !== "@" && c !== "<" && !/\s/.test(c)) {
        result += " ";
        lastChar = " ";
      }
    }
    if (closer) {
      if (c === "\\" && closer === '"' && i < value.length - 1) {
        result += c + value[++i];
        lastChar = value[i];
        continue;
      }
      if (c === closer) closer = "";
    } else if (c === '"') {
      closer = '"';
      quoteSeen = true;
    } else if (c === ":" && routeEnd < 0 && firstChar === "@" && !quoteSeen) {
      routeEnd = result.length + 1;
    } else if (c === "[") closer = "]";
    else if (c === "(") {
      depth = 1;
      continue;
    } else if (c === "<") {
      result = "";
      lastChar = "";
      comments.length = 0;
      firstChar = "";
      quoteSeen = false;
      routeEnd = -1;
      continue;
    }
    result += c;
    lastChar = c;
    if (!firstChar && !/\s/.test(c)) firstChar = c;
  }
  if (routeEnd >= 0 && result.indexOf("@", routeEnd) >= 0) result = result.slice(routeEnd);
  if (depth) comments.push(comment.trim());
  return { address: result.trim(), comments: comments.filter((t) => t) };
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
