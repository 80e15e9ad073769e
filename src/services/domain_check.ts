/**
 * The live check of a domain's DNS records: what `postern domain dns` and `GET /v1/domains/{d}`
 * ask for (services/dns_records.ts) against what DNS answers now, through the gateway's DNS port
 * (so it runs wherever the gateway does). MX, SPF and the DKIM keys are required for mail to
 * flow; DMARC (RFC 7489), MTA-STS (RFC 8461), TLS-RPT (RFC 8460), the client discovery SRV
 * records (RFC 6186), autoconfig and the SHARP records are advised. Every record that is not in
 * place also becomes a warning sentence saying what breaks without it.
 */
import type { DnsPort } from "../ports.ts";
import type { DnsRecord } from "./dns_records.ts";

export type CheckStatus = "ok" | "missing" | "different" | "error";
export type RecordKind =
  | "mx"
  | "spf"
  | "dkim"
  | "dmarc"
  | "mta-sts"
  | "tls-rpt"
  | "srv"
  | "autoconfig"
  | "sharp";

export interface RecordCheck {
  record: DnsRecord;
  kind: RecordKind;
  required: boolean;
  status: CheckStatus;
  /** What DNS answered for the name (of the record's kind, for TXT). */
  found: string[];
  advice?: string;
}

export interface DomainCheck {
  /** Every required record (MX, SPF, DKIM) is in place. */
  verified: boolean;
  checks: RecordCheck[];
  /** One sentence per record not in place, required ones first. */
  warnings: string[];
}

const bare = (name: string) => name.replace(/\.$/, "").toLowerCase();

export function kindOf(record: DnsRecord): RecordKind {
  const name = bare(record.name);
  if (record.type === "MX") return "mx";
  if (name.startsWith("_sharp.") || name.startsWith("_sharp._tcp.")) return "sharp";
  if (record.value.startsWith("v=spf1")) return "spf";
  if (record.value.startsWith("v=DKIM1")) return "dkim";
  if (record.value.startsWith("v=DMARC1")) return "dmarc";
  if (record.value.startsWith("v=STSv1") || name.startsWith("mta-sts.")) return "mta-sts";
  if (record.value.startsWith("v=TLSRPTv1")) return "tls-rpt";
  if (record.type === "CNAME") return "autoconfig";
  return "srv";
}

async function lookup(dns: DnsPort, record: DnsRecord): Promise<string[]> {
  const name = bare(record.name);
  switch (record.type) {
    case "MX":
      return (await dns.mx(name)).map((m) => `${m.priority} ${bare(m.exchange)}`);
    case "TXT":
      return (await dns.txt(name)).map((parts) => parts.join(""));
    case "CNAME":
      // Whatever the alias chain, the host must resolve to an address.
      return await dns.addresses(name);
    case "SRV":
      return (await dns.srv(name)).map((s) =>
        `${s.priority} ${s.weight} ${s.port} ${bare(s.name) || "."}`
      );
  }
}

/** MX: our exchange among them; SRV: port and target (priority and weight are the operator's). */
function statusOf(record: DnsRecord, kind: RecordKind, relevant: string[]): CheckStatus {
  const some = (match: (found: string) => boolean): CheckStatus =>
    relevant.some(match) ? "ok" : relevant.length ? "different" : "missing";
  if (record.type === "MX") {
    const want = bare(record.value.split(/\s+/)[1]);
    return some((f) => f.split(" ")[1] === want);
  }
  if (record.type === "SRV") {
    const target = (v: string) => {
      const [, , port, host = ""] = v.split(/\s+/);
      return `${port} ${bare(host) || "."}`;
    };
    return some((f) => target(f) === target(record.value));
  }
  if (record.type === "CNAME") return relevant.length ? "ok" : "missing";
  if (kind === "spf" || kind === "dmarc" || kind === "tls-rpt" || kind === "mta-sts") {
    // Operators tune these: a record of the right kind passes, the exact text is advice. RFC
    // 7208 section 4.5: two SPF records are a permanent error.
    if (relevant.length === 0) return "missing";
    return relevant.length > 1 && kind === "spf" ? "different" : "ok";
  }
  const squash = (v: string) => v.replace(/\s+/g, "");
  return some((f) => squash(f) === squash(record.value));
}

/** What breaks while a record of this kind is not in place (the warning's second half). */
const CONSEQUENCE: Record<RecordKind, string> = {
  mx: "other servers cannot find where to deliver the domain's mail",
  spf: "receivers cannot tell this server may send for the domain; mail may be refused or junked",
  dkim: "receivers cannot verify mail signed with this key; DMARC then rests on SPF alone",
  dmarc: "receivers apply no policy to forged mail and send no aggregate reports",
  "mta-sts": "senders fall back to opportunistic TLS, open to downgrade",
  "tls-rpt": "no reports of TLS failures reach the postmaster",
  srv: "mail clients cannot set themselves up from the address alone",
  autoconfig: "Thunderbird cannot set itself up from the address alone",
  sharp: "SHARP peers cannot discover this server and fall back to SMTP",
};

function warningOf(c: RecordCheck): string {
  const what = c.kind === "dkim"
    ? `DKIM key ${bare(c.record.name).split("._domainkey.")[0]} is`
    : `${c.kind.toUpperCase()} record ${bare(c.record.name)} is`;
  const state = c.status === "missing"
    ? "not published"
    : c.status === "error"
    ? "not checkable now (lookup failed)"
    : "published with another value";
  return `${what} ${state}: ${CONSEQUENCE[c.kind]}`;
}

export async function checkRecords(dns: DnsPort, records: DnsRecord[]): Promise<DomainCheck> {
  const checks = await Promise.all(records.map(async (record): Promise<RecordCheck> => {
    const kind = kindOf(record);
    const required = kind === "mx" || kind === "spf" || kind === "dkim";
    let found: string[];
    try {
      found = await lookup(dns, record);
    } catch (e) {
      const advice = `lookup failed: ${(e as Error).message}`;
      return { record, kind, required, status: "error", found: [], advice };
    }
    const prefix = record.type === "TXT" ? record.value.split(";")[0].split(" ")[0] : "";
    const relevant = record.type === "TXT" ? found.filter((f) => f.startsWith(prefix)) : found;
    const status = statusOf(record, kind, relevant);
    const advice = status === "ok"
      ? undefined
      : kind === "spf" && relevant.length > 1
      ? "more than one SPF record is a permanent error (RFC 7208 section 4.5): merge them"
      : `publish: ${record.name} ${record.type} ${record.value}`;
    return { record, kind, required, status, found: relevant, ...(advice ? { advice } : {}) };
  }));
  const failing = checks.filter((c) => c.status !== "ok");
  return {
    verified: !failing.some((c) => c.required),
    checks,
    warnings: [...failing.filter((c) => c.required), ...failing.filter((c) => !c.required)]
      .map(warningOf),
  };
}
