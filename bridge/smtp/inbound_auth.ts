/**
 * Authenticates mail arriving on the MX port with mailauth, through the bridge's DNS port:
 * SPF (RFC 7208) for the MAIL FROM identity (the HELO identity for a null reverse-path, section
 * 2.4), DKIM (RFC 6376, Ed25519 per RFC 8463), DMARC (RFC 7489; mailauth follows its successor
 * RFC 9989, which applies sp/np to subdomains and t=y) and ARC (RFC 8617). Returns a compact
 * verdict for the message's JSON form, the Authentication-Results field (RFC 8601) to prepend
 * with our host name as authserv-id, and what to do with the message: accept, junk (DMARC fail
 * under p=quarantine) or reject (DMARC fail under p=reject). A DNS failure never throws: it is a
 * temperror, recorded, and the message is accepted.
 */
import { removeHeaderFields } from "../../schemas/mime_header.ts";
import { Buffer } from "node:buffer";
import { isIP } from "node:net";
// mailauth (and what it pulls in) loads on the first message, not at start: an idle server
// stays small, and a bridge that only submits never loads it.
const mailauth = () => import("mailauth");
import { mailauthResolver, type Resolver } from "../dns/resolver.ts";

export interface InboundAuthInput {
  clientIp: string;
  /** The EHLO/HELO argument. */
  helo: string;
  /** The reverse-path; "" for `<>`. */
  mailFrom: string;
  /** The message as received (before our trace fields). */
  message: Uint8Array;
}

export interface InboundAuthOptions {
  resolver: Resolver;
  /** Our authserv-id (RFC 8601 section 2.5): the MX host name. */
  hostname: string;
  /** [0, 1) source for DMARC pct sampling; Math.random by default. */
  random?: () => number;
}

export type Disposition = "accept" | "junk" | "reject";

export interface SpfVerdict {
  result: string;
  /** The domain checked: the MAIL FROM domain, or the HELO name for `<>`. */
  domain: string;
  /** The domain's exp= text, for a fail (RFC 7208 section 6.2); third-party text. */
  explanation?: string;
}

export interface DkimVerdict {
  result: string;
  domain: string;
  selector: string;
  algo: string;
  /** The signing domain aligns with the From domain (DMARC). */
  aligned: boolean;
}

export interface DmarcVerdict {
  result: string;
  /** The policy applied: p for the author domain, sp/np when inherited by a subdomain. */
  policy: string;
  /** The author (RFC 5322 From) domain. */
  domain: string;
  /** The record's pct (RFC 7489 section 6.3), when below 100. */
  pct?: number;
  /** Why DMARC could not be evaluated (no or several author domains). */
  skipped?: string;
  /**
   * Whether SPF and DKIM passed aligned with the author domain (RFC 7489 section 3.1): the
   * `policy_evaluated` of an aggregate report (appendix C), recorded per message by the gateway.
   */
  spfAligned?: boolean;
  dkimAligned?: boolean;
  /** The domain whose record was applied (the organizational domain's, for a subdomain). */
  policyDomain?: string;
}

export interface AuthVerdict {
  spf: SpfVerdict;
  dkim: DkimVerdict[];
  dmarc: DmarcVerdict;
  arc: { result: string };
  disposition: Disposition;
  /** The Authentication-Results header field, CRLF-terminated, ready to prepend. */
  headers: string;
  /** Set when the checks themselves failed (not DNS: mailauth threw); everything is temperror. */
  error?: string;
}

/** At most this many DKIM results are kept in the verdict (a message may carry hundreds). */
const MAX_DKIM_RESULTS = 10;
/** RFC 7208 section 4.6.4: at least 20 seconds before giving up an SPF evaluation. */
const SPF_TIME_LIMIT_MS = 20_000;

const asBuffer = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** The mailauth options shared by the full check and the SPF step, so both see one wiring. */
function spfOptions(input: Omit<InboundAuthInput, "message">, options: InboundAuthOptions) {
  // As authenticate() does: no HELO → the client address, and an address as a domain literal.
  const helo = input.helo || input.clientIp;
  return {
    ip: input.clientIp,
    helo: isIP(helo) ? `[${helo}]` : helo,
    // A null reverse-path: mailauth checks postmaster@HELO (RFC 7208 section 2.4).
    sender: input.mailFrom || undefined,
    mta: options.hostname,
    resolver: authResolver(options.resolver) as never,
    maxElapsedTime: SPF_TIME_LIMIT_MS,
    // Every check exactly as its RFC says rather than mailauth's lenient defaults: SPF syntax
    // errors are permerror (RFC 7208 section 4.6), rsa-sha1 is not a pass (RFC 8301 section
    // 3.1), an unprocessable DKIM signature is reported as neutral. With it, mailauth passes
    // the whole RFC 7208 suite but for what the runtimes' DNS clients cannot ask (see
    // test/spf_suite_test.ts).
    strict: true,
  };
}

