/**
 * Hostile input against the ManageSieve listener over real sockets: literals that never end
 * or announce gigabytes, literals over the script limit, names that are not UTF-8 or hold
 * controls, commands before authentication, AUTHENTICATE in plaintext on a listener whose
 * policy wants TLS, over-long lines and too many connections. Each gets a clear NO or BYE;
 * the server stays up and serves the next client; nothing reaches the backend that should not.
 */
import assert from "node:assert/strict";
import { MemorySieveBackend } from "../../bridge/managesieve/memory_backend.ts";
import type { TcpListener } from "../../bridge/net/tcp_server.ts";
import {
  literal,
  plain,
  SieveClient,
  sieveTls,
  startSieveListener,
} from "../fixtures/managesieve.ts";

const USER = "alice@example.test";
const PASSWORD = "alice-pw";

async function withServer(
  fn: (ctx: { backend: MemorySieveBackend; listener: TcpListener }) => Promise<void>,
  opts: { idleMs?: number; maxPerIp?: number } = {},
) {
  const backend = new MemorySieveBackend();
  backend.addUser(USER, PASSWORD);
  const listener = await startSieveListener(backend, { allowPlaintextAuth: true, ...opts });
  try {
    await fn({ backend, listener });
  } finally {
    await listener.close();
  }
}

async function loggedIn(port: number): Promise<SieveClient> {
  const c = await SieveClient.open(port);
  await c.response();
  const r = await c.command(`AUTHENTICATE "PLAIN" "${plain(USER, PASSWORD)}"`);
  assert.equal(r.status, 'OK "Logged in."');
  return c;
}

/** The server still answers a new client. */
async function stillServes(port: number): Promise<void> {
  const c = await loggedIn(port);
  assert.equal((await c.command('NOOP "alive"')).status, 'OK (TAG "alive") "Done"');
  c.close();
}

Deno.test("issue21#2: ManageSieve hostile: commands before authentication are refused, then BYE", async () => {
  await withServer(async ({ backend, listener }) => {
    const c = await SieveClient.open(listener.port);
    await c.response();
    for (const cmd of ["LISTSCRIPTS", 'GETSCRIPT "x"', `PUTSCRIPT "x" ${literal("keep;")}`]) {
      assert.equal((await c.command(cmd)).status, 'NO "authenticate first"', cmd);
    }
    for (let i = 0; i < 6; i++) await c.command('DELETESCRIPT "x"');
    const last = await c.command('HAVESPACE "x" 1');
    assert.equal(last.status, 'BYE "too many invalid commands"');
    assert.deepEqual(await c.rest(), []);
    assert.equal(backend.scripts(USER).size, 0);
    assert.equal(backend.logins.length, 0);
    await stillServes(listener.port);
  });
});

Deno.test("issue21#2: ManageSieve hostile: AUTHENTICATE in plaintext on a TLS-first listener is refused (ENCRYPT-NEEDED)", async () => {
  const backend = new MemorySieveBackend();
  backend.addUser(USER, PASSWORD);
  const tls = await sieveTls();
  // The default policy, as in production: no plaintext login, whatever the client address.
  const listener = await startSieveListener(backend, { tls: tls.tls });
  try {
    const c = await SieveClient.open(listener.port);
    const greeting = await c.response();
    assert.ok(greeting.data.includes('"SASL" ""'));
    const r = await c.command(`AUTHENTICATE "PLAIN" "${plain(USER, PASSWORD)}"`);
    assert.equal(r.status, 'NO (ENCRYPT-NEEDED) "authentication requires TLS: use STARTTLS first"');
    const login = await c.command('AUTHENTICATE "LOGIN"');
    assert.match(login.status, /^NO \(ENCRYPT-NEEDED\)/);
    // The password never reached the backend.
    assert.equal(backend.logins.length, 0);
    // After STARTTLS the same login works.
    await c.startTls(tls.certFile);
    assert.equal(
      (await c.command(`AUTHENTICATE "PLAIN" "${plain(USER, PASSWORD)}"`)).status,
      'OK "Logged in."',
    );
    c.close();
  } finally {
    await listener.close();
    await tls.remove();
  }
});

Deno.test("issue21#2: ManageSieve hostile: a literal over the script limit is dropped with NO (QUOTA/MAXSIZE), the session goes on", async () => {
  await withServer(async ({ backend, listener }) => {
    const c = await loggedIn(listener.port);
    const big = "#".repeat(backend.caps.maxScriptBytes + 10);
    const r = await c.command(`PUTSCRIPT "big" ${literal(big)}`);
    assert.equal(r.status, 'NO (QUOTA/MAXSIZE) "the script is larger than the server allows"');
    // The dropped octets were not read as commands: the next command is answered normally.
    assert.equal((await c.command('NOOP "next"')).status, 'OK (TAG "next") "Done"');
    assert.equal(backend.scripts(USER).size, 0);
    c.close();
  });
});

Deno.test("issue21#2: ManageSieve hostile: a literal announcing gigabytes ends the session with BYE", async () => {
  await withServer(async ({ listener }) => {
    for (const mark of ["{4294967295+}", "{99999999999999999999+}"]) {
      const c = await SieveClient.open(listener.port);
      await c.response();
      await c.write(`AUTHENTICATE "PLAIN" ${mark}\r\nAAAA`);
      assert.equal((await c.response()).status, 'BYE "literal too large"');
      assert.deepEqual(await c.rest(), []);
    }
    const c = await loggedIn(listener.port);
    await c.write(`PUTSCRIPT "x" {50000000+}\r\nkeep;`);
    assert.equal((await c.response()).status, 'BYE "literal too large"');
    await stillServes(listener.port);
  });
});

