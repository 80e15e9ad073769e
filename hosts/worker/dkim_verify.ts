/**
 * DKIM verification (RFC 6376) with Web Crypto, for hosts where mailauth cannot run (a Worker:
 * no Node Buffer, no node:crypto). Postern's own check of mail that Cloudflare Email Routing
 * hands in, beside Cloudflare's verdict: rsa-sha256 (RSASSA-PKCS1-v1_5) and ed25519-sha256
 * (RFC 8463, whose signature is over the SHA-256 of the header hash input), simple and relaxed
 * canonicalization (section 3.4), the `l=` body length, header selection bottom-up (section
 * 5.4.2), and the key record from DNS (section 3.6.2) through the gateway's DNS port.
 *
 * Results per signature as RFC 8601 names them: pass, fail (the body hash or the signature does
 * not match), neutral (a signature this code cannot process: rsa-sha1 by RFC 8301, unknown
 * algorithms or canonicalizations), permerror (malformed tags, a revoked or unusable key, an
 * expired signature), temperror (DNS failed). Never throws.
 */
import type { DnsPort } from "../../src/ports.ts";
import { fromBase64 } from "../../src/crypto.ts";

export interface DkimResult {
  result: "pass" | "fail" | "neutral" | "permerror" | "temperror";
  domain: string;
  selector: string;
  algo: string;
  /** Why it did not pass, for logs and the Authentication-Results comment. */
  reason?: string;
}

/** Signatures checked at most per message (each costs a DNS lookup). */
const MAX_SIGNATURES = 5;

interface RawField {
  /** The field name as written. */
  name: string;
  /** The whole field, name to the end of its last line, without the final CRLF. */
  raw: string;
}

/** The header section's fields, folding kept (simple canonicalization needs them as sent). */
function rawFields(header: string): RawField[] {
  const out: RawField[] = [];
  for (const line of header.split("\r\n")) {
    if (/^[ \t]/.test(line) && out.length > 0) out[out.length - 1].raw += "\r\n" + line;
    else if (line.includes(":")) {
      out.push({ name: line.slice(0, line.indexOf(":")).trim(), raw: line });
    }
  }
  return out;
}

/** Section 3.4.2: lower-case name, unfolded, runs of WSP as one SP, none around the colon. */
function relaxedHeader(raw: string): string {
  const colon = raw.indexOf(":");
  const name = raw.slice(0, colon).trim().toLowerCase();
  const value = raw.slice(colon + 1).replace(/\r\n/g, "").replace(/[ \t]+/g, " ").trim();
  return `${name}:${value}`;
}

/** Sections 3.4.3 and 3.4.4. */
function canonicalBody(body: string, relaxed: boolean): string {
  let text = body;
  if (relaxed) {
    text = text.split("\r\n").map((l) => l.replace(/[ \t]+/g, " ").replace(/ $/, "")).join("\r\n");
  }
  // Trailing empty lines go; a non-empty body ends with CRLF (simple: an empty one is CRLF).
  text = text.replace(/(\r\n)*$/, "");
  if (text.length > 0) return text + "\r\n";
  return relaxed ? "" : "\r\n";
}

function tagsOf(value: string): Map<string, string> | undefined {
  const tags = new Map<string, string>();
  for (const part of value.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) {
      if (part.trim() === "") continue;
      return undefined;
    }
    const name = part.slice(0, eq).trim();
    if (tags.has(name)) return undefined; // section 3.2: a duplicate tag is an error
    tags.set(name, part.slice(eq + 1).replace(/\s+/g, ""));
  }
  return tags;
}

/** A Latin-1 string (one character per octet, as `verifyDkim` reads the message) as bytes. */
const octets = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const sha256 = async (data: Uint8Array) =>
  new Uint8Array(await crypto.subtle.digest("SHA-256", data as BufferSource));
const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** The key record `s._domainkey.d` (section 3.6.1), or a result that ends the check. */
async function keyFor(
  dns: DnsPort,
  selector: string,
  domain: string,
): Promise<{ k: string; p: Uint8Array } | { error: DkimResult["result"]; reason: string }> {
  let records: string[][];
  try {
    records = await dns.txt(`${selector}._domainkey.${domain}`);
  } catch (e) {
    return { error: "temperror", reason: `key lookup failed: ${(e as Error).message}` };
  }
  if (records.length === 0) return { error: "permerror", reason: "no key record" };
  const tags = tagsOf(records[0].join(""));
  if (!tags) return { error: "permerror", reason: "malformed key record" };
  if (tags.has("v") && tags.get("v") !== "DKIM1") {
    return { error: "permerror", reason: "not a DKIM1 key record" };
  }
  const p = tags.get("p") ?? "";
  if (p === "") return { error: "permerror", reason: "the key is revoked" };
  try {
    return { k: tags.get("k") ?? "rsa", p: fromBase64(p) };
  } catch {
    return { error: "permerror", reason: "the key is not base64" };
  }
}

