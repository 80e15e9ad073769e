/**
 * The sending side (docs/federation.md sections 6 and 9): one signed POST per message and
 * recipient domain carrying all of that domain's recipients, a proof-of-work stamp minted when
 * the peer asks for one, and the peer's receipt verified against its JWKS before any recipient counts as
 * delivered. Results go back to the shared outbox (sent, deferred with backoff, or failed with
 * a bounce) and the receipt is stored beside the message.
 */
import {
  type BatchDeliveryRequest,
  BatchDeliveryResponse,
  type DeliveryRequest,
  DeliveryResponse,
  type DiscoveryDocument,
  ENVELOPE_TYP,
  type EnvelopeClaims,
  RECEIPT_TYP,
  ReceiptClaims,
  type RecipientOutcome,
} from "../../schemas/federation.ts";
import { parseAddress } from "../../schemas/address.ts";
import type { Deps } from "../deps.ts";
import { federationPolicy, guardedFetch, RefusedTarget } from "../http/net_guard.ts";
import { randomToken, toBase64 } from "../crypto.ts";
import { peerJwks } from "./discovery.ts";
import { contentDigest, mintPow, readHeader, signClaims, verifyWithJwks } from "./envelope.ts";
import { signingKey } from "./keys.ts";
import { ENVELOPE_LIFETIME_SECONDS } from "./policy.ts";

/** Error codes after which the same delivery can never succeed (others are retried). */
const PERMANENT = new Set([
  "bad_request",
  "bad_envelope",
  "misaligned_from",
  "too_large",
  "too_many_recipients",
  "not_a_local_domain",
  "wrong_audience",
]);

export interface OutgoingMessage {
  /** The recipient domain (the envelope's audience). */
  domain: string;
  mailFrom: string;
  recipients: string[];
  raw: Uint8Array;
  messageId: string;
  /** The local domain that signs; by default the envelope sender's. */
  signer?: string;
}

export type SendOutcome =
  | {
    ok: true;
    receipt: string;
    results: RecipientOutcome[];
    claims: EnvelopeClaims;
  }
  | { ok: false; code: string; message: string; temporary: boolean };

type Failure = Extract<SendOutcome, { ok: false }>;

const failure = (code: string, message: string, temporary: boolean): Failure => ({
  ok: false,
  code,
  message,
  temporary,
});

/** The domain of an address, or undefined when it does not parse. */
export function domainOf(address: string): string | undefined {
  const parsed = parseAddress(address);
  return parsed.ok ? parsed.value.domain : undefined;
}

/** Section 3.4: the delivery endpoint is checked like every fetch (after DNS, no redirects). */
async function post(
  deps: Deps,
  url: string,
  body: DeliveryRequest | BatchDeliveryRequest,
): Promise<Response> {
  return await guardedFetch(
    deps,
    deps.federation!.fetch,
    new Request(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(body),
      redirect: "manual",
      signal: AbortSignal.timeout(60_000),
    }),
    federationPolicy(deps),
  );
}

/** Checks the receipt's signature and that it answers exactly this envelope. */
async function checkReceipt(
  deps: Deps,
  receipt: string,
  claims: EnvelopeClaims,
): Promise<ReceiptClaims | string> {
  const header = readHeader(receipt);
  if (!header || header.typ !== RECEIPT_TYP) return "the receipt is not a receipt JWS";
  let jwks = await peerJwks(deps, claims.aud);
  if (!jwks.keys.some((k) => k.kid === header.kid)) jwks = await peerJwks(deps, claims.aud, true);
  const verified = await verifyWithJwks(receipt, jwks, Math.floor(deps.clock.now() / 1000));
  if (!verified.ok) return `the receipt does not verify (${verified.reason})`;
  const parsed = ReceiptClaims.safeParse(verified.payload);
  if (!parsed.success) return "the receipt's claims are malformed";
  const r = parsed.data;
  if (r.iss !== claims.aud || r.aud !== claims.iss) return "the receipt names other domains";
  if (r.nonce !== claims.nonce || r.digest !== claims.digest) {
    return "the receipt answers another envelope";
  }
  return r;
}

/** One message's signed delivery request, with the claims its receipt must answer. */
interface Signed {
  claims: EnvelopeClaims;
  body: DeliveryRequest;
}

/** Signs the envelope of `msg` (a failure when no local key may sign it). */
async function signDelivery(deps: Deps, msg: OutgoingMessage): Promise<Signed | SendOutcome> {
  const signer = msg.signer ?? domainOf(msg.mailFrom);
  const key = signer ? await signingKey(deps, signer) : undefined;
  if (!signer || !key) {
    return failure(
      "no_signing_key",
      `no local federation key for ${signer ?? "the sender"}`,
      false,
    );
  }
  const nowS = Math.floor(deps.clock.now() / 1000);
  const claims: EnvelopeClaims = {
    iss: signer,
    aud: msg.domain,
    from: msg.mailFrom,
    recipients: msg.recipients,
    messageId: msg.messageId,
    digest: await contentDigest(msg.raw),
    iat: nowS,
    exp: nowS + ENVELOPE_LIFETIME_SECONDS,
    nonce: randomToken(16),
  };
  return {
    claims,
    body: {
      envelope: await signClaims(claims, ENVELOPE_TYP, key),
      content: toBase64(msg.raw),
    },
  };
}

