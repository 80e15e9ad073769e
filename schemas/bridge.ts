/**
 * The contract between the protocol bridge (bridge/) and the gateway (src/): what the bridge asks
 * (credential checks, recipient checks) and hands in (received and submitted mail). Mail travels
 * as one `application/vnd.postern.mail` body: the envelope as one line of JSON, a LF, then the
 * exact RFC 5322 bytes, so nothing is re-encoded on the way and nothing needs a multipart parser
 * (see `encodeMail` / `decodeMail`).
 */
import { z } from "zod";

export const BridgeProtocol = z.enum(["smtp", "submission", "imap", "pop3", "sharp"]);

export const BridgeAuthRequest = z.object({
  username: z.string().min(1).max(320).meta({
    description: "The address the client signed in with.",
  }),
  secret: z.string().min(1).max(1024).meta({
    description: "The password or app password it gave.",
  }),
  clientIp: z.string().max(64).default("unknown").meta({
    description: "The client's address as the bridge's socket saw it, never the bridge's own: " +
      "failed sign-ins are delayed per (account, client address) and per client address.",
  }),
  protocol: BridgeProtocol.meta({
    description: "The protocol the client speaks (for throttling, sessions and the audit).",
  }),
  session: z.boolean().optional().meta({
    description: "Also open an account session (default: only for imap and pop3).",
  }),
}).meta({ id: "BridgeAuthRequest" });

export const BridgeAuthResponse = z.object({
  accountId: z.number().int().meta({ description: "The account's id." }),
  address: z.string().meta({ description: "The account's address." }),
  apiKeyId: z.number().int().optional().meta({
    description: "SMTP with an API key as the password: the key, whose rights the submission " +
      "then has.",
  }),
  accessToken: z.string().optional().meta({
    description:
      "For `imap` and `pop3` (or `session: true`): an access token for the account itself, so " +
      "the bridge acts through the ordinary account-scoped API (a session row marked with the " +
      "protocol).",
  }),
  refreshToken: z.string().optional().meta({
    description:
      "Exchange at `POST /v1/auth/refresh` before `expiresIn` runs out; logout ends the session.",
  }),
  expiresIn: z.number().int().optional().meta({ description: "Seconds the token is valid." }),
}).meta({ id: "BridgeAuthResponse" });
export type BridgeAuthResponse = z.infer<typeof BridgeAuthResponse>;

export const RecipientCheckRequest = z.object({
  recipient: z.string().min(1).max(320).meta({ description: "The RCPT TO address." }),
  authenticatedAs: z.string().max(320).optional().meta({
    description: "The authenticated account when the session is a submission; absent for MX.",
  }),
  clientIp: z.string().max(64).optional().meta({
    description: "MX: the client's address (greylisting keys on its /24 or /64).",
  }),
  mailFrom: z.string().max(320).optional().meta({
    description: "MX: the MAIL FROM address (empty for a bounce), for greylisting.",
  }),
}).meta({ id: "RecipientCheckRequest" });

export const RecipientVerdict = z.object({
  accept: z.boolean().meta({ description: "Whether to accept the recipient." }),
  local: z.boolean().meta({
    description:
      "Whether the recipient is served here (false: it will be relayed for an authenticated " +
      "sender).",
  }),
  code: z.string().optional().meta({ description: "Why not (a stable error code), when refused." }),
  temporary: z.boolean().optional().meta({
    description: "Whether the refusal is temporary (4xx rather than 5xx).",
  }),
  reason: z.string().optional().meta({ description: "Text for the SMTP reply, when refused." }),
}).meta({ id: "RecipientVerdict" });

export const InboundEnvelope = z.object({
  mailFrom: z.string().max(320).meta({
    description: "The MAIL FROM address (empty for a bounce).",
  }),
  recipients: z.array(z.string().min(1).max(320)).min(1).max(1000).meta({
    description: "The accepted RCPT TO addresses (1 to 1000).",
  }),
  clientIp: z.string().max(64).meta({ description: "The sending server's address." }),
  helo: z.string().max(255).default("").meta({ description: "Its HELO/EHLO name." }),
  tls: z.boolean().default(false).meta({ description: "Whether the session used TLS." }),
  authentication: z.record(z.string(), z.unknown()).optional().meta({
    description:
      "SPF/DKIM/DMARC/ARC verdicts computed by the bridge, kept in the message's JSON form.",
  }),
  junk: z.boolean().default(false).meta({
    description: "Deliver into Junk (e.g. DMARC quarantine or a spam verdict).",
  }),
  source: z.enum(["smtp", "sharp"]).optional().meta({
    description:
      "How the mail arrived (default smtp): SMTP (MX) or SHARP/1.3 (unsigned, IP-verified).",
  }),
  traceBytes: z.number().int().min(0).optional().meta({
    description: "Octets at the start of the message that the bridge itself put there (its " +
      "Authentication-Results and Received fields). They differ on every hand-in, so the " +
      "gateway leaves them out when it recognises a client's retry of a message already stored.",
  }),
}).meta({ id: "InboundEnvelope" });
export type InboundEnvelope = z.infer<typeof InboundEnvelope>;

/** A message the MX refused for DMARC p=reject, for the sender's aggregate report (issue 21). */
export const DmarcRefusal = z.object({
  clientIp: z.string().max(64).meta({ description: "The sending server's address." }),
  authentication: z.record(z.string(), z.unknown()).meta({
    description: "The SPF/DKIM/DMARC verdicts of the refused message (disposition reject).",
  }),
}).meta({ id: "DmarcRefusal" });
export type DmarcRefusal = z.infer<typeof DmarcRefusal>;

