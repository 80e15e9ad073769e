/**
 * The port between the IMAP session and the mail store: the gateway's mailbox-access API
 * (gateway_backend.ts), or memory in tests (memory_backend.ts). Every call works on sets, so
 * no IMAP command costs one round trip per message: a mailbox's whole index in one call,
 * changes since a modification sequence (RFC 7162), structures and raw bodies for many UIDs,
 * flag stores with UNCHANGEDSINCE, UIDPLUS mappings for COPY/MOVE/APPEND, a SEARCH criteria
 * tree, and a change stream for IDLE and for updates other sessions cause. Wire shapes are the
 * gateway's own (schemas/mail_access.ts). A method throws `ImapError` to choose the NO reply;
 * any other exception becomes a temporary failure.
 */
import type {
  AppendResult,
  ExpungeResult,
  IndexEntry,
  MailboxChanges,
  MailboxState,
  SearchCriteria,
  SearchResult,
  StoreFlagsResult,
  TransferResult,
} from "../../schemas/mail_access.ts";
import type { MimeStructure } from "../../schemas/mime_structure.ts";

export type {
  AppendResult,
  ExpungeResult,
  IndexEntry,
  MailboxChanges,
  MailboxState,
  SearchCriteria,
  SearchResult,
  StoreFlagsResult,
  TransferResult,
};

/** The special uses a CREATE may give (RFC 6154 section 3); INBOX is the only inbox. */
export type CreatableRole = "sent" | "drafts" | "trash" | "junk" | "archive";

/** A refusal with an IMAP response code (RFC 5530), e.g. NONEXISTENT, ALREADYEXISTS, CANNOT. */
export class ImapError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "ImapError";
  }
}

export interface MailboxInfo {
  id: number;
  /** Unicode, "/"-separated (schemas/api_mail.ts MAILBOX_SEPARATOR). */
  name: string;
  /** RFC 6154 special use: inbox, sent, drafts, trash, junk, archive. */
  role: string | null;
  subscribed: boolean;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  exists: number;
  unseen: number;
  sizeBytes: number;
}

export type AuthOutcome =
  | { ok: true; account: ImapAccount }
  /** `temporary`: the check could not be made (gateway down, throttled). */
  | { ok: false; temporary?: boolean; reason?: string };

export interface ImapBackend {
  authenticate(username: string, password: string, clientIp: string): Promise<AuthOutcome>;
}

/** One authenticated account: every call is confined to it. */
export interface ImapAccount {
  readonly address: string;
  mailboxes(): Promise<MailboxInfo[]>;
  /** A new mailbox; with `role`, its special use (RFC 6154 CREATE-SPECIAL-USE). */
  createMailbox(name: string, role?: CreatableRole): Promise<void>;
  deleteMailbox(id: number): Promise<void>;
  renameMailbox(id: number, name: string): Promise<void>;
  setSubscribed(id: number, subscribed: boolean): Promise<void>;
  /** The mailbox state and every message (ascending UID). */
  index(mailboxId: number): Promise<{ mailbox: MailboxState; items: IndexEntry[] }>;
  changes(mailboxId: number, sinceModseq: number): Promise<MailboxChanges>;
  /** Exact stored bytes by UID; absent UIDs are left out. */
  raw(mailboxId: number, uids: number[]): Promise<Map<number, Uint8Array>>;
  /** Header blocks (through the empty line) by UID; absent UIDs are left out. */
  headers(mailboxId: number, uids: number[]): Promise<Map<number, Uint8Array>>;
  structure(mailboxId: number, uids: number[]): Promise<Map<number, MimeStructure>>;
  store(
    mailboxId: number,
    req: {
      uids: number[];
      op: "add" | "remove" | "replace";
      flags: string[];
      unchangedSince?: number;
    },
  ): Promise<StoreFlagsResult>;
  /** Expunges \Deleted messages (only those in `uids` when given). */
  expunge(mailboxId: number, uids?: number[]): Promise<ExpungeResult>;
  copy(mailboxId: number, uids: number[], target: number): Promise<TransferResult>;
  move(mailboxId: number, uids: number[], target: number): Promise<TransferResult>;
  append(
    mailboxId: number,
    raw: Uint8Array,
    opts: { flags: string[]; internalDate?: number },
  ): Promise<AppendResult>;
  /**
   * APPEND of several messages at once, all stored or none (MULTIAPPEND, RFC 3502 section 3);
   * a backend without it gets them one by one, with those stored expunged again on a failure.
   */
  appendMany?(
    mailboxId: number,
    items: { raw: Uint8Array; flags: string[]; internalDate?: number }[],
  ): Promise<AppendResult[]>;
  search(mailboxId: number, criteria: SearchCriteria): Promise<SearchResult>;
  /** The account's storage quota in bytes (RFC 9208 STORAGE); limit 0 means none. */
  quota(): Promise<{ usedBytes: number; limitBytes: number }>;
  /**
   * Calls `listener` whenever something in the account may have changed (the mailbox id, or
   * null when unknown); returns the unsubscribe function.
   */
  watch(listener: (mailboxId: number | null) => void): () => void;
  /** Ends the account session (LOGOUT or connection end). Never throws. */
  close(): Promise<void>;
}
