/**
 * `postern domain check`: compares the records `postern domain dns` asks for with what DNS
 * answers now, through the same resolver the bridge uses (POSTERN_DNS_SERVERS). MX, SPF and the
 * DKIM keys are required for mail to flow and pass; DMARC, MTA-STS, TLS-RPT, the client
 * discovery SRV records (RFC 6186), autoconfig and the SHARP records are advised.
 */
import type { Resolver } from "../bridge/dns/resolver.ts";
import type { DnsRecord } from "../src/services/dns_records.ts";

export type CheckStatus = "ok" | "missing" | "different" | "error";

export interface RecordCheck {
  record: DnsRecord;
  required: boolean;
  status: CheckStatus;
  found: string[];
  advice?: string;
}

const bare = (name: string) => name.replace(/\.$/, "").toLowerCase();

function kindOf(record: DnsRecord): string {
  if (record.type === "MX") return "mx";
  if (record.value.startsWith("v=spf1")) return "spf";
  if (record.value.startsWith("v=DKIM1")) return "dkim";
  if (record.value.startsWith("v=DMARC1")) return "dmarc";
  if (record.value.startsWith("v=STSv1")) return "mta-sts";
  if (record.value.startsWith("v=TLSRPTv1")) return "tls-rpt";
  return record.type.toLowerCase();
}

async function lookup(resolver: Resolver, record: DnsRecord): Promise<string[]> {
  const name = bare(record.name);
  try {
    switch (record.type) {
      case "MX":
        return (await resolver.mx(name)).map((m) => `${m.priority} ${bare(m.exchange)}`);
      case "TXT":
        return (await resolver.txt(name)).map((parts) => parts.join(""));
      case "CNAME":
        // Whatever the alias chain, the MTA-STS host must resolve to an address.
        return await resolver.a(name);
      case "SRV":
        return (await resolver.srv(name)).map((s) =>
          `${s.priority} ${s.weight} ${s.port} ${bare(s.name) || "."}`
        );
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOTFOUND" || code === "ENODATA") return [];
    throw e;
  }
}

export async function checkRecords(
  resolver: Resolver,
  records: DnsRecord[],
): Promise<RecordCheck[]> {
  const out: RecordCheck[] = [];
  for (const record of records) {
    const kind = kindOf(record);
    const required = kind === "mx" || kind === "spf" || kind === "dkim";
    let found: string[];
    try {
      found = await lookup(resolver, record);
    } catch (e) {
      out.push({
        record,
        required,
        status: "error",
        found: [],
        advice: `lookup failed: ${(e as Error).message}`,
      });
      continue;
    }
    const prefix = record.type === "TXT" ? record.value.split(";")[0].split(" ")[0] : "";
    const relevant = record.type === "TXT" ? found.filter((f) => f.startsWith(prefix)) : found;
    let status: CheckStatus;
    if (record.type === "MX") {
      const want = bare(record.value.split(/\s+/)[1]);
      status = relevant.some((f) => f.split(" ")[1] === want)
        ? "ok"
        : relevant.length
        ? "different"
        : "missing";
    } else if (record.type === "SRV") {
      // Priority and weight are the operator's to tune; port and target must match.
      const target = (v: string) => {
        const [, , port, host = ""] = v.split(/\s+/);
        return `${port} ${bare(host) || "."}`;
      };
      const want = target(record.value);
      status = relevant.some((f) => target(f) === want)
        ? "ok"
        : relevant.length
        ? "different"
        : "missing";
    } else if (record.type === "CNAME") {
      status = relevant.length ? "ok" : "missing";
    } else if (kind === "spf" || kind === "dmarc" || kind === "tls-rpt" || kind === "mta-sts") {
      // Operators tune these: a record of the right kind passes, the exact text is advice.
      status = relevant.length === 0
        ? "missing"
        : relevant.length > 1 && kind === "spf"
        ? "different"
        : "ok";
    } else {
      status = relevant.some((f) => f.replace(/\s+/g, "") === record.value.replace(/\s+/g, ""))
        ? "ok"
        : relevant.length
        ? "different"
        : "missing";
    }
    const advice = status === "ok"
      ? undefined
      : kind === "spf" && relevant.length > 1
      ? "more than one SPF record is a permanent error (RFC 7208 section 4.5): merge them"
      : `publish: ${record.name} ${record.type} ${record.value}`;
    out.push({ record, required, status, found: relevant, advice });
  }
  return out;
}
