/**
 * Forwarding in the inbound pipeline (issue 21 item 3): every copy that leaves for a remote
 * address because of an alias, an account's forwarding or a Sieve redirect (delivery.ts's
 * `plan.remote`) is queued here, with
 *
 * - an SRS envelope sender in the forwarding domain (./srs.ts), so that SPF (RFC 7208) at the
 *   next hop checks our address, not the original sender's; a null sender (a bounce) and a
 *   sender in one of our own domains stay as they are;
 * - an ARC seal request (RFC 8617) beside the outbox row (`outbox_seals`): the verdicts the MX
 *   saw (the message's stored authentication) as ARC-Authentication-Results, and the chain
 *   status it found; the bridge seals where it DKIM-signs (bridge/smtp_out/arc_seal.ts).
 *
 * And the way back: a bounce to one of our SRS addresses is accepted at RCPT only when its hash
 * and age check out (else 550 5.1.1), and goes to the address it stands for through the outbox.
 * The SRS key is derived from the master key, so every gateway of one installation shares it.
 */
import { parseAddress } from "../../schemas/address.ts";
import type { Deps } from "../deps.ts";
import { purposeSecret } from "../crypto.ts";
import { findDomain } from "../services/accounts.ts";
import { enqueueStatements, type OutboundInput } from "../services/outbox.ts";
import type { Queryable, Statement } from "../store/store.ts";
import { looksLikeSrs, srsForward, srsKey, type SrsReverse, srsReverse } from "./srs.ts";

const keys = new WeakMap<Uint8Array, Promise<CryptoKey>>();

/** The SRS key: a secret of its own derived from the master key, as every other secret is. */
function keyOf(deps: Deps): Promise<CryptoKey> {
  let key = keys.get(deps.jwtKey);
  if (!key) {
    key = purposeSecret(deps.jwtKey, "postern srs v1").then(srsKey);
    keys.set(deps.jwtKey, key);
  }
  return key;
}

/**
 * What an SRS address in one of our domains stands for; undefined when `address` is no SRS
 * address of a local domain (then it is an ordinary recipient).
 */
export async function srsRoute(
  deps: Deps,
  db: Queryable,
  address: string,
): Promise<SrsReverse | undefined> {
  if (!looksLikeSrs(address)) return undefined;
  const parsed = parseAddress(address);
  if (!parsed.ok || !(await findDomain(db, parsed.value.domain))) return undefined;
  return await srsReverse(await keyOf(deps), parsed.value.address, deps.clock.now());
}

/** The envelope sender a copy forwarded by `forwardDomain` leaves with. */
export async function forwardSender(
  deps: Deps,
  db: Queryable,
  mailFrom: string,
  forwardDomain: string,
): Promise<string> {
  // A bounce keeps its null sender (RFC 5321 section 4.5.5), and our own senders pass SPF as
  // they are: no rewrite.
  if (mailFrom === "") return "";
  const parsed = parseAddress(mailFrom);
  if (!parsed.ok || await findDomain(db, parsed.value.domain)) return mailFrom;
  return await srsForward(await keyOf(deps), parsed.value.address, forwardDomain, deps.clock.now());
}

interface Verdicts {
  spf?: { result?: string; domain?: string };
  dkim?: { result?: string; domain?: string; selector?: string; algo?: string }[];
  dmarc?: { result?: string; domain?: string };
  arc?: { result?: string };
  clientIp?: string;
}

/** A result keyword or a domain as a token of an Authentication-Results value (RFC 8601). */
const token = (v: unknown, fallback: string) => {
  const s = typeof v === "string" ? v.trim().toLowerCase() : "";
  return /^[a-z0-9][a-z0-9._:-]{0,252}$/.test(s) ? s : fallback;
};

export interface SealRequest {
  authResults: string;
  cv: "none" | "pass" | "fail";
}