/**
 * mailauthResolver, except that PTR questions arrive from mailauth as reverse names
 * ("4.3.2.1.in-addr.arpa", RFC 7208 section 5.5) while the Resolver port's ptr() takes the
 * address: turn the name back into one.
 */
function authResolver(resolver: Resolver) {
  const base = mailauthResolver(resolver);
  return (name: string, rrtype: string): Promise<unknown> => {
    if (rrtype.toUpperCase() !== "PTR") return base(name, rrtype);
    const address = addressOfReverseName(name);
    if (!address) {
      const e = Object.assign(new Error(`not a reverse name: ${name}`), { code: "ENOTFOUND" });
      return Promise.reject(e);
    }
    return resolver.ptr(address);
  };
}

/** "4.3.2.1.in-addr.arpa" → "1.2.3.4"; the 32-nibble ip6.arpa form → a full IPv6 address. */
export function addressOfReverseName(name: string): string | undefined {
  const labels = name.toLowerCase().replace(/\.$/, "").split(".");
  const zone = labels.splice(-2).join(".");
  if (zone === "in-addr.arpa" && labels.length === 4 && labels.every((l) => /^\d{1,3}$/.test(l))) {
    return labels.reverse().join(".");
  }
  if (zone === "ip6.arpa" && labels.length === 32 && labels.every((l) => /^[0-9a-f]$/.test(l))) {
    const hex = labels.reverse().join("");
    return hex.match(/.{4}/g)!.join(":");
  }
  return undefined;
}

/** The SPF step alone (RFC 7208 check_host() on MAIL FROM, or HELO for `<>`). */
export async function checkSpf(
  input: Omit<InboundAuthInput, "message">,
  options: InboundAuthOptions,
): Promise<SpfVerdict> {
  const r = await (await mailauth()).spf(spfOptions(input, options));
  return spfVerdict(r);
}

function spfVerdict(r: { domain: string; status: { result: string }; explanation?: string }) {
  const verdict: SpfVerdict = { result: r.status.result, domain: r.domain };
  if (r.explanation !== undefined) verdict.explanation = r.explanation;
  return verdict;
}

const LOWER: Record<string, string> = { reject: "quarantine", quarantine: "none", none: "none" };

/**
 * What DMARC asks of a failing message. RFC 7489 section 6.6.4: with pct below 100 a message
 * outside the sample gets the next weaker policy (reject → quarantine → none). A temperror or a
 * missing record is no instruction at all: accept (section 6.6.3 leaves temperror to the
 * receiver, and deferring all mail on a DNS hiccup would punish the innocent).
 */
export function dmarcDisposition(dmarc: DmarcVerdict, random: () => number): Disposition {
  if (dmarc.result !== "fail") return "accept";
  let policy = dmarc.policy;
  if (dmarc.pct !== undefined && dmarc.pct < 100 && random() * 100 >= dmarc.pct) {
    policy = LOWER[policy] ?? "none";
  }
  return policy === "reject" ? "reject" : policy === "quarantine" ? "junk" : "accept";
}

