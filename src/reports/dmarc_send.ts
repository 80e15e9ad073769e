/**
 * Sends the DMARC aggregate reports this server owes (RFC 7489 section 7.2): once a UTC day is
 * over, the counters of each From domain (./dmarc_record.ts) become one report to the `rua`
 * addresses of that domain's current DMARC record, gzipped XML (section 7.2.1.1) with the
 * RFC's subject (`Report Domain: … Submitter: … Report-ID: <…>`, section 7.2.1.1) and file name
 * (`receiver!policy-domain!begin!end.xml.gz`), queued in the outbox (DKIM-signed as our first
 * domain by the bridge). A rua outside the policy domain gets reports only when that domain
 * published `<policy-domain>._report._dmarc.<rua-domain>` (section 7.1: external destination
 * verification), so nobody can make us mail reports to a third party.
 *
 * Bounded slices (`limit` domains per call) under a lease in the store, so that of several
 * gateways one does the work, and each report is one write job: the message's blob, its outbox
 * rows and the deletion of the counters it reports — sent once, never twice.
 */
import type { Deps } from "../deps.ts";
import { sha256Hex, toBase64 } from "../crypto.ts";
import { blobJob } from "../services/blob_chunks.ts";
import { enqueueStatements } from "../services/outbox.ts";
import { releaseLease, takeLease } from "../store/leases.ts";
import { rawSql } from "../store/store.ts";
import { gzip } from "./archive.ts";
import {
  type AggregateReport,
  composeAggregateReport,
  parseDmarcRecord,
  type ReportRow,
  ruaAddresses,
} from "./dmarc_report.ts";

const DAY_MS = 86_400_000;
const LEASE = "dmarc_reports";

/** The DMARC record that applies to `domain`: its own, else its parents' (section 6.6.3). */
async function policyFor(deps: Deps, domain: string) {
  const labels = domain.split(".");
  for (let i = 0; i <= labels.length - 2 && i < 4; i++) {
    const name = labels.slice(i).join(".");
    const txt = (await deps.dns!.txt(`_dmarc.${name}`)).map((parts) => parts.join(""));
    const records = txt.map(parseDmarcRecord).filter((r) => r !== undefined);
    // Section 6.6.3: exactly one record, else none applies.
    if (records.length === 1) return { domain: name, tags: records[0]! };
    if (records.length > 1) return undefined;
  }
  return undefined;
}

/** Whether `rua` may receive reports for `policyDomain` (section 7.1). */
async function destinationVerified(deps: Deps, policyDomain: string, rua: string) {
  const ruaDomain = rua.slice(rua.lastIndexOf("@") + 1).toLowerCase();
  const within = (a: string, b: string) => a === b || a.endsWith(`.${b}`);
  if (within(ruaDomain, policyDomain) || within(policyDomain, ruaDomain)) return true;
  const txt = await deps.dns!.txt(`${policyDomain}._report._dmarc.${ruaDomain}`);
  return txt.some((parts) => /^v=DMARC1(\s*;|\s*$)/i.test(parts.join("")));
}

const rfc5322Date = (ms: number) => new Date(ms).toUTCString().replace(/GMT$/, "+0000");

/** The report as an RFC 5322 message with the gzipped XML attached (CRLF line ends). */
export function reportMessage(input: {
  from: string;
  to: string[];
  subject: string;
  filename: string;
  contentType: string;
  body: string;
  attachment: Uint8Array;
  messageId: string;
  date: number;
  /** A multipart/report type (RFC 6522), e.g. `tlsrpt` (RFC 8460 section 5.3); else mixed. */
  reportType?: string;
  /** Further header fields (`Name: value`). */
  headers?: string[];
}): Uint8Array {
  const boundary = `=_postern_report_${crypto.randomUUID()}`;
  const b64 = toBase64(input.attachment).replace(/.{1,76}/g, "$&\r\n");
  const text = [
    `From: ${input.from}`,
    `To: ${input.to.join(", ")}`,
    `Subject: ${input.subject}`,
    `Date: ${rfc5322Date(input.date)}`,
    `Message-ID: ${input.messageId}`,
    ...(input.headers ?? []),
    "MIME-Version: 1.0",
    input.reportType
      ? `Content-Type: multipart/report; report-type="${input.reportType}"; boundary="${boundary}"`
      : `Content-Type: multipart/mixed; boundary="${boundary}"`,
    "",
    `--${boundary}`,
    "Content-Type: text/plain; charset=utf-8",
    "",
    input.body,
    `--${boundary}`,
    `Content-Type: ${input.contentType}; name="${input.filename}"`,
    `Content-Disposition: attachment; filename="${input.filename}"`,
    "Content-Transfer-Encoding: base64",
    "",
    b64 + `--${boundary}--`,
    "",
  ].join("\r\n");
  return new TextEncoder().encode(text);
}

/** The reporter's address: postmaster of our first domain (DKIM-signed by the bridge). */
export async function reporterAddress(deps: Deps): Promise<string | undefined> {
  const first = await rawSql(deps.store.db).get<{ name: string }>(
    "SELECT name FROM domains ORDER BY id LIMIT 1",
  );
  return first ? `postmaster@${first.name}` : undefined;
}

