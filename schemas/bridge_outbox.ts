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
  worker: z.string().min(1).max(128).meta({
    description: "A name unique to this worker process (e.g. host name + pid + random).",
  }),
  limit: z.number().int().min(1).max(500).default(50).meta({
    description: "At most this many recipients (1 to 500).",
  }),
  leaseSeconds: z.number().int().min(5).max(3600).default(300).meta({
    description: "How long the rows stay leased; a worker that dies loses them after this.",
  }),
}).meta({ id: "OutboxClaimRequest" });
export type OutboxClaimRequest = z.input<typeof OutboxClaimRequest>;

export const OutboxRenewRequest = z.object({
  worker: z.string().min(1).max(128).meta({ description: "The worker that holds the leases." }),
  ids: z.array(z.number().int()).min(1).max(500).meta({
    description: "The rows of this worker's claims still unreported.",
  }),
  leaseSeconds: z.number().int().min(5).max(3600).default(300).meta({
    description: "The new lease length (5 to 3600 seconds).",
  }),
}).meta({ id: "OutboxRenewRequest" });
export type OutboxRenewRequest = z.input<typeof OutboxRenewRequest>;

export const OutboxRenewResponse = z.object({
  leaseUntil: z.string().meta({ description: "ISO 8601" }),
  ids: z.array(z.number().int()).meta({
    description:
      "The rows renewed: still leased to this worker. Any other was taken over or finished.",
  }),
}).meta({ id: "OutboxRenewResponse" });
export type OutboxRenewResponse = z.infer<typeof OutboxRenewResponse>;

export const ArcSealRequest = z.object({
  domain: z.string().meta({
    description:
      "The forwarding domain, whose DKIM key seals (d= of ARC-Seal and ARC-Message-Signature).",
  }),
  authResults: z.string().meta({
    description:
      "The ARC-Authentication-Results payload after `i=N;` (RFC 8617 section 4.1.1): the verdicts the MX saw.",
  }),
  cv: z.enum(["none", "pass", "fail"]).meta({
    description: "The chain validation status of the message as it arrived (RFC 8617 section 5.2).",
  }),
}).meta({ id: "ArcSealRequest" });
export type ArcSealRequest = z.infer<typeof ArcSealRequest>;

export const OutboxItem = z.object({
  id: z.number().int().meta({ description: "The outbox row's id." }),
  mailFrom: z.string().meta({
    description:
      'Envelope sender; "" is the null reverse-path of a bounce (RFC 5321 section 4.5.5).',
  }),
  rcptTo: z.string().meta({ description: "The recipient." }),
  domain: z.string().meta({ description: "The recipient's domain." }),
  attempts: z.number().int().meta({ description: "Attempts already made (0 on the first)." }),
  blobSha256: z.string().meta({
    description: "SHA-256 of the message bytes (fetch them with the raw route).",
  }),
  size: z.number().int().meta({ description: "Size of the message in bytes." }),
  messageId: z.string().nullable().meta({ description: "Its Message-ID, if any." }),
  expiresAt: z.string().meta({ description: "ISO 8601" }),
  arc: ArcSealRequest.optional().meta({
    description: "Set on a forwarded copy (issue 21): seal it with an ARC set before sending.",
  }),
}).meta({ id: "OutboxItem" });
export type OutboxItem = z.infer<typeof OutboxItem>;

export const OutboxGroup = z.object({
  domain: z.string().meta({ description: "The destination domain." }),
  items: z.array(OutboxItem).meta({ description: "Its leased recipients." }),
}).meta({ id: "OutboxGroup" });
export type OutboxGroup = z.infer<typeof OutboxGroup>;

