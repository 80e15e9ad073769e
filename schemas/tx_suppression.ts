/**
 * Suppression list and per-domain sending settings (tracking defaults, VERP return path).
 */
import { z } from "zod";
import { AddressString } from "./address.ts";

export const SuppressionView = z.object({
  id: z.number().int(),
  domain: z.string(),
  address: z.string(),
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
  emailId: z.string().nullable(),
  createdAt: z.string(),
}).meta({
  id: "Suppression",
  description: "Lift an entry with DELETE /v1/domains/{domain}/suppressions/{address}.",
});

export const SuppressionList = z.object({
  suppressions: z.array(SuppressionView),
  nextBefore: z.number().int().nullable(),
}).meta({ id: "SuppressionList" });

export const SuppressionInput = z.object({
  address: AddressString,
  detail: z.string().max(500).default(""),
}).meta({ id: "SuppressionInput" });

export const DomainSettings = z.object({
  domain: z.string(),
  trackOpens: z.boolean(),
  trackClicks: z.boolean(),
  verp: z.boolean().meta({
    description: "Send with a signed VERP return path (bounces become events, not DSNs).",
  }),
}).meta({ id: "DomainSendSettings" });

export const DomainSettingsInput = z.object({
  trackOpens: z.boolean().optional(),
  trackClicks: z.boolean().optional(),
  verp: z.boolean().optional(),
}).meta({ id: "DomainSendSettingsInput" });
