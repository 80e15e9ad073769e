/**
 * ManageSieve (RFC 5804) against real clients over real sockets with STARTTLS, on a test
 * gateway wired as `postern serve` wires it: Debian's sieve-connect and Roundcube's client
 * library (PEAR Net_Sieve, run by php-cli) upload, list, download, activate and delete
 * scripts, and what they did is then read back through the REST API (`/v1/sieve/*`), the
 * store both halves share. A raw transcript checks the gateway's refusals as response codes.
 */
import assert from "node:assert/strict";
import { ALICE, BOB, createTestGateway, type TestGateway } from "./fixtures/app.ts";
import {
  literal,
  plain,
  SieveClient,
  sieveConnect as runSieveConnect,
  type SieveTls,
  sieveTls,
  startGatewaySieve,
} from "./fixtures/managesieve.ts";
import type { TcpListener } from "../bridge/net/tcp_server.ts";
import { discoveryRecords } from "../src/services/dns_records.ts";

const PHP_CLIENT = new URL("./peers/net-sieve.php", import.meta.url).pathname;
const installed = (path: string) => Deno.stat(path).then(() => true, () => false);

async function world(): Promise<{
  gw: TestGateway;
  tls: SieveTls;
  listener: TcpListener;
  close(): Promise<void>;
}> {
  const gw = await createTestGateway();
  const tls = await sieveTls();
  const listener = await startGatewaySieve(gw, { tls: tls.tls });
  return {
    gw,
    tls,
    listener,
    async close() {
      await listener.close();
      gw.close();
      await tls.remove();
    },
  };
}

async function restScripts(gw: TestGateway, who: { address: string; password: string }) {
  const token = await gw.login(who);
  const res = await gw.call("GET", "/v1/sieve/scripts", { token });
  assert.equal(res.status, 200);
  return (await res.json()).scripts as { name: string; active: boolean; sizeBytes: number }[];
}

function sieveConnect(
  w: { listener: TcpListener; tls: SieveTls },
  password: string,
  args: string[],
): Promise<{ code: number; out: string }> {
  const server = { port: w.listener.port, user: ALICE.address, password, caFile: w.tls.certFile };
  return runSieveConnect(server, args);
}

