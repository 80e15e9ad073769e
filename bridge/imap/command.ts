/**
 * The typed form of every IMAP command the bridge understands: RFC 3501 section 6 plus UIDPLUS
 * (RFC 4315), MOVE (RFC 6851), IDLE (RFC 2177), NAMESPACE (RFC 2342), ID (RFC 2971), ENABLE
 * (RFC 5161), UNSELECT (RFC 3691), LIST-EXTENDED return options for SPECIAL-USE and CREATE's
 * USE parameter (RFC 6154), CONDSTORE and QRESYNC (RFC 7162), ESEARCH (RFC 4731) and SEARCHRES
 * (RFC 5182), SORT and THREAD (RFC 5256), MULTIAPPEND (RFC 3502) and BINARY (RFC 3516). The
 * parser produces these; the session consumes them.
 */
import type { SequenceSet } from "./reader.ts";
import type { SortCriterion } from "./sort_keys.ts";

/** BODY[section] (RFC 3501 section 6.4.5): a part path and an optional text specifier. */
export interface Section {
  /** Part numbers, e.g. [1, 2] for "1.2"; empty for the whole message. */
  part: number[];
  text?: "HEADER" | "HEADER.FIELDS" | "HEADER.FIELDS.NOT" | "TEXT" | "MIME";
  /** Field names for HEADER.FIELDS(.NOT), as given. */
  fields?: string[];
}

export type FetchItem =
  | {
    kind:
      | "FLAGS"
      | "INTERNALDATE"
      | "RFC822.SIZE"
      | "ENVELOPE"
      | "BODYSTRUCTURE"
      | "BODY"
      | "UID"
      | "MODSEQ"
      | "RFC822"
      | "RFC822.HEADER"
      | "RFC822.TEXT";
  }
  /** BINARY[part]<partial> and BINARY.PEEK (RFC 3516 section 4.2). */
  | {
    kind: "BINARY[]";
    peek: boolean;
    part: number[];
    partial?: { start: number; length: number };
  }
  | { kind: "BINARY.SIZE"; part: number[] }
  | {
    kind: "BODY[]";
    peek: boolean;
    section: Section;
    /** `<start.length>`: the octet range of the result (section 6.4.5). */
    partial?: { start: number; length: number };
  };

/** QRESYNC select parameter: the client's UIDVALIDITY, modseq and known UIDs. */
export interface QresyncParam {
  uidValidity: number;
  modseq: number;
  knownUids?: SequenceSet;
}

/** One message of APPEND: its flags, date and octets. */
export interface AppendMessage {
  flags: string[];
  /** Unix ms from the date-time argument, when given. */
  date?: number;
  message: Uint8Array;
}

export type DateCmp = "before" | "on" | "since";

/** A SEARCH criteria tree (RFC 3501 section 6.4.4, RFC 7162 section 3.1.5). */
export type SearchKey =
  | { op: "all" }
  | { op: "and"; keys: SearchKey[] }
  | { op: "or"; a: SearchKey; b: SearchKey }
  | { op: "not"; key: SearchKey }
  | { op: "seq"; set: SequenceSet }
  | { op: "uid"; set: SequenceSet }
  /** A system flag or keyword; `set` false for UNSEEN, UNKEYWORD, … */
  | { op: "flag"; flag: string; set: boolean }
  | { op: "recent"; set: boolean }
  /** Substring of a header field; FROM/TO/CC/BCC/SUBJECT are header searches. */
  | { op: "header"; field: string; value: string }
  | { op: "body"; value: string }
  | { op: "text"; value: string }
  /** `date` is YYYY-MM-DD; internal date or the Date: header (SENT*). */
  | { op: "date"; field: "internal" | "sent"; cmp: DateCmp; date: string }
  | { op: "size"; cmp: "larger" | "smaller"; n: number }
  | { op: "modseq"; modseq: number };

export type StatusItem =
  | "MESSAGES"
  | "RECENT"
  | "UIDNEXT"
  | "UIDVALIDITY"
  | "UNSEEN"
  | "HIGHESTMODSEQ"
  | "SIZE";

