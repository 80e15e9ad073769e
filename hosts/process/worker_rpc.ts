/**
 * Calls to a worker thread that answers each `{ id, ... }` message with `{ id, ok, value }` or
 * `{ id, ok: false, error }` (the MIME and mailauth workers). The worker starts with the first
 * call, so an idle server does not carry it, and stops again once it has had nothing to do for
 * `idleMs` (each worker is a JavaScript isolate of its own, 10–20 MB resident with its module
 * graph, which a burst of mail left behind for good; issue 20); the next call starts a new one.
 * If it dies, what it held fails and `broken` tells the caller to do later work on its own
 * thread.
 *
 * A worker may ask this thread something while it works (`{ qid, ask }`, e.g. a DNS question
 * for the resolver and cache this thread owns): `serve` answers with `{ qid, ok, value }` or
 * `{ qid, ok: false, error: { message, code } }`.
 */
import { idleRetire } from "./idle_retire.ts";

export interface WorkerReply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
  /** Anything else the worker sends with its answer (the MIME worker's digest). */
  [extra: string]: unknown;
}

export interface WorkerRpc {
  /**
   * Posts `message` (an `id` is added) and resolves with the worker's successful reply; with
   * `timeoutMs`, fails with a `WorkerTimeout` when none came within that time (see `guard`).
   */
  call(
    message: Record<string, unknown>,
    transfer?: Transferable[],
    timeoutMs?: number,
  ): Promise<WorkerReply>;
  readonly broken: boolean;
  close(): void;
}

/** A call the worker did not answer in time: temporary (the caller answers 451 / defers). */
export class WorkerTimeout extends Error {
  override name = "WorkerTimeout";
}

/** Idle time after which a worker stops (its next call starts it again). */
export const WORKER_IDLE_MS = 10_000;

export function workerRpc(
  url: URL,
  name: string,
  serve?: (ask: unknown) => Promise<unknown>,
  idleMs = WORKER_IDLE_MS,
): WorkerRpc {
  const pending = new Map<number, { resolve(r: WorkerReply): void; reject(e: Error): void }>();
  let worker: Worker | undefined;
  let broken = false;
  let nextId = 1;
  /** Stops the worker `idleMs` after the last call or answer (idle_retire.ts). */
  const idle = idleRetire(idleMs, () => pending.size > 0, () => {
    worker?.terminate();
    worker = undefined;
  });
  const failAll = (why: string) => {
    for (const call of pending.values()) call.reject(new Error(why));
    pending.clear();
  };

  /** When the worker last answered a guarded call. */
  let lastAnswer = 0;
  /**
   * Fails call `id` if it is not answered within `ms`: a message that sends a parser into an
   * endless wait (mailparser did, test/hostile/mime_host_test.ts) costs that one message a
   * temporary error, not a connection held for ever. If the worker answered nothing else since
   * the call was posted it may be stuck in a loop that would hold every later call too: it is
   * stopped (what it held fails likewise) and the next call starts a new one.
   */
  const guard = (id: number, ms: number) => {
    const call = pending.get(id)!, posted = performance.now();
    const timer = setTimeout(() => {
      if (!pending.delete(id)) return;
      call.reject(new WorkerTimeout(`the ${name} worker did not answer within ${ms} ms`));
      if (lastAnswer < posted) {
        worker?.terminate();
        worker = undefined;
        failAll(`the ${name} worker was restarted: it did not answer within ${ms} ms`);
      }
    }, ms);
    const settled = () => {
      clearTimeout(timer);
      lastAnswer = performance.now();
    };
    pending.set(id, {
      resolve: (reply) => (settled(), call.resolve(reply)),
      reject: (error) => (settled(), call.reject(error)),
    });
  };

  const start = () => {
    const w = new Worker(url.href, { type: "module" });
    w.onmessage = ({ data }: MessageEvent<WorkerReply>) => {
      if (typeof data.qid === "number") {
        const qid = data.qid;
        (serve ? serve(data.ask) : Promise.reject(new Error("nothing answers questions here")))
          .then(
            (value) => w.postMessage({ qid, ok: true, value }),
            (e) =>
              w.postMessage({
                qid,
                ok: false,
                error: { message: String(e?.message ?? e), code: e?.code },
              }),
          );
        return;
      }
      const call = pending.get(data.id);
      if (!call) return;
      pending.delete(data.id);
      idle.touch();
      if (data.ok) call.resolve(data);
      else call.reject(new Error(data.error));
    };
    w.onerror = (event) => {
      // The worker died: what it held fails (callers answer 4xx/defer), later calls run here.
      event.preventDefault?.();
      broken = true;
      worker = undefined;
      failAll(`the ${name} worker stopped`);
    };
    return w;
  };

  return {
    call: (message, transfer = [], timeoutMs) =>
      new Promise<WorkerReply>((resolve, reject) => {
        worker ??= start();
        idle.touch();
        const id = nextId++;
        pending.set(id, { resolve, reject });
        if (timeoutMs) guard(id, timeoutMs);
        worker.postMessage({ ...message, id }, transfer);
      }),
    get broken() {
      return broken;
    },
    close() {
      idle.cancel();
      worker?.terminate();
      worker = undefined;
      failAll(`the ${name} worker was closed`);
    },
  };
}
