/**
 * The port between the SMTP session and whatever stores mail: the gateway over HTTP, the app
 * in-process, or a fake in tests. The session never decides who is local or which password is
 * right; it asks here, and turns the answers into replies (RFC 5321 section 4.2). A method may
 * also throw an SmtpError (reply.ts) to choose the reply itself; any other exception is a
 * temporary failure, never a success. Pure types and one pure helper.
 */
import type { MailParams, RcptParams } from "./parse.ts";
import { Replies, type ReplySpec } from "./reply.ts";

export interface Recipient {
  /** Canonical `local@domain` (schemas/address.ts). */
  address: string;
  params: RcptParams;
}

/** The transaction so far, as seen by the backend. */
export interface Envelope {
  mode: "mx" | "submission";
  clientIp: string;
  /** The EHLO/HELO argument. */
  helo: string;
  /** TLS is active on the connection (STARTTLS done or implicit TLS). */
  tls: boolean;
  /** The account address after a successful AUTH. */
  authenticatedAs?: string;
  /** The API key the client signed in with, when its password was one (SMTP relay). */
  apiKeyId?: number;
  /** Canonical reverse-path; "" for the null reverse-path `<>` (RFC 5321 section 4.5.5). */
  mailFrom: string;
  params: MailParams;
  /** Recipients accepted so far (at RCPT time, the one being checked is not yet in it). */
  rcptTo: Recipient[];
}

/** Accept, or the reply that refuses (e.g. 550 5.1.1 unknown user, 550 5.7.1 relaying denied). */
export type Verdict = { ok: true } | ({ ok: false } & ReplySpec);

export type AuthResult =
  | { ok: true; accountAddress: string; apiKeyId?: number }
  /** `temporary`: the check could not be made (454 4.7.0), rather than failed (535 5.7.8). */
  | { ok: false; temporary?: boolean };

/** One reply for the message, or one per recipient in `rcptTo` order. */
export type DeliveryResult = ReplySpec | { recipients: ReplySpec[] };

export interface SmtpBackend {
  /**
   * MX: accept only recipients served here (no relay: refuse others with 550 5.7.1).
   * Submission: the session calls this only after AUTH; any domain may be accepted.
   * Throwing yields 451 4.3.0.
   */
  checkRecipient(envelope: Envelope, rcpt: Recipient): Promise<Verdict>;
  /**
   * Optional sender policy at MAIL time, e.g. a submitting account may only use its own
   * addresses. Absent: every syntactically valid sender is accepted. Throwing yields 451 4.3.0.
   */
  checkSender?(envelope: Envelope): Promise<Verdict>;
  /** Checks a password or app password. Throwing yields 454 4.7.0. */
  authenticate(username: string, password: string, clientIp: string): Promise<AuthResult>;
  /**
   * Stores or queues the message and resolves only after the durable commit: a 2xx result is
   * answered 250 to the client (RFC 5321 section 6.1). Throwing yields 451 4.3.0, never 250.
   */
  deliver(envelope: Envelope, data: Uint8Array): Promise<DeliveryResult>;
}

const valid = (r: ReplySpec | undefined): r is ReplySpec =>
  !!r && Number.isInteger(r.code) && r.code >= 200 && r.code <= 599 &&
  typeof r.enhanced === "string" && typeof r.text === "string";

/**
 * Folds a delivery result into the single reply SMTP allows after the content (RFC 5321 section
 * 4.1.1.4). Per-recipient results: all accepted → the first 2xx; any temporary failure → that
 * 4xx, so the client retries (the gateway's idempotency absorbs the copies already stored); all
 * refused → the first 5xx; accepted and permanently refused together → 250, and the backend owes
 * the refused recipients a DSN (RFC 3464), exactly as a queueing MTA would (the gateway queues it
 * for a Sieve reject; a spam verdict never comes here mixed: it files that copy into Junk).
 */
export function resolveDelivery(result: DeliveryResult, rcptCount: number): ReplySpec {
  if (!("recipients" in result)) return valid(result) ? result : Replies.tempLocal;
  const list = result.recipients;
  if (list.length !== rcptCount || !list.every(valid)) return Replies.tempLocal;
  const accepted = list.filter((r) => r.code < 400);
  const temporary = list.find((r) => r.code >= 400 && r.code < 500);
  if (temporary) return temporary;
  if (accepted.length === list.length) return accepted[0];
  if (accepted.length === 0) return list[0];
  return {
    code: 250,
    enhanced: "2.0.0",
    text: `accepted for ${accepted.length} of ${list.length} recipients; the others will bounce`,
  };
}
