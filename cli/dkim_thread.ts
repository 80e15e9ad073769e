/**
 * DKIM signing on a worker thread, for the outbound worker of `postern serve` and `postern
 * bridge`: RSA-2048 signing took a third of the event loop while delivering to a sink, and it
 * needs nothing but the message and the keys. The worker starts with the first signature (an
 * idle server does not carry it); if it cannot run, signing falls back to this thread.
 */
import { dkimSignatures, type SignatureMaker } from "../bridge/smtp_out/dkim.ts";

export function createThreadedDkim(): SignatureMaker & { close(): void } {
  const pending = new Map<number, { resolve(v: string): void; reject(e: Error): void }>();
  let worker: Worker | undefined;
  let broken = false;
  let nextId = 1;

  const start = () => {
    const w = new Worker(new URL("./dkim_worker.ts", import.meta.url).href, { type: "module" });
    w.onmessage = (
      { data }: MessageEvent<{ id: number; ok: boolean; value?: string; error?: string }>,
    ) => {
      const call = pending.get(data.id);
      if (!call) return;
      pending.delete(data.id);
      if (data.ok) call.resolve(data.value!);
      else call.reject(new Error(data.error));
    };
    w.onerror = (event) => {
      // The worker died: what it held is deferred by the caller, later signing runs here.
      event.preventDefault?.();
      broken = true;
      worker = undefined;
      for (const call of pending.values()) call.reject(new Error("the DKIM worker stopped"));
      pending.clear();
    };
    return w;
  };

  const sign: SignatureMaker = (raw, domain, keys) => {
    if (broken) return dkimSignatures(raw, domain, keys);
    return new Promise<string>((resolve, reject) => {
      worker ??= start();
      const id = nextId++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, raw, domain, keys });
    });
  };
  return Object.assign(sign, {
    close() {
      worker?.terminate();
      worker = undefined;
      for (const call of pending.values()) call.reject(new Error("the DKIM signer was closed"));
      pending.clear();
    },
  });
}
