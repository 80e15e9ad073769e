/**
 * The DNS records an operator publishes for a local domain, in one place so that `postern domain
 * dns`, `postern domain check` and the MTA-STS policy route agree: mail flow (MX, SPF, both DKIM
 * keys, DMARC, MTA-STS RFC 8461, TLS-RPT RFC 8460), client discovery (RFC 6186 SRV records with
 * RFC 8314's implicit-TLS names, Thunderbird's autoconfig host, Outlook's autodiscover SRV) and
 * federation (SHARP/1.3's `_sharp._tcp` SRV and the `_sharp` delegation, docs/federation.md).
 */
import type { Config } from "../config.ts";
import type { PortConfig } from "../autoconfig/servers.ts";
import { sha256Hex } from "../crypto.ts";
import type { DkimKeyRow } from "./dkim_keys.ts";

export interface DnsRecord {
  name: string;
  type: "MX" | "TXT" | "CNAME" | "SRV";
  value: string;
  /** What the record is for, shown beside it. */
  purpose: string;
}

/** A name made absolute, as a zone file writes it. */
const fqdn = (name: string) => `${name}.`;

/** Splits a TXT value into the quoted 255-octet character-strings of RFC 1035 section 3.3.14. */
export function txtStrings(value: string): string {
  return (value.match(/.{1,255}/g) ?? [""]).map((s) => `"${s}"`).join(" ");
}

/**
 * The records to publish for `domain` when this server (`hostname`) receives and sends its mail.
 * `policyId` is the MTA-STS policy id (RFC 8461 section 3.1: change it whenever the policy
 * changes).
 */
export function dnsRecords(
  domain: string,
  hostname: string,
  keys: Pick<DkimKeyRow, "selector" | "algorithm" | "publicKey">[],
  policyId: string,
): { records: DnsRecord[]; mtaStsPolicy: string } {
  const records: DnsRecord[] = [
    {
      name: fqdn(domain),
      type: "MX",
      value: `10 ${fqdn(hostname)}`,
      purpose: "mail for the domain goes to this server (RFC 5321 section 5.1)",
    },
    {
      name: fqdn(domain),
      type: "TXT",
      value: `v=spf1 mx a:${hostname} ~all`,
      purpose: "SPF: this server may send for the domain (RFC 7208)",
    },
  ];
  for (const key of keys) {
    const k = key.algorithm === "rsa-sha256" ? "rsa" : "ed25519";
    records.push({
      name: fqdn(`${key.selector}._domainkey.${domain}`),
      type: "TXT",
      value: `v=DKIM1; k=${k}; p=${key.publicKey}`,
      purpose: `DKIM ${key.algorithm} public key (RFC ${k === "rsa" ? "6376" : "8463"})`,
    });
  }
  records.push(
    {
      name: fqdn(`_dmarc.${domain}`),
      type: "TXT",
      value: `v=DMARC1; p=quarantine; rua=mailto:postmaster@${domain}`,
      purpose: "DMARC policy and aggregate reports (RFC 7489)",
    },
    {
      name: fqdn(`_mta-sts.${domain}`),
      type: "TXT",
      value: `v=STSv1; id=${policyId}`,
      purpose: "MTA-STS: a policy is published (RFC 8461 section 3.1)",
    },
    {
      name: fqdn(`mta-sts.${domain}`),
      type: "CNAME",
      value: fqdn(hostname),
      purpose: "the HTTPS host serving /.well-known/mta-sts.txt (needs a valid certificate)",
    },
    {
      name: fqdn(`_smtp._tls.${domain}`),
      type: "TXT",
      value: `v=TLSRPTv1; rua=mailto:postmaster@${domain}`,
      purpose: "SMTP TLS reporting (RFC 8460)",
    },
  );
  return { records, mtaStsPolicy: mtaStsPolicy(hostname) };
}

/** The MTA-STS policy (RFC 8461 section 3.2): CRLF lines, served at mta-sts.<domain>. */
export function mtaStsPolicy(hostname: string): string {
  return ["version: STSv1", "mode: testing", `mx: ${hostname}`, "max_age: 604800", ""].join("\r\n");
}

/** The policy id changes exactly when the policy does (RFC 8461 section 3.1). */
export async function mtaStsPolicyId(policy: string): Promise<string> {
  return (await sha256Hex(policy)).slice(0, 20);
}

