/**
 * Optimistic concurrency for write jobs (DESIGN.md, "Write jobs are single round trips"): a job
 * reads what decides it, then writes in one batch that re-checks those reads in SQL (an
 * `assertStep`). When another writer — this process or another, sharing the store — changed the
 * rows in between, the batch fails as a whole and nothing of it is kept; the job reads again and
 * retries, a bounded number of times, and then answers a clear 409 instead of looping.
 *
 * Also the SQL for sets of ids bound as ONE parameter (a JSON array walked by `json_each`): D1
 * allows 100 bound parameters per statement, and a set of 10,000 UIDs must still be one
 * statement, not a chunked loop of them.
 */
import { AppError } from "../errors.ts";
import { isFailedAssertion } from "./store.ts";

/** Thrown by a job that found, by reading again, that what it read before went stale. */
export class StaleReads extends Error {
  constructor() {
    super("what the job read changed before it wrote");
  }
}

/** Attempts of a write job whose reads went stale before it ran. */
export const STALE_ATTEMPTS = 10;

/** The longest pause before an attempt: contenders that lost together do not retry together. */
const MAX_BACKOFF_MS = 50;

/**
 * Runs `job` (reads, then one write job) again when its write found what it read changed (a
 * failed assertStep), after a random pause that grows with the attempts; after STALE_ATTEMPTS a
 * 409 `conflict`. Other errors pass through. Each round, one of the writers that read the same
 * rows wins, so N at once need at most N attempts.
 */
export async function retryStale<T>(job: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await job();
    } catch (e) {
      if (!isFailedAssertion(e) && !(e instanceof StaleReads)) throw e;
      if (attempt >= STALE_ATTEMPTS) {
        throw new AppError(
          409,
          "conflict",
          "the messages changed while this change was being made; try again",
        );
      }
      const pause = Math.random() * Math.min(MAX_BACKOFF_MS, 2 ** attempt);
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}

/** `IN` the ids of the JSON array bound at `param` (e.g. `?2`): one parameter for any number. */
export const inJson = (param: string) => `IN (SELECT value FROM json_each(${param}))`;
