/**
 * Analytics of transactional mail: counts and rates per day, domain or tag.
 */
import { z } from "zod";

export const AnalyticsQuery = z.object({
  from: z.iso.date().optional().meta({ param: { name: "from", in: "query" } }),
  to: z.iso.date().optional().meta({ param: { name: "to", in: "query" } }),
  groupBy: z.enum(["day", "domain", "tag"]).default("day").meta({
    param: { name: "groupBy", in: "query" },
  }),
  domain: z.string().optional().meta({ param: { name: "domain", in: "query" } }),
  tag: z.string().optional().meta({ param: { name: "tag", in: "query" } }),
});

export const AnalyticsRow = z.object({
  key: z.string().meta({ description: "The day (YYYY-MM-DD), domain or tag." }),
  sent: z.number().int(),
  delivered: z.number().int(),
  bounced: z.number().int(),
  complained: z.number().int(),
  opened: z.number().int().meta({ description: "Distinct message/recipient pairs." }),
  clicked: z.number().int().meta({ description: "Distinct message/recipient pairs." }),
  deliveryRate: z.number(),
  bounceRate: z.number(),
  complaintRate: z.number(),
  openRate: z.number(),
  clickRate: z.number(),
}).meta({ id: "AnalyticsRow" });
export type AnalyticsRow = z.infer<typeof AnalyticsRow>;

export const AnalyticsResponse = z.object({
  groupBy: z.enum(["day", "domain", "tag"]),
  rows: z.array(AnalyticsRow),
}).meta({ id: "Analytics" });
