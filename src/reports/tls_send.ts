/**
 * Sends the SMTP TLS reports (RFC 8460) for the domains this server delivered to: once a UTC
 * day is over, each recipient domain's counters (./tls_record.ts) become one JSON report
 * (section 4.4), gzipped, for every `rua` of the domain's `_smtp._tls` TXT record (section 3):
 * `mailto:` through the outbox as multipart/report; report-type="tlsrpt" with the
 * TLS-Report-Domain and TLS-Report-Submitter fields and the section 5.3 file name, `https:` as
 * a POST of `application/tlsrpt+gzip` through the gateway's SSRF-guarded fetch (section 5.2).
 * Leased and bounded like the DMARC reports (./dmarc_send.ts); each report is one write job
 * with the deletion of the counters it reports.
 */
import type { Deps } from "../deps.ts";
import { sha256Hex } from "../crypto.ts";
import { guardedFetch } from "../http/net_guard.ts";
import { blobJob } from "../services/blob_chunks.ts";
import { enqueueStatements } from "../services/outbox.ts";
import { rawSql, type Statement } from "../store/store.ts";
import { gzip } from "./archive.ts";
import type { ReportPass } from "./dmarc_send.ts";
import { leasedReportPass, reporterAddress, reportMessage } from "./dmarc_send.ts";
import { composeTlsReport, type TlsPolicyResult } from "./tlsrpt_report.ts";

const DAY_MS = 86_400_000;
const LEASE = "tls_reports";

/** The rua URIs of the domain's one TLSRPTv1 record (section 3), or none. */
async function tlsRua(deps: Deps, domain: string): Promise<string[]> {
  const txt = (await deps.dns!.txt(`_smtp._tls.${domain}`)).map((p) => p.join(""))
    .filter((t) => /^v=TLSRPTv1\s*;/i.test(t));
  if (txt.length !== 1) return [];
  const rua = /(?:^|;)\s*rua\s*=\s*([^;]+)/i.exec(txt[0])?.[1] ?? "";
  return rua.split(",").map((u) => u.trim()).filter((u) => /^(mailto:|https:\/\/)/i.test(u));
}

/** The policies of a report from the day's counters (section 4.4). */
export function policiesOf(domain: string, rows: { key: string; count: number }[]) {
  const byPolicy = new Map<string, TlsPolicyResult>();
  for (const { key, count } of rows) {
    const [type, strings, mx, result] = JSON.parse(key) as [
      TlsPolicyResult["policyType"],
      string[],
      string,
      string,
    ];
    const id = JSON.stringify([type, strings]);
    const policy = byPolicy.get(id) ?? {
      policyType: type,
      policyDomain: domain,
      policyString: strings,
      mxHost: [],
      successful: 0,
      failed: 0,
      failureDetails: [],
    };
    if (!policy.mxHost.includes(mx)) policy.mxHost.push(mx);
    if (result === "success") policy.successful += count;
    else {
      policy.failed += count;
      policy.failureDetails.push({ resultType: result, sendingMta: "", receivingMx: mx, count });
    }
    byPolicy.set(id, policy);
  }
  return [...byPolicy.values()];
}

export async function sendTlsReports(
  deps: Deps,
  options: { worker: string; limit?: number },
): Promise<ReportPass> {
  return await leasedReportPass(deps, LEASE, options.worker, async (pass, now) => {
    const db = rawSql(deps.store.db);
    const groups = await db.all<{ day: number; policy_domain: string; last: number }>(
      `SELECT day, policy_domain, max(id) AS last FROM tls_counts WHERE day < ?
       GROUP BY day, policy_domain ORDER BY day, policy_domain LIMIT ?`,
      [Math.floor(now / DAY_MS), options.limit ?? 50],
    );
    const reporter = await reporterAddress(deps);
    const hostname = deps.config.hostname;
    for (const g of groups) {
      const day = Number(g.day), domain = g.policy_domain;
      const done: Statement = {
        sql: "DELETE FROM tls_counts WHERE day = ? AND policy_domain = ? AND id <= ?",
        args: [day, domain, Number(g.last)],
      };
      const rua = await tlsRua(deps, domain);
      if (rua.length === 0 || !reporter) {
        await deps.store.batch([done]);
        pass.dropped++;
        continue;
      }
      const rows = await db.all<{ row_key: string; count: number }>(
        "SELECT row_key, count FROM tls_counts WHERE day = ? AND policy_domain = ? AND id <= ?",
        [day, domain, Number(g.last)],
      );
      const start = day * DAY_MS, end = start + DAY_MS - 1000;
      const reportId = `${new Date(start).toISOString().slice(0, 10)}.${domain}.` +
        `${crypto.randomUUID().slice(0, 8)}@${hostname}`;
      const json = composeTlsReport({
        organizationName: hostname,
        contactInfo: reporter,
        reportId,
        start,
        end,
        policies: policiesOf(domain, rows.map((r) => ({ key: r.row_key, count: Number(r.count) }))),
      });
      const body = await gzip(new TextEncoder().encode(json));
      for (const uri of rua.filter((u) => /^https:/i.test(u))) {
        // Section 5.2: POST; a failure is logged (the mailto copies still go out).
        const res = await guardedFetch(
          deps,
          deps.outbound,
          new Request(uri, {
            method: "POST",
            headers: { "content-type": "application/tlsrpt+gzip" },
            body: body as BodyInit,
          }),
          { allowPrivate: deps.config.webhookAllowPrivate, httpsOnly: true },
        ).catch((e) => e as Error);
        if (res instanceof Response) await res.body?.cancel();
        deps.logger.log("info", "reports.tls_posted", {
          domain,
          status: res instanceof Response ? res.status : String(res.message),
        });
      }
      const mailto = rua.filter((u) => /^mailto:/i.test(u))
        .map((u) => decodeURIComponent(u.slice(7)).trim())
        .filter((a) => /^[^@\s]+@[^@\s]+$/.test(a));
      const statements: Statement[] = [];
      let discard = () => Promise.resolve();
      if (mailto.length > 0) {
        const raw = reportMessage({
          from: `"TLS reports of ${hostname}" <${reporter}>`,
          to: mailto,
          subject: `Report Domain: ${domain} Submitter: ${hostname} Report-ID: <${reportId}>`,
          filename: `${hostname}!${domain}!${start / 1000}!${Math.floor(end / 1000)}.json.gz`,
          contentType: "application/tlsrpt+gzip",
          body: `The SMTP TLS report of ${hostname} for ${domain} (RFC 8460).`,
          attachment: body,
          messageId: `<${crypto.randomUUID()}@${hostname}>`,
          date: now,
          reportType: "tlsrpt",
          headers: [`TLS-Report-Domain: ${domain}`, `TLS-Report-Submitter: ${hostname}`],
        });
        const sha = await sha256Hex(raw);
        const blob = await blobJob(deps.store, raw, sha);
        discard = blob.discard;
        statements.push(
          ...blob.statements,
          ...enqueueStatements(deps, {
            accountId: null,
            blobSha256: sha,
            mailFrom: reporter,
            recipients: mailto,
            now,
          }),
        );
      }
      try {
        await deps.store.batch([...statements, done]);
      } catch (e) {
        await discard().catch(() => {});
        throw e;
      }
      pass.sent++;
      deps.logger.log("info", "reports.tls_sent", { domain, day, rua: rua.length });
    }
  });
}
