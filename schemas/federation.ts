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
  maxMessageBytes: z.number().int().positive().meta({
    description: "Largest RFC 5322 message accepted, in bytes (before base64).",
  }),
  maxRecipients: z.number().int().positive().meta({
    description: "Most recipients in one delivery.",
  }),
  maxClockSkewSeconds: Seconds.meta({ description: "Tolerated clock difference for `iat`." }),
  maxEnvelopeLifetimeSeconds: Seconds.meta({ description: "Largest `exp − iat` accepted." }),
  deliveriesPerMinute: z.number().int().positive().meta({
    description: "Deliveries accepted per sender domain per minute (429 above it).",
  }),
}).meta({
  id: "FederationLimits",
  description: "What the receiving server accepts in one delivery, and how often.",
});
export type FederationLimits = z.infer<typeof FederationLimits>;

export const ProofOfWorkPolicy = z.object({
  algorithm: z.literal(POW_ALGORITHM).meta({ description: "The stamp algorithm." }),
  bits: z.number().int().min(1).max(32).meta({
    description: "Leading zero bits the stamp's SHA-256 needs.",
  }),
  appliesTo: z.enum(["unknown-senders", "all"]).meta({
    description: "Who must send a stamp: domains that have not delivered here before, or everyone.",
  }),
}).meta({
  id: "ProofOfWorkPolicy",
  description: "When the receiver asks for a proof-of-work stamp, and how hard it is.",
});
export type ProofOfWorkPolicy = z.infer<typeof ProofOfWorkPolicy>;

export const DiscoveryDocument = z.object({
  versions: z.array(z.string()).min(1).meta({
    description: "Protocol versions the server speaks; a sender picks the highest it shares.",
  }),
  domain: Domain.meta({ description: "The domain this document is about." }),
  delivery: z.string().url().meta({
    description: "Absolute https URL of the delivery endpoint (POST).",
  }),
  jwks: z.string().url().meta({
    description: "Absolute https URL of the domain's JWKS (RFC 7517).",
  }),
  limits: FederationLimits,
  batch: z.object({
    url: z.string().url().meta({
      description: "Absolute https URL of the batch delivery endpoint (POST).",
    }),
    maxMessages: z.number().int().min(1).meta({
      description: "Most deliveries in one batch request.",
    }),
    maxBytes: z.number().int().min(1024).meta({
      description: "Largest batch request body, in bytes (the JSON as sent).",
    }),
  }).optional().meta({
    id: "FederationBatchEndpoint",
    description: "Present when the server takes several deliveries in one request " +
      "(docs/federation.md section 6.4); senders that do not know it post one by one.",
  }),
  proofOfWork: ProofOfWorkPolicy.nullable(),
  ttl: Seconds.meta({
    description: "How long a sender may cache this document (also sent as Cache-Control max-age).",
  }),
}).meta({ id: "FederationDiscovery" });
export type DiscoveryDocument = z.infer<typeof DiscoveryDocument>;

export const FederationJwk = z.object({
  kty: z.literal("OKP").meta({ description: "Key type (RFC 8037)." }),
  crv: z.literal("Ed25519").meta({ description: "The curve." }),
  x: z.string().meta({ description: "The public key, base64url." }),
  kid: z.string().meta({ description: "The key id signatures name." }),
  alg: z.literal(FEDERATION_ALG).meta({ description: "The signature algorithm." }),
  use: z.literal("sig").meta({ description: "Signing only." }),
  nbf: z.number().int().optional().meta({
    description: "Validity window (Unix seconds): signatures made outside it are refused.",
  }),
  exp: z.number().int().optional().meta({
    description: "End of the validity window (Unix seconds).",
  }),
}).meta({ id: "FederationJwk" });

export const FederationJwks = z.object({
  keys: z.array(FederationJwk).meta({ description: "The domain's public keys." }),
}).meta({
  id: "FederationJwks",
});
export type FederationJwks = z.infer<typeof FederationJwks>;

/** The signed claims of one delivery: the JWS payload is their RFC 8785 canonical JSON. */
export const EnvelopeClaims = z.object({
  iss: Domain.meta({
    description: "The signing (sending) domain: its JWKS holds the key named by the JWS `kid`.",
  }),
  aud: Domain.meta({ description: "The recipient domain (audience)." }),
  from: z.string().max(254).meta({
    description: 'RFC 5321 envelope sender; "" for a bounce. Its domain must equal `iss`.',
  }),
  recipients: z.array(z.string().max(254)).min(1),
  messageId: z.string().max(998).meta({
    description: 'The message\'s Message-ID header, or "" when it has none.',
  }),
  digest: z.string().regex(/^sha256:[A-Za-z0-9_-]{43}$/).meta({
    description: "`sha256:` + base64url (no padding) of SHA-256 over the exact content bytes.",
  }),
  iat: z.number().int(),
  exp: z.number().int(),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{22,64}$/).meta({
    description:
      "At least 128 random bits, base64url; each nonce is accepted once per sender domain.",
  }),
}).strict().meta({ id: "FederationEnvelope" });
export type EnvelopeClaims = z.infer<typeof EnvelopeClaims>;

