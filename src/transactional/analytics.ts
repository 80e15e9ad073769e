/**
 * Analytics of transactional mail from the timeline: per day (UTC), sending domain or tag, the
 * counts of sent (`sent` events: handed to a transport, or delivered locally), delivered,
 * bounced, complained, and distinct opened and clicked recipients, with rates; and the same as
 * CSV (RFC 4180). Accepted mail that has not left yet (queued, scheduled) is not counted as sent.
 */
import { and, eq, gte, inArray, lt } from "drizzle-orm";
import type { AnalyticsRow } from "../../schemas/tx_analytics.ts";
import type { Queryable } from "../store/store.ts";
import { schema } from "../store/store.ts";

export interface AnalyticsQuery {
  from?: string;
  to?: string;
  groupBy: "day" | "domain" | "tag";
  domain?: string;
  tag?: string;
}

const COUNTED = ["sent", "delivered", "bounced", "complained", "opened", "clicked"];
const DAY = 86_400_000;
const rate = (n: number, d: number) => (d > 0 ? Math.round((n / d) * 10_000) / 10_000 : 0);

/**
 * `owner`: one account's mail (the analytics API), or every account's mail from `domains`
 * (all domains when absent: the admin console's view, routes/admin_stats.ts).
 */
export async function analytics(
  db: Queryable,
  owner: number | { domains?: string[] },
  q: AnalyticsQuery,
): Promise<AnalyticsRow[]> {
  const where = [inArray(schema.txEvents.type, COUNTED)];
  if (typeof owner === "number") where.push(eq(schema.txEvents.accountId, owner));
  else if (owner.domains) where.push(inArray(schema.txEvents.domain, owner.domains));
  if (q.from) where.push(gte(schema.txEvents.createdAt, Date.parse(`${q.from}T00:00:00Z`)));
  if (q.to) where.push(lt(schema.txEvents.createdAt, Date.parse(`${q.to}T00:00:00Z`) + DAY));
  if (q.domain) where.push(eq(schema.txEvents.domain, q.domain.toLowerCase()));
  const rows = await db.select({
    type: schema.txEvents.type,
    messageId: schema.txEvents.messageId,
    recipient: schema.txEvents.recipient,
    domain: schema.txEvents.domain,
    createdAt: schema.txEvents.createdAt,
    tags: schema.txMessages.tags,
  }).from(schema.txEvents)
    .innerJoin(schema.txMessages, eq(schema.txMessages.id, schema.txEvents.messageId))
    .where(and(...where));
  const groups = new Map<string, {
    counts: Record<string, number>;
    unique: Record<string, Set<string>>;
  }>();
  for (const r of rows) {
    const tags = JSON.parse(r.tags) as string[];
    if (q.tag && !tags.includes(q.tag)) continue;
    const keys = q.groupBy === "day"
      ? [new Date(r.createdAt).toISOString().slice(0, 10)]
      : q.groupBy === "domain"
      ? [r.domain]
      : tags;
    for (const key of keys) {
      let g = groups.get(key);
      if (!g) {
        g = { counts: {}, unique: { opened: new Set(), clicked: new Set() } };
        groups.set(key, g);
      }
      if (r.type === "opened" || r.type === "clicked") {
        g.unique[r.type].add(`${r.messageId} ${r.recipient ?? ""}`);
      } else g.counts[r.type] = (g.counts[r.type] ?? 0) + 1;
    }
  }
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, g]) => {
    const sent = g.counts.sent ?? 0;
    const delivered = g.counts.delivered ?? 0;
    const bounced = g.counts.bounced ?? 0;
    const complained = g.counts.complained ?? 0;
    const opened = g.unique.opened.size;
    const clicked = g.unique.clicked.size;
    return {
      key,
      sent,
      delivered,
      bounced,
      complained,
      opened,
      clicked,
      deliveryRate: rate(delivered, sent),
      bounceRate: rate(bounced, sent),
      complaintRate: rate(complained, delivered),
      openRate: rate(opened, delivered),
      clickRate: rate(clicked, delivered),
    };
  });
}

const COLUMNS: (keyof AnalyticsRow)[] = [
  "key",
  "sent",
  "delivered",
  "bounced",
  "complained",
  "opened",
  "clicked",
  "deliveryRate",
  "bounceRate",
  "complaintRate",
  "openRate",
  "clickRate",
];

/** RFC 4180: CRLF line ends, fields quoted when they hold a comma, quote or line break. */
export function toCsv(rows: AnalyticsRow[], groupBy: string): string {
  const cell = (v: unknown) => {
    const s = String(v);
    // A leading =, +, - or @ would be a formula in a spreadsheet: prefix a quote.
    const safe = /^[=+\-@]/.test(s) && typeof v === "string" ? `'${s}` : s;
    return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
  };
  const head = [groupBy, ...COLUMNS.slice(1)].join(",");
  return [head, ...rows.map((r) => COLUMNS.map((c) => cell(r[c])).join(","))].join("\r\n") + "\r\n";
}
