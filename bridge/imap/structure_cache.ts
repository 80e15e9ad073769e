/**
 * A bounded, least-recently-used cache of message structures for the IMAP listener. A stored
 * message never changes under its UID while the mailbox keeps its UIDVALIDITY (RFC 3501
 * section 2.3.1.1), so a structure fetched once serves every later ENVELOPE, BODYSTRUCTURE and
 * BODY[section] of that message without another gateway round trip — the role Dovecot's
 * index cache plays. Keys carry the account, mailbox, UIDVALIDITY and UID, and a session only
 * looks up UIDs of its own selected mailbox, so no account sees another's entries.
 */
import type { MimeStructure } from "../../schemas/mime_structure.ts";

export class StructureCache {
  #map = new Map<string, MimeStructure>();

  constructor(readonly maxEntries = 20_000) {}

  static key(account: string, mailboxId: number, uidValidity: number, uid: number): string {
    return `${account}\u0000${mailboxId}\u0000${uidValidity}\u0000${uid}`;
  }

  get(key: string): MimeStructure | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }

  set(key: string, value: MimeStructure): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.maxEntries) {
      this.#map.delete(this.#map.keys().next().value!);
    }
  }

  get size(): number {
    return this.#map.size;
  }
}
