/**
 * How much of a message's parsed form its `messages` row keeps (issue 16, item 4). The row holds
 * the JSON form (headers, text, HTML, attachment list) so a message reads without re-parsing its
 * raw bytes; but a 25 MB message can carry a 20 MB text part, and Cloudflare D1 refuses any row of
 * 2 MB or more. Above PARSED_ROW_BYTES the text and HTML are cut (at a character, in UTF-8
 * bytes) and the form says `bodyTruncated`: the raw message, stored whole in 1 MiB blob rows
 * (services/blob_chunks.ts), stays the source of the full body, which `getMessage` parses
 * again when asked for it. Search indexes the kept start, as it always indexed a bounded start.
 * Should the header and attachment lists alone outgrow the row, they are cut too
 * (`listsTruncated`), and read from the raw message likewise.
 */
import type { ParsedMail } from "../../schemas/mail.ts";

/** Most UTF-8 bytes of a parsed form kept in a row: half of D1's 2 MB, room for the rest. */
export const PARSED_ROW_BYTES = 1024 * 1024;

const encoder = new TextEncoder();

/** `text` cut to at most `bytes` UTF-8 bytes, at a whole character. */
export function cutUtf8(text: string, bytes: number): string {
  if (text.length * 3 <= bytes) return text; // fits whatever its characters
  const { read } = encoder.encodeInto(text, new Uint8Array(bytes));
  return text.slice(0, read);
}

/** The JSON a `messages` row stores for `parsed`: whole when it fits, else with cut bodies. */
export function parsedRowJson(
  parsed: ParsedMail & Record<string, unknown>,
  /** Less when the form is sealed, which base64 grows by a third (crypt/sealed_rows.ts). */
  budget = PARSED_ROW_BYTES,
): string {
  const whole = JSON.stringify(parsed);
  if (whole.length <= budget / 3 || encoder.encode(whole).byteLength <= budget) {
    return whole;
  }
  // JSON escapes can grow a body (quotes, newlines): halve the share until the row fits.
  const rest = encoder.encode(JSON.stringify({ ...parsed, text: "", html: "" })).byteLength;
  let share = Math.max(0, Math.floor((budget - rest) / 2));
  for (;;) {
    const cut = {
      ...parsed,
      ...(parsed.text === undefined ? {} : { text: cutUtf8(parsed.text, share) }),
      ...(parsed.html === undefined ? {} : { html: cutUtf8(parsed.html, share) }),
      bodyTruncated: true,
    };
    const json = JSON.stringify(cut);
    if (encoder.encode(json).byteLength <= budget) return json;
    if (share === 0) return listsCut(cut);
    share = Math.floor(share / 2);
  }
}

/**
 * The last resort, for a form whose header and attachment lists alone outgrow the row (a header
 * block of a megabyte of characters JSON escapes six-fold, a thousand parts with long names):
 * the lists keep their first entries that fit, bodies go, and `listsTruncated` says so, so that
 * readers take all of them from the raw message (services/messages.ts), as they do the bodies.
 */
function listsCut(parsed: ParsedMail & Record<string, unknown>): string {
  const budget = PARSED_ROW_BYTES / 4;
  const keep = <T>(list: T[]): T[] => {
    const out: T[] = [];
    let used = 0;
    for (const item of list) {
      used += encoder.encode(JSON.stringify(item)).byteLength + 1;
      if (used > budget) break;
      out.push(item);
    }
    return out;
  };
  return JSON.stringify({
    ...parsed,
    text: parsed.text === undefined ? undefined : "",
    html: parsed.html === undefined ? undefined : "",
    headers: keep(parsed.headers),
    attachments: keep(parsed.attachments),
    bodyTruncated: true,
    listsTruncated: true,
  });
}