/**
 * The ARC-Authentication-Results payload (RFC 8617 section 4.1.1: an Authentication-Results
 * value, RFC 8601) and the chain status (section 5.2) from the verdicts the MX recorded; none
 * when the message did not come through our MX checks (a local sender is DKIM-signed instead).
 */
export function sealRequest(
  authentication: Record<string, unknown> | undefined,
  authservId: string,
): SealRequest | undefined {
  const v = authentication as Verdicts | undefined;
  if (!v?.spf || !v.dmarc) return undefined;
  const parts = [token(authservId, "postern")];
  const spfDomain = token(v.spf.domain, "");
  parts.push(`spf=${token(v.spf.result, "none")}${spfDomain ? ` smtp.mailfrom=${spfDomain}` : ""}`);
  // mailauth reports an unsigned message as one result without a domain: that is dkim=none.
  const dkim = (Array.isArray(v.dkim) ? v.dkim : []).filter((d) => token(d.domain, "") !== "");
  if (dkim.length === 0) parts.push("dkim=none");
  for (const d of dkim) {
    const tags = [
      `header.d=${token(d.domain, "invalid")}`,
      d.selector ? `header.s=${token(d.selector, "invalid")}` : "",
      d.algo ? `header.a=${token(d.algo, "invalid")}` : "",
    ].filter(Boolean).join(" ");
    parts.push(`dkim=${token(d.result, "none")} ${tags}`);
  }
  const from = token(v.dmarc.domain, "");
  parts.push(`dmarc=${token(v.dmarc.result, "none")}${from ? ` header.from=${from}` : ""}`);
  const arc = token(v.arc?.result, "none");
  const ip = typeof v.clientIp === "string" && /^[0-9a-fA-F:.]{2,45}$/.test(v.clientIp)
    ? ` smtp.remote-ip=${v.clientIp}`
    : "";
  parts.push(`arc=${arc}${ip}`);
  // Section 5.2: no chain → none; a valid chain → pass; anything else (fail, permerror,
  // temperror) → fail, which ends the chain for every later sealer.
  const cv = arc === "none" ? "none" : arc === "pass" ? "pass" : "fail";
  return { authResults: parts.join(";\r\n "), cv };
}

export interface ForwardInput {
  /** The outbox rows' fields, `mailFrom` the original envelope sender. */
  outbound: OutboundInput;
  /** The domain that forwards: the SRS address's domain and the ARC sealer's d=. */
  forwardDomain: string;
  authentication?: Record<string, unknown>;
}

/**
 * The write-job statements that queue forwarded copies: each outbox row (SRS sender), its seal
 * request right behind it (`last_insert_rowid()` names the row; the seal's key is its rowid, so
 * the row's `outbox.queued` event that follows still finds the outbox row), then the event.
 */
export async function forwardStatements(
  deps: Deps,
  db: Queryable,
  input: ForwardInput,
): Promise<Statement[]> {
  const domain = input.forwardDomain.toLowerCase();
  const mailFrom = await forwardSender(deps, db, input.outbound.mailFrom, domain);
  const rows = enqueueStatements(deps, { ...input.outbound, mailFrom });
  const seal = sealRequest(input.authentication, deps.config.hostname);
  if (!seal) return rows;
  const out: Statement[] = [];
  for (let i = 0; i < rows.length; i += 2) {
    out.push(rows[i], {
      sql: `INSERT INTO outbox_seals (outbox_id, domain, auth_results, cv)
        VALUES (last_insert_rowid(), ?, ?, ?)`,
      args: [domain, seal.authResults, seal.cv],
    }, rows[i + 1]);
  }
  return out;
}

/** The domain of the first recipient whose copy is forwarded (the forwarding domain). */
export function forwardDomainOf(recipients: string[], forwarded: (i: number) => boolean): string {
  const i = recipients.findIndex((_, n) => forwarded(n));
  const parsed = parseAddress(recipients[Math.max(0, i)] ?? "");
  return parsed.ok ? parsed.value.domain : "";
}
