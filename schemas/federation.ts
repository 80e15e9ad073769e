/**
 * The wire objects of signed JSON federation between gateways (docs/federation.md is the
 * specification): the discovery document at `/.well-known/sharp`, the JWKS, the delivery
 * request with its signed envelope, the per-recipient results, the signed receipt, and the
 * error codes a receiver answers with. Published as JSON Schema under `/schemas`.
 */
import { z } from "zod";

/** Protocol versions this implementation speaks (the discovery document lists the peer's). */
export const FEDERATION_VERSION = "1";
/** The JWS `typ` of a delivery envelope and of a receipt. */
export const ENVELOPE_TYP = "sharp-envelope+jws";
export const RECEIPT_TYP = "sharp-receipt+jws";
/** The one signature algorithm (RFC 8037 EdDSA with Ed25519). */
export const FEDERATION_ALG = "EdDSA";
/** Proof-of-work algorithm name (docs/federation.md section 7). */
export const POW_ALGORITHM = "sha256-zero-bits";

const Domain = z.string().min(3).max(255).regex(/^[a-z0-9.-]+$/, "a lower-case domain name");
const Seconds = z.number().int().min(0);

export const FederationLimits = z.object({
  /** Largest RFC 5322 message accepted, in bytes (before base64). */
  maxMessageBytes: z.number().int().positive(),
  maxRecipients: z.number().int().positive(),
  /** Tolerated clock difference for `iat`. */
  maxClockSkewSeconds: Seconds,
  /** Largest `exp − iat` accepted. */
  maxEnvelopeLifetimeSeconds: Seconds,
  /** Deliveries accepted per sender domain per minute (429 above it). */
  deliveriesPerMinute: z.number().int().positive(),
}).meta({ id: "FederationLimits" });
export type FederationLimits = z.infer<typeof FederationLimits>;

export const ProofOfWorkPolicy = z.object({
  algorithm: z.literal(POW_ALGORITHM),
  /** Leading zero bits the stamp's SHA-256 needs. */
  bits: z.number().int().min(1).max(32),
  /** Who must send a stamp: domains that have not delivered here before, or everyone. */
  appliesTo: z.enum(["unknown-senders", "all"]),
}).meta({ id: "ProofOfWorkPolicy" });
export type ProofOfWorkPolicy = z.infer<typeof ProofOfWorkPolicy>;

export const DiscoveryDocument = z.object({
  /** Protocol versions the server speaks; a sender picks the highest it shares. */
  versions: z.array(z.string()).min(1),
  domain: Domain,
  /** Absolute https URL of the delivery endpoint (POST). */
  delivery: z.string().url(),
  /** Absolute https URL of the domain's JWKS (RFC 7517). */
  jwks: z.string().url(),
  limits: FederationLimits,
  proofOfWork: ProofOfWorkPolicy.nullable(),
  /** How long a sender may cache this document (also sent as Cache-Control max-age). */
  ttl: Seconds,
}).meta({ id: "FederationDiscovery" });
export type DiscoveryDocument = z.infer<typeof DiscoveryDocument>;

export const FederationJwk = z.object({
  kty: z.literal("OKP"),
  crv: z.literal("Ed25519"),
  x: z.string(),
  kid: z.string(),
  alg: z.literal(FEDERATION_ALG),
  use: z.literal("sig"),
  /** Validity window (Unix seconds): signatures made outside it are refused. */
  nbf: z.number().int().optional(),
  exp: z.number().int().optional(),
}).meta({ id: "FederationJwk" });

export const FederationJwks = z.object({ keys: z.array(FederationJwk) }).meta({
  id: "FederationJwks",
});
export type FederationJwks = z.infer<typeof FederationJwks>;

/** The signed claims of one delivery: the JWS payload is their RFC 8785 canonical JSON. */
export const EnvelopeClaims = z.object({
  /** The signing (sending) domain: its JWKS holds the key named by the JWS `kid`. */
  iss: Domain,
  /** The recipient domain (audience). */
  aud: Domain,
  /** RFC 5321 envelope sender; "" for a bounce. Its domain must equal `iss`. */
  from: z.string().max(254),
  recipients: z.array(z.string().max(254)).min(1),
  /** The message's Message-ID header, or "" when it has none. */
  messageId: z.string().max(998),
  /** `sha256:` + base64url (no padding) of SHA-256 over the exact content bytes. */
  digest: z.string().regex(/^sha256:[A-Za-z0-9_-]{43}$/),
  iat: z.number().int(),
  exp: z.number().int(),
  /** At least 128 random bits, base64url; each nonce is accepted once per sender domain. */
  nonce: z.string().regex(/^[A-Za-z0-9_-]{22,64}$/),
}).strict().meta({ id: "FederationEnvelope" });
export type EnvelopeClaims = z.infer<typeof EnvelopeClaims>;