/** Runs every check; never throws. */
export async function authenticateInbound(
  input: InboundAuthInput,
  options: InboundAuthOptions,
): Promise<AuthVerdict> {
  const authservId = authservIdOf(options.hostname);
  let result;
  try {
    result = await (await mailauth()).authenticate(asBuffer(input.message), {
      ...spfOptions(input, options),
      disableBimi: true,
    });
  } catch (e) {
    // mailauth turns DNS failures into temperror itself; this is for what it did not foresee.
    const error = e instanceof Error ? e.message : String(e);
    return {
      spf: { result: "temperror", domain: "" },
      dkim: [],
      dmarc: { result: "temperror", policy: "none", domain: "" },
      arc: { result: "temperror" },
      disposition: "accept",
      headers: `Authentication-Results: ${authservId};\r\n spf=temperror;\r\n dkim=temperror;\r\n` +
        ` dmarc=temperror (authentication failed: ${commentSafe(error)})\r\n`,
      error,
    };
  }

  const dkim = (result.dkim?.results ?? []).slice(0, MAX_DKIM_RESULTS).map((r) => ({
    result: r.status.result,
    domain: r.signingDomain ?? "",
    selector: r.selector ?? "",
    algo: r.algo ?? "",
    aligned: !!r.status.aligned,
  }));
  const d = result.dmarc;
  const record = d ? (d as unknown as { record?: { pct?: unknown } }).record : undefined;
  const dmarc: DmarcVerdict = d
    ? {
      result: d.status.result,
      policy: d.policy ?? "none",
      domain: d.status.header?.from ?? d.domain ?? "",
    }
    : { result: "none", policy: "none", domain: "" };
  if (typeof record?.pct === "number" && record.pct < 100) dmarc.pct = record.pct;
  const alignment = d
    ? (d as unknown as {
      alignment?: { spf?: { result?: unknown }; dkim?: { result?: unknown } };
      policyDomain?: string;
    })
    : undefined;
  if (alignment?.alignment) {
    dmarc.spfAligned = !!alignment.alignment.spf?.result;
    dmarc.dkimAligned = !!alignment.alignment.dkim?.result;
  }
  if (alignment?.policyDomain) dmarc.policyDomain = alignment.policyDomain;
  if (!d && result.dmarcSkipReason) dmarc.skipped = result.dmarcSkipReason;
  return {
    spf: result.spf
      ? spfVerdict(result.spf)
      : { result: "none", domain: input.mailFrom.split("@").pop() ?? "" },
    dkim,
    dmarc,
    arc: { result: result.arc ? result.arc.status.result : "none" },
    disposition: dmarcDisposition(dmarc, options.random ?? Math.random),
    headers: authenticationResultsField(result.headers),
  };
}

/** The verdict as kept in the message's JSON form (the header is in the raw message already). */
export function verdictJson(verdict: AuthVerdict): Record<string, unknown> {
  const { headers: _headers, ...rest } = verdict;
  return rest;
}

/** Picks Authentication-Results out of mailauth's block (which also holds Received-SPF). */
function authenticationResultsField(block: string): string {
  const fields = block.split(/\r?\n(?=[^ \t])/).filter((f) => f.trim());
  const ar = fields.find((f) => /^authentication-results:/i.test(f)) ?? "";
  return ar.replace(/\r?\n/g, "\r\n").replace(/(\r\n)?$/, "\r\n");
}

const commentSafe = (s: string) => s.replace(/[()\\\r\n]/g, " ").slice(0, 120);

/** mailauth's rendering of the authserv-id: a token, else a quoted string (RFC 8601 2.5). */
function authservIdOf(hostname: string): string {
  return /^[A-Za-z0-9.!#$%&'*+\-/=?^_`{|}~]+$/.test(hostname)
    ? hostname
    : `"${hostname.replace(/["\\]/g, "\\$&")}"`;
}

/**
 * RFC 8601 section 5: removes every Authentication-Results field whose authserv-id is ours (a
 * sender forging our verdicts), leaving all other bytes as they were. Fields of other
 * authserv-ids are someone else's claims and stay.
 */
export function stripOwnAuthResults(message: Uint8Array, authservId: string): Uint8Array {
  const ours = authservId.toLowerCase();
  return removeHeaderFields(message, (field) => fieldAuthservId(field) === ours);
}

const fieldDecoder = new TextDecoder();

/** The lower-cased authserv-id of an Authentication-Results field, or undefined for others. */
function fieldAuthservId(field: Uint8Array): string | undefined {
  // Most fields are something else: tell by the first octet before decoding anything.
  if ((field[0] | 0x20) !== 0x61) return undefined; // "a" or "A"
  const text = fieldDecoder.decode(field.subarray(0, 2048));
  const m = /^authentication-results[ \t]*:/i.exec(text);
  if (!m) return undefined;
  let value = text.slice(m[0].length);
  // CFWS may surround the authserv-id: drop comments (nested ones too) before reading it.
  for (let prev = ""; prev !== value;) {
    prev = value;
    value = value.replace(/\((?:[^()\\]|\\.)*\)/g, " ");
  }
  const id = /^\s*("(?:[^"\\]|\\.)*"|[^\s;]+)/.exec(value)?.[1] ?? "";
  const unquoted = id.startsWith('"') ? id.slice(1, -1).replace(/\\(.)/g, "$1") : id;
  return unquoted.toLowerCase();
}
