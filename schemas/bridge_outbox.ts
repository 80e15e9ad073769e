/**
 * The contract between the bridge's outbound SMTP worker and the gateway's outbox: claim due
 * recipients with a lease, fetch each message's bytes, report each recipient's result, and fetch
 * the DKIM keys of a sending domain.
 *
 * - `POST /v1/bridge/outbox/claim` leases due rows to one worker in one transaction and answers
 *   them grouped by destination domain (one connection per group).
 * - `GET /v1/bridge/outbox/{id}/raw?worker=W` answers the exact RFC 5322 bytes as
 *   message/rfc822 (kept out of the JSON so a claim stays small; rows sharing `blobSha256` need
 *   one fetch).
 * - `POST /v1/bridge/outbox/renew` extends the lease of rows still held by the worker: while it
 *   works through a claim, so that a slow delivery never loses its lease to another bridge
 *   (which would send the message a second time) and the lease can stay short.
 * - `POST /v1/bridge/outbox/{id}/result` records sent / deferred / failed; a worker that no
 *   longer holds the lease gets 409.
 * - `GET /v1/bridge/dkim/{domain}` answers the domain's signing keys (private keys included:
 *   bridge scope only).
 */
import { z } from "zod";

export const OutboxClaimRequest = z.object({
  /** A name unique to this worker process (e.g. host name + pid + random). */
  worker: z.string().min(1).max(128),
  limit: z.number().int().min(1).max(500).default(50),
  /** How long the rows stay leased; a worker that dies loses them after this. */
  leaseSeconds: z.number().int().min(5).max(3600).default(300),
}).meta({ id: "OutboxClaimRequest" });
export type OutboxClaimRequest = z.input<typeof OutboxClaimRequest>;

export const OutboxRenewRequest = z.object({
  worker: z.string().min(1).max(128),
  /** The rows of this worker's claims still unreported. */
  ids: z.array(z.number().int()).min(1).max(500),
  leaseSeconds: z.number().int().min(5).max(3600).default(300),
}).meta({ id: "OutboxRenewRequest" });
export type OutboxRenewRequest = z.input<typeof OutboxRenewRequest>;

export const OutboxRenewResponse = z.object({
  leaseUntil: z.string().meta({ description: "ISO 8601" }),
  /** The rows renewed: still leased to this worker. Any other was taken over or finished. */
  ids: z.array(z.number().int()),
}).meta({ id: "OutboxRenewResponse" });
export type OutboxRenewResponse = z.infer<typeof OutboxRenewResponse>;

export const OutboxItem = z.object({
  id: z.number().int(),
  /** Envelope sender; "" is the null reverse-path of a bounce (RFC 5321 section 4.5.5). */
  mailFrom: z.string(),
  rcptTo: z.string(),
  domain: z.string(),
  /** Attempts already made (0 on the first). */
  attempts: z.number().int(),
  blobSha256: z.string(),
  size: z.number().int(),
  messageId: z.string().nullable(),
  expiresAt: z.string().meta({ description: "ISO 8601" }),
}).meta({ id: "OutboxItem" });
export type OutboxItem = z.infer<typeof OutboxItem>;

export const OutboxGroup = z.object({
  domain: z.string(),
  items: z.array(OutboxItem),
}).meta({ id: "OutboxGroup" });
export type OutboxGroup = z.infer<typeof OutboxGroup>;

export const OutboxClaimResponse = z.object({
  worker: z.string(),
  leaseUntil: z.string().meta({ description: "ISO 8601" }),
  groups: z.array(OutboxGroup),
}).meta({ id: "OutboxClaimResponse" });
export type OutboxClaimResponse = z.infer<typeof OutboxClaimResponse>;

export const OutboxOutcome = z.enum(["sent", "deferred", "failed"]);
export type OutboxOutcome = z.infer<typeof OutboxOutcome>;

/**
 * Where a delivery attempt ended, so that the gateway can tell a failure about the recipient
 * from one about the sender, the message or the remote system (src/transactional/bounce_class.ts):
 * `dns` our lookup of the recipient domain's route; `connect` the connection, greeting, EHLO or
 * TLS; `mail` MAIL FROM (SHARP/1.3 HELLO): about the sender; `rcpt` RCPT TO (SHARP/1.3 MAIL_TO, a
 * federation receipt's per-recipient answer): about this recipient; `data` DATA and the reply
 * after it (SHARP/1.3 DATA, EMAIL_CONTENT, END_DATA): about the whole transaction.
 */
export const DeliveryStage = z.enum(["dns", "connect", "mail", "rcpt", "data"]);
export type DeliveryStage = z.infer<typeof DeliveryStage>;

export const OutboxResultRequest = z.object({
  worker: z.string().min(1).max(128),
  /** sent: 2xx after DATA; deferred: 4xx or a network/TLS/DNS problem; failed: 5xx. */
  outcome: OutboxOutcome,
  smtpCode: z.number().int().min(200).max(599).optional(),
  enhanced: z.string().regex(/^[245]\.\d{1,3}\.\d{1,3}$/).optional(),
  /** Where it ended; absent from older bridges (then only an enhanced code can suppress). */
  stage: DeliveryStage.optional(),
  /** The remote reply text or what went wrong, for logs and the bounce's Diagnostic-Code. */
  message: z.string().max(2000),
  /** The MX host that answered. */
  remoteMta: z.string().max(255).optional(),
}).meta({ id: "OutboxResultRequest" });
export type OutboxResultRequest = z.infer<typeof OutboxResultRequest>;

export const OutboxResultResponse = z.object({
  id: z.number().int(),
  state: z.enum(["queued", "sending", "sent", "deferred", "bounced", "failed", "cancelled"]),
  attempts: z.number().int(),
  nextAttemptAt: z.string().nullable(),
  /** Whether a DSN was delivered to the sender. */
  bounced: z.boolean(),
}).meta({ id: "OutboxResultResponse" });
export type OutboxResultResponse = z.infer<typeof OutboxResultResponse>;

export const DkimAlgorithm = z.enum(["rsa-sha256", "ed25519-sha256"]);

export const DkimSigningKeys = z.object({
  domain: z.string(),
  keys: z.array(z.object({
    selector: z.string(),
    algorithm: DkimAlgorithm,
    /** PKCS #8 PEM. */
    privateKeyPem: z.string(),
  })),
}).meta({ id: "DkimSigningKeys" });
export type DkimSigningKeys = z.infer<typeof DkimSigningKeys>;