async function verifyOne(
  fields: RawField[],
  signature: RawField,
  body: string,
  dns: DnsPort,
  now: number,
): Promise<DkimResult> {
  const tags = tagsOf(signature.raw.slice(signature.raw.indexOf(":") + 1).replace(/\r\n/g, ""));
  const base = {
    domain: (tags?.get("d") ?? "").toLowerCase(),
    selector: tags?.get("s") ?? "",
    algo: tags?.get("a") ?? "",
  };
  const out = (result: DkimResult["result"], reason?: string): DkimResult =>
    reason ? { result, ...base, reason } : { result, ...base };
  if (!tags) return out("permerror", "malformed signature");
  for (const required of ["v", "a", "b", "bh", "d", "h", "s"]) {
    if (!tags.get(required)) return out("permerror", `no ${required}= tag`);
  }
  if (tags.get("v") !== "1") return out("permerror", "not version 1");
  const algo = tags.get("a")!;
  if (algo !== "rsa-sha256" && algo !== "ed25519-sha256") {
    return out("neutral", `unsupported algorithm ${algo}`); // rsa-sha1: RFC 8301 section 3.1
  }
  const [hc = "simple", bc = "simple"] = (tags.get("c") ?? "simple/simple").split("/");
  if (![hc, bc].every((c) => c === "simple" || c === "relaxed")) {
    return out("neutral", "unsupported canonicalization");
  }
  const expires = Number(tags.get("x"));
  if (tags.has("x") && Number.isFinite(expires) && expires * 1000 < now) {
    return out("permerror", "the signature has expired");
  }
  const signed = tags.get("h")!.split(":").map((h) => h.trim().toLowerCase());
  if (!signed.includes("from")) return out("permerror", "From is not signed");

  // Body hash (section 3.7), limited to l= octets when given.
  let canon = canonicalBody(body, bc === "relaxed");
  if (tags.has("l")) {
    const length = Number(tags.get("l"));
    if (!Number.isSafeInteger(length) || length < 0) return out("permerror", "bad l= tag");
    if (length > canon.length) return out("fail", "l= is longer than the body");
    canon = canon.slice(0, length);
  }
  if (b64(await sha256(octets(canon))) !== tags.get("bh")) {
    return out("fail", "body hash mismatch");
  }

  // Header hash input (section 5.4.2): each name takes the lowest unused field of that name;
  // a name with none left contributes nothing. Then this signature with b= emptied, no CRLF.
  const used = new Set<RawField>();
  const parts: string[] = [];
  for (const name of signed) {
    const field = [...fields].reverse().find((f) =>
      f.name.toLowerCase() === name && !used.has(f) && f !== signature
    );
    if (!field) continue;
    used.add(field);
    parts.push((hc === "relaxed" ? relaxedHeader(field.raw) : field.raw) + "\r\n");
  }
  const unsigned = signature.raw.replace(/(\bb[ \t\r\n]*=)[^;]*/, "$1");
  parts.push(hc === "relaxed" ? relaxedHeader(unsigned) : unsigned);
  const input = octets(parts.join(""));

  const key = await keyFor(dns, base.selector, base.domain);
  if ("error" in key) return out(key.error, key.reason);
  let sig: Uint8Array;
  try {
    sig = fromBase64(tags.get("b")!);
  } catch {
    return out("permerror", "b= is not base64");
  }
  try {
    if (algo === "rsa-sha256") {
      if (key.k !== "rsa") return out("permerror", "the key is not an RSA key");
      const pub = await crypto.subtle.importKey(
        "spki",
        key.p as BufferSource,
        { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
        false,
        ["verify"],
      );
      const ok = await crypto.subtle.verify("RSASSA-PKCS1-v1_5", pub, sig as BufferSource, input);
      return ok ? out("pass") : out("fail", "signature mismatch");
    }
    if (key.k !== "ed25519") return out("permerror", "the key is not an Ed25519 key");
    const pub = await crypto.subtle.importKey("raw", key.p as BufferSource, "Ed25519", false, [
      "verify",
    ]);
    // RFC 8463 section 3: Ed25519 signs the SHA-256 hash of the header hash input.
    const ok = await crypto.subtle.verify("Ed25519", pub, sig as BufferSource, await sha256(input));
    return ok ? out("pass") : out("fail", "signature mismatch");
  } catch (e) {
    return out("permerror", `unusable key: ${(e as Error).message}`);
  }
}

/** Every DKIM-Signature of `raw` (up to MAX_SIGNATURES), topmost first. */
export async function verifyDkim(
  raw: Uint8Array,
  dns: DnsPort,
  now = Date.now(),
): Promise<DkimResult[]> {
  // Latin-1 keeps every octet as one character, so lengths and hashes see the bytes as sent.
  const text = new TextDecoder("latin1").decode(raw);
  const end = text.indexOf("\r\n\r\n");
  const header = end >= 0 ? text.slice(0, end) : text;
  const body = end >= 0 ? text.slice(end + 4) : "";
  const fields = rawFields(header);
  const signatures = fields.filter((f) => f.name.toLowerCase() === "dkim-signature")
    .slice(0, MAX_SIGNATURES);
  return await Promise.all(signatures.map((s) => verifyOne(fields, s, body, dns, now)));
}
