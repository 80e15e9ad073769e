/**
 * Header fields in the parsed forms of RFC 8621 section 4.1.2: Raw (4.1.2.1, the octets after
 * the colon), Text (4.1.2.2, unfolded with RFC 2047 encoded-words decoded), Addresses and
 * GroupedAddresses (4.1.2.3-4), MessageIds (4.1.2.5), Date (4.1.2.6) and URLs (4.1.2.7), and
 * the `header:{name}[:as{form}][:all]` property syntax (4.1.3). Pure.
 */
import { parseAddressList } from "../../schemas/mime_header.ts";

export interface RawField {
  name: string;
  /** Everything after the colon up to the final CRLF, folding kept (section 4.1.2.1). */
  raw: string;
}

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8");

/** The header fields of a block, in order, with raw values; non-UTF-8 octets read as Latin-1. */
export function rawFields(bytes: Uint8Array, start: number, end: number): RawField[] {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, end));
  } catch {
    text = latin1.decode(bytes.subarray(start, end));
  }
  const out: RawField[] = [];
  const lines = text.split(/(?<=\n)/);
  let current: string | undefined;
  const flush = () => {
    if (current === undefined) return;
    const colon = current.indexOf(":");
    const name = colon > 0 ? current.slice(0, colon).trim() : "";
    if (name && !/\s/.test(name)) {
      out.push({ name, raw: current.slice(colon + 1).replace(/\r?\n$/, "") });
    }
    current = undefined;
  };
  for (const line of lines) {
    if ((line[0] === " " || line[0] === "\t") && current !== undefined) {
      current += line;
      continue;
    }
    flush();
    if (line.trim() !== "") current = line;
  }
  flush();
  return out;
}

/** RFC 2047 encoded-words decoded; adjacent encoded-words join without the space between. */
export function decodeWords(text: string): string {
  const re = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;
  return text.replace(/(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)\s+(?==\?[^?\s]+\?[bBqQ]\?)/g, "$1")
    .replace(re, (whole, charset: string, enc: string, data: string) => {
      try {
        let bytes: Uint8Array;
        if (enc.toUpperCase() === "B") {
          bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        } else {
          const s = data.replace(/_/g, " ");
          const out: number[] = [];
          for (let i = 0; i < s.length; i++) {
            if (s[i] === "=" && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
              out.push(parseInt(s.slice(i + 1, i + 3), 16));
              i += 2;
            } else out.push(s.charCodeAt(i) & 0xff);
          }
          bytes = Uint8Array.from(out);
        }
        return decodeCharset(bytes, charset.replace(/\*.*$/, ""));
      } catch {
        return whole;
      }
    });
}

/** Bytes in a charset to text; an unknown charset reads as UTF-8 (with replacement). */
export function decodeCharset(bytes: Uint8Array, charset: string | null | undefined): string {
  try {
    return new TextDecoder((charset || "utf-8").trim().toLowerCase()).decode(bytes);
  } catch {
    return utf8.decode(bytes);
  }
}

/** Section 4.1.2.2: unfold, decode encoded-words, trim. */
export const asText = (raw: string) =>
  decodeWords(raw.replace(/\r?\n(?=[ \t])/g, "")).replace(/^[ \t]+|[ \t]+$/g, "");

export interface EmailAddress {
  name: string | null;
  email: string;
}
export interface EmailAddressGroup {
  name: string | null;
  addresses: EmailAddress[];
}

/** Section 4.1.2.4: the address list with its groups. */
export function asGroupedAddresses(raw: string): EmailAddressGroup[] {
  const out: EmailAddressGroup[] = [];
  let group: EmailAddressGroup | undefined;
  let loose: EmailAddressGroup | undefined;
  for (const a of parseAddressList(raw.replace(/\r?\n(?=[ \t])/g, ""))) {
    if (a.mailbox !== null && a.host === null && a.name === null) {
      // (NIL NIL name NIL): a group starts.
      group = { name: decodeWords(a.mailbox), addresses: [] };
      out.push(group);
      continue;
    }
    if (a.mailbox === null && a.host === null) {
      group = undefined;
      continue;
    }
    const address: EmailAddress = {
      name: a.name ? decodeWords(a.name) : null,
      email: a.host ? `${a.mailbox}@${a.host}` : a.mailbox ?? "",
    };
    if (group) group.addresses.push(address);
    else {
      if (!loose) {
        loose = { name: null, addresses: [] };
        out.push(loose);
      }
      loose.addresses.push(address);
    }
    if (!group) continue;
  }
  return out;
}

/** Section 4.1.2.3: the addresses, groups flattened. */
export const asAddresses = (raw: string): EmailAddress[] =>
  asGroupedAddresses(raw).flatMap((g) => g.addresses);

/** Section 4.1.2.5: msg-ids without angle brackets; null when the value is not a list of them. */
export function asMessageIds(raw: string): string[] | null {
  const text = raw.replace(/\([^)]*\)/g, " ").trim();
  const ids = [...text.matchAll(/<([^<>\s]+)>/g)].map((m) => m[1]);
  if (ids.length === 0) return null;
  const rest = text.replace(/<[^<>\s]+>/g, "").trim();
  return rest === "" ? ids : null;
}

/** Section 4.1.2.6: an RFC 5322 date as an RFC 3339 date-time (UTC); null when unparseable. */
export function asDate(raw: string): string | null {
  const text = raw.replace(/\([^)]*\)/g, " ").replace(/\s+/g, " ").trim();
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z") : null;
}

/** Section 4.1.2.7: the URLs of a List-* style field; null when there is none. */
export function asURLs(raw: string): string[] | null {
  const urls = [...raw.replace(/\r?\n(?=[ \t])/g, "").matchAll(/<([^<>]*)>/g)].map((m) =>
    m[1].replace(/\s+/g, "")
  );
  return urls.length > 0 ? urls : null;
}

export type HeaderForm =
  | "Raw"
  | "Text"
  | "Addresses"
  | "GroupedAddresses"
  | "MessageIds"
  | "Date"
  | "URLs";
const FORMS = new Set([
  "Raw",
  "Text",
  "Addresses",
  "GroupedAddresses",
  "MessageIds",
  "Date",
  "URLs",
]);

/** A parsed `header:Name[:asForm][:all]` property, or undefined when malformed. */
export function parseHeaderProperty(prop: string) {
  const m = prop.match(/^header:([\x21-\x39\x3b-\x7e]+)(?::as([A-Za-z]+))?(:all)?$/);
  if (!m || (m[2] !== undefined && !FORMS.has(m[2]))) return undefined;
  return { name: m[1], form: (m[2] ?? "Raw") as HeaderForm, all: m[3] !== undefined };
}

function parseForm(raw: string, form: HeaderForm) {
  switch (form) {
    case "Raw":
      return raw;
    case "Text":
      return asText(raw);
    case "Addresses":
      return asAddresses(raw);
    case "GroupedAddresses":
      return asGroupedAddresses(raw);
    case "MessageIds":
      return asMessageIds(raw);
    case "Date":
      return asDate(raw);
    case "URLs":
      return asURLs(raw);
  }
}

/** The value of a header property over these fields (section 4.1.3): last instance, or all. */
export function headerProperty(fields: RawField[], prop: ReturnType<typeof parseHeaderProperty>) {
  if (!prop) return null;
  const lower = prop.name.toLowerCase();
  const matching = fields.filter((f) => f.name.toLowerCase() === lower);
  if (prop.all) return matching.map((f) => parseForm(f.raw, prop.form));
  const last = matching[matching.length - 1];
  return last === undefined ? null : parseForm(last.raw, prop.form);
}
