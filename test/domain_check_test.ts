/**
 * `postern domain dns` and `postern domain check` as an operator runs them, against a test DNS
 * server: the check fails while a required record is missing and passes once it is published.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { startFakeDns, type Zone } from "./fixtures/fake_dns.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function cli(args: string[], env: Record<string, string>) {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { ...base, NO_COLOR: "1", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("domain check reports missing required records, then passes once they are published", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-dns-" });
  const dns = await startFakeDns({});
  try {
    const env = {
      POSTERN_DATA_DIR: `${dir}/data`,
      POSTERN_ADMIN_PASSWORD: "admin-password-for-tests",
      POSTERN_HOSTNAME: "mail.check.test",
      POSTERN_DNS_SERVERS: dns.server,
    };
    assertEquals((await cli(["init", "--domain", "check.test"], env)).code, 0);
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
  } finally {
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
});
