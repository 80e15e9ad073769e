/**
 * What a Sieve run sees of a message (RFC 5228 section 2.6: the header, the envelope, the size;
 * RFC 5173's body; RFC 5260's current date) and what it decides: the actions with the implicit
 * keep resolved (section 2.10.2). Both are plain data, so the interpreter stays pure.
 */

export interface BodyPart {
  /** Lower-case `type/subtype`. */
  contentType: string;
  /** The decoded text of the part. */
  text: string;
}

export interface SieveMessage {
  /** Header fields in order, unfolded, values as received (encoded-words not yet decoded). */
  headers: { name: string; value: string }[];
  /** RFC 5228 section 5.4: the SMTP envelope of this copy (empty `from` for a null sender). */
  envelope: { from: string; to: string };
  size: number;
  /** RFC 5173: the decoded text parts, and the raw body for `:raw`. */
  body: { parts: BodyPart[]; raw: string };
  /** Unix ms: `currentdate`'s clock. */
  now: number;
  /** The zone (minutes east of UTC) dates are compared in when a test names none. */
  zone?: number;
}

export interface FileInto {
  mailbox: string;
  flags: string[];
}

/** RFC 5230 section 4: what a `vacation` command asked for (whether it is sent is decided later). */
export interface VacationRequest {
  reason: string;
  days: number;
  subject?: string;
  from?: string;
  addresses: string[];
  mime: boolean;
  handle?: string;
}

export interface SieveOutcome {
  /** The copy for the default mailbox (explicit or implicit keep), with its flags. */
  keep?: { flags: string[] };
  fileinto: FileInto[];
  redirects: string[];
  reject?: { reason: string; extended: boolean };
  vacation?: VacationRequest;
  /** True when the implicit keep was cancelled and nothing else keeps a copy (discard). */
  discarded: boolean;
  /** Notes for the log: limits reached, actions ignored. */
  notes: string[];
}
