/**
 * RFC 5228 section 2.4.2.4 (encoded-character): `${hex:41 42}` and `${unicode:1F600}` inside
 * strings. A sequence that does not have the form is left as written; a Unicode scalar outside
 * the valid range (surrogates, above U+10FFFF) is an error.
 */
const ENCODED = /\$\{(hex|unicode):([\s0-9A-Fa-f]*)\}/gi;

/** The decoded string, or undefined when a `unicode:` value is not a Unicode scalar value. */
export function decodeEncodedCharacters(s: string): string | undefined {
  if (!s.includes("${")) return s;
  let bad = false;
  const out = s.replace(ENCODED, (whole, kind: string, body: string) => {
    const parts = body.trim().split(/\s+/).filter(Boolean);
    if (parts.length === 0) return whole;
    if (kind.toLowerCase() === "hex") {
      if (parts.some((p) => p.length > 2)) return whole;
      const bytes = new Uint8Array(parts.map((p) => parseInt(p, 16)));
      return new TextDecoder().decode(bytes);
    }
    let text = "";
    for (const p of parts) {
      const cp = parseInt(p, 16);
      if (p.length > 8 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        bad = true;
        return whole;
      }
      text += String.fromCodePoint(cp);
    }
    return text;
  });
  return bad ? undefined : out;
}
