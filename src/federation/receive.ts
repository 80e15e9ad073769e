/**
 * The receiving side of a federation delivery (docs/federation.md section 6.2): every check in
 * the documented order, each failing with its documented code — envelope shape, audience,
 * issued-at/expiry window, limits, the signer's key (JWKS via discovery, refreshed once on an
 * unknown kid), signature over canonical JSON, content digest, From alignment, proof-of-work for
 * unknown senders, the per-domain rate limit and nonce replay (in the storing transaction) —
 * then the inbound pipeline and a receipt signed by the recipient domain, after the commit.
 */
import { and, eq } from "drizzle-orm";
import { parseAddress } from "../../schemas/address.ts";
import {
  type DeliveryRequest,
  type DeliveryResponse,
  ENVELOPE_TYP,
  EnvelopeClaims,
  type FederationErrorCode,
  RECEIPT_TYP,
  type ReceiptClaims,
  type RecipientOutcome,
} from "../../schemas/federation.ts";
import type { Deps } from "../deps.ts";
import { fromBase64 } from "../crypto.ts";
import { findDomain } from "../services/accounts.ts";
import { deliveryJob, prepareDelivery, type RecipientResult } from "../services/delivery.ts";
import { assertStep, rawSql, schema, type Statement } from "../store/store.ts";
import { retryStale } from "../store/optimistic.ts";
import { peerJwks } from "./discovery.ts";
import {
  checkPow,
  contentDigest,
  readHeader,
  readPayload,
  signClaims,
  verifyWithJwks,
} from "./envelope.ts";
import { signingKey } from "./keys.ts";
import { federationLimits, powPolicy } from "./policy.ts";

export class FederationError extends Error {
  constructor(readonly code: FederationErrorCode, message: string) {
    super(message);
    this.name = "FederationError";
  }
}

const fail = (code: FederationErrorCode, message: string) => new FederationError(code, message);

/** A refused delivery, logged at info level: the sender's trouble, answered with its code. */
export function logRefusal(deps: Deps, e: FederationError): void {
  deps.logger.log("info", "federation.rejected", { code: e.code, detail: e.message });
}

/** RFC 7489 section 3.1-style relaxed alignment: equal, or one a subdomain of the other. */
export function aligned(a: string, b: string): boolean {
  return a === b || a.endsWith(`.${b}`) || b.endsWith(`.${a}`);
}

function decodeContent(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw fail("bad_request", "content is not base64");
  return fromBase64(text);
}

