/**
 * SMTP TLS reports (RFC 8460) as JSON: the parse of a report someone sent us (section 4, its
 * fields checked one by one; sizes capped by the caller), and the one we compose from our own
 * outbound TLS results. Pure.
 */

export interface TlsPolicyResult {
  policyType: "sts" | "tlsa" | "no-policy-found";
  policyDomain: string;
  policyString: string[];
  mxHost: string[];
  successful: number;
  failed: number;
  failureDetails: { resultType: string; sendingMta: string; receivingMx: string; count: number }[];
}

export interface TlsReport {
  organizationName: string;
  contactInfo: string;
  reportId: string;
  /** Unix ms. */
  start: number;
  end: number;
  policies: TlsPolicyResult[];
}

export type ParsedTlsReport = { ok: true; report: TlsReport } | { ok: false; error: string };

const str = (v: unknown, max = 255) => typeof v === "string" ? v.slice(0, max) : "";
const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0 ? v as number : -1;

/** A received TLS report (section 4.4's JSON), or why it is refused. */
export function parseTlsReport(text: string): ParsedTlsReport {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, error: "not JSON" };
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    return { ok: false, error: "not a TLS report object" };
  }
  const range = doc["date-range"] as Record<string, unknown> | undefined;
  const start = Date.parse(str(range?.["start-datetime"], 40));
  const end = Date.parse(str(range?.["end-datetime"], 40));
  const organizationName = str(doc["organization-name"]);
  const reportId = str(doc["report-id"]);
  if (!organizationName || !reportId || !Number.isFinite(start) || !Number.isFinite(end)) {
    return { ok: false, error: "the report lacks organization-name, report-id or date-range" };
  }
  if (!Array.isArray(doc.policies) || doc.policies.length > 1000) {
    return { ok: false, error: "the report's policies are missing or too many" };
  }
  const policies: TlsPolicyResult[] = [];
  for (const p of doc.policies as Record<string, Record<string, unknown>>[]) {
    const type = str(p?.policy?.["policy-type"], 20);
    const domain = str(p?.policy?.["policy-domain"], 253).toLowerCase();
    const successful = count(p?.summary?.["total-successful-session-count"]);
    const failed = count(p?.summary?.["total-failure-session-count"]);
    if (!["sts", "tlsa", "no-policy-found"].includes(type) || !/^[a-z0-9.-]+$/.test(domain)) {
      return { ok: false, error: "a policy without a valid type or domain" };
    }
    if (successful < 0 || failed < 0) return { ok: false, error: "a policy without counts" };
    const details = Array.isArray(p["failure-details"]) ? p["failure-details"] : [];
    policies.push({
      policyType: type as TlsPolicyResult["policyType"],
      policyDomain: domain,
      policyString: (Array.isArray(p.policy["policy-string"]) ? p.policy["policy-string"] : [])
        .slice(0, 50).map((s) => str(s, 1000)),
      mxHost: (Array.isArray(p.policy["mx-host"]) ? p.policy["mx-host"] : []).slice(0, 50)
        .map((s) => str(s)),
      successful,
      failed,
      failureDetails: (details as Record<string, unknown>[]).slice(0, 100).map((d) => ({
        resultType: str(d?.["result-type"], 64),
        sendingMta: str(d?.["sending-mta-ip"], 64),
        receivingMx: str(d?.["receiving-mx-hostname"]),
        count: Math.max(0, count(d?.["failed-session-count"])),
      })),
    });
  }
  return {
    ok: true,
    report: {
      organizationName,
      contactInfo: str(doc["contact-info"], 320),
      reportId,
      start,
      end,
      policies,
    },
  };
}

/** The report as RFC 8460 section 4.4 JSON. */
export function composeTlsReport(r: TlsReport): string {
  return JSON.stringify({
    "organization-name": r.organizationName,
    "date-range": {
      "start-datetime": new Date(r.start).toISOString().replace(/\.\d{3}Z$/, "Z"),
      "end-datetime": new Date(r.end).toISOString().replace(/\.\d{3}Z$/, "Z"),
    },
    "contact-info": r.contactInfo,
    "report-id": r.reportId,
    policies: r.policies.map((p) => ({
      policy: {
        "policy-type": p.policyType,
        "policy-string": p.policyString,
        "policy-domain": p.policyDomain,
        "mx-host": p.mxHost,
      },
      summary: {
        "total-successful-session-count": p.successful,
        "total-failure-session-count": p.failed,
      },
      "failure-details": p.failureDetails.map((d) => ({
        "result-type": d.resultType,
        "sending-mta-ip": d.sendingMta,
        "receiving-mx-hostname": d.receivingMx,
        "failed-session-count": d.count,
      })),
    })),
  });
}
