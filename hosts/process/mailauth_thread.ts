/**
 * mailauth's CPU work on a worker thread, for `postern serve` and `postern bridge`: RSA signing
 * took a third of the event loop while delivering to a sink, and the inbound SPF/DKIM/DMARC/ARC
 * checks about a tenth of it at full MX load. Both need only the message, the keys or the DNS
 * answers, which this thread's resolver (and its cache) gives; the worker keeps each answer as
 * long as this thread's cache does (hosts/process/dns_relay.ts). The worker starts with the first
 * call (an idle server does not carry it); if it cannot run, the work falls back to this thread.
 */
import type { Resolver } from "../../bridge/dns/resolver.ts";
import { dkimSignatures, type SignatureMaker } from "../../bridge/smtp_out/dkim.ts";
import { arcSealHeaders, type SealMaker } from "../../bridge/smtp_out/arc_seal.ts";
import {
  authenticateInbound,
  type AuthVerdict,
  type InboundAuthInput,
  type InboundAuthOptions,
} from "../../bridge/smtp/inbound_auth.ts";
import { answerDnsQuestion, type DnsQuestion } from "./dns_relay.ts";
import { LARGE_MESSAGE_BYTES } from "./mime_limits.ts";
import { workerRpc } from "./worker_rpc.ts";

export interface MailauthThread {
  dkimSignatures: SignatureMaker & { close?(): void };
  /** ARC sets for forwarded mail (issue 21), signed like DKIM on the worker. */
  arcSeal: SealMaker;
  /** authenticateInbound with this thread's resolver (the options' own is not used). */
  authenticateInbound(input: InboundAuthInput, options: InboundAuthOptions): Promise<AuthVerdict>;
  close(): void;
}

export function createMailauthThread(resolver: Resolver): MailauthThread {
  const rpc = workerRpc(
    new URL("./mailauth_worker.ts", import.meta.url),
    "mailauth",
    (question) => answerDnsQuestion(resolver, question as DnsQuestion),
  );
  const sign: SignatureMaker = async (raw, domain, keys) => {
    if (rpc.broken) return await dkimSignatures(raw, domain, keys);
    return (await rpc.call({ op: "sign", raw, domain, keys })).value as string;
  };
  const seal: SealMaker = async (raw, request, keys, signTime) => {
    if (rpc.broken) return await arcSealHeaders(raw, request, keys, signTime);
    return (await rpc.call({ op: "seal", raw, request, keys, signTime })).value as Awaited<
      ReturnType<SealMaker>
    >;
  };
  return {
    dkimSignatures: sign,
    arcSeal: seal,
    async authenticateInbound(input, options) {
      // A test's DMARC sampling function cannot cross threads: such calls run here. So does a
      // large message: mailauth reads it in 64 KiB slices, and the trip would copy all of it
      // into the worker's heap, which keeps it until its own next collection.
      if (rpc.broken || options.random) return await authenticateInbound(input, options);
      if (input.message.byteLength > LARGE_MESSAGE_BYTES) {
        return await authenticateInbound(input, { ...options, resolver });
      }
      return (await rpc.call({ op: "verify", input, hostname: options.hostname }))
        .value as AuthVerdict;
    },
    close: () => rpc.close(),
  };
}
