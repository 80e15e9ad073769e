/**
 * Statistics for administrators (`/v1/stats/*`, src/routes/admin_stats.ts): inbound volume and
 * verdicts per day. Sending statistics reuse the analytics rows (tx_analytics.ts).
 */
import { z } from "zod";

export const InboundDay = z.object({
  day: z.string().meta({ description: "YYYY-MM-DD (UTC)." }),
  received: z.number().int().meta({
    description: "Messages stored outside Sent and Drafts that day.",
  }),
  junk: z.number().int().meta({ description: "Of them, delivered to Junk." }),
  dmarcPass: z.number().int().meta({ description: "Messages whose DMARC result was pass." }),
  dmarcFail: z.number().int().meta({ description: "Messages whose DMARC result was fail." }),
  spfPass: z.number().int().meta({ description: "Messages whose SPF result was pass." }),
  spfFail: z.number().int().meta({ description: "fail or softfail." }),
  dkimPass: z.number().int().meta({ description: "At least one valid DKIM signature." }),
  unchecked: z.number().int().meta({
    description: "No verdicts: local mail, or mail handed in without checks.",
  }),
}).meta({ id: "InboundDay" });
export type InboundDay = z.infer<typeof InboundDay>;

export const InboundQuery = z.object({
  from: z.iso.date().optional().meta({
    param: { name: "from", in: "query" },
    description: "First day (default: 29 days before `to`).",
  }),
  to: z.iso.date().optional().meta({
    param: { name: "to", in: "query" },
    description: "Last day, inclusive (default: today, UTC).",
  }),
});
