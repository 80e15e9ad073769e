/**
 * The sending side (docs/federation.md sections 6 and 9): one signed POST per message and
 * recipient domain carrying all of that domain's recipients, a proof-of-work stamp minted when
 * the peer asks for one, and the peer's receipt verified against its JWKS before any recipient counts as
 * delivered. Results go back to the shared outbox (sent, deferred with backoff, or failed with
 * a bounce) and the receipt is stored beside the message.
 */
import {
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

const failure = (code: string, message: string, temporary: boolean): SendOutcome => ({
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
async function post(deps: Deps, url: string, body: DeliveryRequest): Promise<Response> {
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

/** Signs and posts one message to a peer; never throws for peer or network trouble. */
export async function sendFederated(
  deps: Deps,
  peer: DiscoveryDocument,
  msg: OutgoingMessage,
): Promise<SendOutcome> {
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
  const body: DeliveryRequest = {
    envelope: await signClaims(claims, ENVELOPE_TYP, key),
    content: toBase64(msg.raw),
  };
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
      const code = problem.code ?? `http_${res.status}`;
      const message = `${msg.domain} answered ${res.status} ${code}: ${problem.detail ?? ""}`;
      return failure(code, message.trim(), !PERMANENT.has(code));
    }
    const parsed = DeliveryResponse.safeParse(await res.json());
    if (!parsed.success) return failure("bad_response", `${msg.domain}: malformed response`, true);
    const receipt = await checkReceipt(deps, parsed.data.receipt, claims);
    if (typeof receipt === "string") return failure("bad_receipt", receipt, true);
    return { ok: true, receipt: parsed.data.receipt, results: receipt.results, claims };
  } catch (e) {
    const code = e instanceof RefusedTarget ? "refused_target" : "network";
    return failure(code, `${msg.domain}: ${(e as Error).message}`.slice(0, 500), true);
  }
}
