/**
 * Worker thread for DKIM signing (cli/dkim_thread.ts): the same mailauth signing as the main
 * thread (bridge/smtp_out/dkim.ts). In: `{ id, raw, domain, keys }`; out: `{ id, ok: true,
 * value }` (the DKIM-Signature fields) or `{ id, ok: false, error }`.
 */
import type { DkimSigningKeys } from "../schemas/bridge_outbox.ts";
import { dkimSignatures } from "../bridge/smtp_out/dkim.ts";
import { workerScope } from "./worker_scope.ts";

const scope = workerScope<
  { id: number; raw: Uint8Array; domain: string; keys: DkimSigningKeys }
>();

scope.onmessage = async ({ data: { id, raw, domain, keys } }) => {
  try {
    scope.postMessage({ id, ok: true, value: await dkimSignatures(raw, domain, keys) });
  } catch (error) {
    scope.postMessage({ id, ok: false, error: String((error as Error)?.message ?? error) });
  }
};
