/**
 * Who gets `\Recent` (RFC 3501 sections 2.3.2 and 7.3.2): as in Dovecot, the first session to
 * see a message takes it, and no other session reports it recent. The claims are the highest
 * UID claimed per mailbox, kept in memory and shared by a bridge's sessions, so the model is
 * cheap (one number per mailbox, no store writes) and correct within one bridge process. A
 * mailbox is first seen with a baseline of everything already in it: what arrived before this
 * bridge first looked is not recent, and after a restart or on another bridge a message can be
 * recent in a second session. IMAP4rev2 (RFC 9051) dropped \Recent, so this is a courtesy to
 * IMAP4rev1 clients, never a source of truth.
 */
export class RecentClaims {
  #highest = new Map<string, number>();
  /** Bounded: the oldest mailboxes are forgotten first (they get a fresh baseline). */
  readonly #max: number;

  constructor(max = 100_000) {
    this.#max = max;
  }

  static key(address: string, mailboxId: number, uidValidity: number): string {
    return `${address}\0${mailboxId}\0${uidValidity}`;
  }

  #baseline(key: string, uidNext: number): number {
    let h = this.#highest.get(key);
    if (h === undefined) {
      h = uidNext - 1;
      this.#set(key, h);
    }
    return h;
  }

  #set(key: string, highest: number): void {
    this.#highest.delete(key);
    this.#highest.set(key, highest);
    if (this.#highest.size > this.#max) this.#highest.delete(this.#highest.keys().next().value!);
  }

  /**
   * The UIDs (ascending) that are recent for a session seeing them now; `take` (a read-write
   * SELECT) claims them so no other session gets them. `uidNext` sets the baseline of a mailbox
   * not seen before.
   */
  claim(key: string, uids: number[], uidNext: number, take: boolean): number[] {
    const highest = this.#baseline(key, uidNext);
    const fresh = uids.filter((u) => u > highest);
    if (take && fresh.length > 0) this.#set(key, fresh[fresh.length - 1]);
    return fresh;
  }

  /** STATUS RECENT: messages above the claims, at most `exists` (expunges are not tracked). */
  count(key: string, uidNext: number, exists: number): number {
    const highest = this.#baseline(key, uidNext);
    return Math.max(0, Math.min(exists, uidNext - 1 - highest));
  }
}