export const OutboxClaimResponse = z.object({
  worker: z.string().meta({ description: "The worker the leases belong to." }),
  leaseUntil: z.string().meta({ description: "ISO 8601" }),
  groups: z.array(OutboxGroup).meta({
    description: "The leased recipients, by destination domain.",
  }),
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

/**
 * How TLS went for the session that carried an item (RFC 8460 section 4.3): counted per day by
 * the gateway for the recipient domain's TLS report.
 */
export const TlsSessionResult = z.object({
  policyType: z.enum(["sts", "no-policy-found"]).meta({
    description: "`sts` when the domain publishes an MTA-STS policy in mode enforce or testing.",
  }),
  policyDomain: z.string().max(253).meta({ description: "The recipient domain." }),
  policyString: z.array(z.string().max(300)).max(50).default([]).meta({
    description: "The MTA-STS policy's lines (`version: STSv1`, `mode: …`, `mx: …`).",
  }),
  mxHost: z.string().max(255).meta({ description: "The MX host the session was with." }),
  result: z.string().regex(/^[a-z][a-z-]{0,39}$/).meta({
    description: "`success`, or an RFC 8460 result type: starttls-not-supported, " +
      "certificate-host-mismatch, certificate-expired, certificate-not-trusted, " +
      "validation-failure.",
  }),
}).meta({ id: "TlsSessionResult" });
export type TlsSessionResult = z.infer<typeof TlsSessionResult>;

export const OutboxResultRequest = z.object({
  worker: z.string().min(1).max(128).meta({ description: "The worker that holds the lease." }),
  outcome: OutboxOutcome.meta({
    description: "sent: 2xx after DATA; deferred: 4xx or a network/TLS/DNS problem; failed: 5xx.",
  }),
  smtpCode: z.number().int().min(200).max(599).optional().meta({
    description: "The remote reply code, if one answered.",
  }),
  enhanced: z.string().regex(/^[245]\.\d{1,3}\.\d{1,3}$/).optional().meta({
    description: "The enhanced status code (RFC 3463), if any.",
  }),
  stage: DeliveryStage.optional().meta({
    description:
      "Where it ended; absent from older bridges (then only an enhanced code can suppress).",
  }),
  message: z.string().max(2000).meta({
    description:
      "The remote reply text or what went wrong, for logs and the bounce's Diagnostic-Code.",
  }),
  remoteMta: z.string().max(255).optional().meta({ description: "The MX host that answered." }),
  tls: TlsSessionResult.optional().meta({
    description: "How TLS went with the MX (issue 21: counted for TLS reports, RFC 8460).",
  }),
}).meta({ id: "OutboxResultRequest" });
export type OutboxResultRequest = z.infer<typeof OutboxResultRequest>;

export const OutboxResultResponse = z.object({
  id: z.number().int().meta({ description: "The outbox row's id." }),
  state: z.enum(["queued", "sending", "sent", "deferred", "bounced", "failed", "cancelled"]).meta({
    description: "Its state after the result.",
  }),
  attempts: z.number().int().meta({ description: "Attempts made." }),
  nextAttemptAt: z.string().nullable().meta({
    description: "When it is tried again, if deferred (ISO 8601).",
  }),
  bounced: z.boolean().meta({ description: "Whether a DSN was delivered to the sender." }),
}).meta({ id: "OutboxResultResponse" });
export type OutboxResultResponse = z.infer<typeof OutboxResultResponse>;

export const DkimAlgorithm = z.enum(["rsa-sha256", "ed25519-sha256"]);

export const DkimSigningKeys = z.object({
  domain: z.string().meta({ description: "The local domain." }),
  keys: z.array(z.object({
    selector: z.string().meta({ description: "The DKIM selector (`s=`)." }),
    algorithm: DkimAlgorithm.meta({ description: "The signing algorithm (`a=`)." }),
    privateKeyPem: z.string().meta({ description: "PKCS #8 PEM." }),
  })).meta({ description: "Its active keys; the bridge signs with each." }),
}).meta({ id: "DkimSigningKeys" });
export type DkimSigningKeys = z.infer<typeof DkimSigningKeys>;
