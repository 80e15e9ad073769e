/**
 * What this gateway publishes about itself in its discovery document (docs/federation.md
 * section 3.2): versions, endpoints, limits and proof-of-work policy, all derived from
 * configuration so that what is published is what the receiving side enforces.
 */
import {
  type DiscoveryDocument,
  FEDERATION_VERSION,
  type FederationLimits,
  POW_ALGORITHM,
  type ProofOfWorkPolicy,
} from "../../schemas/federation.ts";
import type { Deps } from "../deps.ts";

/** Most recipients one delivery may carry. */
export const MAX_RECIPIENTS = 100;
export const MAX_CLOCK_SKEW_SECONDS = 300;
export const MAX_ENVELOPE_LIFETIME_SECONDS = 3600;
/**
 * Largest batch request body (the JSON as sent): a batch of small messages fits easily, and a
 * large message goes alone to the single endpoint instead of holding a big request in memory.
 * Never above the request limit every route has.
 */
export const MAX_BATCH_BYTES = 8 * 1024 * 1024;
/** The lifetime senders here give their envelopes. */
export const ENVELOPE_LIFETIME_SECONDS = 600;

export function federationLimits(deps: Deps): FederationLimits {
  return {
    maxMessageBytes: deps.config.maxMessageBytes,
    maxRecipients: MAX_RECIPIENTS,
    maxClockSkewSeconds: MAX_CLOCK_SKEW_SECONDS,
    maxEnvelopeLifetimeSeconds: MAX_ENVELOPE_LIFETIME_SECONDS,
    deliveriesPerMinute: deps.config.federationRatePerMinute,
  };
}

export function powPolicy(deps: Deps): ProofOfWorkPolicy | null {
  const bits = deps.config.federationPowBits;
  return bits > 0 ? { algorithm: POW_ALGORITHM, bits, appliesTo: "unknown-senders" } : null;
}

/** The batch endpoint's bounds here (section 6.4), or undefined when batches are off. */
export function batchLimits(deps: Deps): { maxMessages: number; maxBytes: number } | undefined {
  const maxMessages = deps.config.federationBatchMessages;
  if (maxMessages <= 0) return undefined;
  return { maxMessages, maxBytes: Math.min(MAX_BATCH_BYTES, deps.config.maxRequestBytes) };
}

/** The document for `domain`, with endpoints under `origin` (the public URL or the request's). */
export function discoveryDocument(deps: Deps, domain: string, origin: string): DiscoveryDocument {
  const base = origin.replace(/\/+$/, "");
  const batch = batchLimits(deps);
  return {
    versions: [FEDERATION_VERSION],
    domain,
    delivery: `${base}/v1/federation/deliver`,
    jwks: `${base}/.well-known/sharp/jwks?domain=${encodeURIComponent(domain)}`,
    limits: federationLimits(deps),
    ...(batch ? { batch: { url: `${base}/v1/federation/deliver-batch`, ...batch } } : {}),
    proofOfWork: powPolicy(deps),
    ttl: deps.config.federationDiscoveryTtlSeconds,
  };
}
