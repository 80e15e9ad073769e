/**
 * `postern reports dmarc|tls`: the DMARC aggregate and SMTP TLS reports other servers sent about
 * our domains (issue 21 item 4), through the admin API (`/v1/admin/reports/{kind}`,
 * src/routes/reports.ts), reached as the queue commands reach it (cmd_queue.ts).
 */
import { flag, type Invocation, str, table, usageError } from "./args.ts";
import { callJson } from "./api_client.ts";
import { printJson } from "./context.ts";
import { withApi } from "./cmd_queue.ts";

interface Report {
  domain: string;
  orgName: string;
  reportId: string;
  begin: string;
  end: string;
  total: number;
  failed: number;
  data: {
    rows?: { sourceIp: string; count: number; disposition: string; dkim: string; spf: string }[];
    policies?: { policyType: string; successful: number; failed: number }[];
  };
}

const day = (iso: string) => iso.slice(0, 10);

export const reportsList = (kind: "dmarc" | "tls") => ({ values }: Invocation) =>
  withApi(values, async (api) => {
    const limit = str(values, "limit") ?? "50";
    if (!/^\d{1,3}$/.test(limit) || Number(limit) < 1 || Number(limit) > 500) {
      throw usageError("--limit: 1 to 500");
    }
    const query = new URLSearchParams({ limit });
    const domain = str(values, "domain");
    if (domain) query.set("domain", domain);
    const since = str(values, "since");
    if (since) {
      if (Number.isNaN(Date.parse(since))) throw usageError("--since: a date, e.g. 2026-12-01");
      query.set("since", new Date(since).toISOString());
    }
    const page = await callJson(api, `/v1/admin/reports/${kind}?${query}`) as {
      items: Report[];
    };
    if (flag(values, "json")) return printJson(page);
    if (page.items.length === 0) {
      return console.log(`no ${kind === "tls" ? "TLS" : "DMARC"} reports`);
    }
    console.log(table(
      ["DOMAIN", "FROM", "DAY", kind === "tls" ? "SESSIONS" : "MESSAGES", "FAILED", "REPORT ID"],
      page.items.map((r) => [
        r.domain,
        r.orgName,
        day(r.begin),
        r.total,
        r.failed,
        r.reportId.slice(0, 40),
      ]),
    ));
    if (!flag(values, "rows")) return;
    for (const r of page.items) {
      console.log(`\n${r.domain} from ${r.orgName} (${day(r.begin)}):`);
      if (kind === "dmarc") {
        console.log(table(
          ["SOURCE IP", "COUNT", "DISPOSITION", "DKIM", "SPF"],
          (r.data.rows ?? []).map((x) => [x.sourceIp, x.count, x.disposition, x.dkim, x.spf]),
        ));
      } else {
        console.log(table(
          ["POLICY", "OK", "FAILED"],
          (r.data.policies ?? []).map((p) => [p.policyType, p.successful, p.failed]),
        ));
      }
    }
  });

export const reportsDmarc = reportsList("dmarc");
export const reportsTls = reportsList("tls");