export const DeliveryRequest = z.object({
  envelope: z.string().max(16_384).meta({
    description: 'JWS compact serialization: header {alg:"EdDSA", kid, typ:"sharp-envelope+jws"}.',
  }),
  content: z.string().meta({
    description: "The RFC 5322 message bytes, base64 (RFC 4648 section 4).",
  }),
  proofOfWork: z.object({
    counter: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).meta({ description: "The counter found." }),
  }).optional().meta({
    description:
      "The counter that completes a proof-of-work stamp, when the receiver's policy asks.",
  }),
}).meta({ id: "FederationDeliveryRequest" });
export type DeliveryRequest = z.infer<typeof DeliveryRequest>;

export const RecipientOutcome = z.object({
  recipient: z.string().meta({ description: "The recipient address." }),
  status: z.enum(["accepted", "rejected"]).meta({ description: "Whether it was accepted." }),
  code: z.string().optional().meta({
    description: "For rejections: a stable code (e.g. no_such_recipient, quota_exceeded).",
  }),
  temporary: z.boolean().optional().meta({
    description: "True when a later attempt could succeed (the sender retries that recipient).",
  }),
  reason: z.string().optional().meta({ description: "Why not, for people." }),
}).meta({ id: "FederationRecipientOutcome" });
export type RecipientOutcome = z.infer<typeof RecipientOutcome>;

/** The receipt's signed claims (its JWS payload, canonical JSON like the envelope). */
export const ReceiptClaims = z.object({
  iss: Domain.meta({ description: "The recipient domain that signs." }),
  aud: Domain.meta({ description: "The sending domain." }),
  nonce: z.string().meta({
    description: "The envelope's nonce and digest: the receipt answers exactly that delivery.",
  }),
  digest: z.string(),
  messageId: z.string(),
  iat: z.number().int().meta({
    description: "When the message was durably stored (Unix seconds).",
  }),
  results: z.array(RecipientOutcome),
}).strict().meta({ id: "FederationReceipt" });
export type ReceiptClaims = z.infer<typeof ReceiptClaims>;

export const DeliveryResponse = z.object({
  // Kept as received (federation_deliveries.receipt): bounded well under D1's 2 MB rows.
  receipt: z.string().max(256 * 1024).meta({
    description: 'JWS compact, header {alg:"EdDSA", kid, typ:"sharp-receipt+jws"}, payload ' +
      "ReceiptClaims; at most 256 KiB.",
  }),
  results: z.array(RecipientOutcome).meta({
    description: "The receipt's results, unsigned, for convenience.",
  }),
}).meta({ id: "FederationDeliveryResponse" });
export type DeliveryResponse = z.infer<typeof DeliveryResponse>;

/** A batch of deliveries to one server: each keeps its own signed envelope (section 6.4). */
export const BatchDeliveryRequest = z.object({
  deliveries: z.array(DeliveryRequest).min(1).meta({
    description: "Independent deliveries, each checked, stored and answered on its own.",
  }),
}).meta({ id: "FederationBatchRequest" });
export type BatchDeliveryRequest = z.infer<typeof BatchDeliveryRequest>;

/** One delivery's answer in a batch: what the single endpoint would have answered. */
export const BatchItemResult = z.object({
  status: z.number().int().meta({
    description: "The HTTP status the single endpoint would have answered (200: stored).",
  }),
  receipt: z.string().max(256 * 1024).optional().meta({
    description: "For status 200: the signed receipt JWS, as from the single endpoint.",
  }),
  results: z.array(RecipientOutcome).optional().meta({
    description: "For status 200: the receipt's results, unsigned, for convenience.",
  }),
  code: z.string().optional().meta({
    description: "For other statuses: the federation error code (section 8).",
  }),
  detail: z.string().optional().meta({ description: "For other statuses: why, for people." }),
}).meta({ id: "FederationBatchItemResult" });
export type BatchItemResult = z.infer<typeof BatchItemResult>;

export const BatchDeliveryResponse = z.object({
  items: z.array(BatchItemResult).meta({
    description: "One answer per delivery, in the request's order.",
  }),
}).meta({ id: "FederationBatchResponse" });
export type BatchDeliveryResponse = z.infer<typeof BatchDeliveryResponse>;

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
  domain: z.string().meta({ description: "The recipient domain that signed it." }),
  messageId: z.string().nullable().meta({ description: "The message's Message-ID, if any." }),
  receipt: z.string().meta({
    description: "The JWS exactly as received; anyone can check it against the domain's JWKS.",
  }),
  results: z.array(RecipientOutcome).meta({ description: "The receipt's per-recipient answers." }),
  receivedAt: z.number().int().meta({ description: "Milliseconds since the epoch." }),
}).meta({ id: "FederationStoredReceipt" });

export const StoredReceiptList = z.object({
  items: z.array(StoredReceipt).meta({ description: "Every receipt for the message." }),
})
  .meta({ id: "FederationStoredReceiptList" });

/** The published schemas (added to `/schemas`). */
export const FEDERATION_SCHEMAS: Record<string, z.ZodType> = {
  FederationDiscovery: DiscoveryDocument,
  FederationJwks,
  FederationEnvelope: EnvelopeClaims,
  FederationDeliveryRequest: DeliveryRequest,
  FederationDeliveryResponse: DeliveryResponse,
  FederationBatchRequest: BatchDeliveryRequest,
  FederationBatchResponse: BatchDeliveryResponse,
  FederationReceipt: ReceiptClaims,
  FederationRecipientOutcome: RecipientOutcome,
  FederationErrorCode: FederationErrorCodeSchema,
};
