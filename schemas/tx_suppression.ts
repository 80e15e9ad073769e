/**
 * Suppression list and per-domain sending settings (tracking defaults, VERP return path).
 */
import { z } from "zod";
import { AddressString } from "./address.ts";

export const SuppressionView = z.object({
  id: z.number().int().meta({ description: "The entry's id." }),
  domain: z.string().meta({ description: "The sending domain whose list it is on." }),
  address: z.string().meta({ description: "The suppressed recipient." }),
  reason: z.enum(["bounce", "complaint", "unsubscribe", "manual"]).meta({
    description: "bounce: the recipient's mailbox was reported missing or closed (RFC 3463 " +
      "X.1.x such as 5.1.1 in reply to RCPT TO or in a returned DSN, SHARP/1.3 no such user); " +
      "a 500 to DATA, a policy, size, sender or server refusal, or the recipient domain's DNS " +
      "never suppresses. complaint: an ARF report (RFC 5965). unsubscribe: RFC 8058 one-click.",
  }),
  detail: z.string().meta({ description: "The remote reply or DSN diagnostic text." }),
  code: z.string().nullable().meta({
    description: 'The reply or status code ("550 5.1.1", "5.1.1"), or the complaint\'s type.',
  }),
  stage: z.string().nullable().meta({
    description: "Where a bounce was answered: rcpt (RCPT TO, SHARP/1.3 MAIL_TO, a federation " +
      "receipt) or dsn (a returned delivery status notification).",
  }),
  emailId: z.string().nullable().meta({
    description: "The message that caused it (`em_…`), if any.",
  }),
  createdAt: z.string().meta({ description: "When it was added (ISO 8601)." }),
}).meta({
  id: "Suppression",
  example: {
    "id": 18,
    "domain": "example.com",
    "address": "former-customer@example.org",
    "reason": "manual",
    "detail": "asked by phone on 2026-12-01",
    "code": null,
    "stage": null,
    "emailId": null,
    "createdAt": "2026-12-07T10:05:00.000Z",
  },
  description: "Lift an entry with DELETE /v1/domains/{domain}/suppressions/{address}.",
});

export const SuppressionList = z.object({
  suppressions: z.array(SuppressionView).meta({ description: "A page of entries, newest first." }),
  nextBefore: z.number().int().nullable().meta({
    description: "Pass as `before` for the next page; null on the last.",
  }),
}).meta({
  id: "SuppressionList",
  example: {
    "suppressions": [{
      "id": 17,
      "domain": "example.com",
      "address": "nobody@example.org",
      "reason": "bounce",
      "detail": "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown",
      "code": "550 5.1.1",
      "stage": "rcpt",
      "emailId": "em_5f0c9a1d2b3e4f5a6b7c8d9e",
      "createdAt": "2026-12-07T10:00:02.000Z",
    }],
    "nextBefore": null,
  },
});

export const SuppressionInput = z.object({
  address: AddressString.meta({ description: "The address to suppress." }),
  detail: z.string().max(500).default("").meta({ description: "Why (kept with the entry)." }),
}).meta({
  id: "SuppressionInput",
  example: { "address": "former-customer@example.org", "detail": "asked by phone on 2026-12-01" },
});

export const DomainSettings = z.object({
  domain: z.string().meta({ description: "The sending domain." }),
  trackOpens: z.boolean().meta({ description: "Open tracking by default (a pixel in HTML mail)." }),
  trackClicks: z.boolean().meta({
    description: "Click tracking by default (links rewritten through the gateway).",
  }),
  verp: z.boolean().meta({
    description: "Send with a signed VERP return path (bounces become events, not DSNs).",
  }),
}).meta({ id: "DomainSendSettings" });

export const DomainSettingsInput = z.object({
  trackOpens: z.boolean().optional().meta({
    description: "Turn open tracking on or off by default.",
  }),
  trackClicks: z.boolean().optional().meta({
    description: "Turn click tracking on or off by default.",
  }),
  verp: z.boolean().optional().meta({ description: "Send with a signed VERP return path." }),
}).meta({ id: "DomainSendSettingsInput" });
