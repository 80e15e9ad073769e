/**
 * In-process notification that an account's events table grew. Listeners (SSE streams, IMAP IDLE
 * through the API) then read the rows themselves, so a missed notification costs only latency:
 * streams also poll, which is how changes made by other processes arrive. Also the wake-up of the
 * in-process outbox worker (federation) when mail was queued for remote recipients.
 */
export type EventListener = (accountId: number) => void;

export class EventBus {
  private readonly listeners = new Map<number, Set<EventListener>>();

  subscribe(accountId: number, listener: EventListener): () => void {
    let set = this.listeners.get(accountId);
    if (!set) this.listeners.set(accountId, set = new Set());
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(accountId);
    };
  }

  notify(accountId: number): void {
    for (const listener of this.listeners.get(accountId) ?? []) listener(accountId);
  }

  private readonly queued = new Set<() => void>();

  /** Listens for mail newly queued in the outbox; answers the unsubscribe. */
  onQueued(listener: () => void): () => void {
    this.queued.add(listener);
    return () => this.queued.delete(listener);
  }

  /** Mail was queued for remote recipients (after the commit): a worker need not wait its poll. */
  notifyQueued(): void {
    for (const listener of this.queued) listener();
  }
}
