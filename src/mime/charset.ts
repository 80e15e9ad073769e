/**
 * Text in a declared charset (RFC 2046 section 4.1.2, RFC 2047 section 2) turned into a string
 * with the runtime's TextDecoder, which knows the WHATWG Encoding Standard's labels: UTF-8 and
 * UTF-16, ISO-8859-*, windows-125x, KOI8, Shift_JIS, EUC-JP, ISO-2022-JP, GBK/GB18030, Big5,
 * EUC-KR. The names mail programs write that WHATWG spells differently are mapped first (as
 * libmime, behind the process host's parser, maps them). A charset nobody knows, and the ones
 * refused on purpose (UTF-7 can smuggle `<script>` past a filter as `+ADw-script+AD4-`), are
 * read as UTF-8 with bad bytes replaced, and the result says so. Pure; never throws.
 */

/** Names mail programs write for charsets the Encoding Standard spells differently. */
const ALIASES = new Map<string, string>([
  ["ks_c_5601-1987", "euc-kr"],
  ["ks_c_5601", "euc-kr"],
  ["cp949", "euc-kr"],
  ["iso-8859-8-i", "iso-8859-8"],
  ["iso-8859-8-e", "iso-8859-8"],
  ["cp1252", "windows-1252"],
  ["ansi_x3.4-1968", "utf-8"],
  ["unicode-1-1-utf-8", "utf-8"],
  ["x-sjis", "shift_jis"],
  ["cp932", "shift_jis"],
  ["windows-31j", "shift_jis"],
  ["gb2312", "gbk"],
  ["cp936", "gbk"],
  ["ms936", "gbk"],
  ["big5-hkscs", "big5"],
  ["cp950", "big5"],
]);

/** Charsets never decoded from (RFC 2152 UTF-7 and transfer encodings used as charsets). */
const REFUSED = /^(?:(?:cs)?unicode11)?utf7(?:imap)?$|^base64$|^hex$/;

export interface DecodedText {
  text: string;
  /** Set when the charset was unknown or refused and the bytes were read as UTF-8 instead. */
  fallback?: string;
}

const utf8 = new TextDecoder("utf-8");
const decoders = new Map<string, TextDecoder | null>();

/** The decoder for a label, or null when the runtime does not know it. */
function decoderFor(label: string): TextDecoder | null {
  let decoder = decoders.get(label);
  if (decoder !== undefined) return decoder;
  try {
    decoder = new TextDecoder(label);
  } catch {
    decoder = null;
  }
  if (decoders.size < 256) decoders.set(label, decoder);
  return decoder;
}

/** The canonical lower-case label for what a message declares (default UTF-8). */
export function charsetLabel(charset: string | undefined): string {
  let name = (charset ?? "").trim().toLowerCase();
  // RFC 2231 section 5: a language may follow the charset after "*".
  const star = name.indexOf("*");
  if (star >= 0) name = name.slice(0, star);
  if (!name) return "utf-8";
  const known = ALIASES.get(name);
  if (known) return known;
  // Common misspellings: win-1257, latin1, iso8859-2, utf8.
  return name
    .replace(/^utf[-_]?(\d+)/, "utf-$1")
    .replace(/^win(?:dows)?[-_]?(125\d)$/, "windows-$1")
    .replace(/^iso[-_]?8859[-_]?(\d+)$/, "iso-8859-$1")
    .replace(/^latin[-_]?1$/, "iso-8859-1");
}

/** `bytes` as text in `charset`; unknown or refused charsets read as UTF-8 (flagged). */
export function decodeCharset(bytes: Uint8Array, charset: string | undefined): DecodedText {
  const label = charsetLabel(charset);
  if (label === "utf-8" || label === "us-ascii" || label === "ascii") {
    return { text: utf8.decode(bytes) };
  }
  if (REFUSED.test(label.replace(/[^a-z0-9]/g, ""))) {
    return { text: utf8.decode(bytes), fallback: label };
  }
  const decoder = decoderFor(label);
  // WHATWG's "replacement" label (iso-2022-kr, hz-gb-2312…) would turn the text into one U+FFFD.
  if (!decoder || decoder.encoding === "replacement") {
    return { text: utf8.decode(bytes), fallback: label };
  }
  const text = decoder.decode(bytes);
  // The five bytes windows-1252 leaves undefined: WHATWG passes them through as C1 controls,
  // iconv (behind the process host's parser) replaces them; replaced here too.
  return {
    text: decoder.encoding === "windows-1252"
      ? text.replace(/[\x81\x8d\x8f\x90\x9d]/g, "\ufffd")
      : text,
  };
}
