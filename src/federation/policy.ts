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

/** The document for `domain`, with endpoints under `origin` (the public URL or the request's). */
export function discoveryDocument(deps: Deps, domain: string, origin: string): DiscoveryDocument {
  const base = origin.replace(/\/+$/, "");
  return {
    versions: [FEDERATION_VERSION],
    domain,
    delivery: `${base}/v1/federation/deliver`,
    jwks: `${base}/.well-known/sharp/jwks?domain=${encodeURIComponent(domain)}`,
    limits: federationLimits(deps),
    proofOfWork: powPolicy(deps),
    ttl: deps.config.federationDiscoveryTtlSeconds,
  };
}
