/**
 * Worker thread for mailauth's CPU work (hosts/process/mailauth_thread.ts): DKIM signing of outbound mail
 * (bridge/smtp_out/dkim.ts), ARC sealing of forwarded mail (bridge/smtp_out/arc_seal.ts) and the SPF/DKIM/DMARC/ARC checks of inbound mail
 * (bridge/smtp/inbound_auth.ts), with the same code as the main thread. DNS questions go back to
 * the main thread, whose resolver and cache answer them; the answers are kept here as long as
 * that cache keeps them (hosts/process/dns_relay.ts).
 * In: `{ id, op: "sign", raw, domain, keys }` or `{ id, op: "verify", input, hostname }`, and
 * answers to its questions `{ qid, ok, value | error }`. Out: `{ id, ok: true, value }` or
 * `{ id, ok: false, error }`, and questions `{ qid, ask: { method, args } }`.
 */
import type { DkimSigningKeys } from "../../schemas/bridge_outbox.ts";
import { dkimSignatures } from "../../bridge/smtp_out/dkim.ts";
import { arcSealHeaders } from "../../bridge/smtp_out/arc_seal.ts";
import type { ArcSealRequest } from "../../schemas/bridge_outbox.ts";
import { authenticateInbound, type InboundAuthInput } from "../../bridge/smtp/inbound_auth.ts";
import { type DnsAnswer, relayedResolver } from "./dns_relay.ts";
import { workerScope } from "./worker_scope.ts";

type In =
  | { id: number; op: "sign"; raw: Uint8Array; domain: string; keys: DkimSigningKeys }
  | { id: number; op: "verify"; input: InboundAuthInput; hostname: string }
  | {
    id: number;
    op: "seal";
    raw: Uint8Array;
    request: ArcSealRequest;
    keys: DkimSigningKeys;
    signTime?: number;
  }
  | { qid: number; ok: boolean; value?: unknown; error?: { message: string; code?: string } };

const scope = workerScope<In>();
const questions = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
let nextQid = 1;

/** Asks the main thread's resolver; its answers are reused as long as its cache keeps them. */
const resolver = relayedResolver((question) =>
  new Promise<DnsAnswer>((resolve, reject) => {
    const qid = nextQid++;
    questions.set(qid, { resolve: resolve as (v: unknown) => void, reject });
    scope.postMessage({ qid, ask: question });
  })
);

scope.onmessage = async ({ data }) => {
  if ("qid" in data) {
    const question = questions.get(data.qid);
    questions.delete(data.qid);
    if (data.ok) question?.resolve(data.value);
    else {question?.reject(
        Object.assign(new Error(data.error?.message), { code: data.error?.code }),
      );}
    return;
  }
  try {
    const value = data.op === "sign"
      ? await dkimSignatures(data.raw, data.domain, data.keys)
      : data.op === "seal"
      ? await arcSealHeaders(data.raw, data.request, data.keys, data.signTime)
      : await authenticateInbound(data.input, { resolver, hostname: data.hostname });
    scope.postMessage({ id: data.id, ok: true, value });
  } catch (error) {
    scope.postMessage({
      id: data.id,
      ok: false,
      error: String((error as Error)?.message ?? error),
    });
  }
};
