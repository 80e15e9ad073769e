/**
 * Inbound mail per day (UTC) for the admin console: how many messages local accounts received
 * and what the bridge's checks said of them (SPF RFC 7208, DKIM RFC 6376, DMARC RFC 7489, kept
 * in each message's JSON form under `authentication`), and how many went to Junk. "Received"
 * is every stored message outside the Sent and Drafts mailboxes (moves keep the arrival day);
 * mail from this server's own users carries no verdicts and counts as `unchecked`.
 */
import type { InValue } from "@libsql/client/web";
import type { InboundDay } from "../../schemas/stats.ts";
import type { Queryable } from "../store/store.ts";
import { rawSql } from "../store/store.ts";

const DAY = 86_400_000;

/** Days from `from` to `to` (YYYY-MM-DD, inclusive), only days with mail, oldest first. */
export async function inboundStats(
  db: Queryable,
  q: { from: string; to: string; domainIds?: number[] },
): Promise<InboundDay[]> {
  const args: InValue[] = [
    Date.parse(`${q.from}T00:00:00Z`),
    Date.parse(`${q.to}T00:00:00Z`) + DAY,
  ];
  let scope = "";
  if (q.domainIds) {
    if (q.domainIds.length === 0) return [];
    scope = ` AND a.domain_id IN (${q.domainIds.map(() => "?").join(", ")})`;
    args.push(...q.domainIds);
  }
  const rows = await rawSql(db).all<Record<string, number | string>>(
    `SELECT day, count(*) AS received, sum(junk) AS junk,
       sum(dmarc = 'pass') AS dmarc_pass, sum(dmarc = 'fail') AS dmarc_fail,
       sum(spf = 'pass') AS spf_pass, sum(spf IN ('fail', 'softfail')) AS spf_fail,
       sum(dkim_pass) AS dkim_pass, sum(checked = 0) AS unchecked
     FROM (SELECT strftime('%Y-%m-%d', m.internal_date / 1000, 'unixepoch') AS day,
         coalesce(mb.role = 'junk', 0) AS junk,
         json_extract(m.parsed, '$.authentication.dmarc.result') AS dmarc,
         json_extract(m.parsed, '$.authentication.spf.result') AS spf,
         EXISTS (SELECT 1 FROM json_each(m.parsed, '$.authentication.dkim')
           WHERE json_extract(value, '$.result') = 'pass') AS dkim_pass,
         json_type(m.parsed, '$.authentication') IS NOT NULL AS checked
       FROM messages m JOIN mailboxes mb ON mb.id = m.mailbox_id
       JOIN accounts a ON a.id = m.account_id
       WHERE (mb.role IS NULL OR mb.role NOT IN ('sent', 'drafts'))
         AND m.internal_date >= ? AND m.internal_date < ?${scope})
     GROUP BY day ORDER BY day`,
    args,
  );
  return rows.map((r) => ({
    day: String(r.day),
    received: Number(r.received),
    junk: Number(r.junk ?? 0),
    dmarcPass: Number(r.dmarc_pass ?? 0),
    dmarcFail: Number(r.dmarc_fail ?? 0),
    spfPass: Number(r.spf_pass ?? 0),
    spfFail: Number(r.spf_fail ?? 0),
    dkimPass: Number(r.dkim_pass ?? 0),
    unchecked: Number(r.unchecked ?? 0),
  }));
}