Deno.test({
  name: "issue21#2: ManageSieve with sieve-connect: upload, list, download, activate, delete",
  ignore: !await installed("/usr/bin/sieve-connect"),
  fn: async () => {
    const w = await world();
    const dir = await Deno.makeTempDir({ prefix: "postern-sieve-connect-" });
    try {
      const script = 'require ["fileinto"];\nif header :contains "subject" "invoice" {\n' +
        '  fileinto "Invoices";\n}\n';
      await Deno.writeTextFile(`${dir}/rules.sieve`, script);
      const up = await sieveConnect(w, ALICE.password, [
        "--upload",
        "--localsieve",
        `${dir}/rules.sieve`,
        "--remotesieve",
        "invoices",
      ]);
      assert.equal(up.code, 0, up.out);
      assert.deepEqual(
        (await restScripts(w.gw, ALICE)).map((s) => [s.name, s.active, s.sizeBytes]),
        [["invoices", false, new TextEncoder().encode(script).byteLength]],
      );
      // Bob's scripts are his own: the upload landed in Alice's account only.
      assert.deepEqual(await restScripts(w.gw, BOB), []);

      const activate = await sieveConnect(w, ALICE.password, [
        "--activate",
        "--remotesieve",
        "invoices",
      ]);
      assert.equal(activate.code, 0, activate.out);
      const list = await sieveConnect(w, ALICE.password, ["--list"]);
      assert.equal(list.code, 0, list.out);
      assert.match(list.out, /"invoices" ACTIVE|invoices\s+<- active/i);

      const down = await sieveConnect(w, ALICE.password, [
        "--download",
        "--remotesieve",
        "invoices",
        "--localsieve",
        `${dir}/back.sieve`,
      ]);
      assert.equal(down.code, 0, down.out);
      assert.equal(await Deno.readTextFile(`${dir}/back.sieve`), script);

      // The active script cannot be deleted (RFC 5804 section 2.10): sieve-connect fails.
      const refused = await sieveConnect(w, ALICE.password, [
        "--delete",
        "--remotesieve",
        "invoices",
      ]);
      assert.notEqual(refused.code, 0, refused.out);
      assert.match(refused.out, /ACTIVE/);
      const off = await sieveConnect(w, ALICE.password, ["--deactivate"]);
      assert.equal(off.code, 0, off.out);
      const gone = await sieveConnect(w, ALICE.password, [
        "--delete",
        "--remotesieve",
        "invoices",
      ]);
      assert.equal(gone.code, 0, gone.out);
      assert.deepEqual(await restScripts(w.gw, ALICE), []);

      // A wrong password: refused, nothing changes.
      await Deno.writeTextFile(`${dir}/other.sieve`, "keep;\n");
      const wrong = await sieveConnect(w, "not-the-password", [
        "--upload",
        "--localsieve",
        `${dir}/other.sieve`,
      ]);
      assert.notEqual(wrong.code, 0, wrong.out);
      assert.deepEqual(await restScripts(w.gw, ALICE), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await w.close();
    }
  },
});

Deno.test({
  name:
    "issue21#2: ManageSieve with Roundcube's Net_Sieve: STARTTLS, PLAIN, install, list, get, activate, refusals, delete",
  ignore: !await installed("/usr/share/php/Net/Sieve.php"),
  fn: async () => {
    const w = await world();
    try {
      const out = await new Deno.Command("php", {
        args: [PHP_CLIENT, String(w.listener.port), ALICE.address, ALICE.password, w.tls.certFile],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.ok(out.success, stdout + new TextDecoder().decode(out.stderr));
      const seen = JSON.parse(stdout);
      // The extensions come from the gateway's interpreter (Net_Sieve upper-cases them).
      const caps = await (await w.gw.call("GET", "/v1/sieve/capabilities", {
        token: await w.gw.login(ALICE),
      })).json();
      assert.deepEqual(seen.extensions, caps.extensions.map((e: string) => e.toUpperCase()));
      assert.equal(seen.hasSpace, true);
      assert.deepEqual(seen.listed, ["roundcube"]);
      assert.equal(seen.active, "roundcube");
      assert.equal(seen.same, true);
      // The gateway's validator names the line; the active script is not deleted.
      assert.match(seen.refused, /line 1: .*nonsense/);
      assert.match(seen.removeActive, /^\(ACTIVE\)/);
      assert.deepEqual(seen.after, []);
      assert.deepEqual(await restScripts(w.gw, ALICE), []);
    } finally {
      await w.close();
    }
  },
});

Deno.test("issue21#2: ManageSieve over the gateway: capabilities, refusals as response codes, limits", async () => {
  const w = await world();
  const c = await SieveClient.open(w.listener.port);
  try {
    const greeting = await c.response();
    assert.equal(greeting.status, 'OK "Postern ManageSieve ready."');
    assert.ok(greeting.data.includes('"SASL" ""'), "no mechanism before TLS");
    assert.ok(greeting.data.includes('"STARTTLS"'));
    const afterTls = await c.startTls(w.tls.certFile);
    assert.ok(afterTls.data.includes('"SASL" "PLAIN LOGIN"'));
    assert.ok(afterTls.data.some((l) => /^"SIEVE" ".*\bfileinto\b.*\bvacation\b/.test(l)));
    assert.ok(afterTls.data.includes(`"MAXREDIRECTS" "${w.gw.deps.config.sieveMaxRedirects}"`));
    assert.equal(
      (await c.command(`AUTHENTICATE "PLAIN" "${plain(ALICE.address, ALICE.password)}"`)).status,
      'OK "Logged in."',
    );
    const caps = await c.command("CAPABILITY");
    assert.ok(caps.data.includes(`"OWNER" "${ALICE.address}"`));

    // The gateway's validator answers with the line and reason (RFC 5804 section 2.6).
    const bad = await c.command(
      `PUTSCRIPT "broken" ${literal('require "fileinto";\r\nfileinto "A"\r\nkeep;\r\n')}`,
    );
    // Several errors: one line each, so the text goes out as a literal.
    assert.match(bad.status, /^NO \{\d+\}\r\nline 2: [^\r]+\r\nline 3: /);
    const check = await c.command(`CHECKSCRIPT ${literal("kep;\r\n")}`);
    assert.match(check.status, /^NO "line 1: /);
    assert.equal((await c.command(`CHECKSCRIPT ${literal("keep;\r\n")}`)).status, "OK");

    const max = w.gw.deps.config.sieveMaxScriptBytes;
    assert.equal((await c.command(`HAVESPACE "a" ${max}`)).status, "OK");
    assert.match((await c.command(`HAVESPACE "a" ${max + 1}`)).status, /^NO \(QUOTA\/MAXSIZE\)/);

    assert.equal((await c.command(`PUTSCRIPT "a" ${literal("keep;\r\n")}`)).status, "OK");
    // A synchronizing literal ({n}, no "+") is read the same way: ManageSieve has no "+ go on".
    assert.equal((await c.command('PUTSCRIPT "sync" {7}\r\nstop;\r\n')).status, "OK");
    assert.equal((await c.command('DELETESCRIPT "sync"')).status, "OK");
    assert.equal((await c.command(`PUTSCRIPT "b" "discard;"`)).status, "OK");
    assert.equal((await c.command('SETACTIVE "a"')).status, "OK");
    assert.deepEqual((await c.command("LISTSCRIPTS")).data, ['"a" ACTIVE', '"b"']);
    assert.match((await c.command('DELETESCRIPT "a"')).status, /^NO \(ACTIVE\)/);
    assert.match((await c.command('RENAMESCRIPT "b" "a"')).status, /^NO \(ALREADYEXISTS\)/);
    assert.match((await c.command('RENAMESCRIPT "zz" "y"')).status, /^NO \(NONEXISTENT\)/);
    assert.match((await c.command('GETSCRIPT "zz"')).status, /^NO \(NONEXISTENT\)/);
    assert.match((await c.command('SETACTIVE "zz"')).status, /^NO \(NONEXISTENT\)/);
    assert.equal((await c.command('RENAMESCRIPT "a" "Urlaub ☀"')).status, "OK");
    const got = await c.command('GETSCRIPT "Urlaub ☀"');
    assert.deepEqual(got, { data: ["{7}\r\nkeep;\r\n"], status: "OK" });
    assert.deepEqual(
      (await restScripts(w.gw, ALICE)).map((s) => [s.name, s.active]),
      [["Urlaub ☀", true], ["b", false]],
    );
    assert.equal((await c.command('SETACTIVE ""')).status, "OK");
    assert.equal((await c.command('DELETESCRIPT "Urlaub ☀"')).status, "OK");
    // Names that are URL syntax travel to the REST API intact; "." and ".." cannot.
    for (const name of ["a/b", "50% off?", "x#y"]) {
      assert.equal((await c.command(`PUTSCRIPT "${name}" "keep;"`)).status, "OK", name);
      assert.equal((await c.command(`GETSCRIPT "${name}"`)).data[0], "{5}\r\nkeep;");
      assert.equal((await c.command(`DELETESCRIPT "${name}"`)).status, "OK", name);
    }
    assert.equal(
      (await c.command('PUTSCRIPT ".." "keep;"')).status,
      'NO "the script name cannot be \\".\\" or \\"..\\""',
    );
    // A refusal ManageSieve has no code for comes back as a plain NO with the gateway's reason.
    assert.match((await c.command('PUTSCRIPT "x\uFFFD" "keep;"')).status, /^NO "[^"]*UTF-8/);
    assert.equal((await c.command("UNAUTHENTICATE")).status, "OK");
    assert.match((await c.command("LISTSCRIPTS")).status, /^NO/);
    assert.equal((await c.command("LOGOUT")).status, 'OK "Logout completed."');
    assert.deepEqual(await c.rest(), []);
  } finally {
    c.close();
    await w.close();
  }
});

Deno.test("issue21#2: ManageSieve logins are throttled like IMAP's and POP3's (TRYLATER when delayed)", async () => {
  const w = await world();
  try {
    let last = "";
    // Failed sign-ins from one address are delayed after a few (loginFailuresBeforeDelay).
    for (let i = 0; i < 8 && !last.includes("TRYLATER"); i++) {
      const c = await SieveClient.open(w.listener.port);
      await c.response();
      await c.startTls(w.tls.certFile);
      last = (await c.command(`AUTHENTICATE "PLAIN" "${plain(ALICE.address, `wrong-${i}`)}"`))
        .status;
      c.close();
    }
    assert.match(last, /^NO \(TRYLATER\)/);
  } finally {
    await w.close();
  }
});

Deno.test("issue21#2: ManageSieve's SRV record _sieve._tcp is among a domain's DNS records (RFC 5804 1.8)", () => {
  const base = {
    hostname: "mail.example.test",
    imapsPort: 993,
    imapPort: 143,
    pop3sPort: 0,
    pop3Port: 0,
    submissionsPort: 465,
    submissionPort: 587,
    publicUrl: undefined,
    sharpPort: 0,
  };
  const on = discoveryRecords("example.test", { ...base, manageSievePort: 4190 });
  assert.deepEqual(
    on.find((r) => r.name === "_sieve._tcp.example.test."),
    {
      name: "_sieve._tcp.example.test.",
      type: "SRV",
      value: "0 1 4190 mail.example.test.",
      purpose: "ManageSieve with STARTTLS (RFC 5804 section 1.8)",
    },
  );
  const off = discoveryRecords("example.test", { ...base, manageSievePort: 0 });
  assert.equal(off.find((r) => r.name === "_sieve._tcp.example.test.")?.value, "0 0 0 .");
});
