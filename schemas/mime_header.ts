/**
 * Header-level MIME helpers for the part tree of `mime_structure.ts`: splitting a header block
 * into unfolded fields (RFC 5322 section 2.2.3), structured-value tokens with comments removed
 * (RFC 2045 section 5.1), parameters with RFC 2231 continuations joined but charsets and
 * percent-encoding kept raw (what IMAP BODYSTRUCTURE carries), and address lists with groups in
 * the IMAP ENVELOPE form of RFC 3501 section 7.4.2. Pure and total: malformed input yields a
 * best-effort value, never an exception.
 */

/** One address in IMAP ENVELOPE form; group start is (NIL NIL name NIL), group end all NIL. */
export interface EnvelopeAddress {
  name: string | null;
  adl: string | null;
  mailbox: string | null;
  host: string | null;
}

export interface HeaderField {
  /** The field name as written. */
  name: string;
  /** The value unfolded (CRLF before whitespace removed), leading and trailing space trimmed. */
  value: string;
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** Offset of the first byte after the header block's terminating empty line, and where the
 * fields end. Accepts CRLF and bare LF line ends; with no empty line the header runs to `end`. */
export function findHeaderEnd(raw: Uint8Array, start: number, end: number): {
  fieldsEnd: number;
  bodyStart: number;
} {
  // An empty header (the part starts with its empty line).
  if (start >= end) return { fieldsEnd: end, bodyStart: end };
  if (raw[start] === 0x0a) return { fieldsEnd: start, bodyStart: start + 1 };
  if (raw[start] === 0x0d && raw[start + 1] === 0x0a && start + 1 < end) {
    return { fieldsEnd: start, bodyStart: start + 2 };
  }
  for (let i = start; i < end; i++) {
    if (raw[i] !== 0x0a) continue;
    const next = i + 1;
    if (next < end && raw[next] === 0x0a) return { fieldsEnd: next, bodyStart: next + 1 };
    if (next + 1 < end && raw[next] === 0x0d && raw[next + 1] === 0x0a) {
      return { fieldsEnd: next, bodyStart: next + 2 };
    }
  }
  return { fieldsEnd: end, bodyStart: end };
}

/** The fields of a header block, unfolded, in order. Lines without a colon are skipped. */
export function parseHeaderFields(raw: Uint8Array, start: number, end: number): HeaderField[] {
  const text = decoder.decode(raw.subarray(start, end));
  const fields: HeaderField[] = [];
  let current: string | undefined;
  const flush = () => {
    if (current === undefined) return;
    const colon = current.indexOf(":");
    if (colon > 0) {
      const name = current.slice(0, colon).trim();
      if (name.length > 0 && !/\s/.test(name)) {
        fields.push({ name, value: current.slice(colon + 1).trim() });
      }
    }
    current = undefined;
  };
  for (const line of text.split("\n")) {
    const l = line.endsWith("\r") ? line.slice(0, -1) : line;
    if (l.length > 0 && (l[0] === " " || l[0] === "\t")) {
      if (current !== undefined) current += l; // RFC 5322 section 2.2.3: unfolding
      continue;
    }
    flush();
    current = l;
  }
  flush();
  return fields;
}

/** The first field with this name (case-insensitive), or undefined. */
export function headerValue(fields: HeaderField[], name: string): string | undefined {
  const lower = name.toLowerCase();
  return fields.find((f) => f.name.toLowerCase() === lower)?.value;
}

// ---------------------------------------------------------------------------------------------
// Structured values: Content-Type, Content-Disposition (RFC 2045 section 5.1, RFC 2183)

type Token = { kind: "atom" | "quoted" | "special"; text: string };

/** RFC 2045 tokens: atoms, quoted strings and tspecials, with (nested) comments dropped. */
function tokenize(value: string, specials: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < value.length) {
    const c = value[i];
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      i++;
    } else if (c === "(") {
      let depth = 0;
      for (; i < value.length; i++) {
        if (value[i] === "\\") i++;
        else if (value[i] === "(") depth++;
        else if (value[i] === ")" && --depth === 0) break;
      }
      i++;
    } else if (c === '"') {
      let text = "";
      i++;
      for (; i < value.length && value[i] !== '"'; i++) {
        if (value[i] === "\\" && i + 1 < value.length) i++;
        text += value[i];
      }
      i++;
      tokens.push({ kind: "quoted", text });
    } else if (specials.includes(c)) {
      tokens.push({ kind: "special", text: c });
      i++;
    } else {
      let text = "";
      while (
        i < value.length && !specials.includes(value[i]) && !` \t\r\n("`.includes(value[i])
      ) text += value[i++];
      tokens.push({ kind: "atom", text });
    }
  }
  return tokens;
}