export type RecordConfig =
  & PortConfig
  & Pick<Config, "publicUrl" | "sharpPort">
  & Partial<Pick<Config, "manageSievePort">>;

/**
 * Client and federation discovery records. RFC 6186 section 3.4: a service that is off is
 * published with the target "." so clients stop looking; RFC 8314 section 5.1: the implicit-TLS
 * services get the better (lower) priority. The HTTP documents (autoconfig, autodiscover,
 * `/.well-known/sharp`) live on the gateway, named by the public URL when one is set.
 */
export function discoveryRecords(domain: string, config: RecordConfig): DnsRecord[] {
  const mail = fqdn(config.hostname);
  const web = config.publicUrl ? new URL(config.publicUrl) : undefined;
  const webHost = web?.hostname ?? config.hostname;
  const webPort = web?.port ? Number(web.port) : 443;
  const srv = (
    service: string,
    port: number,
    priority: number,
    what: string,
    rfc = `RFC 6186${service.endsWith("s") ? ", RFC 8314" : ""}`,
  ): DnsRecord => ({
    name: fqdn(`_${service}._tcp.${domain}`),
    type: "SRV",
    value: port > 0 ? `${priority} 1 ${port} ${mail}` : "0 0 0 .",
    purpose: port > 0 ? `${what} (${rfc})` : `${what} is off here (RFC 6186 section 3.4)`,
  });
  const records: DnsRecord[] = [
    srv("imaps", config.imapsPort, 0, "IMAP over implicit TLS"),
    srv("imap", config.imapPort, 10, "IMAP with STARTTLS"),
    srv("submissions", config.submissionsPort, 0, "SMTP submission over implicit TLS"),
    srv("submission", config.submissionPort, 10, "SMTP submission with STARTTLS"),
    srv("pop3s", config.pop3sPort, 0, "POP3 over implicit TLS"),
    srv("pop3", config.pop3Port, 10, "POP3 with STLS"),
    // RFC 5804 section 1.8: filter editors find the ManageSieve server by this SRV record.
    ...(config.manageSievePort === undefined ? [] : [
      srv("sieve", config.manageSievePort, 0, "ManageSieve with STARTTLS", "RFC 5804 section 1.8"),
    ]),
    {
      name: fqdn(`autoconfig.${domain}`),
      type: "CNAME",
      value: fqdn(webHost),
      purpose: "Thunderbird's autoconfig host (/mail/config-v1.1.xml over HTTPS)",
    },
    {
      name: fqdn(`_autodiscover._tcp.${domain}`),
      type: "SRV",
      value: `0 1 ${webPort} ${fqdn(webHost)}`,
      purpose: "Outlook's autodiscover (/autodiscover/autodiscover.xml over HTTPS)",
    },
  ];
  // An SRV record for an off listener would send peers' SHARP/1.3 mail nowhere: leave it out.
  if (config.sharpPort > 0) {
    records.push({
      name: fqdn(`_sharp._tcp.${domain}`),
      type: "SRV",
      value: `0 1 ${config.sharpPort} ${mail}`,
      purpose: "SHARP/1.3 peers deliver here instead of by SMTP",
    });
  }
  records.push({
    name: fqdn(`_sharp.${domain}`),
    type: "TXT",
    value: `v=sharp1; host=${web?.host ?? config.hostname}`,
    purpose:
      "federation discovery: https://<host>/.well-known/sharp?domain= (docs/federation.md 3.1)",
  });
  return records;
}

/**
 * Every record for a domain with the MTA-STS id derived from the policy: what `domain dns`
 * prints and `domain check` looks up, so the two can never disagree on the id.
 */
export async function domainRecords(
  domain: string,
  config: RecordConfig,
  keys: Pick<DkimKeyRow, "selector" | "algorithm" | "publicKey">[],
): Promise<{ records: DnsRecord[]; mtaStsPolicy: string }> {
  const policyId = await mtaStsPolicyId(mtaStsPolicy(config.hostname));
  const mail = dnsRecords(domain, config.hostname, keys, policyId);
  return { ...mail, records: [...mail.records, ...discoveryRecords(domain, config)] };
}

/** Zone-file lines for `dnsRecords`, TXT values split into character-strings. */
export function zoneLines(records: DnsRecord[]): string[] {
  return records.map((r) =>
    `${r.name}\t3600\tIN\t${r.type}\t${r.type === "TXT" ? txtStrings(r.value) : r.value}`
  );
}