export const DeliveryRequest = z.object({
  /** JWS compact serialization: header {alg:"EdDSA", kid, typ:"sharp-envelope+jws"}. */
  envelope: z.string().max(16_384),
  /** The RFC 5322 message bytes, base64 (RFC 4648 section 4). */
  content: z.string(),
  /** The counter that completes a proof-of-work stamp, when the receiver's policy asks. */
  proofOfWork: z.object({ counter: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) }).optional(),
}).meta({ id: "FederationDeliveryRequest" });
export type DeliveryRequest = z.infer<typeof DeliveryRequest>;

export const RecipientOutcome = z.object({
  recipient: z.string(),
  status: z.enum(["accepted", "rejected"]),
  /** For rejections: a stable code (e.g. no_such_recipient, quota_exceeded). */
  code: z.string().optional(),
  /** True when a later attempt could succeed (the sender retries that recipient). */
  temporary: z.boolean().optional(),
  reason: z.string().optional(),
}).meta({ id: "FederationRecipientOutcome" });
export type RecipientOutcome = z.infer<typeof RecipientOutcome>;

/** The receipt's signed claims (its JWS payload, canonical JSON like the envelope). */
export const ReceiptClaims = z.object({
  /** The recipient domain that signs. */
  iss: Domain,
  /** The sending domain. */
  aud: Domain,
  /** The envelope's nonce and digest: the receipt answers exactly that delivery. */
  nonce: z.string(),
  digest: z.string(),
  messageId: z.string(),
  /** When the message was durably stored (Unix seconds). */
  iat: z.number().int(),
  results: z.array(RecipientOutcome),
}).strict().meta({ id: "FederationReceipt" });
export type ReceiptClaims = z.infer<typeof ReceiptClaims>;

export const DeliveryResponse = z.object({
  /** JWS compact, header {alg:"EdDSA", kid, typ:"sharp-receipt+jws"}, payload ReceiptClaims. */
  receipt: z.string(),
  /** The receipt's results, unsigned, for convenience. */
  results: z.array(RecipientOutcome),
}).meta({ id: "FederationDeliveryResponse" });
export type DeliveryResponse = z.infer<typeof DeliveryResponse>;

/** Every `code` a federation endpoint answers in problem+json, with its HTTP status. */
export const FEDERATION_ERRORS = {
  bad_request: 400,
  bad_envelope: 400,
  bad_signature: 401,
  unknown_key: 401,
  stale_envelope: 401,
  wrong_audience: 421,
  misaligned_from: 403,
  replayed_nonce: 409,
  digest_mismatch: 422,
  pow_required: 402,
  bad_pow: 402,
  too_large: 413,
  too_many_recipients: 413,
  rate_limited: 429,
  sender_discovery_failed: 503,
  not_a_local_domain: 404,
} as const;
export type FederationErrorCode = keyof typeof FEDERATION_ERRORS;
export const FederationErrorCodeSchema = z.enum(
  Object.keys(FEDERATION_ERRORS) as [FederationErrorCode, ...FederationErrorCode[]],
).meta({ id: "FederationErrorCode" });

/** A receipt as the sender keeps it: proof that the recipient domain took the message. */
export const StoredReceipt = z.object({
  /** The recipient domain that signed it. */
  domain: z.string(),
  messageId: z.string().nullable(),
  /** The JWS exactly as received; anyone can check it against the domain's JWKS. */
  receipt: z.string(),
  results: z.array(RecipientOutcome),
  receivedAt: z.number().int().meta({ description: "Milliseconds since the epoch." }),
}).meta({ id: "FederationStoredReceipt" });

export const StoredReceiptList = z.object({ items: z.array(StoredReceipt) })
  .meta({ id: "FederationStoredReceiptList" });

/** The published schemas (added to `/schemas`). */
export const FEDERATION_SCHEMAS: Record<string, z.ZodType> = {
  FederationDiscovery: DiscoveryDocument,
  FederationJwks,
  FederationEnvelope: EnvelopeClaims,
  FederationDeliveryRequest: DeliveryRequest,
  FederationDeliveryResponse: DeliveryResponse,
  FederationReceipt: ReceiptClaims,
  FederationRecipientOutcome: RecipientOutcome,
  FederationErrorCode: FederationErrorCodeSchema,
};
