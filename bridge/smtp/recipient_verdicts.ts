/**
 * RCPT verdicts of MX mail, reused for a few seconds: a server that receives a burst for one
 * mailbox asks the gateway about it once, not once per message (each ask is a whole call of the
 * gateway's API: about a tenth of the main thread's work per received message, measured under
 * bench section d). Only acceptances of local recipients are kept, and only for unauthenticated
 * (MX) envelopes: a refusal is asked again every time, so a mailbox created a moment ago
 * receives at once. Reuse is safe because the hand-in resolves every recipient again when it
 * stores (services/delivery.ts): a mailbox removed within the reuse time gets its 5.1.1 after
 * DATA instead of at RCPT (RFC 5321 section 3.3 lets a server refuse a recipient at either),
 * and nothing is stored for it. Postfix keeps such answers too (its address verification and
 * proxymap caches). The caller's key holds the client address and MAIL FROM beside the
 * recipient (gateway_backend.ts): with greylisting on, the gateway's answer depends on all
 * three, and a triplet that passed once keeps passing.
 */
import type { RecipientVerdict } from "../gateway_client.ts";

/** Recipients remembered at once; past it, expired ones go, then all. */
const MAX_ENTRIES = 10_000;

export class RecipientVerdicts {
  private readonly entries = new Map<string, number>();

  constructor(readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  /** The verdict for `address` (a key), from memory (an acceptance within `ttlMs`) or `ask()`. */
  async get(address: string, ask: () => Promise<RecipientVerdict>): Promise<RecipientVerdict> {
    if (this.ttlMs <= 0) return await ask();
    // Local parts may be case-sensitive (RFC 5321 section 2.4): the key is the address as sent.
    const until = this.entries.get(address);
    if (until !== undefined) {
      if (until > this.now()) return KEPT;
      this.entries.delete(address);
    }
    const verdict = await ask();
    if (verdict.accept && verdict.local && !verdict.temporary) {
      if (this.entries.size >= MAX_ENTRIES) this.sweep();
      this.entries.set(address, this.now() + this.ttlMs);
    }
    return verdict;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, until] of this.entries) if (until <= now) this.entries.delete(key);
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
  }
}

const KEPT: RecipientVerdict = Object.freeze({ accept: true, local: true });
