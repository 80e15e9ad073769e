/**
 * A bounded cache of message structures for the IMAP listener. A stored message never changes
 * under its UID while the mailbox keeps its UIDVALIDITY (RFC 3501 section 2.3.1.1), so a
 * structure fetched once serves every later ENVELOPE, BODYSTRUCTURE and BODY[section] of that
 * message without another gateway round trip — the role Dovecot's index cache plays.
 *
 * Entries are grouped per mailbox (account, mailbox id and UIDVALIDITY), then keyed by the
 * numeric UID: a FETCH 1:* of a large mailbox looks its mailbox up once and then does a number
 * lookup per message, with no string key built and hashed per UID. A session only looks up its
 * own selected mailbox, so no account sees another's entries.
 *
 * The bound is on entries over all mailboxes. Past it, the least recently used mailboxes go
 * whole (a client that comes back relists them in one batched call); a single mailbox larger
 * than the bound drops its oldest entries.
 */
import type { MimeStructure } from "../../schemas/mime_structure.ts";

/** One mailbox's structures by UID, as seen through the cache. */
export interface MailboxStructures {
  get(uid: number): MimeStructure | undefined;
  set(uid: number, value: MimeStructure): void;
}

export class StructureCache {
  /** Mailboxes in least to most recently used order; each map in insertion order. */
  #mailboxes = new Map<string, Map<number, MimeStructure>>();
  #size = 0;

  constructor(readonly maxEntries = 20_000) {}

  /** The structures of one mailbox, which becomes the most recently used. */
  mailbox(account: string, mailboxId: number, uidValidity: number): MailboxStructures {
    const key = `${account}\u0000${mailboxId}\u0000${uidValidity}`;
    let entries = this.#mailboxes.get(key);
    if (entries !== undefined) {
      this.#mailboxes.delete(key);
      this.#mailboxes.set(key, entries);
    }
    return {
      get: (uid) => entries?.get(uid),
      set: (uid, value) => {
        entries = this.#put(key, uid, value);
      },
    };
  }

  /** Stores one entry and evicts past the bound; returns the mailbox's (maybe new) map. */
  #put(key: string, uid: number, value: MimeStructure): Map<number, MimeStructure> {
    // The most recently used again (a miss is rare next to hits: this is no per-hit cost), so
    // eviction below reaches this mailbox only when it is the last one left. A new map when it
    // is new or was evicted since the caller looked it up.
    const entries = this.#mailboxes.get(key) ?? new Map<number, MimeStructure>();
    this.#mailboxes.delete(key);
    this.#mailboxes.set(key, entries);
    if (!entries.has(uid)) this.#size++;
    entries.set(uid, value);
    while (this.#size > this.maxEntries) {
      const [oldestKey, oldest] = this.#mailboxes.entries().next().value!;
      if (oldest === entries) {
        // The only mailbox left: its oldest entries go.
        entries.delete(entries.keys().next().value!);
        this.#size--;
      } else {
        this.#mailboxes.delete(oldestKey);
        this.#size -= oldest.size;
      }
    }
    return entries;
  }

  get size(): number {
    return this.#size;
  }
}
