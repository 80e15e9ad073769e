/**
 * An IMAP response reader for interop tests: turns a whole response stream (literals included)
 * into nested values (RFC 3501 section 4 data formats), so that the same session against
 * Dovecot and against Postern can be compared structurally.
 */

/** A parsed response value: atom or string (both as text), NIL, or a parenthesised list. */
export type Value = string | null | Value[];

export interface Response {
  /** "*", "+" or the command tag. */
  tag: string;
  values: Value[];
}

/** Parses a whole response stream (bytes, literals included) into responses. */
export function parseResponses(bytes: Uint8Array): Response[] {
  const dec = new TextDecoder();
  let i = 0;
  const out: Response[] = [];
  const atEol = () => bytes[i] === 0x0d && bytes[i + 1] === 0x0a;
  const value = (): Value => {
    const c = bytes[i];
    if (c === 0x28) {
      i++;
      const list: Value[] = [];
      while (bytes[i] !== 0x29) {
        if (bytes[i] === 0x20) i++;
        else list.push(value());
      }
      i++;
      return list;
    }
    if (c === 0x22) {
      i++;
      let s: number[] = [];
      while (bytes[i] !== 0x22) {
        if (bytes[i] === 0x5c) i++;
        s.push(bytes[i++]);
      }
      i++;
      const text = dec.decode(new Uint8Array(s));
      s = [];
      return text;
    }
    if (c === 0x7b) {
      const end = bytes.indexOf(0x7d, i);
      const n = Number(dec.decode(bytes.subarray(i + 1, end)).replace("+", ""));
      i = end + 3;
      const text = dec.decode(bytes.subarray(i, i + n));
      i += n;
      return text;
    }
    // An atom; a "[...]" inside it (BODY[HEADER.FIELDS (A B)]) may hold spaces and parens.
    const start = i;
    while (i < bytes.length && bytes[i] !== 0x20 && bytes[i] !== 0x29 && !atEol()) {
      if (bytes[i] === 0x5b) {
        let depth = 0;
        for (; i < bytes.length; i++) {
          if (bytes[i] === 0x5b) depth++;
          else if (bytes[i] === 0x5d && --depth === 0) break;
        }
      }
      if (bytes[i] === 0x28 && i > start) break;
      i++;
    }
    const atom = dec.decode(bytes.subarray(start, i));
    return atom === "NIL" ? null : atom;
  };
  const restOfLine = () => {
    let end = i;
    while (end < bytes.length && !(bytes[end] === 0x0d && bytes[end + 1] === 0x0a)) end++;
    const text = dec.decode(bytes.subarray(i, end));
    i = end;
    return text;
  };
  while (i < bytes.length) {
    const tag = String(value());
    const values: Value[] = [];
    if (tag === "+") restOfLine();
    while (i < bytes.length && !atEol()) {
      if (bytes[i] === 0x20) {
        i++;
        continue;
      }
      const v = value();
      values.push(v);
      // Status responses: keep the response code's name and drop the human-readable text.
      if (values.length === 1 && ["OK", "NO", "BAD", "BYE", "PREAUTH"].includes(String(v))) {
        const text = restOfLine().trim();
        const code = /^\[([^\] ]+)/.exec(text);
        if (code) values.push(code[1]);
      }
    }
    i += 2;
    out.push({ tag, values });
  }
  return out;
}
