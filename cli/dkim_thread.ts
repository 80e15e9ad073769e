/**
 * DKIM signing on a worker thread, for the outbound worker of `postern serve` and `postern
 * bridge`: RSA-2048 signing took a third of the event loop while delivering to a sink, and it
 * needs nothing but the message and the keys. The worker starts with the first signature (an
 * idle server does not carry it); if it cannot run, signing falls back to this thread.
 */
import { dkimSignatures, type SignatureMaker } from "../bridge/smtp_out/dkim.ts";
import { workerRpc } from "./worker_rpc.ts";

export function createThreadedDkim(): SignatureMaker & { close(): void } {
  const rpc = workerRpc(new URL("./dkim_worker.ts", import.meta.url), "DKIM");
  const sign: SignatureMaker = async (raw, domain, keys) => {
    if (rpc.broken) return await dkimSignatures(raw, domain, keys);
    return (await rpc.call({ raw, domain, keys })).value as string;
  };
  return Object.assign(sign, { close: () => rpc.close() });
}
