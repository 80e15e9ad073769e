/**
 * `postern serve` starts the ManageSieve listener (POSTERN_MANAGESIEVE_PORT) beside the
 * others, lists it in its banner, greets with the gateway's own Sieve extensions (read with
 * the in-process bridge key before anyone logs in), and takes the admin's login after
 * STARTTLS with the certificate made at init. `postern bridge`, with no database, serves it
 * against a separate `postern gateway` over HTTP.
 */
import assert from "node:assert/strict";
import { freePort } from "./fixtures/postfix.ts";
import { LISTENERS_OFF, listeningPort } from "./fixtures/serve_env.ts";
import { plain, SieveClient } from "./fixtures/managesieve.ts";

const ROOT = new URL("../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;
const PASSWORD = "admin-password-for-sieve";

function postern(args: string[], env: Record<string, string>) {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
  );
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: ROOT.pathname,
    env: { ...base, NO_COLOR: "1", ...LISTENERS_OFF, ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Connects once the listener is up (a process just started opens its ports a moment later). */
async function openWhenUp(port: number): Promise<SieveClient> {
  for (let i = 0;; i++) {
    try {
      return await SieveClient.open(port);
    } catch (e) {
      if (i >= 200) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

Deno.test("issue21#2: postern serve runs ManageSieve on POSTERN_MANAGESIEVE_PORT and lists it in the banner", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-sieve-serve-" });
  const port = freePort();
  const child = postern(["serve", "--init-if-needed", "--port", "0"], {
    POSTERN_DATA_DIR: `${dir}/data`,
    POSTERN_ADMIN_PASSWORD: PASSWORD,
    POSTERN_MANAGESIEVE_PORT: String(port),
  });
  const stdout = new Response(child.stdout).text();
  const started = await listeningPort(child.stderr);
  try {
    assert.ok(started.port > 0, started.log);
    // The bridge's listeners open just after the HTTP side's `server.listening`.
    const c = await openWhenUp(port);
    const greeting = await c.response();
    assert.equal(greeting.status, 'OK "Postern ManageSieve ready."');
    const sieve = greeting.data.find((l) => l.startsWith('"SIEVE" '))!;
    assert.match(sieve, /\bfileinto\b.*\bvacation\b/);
    assert.ok(greeting.data.includes('"STARTTLS"'));
    assert.ok(greeting.data.includes('"SASL" ""'), "no login before TLS by default");
    await c.startTls(`${dir}/data/tls/cert.pem`);
    const r = await c.command(
      `AUTHENTICATE "PLAIN" "${plain("admin@postern.localhost", PASSWORD)}"`,
    );
    assert.equal(r.status, 'OK "Logged in."');
    assert.equal((await c.command(`PUTSCRIPT "main" "keep;"`)).status, "OK");
    assert.deepEqual((await c.command("LISTSCRIPTS")).data, ['"main"']);
    await c.command("LOGOUT");
    c.close();
  } finally {
    child.kill("SIGTERM");
    await started.drain();
    await child.status;
  }
  assert.match(await stdout, new RegExp(`Sieve: +managesieve 127\\.0\\.0\\.1:${port}`));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("issue21#2: postern bridge serves ManageSieve against a separate postern gateway over HTTP", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-sieve-bridge-" });
  const gatewayVars = { POSTERN_DATA_DIR: `${dir}/gw`, POSTERN_ADMIN_PASSWORD: PASSWORD };
  const init = await postern(["init"], gatewayVars).output();
  assert.ok(init.success, new TextDecoder().decode(init.stderr));
  const created = await postern(
    [
      "apikey",
      "create",
      "admin@postern.localhost",
      "--name",
      "sieve",
      "--scope",
      "bridge",
      "--json",
    ],
    gatewayVars,
  ).output();
  assert.ok(created.success, new TextDecoder().decode(created.stderr));
  const key = JSON.parse(new TextDecoder().decode(created.stdout)).key;
  const http = freePort(), sieve = freePort();
  const gateway = postern(["gateway"], { ...gatewayVars, POSTERN_HTTP_PORT: String(http) });
  const bridge = postern(["bridge", "--gateway", `http://127.0.0.1:${http}`], {
    POSTERN_DATA_DIR: `${dir}/bridge-has-no-data`,
    POSTERN_BRIDGE_API_KEY: key,
    POSTERN_MANAGESIEVE_PORT: String(sieve),
    // No certificate on this bridge: plaintext on loopback, as a lab would run it.
    POSTERN_MANAGESIEVE_ALLOW_PLAINTEXT_AUTH: "true",
  });
  try {
    // The gateway may still be starting: the greeting then says BYE (TRYLATER); try again.
    let s = await openWhenUp(sieve);
    let greeting = await s.response();
    for (let i = 0; greeting.status.startsWith("BYE") && i < 100; i++) {
      s.close();
      await new Promise((r) => setTimeout(r, 100));
      s = await openWhenUp(sieve);
      greeting = await s.response();
    }
    assert.ok(greeting.data.some((l) => /^"SIEVE" ".*\bvacation\b/.test(l)), greeting.status);
    assert.equal(
      (await s.command(`AUTHENTICATE "PLAIN" "${plain("admin@postern.localhost", PASSWORD)}"`))
        .status,
      'OK "Logged in."',
    );
    assert.equal((await s.command('PUTSCRIPT "over-http" "keep;"')).status, "OK");
    assert.equal((await s.command('SETACTIVE "over-http"')).status, "OK");
    await s.command("LOGOUT");
    s.close();
    const login = await fetch(`http://127.0.0.1:${http}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ address: "admin@postern.localhost", password: PASSWORD }),
    });
    const token = (await login.json()).accessToken;
    const list = await fetch(`http://127.0.0.1:${http}/v1/sieve/scripts`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const { scripts } = await list.json();
    assert.deepEqual(scripts.map((x: { name: string; active: boolean }) => [x.name, x.active]), [
      ["over-http", true],
    ]);
  } finally {
    for (const child of [bridge, gateway]) {
      child.kill("SIGTERM");
      await child.output();
    }
    await Deno.remove(dir, { recursive: true });
  }
});
