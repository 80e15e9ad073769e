/**
 * Mail addresses: RFC 5321 `local@domain` (section 4.1.2 Mailbox grammar, with the RFC 6531
 * SMTPUTF8 extension that allows UTF-8 in both halves) and SHARP's `local#domain`, which is the
 * same address written another way. Pure: no I/O.
 */
import { z } from "zod";

export interface Address {
  /** The local part exactly as given (case is kept: RFC 5321 section 2.4). */
  local: string;
  /** The domain, lower-cased (domains are case-insensitive). */
  domain: string;
  /** `local@domain`, the canonical written form. */
  address: string;
}

export type AddressResult = { ok: true; value: Address } | { ok: false; error: string };

// RFC 5321 section 4.5.3.1: local part at most 64 octets, domain at most 255, path 256.
const MAX_LOCAL_OCTETS = 64;
const MAX_DOMAIN_OCTETS = 255;
const MAX_ADDRESS_OCTETS = 254;

// atext of RFC 5322 section 3.2.3, widened by RFC 6531 section 3.3 to any non-ASCII UTF-8.
const ATEXT = /^[A-Za-z0-9!#$%&'*+\/=?^_`{|}~\-\u0080-\u{10FFFF}]+$/u;
const LABEL = /^(?!-)[A-Za-z0-9\-\u0080-\u{10FFFF}]{1,63}(?<!-)$/u;
// deno-lint-ignore no-control-regex -- control characters are exactly what this rejects
const CONTROL = /[\u0000-\u001f\u007f]/;

/** The UTF-8 length of `s`, counted without encoding it (addresses are parsed many times). */
function octets(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    // 2 bytes below U+0800; a surrogate pair is 4 bytes (2 per half); the rest of the BMP, 3.
    n += c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 1 : 2;
  }
  return n;
}

function parseLocal(local: string): string | undefined {
  if (local.length === 0) return "the local part is empty";
  if (octets(local) > MAX_LOCAL_OCTETS) return "the local part is longer than 64 octets";
  if (local.startsWith('"')) {
    // Quoted-string (RFC 5321 section 4.1.2): printable ASCII, with \ escaping.
    if (!/^"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\u{10FFFF}]|\\[\x20-\x7e])*"$/u.test(local)) {
      return "the quoted local part is malformed";
    }
    return undefined;
  }
  // Dot-string: atoms separated by single dots.
  for (const atom of local.split(".")) {
    if (atom === "") return "the local part has an empty atom (leading, trailing or double dot)";
    if (!ATEXT.test(atom)) return "the local part has a character that needs quoting";
  }
  return undefined;
}

function parseDomain(domain: string): string | undefined {
  if (domain.length === 0) return "the domain is empty";
  if (octets(domain) > MAX_DOMAIN_OCTETS) return "the domain is longer than 255 octets";
  // Address literals ([192.0.2.1], RFC 5321 section 4.1.3) are not routable here.
  if (domain.startsWith("[")) return "address literals are not accepted";
  const labels = domain.split(".");
  if (labels.length < 2) return "the domain needs at least two labels";
  for (const label of labels) {
    if (!LABEL.test(label)) return `the domain label "${label}" is malformed`;
  }
  return undefined;
}

/** Parses `local@domain` or SHARP's `local#domain`; never throws. */
export function parseAddress(input: string): AddressResult {
  if (typeof input !== "string") return { ok: false, error: "an address must be a string" };
  const text = input.trim();
  if (CONTROL.test(text)) return { ok: false, error: "the address contains control characters" };
  // The separator is the last @ (a quoted local part may contain @); SHARP uses # instead.
  let at = text.lastIndexOf("@");
  if (at < 0 && !text.startsWith('"')) at = text.lastIndexOf("#");
  if (at <= 0) return { ok: false, error: "the address needs the form local@domain" };
  const local = text.slice(0, at);
  const domain = text.slice(at + 1).toLowerCase().replace(/\.$/, "");
  const problem = parseLocal(local) ?? parseDomain(domain);
  if (problem) return { ok: false, error: problem };
  const address = `${local}@${domain}`;
  if (octets(address) > MAX_ADDRESS_OCTETS) {
    return { ok: false, error: "the address is longer than 254 octets" };
  }
  return { ok: true, value: { local, domain, address } };
}

/** The canonical form of an address, or undefined when it does not parse. */
export function normalizeAddress(input: string): string | undefined {
  const parsed = parseAddress(input);
  return parsed.ok ? parsed.value.address : undefined;
}

/** The domain of an address already in canonical `local@domain` form, lower-cased. */
export const domainOf = (address: string): string =>
  address.slice(address.lastIndexOf("@") + 1).toLowerCase();

/** Splits plus-addressing (`user+tag@domain`): the base local part and the tag. */
export function splitPlus(local: string): { base: string; tag?: string } {
  const plus = local.indexOf("+");
  if (plus <= 0 || local.startsWith('"')) return { base: local };
  return { base: local.slice(0, plus), tag: local.slice(plus + 1) };
}

/** A zod type that accepts both address forms and yields the canonical `local@domain`. */
export const AddressString = z.string().max(320).transform((value, ctx) => {
  const parsed = parseAddress(value);
  if (!parsed.ok) {
    ctx.addIssue({ code: "custom", message: `invalid address: ${parsed.error}` });
    return z.NEVER;
  }
  return parsed.value.address;
}).meta({
  description: "A mail address, `local@domain` (RFC 5321) or SHARP's `local#domain`.",
  example: "alice@postern.localhost",
});

export const DomainName = z.string().min(1).max(255).transform((value, ctx) => {
  const domain = value.trim().toLowerCase().replace(/\.$/, "");
  const problem = parseDomain(domain);
  if (problem) {
    ctx.addIssue({ code: "custom", message: `invalid domain: ${problem}` });
    return z.NEVER;
  }
  return domain;
}).meta({ description: "A domain name.", example: "postern.localhost" });
