/**
 * The gateway's one error type. Services throw `AppError`; the HTTP boundary (`http/problem.ts`)
 * turns it into RFC 9457 problem+json. `status` below 500 means the client is at fault.
 */
import type { FieldError } from "../schemas/problem.ts";

export type ErrorCode =
  | "bad_request"
  | "validation_failed"
  | "invalid_json"
  | "payload_too_large"
  | "unauthorized"
  | "invalid_credentials"
  | "totp_required"
  | "invalid_totp"
  | "token_invalid"
  | "forbidden"
  | "cross_site"
  | "csrf_failed"
  | "insufficient_scope"
  | "domain_admin_required"
  | "not_found"
  | "conflict"
  | "already_exists"
  | "mailbox_not_empty"
  | "mailbox_protected"
  | "role_taken"
  | "quota_exceeded"
  | "message_too_large"
  | "no_such_recipient"
  | "relay_denied"
  /** The recipient's Sieve script refused the message (reject/ereject, RFC 5429). */
  | "rejected_by_recipient"
  /** Sieve scripts (routes/sieve.ts; the ManageSieve server maps them to RFC 5804 codes). */
  | "sieve_invalid"
  | "sieve_quota"
  | "sieve_bad_name"
  | "sieve_name_taken"
  | "sieve_script_active"
  | "sieve_script_not_found"
  /** Every recipient of a send is on the sending domain's suppression list. */
  | "recipients_suppressed"
  /** Postmark's surface: a `MessageStream` Postern does not have (its ErrorCode 1235). */
  | "stream_not_found"
  | "sender_not_allowed"
  | "sharp_unsupported_recipient"
  | "sharp_unsupported_sender"
  | "too_many_requests"
  /** Issue 21 item 1: refused as spam (score at or above the reject threshold). */
  | "spam_rejected"
  /** Too many messages from this sender or client address this hour (temporary). */
  | "rate_limited"
  /** A first-time (network, sender, recipient) triplet: retry later (temporary). */
  | "greylisted"
  | "unsupported_media_type"
  | "server_busy"
  | "not_implemented"
  | "internal";

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly fields?: FieldError[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = "AppError";
  }
}

export const notFound = (what: string) => new AppError(404, "not_found", `${what} not found`);
export const badRequest = (message: string, fields?: FieldError[]) =>
  new AppError(400, "bad_request", message, fields);
export const conflict = (message: string) => new AppError(409, "conflict", message);
export const forbidden = (message: string) => new AppError(403, "forbidden", message);