export interface ParamValue {
  /** `type/subtype` split, or the disposition type alone in `type`. */
  type: string;
  subtype: string;
  params: [string, string][];
}

/**
 * A `type/subtype; name=value; …` value (or `disposition; …` when `withSubtype` is false).
 * RFC 2231 section 3 continuations (`name*0`, `name*1*`) are joined; when any segment is
 * extended the joined parameter is named `name*` and its value keeps the charset'lang' prefix
 * and percent-encoding, as Dovecot and other IMAP servers report it.
 */
export function parseParamValue(value: string, withSubtype: boolean): ParamValue {
  const tokens = tokenize(value, withSubtype ? `()<>@,;:\\/[]?=` : `()<>@,;:\\[]?=`);
  let i = 0;
  let type = "";
  let subtype = "";
  if (tokens[i]?.kind !== "special") type = tokens[i++]?.text ?? "";
  if (withSubtype && tokens[i]?.text === "/" && tokens[i]?.kind === "special") {
    i++;
    if (tokens[i] && tokens[i].kind !== "special") subtype = tokens[i++].text;
  }
  const raw: [string, string][] = [];
  while (i < tokens.length) {
    if (!(tokens[i].kind === "special" && tokens[i].text === ";")) {
      i++;
      continue;
    }
    i++;
    const name = tokens[i];
    if (!name || name.kind !== "atom" || tokens[i + 1]?.text !== "=") continue;
    const val = tokens[i + 2];
    if (!val || val.kind === "special") {
      i += 2;
      continue;
    }
    // An unquoted value may legally hold "/" only when it was tokenized as a special: rejoin.
    let text = val.text;
    let j = i + 3;
    while (
      val.kind === "atom" && tokens[j] && tokens[j].text !== ";" &&
      (tokens[j].kind === "atom" || tokens[j].text === "/" || tokens[j].text === "?" ||
        tokens[j].text === "=")
    ) text += tokens[j++].text;
    raw.push([name.text, text]);
    i = j;
  }
  return { type, subtype, params: joinContinuations(raw) };
}

