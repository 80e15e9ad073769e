/**
 * DMARC aggregate reports as XML (RFC 7489 section 7.2.1.1 and appendix C's schema): the report
 * we compose from our per-day counters, and the parse of a report someone sent us (through
 * ./xml.ts, which refuses document types and caps sizes). Also the DMARC record's tags
 * (section 6.3) and the rua URIs (section 6.2: `mailto:` with an optional `!size` limit). Pure.
 */
import { child, escapeXml, parseXml, textOf, type XmlElement } from "./xml.ts";

export interface PolicyPublished {
  domain: string;
  adkim: "r" | "s";
  aspf: "r" | "s";
  p: string;
  sp: string;
  pct: number;
}

export interface ReportRow {
  sourceIp: string;
  count: number;
  disposition: string;
  dkim: string;
  spf: string;
  headerFrom: string;
  dkimResults: { domain: string; selector: string; result: string }[];
  spfResults: { domain: string; result: string }[];
}

export interface AggregateReport {
  orgName: string;
  email: string;
  reportId: string;
  /** Unix seconds (appendix C `date_range`). */
  begin: number;
  end: number;
  policy: PolicyPublished;
  rows: ReportRow[];
}

/** The tags of a DMARC record (`v=DMARC1; p=…`), or undefined if it is not one. */
export function parseDmarcRecord(txt: string): Record<string, string> | undefined {
  const tags: Record<string, string> = {};
  for (const part of txt.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    tags[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  return tags.v === "DMARC1" && tags.p ? tags : undefined;
}

/** The `mailto:` addresses of a rua tag (other schemes are not ours to use here). */
export function ruaAddresses(rua: string | undefined): string[] {
  return (rua ?? "").split(",").map((u) => u.trim()).filter((u) => /^mailto:/i.test(u))
    .map((u) => decodeURIComponent(u.slice(7).replace(/!\d+[kmgt]?$/i, "")).trim())
    .filter((a) => /^[^@\s]+@[^@\s]+$/.test(a));
}

const tag = (name: string, value: string | number) =>
  `<${name}>${escapeXml(String(value))}</${name}>`;

/** The report as XML (appendix C). */
export function composeAggregateReport(r: AggregateReport): string {
  const records = r.rows.map((row) =>
    "  <record>\n    <row>" + tag("source_ip", row.sourceIp) + tag("count", row.count) +
    "<policy_evaluated>" + tag("disposition", row.disposition) + tag("dkim", row.dkim) +
    tag("spf", row.spf) + "</policy_evaluated></row>\n" +
    "    <identifiers>" + tag("header_from", row.headerFrom) + "</identifiers>\n" +
    "    <auth_results>" +
    row.dkimResults.map((d) =>
      "<dkim>" + tag("domain", d.domain) + (d.selector ? tag("selector", d.selector) : "") +
      tag("result", d.result) + "</dkim>"
    ).join("") +
    row.spfResults.map((s) =>
      "<spf>" + tag("domain", s.domain) + tag("scope", "mfrom") + tag("result", s.result) +
      "</spf>"
    ).join("") +
    "</auth_results>\n  </record>\n"
  ).join("");
  const p = r.policy;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<feedback>\n  <version>1.0</version>\n` +
    `  <report_metadata>${tag("org_name", r.orgName)}${tag("email", r.email)}` +
    `${tag("report_id", r.reportId)}<date_range>${tag("begin", r.begin)}${tag("end", r.end)}` +
    `</date_range></report_metadata>\n` +
    `  <policy_published>${tag("domain", p.domain)}${tag("adkim", p.adkim)}` +
    `${tag("aspf", p.aspf)}${tag("p", p.p)}${tag("sp", p.sp)}${tag("pct", p.pct)}` +
    `</policy_published>\n${records}</feedback>\n`;
}

const RESULT = /^[a-z]{1,16}$/;
const word = (v: string, fallback: string) =>
  RESULT.test(v.toLowerCase()) ? v.toLowerCase() : fallback;

function rowOf(record: XmlElement): ReportRow | undefined {
  const count = Number(textOf(record, "row", "count"));
  const sourceIp = textOf(record, "row", "source_ip");
  if (!Number.isSafeInteger(count) || count < 0 || !sourceIp || sourceIp.length > 64) {
    return undefined;
  }
  const auth = child(record, "auth_results");
  return {
    sourceIp,
    count,
    disposition: word(textOf(record, "row", "policy_evaluated", "disposition"), "none"),
    dkim: word(textOf(record, "row", "policy_evaluated", "dkim"), "fail"),
    spf: word(textOf(record, "row", "policy_evaluated", "spf"), "fail"),
    headerFrom: textOf(record, "identifiers", "header_from").toLowerCase().slice(0, 253),
    dkimResults: (auth?.children ?? []).filter((c) => c.name === "dkim").slice(0, 20).map((d) => ({
      domain: textOf(d, "domain").toLowerCase().slice(0, 253),
      selector: textOf(d, "selector").slice(0, 63),
      result: word(textOf(d, "result"), "none"),
    })),
    spfResults: (auth?.children ?? []).filter((c) => c.name === "spf").slice(0, 20).map((s) => ({
      domain: textOf(s, "domain").toLowerCase().slice(0, 253),
      result: word(textOf(s, "result"), "none"),
    })),
  };
}

export type ParsedReport = { ok: true; report: AggregateReport } | { ok: false; error: string };

/** A received aggregate report, checked field by field (a bad one is refused, with why). */
export function parseAggregateReport(xml: string): ParsedReport {
  const doc = parseXml(xml);
  if (!doc.ok) return doc;
  const root = doc.root;
  if (root.name !== "feedback") return { ok: false, error: "not a DMARC report (no <feedback>)" };
  const meta = child(root, "report_metadata");
  const begin = Number(textOf(meta, "date_range", "begin"));
  const end = Number(textOf(meta, "date_range", "end"));
  const orgName = textOf(meta, "org_name").slice(0, 255);
  const reportId = textOf(meta, "report_id").slice(0, 255);
  const domain = textOf(root, "policy_published", "domain").toLowerCase();
  if (!orgName || !reportId || !/^[a-z0-9.-]{1,253}$/.test(domain)) {
    return { ok: false, error: "the report lacks org_name, report_id or a policy domain" };
  }
  if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || end < begin) {
    return { ok: false, error: "the report's date_range is not valid" };
  }
  const rows: ReportRow[] = [];
  for (const record of root.children.filter((c) => c.name === "record")) {
    const row = rowOf(record);
    if (!row) return { ok: false, error: "a record without a valid source_ip or count" };
    rows.push(row);
  }
  const pp = child(root, "policy_published");
  const pct = Number(textOf(pp, "pct") || "100");
  return {
    ok: true,
    report: {
      orgName,
      email: textOf(meta, "email").slice(0, 320),
      reportId,
      begin,
      end,
      policy: {
        domain,
        adkim: textOf(pp, "adkim") === "s" ? "s" : "r",
        aspf: textOf(pp, "aspf") === "s" ? "s" : "r",
        p: word(textOf(pp, "p"), "none"),
        sp: word(textOf(pp, "sp") || textOf(pp, "p"), "none"),
        pct: Number.isFinite(pct) ? pct : 100,
      },
      rows,
    },
  };
}
