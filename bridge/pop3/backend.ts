/**
 * What the POP3 session needs from the rest of Postern: checking a credential and opening the
 * account's maildrop (its Inbox, RFC 1939 section 3), a snapshot of the messages at login whose
 * numbering stays fixed for the session, their bytes, and the UPDATE state's commit. The gateway
 * implementation is gateway_backend.ts; tests use fakes.
 */

export interface MaildropMessage {
  uid: number;
  /** Octets of the stored message (what RETR sends, before byte-stuffing). */
  size: number;
}

export interface Maildrop {
  /** The Inbox's UIDVALIDITY: with the UID it makes the UIDL unique-id. */
  readonly uidValidity: number;
  /** The messages at login, in UID order: message number n is `messages[n - 1]`. */
  readonly messages: readonly MaildropMessage[];
  /** Exact bytes of these messages (UIDs no longer there are left out). */
  fetch(uids: number[]): Promise<Map<number, Uint8Array>>;
  /** UPDATE state (RFC 1939 section 6): remove `deleted` for good, mark `retrieved` \Seen. */
  commit(deleted: number[], retrieved: number[]): Promise<void>;
  /** Ends the account session (after QUIT or a dropped connection). Never throws. */
  close(): Promise<void>;
}

export type LoginResult =
  | { ok: true; maildrop: Maildrop }
  | { ok: false; reason: "invalid" | "locked" };

export interface Pop3Backend {
  /** Throws when the gateway cannot be reached (the client gets a temporary error). */
  login(username: string, password: string, clientIp: string): Promise<LoginResult>;
}
