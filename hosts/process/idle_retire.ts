/**
 * Stops a worker thread once it has been idle: `touch()` on every call (and answer) records the
 * time and arms one timer; when it fires with nothing pending and `idleMs` passed since the last
 * touch, `retire()` runs, otherwise it re-arms for the time left. A thread is an isolate of its
 * own (10–20 MB resident), which a burst would otherwise leave behind (issue 20). Used by
 * worker_rpc.ts and the store's writer thread (sqlite_client.ts).
 */
export interface IdleRetire {
  /** A call or an answer now: the idle time starts again. */
  touch(): void;
  /** Disarms the timer (the thread was closed). */
  cancel(): void;
}

export function idleRetire(
  idleMs: number,
  busy: () => boolean,
  retire: () => void,
): IdleRetire {
  let last = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const check = () => {
    timer = undefined;
    const wait = last + idleMs - performance.now();
    if (busy() || wait > 0) {
      timer = setTimeout(check, Math.max(wait, 50));
      return;
    }
    retire();
  };
  return {
    touch() {
      last = performance.now();
      timer ??= setTimeout(check, idleMs);
    },
    cancel() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
