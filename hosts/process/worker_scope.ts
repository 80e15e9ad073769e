/**
 * The global scope of a worker thread, typed: the type-check of `cli/` sees a window's `self`.
 * Shared by the bridge, MIME, mailauth and WAL-checkpoint workers.
 */
export interface WorkerScope<In> {
  onmessage: ((event: MessageEvent<In>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
  close(): void;
}

export function workerScope<In = unknown>(): WorkerScope<In> {
  return self as unknown as WorkerScope<In>;
}
