/**
 * The shipped processes with real sockets: `postern serve` receives SMTP in-process, a
 * separate `postern bridge` (with no database of its own) delivers through a `postern gateway`,
 * and two `postern serve` processes federate over HTTPS.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { freePort } from "./fixtures/postfix.ts";
import { python } from "./fixtures/bridge.ts";
import { startFakeDns } from "./fixtures/fake_dns.ts";
import { federationTestTls } from "./fixtures/federation.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ADMIN = "admin@postern.localhost";
const PASSWORD = "admin-password-for-tests";

function env(extra: Record<string, string>): Record<string, string> {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
  );
  return {
    ...base,
    NO_COLOR: "1",
    ...LISTENERS_OFF,
    POSTERN_LOG_LEVEL: "warn",
    POSTERN_SMTP_EARLY_TALKER_MS: "0",
    ...extra,
  };
}

function spawn(args: string[], vars: Record<string, string>) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: env(vars),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function run(args: string[], vars: Record<string, string>): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: env(vars),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`postern ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if (await check()) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function portOpen(port: number): Promise<boolean> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.close();
  return true;
}

async function signIn(httpPort: number, address = ADMIN): Promise<string> {
  const login = await fetch(`http://127.0.0.1:${httpPort}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ address, password: PASSWORD }),
  });
  return (await login.json()).accessToken;
}

async function messages(httpPort: number, address = ADMIN) {
  const res = await fetch(`http://127.0.0.1:${httpPort}/v1/messages?limit=50`, {
    headers: { authorization: `Bearer ${await signIn(httpPort, address)}` },
  });
  return (await res.json()).items as { id: number; subject: string }[];
}

async function inbox(httpPort: number, address = ADMIN): Promise<string[]> {
  return (await messages(httpPort, address)).map((m) => m.subject);
}

const SEND = `
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.sendmail("zed@remote.example", ["admin@postern.localhost"],
        "From: zed@remote.example\\r\\nTo: admin@postern.localhost\\r\\nSubject: %s\\r\\n\\r\\nhi\\r\\n" % sys.argv[2])
print("sent")
`;
import { LISTENERS_OFF } from "./fixtures/serve_env.ts";

async function stop(child: Deno.ChildProcess): Promise<void> {
  child.kill("SIGTERM");
  await child.output();
}

for (const thread of [false, true]) {
  const where = thread ? " (bridge on a worker thread)" : "";
  Deno.test(`postern serve accepts SMTP on its MX port and the message appears in the API${where}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "postern-serve-" });
    const http = freePort(), smtp = freePort(), submission = freePort();
    const child = spawn(["serve", "--init-if-needed"], {
      POSTERN_DATA_DIR: `${dir}/data`,
      POSTERN_ADMIN_PASSWORD: PASSWORD,
      POSTERN_HTTP_PORT: String(http),
      POSTERN_SMTP_PORT: String(smtp),
      POSTERN_SUBMISSION_PORT: String(submission),
      POSTERN_BRIDGE_THREAD: String(thread),
    });
    try {
      await waitFor(() => portOpen(smtp), "the MX port");
      await waitFor(() => portOpen(submission), "the submission port");
      assert((await python(SEND, [String(smtp), "through serve"])).includes("sent"));
      assertEquals(await inbox(http), ["through serve"]);
      // Unknown recipients are still refused at RCPT (no open relay, through the tunnel too).
      const refused = await python(RELAY, [String(smtp)]);
      assert(refused.includes("550"), refused);
      if (!thread) {
        // /metrics (issue 19 item 5): the message counted, and an open SMTP session seen.
        const held = await Deno.connect({ hostname: "127.0.0.1", port: smtp });
        try {
          await held.read(new Uint8Array(512)); // the greeting: the session is open
          const res = await fetch(`http://127.0.0.1:${http}/metrics`, {
            headers: { authorization: `Bearer ${await signIn(http)}` },
          });
          const text = await res.text();
          assert(/^postern_protocol_sessions\{listener="smtp"\} [1-9]/m.test(text), text);
          assert(
            text.includes('postern_messages_received_total{result="delivered",source="smtp"} 1'),
            text,
          );
        } finally {
          held.close();
        }
      }
    } finally {
      await stop(child);
      await Deno.remove(dir, { recursive: true });
    }
  });
}

const RELAY = `
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.ehlo("client.example")
    s.mail("zed@remote.example")
    print(s.rcpt("victim@elsewhere.example")[0])
`;

Deno.test("postern bridge, with no database, delivers through a separate postern gateway", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-bridge-" });
  const gatewayVars = { POSTERN_DATA_DIR: `${dir}/gw`, POSTERN_ADMIN_PASSWORD: PASSWORD };
  await run(["init"], gatewayVars);
  const created = JSON.parse(
    await run(
      ["apikey", "create", ADMIN, "--name", "bridge", "--scope", "bridge", "--json"],
      gatewayVars,
    ),
  );
  const key = created.key ?? created.apiKey?.key;
  assert(typeof key === "string" && key.startsWith("pst_"), JSON.stringify(created));
  const http = freePort(), smtp = freePort();
  const gateway = spawn(["gateway"], { ...gatewayVars, POSTERN_HTTP_PORT: String(http) });
  const bridge = spawn(["bridge", "--gateway", `http://127.0.0.1:${http}`], {
    POSTERN_DATA_DIR: `${dir}/bridge-has-no-data`,
    POSTERN_BRIDGE_API_KEY: key,
    POSTERN_SMTP_PORT: String(smtp),
    POSTERN_SUBMISSION_PORT: "0",
  });
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${http}/health`)).ok, "the gateway");
    await waitFor(() => portOpen(smtp), "the bridge's MX port");
    assert((await python(SEND, [String(smtp), "through a separate bridge"])).includes("sent"));
    assertEquals(await inbox(http), ["through a separate bridge"]);
    const leftovers = await Array.fromAsync(Deno.readDir(dir));
    assertEquals(leftovers.map((e) => e.name).sort(), ["gw"], "the bridge created no data folder");
  } finally {
    await stop(bridge);
    await stop(gateway);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two postern serve processes federate over HTTPS: signed, verified, receipted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-fed-serve-" });
  const pair = await federationTestTls();
  await Deno.writeTextFile(`${dir}/ca.pem`, pair.ca);
  await Deno.writeTextFile(`${dir}/cert.pem`, pair.cert);
  await Deno.writeTextFile(`${dir}/key.pem`, pair.key);
  const dns = await startFakeDns({});
  const servers: { domain: string; http: number; child: Deno.ChildProcess }[] = [];
  try {
    for (const domain of ["a.test", "b.test"]) {
      const vars = { POSTERN_DATA_DIR: `${dir}/${domain}`, POSTERN_ADMIN_PASSWORD: PASSWORD };
      await run(["init", "--domain", domain], vars);
      const http = freePort(), https = freePort();
      // Discovery delegated by DNS (docs/federation.md): the document is on our HTTPS port.
      dns.zone[`_sharp.${domain}`] = { TXT: [`v=sharp1; host=127.0.0.1:${https}`] };
      const child = spawn(["serve"], {
        ...vars,
        POSTERN_HOSTNAME: `mx.${domain}`,
        POSTERN_HTTP_PORT: String(http),
        POSTERN_HTTPS_PORT: String(https),
        POSTERN_TLS_CERT_FILE: `${dir}/cert.pem`,
        POSTERN_TLS_KEY_FILE: `${dir}/key.pem`,
        POSTERN_FEDERATION_CA_FILE: `${dir}/ca.pem`,
        POSTERN_FEDERATION_ALLOW_PRIVATE: "true",
        POSTERN_FEDERATION_INTERVAL_MS: "200",
        POSTERN_DNS_SERVERS: dns.server,
        POSTERN_OUTBOUND_PORT: "0",
      });
      servers.push({ domain, http, child });
      await waitFor(async () => (await fetch(`http://127.0.0.1:${http}/health`)).ok, domain);
      await waitFor(() => portOpen(https), `${domain} over HTTPS`);
    }
    const [a, b] = servers;
    const sent = await fetch(`http://127.0.0.1:${a.http}/v1/emails`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${await signIn(a.http, "admin@a.test")}`,
      },
      body: JSON.stringify({
        from: "admin@a.test",
        to: ["admin#b.test"],
        subject: "Across the federation",
        text: "signed, sealed, delivered",
      }),
    });
    const sentText = await sent.text();
    assert(sent.ok, `${sent.status} ${sentText}`);
    const { emailId } = JSON.parse(sentText);
    await waitFor(
      async () => (await inbox(b.http, "admin@b.test")).includes("Across the federation"),
      "the federated message at b.test",
    );
    const [message] = await messages(b.http, "admin@b.test");
    const res = await fetch(`http://127.0.0.1:${b.http}/v1/messages/${message.id}`, {
      headers: { authorization: `Bearer ${await signIn(b.http, "admin@b.test")}` },
    });
    const text = await res.text();
    // The receiver verified a.test's signature; a.test holds b.test's signed receipt.
    assert(/"federation":\{[^}]*"result":"pass"/.test(text), text.slice(0, 400));
    assert(text.includes('"signer":"a.test"'), text.slice(0, 400));
    // a.test counts the recipient delivered only on b.test's verified, signed receipt.
    const status = async () => {
      const view = await fetch(`http://127.0.0.1:${a.http}/v1/emails/${emailId}`, {
        headers: { authorization: `Bearer ${await signIn(a.http, "admin@a.test")}` },
      });
      return (await view.json()).recipients[0].status as string;
    };
    await waitFor(async () => (await status()) === "delivered", "the receipt at a.test");
  } finally {
    for (const s of servers) await stop(s.child);
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
});