function outcome(r: RecipientResult): RecipientOutcome {
  if (r.status !== "rejected") return { recipient: r.recipient, status: "accepted" };
  return {
    recipient: r.recipient,
    status: "rejected",
    code: r.code,
    ...(r.temporary ? { temporary: true } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
  };
}

/**
 * The admission of an envelope (rate limit and nonce, together), read now for a clear answer
 * and re-checked by the statements it returns, the first of the delivery's write job: the nonce
 * is spent by a plain INSERT (its primary key refuses a replay, whichever gateway saw it first)
 * and the sender's window is counted by an upsert that moves only under the limit (an assert
 * after it undoes the job when a concurrent delivery used the last place: read again). The
 * read is one statement (the sender's window and whether the nonce is spent): it runs on every
 * delivery.
 */
async function admit(deps: Deps, claims: EnvelopeClaims, now: number): Promise<Statement[]> {
  const limit = deps.config.federationRatePerMinute;
  const row = await rawSql(deps.store.db).get<
    { window_start: number | null; window_count: number | null; spent: number }
  >(
    `SELECT s.window_start, s.window_count, EXISTS (SELECT 1 FROM federation_nonces
        WHERE issuer = ?1 AND nonce = ?2) AS spent
      FROM (SELECT 1) LEFT JOIN federation_senders s ON s.domain = ?1`,
    [claims.iss, claims.nonce],
  );
  const windowStart = Number(row?.window_start ?? 0);
  const fresh = row?.window_start == null || now - windowStart >= 60_000;
  if (!fresh && Number(row?.window_count ?? 0) >= limit) {
    throw fail("rate_limited", `more than ${limit} deliveries this minute from ${claims.iss}`);
  }
  if (Number(row?.spent ?? 0)) throw fail("replayed_nonce", "this nonce was already used");
  const statements: Statement[] = [
    {
      sql: "INSERT INTO federation_nonces (issuer, nonce, expires_at) VALUES (?, ?, ?)",
      args: [claims.iss, claims.nonce, claims.exp * 1000],
    },
    {
      sql: `INSERT INTO federation_senders (domain, window_start, window_count, accepted,
          first_seen, last_seen) VALUES (?1, ?2, 1, 1, ?2, ?2)
        ON CONFLICT (domain) DO UPDATE SET
          window_start = CASE WHEN ?2 - window_start >= 60000 THEN ?2 ELSE window_start END,
          window_count = CASE WHEN ?2 - window_start >= 60000 THEN 1 ELSE window_count + 1 END,
          accepted = accepted + 1, last_seen = ?2
        WHERE ?2 - window_start >= 60000 OR window_count < ?3`,
      args: [claims.iss, now, limit],
    },
    assertStep("changes() = 1"),
  ];
  // Spent nonces are needed only until their envelope would be stale anyway.
  if (Math.random() < 0.01) {
    statements.push({ sql: "DELETE FROM federation_nonces WHERE expires_at < ?", args: [now] });
  }
  return statements;
}

/** A nonce spent by a concurrent delivery between the read and the job. */
const isSpentNonce = (e: unknown) =>
  /UNIQUE constraint failed: federation_nonces\./.test(String((e as Error)?.message ?? e));

async function isKnownSender(deps: Deps, domain: string): Promise<boolean> {
  const [row] = await deps.store.db.select({ accepted: schema.federationSenders.accepted })
    .from(schema.federationSenders).where(and(eq(schema.federationSenders.domain, domain)));
  return (row?.accepted ?? 0) > 0;
}

/** Runs every check, the pipeline, and answers the signed receipt. */
export async function receiveDelivery(
  deps: Deps,
  request: DeliveryRequest,
): Promise<DeliveryResponse> {
  const now = deps.clock.now();
  const nowS = Math.floor(now / 1000);
  const limits = federationLimits(deps);

  // 1. Shape: a JWS of our type whose payload is a complete envelope.
  const header = readHeader(request.envelope);
  if (!header || header.typ !== ENVELOPE_TYP) {
    throw fail(
      "bad_envelope",
      `envelope must be a JWS with alg EdDSA, kid and typ ${ENVELOPE_TYP}`,
    );
  }
  const parsed = EnvelopeClaims.safeParse(readPayload(request.envelope));
  if (!parsed.success) {
    throw fail(
      "bad_envelope",
      `envelope claims: ${
        parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")
      }`,
    );
  }
  const claims = parsed.data;

  // 2. Audience: a domain served here, and every recipient in it.
  if (!(await findDomain(deps.store.db, claims.aud))) {
    throw fail("not_a_local_domain", `${claims.aud} is not served here`);
  }
  for (const rcpt of claims.recipients) {
    const a = parseAddress(rcpt);
    if (!a.ok || a.value.domain !== claims.aud) {
      throw fail("wrong_audience", `recipient ${rcpt} is not in ${claims.aud}`);
    }
  }

  // 3. Time window (RFC 7519 sections 4.1.4 and 4.1.6 semantics, in whole seconds).
  if (claims.iat > nowS + limits.maxClockSkewSeconds) {
    throw fail("stale_envelope", "iat is in the future");
  }
  if (claims.exp <= nowS - limits.maxClockSkewSeconds) throw fail("stale_envelope", "expired");
  if (claims.exp - claims.iat > limits.maxEnvelopeLifetimeSeconds || claims.exp < claims.iat) {
    throw fail("stale_envelope", `exp − iat must be 0 to ${limits.maxEnvelopeLifetimeSeconds} s`);
  }

  // 4. Limits.
  if (claims.recipients.length > limits.maxRecipients) {
    throw fail("too_many_recipients", `at most ${limits.maxRecipients} recipients`);
  }
  const raw = decodeContent(request.content);
  if (raw.byteLength > limits.maxMessageBytes) {
    throw fail("too_large", `the message exceeds ${limits.maxMessageBytes} bytes`);
  }

  // 5. Signature, against the issuer's JWKS (fetched again once when the kid is unknown).
  let jwks;
  try {
    jwks = await peerJwks(deps, claims.iss);
    if (!jwks.keys.some((k) => k.kid === header.kid)) jwks = await peerJwks(deps, claims.iss, true);
  } catch (e) {
    throw fail("sender_discovery_failed", `keys of ${claims.iss}: ${(e as Error).message}`);
  }
  const verified = await verifyWithJwks(request.envelope, jwks, nowS);
  if (!verified.ok) {
    if (verified.reason === "unknown_key") {
      throw fail("unknown_key", `${claims.iss} publishes no valid key ${header.kid}`);
    }
    throw fail(
      "bad_signature",
      verified.reason === "not_canonical"
        ? "the signed payload is not RFC 8785 canonical JSON"
        : "the signature does not verify",
    );
  }

  // 6. Digest of the exact bytes (before any parsing of content nobody signed).
  if ((await contentDigest(raw)) !== claims.digest) {
    throw fail("digest_mismatch", "the content's SHA-256 differs from the signed digest");
  }
  // 7. Alignment: the envelope sender's domain is the signer; the header From aligns with it.
  if (claims.from !== "") {
    const from = parseAddress(claims.from);
    if (!from.ok || from.value.domain !== claims.iss) {
      throw fail("misaligned_from", `envelope sender ${claims.from} is not in ${claims.iss}`);
    }
  }
  const mail = await deps.mime.parse(raw);
  const headerFrom = mail.from?.address ? parseAddress(mail.from.address) : undefined;
  if (!headerFrom?.ok || !aligned(headerFrom.value.domain, claims.iss)) {
    throw fail(
      "misaligned_from",
      `From ${mail.from?.address ?? "(none)"} does not align with ${claims.iss}`,
    );
  }
  // The Message-ID the signer named is the content's (it keys de-duplication).
  if ((mail.messageId ?? "") !== claims.messageId) {
    throw fail("digest_mismatch", "the content's Message-ID differs from the signed one");
  }

  // 8. Proof-of-work from senders this server has not accepted mail from yet.
  const pow = powPolicy(deps);
  if (pow && (pow.appliesTo === "all" || !(await isKnownSender(deps, claims.iss)))) {
    if (!request.proofOfWork) throw fail("pow_required", `a ${pow.bits}-bit stamp is required`);
    const good = await checkPow(
      pow.bits,
      claims.aud,
      claims.digest,
      claims.nonce,
      request.proofOfWork.counter,
    );
    if (!good) throw fail("bad_pow", `the stamp has fewer than ${pow.bits} zero bits`);
  }

  // 9. Rate limit and nonce, together; then the pipeline (it answers after its commit).
  const prepared = await prepareDelivery(deps, {
    raw,
    parsed: mail,
    mailFrom: claims.from,
    recipients: claims.recipients,
    source: "federation",
    authentication: {
      federation: {
        result: "pass",
        signer: claims.iss,
        kid: header.kid,
        aligned: true,
        digest: claims.digest,
        nonce: claims.nonce,
        iat: claims.iat,
        ...(pow ? { proofOfWork: request.proofOfWork ? pow.bits : "known-sender" } : {}),
      },
    },
  });
  // Reads first, then one write job: admission, then the delivery (each store guarded in SQL),
  // off the event loop where the host offers it (as MX mail's: services/delivery.ts `deliver`).
  const stored = await retryStale(async () => {
    const admission = await admit(deps, claims, now);
    const job = await deliveryJob(deps.store.db, deps, prepared);
    try {
      const results = await deps.store.batch([...admission, ...job.statements], { offLoop: true });
      return job.decode(results.slice(admission.length));
    } catch (e) {
      await job.discard().catch(() => {});
      if (isSpentNonce(e)) throw fail("replayed_nonce", "this nonce was already used");
      throw e;
    }
  });
  for (const accountId of stored.touchedAccounts) deps.bus.notify(accountId);
  const outcomes = stored.results.map(outcome);
  const key = await signingKey(deps, claims.aud);
  if (!key) throw new Error(`no federation key for ${claims.aud}`);
  const receipt: ReceiptClaims = {
    iss: claims.aud,
    aud: claims.iss,
    nonce: claims.nonce,
    digest: claims.digest,
    messageId: claims.messageId,
    iat: Math.floor(deps.clock.now() / 1000),
    results: outcomes,
  };
  deps.logger.log("info", "federation.received", {
    from: claims.iss,
    to: claims.aud,
    recipients: claims.recipients.length,
    accepted: outcomes.filter((o) => o.status === "accepted").length,
  });
  return { receipt: await signClaims(receipt, RECEIPT_TYP, key), results: outcomes };
}
