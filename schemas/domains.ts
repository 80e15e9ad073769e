/**
 * The domains API's contract: a local domain with the DNS records to publish and the live check
 * of each (src/services/domain_check.ts).
 */
import { z } from "zod";

export const DnsRecordView = z.object({
  name: z.string().meta({ description: "Absolute name, as a zone file writes it." }),
  type: z.enum(["MX", "TXT", "CNAME", "SRV"]).meta({ description: "The record type." }),
  value: z.string().meta({ description: "TXT values unsplit (a zone file splits at 255)." }),
  purpose: z.string().meta({ description: "What the record is for." }),
}).meta({
  id: "DnsRecord",
  description: "A DNS record to publish for the domain.",
});

export const RecordCheckView = z.object({
  record: DnsRecordView,
  kind: z.enum([
    "mx",
    "spf",
    "dkim",
    "dmarc",
    "mta-sts",
    "tls-rpt",
    "srv",
    "autoconfig",
    "sharp",
  ]).meta({
    description: "srv: client discovery (RFC 6186, Outlook's autodiscover); sharp: SHARP/1.3 " +
      "and federation discovery.",
  }),
  required: z.boolean().meta({ description: "MX, SPF and DKIM: mail does not flow without." }),
  status: z.enum(["ok", "missing", "different", "error"]).meta({
    description: "ok: published as expected; missing; different: another value is published; " +
      "error: the lookup failed.",
  }),
  pass: z.boolean().meta({ description: "status is ok." }),
  found: z.array(z.string()).meta({ description: "What DNS answered (of this kind, for TXT)." }),
  advice: z.string().optional().meta({ description: "What to change, when it does not pass." }),
}).meta({ id: "RecordCheck" });

export const DomainCheckView = z.object({
  verified: z.boolean().meta({ description: "Every required record passes." }),
  checkedAt: z.string().meta({ description: "When the check ran (ISO 8601)." }),
  checks: z.array(RecordCheckView).meta({ description: "One per record to publish." }),
  warnings: z.array(z.string()).meta({
    description: "One sentence per record not in place (required first), e.g. a DKIM key " +
      "that is not published.",
  }),
}).meta({ id: "DomainCheck" });

export const DomainSummary = z.object({
  id: z.number().int().meta({ description: "The domain's id." }),
  name: z.string().meta({ description: "The domain name." }),
  catchAllAddress: z.string().nullable().meta({
    description: "The account that gets mail for unknown addresses, if any.",
  }),
  accounts: z.number().int().meta({ description: "How many accounts it has." }),
  createdAt: z.string().meta({ description: "When it was added (ISO 8601)." }),
}).meta({ id: "DomainSummary" });

export const DomainDetail = DomainSummary.extend({
  records: z.array(DnsRecordView).meta({ description: "The DNS records to publish." }),
  mtaStsPolicy: z.string().meta({
    description: "Serve at https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 3.2).",
  }),
  check: DomainCheckView.nullable().meta({
    description: "null with `check=false`, or where the gateway has no DNS port.",
  }),
}).meta({ id: "DomainDetail" });
