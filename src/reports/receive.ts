/**
 * Reports sent to us: mail for the `rua` address Postern publishes for its domains
 * (`postmaster@<domain>`, services/dns_records.ts, for DMARC and TLS-RPT alike) that carries a
 * report file — gzip, zip or plain; DMARC XML (RFC 7489 appendix C) or TLS-RPT JSON (RFC 8460
 * section 4.4) — is parsed, and each report about one of our domains becomes a row of
 * `received_reports` in the delivery's own write job (the message is stored as well). A report
 * already received (same kind, organisation and report id) is kept once. A hostile or broken
 * file is logged and skipped: it never fails the delivery.
 */
import { splitPlus } from "../../schemas/address.ts";
import type { ParsedMail } from "../../schemas/mail.ts";
import type { Deps } from "../deps.ts";
import { findDomain } from "../services/accounts.ts";
import type { Queryable, Statement } from "../store/store.ts";
import { openReport } from "./archive.ts";
import { parseAggregateReport } from "./dmarc_report.ts";
import { parseTlsReport } from "./tlsrpt_report.ts";

const REPORT_TYPE = /gzip|zip|xml|json|tlsrpt|octet-stream/i;
const REPORT_NAME = /\.(xml|json|gz|zip)$/i;
/** Report files looked at per message. */
const MAX_FILES = 5;

/** Cheap test, before any parsing: a postmaster recipient and a file that may be a report. */
export function mayCarryReport(recipients: string[], parsed: ParsedMail): boolean {
  return parsed.attachments.length > 0 &&
    recipients.some((r) => {
      const at = r.lastIndexOf("@");
      return at > 0 && splitPlus(r.slice(0, at)).base.toLowerCase() === "postmaster";
    }) &&
    parsed.attachments.some((a) => REPORT_TYPE.test(a.contentType) || REPORT_NAME.test(a.filename));
}

interface Row {
  kind: "dmarc" | "tlsrpt";
  domain: string;
  orgName: string;
  reportId: string;
  begin: number;
  end: number;
  data: unknown;
  total: number;
  failed: number;
}

/** The parsed report rows of one file, or why none. */
export async function reportRows(file: Uint8Array): Promise<Row[] | string> {
  const opened = await openReport(file);
  if (!opened.ok) return opened.error;
  const text = new TextDecoder("utf-8", { fatal: false }).decode(opened.bytes).trim();
  if (text.startsWith("{")) {
    const parsed = parseTlsReport(text);
    if (!parsed.ok) return parsed.error;
    const r = parsed.report;
    // One row per policy domain: each is its own domain's view.
    const domains = [...new Set(r.policies.map((p) => p.policyDomain))];
    return domains.map((domain) => {
      const policies = r.policies.filter((p) => p.policyDomain === domain);
      return {
        kind: "tlsrpt",
        domain,
        orgName: r.organizationName,
        reportId: r.reportId,
        begin: r.start,
        end: r.end,
        data: { contactInfo: r.contactInfo, policies },
        total: policies.reduce((n, p) => n + p.successful + p.failed, 0),
        failed: policies.reduce((n, p) => n + p.failed, 0),
      };
    });
  }
  const parsed = parseAggregateReport(text);
  if (!parsed.ok) return parsed.error;
  const r = parsed.report;
  return [{
    kind: "dmarc",
    domain: r.policy.domain,
    orgName: r.orgName,
    reportId: r.reportId,
    begin: r.begin * 1000,
    end: r.end * 1000,
    data: { email: r.email, policy: r.policy, rows: r.rows },
    total: r.rows.reduce((n, row) => n + row.count, 0),
    failed: r.rows.filter((row) => row.dkim !== "pass" && row.spf !== "pass")
      .reduce((n, row) => n + row.count, 0),
  }];
}

/** The inserts for the reports a delivered message carries about our domains. */
export async function receivedReportStatements(
  deps: Deps,
  db: Queryable,
  raw: Uint8Array,
  recipients: string[],
  parsed: ParsedMail,
  now: number,
): Promise<Statement[]> {
  if (!mayCarryReport(recipients, parsed)) return [];
  const out: Statement[] = [];
  const files = parsed.attachments
    .filter((a) => REPORT_TYPE.test(a.contentType) || REPORT_NAME.test(a.filename))
    .slice(0, MAX_FILES);
  for (const file of files) {
    const content = await deps.mime.attachment(raw, file.index);
    const rows = content ? await reportRows(content.content) : "the attachment cannot be read";
    if (typeof rows === "string") {
      deps.logger.log("warn", "reports.refused", { file: file.filename.slice(0, 100), why: rows });
      continue;
    }
    for (const row of rows) {
      if (!(await findDomain(db, row.domain))) {
        deps.logger.log("warn", "reports.not_ours", { kind: row.kind, domain: row.domain });
        continue;
      }
      out.push({
        sql: `INSERT INTO received_reports (kind, domain, org_name, report_id, begin, "end", data,
            total, failed, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (kind, org_name, report_id) DO NOTHING`,
        args: [
          row.kind,
          row.domain,
          row.orgName,
          row.reportId,
          row.begin,
          row.end,
          JSON.stringify(row.data),
          row.total,
          row.failed,
          now,
        ],
      });
    }
  }
  return out;
}
