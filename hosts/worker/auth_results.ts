/**
 * The authentication verdicts Cloudflare Email Routing passes with a message (RFC 8601
 * Authentication-Results, and the ARC-Authentication-Results of RFC 8617 section 4.1.1, which
 * carries the same payload after an `i=` tag), read into the verdict shape the bridge's MX gives
 * the gateway (bridge/smtp/inbound_auth.ts: spf, dkim[], dmarc, arc, disposition).
 *
 * Only Cloudflare's own result is trusted: the topmost field of each kind, and only when its
 * authserv-id is Cloudflare's (RFC 8601 section 5: a receiver trusts the results of its own
 * border, and a sender can write any Authentication-Results field it likes further down). With
 * no such field every method is `none`. Pure.
 */
import { aligned as relaxedAligned } from "../../src/federation/receive.ts";

/** The authserv-id of Cloudflare Email Routing's MX. */
export const CLOUDFLARE_AUTHSERV_ID = "mx.cloudflare.net";

export interface ResultEntry {
  method: string;
  result: string;
  /** `ptype.property` → value (e.g. `header.d`, `smtp.mailfrom`, `policy.dmarc`). */
  props: Record<string, string>;
}

export interface ParsedResults {
  authservId: string;
  entries: ResultEntry[];
}

/** RFC 5322 comments (nested parentheses) out, quoted strings kept. */
function withoutComments(value: string): string {
  let out = "";
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      out += c;
      if (c === "\\" && i + 1 < value.length) out += value[++i];
      else if (c === '"') quoted = false;
    } else if (c === "(") depth++;
    else if (c === ")" && depth > 0) depth--;
    else if (depth === 0) {
      if (c === '"') quoted = true;
      out += c;
    }
  }
  return out;
}

const unquote = (v: string) =>
  v.length >= 2 && v.startsWith('"') && v.endsWith('"')
    ? v.slice(1, -1).replace(/\\(.)/g, "$1")
    : v;

/**
 * RFC 8601 section 2.2: `authserv-id [version] *( ";" resinfo )`; an ARC field has `i=N;`
 * first. Undefined when the field has no authserv-id.
 */
export function parseAuthResults(value: string, arc = false): ParsedResults | undefined {
  const parts = withoutComments(value).replace(/\r?\n[ \t]/g, " ").split(";")
    .map((p) => p.trim()).filter((p) => p.length > 0);
  if (arc && /^i\s*=/i.test(parts[0] ?? "")) parts.shift();
  const head = parts.shift();
  if (!head) return undefined;
  const authservId = head.split(/\s+/)[0].toLowerCase();
  const entries: ResultEntry[] = [];
  for (const part of parts) {
    // Whitespace separates tokens, except inside a quoted value (`header.s="a b"`).
    const tokens = part.match(/(?:[^\s"]+|"(?:[^"\\]|\\.)*")+/g) ?? [];
    const first = /^([A-Za-z0-9-]+)\s*=\s*(\S+)$/.exec(tokens.shift() ?? "");
    if (!first || first[1].toLowerCase() === "none") continue;
    const props: Record<string, string> = {};
    for (const token of tokens) {
      const prop = /^([A-Za-z0-9-]+\.[A-Za-z0-9-]+)=(.*)$/.exec(token);
      if (prop) props[prop[1].toLowerCase()] = unquote(prop[2]);
    }
    entries.push({ method: first[1].toLowerCase(), result: first[2].toLowerCase(), props });
  }
  return { authservId, entries };
}

/** The domain of the (first) From address, "" when there is none. */
export function authorDomain(fields: { name: string; value: string }[]): string {
  const from = fields.find((f) => f.name.toLowerCase() === "from")?.value ?? "";
  return (/@([A-Za-z0-9.-]+)/.exec(from)?.[1] ?? "").toLowerCase();
}

export interface EdgeVerdict {
  spf: { result: string; domain: string };
  dkim: { result: string; domain: string; selector: string; algo: string; aligned: boolean }[];
  dmarc: { result: string; policy: string; domain: string };
  arc: { result: string };
  disposition: "accept" | "junk" | "reject";
  /** Whose results these are. */
  authservId: string;
}

/**
 * Relaxed alignment by suffix (the federation's test, src/federation/receive.ts); the
 * organisational-domain test is beyond this host. No signer is never aligned.
 */
export const aligned = (signer: string, from: string) =>
  signer !== "" && relaxedAligned(signer, from);

/**
 * Cloudflare's verdicts from the message's header fields (name, value; topmost first). The ARC
 * field is preferred (Cloudflare seals what it saw), then the plain one.
 */
export function cloudflareVerdict(
  fields: { name: string; value: string }[],
  trusted = CLOUDFLARE_AUTHSERV_ID,
): EdgeVerdict {
  const topmost = (name: string) => fields.find((f) => f.name.toLowerCase() === name)?.value;
  const candidates = [
    topmost("arc-authentication-results") !== undefined
      ? parseAuthResults(topmost("arc-authentication-results")!, true)
      : undefined,
    topmost("authentication-results") !== undefined
      ? parseAuthResults(topmost("authentication-results")!)
      : undefined,
  ];
  const results = candidates.find((c) => c?.authservId === trusted.toLowerCase());
  const entries = results?.entries ?? [];
  const one = (method: string) => entries.find((e) => e.method === method);
  const spf = one("spf");
  const dmarc = one("dmarc");
  const fromDomain = (dmarc?.props["header.from"] ?? authorDomain(fields)).toLowerCase();
  const dkim = entries.filter((e) => e.method === "dkim").slice(0, 10).map((e) => {
    const domain = (e.props["header.d"] ?? e.props["header.i"]?.replace(/^.*@/, "") ?? "")
      .toLowerCase();
    return {
      result: e.result,
      domain,
      selector: e.props["header.s"] ?? "",
      algo: e.props["header.a"] ?? "",
      aligned: aligned(domain, fromDomain),
    };
  });
  const policy = (dmarc?.props["policy.dmarc"] ?? "none").toLowerCase();
  // RFC 7489 section 6.6.4 as the MX applies it: a failing message under p=quarantine goes to
  // Junk; Email Routing itself refuses what fails under p=reject.
  const disposition = dmarc?.result === "fail"
    ? policy === "reject" ? "reject" : policy === "quarantine" ? "junk" : "accept"
    : "accept";
  return {
    spf: {
      result: spf?.result ?? "none",
      domain: (spf?.props["smtp.mailfrom"] ?? spf?.props["smtp.helo"] ?? "").replace(/^.*@/, "")
        .toLowerCase(),
    },
    dkim,
    dmarc: { result: dmarc?.result ?? "none", policy, domain: fromDomain },
    arc: { result: one("arc")?.result ?? "none" },
    disposition,
    authservId: results?.authservId ?? "",
  };
}
