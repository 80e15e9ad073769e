import { assertEquals } from "../../test/fixtures/assert.ts";
import type { DnsPort } from "../ports.ts";
import { checkRecords } from "./domain_check.ts";
import type { DnsRecord } from "./dns_records.ts";

/** A DnsPort over a table of answers; a name listed under `broken` fails like a timeout. */
function fakeDns(
  answers: {
    txt?: Record<string, string[]>;
    mx?: Record<string, string[]>;
    srv?: Record<string, string[]>;
  },
  broken: string[] = [],
): DnsPort {
  const fail = (name: string) => {
    if (broken.includes(name)) throw new Error(`queryTxt ETIMEOUT ${name}`);
  };
  return {
    txt: (name) => (fail(name), Promise.resolve((answers.txt?.[name] ?? []).map((v) => [v]))),
    addresses: (name) => (fail(name), Promise.resolve([])),
    mx: (name) => {
      fail(name);
      return Promise.resolve((answers.mx?.[name] ?? []).map((v) => {
        const [priority, exchange] = v.split(" ");
        return { priority: Number(priority), exchange };
      }));
    },
    srv: (name) => {
      fail(name);
      return Promise.resolve((answers.srv?.[name] ?? []).map((v) => {
        const [priority, weight, port, target] = v.split(" ");
        return {
          priority: Number(priority),
          weight: Number(weight),
          port: Number(port),
          name: target,
        };
      }));
    },
  };
}

const rec = (name: string, type: DnsRecord["type"], value: string): DnsRecord => ({
  name,
  type,
  value,
  purpose: "",
});

Deno.test("issue19#5: domain check rules: two SPF records fail, SRV priority is the operator's, a failed lookup is an error with a warning", async () => {
  const records = [
    rec("d.test.", "MX", "10 mx.d.test."),
    rec("d.test.", "TXT", "v=spf1 mx ~all"),
    rec("_imaps._tcp.d.test.", "SRV", "0 1 993 mx.d.test."),
    rec("_dmarc.d.test.", "TXT", "v=DMARC1; p=quarantine"),
    rec("_sharp.d.test.", "TXT", "v=sharp1; host=web.d.test"),
  ];
  const result = await checkRecords(
    fakeDns({
      mx: { "d.test": ["20 MX.d.test.", "30 other.test"] },
      txt: { "d.test": ["v=spf1 mx ~all", "v=spf1 -all", "google-site-verification=x"] },
      srv: { "_imaps._tcp.d.test": ["5 9 993 mx.d.test."] },
    }, ["_dmarc.d.test"]),
    records,
  );
  const by = (kind: string) => result.checks.find((c) => c.kind === kind)!;
  assertEquals(by("mx").status, "ok", "our exchange among others, any priority, any case");
  assertEquals([by("spf").status, by("spf").found.length], ["different", 2]);
  assertEquals(by("spf").advice?.includes("RFC 7208 section 4.5"), true);
  assertEquals(by("srv").status, "ok");
  assertEquals([by("dmarc").status, by("dmarc").required], ["error", false]);
  assertEquals([by("sharp").status, by("sharp").required], ["missing", false]);
  assertEquals(result.verified, false);
  assertEquals(result.warnings.length, 3);
  assertEquals(
    result.warnings[0].startsWith("SPF record d.test is published with another value"),
    true,
  );
  assertEquals(result.warnings.some((w) => w.includes("lookup failed")), true);
});