export const SubmissionEnvelope = z.object({
  mailFrom: z.string().max(320).meta({ description: "The MAIL FROM address." }),
  recipients: z.array(z.string().min(1).max(320)).min(1).max(1000).meta({
    description: "The RCPT TO addresses (1 to 1000).",
  }),
  authenticatedAs: z.string().min(1).max(320).meta({
    description: "The account that authenticated on the submission port.",
  }),
  apiKeyId: z.number().int().positive().optional().meta({
    description: "Set when it signed in with an API key as the password " +
      "(BridgeAuthResponse.apiKeyId).",
  }),
  clientIp: z.string().max(64).meta({ description: "The submitting client's address." }),
}).meta({ id: "SubmissionEnvelope" });
export type SubmissionEnvelope = z.infer<typeof SubmissionEnvelope>;

export const BridgeRecipientResult = z.object({
  recipient: z.string().meta({ description: "The recipient address." }),
  status: z.enum(["delivered", "duplicate", "forwarded", "queued", "rejected"]).meta({
    description:
      "delivered: stored here; duplicate: already stored (a retry); forwarded: sent on by an " +
      "alias; queued: in the outbox; rejected: refused.",
  }),
  code: z.string().optional().meta({ description: "Why it was refused (a stable error code)." }),
  temporary: z.boolean().optional().meta({ description: "Whether the refusal is temporary." }),
  reason: z.string().optional().meta({ description: "Text for the SMTP reply." }),
}).meta({ id: "BridgeRecipientResult" });

export const BridgeDeliveryResponse = z.object({
  results: z.array(BridgeRecipientResult).meta({
    description: "One result per recipient, in envelope order.",
  }),
  replayed: z.boolean().optional().meta({
    description:
      "Submission only: the first result of an earlier submission with the same Idempotency-Key.",
  }),
}).meta({ id: "BridgeDeliveryResponse" });
export type BridgeDeliveryResponse = z.infer<typeof BridgeDeliveryResponse>;

/**
 * The media type of a mail hand-in (`POST /v1/bridge/inbound` and `/v1/bridge/submission`): the
 * envelope as JSON on the first line (JSON text never holds a raw LF: `JSON.stringify` escapes
 * it), one LF, then the message's exact bytes up to the end of the body. A CR before the LF is
 * JSON whitespace and tolerated.
 */
export const MAIL_MEDIA_TYPE = "application/vnd.postern.mail";

/** The longest envelope line a gateway reads (1000 recipients of 320 octets fit, with room). */
export const MAX_ENVELOPE_LINE = 1024 * 1024;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/**
 * The request body of a hand-in as its parts: envelope line + LF, then `head`, then the message.
 * Views, not copies: a caller that can send parts (a stream) never joins a large message.
 */
export function mailParts(envelope: unknown, raw: Uint8Array, head?: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = [utf8.encode(JSON.stringify(envelope) + "\n")];
  if (head?.byteLength) parts.push(head);
  parts.push(raw);
  return parts;
}

/** Envelope line + LF + message, in one buffer (the request body of a hand-in). */
export function encodeMail(
  envelope: unknown,
  raw: Uint8Array,
  head?: Uint8Array,
): Uint8Array<ArrayBuffer> {
  return joinParts(mailParts(envelope, raw, head));
}

/** `parts` in one new buffer. */
export function joinParts(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const body = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    body.set(part, at);
    at += part.byteLength;
  }
  return body;
}

export type DecodedMail =
  | { ok: true; envelope: unknown; raw: Uint8Array }
  | { ok: false; code: "bad_request" | "invalid_json"; message: string };

/** Splits a hand-in body into its parsed envelope JSON (not yet validated) and message bytes. */
export function decodeMail(body: Uint8Array): DecodedMail {
  // A plain loop: the LF is a few hundred octets in, and this beats indexOf's call overhead.
  const limit = Math.min(body.byteLength, MAX_ENVELOPE_LINE + 1);
  let end = 0;
  while (end < limit && body[end] !== 10) end++;
  if (end === limit) {
    return {
      ok: false,
      code: "bad_request",
      message:
        `the body must start with the envelope as one line of JSON (at most ${MAX_ENVELOPE_LINE} bytes) ended by LF`,
    };
  }
  let envelope: unknown;
  try {
    envelope = JSON.parse(utf8Decoder.decode(body.subarray(0, end)));
  } catch {
    return { ok: false, code: "invalid_json", message: "the envelope line is not JSON" };
  }
  // A view, not a copy: the body is the caller's own buffer, and the envelope line is small.
  return { ok: true, envelope, raw: body.subarray(end + 1) };
}

/**
 * A bridge API call handed to a gateway in the same process without HTTP (`postern serve`):
 * the same paths, bodies and answers as `POST /v1/bridge/…`, minus the Request, the Response and
 * the JSON text between them, which cost about a tenth of the event loop's time per SMTP
 * message. `json` is the body of a JSON route; `mail` the envelope and the message's bytes (in
 * parts: trace fields, then the message) of a hand-in.
 */
export interface BridgeCall {
  path: string;
  apiKey: string;
  json?: unknown;
  mail?: { envelope: unknown; parts: Uint8Array[] };
}

/** The answer to a BridgeCall: the HTTP status and the JSON body (problem+json when an error). */
export interface BridgeAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** A gateway's direct entry: undefined for a path it answers only over HTTP. */
export interface BridgeDirect {
  paths: ReadonlySet<string>;
  call(call: BridgeCall): Promise<BridgeAnswer>;
}
