/**
 * The types of the IMAP session's interface: what the socket server configures and receives
 * (config, actions, input modes, literal verdicts) and the selected-mailbox state the
 * session's helper modules share.
 */
import type { IndexEntry } from "./backend.ts";
import type { RecentClaims } from "./recent.ts";
import type { StructureCache } from "./structure_cache.ts";

export type Action =
  /** Write these octets (complete response lines, literals included). */
  | { type: "send"; data: string | Uint8Array }
  /** Begin the TLS handshake now; discard bytes already read (RFC 3501 section 6.2.1). */
  | { type: "startTls" }
  | { type: "close" };

/** What the server reads next: command lines, one SASL response line, IDLE's DONE. */
export type InputMode = "command" | "sasl" | "idle" | "closed";

export interface SessionConfig {
  /** Shown in the greeting. */
  hostname: string;
  /** Implicit TLS (port 993) starts with TLS active. */
  tlsActive: boolean;
  /** A certificate is loaded, so STARTTLS can be offered. */
  tlsAvailable: boolean;
  /** Allow LOGIN/AUTHENTICATE without TLS (otherwise LOGINDISABLED, RFC 3501 section 6.2.3). */
  allowPlaintextAuth: boolean;
  /** Largest APPEND literal, octets. */
  maxMessageBytes: number;
  /** Largest literal of any other command, and of any command before authentication. */
  maxLiteralBytes?: number;
  /** Failed commands after which the session says BYE; default 50. */
  maxErrors?: number;
  /** Structures shared by the listener's sessions (messages are immutable under a UID). */
  structureCache?: StructureCache;
  /** Who took \Recent for which messages, shared by the listener's sessions (recent.ts). */
  recentClaims?: RecentClaims;
}

export interface ConnectionInfo {
  clientIp: string;
}

/** The server's question for a `{n}` / `{n+}` literal announced at the end of a line. */
export type LiteralVerdict =
  /** Read the octets; send `continuation` first for a synchronising literal. */
  | { ok: true; continuation?: string }
  /**
   * Refuse: send `reply`. For a synchronising literal the client sends nothing more of the
   * command; for LITERAL+ the octets are already coming, so the server closes (`close`).
   */
  | { ok: false; reply: string; close: boolean };

/** The selected mailbox as this session sees it (RFC 3501 section 2.3.1 numbering). */
export interface Selected {
  id: number;
  name: string;
  readOnly: boolean;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  /** UIDs in sequence-number order (index + 1 is the message sequence number). */
  uids: number[];
  entries: Map<number, IndexEntry>;
  /** Keywords announced in the FLAGS response; a new one is announced again (section 7.2.6). */
  keywords: Set<string>;
  /** Messages with \Recent in this session (RFC 3501 section 2.3.2). */
  recent: Set<number>;
  /** Expunged elsewhere but not yet announced (EXPUNGE may not be sent mid-FETCH/STORE). */
  pendingExpunge: Set<number>;
  /** A change notification arrived: fetch `changes` before the next update point. */
  dirty: boolean;
}

export const DEFAULT_LITERAL_BYTES = 64 * 1024;