/** A refusal (problem+json's code, or the HTTP status) as an outcome: retried unless final. */
function refused(domain: string, status: number, code = `http_${status}`, detail = ""): Failure {
  const message = `${domain} answered ${status} ${code}: ${detail}`;
  return failure(code, message.trim(), !PERMANENT.has(code));
}

/** The outcome of a 200 answer: its receipt verified against the peer's keys. */
async function accepted(deps: Deps, receiptJws: string, claims: EnvelopeClaims) {
  const receipt = await checkReceipt(deps, receiptJws, claims);
  if (typeof receipt === "string") return failure("bad_receipt", receipt, true);
  return { ok: true as const, receipt: receiptJws, results: receipt.results, claims };
}

const networkFailure = (domain: string, e: unknown) =>
  failure(
    e instanceof RefusedTarget ? "refused_target" : "network",
    `${domain}: ${(e as Error).message}`.slice(0, 500),
    true,
  );

/**
 * Statuses of a whole batch refused that the same messages may not meet one by one: batches
 * off (404), the batch too large (413), or one malformed delivery failing the request's
 * validation (400, 422).
 */
const ONE_BY_ONE = new Set([400, 404, 413, 422]);

/** Signs and posts one message to a peer; never throws for peer or network trouble. */
export async function sendFederated(
  deps: Deps,
  peer: DiscoveryDocument,
  msg: OutgoingMessage,
): Promise<SendOutcome> {
  const signed = await signDelivery(deps, msg);
  if ("ok" in signed) return signed;
  const { claims, body } = signed;
  try {
    let res = await post(deps, peer.delivery, body);
    if (res.status === 402 && peer.proofOfWork) {
      // The peer does not know us yet: mint the stamp its policy asks for, and try once more.
      await res.body?.cancel();
      const counter = await mintPow(peer.proofOfWork.bits, claims.aud, claims.digest, claims.nonce);
      res = await post(deps, peer.delivery, { ...body, proofOfWork: { counter } });
    }
    if (res.status !== 200) {
      const problem = await res.json().catch(() => ({})) as { code?: string; detail?: string };
      return refused(msg.domain, res.status, problem.code, problem.detail);
    }
    const parsed = DeliveryResponse.safeParse(await res.json());
    if (!parsed.success) return failure("bad_response", `${msg.domain}: malformed response`, true);
    return await accepted(deps, parsed.data.receipt, claims);
  } catch (e) {
    return networkFailure(msg.domain, e);
  }
}

/**
 * Signs several messages for one peer that advertises a batch endpoint (section 6.4) and posts
 * them in one request; answers one outcome per message, in order, never throwing. Each has its
 * own envelope and receipt, checked as on the single path. A delivery the peer wants a
 * proof-of-work stamp for goes again alone (the single path mints it); a batch the peer no
 * longer takes or refuses as a whole for its shape or size goes one by one (ONE_BY_ONE), where a
 * bad message fails alone.
 */
export async function sendFederatedBatch(
  deps: Deps,
  peer: DiscoveryDocument,
  msgs: OutgoingMessage[],
): Promise<SendOutcome[]> {
  const domain = peer.domain;
  const one = (msg: OutgoingMessage) => sendFederated(deps, peer, msg);
  if (!peer.batch || msgs.length < 2) return await Promise.all(msgs.map(one));
  const signed = await Promise.all(msgs.map((m) => signDelivery(deps, m)));
  const posted = signed.flatMap((s, i) => "ok" in s ? [] : [{ i, ...s }]);
  const out: SendOutcome[] = signed.map((s) =>
    "ok" in s ? s : failure("bad_response", `${domain}: no answer for this delivery`, true)
  );
  if (posted.length === 0) return out;
  try {
    const res = await post(deps, peer.batch.url, { deliveries: posted.map((p) => p.body) });
    if (ONE_BY_ONE.has(res.status)) {
      await res.body?.cancel();
      return await Promise.all(msgs.map(one));
    }
    if (res.status !== 200) {
      const problem = await res.json().catch(() => ({})) as { code?: string; detail?: string };
      // The request as a whole was refused (e.g. 429, 503): no delivery was judged, all retry.
      const whole = refused(domain, res.status, problem.code, problem.detail);
      for (const p of posted) out[p.i] = { ...whole, temporary: true };
      return out;
    }
    const parsed = BatchDeliveryResponse.safeParse(await res.json());
    if (!parsed.success || parsed.data.items.length !== posted.length) {
      for (const p of posted) {
        out[p.i] = failure("bad_response", `${domain}: malformed batch response`, true);
      }
      return out;
    }
    await Promise.all(posted.map(async (p, k) => {
      const item = parsed.data.items[k];
      if (item.status === 200 && item.receipt) {
        out[p.i] = await accepted(deps, item.receipt, p.claims);
      } else if (item.status === 402 && peer.proofOfWork) {
        out[p.i] = await one(msgs[p.i]);
      } else out[p.i] = refused(domain, item.status, item.code, item.detail);
    }));
    return out;
  } catch (e) {
    const lost = networkFailure(domain, e);
    for (const p of posted) out[p.i] = lost;
    return out;
  }
}
