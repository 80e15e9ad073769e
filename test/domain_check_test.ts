/**
 * `postern domain dns` and `postern domain check` as an operator runs them, against a test DNS
 * server: the check fails while a required record is missing and passes once it is published.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { type FakeDns, startFakeDns, type Zone } from "./fixtures/fake_dns.ts";
import { runCli } from "./fixtures/cli_run.ts";
import { dohServer, udpRelay } from "./fixtures/doh_relay.ts";

const cli = runCli;

/** A data directory initialised with check.test and a test DNS server, both removed after. */
async function withDomain(
  extra: Record<string, string>,
  body: (env: Record<string, string>, dns: FakeDns) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "postern-dns-" });
  const dns = await startFakeDns({});
  try {
    const env = {
      POSTERN_DATA_DIR: `${dir}/data`,
      POSTERN_ADMIN_PASSWORD: "admin-password-for-tests",
      POSTERN_HOSTNAME: "mail.check.test",
      POSTERN_DNS_SERVERS: dns.server,
      ...extra,
    };
    assertEquals((await cli(["init", "--domain", "check.test"], env)).code, 0);
    await body(env, dns);
  } finally {
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function missingThenPublished(env: Record<string, string>, dns: FakeDns) {
  const printed = await cli(["domain", "dns", "check.test", "--json"], env);
  assertEquals(printed.code, 0, printed.stderr);
  const { records } = JSON.parse(printed.stdout) as {
    records: { name: string; type: string; value: string }[];
  };
  assert(
    records.some((r) => r.type === "TXT" && r.value.includes("k=ed25519")),
    "an Ed25519 DKIM key",
  );
  assert(records.some((r) => r.type === "TXT" && r.value.includes("k=rsa")), "an RSA DKIM key");

  const zone: Zone = { "mail.check.test": { A: ["127.0.0.1"] } };
  const publish = (r: { name: string; type: string; value: string }) => {
    const name = r.name.replace(/\.$/, "");
    const node = zone[name] ??= {};
    if (r.type === "MX") node.MX = [...(node.MX ?? []), r.value.replace(/\.$/, "")];
    if (r.type === "TXT") node.TXT = [...(node.TXT ?? []), r.value];
  };
  for (const r of records) if (!r.value.includes("k=ed25519")) publish(r);
  dns.zone = zone;
  const partial = await cli(["domain", "check", "check.test"], env);
  assertEquals(partial.code, 1, partial.stdout + partial.stderr);
  assert(/FAIL TXT\s+\S+\._domainkey\.check\.test\./.test(partial.stdout), partial.stdout);

  for (const r of records) if (r.value.includes("k=ed25519")) publish(r);
  const full = await cli(["domain", "check", "check.test", "--json"], env);
  const report = JSON.parse(full.stdout);
  assertEquals(full.code, 0, full.stdout);
  assertEquals(report.ok, true);
  assert(
    report.checks.filter((c: { required: boolean }) => c.required).every((
      c: { status: string },
    ) => c.status === "ok"),
  );
}

Deno.test("domain check reports missing required records, then passes once they are published", () =>
  withDomain({}, missingThenPublished));

Deno.test("issue17#2: with POSTERN_DNS_DOH_URL, domain check asks DNS over HTTPS", async () => {
  const dns = await startFakeDns({});
  const doh = dohServer(udpRelay(dns.port));
  try {
    // The UDP server named in POSTERN_DNS_SERVERS is a black hole: answers come only by DoH.
    await withDomain(
      { POSTERN_DNS_DOH_URL: doh.url, POSTERN_DNS_SERVERS: "192.0.2.1:9" },
      (env, _) => missingThenPublished(env, dns),
    );
    assert(doh.requests() > 0);
  } finally {
    await doh.close();
    await dns.close();
  }
});

Deno.test("issue19#4: domain dns prints the RFC 6186 SRV, autoconfig and SHARP records; domain check checks them with the same MTA-STS id", () =>
  withDomain({
    POSTERN_PUBLIC_URL: "https://web.check.test",
    POSTERN_IMAPS_PORT: "993",
    POSTERN_IMAP_PORT: "143",
    POSTERN_POP3S_PORT: "995",
    POSTERN_POP3_PORT: "0",
    POSTERN_SUBMISSIONS_PORT: "465",
    POSTERN_SUBMISSION_PORT: "587",
    POSTERN_SHARP_PORT: "5000",
  }, async (env, dns) => {
    const printed = await cli(["domain", "dns", "check.test", "--json"], env);
    assertEquals(printed.code, 0, printed.stderr);
    type Rec = { name: string; type: string; value: string };
    const { records } = JSON.parse(printed.stdout) as { records: Rec[] };
    const value = (name: string, type: string) =>
      records.filter((r) => r.name === name && r.type === type).map((r) => r.value);
    assertEquals(value("_imaps._tcp.check.test.", "SRV"), ["0 1 993 mail.check.test."]);
    assertEquals(value("_imap._tcp.check.test.", "SRV"), ["10 1 143 mail.check.test."]);
    assertEquals(value("_pop3s._tcp.check.test.", "SRV"), ["0 1 995 mail.check.test."]);
    // RFC 6186 section 3.4: "." says the service is not offered (POP3 with STLS is off here).
    assertEquals(value("_pop3._tcp.check.test.", "SRV"), ["0 0 0 ."]);
    assertEquals(value("_submissions._tcp.check.test.", "SRV"), ["0 1 465 mail.check.test."]);
    assertEquals(value("_submission._tcp.check.test.", "SRV"), ["10 1 587 mail.check.test."]);
    assertEquals(value("_autodiscover._tcp.check.test.", "SRV"), ["0 1 443 web.check.test."]);
    assertEquals(value("autoconfig.check.test.", "CNAME"), ["web.check.test."]);
    assertEquals(value("_sharp._tcp.check.test.", "SRV"), ["0 1 5000 mail.check.test."]);
    assertEquals(value("_sharp.check.test.", "TXT"), ["v=sharp1; host=web.check.test"]);
    const [sts] = value("_mta-sts.check.test.", "TXT");
    assert(/^v=STSv1; id=[0-9a-f]{20}$/.test(sts), sts);
    const text = await cli(["domain", "dns", "check.test"], env);
    assert(text.stdout.includes(`"${sts}"`), text.stdout);
    assert(
      /_imaps\._tcp\.check\.test\.\t3600\tIN\tSRV\t0 1 993 mail\.check\.test\./.test(text.stdout),
    );

    const zone: Zone = { "mail.check.test": { A: ["127.0.0.1"] } };
    const publish = (r: Rec) => {
      const node = zone[r.name.replace(/\.$/, "")] ??= {};
      if (r.type === "MX") node.MX = [...(node.MX ?? []), r.value.replace(/\.$/, "")];
      if (r.type === "TXT") node.TXT = [...(node.TXT ?? []), r.value];
      if (r.type === "SRV") node.SRV = [...(node.SRV ?? []), r.value.replace(/\.$/, "")];
      if (r.type === "CNAME") node.A = ["127.0.0.1"];
    };
    const held = (r: Rec) =>
      r.name === "_mta-sts.check.test." || r.name === "_sharp.check.test." ||
      r.name === "_submissions._tcp.check.test.";
    for (const r of records) if (!held(r)) publish(r);
    dns.zone = zone;
    type Check = { record: Rec; status: string; advice?: string; required: boolean };
    const run = async () => {
      const out = await cli(["domain", "check", "check.test", "--json"], env);
      return { code: out.code, report: JSON.parse(out.stdout) as { checks: Check[] } };
    };
    const partial = await run();
    assertEquals(partial.code, 0, "the held records are advised, not required");
    const check = (name: string) => partial.report.checks.find((c) => c.record.name === name)!;
    // The record `domain check` asks for is the one `domain dns` printed, id included.
    assertEquals(check("_mta-sts.check.test.").status, "missing");
    assertEquals(check("_mta-sts.check.test.").record.value, sts);
    assert(
      check("_mta-sts.check.test.").advice!.includes(sts),
      check("_mta-sts.check.test.").advice,
    );
    assertEquals(check("_sharp.check.test.").status, "missing");
    assertEquals(check("_submissions._tcp.check.test.").status, "missing");
    for (
      const name of [
        "_imaps._tcp.check.test.",
        "_pop3._tcp.check.test.",
        "_sharp._tcp.check.test.",
        "autoconfig.check.test.",
      ]
    ) {
      assertEquals(check(name).status, "ok", name);
    }

    zone["_submissions._tcp.check.test"] = { SRV: ["0 1 4650 mail.check.test"] };
    const wrong = await run();
    const sub = wrong.report.checks.find((c) => c.record.name === "_submissions._tcp.check.test.")!;
    assertEquals(sub.status, "different");

    delete zone["_submissions._tcp.check.test"];
    for (const r of records) if (held(r)) publish(r);
    const full = await run();
    assertEquals(full.code, 0);
    assertEquals(full.report.checks.filter((c) => c.status !== "ok"), []);
    const human = await cli(["domain", "check", "check.test"], env);
    assert(/ok {3}SRV {3}_sharp\._tcp\.check\.test\./.test(human.stdout), human.stdout);
  }));

Deno.test("issue19#4: domain check asks for the MTA-STS id that domain dns prints", () =>
  withDomain({}, async (env) => {
    const printed = JSON.parse((await cli(["domain", "dns", "check.test", "--json"], env)).stdout);
    const sts = printed.records.find((r: { name: string }) => r.name === "_mta-sts.check.test.");
    const checked = await cli(["domain", "check", "check.test"], env);
    assert(checked.stdout.includes(`TXT v=STSv1; id=`), checked.stdout);
    assert(
      checked.stdout.includes(`publish: _mta-sts.check.test. TXT ${sts.value}`),
      checked.stdout,
    );
  }));
