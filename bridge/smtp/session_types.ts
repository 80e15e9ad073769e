/**
 * The types of the SMTP session's interface: what the socket server configures and receives
 * (config, actions, input modes) and the transaction state the session's helpers share.
 */
import type { Address } from "../../schemas/address.ts";
import type { ContentHold } from "../net/byte_budget.ts";
import type { Recipient } from "./backend.ts";
import type { BdatReader, DataReader } from "./data.ts";
import type { MailParams } from "./parse.ts";
import type { ReplySpec } from "./reply.ts";

export type Action =
  /** Write these octets (one or more CRLF-terminated reply lines). */
  | { type: "reply"; text: string }
  /** Begin the TLS handshake now; discard any bytes already read (RFC 3207 section 4.2). */
  | { type: "startTls" }
  /** Feed raw content octets to `handleData` until it reports the end. */
  | { type: "startData"; maxBytes: number }
  /** Feed exactly `size` octets to `handleData` (RFC 3030 section 2). */
  | { type: "expectBdat"; size: number }
  /** Early-talker policy: wait `ms`, then call `afterPause` saying whether the client spoke. */
  | { type: "pause"; ms: number }
  /** End the session; `clientQuit`: the client asked to (QUIT), so nothing more is read. */
  | { type: "close"; clientQuit?: boolean };

export type InputMode = "command" | "data" | "bdat" | "tls" | "pause" | "closed";

export interface SessionConfig {
  /** Our host name, used in the greeting, EHLO reply and for a bare `<Postmaster>`. */
  hostname: string;
  mode: "mx" | "submission";
  /** Implicit TLS (port 465) starts with TLS active. */
  tlsActive: boolean;
  /** A certificate is loaded, so STARTTLS can be offered. */
  tlsAvailable: boolean;
  requireTlsForAuth: boolean;
  maxMessageBytes: number;
  maxRecipients: number;
  /** Milliseconds to wait before greeting (policy for unknown MX clients only). */
  earlyTalkerPause?: number;
  /** 5xx replies after which the session answers 421 and closes; default 10. */
  maxErrors?: number;
  /** Offer AUTH; default true for submission, false for MX. */
  offerAuth?: boolean;
}

export interface ConnectionInfo {
  clientIp: string;
  /**
   * The bridge's budget for message content held in memory (net/byte_budget.ts), already bound
   * to this client's IP; absent: unbounded (tests of other rules).
   */
  budget?: { open(): ContentHold | undefined };
}

export interface DataResult {
  actions: Action[];
  /** Octets of the chunk consumed; the rest is command input again. */
  consumed: number;
}

/** State shared with the AUTH and content helpers (session_auth.ts, session_data.ts). */
export interface Transaction {
  from: Address | null;
  params: MailParams;
  rcpts: Recipient[];
  data?: DataReader;
  bdat?: BdatReader;
  /** Set when a BDAT chunk pushed the message over the limit; later chunks get the same. */
  failed?: ReplySpec;
  /** This message's share of the content budget, given back when the transaction ends. */
  hold?: ContentHold;
  /** The budget stayed spent while the content grew: read the rest, store nothing, 451. */
  starved?: boolean;
}

export interface BdatChunk {
  reader: BdatReader;
  size: number;
  last: boolean;
  repeated?: boolean;
  /** The reply owed once the chunk's octets are consumed, when the chunk is refused. */
  failure?: ReplySpec;
}
