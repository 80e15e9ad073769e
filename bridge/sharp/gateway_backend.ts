/**
 * The SHARP/1.3 session's backend over the gateway's bridge API, the same calls MX mail uses:
 * the recipient check (not served here → 451, no such user → 550) and hand-in of the RFC 5322
 * bytes built from EMAIL_CONTENT (message.ts) with source "sharp". SHARP/1.3 authenticates a
 * sender only by its IP address, so the message's authentication results say exactly that:
 * `{ sharp: { version: "1.3", sender: "ip-verified", signed: false } }`. A gateway that cannot be
 * reached, or a temporary refusal, becomes ERROR 451 (the sender may retry), never an OK.
 */
import type { Resolver } from "../dns/resolver.ts";
import { type GatewayClient, GatewayError } from "../gateway_client.ts";
import { buildMessage } from "./message.ts";
import type { RecipientCheck, SharpBackend, SharpMail } from "./session.ts";
import { verifySender } from "./verify_sender.ts";

const TEMPORARY: RecipientCheck = {
  ok: false,
  code: 451,
  message: "Temporary failure, try again later",
};

export class GatewaySharpBackend implements SharpBackend {
  constructor(
    private readonly gateway: GatewayClient,
    private readonly resolver: Resolver,
    private readonly hostname: string,
  ) {}

  verifySender(domain: string, clientIp: string) {
    return verifySender(this.resolver, domain, clientIp);
  }

  async checkRecipient(recipient: string): Promise<RecipientCheck> {
    let verdict;
    try {
      verdict = await this.gateway.checkRecipient(recipient);
    } catch (e) {
      if (e instanceof GatewayError && !e.temporary) {
        return { ok: false, code: 400, message: `Invalid recipient address format: ${e.message}` };
      }
      return TEMPORARY;
    }
    if (verdict.accept) return { ok: true };
    if (verdict.temporary) return TEMPORARY;
    const domain = recipient.slice(recipient.lastIndexOf("@") + 1);
    switch (verdict.code) {
      case "relay_denied":
        return { ok: false, code: 451, message: `This server does not handle mail for ${domain}` };
      case "validation_failed":
        return {
          ok: false,
          code: 400,
          message: `Invalid recipient address format: ${verdict.reason ?? "invalid"}`,
        };
      default:
        return { ok: false, code: 550, message: "Recipient user not found" };
    }
  }

  async deliver(mail: SharpMail): Promise<RecipientCheck> {
    const raw = await buildMessage(mail, this.hostname);
    let response;
    try {
      response = await this.gateway.inbound({
        mailFrom: mail.from,
        recipients: [mail.recipient],
        clientIp: mail.clientIp,
        helo: mail.serverId.slice(0, 255),
        tls: false,
        authentication: {
          sharp: {
            version: "1.3",
            sender: "ip-verified",
            signed: false,
            serverId: mail.serverId,
            hashcashBits: mail.hashcashBits,
          },
        },
        junk: false,
        source: "sharp",
      }, raw);
    } catch (e) {
      if (e instanceof GatewayError && !e.temporary) {
        return { ok: false, code: 400, message: `Message refused: ${e.message}`.slice(0, 200) };
      }
      return TEMPORARY;
    }
    const result = response.results[0];
    if (!result || result.status !== "rejected") return { ok: true };
    if (result.temporary) return TEMPORARY;
    return result.code === "no_such_recipient"
      ? { ok: false, code: 550, message: "Recipient user not found" }
      : { ok: false, code: 550, message: `Message refused: ${result.reason ?? result.code}` };
  }
}
