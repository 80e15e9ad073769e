/**
 * Keeps a few appends in flight (AccountTarget.append keeps their store order) and reports each
 * one's outcome in submission order, so progress and resume state only ever advance over
 * messages that are stored — everything before them included.
 */
import type { MailItem } from "./flags.ts";
import type { AccountTarget } from "./target.ts";

type Outcome = "stored" | "duplicate";

export class AppendPipeline {
  #window: { done: Promise<Outcome>; after: (r: Outcome) => Promise<void> | void }[] = [];

  constructor(readonly target: AccountTarget, readonly depth = 16) {}

  /** Starts one append; waits while the window is full. `after` runs in submission order. */
  async push(
    mailboxId: number,
    item: Omit<MailItem, "origin"> & { origin?: string },
    after: (r: Outcome) => Promise<void> | void,
  ): Promise<void> {
    const done = this.target.append(mailboxId, item);
    done.catch(() => {}); // observed in order below
    this.#window.push({ done, after });
    while (this.#window.length >= this.depth) await this.#settleOldest();
  }

  async #settleOldest() {
    const first = this.#window.shift()!;
    try {
      await first.after(await first.done);
    } catch (e) {
      // Let the rest finish (they may be stored) before failing, so nothing runs on unseen.
      await Promise.allSettled(this.#window.map((w) => w.done));
      this.#window = [];
      throw e;
    }
  }

  /** Waits for every append still in flight. */
  async drain(): Promise<void> {
    while (this.#window.length > 0) await this.#settleOldest();
  }
}
