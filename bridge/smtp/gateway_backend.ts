/**
 * The SMTP session's backend over the gateway's bridge API: recipient checks at RCPT time
 * (the gateway decides what is local: no open relay), AUTH against passwords and app passwords,
 * and hand-in of the message with a Received trace field (RFC 5321 section 4.4) prepended. A
 * gateway that cannot be reached turns into 4xx replies, never a 250.
 */
import { GatewayClient, GatewayError } from "../gateway_client.ts";
import type { DeliveryResult, Envelope, Recipient, SmtpBackend, Verdict } from "./backend.ts";
import { type ReplySpec, SmtpError } from "./reply.ts";

const reply = (code: number, enhanced: string, text: string): ReplySpec => ({
  code,
  enhanced,
  text,
});

function refusal(
  code: string | undefined,
  temporary: boolean | undefined,
  reason?: string,
): ReplySpec {
  if (temporary) return reply(452, "4.2.2", reason ?? "mailbox temporarily unavailable");
  switch (code) {
    case "relay_denied":
      return reply(550, "5.7.1", "relaying denied");
    case "no_such_recipient":
      return reply(550, "5.1.1", "no such mailbox here");
    case "quota_exceeded":
      return reply(452, "4.2.2", "mailbox full");
    case "message_too_large":
      return reply(552, "5.3.4", "message too large");
    default:
      return reply(550, "5.1.0", reason ?? "recipient refused");
  }
}

/** RFC 5321 section 4.4 trace field; `with` per RFC 3848 (ESMTP, ESMTPS, ESMTPA, ESMTPSA). */
export function receivedField(envelope: Envelope, hostname: string, now: Date): string {
  const protocol = `ESMTP${envelope.tls ? "S" : ""}${envelope.authenticatedAs ? "A" : ""}`;
  const helo = envelope.helo.replace(/[^\x21-\x7e]/g, "") || "unknown";
  const id = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
  const rcpt = envelope.rcptTo.length === 1 ? `\r\n\tfor <${envelope.rcptTo[0].address}>` : "";
  return `Received: from ${helo} ([${envelope.clientIp}])\r\n\tby ${hostname} (Postern) with ${protocol} id ${id}${rcpt};\r\n\t${
    now.toUTCString().replace("GMT", "+0000")
  }\r\n`;
}

function asSmtpError(e: unknown): never {
  if (e instanceof GatewayError && !e.temporary) {
    if (e.code === "sender_not_allowed") {
      throw new SmtpError(reply(550, "5.7.1", "sender address not allowed for this account"));
    }
    if (e.code === "message_too_large" || e.status === 413) {
      throw new SmtpError(reply(552, "5.3.4", "message too large"));
    }
    if (e.status === 422) {
      throw new SmtpError(reply(554, "5.6.0", `message refused: ${e.message}`.slice(0, 200)));
    }
  }
  throw e; // temporary or unknown: the session answers 451 4.3.0
}

export class GatewaySmtpBackend implements SmtpBackend {
  constructor(private readonly gateway: GatewayClient, private readonly hostname: string) {}

  async checkRecipient(envelope: Envelope, rcpt: Recipient): Promise<Verdict> {
    const verdict = await this.gateway.checkRecipient(rcpt.address, envelope.authenticatedAs);
    if (verdict.accept) return { ok: true };
    return { ok: false, ...refusal(verdict.code, verdict.temporary, verdict.reason) };
  }

  async authenticate(username: string, password: string, clientIp: string) {
    try {
      const account = await this.gateway.authenticate(username, password, clientIp, "smtp");
      return account
        ? { ok: true as const, accountAddress: account.address }
        : { ok: false as const };
    } catch (e) {
      if (e instanceof GatewayError && e.status === 429) {
        return { ok: false as const, temporary: true };
      }
      throw e;
    }
  }

  async deliver(envelope: Envelope, data: Uint8Array): Promise<DeliveryResult> {
    const trace = new TextEncoder().encode(receivedField(envelope, this.hostname, new Date()));
    const raw = new Uint8Array(trace.byteLength + data.byteLength);
    raw.set(trace);
    raw.set(data, trace.byteLength);
    const recipients = envelope.rcptTo.map((r) => r.address);
    let response;
    try {
      response = envelope.mode === "submission" && envelope.authenticatedAs
        ? await this.gateway.submission({
          mailFrom: envelope.mailFrom,
          recipients,
          authenticatedAs: envelope.authenticatedAs,
          clientIp: envelope.clientIp,
        }, raw)
        : await this.gateway.inbound({
          mailFrom: envelope.mailFrom,
          recipients,
          clientIp: envelope.clientIp,
          helo: envelope.helo,
          tls: envelope.tls,
          junk: false,
        }, raw);
    } catch (e) {
      asSmtpError(e);
    }
    return {
      recipients: response.results.map((r) =>
        r.status === "rejected"
          ? refusal(r.code, r.temporary, r.reason)
          : reply(250, "2.0.0", "OK: stored")
      ),
    };
  }
}
