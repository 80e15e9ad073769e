/**
 * Bytes of message content the bridge holds in memory at once, bounded in total and per client
 * IP (a connection holds at most one message, so it is bounded by the message size limit).
 * Without it, ten 25 MB messages arriving together from one MX client took `postern serve` to
 * 3 GB (issue 15, item 7). A message starts with a small hold (`open`), refused when the budget
 * is spent, so a new SMTP DATA gets 452 4.3.1 (RFC 3463: "mail system full") or an APPEND a NO
 * [LIMIT] rather than memory growth. A message that outgrows its first hold asks once for the
 * rest of its limit (`grow`) and waits, reading nothing meanwhile (TCP backpressure), until
 * other messages give theirs back. A grown hold never waits again, and a scope with no grown
 * hold grants the next one whatever the count says, so waiting messages cannot deadlock each
 * other; the bound is therefore the budget plus one message.
 */

export interface ByteBudgetOptions {
  /** Bytes of content held at once, all clients together. */
  total: number;
  /** Bytes of content held at once for one client IP. */
  perIp: number;
  /** What a message may hold before it must `grow`; default 1 MiB. */
  initial?: number;
  /** How long `grow` waits before giving up; default 2 minutes. */
  waitMs?: number;
}

interface Scope {
  used: number;
  /** Holds that have grown past their first slice (they never wait again). */
  grown: number;
}

/** One message's share of the budget. */
export interface ContentHold {
  /** Bytes this message may hold now. */
  readonly held: number;
  /** Raises the hold to `bytes`; false when the budget stayed spent for the whole wait. */
  grow(bytes: number): Promise<boolean>;
  /** Gives the bytes back; idempotent. */
  release(): void;
}

interface Waiter {
  hold: Hold;
  bytes: number;
  resolve(granted: boolean): void;
}

class Hold implements ContentHold {
  held: number;
  grown = false;
  released = false;
  constructor(
    private readonly budget: ByteBudget,
    readonly scopes: [Scope, number][],
    readonly ip: string,
    initial: number,
  ) {
    this.held = initial;
  }
  grow(bytes: number): Promise<boolean> {
    return this.budget.grow(this, bytes);
  }
  release(): void {
    this.budget.release(this);
  }
}

export class ByteBudget {
  readonly total: number;
  readonly perIp: number;
  readonly initial: number;
  readonly waitMs: number;
  #all: Scope = { used: 0, grown: 0 };
  #ips = new Map<string, Scope>();
  #waiting: Waiter[] = [];

  constructor(options: ByteBudgetOptions) {
    this.total = options.total;
    this.perIp = options.perIp;
    this.initial = Math.min(options.initial ?? 1024 * 1024, options.perIp, options.total);
    this.waitMs = options.waitMs ?? 120_000;
  }

  /** Bytes held now, all clients together (for tests and logs). */
  get used(): number {
    return this.#all.used;
  }

  /** A first hold for a new message from `ip`; undefined when the budget is spent. */
  open(ip: string): ContentHold | undefined {
    const ipScope = this.#ips.get(ip) ?? { used: 0, grown: 0 };
    const scopes: [Scope, number][] = [[this.#all, this.total], [ipScope, this.perIp]];
    if (scopes.some(([scope, limit]) => scope.used + this.initial > limit)) return undefined;
    this.#ips.set(ip, ipScope);
    for (const [scope] of scopes) scope.used += this.initial;
    return new Hold(this, scopes, ip, this.initial);
  }

  /** ContentHold.grow. */
  grow(hold: Hold, bytes: number): Promise<boolean> {
    if (hold.released) return Promise.resolve(false);
    if (bytes <= hold.held) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting = this.#waiting.filter((w) => w !== waiter);
        resolve(false);
      }, this.waitMs);
      const waiter: Waiter = {
        hold,
        bytes,
        resolve: (granted) => {
          clearTimeout(timer);
          resolve(granted);
        },
      };
      this.#waiting.push(waiter);
      this.#grant();
    });
  }

  /** ContentHold.release. */
  release(hold: Hold): void {
    if (hold.released) return;
    hold.released = true;
    for (const [scope] of hold.scopes) {
      scope.used -= hold.held;
      if (hold.grown) scope.grown--;
    }
    if (hold.scopes[1][0].used === 0) this.#ips.delete(hold.ip);
    for (const w of this.#waiting.filter((w) => w.hold === hold)) w.resolve(false);
    this.#waiting = this.#waiting.filter((w) => w.hold !== hold);
    this.#grant();
  }

  /** Grants every waiting growth that fits now, in arrival order. */
  #grant(): void {
    this.#waiting = this.#waiting.filter((w) => {
      const delta = w.bytes - w.hold.held;
      // A scope in which nothing has grown grants one message whatever its count: no deadlock.
      const fits = w.hold.scopes.every(([scope, limit]) =>
        scope.grown === 0 || scope.used + delta <= limit
      );
      if (!fits) return true;
      for (const [scope] of w.hold.scopes) {
        scope.used += delta;
        if (!w.hold.grown) scope.grown++;
      }
      w.hold.held = w.bytes;
      w.hold.grown = true;
      w.resolve(true);
      return false;
    });
  }
}
