/**
 * The contract between the bridge's SHARP/1.3 listener and the gateway beyond MX-style hand-in:
 * the shared table of spent hashcash stamps (a stamp is accepted once, whichever bridge sees it).
 *
 * - `POST /v1/bridge/sharp/stamps` spends a stamp (`fresh: false` when it was already spent).
 *   A spent stamp is never given back, whatever became of the message it paid for.
 */
import { z } from "zod";

export const SharpStampClaim = z.object({
  stamp: z.string().min(1).max(512).meta({
    description: "The whole hashcash version-1 stamp, `1:bits:date:resource::rand:counter`.",
  }),
  expiresAt: z.number().int().min(0).meta({
    description: "Epoch ms when the stamp goes stale anyway (its date + 24 hours).",
  }),
}).meta({ id: "SharpStampClaim" });
export type SharpStampClaim = z.infer<typeof SharpStampClaim>;

export const SharpStampVerdict = z.object({
  fresh: z.boolean().meta({
    description: "True when this claim spent the stamp; false for a replay.",
  }),
}).meta({ id: "SharpStampVerdict" });
export type SharpStampVerdict = z.infer<typeof SharpStampVerdict>;
