/**
 * `postern serve` starts the ManageSieve listener (POSTERN_MANAGESIEVE_PORT) beside the
 * others, lists it in its banner, greets with the gateway's own Sieve extensions (read with
 * the in-process bridge key before anyone logs in), and takes the admin's login after
 * STARTTLS with the certificate made at init. A port of 0 leaves it off.
 */
import assert from "node:assert/strict";
import { freePort } from "./fixtures/postfix.ts";
import { LISTENERS_OFF, listeningPort } from "./fixtures/serve_env.ts";
import { plain, SieveClient } from "./fixtures/managesieve.ts";

const ROOT = new URL("../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;
const PASSWORD = "admin-password-for-sieve";

function serve(env: Record<string, string>) {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
  );
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "serve", "--init-if-needed", "--port", "0"],
    cwd: ROOT.pathname,
    env: { ...base, NO_COLOR: "1", ...LISTENERS_OFF, ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("issue21#2: postern serve runs ManageSieve on POSTERN_MANAGESIEVE_PORT and lists it in the banner", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-sieve-serve-" });
  const port = freePort();
  const child = serve({
    POSTERN_DATA_DIR: `${dir}/data`,
    POSTERN_ADMIN_PASSWORD: PASSWORD,
    POSTERN_MANAGESIEVE_PORT: String(port),
  });
  const stdout = new Response(child.stdout).text();
  const started = await listeningPort(child.stderr);
  try {
    assert.ok(started.port > 0, started.log);
    // The bridge's listeners open just after the HTTP side's `server.listening`.
    let c: SieveClient | undefined;
    for (let i = 0; !c; i++) {
      c = await SieveClient.open(port).catch((e) => {
        if (i >= 100) throw e;
        return new Promise<undefined>((r) => setTimeout(() => r(undefined), 100));
      });
    }
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