function rowOf(key: string, count: number, headerFrom: string): ReportRow {
  const [ip, disposition, dkim, spf, spfDomain, spfResult, dkims] = JSON.parse(key) as [
    string,
    string,
    string,
    string,
    string,
    string,
    [string, string, string][],
  ];
  return {
    sourceIp: ip,
    count,
    disposition,
    dkim,
    spf,
    headerFrom,
    dkimResults: dkims.map(([domain, selector, result]) => ({ domain, selector, result })),
    spfResults: spfDomain ? [{ domain: spfDomain, result: spfResult }] : [],
  };
}

export interface ReportPass {
  /** Reports queued. */
  sent: number;
  /** Day and domain groups dropped: no DMARC record, no (verified) mailto rua. */
  dropped: number;
}

/**
 * Runs one report slice under lease `name` (one gateway of several at a time), when a DNS port
 * is there to read the rua records; answers what it sent and dropped.
 */
export async function leasedReportPass(
  deps: Deps,
  name: string,
  worker: string,
  run: (pass: ReportPass, now: number) => Promise<void>,
): Promise<ReportPass> {
  const pass: ReportPass = { sent: 0, dropped: 0 };
  if (!deps.dns) return pass;
  const now = deps.clock.now();
  if (!await takeLease(deps.store, name, worker, 10 * 60_000, now)) return pass;
  try {
    await run(pass, now);
  } finally {
    await releaseLease(deps.store, name, worker).catch(() => {});
  }
  return pass;
}

/** One slice: reports for at most `limit` finished (day, domain) groups. */
export async function sendDmarcReports(
  deps: Deps,
  options: { worker: string; limit?: number },
): Promise<ReportPass> {
  return await leasedReportPass(deps, LEASE, options.worker, async (pass, now) => {
    const db = rawSql(deps.store.db);
    const today = Math.floor(now / DAY_MS);
    const groups = await db.all<{ day: number; header_from: string; last: number }>(
      `SELECT day, header_from, max(id) AS last FROM dmarc_counts WHERE day < ?
       GROUP BY day, header_from ORDER BY day, header_from LIMIT ?`,
      [today, options.limit ?? 50],
    );
    const reporter = await reporterAddress(deps);
    for (const g of groups) {
      const day = Number(g.day), last = Number(g.last);
      const done = {
        sql: "DELETE FROM dmarc_counts WHERE day = ? AND header_from = ? AND id <= ?",
        args: [day, g.header_from, last],
      };
      const policy = await policyFor(deps, g.header_from);
      const rua = [];
      for (const address of ruaAddresses(policy?.tags.rua)) {
        if (await destinationVerified(deps, policy!.domain, address)) rua.push(address);
      }
      if (!policy || rua.length === 0 || !reporter) {
        await deps.store.batch([done]);
        pass.dropped++;
        continue;
      }
      const rows = await db.all<{ row_key: string; count: number }>(
        "SELECT row_key, count FROM dmarc_counts WHERE day = ? AND header_from = ? AND id <= ?",
        [day, g.header_from, last],
      );
      const hostname = deps.config.hostname;
      const begin = day * 86_400, end = begin + 86_399;
      const report: AggregateReport = {
        orgName: hostname,
        email: reporter,
        reportId: `${day}.${g.header_from}.${crypto.randomUUID().slice(0, 8)}@${hostname}`,
        begin,
        end,
        policy: {
          domain: policy.domain,
          adkim: policy.tags.adkim === "s" ? "s" : "r",
          aspf: policy.tags.aspf === "s" ? "s" : "r",
          p: policy.tags.p,
          sp: policy.tags.sp ?? policy.tags.p,
          pct: Number(policy.tags.pct ?? 100),
        },
        rows: rows.map((r) => rowOf(r.row_key, Number(r.count), g.header_from)),
      };
      const filename = `${hostname}!${policy.domain}!${begin}!${end}.xml.gz`;
      const raw = reportMessage({
        from: `"DMARC reports of ${hostname}" <${reporter}>`,
        to: rua,
        subject:
          `Report Domain: ${policy.domain} Submitter: ${hostname} Report-ID: <${report.reportId}>`,
        filename,
        contentType: "application/gzip",
        body: `The DMARC aggregate report of ${hostname} for ${policy.domain}, ` +
          `${new Date(begin * 1000).toISOString().slice(0, 10)} (RFC 7489).`,
        attachment: await gzip(new TextEncoder().encode(composeAggregateReport(report))),
        messageId: `<${crypto.randomUUID()}@${hostname}>`,
        date: now,
      });
      const sha = await sha256Hex(raw);
      const blob = await blobJob(deps.store, raw, sha);
      try {
        await deps.store.batch([
          ...blob.statements,
          ...enqueueStatements(deps, {
            accountId: null,
            blobSha256: sha,
            messageIdHeader: undefined,
            mailFrom: reporter,
            recipients: rua,
            now,
          }),
          done,
        ]);
      } catch (e) {
        await blob.discard().catch(() => {});
        throw e;
      }
      pass.sent++;
      deps.logger.log("info", "reports.dmarc_sent", {
        domain: policy.domain,
        day,
        rows: rows.length,
        recipients: rua.length,
      });
    }
  });
}