function joinContinuations(raw: [string, string][]): [string, string][] {
  const out: [string, string][] = [];
  const groups = new Map<string, { index: number; extended: boolean; parts: string[] }>();
  for (const [name, value] of raw) {
    const m = /^(.+?)\*(\d+)(\*?)$/.exec(name);
    if (!m) {
      out.push([name, value]);
      continue;
    }
    const key = m[1].toLowerCase();
    let group = groups.get(key);
    if (!group) {
      group = { index: out.length, extended: false, parts: [] };
      groups.set(key, group);
      out.push([m[1], ""]);
    }
    group.parts[Number(m[2])] = value;
    if (m[3] === "*") group.extended = true;
  }
  for (const group of groups.values()) {
    const name = out[group.index][0];
    const joined = group.parts.filter((p) => p !== undefined).join("");
    out[group.index] = [group.extended ? `${name}*` : name, joined];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Address lists (RFC 5322 section 3.4, obsolete routes of section 4.4)

/** An address-list header value in IMAP ENVELOPE form; encoded-words are left undecoded. */
export function parseAddressList(value: string): EnvelopeAddress[] {
  const tokens = tokenize(value, `()<>@,;:\\[]`);
  const out: EnvelopeAddress[] = [];
  let i = 0;
  let inGroup = false;
  const phraseOf = (ts: Token[]) => ts.map((t) => t.text).join(" ").replace(/ \. /g, ".");

  const endGroup = () => {
    out.push({ name: null, adl: null, mailbox: null, host: null });
    inGroup = false;
  };

  while (i < tokens.length) {
    // Collect one mailbox / group up to "," or ";" at top level.
    const start = i;
    let angle = -1;
    let colon = -1;
    while (i < tokens.length) {
      const t = tokens[i];
      if (t.kind === "special" && (t.text === "," || t.text === ";")) break;
      if (t.kind === "special" && t.text === "<" && angle < 0) {
        angle = i;
        // skip to ">"
        while (i < tokens.length && !(tokens[i].kind === "special" && tokens[i].text === ">")) i++;
      } else if (t.kind === "special" && t.text === ":" && angle < 0 && colon < 0 && !inGroup) {
        colon = i;
        break;
      }
      i++;
    }
    const end = i;
    if (colon >= 0) {
      // group start: display-name ":"
      out.push({
        name: null,
        adl: null,
        mailbox: phraseOf(tokens.slice(start, colon)),
        host: null,
      });
      inGroup = true;
      i = colon + 1;
      continue;
    }
    const piece = tokens.slice(start, end);
    if (piece.length > 0) {
      const addr = angle >= 0
        ? routeAddr(piece.slice(0, angle - start), piece.slice(angle - start + 1))
        : addrSpec(piece);
      if (addr) out.push(addr);
    }
    const sep = tokens[i];
    i++;
    if (sep && sep.text === ";" && inGroup) endGroup();
  }
  if (inGroup) endGroup();
  return out;

  function routeAddr(phrase: Token[], inside: Token[]): EnvelopeAddress | undefined {
    const close = inside.findIndex((t) => t.kind === "special" && t.text === ">");
    let body = close >= 0 ? inside.slice(0, close) : inside;
    let adl: string | null = null;
    const routeEnd = body.findIndex((t) => t.kind === "special" && t.text === ":");
    if (routeEnd >= 0 && body[0]?.text === "@") {
      adl = body.slice(0, routeEnd).map((t) => t.text).join("");
      body = body.slice(routeEnd + 1);
    }
    const spec = addrSpec(body);
    const name = phrase.length > 0 ? phraseOf(phrase) : null;
    if (!spec) return { name, adl, mailbox: "MISSING_MAILBOX", host: "MISSING_DOMAIN" };
    return { ...spec, name, adl };
  }

  function addrSpec(ts: Token[]): EnvelopeAddress | undefined {
    if (ts.length === 0) return undefined;
    const at = ts.findIndex((t) => t.kind === "special" && t.text === "@");
    const localTokens = at >= 0 ? ts.slice(0, at) : ts;
    const local = localTokens.map((t) =>
      t.kind === "quoted" && /[\s"\\()<>@,;:[\]]/.test(t.text)
        ? `"${t.text.replace(/["\\]/g, "\\$&")}"`
        : t.text
    ).join("");
    // A non-NIL host marks a mailbox rather than a group (RFC 3501 section 7.4.2); Dovecot
    // spells a missing one the same way.
    const host = at >= 0 ? ts.slice(at + 1).map((t) => t.text).join("") : "";
    return {
      name: null,
      adl: null,
      mailbox: local || "MISSING_MAILBOX",
      host: host || "MISSING_DOMAIN",
    };
  }
}

const CR = 13, LF = 10, SP = 32, TAB = 9;

/**
 * The message without the header fields `drop` picks (each given as its raw octets, folded
 * lines included, RFC 5322 section 2.2.3), every other octet as it was; the same array when
 * none is dropped. Used to remove forged copies of fields a receiving hop adds itself
 * (Authentication-Results of our authserv-id, X-Spam-Status).
 */
export function removeHeaderFields(
  message: Uint8Array,
  drop: (field: Uint8Array) => boolean,
): Uint8Array {
  const keep: [number, number][] = [];
  let removed = false;
  let pos = 0;
  while (pos < message.byteLength) {
    // The header section ends at the first empty line.
    if (message[pos] === LF || (message[pos] === CR && message[pos + 1] === LF)) break;
    let end = pos;
    // A field runs to the line break not followed by whitespace (folding).
    for (;;) {
      const lf = message.indexOf(LF, end);
      if (lf < 0) {
        end = message.byteLength;
        break;
      }
      end = lf + 1;
      if (end >= message.byteLength || (message[end] !== SP && message[end] !== TAB)) break;
    }
    if (drop(message.subarray(pos, end))) removed = true;
    else keep.push([pos, end]);
    pos = end;
  }
  if (!removed) return message;
  const out = new Uint8Array(keep.reduce((n, [a, b]) => n + b - a, 0) + message.byteLength - pos);
  let at = 0;
  for (const [a, b] of keep) {
    out.set(message.subarray(a, b), at);
    at += b - a;
  }
  out.set(message.subarray(pos), at);
  return out;
}
