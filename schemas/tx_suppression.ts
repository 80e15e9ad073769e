/**
 * Suppression list and per-domain sending settings (tracking defaults, VERP return path).
 */
import { z } from "zod";
import { AddressString } from "./address.ts";

export const SuppressionView = z.object({
  id: z.number().int(),
  domain: z.string(),
  address: z.string(),
  reason: z.enum(["bounce", "complaint", "unsubscribe", "manual"]),
  detail: z.string(),
  emailId: z.string().nullable(),
  createdAt: z.string(),
}).meta({ id: "Suppression" });

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
