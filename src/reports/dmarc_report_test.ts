import { assert, assertEquals } from "../../test/fixtures/assert.ts";
import { composeAggregateReport, parseAggregateReport, ruaAddresses } from "./dmarc_report.ts";
import { dmarcCountStatement } from "./dmarc_record.ts";

Deno.test("issue21#4: an aggregate report survives compose → parse, escaping included", () => {
  const report = {
    orgName: "A & B <mx>",
    email: "postmaster@a.example",
    reportId: "1.x@a",
    begin: 1796601600,
    end: 1796687999,
    policy: {
      domain: "b.example",
      adkim: "r" as const,
      aspf: "s" as const,
      p: "reject",
      sp: "none",
      pct: 50,
    },
    rows: [{
      sourceIp: "2001:db8::1",
      count: 3,
      disposition: "reject",
      dkim: "fail",
      spf: "pass",
      headerFrom: "b.example",
      dkimResults: [{ domain: "b.example", selector: "s1", result: "fail" }],
      spfResults: [{ domain: "b.example", result: "pass" }],
    }],
  };
  const parsed = parseAggregateReport(composeAggregateReport(report));
  assert(parsed.ok);
  assertEquals(parsed.report, report);
});

Deno.test("issue21#4: rua parsing keeps mailto addresses and drops size limits", () => {
  assertEquals(
    ruaAddresses("mailto:a@x.example!10m, https://r.example/, mailto:b%40y.example"),
    ["a@x.example", "b@y.example"],
  );
});

Deno.test("issue21#4: counted rows use the MX's alignment flags, or derive them (Worker verdicts)", () => {
  const key = (auth: Record<string, unknown>) =>
    JSON.parse(String(dmarcCountStatement(auth, 0)!.args![2]));
  const base = {
    clientIp: "192.0.2.1",
    spf: { result: "pass", domain: "mail.b.example" },
    dkim: [{ result: "pass", domain: "b.example", selector: "s", aligned: true }],
    disposition: "accept",
  };
  assertEquals(
    key({
      ...base,
      dmarc: { result: "pass", domain: "b.example", spfAligned: false, dkimAligned: true },
    })
      .slice(1, 4),
    ["none", "pass", "fail"],
  );
  assertEquals(key({ ...base, dmarc: { result: "pass", domain: "b.example" } }).slice(1, 4), [
    "none",
    "pass",
    "pass",
  ]);
  assertEquals(
    dmarcCountStatement({ ...base, dmarc: { result: "none", domain: "" } }, 0),
    undefined,
  );
  assertEquals(dmarcCountStatement({ dmarc: { domain: "b.example" } }, 0), undefined, "no IP");
});