export const STATUS_ITEMS: StatusItem[] = [
  "MESSAGES",
  "RECENT",
  "UIDNEXT",
  "UIDVALIDITY",
  "UNSEEN",
  "HIGHESTMODSEQ",
  "SIZE",
];

export type Command =
  | {
    name:
      | "CAPABILITY"
      | "NOOP"
      | "LOGOUT"
      | "STARTTLS"
      | "CHECK"
      | "CLOSE"
      | "UNSELECT"
      | "IDLE"
      | "NAMESPACE";
  }
  | { name: "LOGIN"; user: string; password: string }
  | { name: "AUTHENTICATE"; mechanism: string; initial?: string }
  | {
    name: "SELECT" | "EXAMINE";
    mailbox: string;
    condstore: boolean;
    /** QRESYNC select parameter (RFC 7162 section 3.2.5): what the client knew. */
    qresync?: QresyncParam;
  }
  | {
    name: "CREATE";
    mailbox: string;
    /** CREATE-SPECIAL-USE (RFC 6154 section 3): the use attributes asked for, as given. */
    use?: string[];
  }
  | { name: "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE"; mailbox: string }
  | { name: "RENAME"; from: string; to: string }
  | {
    name: "LIST" | "LSUB";
    reference: string;
    patterns: string[];
    /** LIST (SPECIAL-USE) selection option (RFC 6154 section 5.1). */
    specialUseOnly: boolean;
    subscribedOnly: boolean;
    returnSpecialUse: boolean;
    returnSubscribed: boolean;
    returnStatus?: StatusItem[];
  }
  | { name: "STATUS"; mailbox: string; items: StatusItem[] }
  | {
    name: "APPEND";
    mailbox: string;
    /** One message, or several with MULTIAPPEND (RFC 3502), stored all or none. */
    messages: AppendMessage[];
  }
  | { name: "EXPUNGE"; uid: boolean; set?: SequenceSet }
  | {
    name: "SEARCH";
    uid: boolean;
    charset?: string;
    criteria: SearchKey;
    /** ESEARCH RETURN options (RFC 4731) when given; SAVE stores the result as `$`. */
    returnOpts?: string[];
  }
  /** SORT and UID SORT (RFC 5256 section 3). */
  | {
    name: "SORT";
    uid: boolean;
    sort: SortCriterion[];
    charset: string;
    criteria: SearchKey;
    /** ESORT (RFC 5267 section 3.2) RETURN options: the answer is then an ESEARCH. */
    returnOpts?: string[];
  }
  /** THREAD and UID THREAD (RFC 5256 section 4) with ORDEREDSUBJECT or REFERENCES. */
  | {
    name: "THREAD";
    uid: boolean;
    algorithm: "ORDEREDSUBJECT" | "REFERENCES";
    charset: string;
    criteria: SearchKey;
  }
  | {
    name: "FETCH";
    uid: boolean;
    set: SequenceSet;
    items: FetchItem[];
    changedSince?: number;
    /** UID FETCH … (CHANGEDSINCE n VANISHED) (RFC 7162 section 3.2.6). */
    vanished?: boolean;
  }
  | {
    name: "STORE";
    uid: boolean;
    set: SequenceSet;
    mode: "set" | "add" | "remove";
    silent: boolean;
    flags: string[];
    unchangedSince?: number;
  }
  | { name: "COPY" | "MOVE"; uid: boolean; set: SequenceSet; mailbox: string }
  | { name: "ID"; params: [string, string | null][] | null }
  | { name: "ENABLE"; capabilities: string[] }
  | { name: "GETQUOTAROOT"; mailbox: string }
  | { name: "GETQUOTA"; root: string };

export type CommandName = Command["name"];

export type ParseResult =
  | { ok: true; tag: string; command: Command }
  /** `tag` is "*" when no valid tag was found (the reply is then an untagged BAD). */
  | { ok: false; tag: string; error: string };