Deno.test("issue21#2: ManageSieve hostile: an unterminated literal times out with BYE, a dropped one is forgotten", async () => {
  await withServer(async ({ backend, listener }) => {
    // The client announces 1000 octets, sends 10 and goes quiet: the idle limit ends it.
    const c = await loggedIn(listener.port);
    await c.write(`PUTSCRIPT "half" {1000+}\r\nkeep;\r\nstop`);
    assert.equal((await c.response()).status, 'BYE "idle too long, closing"');
    assert.deepEqual(await c.rest(), []);
    // Another hangs up in the middle of its literal.
    const d = await loggedIn(listener.port);
    await d.write(`PUTSCRIPT "cut" {1000+}\r\nkeep;`);
    d.close();
    assert.equal(backend.scripts(USER).size, 0);
    await stillServes(listener.port);
  }, { idleMs: 1500 });
});

Deno.test("issue21#2: ManageSieve hostile: names that are not UTF-8 or hold controls, malformed strings", async () => {
  await withServer(async ({ backend, listener }) => {
    const c = await loggedIn(listener.port);
    const enc = new TextEncoder();
    // 0xC3 0x28 is not UTF-8, as a quoted name and as a literal name.
    await c.write(
      new Uint8Array([...enc.encode('PUTSCRIPT "'), 0xc3, 0x28, ...enc.encode('" "keep;"\r\n')]),
    );
    assert.equal((await c.response()).status, 'NO "string is not valid UTF-8"');
    await c.write(
      new Uint8Array([...enc.encode("PUTSCRIPT {2+}\r\n"), 0xff, 0xfe, ...enc.encode(' "k"\r\n')]),
    );
    assert.equal((await c.response()).status, 'NO "string is not valid UTF-8"');
    const ctl = await c.command(`PUTSCRIPT ${literal("a\r\nb")} "keep;"`);
    assert.equal(ctl.status, 'NO "the script name holds control characters"');
    const long = await c.command(`PUTSCRIPT "${"n".repeat(129)}" "keep;"`);
    assert.match(long.status, /^NO "the script name is longer than 128 characters"/);
    assert.equal((await c.command('GETSCRIPT "open')).status, 'NO "unterminated quoted string"');
    assert.equal(backend.scripts(USER).size, 0);
    // A script that is not UTF-8 is refused too.
    await c.write(
      new Uint8Array([...enc.encode('PUTSCRIPT "s" {3+}\r\n'), 0x6b, 0x80, 0x3b, 13, 10]),
    );
    assert.equal((await c.response()).status, 'NO "string is not valid UTF-8"');
    assert.equal(backend.scripts(USER).size, 0);
    c.close();
  });
});

Deno.test("issue21#2: ManageSieve hostile: an over-long line is refused whole; too many connections get BYE (TRYLATER)", async () => {
  await withServer(async ({ listener }) => {
    const c = await loggedIn(listener.port);
    const r = await c.command(`NOOP "${"x".repeat(20_000)}"`);
    assert.equal(r.status, 'NO "line too long"');
    assert.equal((await c.command('NOOP "ok"')).status, 'OK (TAG "ok") "Done"');
    const others = [await SieveClient.open(listener.port), await SieveClient.open(listener.port)];
    for (const o of others.slice(0, 1)) await o.response();
    // c and others[0] hold the two slots for this address: the third is turned away.
    assert.equal(
      (await others[1].response()).status,
      'BYE (TRYLATER) "too many connections, try again later"',
    );
    for (const o of others) o.close();
    c.close();
  }, { maxPerIp: 2 });
});

Deno.test("issue21#2: ManageSieve hostile: the gateway down answers TRYLATER, never a crash", async () => {
  await withServer(async ({ backend, listener }) => {
    const c = await loggedIn(listener.port);
    backend.down = true;
    const r = await c.command(`PUTSCRIPT "x" ${literal("keep;")}`);
    assert.equal(r.status, 'NO (TRYLATER) "the mail service is unavailable, try again later"');
    const d = await SieveClient.open(listener.port);
    assert.equal(
      (await d.response()).status,
      'BYE (TRYLATER) "the mail service is unavailable, try again later"',
    );
    d.close();
    backend.down = false;
    assert.equal((await c.command(`PUTSCRIPT "x" ${literal("keep;")}`)).status, "OK");
    c.close();
  });
});

Deno.test("issue21#2: ManageSieve: a listener shutting down says BYE (TRYLATER); a PUTSCRIPT under way finishes first", async () => {
  const backend = new MemorySieveBackend();
  backend.addUser(USER, PASSWORD);
  const listener = await startSieveListener(backend, { allowPlaintextAuth: true });
  const idle = await loggedIn(listener.port);
  const busy = await loggedIn(listener.port);
  // Half a literal is in flight when the shutdown starts: it is read to its end and answered.
  const script = "keep;\r\n".repeat(100);
  const whole = `PUTSCRIPT "late" ${literal(script)}\r\n`;
  await busy.write(whole.slice(0, 40));
  // Let the server read the command line and start on the literal before the shutdown.
  await new Promise((r) => setTimeout(r, 300));
  const closing = listener.close(5_000);
  assert.equal(
    (await idle.response()).status,
    'BYE (TRYLATER) "server shutting down, try again later"',
  );
  await busy.write(whole.slice(40));
  assert.equal((await busy.response()).status, "OK");
  assert.equal(
    (await busy.response()).status,
    'BYE (TRYLATER) "server shutting down, try again later"',
  );
  await closing;
  assert.equal(backend.scripts(USER).get("late")?.script, script);
  idle.close();
  busy.close();
});
