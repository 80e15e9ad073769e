/**
 * Analytics of transactional mail: counts and rates per day, domain or tag.
 */
import { z } from "zod";

export const AnalyticsQuery = z.object({
  from: z.iso.date().optional().meta({
    param: { name: "from", in: "query" },
    description: "First day included (YYYY-MM-DD, UTC).",
  }),
  to: z.iso.date().optional().meta({
    param: { name: "to", in: "query" },
    description: "Last day included (YYYY-MM-DD, UTC).",
  }),
  groupBy: z.enum(["day", "domain", "tag"]).default("day").meta({
    param: { name: "groupBy", in: "query" },
    description: "Group rows by day, sending domain or tag.",
  }),
  domain: z.string().optional().meta({
    param: { name: "domain", in: "query" },
    description: "Only mail from this sending domain.",
  }),
  tag: z.string().optional().meta({
    param: { name: "tag", in: "query" },
    description: "Only mail with this tag.",
  }),
});

export const AnalyticsRow = z.object({
  key: z.string().meta({ description: "The day (YYYY-MM-DD), domain or tag." }),
  sent: z.number().int().meta({ description: "Recipients whose message left Postern." }),
  delivered: z.number().int().meta({ description: "Recipients whose server accepted it." }),
  bounced: z.number().int().meta({ description: "Recipients that bounced." }),
  complained: z.number().int().meta({ description: "Recipients that reported spam." }),
  opened: z.number().int().meta({ description: "Distinct message/recipient pairs." }),
  clicked: z.number().int().meta({ description: "Distinct message/recipient pairs." }),
  deliveryRate: z.number().meta({ description: "delivered / sent (0 to 1)." }),
  bounceRate: z.number().meta({ description: "bounced / sent (0 to 1)." }),
  complaintRate: z.number().meta({ description: "complained / delivered (0 to 1)." }),
  openRate: z.number().meta({ description: "opened / delivered (0 to 1)." }),
  clickRate: z.number().meta({ description: "clicked / delivered (0 to 1)." }),
}).meta({ id: "AnalyticsRow" });
export type AnalyticsRow = z.infer<typeof AnalyticsRow>;

export const AnalyticsResponse = z.object({
  groupBy: z.enum(["day", "domain", "tag"]).meta({ description: "How the rows are grouped." }),
  rows: z.array(AnalyticsRow).meta({ description: "One row per day, domain or tag." }),
}).meta({
  id: "Analytics",
  example: {
    "groupBy": "day",
    "rows": [{
      "key": "2026-12-07",
      "sent": 1200,
      "delivered": 1180,
      "bounced": 12,
      "complained": 1,
      "opened": 640,
      "clicked": 210,
      "deliveryRate": 0.9833,
      "bounceRate": 0.01,
      "complaintRate": 0.0008,
      "openRate": 0.5424,
      "clickRate": 0.178,
    }],
  },
});
