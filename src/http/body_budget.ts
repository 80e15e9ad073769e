/**
 * Request bodies the gateway holds in memory at once, bounded in total and per client IP (issue
 * 15, item 7: three 24 MB JSON sends took `postern serve` from 0.7 to 2.1 GB, each body living as
 * bytes, a JSON string, decoded attachments and a composed message at once). A request whose
 * declared body is over 1 MiB takes its length from the budget before its body is read, and gives
 * it back when its response is ready; while the budget is spent it waits, its body unread (TCP
 * backpressure), in arrival order, and after `waitMs` it is answered 503 with Retry-After. A
 * scope holding nothing lets one request through whatever its size, so no request waits forever
 * on a count it alone exceeds. The bridge bounds the SMTP and IMAP content it holds the same way
 * (bridge/net/byte_budget.ts); an in-process hand-in counts in both. Memory, not correctness:
 * each isolate keeps its own count.
 */
import type { MiddlewareHandler } from "hono";
import { problemResponse } from "./problem.ts";

/** Bodies at or below this size pass without counting (most API calls). */
const SMALL_BODY = 1024 * 1024;

interface Waiter {
  ip: string;
  bytes: number;
  grant(): void;
}

export class BodyBudget {
  #used = 0;
  #byIp = new Map<string, number>();
  #waiting: Waiter[] = [];

  constructor(readonly total: number, readonly perIp: number, readonly waitMs = 30_000) {}

  get used(): number {
    return this.#used;
  }

  #fits(ip: string, bytes: number): boolean {
    const ipUsed = this.#byIp.get(ip) ?? 0;
    return (this.#used === 0 || this.#used + bytes <= this.total) &&
      (ipUsed === 0 || ipUsed + bytes <= this.perIp);
  }

  #take(ip: string, bytes: number): () => void {
    this.#used += bytes;
    this.#byIp.set(ip, (this.#byIp.get(ip) ?? 0) + bytes);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#used -= bytes;
      const left = this.#byIp.get(ip)! - bytes;
      if (left === 0) this.#byIp.delete(ip);
      else this.#byIp.set(ip, left);
      this.#wake();
    };
  }

  #wake(): void {
    // In arrival order: a waiter that does not fit yet holds back those behind it.
    while (this.#waiting.length > 0 && this.#fits(this.#waiting[0].ip, this.#waiting[0].bytes)) {
      this.#waiting.shift()!.grant();
    }
  }

  /** Takes `bytes` for `ip`; resolves with the release, or undefined after `waitMs`. */
  acquire(ip: string, bytes: number): Promise<(() => void) | undefined> {
    if (this.#waiting.length === 0 && this.#fits(ip, bytes)) {
      return Promise.resolve(this.#take(ip, bytes));
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        ip,
        bytes,
        grant: () => {
          clearTimeout(timer);
          resolve(this.#take(ip, bytes));
        },
      };
      const timer = setTimeout(() => {
        this.#waiting = this.#waiting.filter((w) => w !== waiter);
        this.#wake();
        resolve(undefined);
      }, this.waitMs);
      this.#waiting.push(waiter);
    });
  }
}

/** The middleware: counts large bodies against `budget` (unknown lengths as `maxBytes`). */
export function bodyBudget(
  budget: BodyBudget,
  maxBytes: number,
  ipOf: (c: Parameters<MiddlewareHandler>[0]) => string,
): MiddlewareHandler {
  return async (c, next) => {
    const body = c.req.raw.body;
    if (!body) return await next();
    const declared = c.req.header("content-length");
    const bytes = declared === undefined ? maxBytes : Math.min(Number(declared) || 0, maxBytes);
    if (bytes <= SMALL_BODY) return await next();
    const release = await budget.acquire(ipOf(c), bytes);
    if (!release) {
      return problemResponse(503, "server_busy", "too many large requests at once; retry later", {
        headers: { "Retry-After": "30" },
      });
    }
    try {
      await next();
    } finally {
      release();
    }
  };
}
