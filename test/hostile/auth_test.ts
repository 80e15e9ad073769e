/**
 * Hostile sign-ins (issue 15, items 1 and 2), driven through the real interfaces: HTTP login
 * with the client address in `x-postern-peer`, IMAP LOGIN over a socket to the bridge and SMTP
 * AUTH over STARTTLS on the submission port, all against one gateway and one store. The
 * gateway's clock is a fake one that the tests move, so delays are checked without waiting.
 *
 * Item 1: every spelling of an address that reaches one account (leading space, trailing dot,
 * SHARP's `#`, upper case) counts against that account's one counter. Item 2: failures delay
 * the (account, source) pair and the source, never the owner elsewhere; a hard account lock is
 * a configurable last resort.
 */
import { assert, assertEquals } from "../fixtures/assert.ts";
import { ADMIN, createTestGateway, type TestGateway } from "../fixtures/app.ts";
import { startBridgeWorld } from "../fixtures/bridge.ts";
import { py, startGatewayImap, startGatewayPop3 } from "../fixtures/imap_pop3.ts";
import type { Config } from "../../src/config.ts";

const SPELLINGS = [
  ` ${ADMIN.address}`,
  `${ADMIN.address}.`,
  ADMIN.address.replace("@", "#"),
  ADMIN.address.toUpperCase(),
  `\t${ADMIN.address.replace("@", "#")}. `,
];
const ATTACKER = "192.0.2.66";
const OWNER = "198.51.100.7";

/** A clock the test moves by hand, installed in the gateway's deps. */
function fakeClock(gw: TestGateway) {
  let now = Date.now();
  gw.deps.clock = { now: () => now };
  return { advance: (seconds: number) => void (now += seconds * 1000) };
}

async function httpLogin(gw: TestGateway, address: string, password: string, ip: string) {
  const res = await gw.call("POST", "/v1/auth/login", {
    body: { address, password },
    headers: { "x-postern-peer": ip },
  });
  const retry = res.headers.get("retry-after");
  await res.body?.cancel();
  return { status: res.status, retry: retry === null ? undefined : Number(retry) };
}

async function gateway(overrides: Partial<Config> = {}) {
  const gw = await createTestGateway(overrides);
  return { gw, clock: fakeClock(gw) };
}

/** A line-at-a-time TCP client for IMAP transcripts. */
class LineClient {
  private buf = "";
  private constructor(private conn: Deno.Conn) {}
  static async open(port: number) {
    return new LineClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }
  async send(line: string) {
    await this.conn.write(new TextEncoder().encode(`${line}\r\n`));
  }
  async line(): Promise<string> {
    while (!this.buf.includes("\r\n")) {
      const chunk = new Uint8Array(4096);
      const n = await this.conn.read(chunk);
      if (n === null) throw new Error(`connection closed; buffered: ${this.buf}`);
      this.buf += new TextDecoder().decode(chunk.subarray(0, n));
    }
    const at = this.buf.indexOf("\r\n");
    const line = this.buf.slice(0, at);
    this.buf = this.buf.slice(at + 2);
    return line;
  }
  /** Reads lines until one starts with `prefix`; returns it. */
  async until(prefix: string): Promise<string> {
    for (;;) {
      const line = await this.line();
      if (line.startsWith(prefix)) return line;
    }
  }
  close() {
    try {
      this.conn.close();
    } catch { /* already closed by the server */ }
  }
}

const quoted = (s: string) => `"${s.replace(/["\\]/g, "\\$&")}"`;

/** One IMAP LOGIN on a fresh connection; the tagged answer. */
async function imapLogin(port: number, user: string, password: string): Promise<string> {
  const c = await LineClient.open(port);
  try {
    await c.until("* OK");
    await c.send(`a1 LOGIN ${quoted(user)} ${quoted(password)}`);
    return await c.until("a1 ");
  } finally {
    c.close();
  }
}

/** One POP3 USER/PASS on a fresh connection (RFC 1939); the answer to PASS. */
async function pop3Login(port: number, user: string, password: string): Promise<string> {
  const c = await LineClient.open(port);
  try {
    await c.until("+OK");
    await c.send(`USER ${user}`);
    await c.line();
    await c.send(`PASS ${password}`);
    return await c.line();
  } finally {
    c.close();
  }
}

const SMTP_AUTH = `
import smtplib, ssl, sys, base64
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.test")
s.starttls(context=ctx)
s.ehlo("client.test")
token = base64.b64encode(b"\\0" + sys.argv[3].encode() + b"\\0" + sys.argv[4].encode()).decode()
code, text = s.docmd("AUTH", "PLAIN " + token)
print(code, text.decode())
s.close()
`;

/** One SMTP AUTH PLAIN after STARTTLS on the submission port (Python's smtplib); the reply. */
async function smtpAuth(port: number, ca: string, user: string, password: string) {
  return (await py(SMTP_AUTH, [String(port), ca, user, password])).trim();
}

// --- Item 1: one counter per account, whatever the spelling ---

Deno.test("issue15#1: HTTP login — every spelling of the address shares one counter", async () => {
  const { gw } = await gateway();
  try {
    // One failure per spelling: five for the account, from one source.
    for (const spelling of SPELLINGS) {
      assertEquals((await httpLogin(gw, spelling, "wrong-password", ATTACKER)).status, 401);
    }
    // The right password is now delayed for that source, in every spelling.
    for (const spelling of [ADMIN.address, ...SPELLINGS]) {
      const res = await httpLogin(gw, spelling, ADMIN.password, ATTACKER);
      assertEquals(res.status, 429, `spelling ${JSON.stringify(spelling)}`);
      assert(res.retry !== undefined && res.retry > 0);
    }
  } finally {
    gw.close();
  }
});

Deno.test("issue15#1: unknown addresses are keyed on their normalised form too", async () => {
  const { gw } = await gateway();
  try {
    const ghost = ["nobody@postern.test", " NOBODY@postern.test.", "nobody#POSTERN.test"];
    for (let i = 0; i < 5; i++) {
      assertEquals((await httpLogin(gw, ghost[i % 3], "x", ATTACKER)).status, 401);
    }
    // Delayed like a real account (no hint whether it exists); a real account still answers.
    assertEquals((await httpLogin(gw, ghost[1], "x", ATTACKER)).status, 429);
    assertEquals((await httpLogin(gw, ADMIN.address, ADMIN.password, ATTACKER)).status, 200);
    // An address that does not parse is refused the same way each time, never a 500.
    for (
      const odd of ["", " ", "@", "admin@", "a@b@", "admin@postern.test\u0000", "x".repeat(300)]
    ) {
      const res = await httpLogin(gw, odd, "x", OWNER);
      assert([401, 422, 429].includes(res.status), `${JSON.stringify(odd)}: ${res.status}`);
    }
  } finally {
    gw.close();
  }
});

/**
 * A gateway with the bridge's IMAP, POP3 and submission listeners (all clients are 127.0.0.1
 * there), a fake clock, and one-shot IMAP LOGIN / POP3 USER+PASS / SMTP AUTH helpers.
 */
async function withProtocols(
  test: (p: {
    gw: TestGateway;
    clock: ReturnType<typeof fakeClock>;
    imap: (user: string, password: string) => Promise<string>;
    pop3: (user: string, password: string) => Promise<string>;
    smtp: (user: string, password: string) => Promise<string>;
  }) => Promise<void>,
) {
  const world = await startBridgeWorld();
  const imap = await startGatewayImap(world.gw);
  const pop3 = await startGatewayPop3(world.gw);
  try {
    await test({
      gw: world.gw,
      clock: fakeClock(world.gw),
      imap: (user, password) => imapLogin(imap.port, user, password),
      pop3: (user, password) => pop3Login(pop3.port, user, password),
      smtp: (user, password) => smtpAuth(world.submissionPort, world.certFile, user, password),
    });
  } finally {
    await imap.close();
    await pop3.close();
    await world.close();
  }
}

Deno.test("issue15#1+2: IMAP LOGIN, POP3 and SMTP AUTH — spellings share the counter; other sources unaffected", async () => {
  await withProtocols(async ({ gw, clock, imap, pop3, smtp }) => {
    // Five failures over IMAP from 127.0.0.1, one per spelling.
    for (const spelling of SPELLINGS) {
      assertEquals(
        await imap(spelling, "wrong-password"),
        "a1 NO [AUTHENTICATIONFAILED] authentication failed",
      );
    }
    // The right password from 127.0.0.1 is delayed on IMAP and on SMTP, whatever the spelling.
    for (const spelling of SPELLINGS) {
      assert((await imap(spelling, ADMIN.password)).startsWith("a1 NO [UNAVAILABLE]"));
      assertEquals(
        await smtp(spelling, ADMIN.password),
        "454 4.7.0 temporary authentication failure",
      );
      assert((await pop3(spelling.trim(), ADMIN.password)).startsWith("-ERR [LOGIN-DELAY]"));
    }
    // The bridge counted them against the client's address (127.0.0.1), not its own: HTTP from
    // 127.0.0.1 waits too, while the owner signs in over HTTP from elsewhere.
    assertEquals((await httpLogin(gw, ADMIN.address, ADMIN.password, "127.0.0.1")).status, 429);
    assertEquals((await httpLogin(gw, ADMIN.address, ADMIN.password, OWNER)).status, 200);
    // Once the delay has passed, 127.0.0.1's right password works again on both protocols.
    clock.advance(2);
    assert((await imap(` ${ADMIN.address}`, ADMIN.password)).startsWith("a1 OK"));
    assert((await smtp(`${ADMIN.address}.`, ADMIN.password)).startsWith("235 "));
  });
});

// --- Item 2: delays per (account, source) and per source, not a lock for everyone ---

Deno.test("issue15#2: an attacker at IP A cannot lock out the owner at IP B (HTTP, IMAP, POP3, SMTP)", async () => {
  await withProtocols(async ({ gw, clock, imap, pop3, smtp }) => {
    // Far past the old limits (5 per account, 20 per IP): 40 failures, waiting out each delay,
    // and then guessing until held back, so the owner comes in the middle of the attack.
    let failures = 0;
    for (let i = 0; failures < 40; i++) {
      const res = await httpLogin(gw, SPELLINGS[i % SPELLINGS.length], `guess-${i}`, ATTACKER);
      if (res.status === 429) clock.advance(res.retry!);
      else {
        assertEquals(res.status, 401);
        failures++;
      }
    }
    for (let i = 0; i < 50; i++) {
      if ((await httpLogin(gw, ADMIN.address, `one-more-${i}`, ATTACKER)).status === 429) break;
    }
    // The owner, elsewhere, signs in on every protocol.
    assertEquals((await httpLogin(gw, ADMIN.address, ADMIN.password, OWNER)).status, 200);
    assert((await imap(ADMIN.address, ADMIN.password)).startsWith("a1 OK"));
    assert((await pop3(ADMIN.address, ADMIN.password)).startsWith("+OK"));
    assert((await smtp(ADMIN.address, ADMIN.password)).startsWith("235 "));
  });
});

Deno.test("issue15#2: a failing source waits a delay that doubles per failure, capped", async () => {
  const { gw, clock } = await gateway({
    loginFailuresBeforeDelay: 3,
    loginDelaySeconds: 2,
    loginMaxDelaySeconds: 20,
  });
  try {
    for (let i = 0; i < 3; i++) {
      assertEquals((await httpLogin(gw, ADMIN.address, "nope", ATTACKER)).status, 401);
    }
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      // Refused at once, even with the right password, until the delay has passed.
      const held = await httpLogin(gw, ADMIN.address, ADMIN.password, ATTACKER);
      assertEquals(held.status, 429);
      seen.push(held.retry!);
      clock.advance(held.retry!);
      assertEquals((await httpLogin(gw, ADMIN.address, "nope", ATTACKER)).status, 401);
    }
    assertEquals(seen, [2, 4, 8, 16, 20, 20]);
    // The right password after the delay signs in and clears the pair's count.
    clock.advance(20);
    assertEquals((await httpLogin(gw, ADMIN.address, ADMIN.password, ATTACKER)).status, 200);
    assertEquals((await httpLogin(gw, ADMIN.address, "nope", ATTACKER)).status, 401);
  } finally {
    gw.close();
  }
});

Deno.test("issue15#2: guesses sent in parallel get no more than the free tries", async () => {
  const { gw } = await gateway();
  try {
    // Checked-then-counted, all 15 would pass the check before the first one is counted.
    const answers = await Promise.all(
      Array.from({ length: 15 }, (_, i) => httpLogin(gw, ADMIN.address, `burst-${i}`, ATTACKER)),
    );
    const statuses = answers.map((a) => a.status).sort();
    assertEquals(statuses, [...Array(5).fill(401), ...Array(10).fill(429)]);
    assertEquals((await httpLogin(gw, ADMIN.address, ADMIN.password, ATTACKER)).status, 429);
    assertEquals((await httpLogin(gw, ADMIN.address, ADMIN.password, OWNER)).status, 200);
    // Right passwords sent at once (a client opening several connections) are all let in, and
    // give their counts back.
    const owner = await Promise.all(
      Array.from({ length: 5 }, () => httpLogin(gw, ADMIN.address, ADMIN.password, OWNER)),
    );
    assertEquals(owner.map((a) => a.status), Array(5).fill(200));
    for (let i = 0; i < 4; i++) {
      assertEquals((await httpLogin(gw, ADMIN.address, "typo", OWNER)).status, 401);
    }
    assertEquals((await httpLogin(gw, ADMIN.address, ADMIN.password, OWNER)).status, 200);
  } finally {
    gw.close();
  }
});

Deno.test("issue15#2: a source failing across many accounts is delayed for all of them", async () => {
  const { gw, clock } = await gateway({ loginIpFailuresBeforeDelay: 6 });
  try {
    for (let i = 0; i < 6; i++) {
      const res = await httpLogin(gw, `user${i}@postern.test`, "spray", ATTACKER);
      assertEquals(res.status, 401);
    }
    const held = await httpLogin(gw, ADMIN.address, ADMIN.password, ATTACKER);
    assertEquals(held.status, 429);
    assertEquals((await httpLogin(gw, ADMIN.address, ADMIN.password, OWNER)).status, 200);
    clock.advance(held.retry!);
    assertEquals((await httpLogin(gw, ADMIN.address, ADMIN.password, ATTACKER)).status, 200);
  } finally {
    gw.close();
  }
});

Deno.test("issue15#2: IPv6 sources are counted per /64, IPv4-mapped as IPv4", async () => {
  const { gw } = await gateway();
  try {
    for (let i = 1; i <= 5; i++) {
      assertEquals((await httpLogin(gw, ADMIN.address, "x", `2001:db8:0:7::${i}`)).status, 401);
    }
    // Another address of the same /64 waits; the next /64 does not.
    assertEquals(
      (await httpLogin(gw, ADMIN.address, ADMIN.password, "2001:db8:0:7:abcd::99")).status,
      429,
    );
    assertEquals(
      (await httpLogin(gw, ADMIN.address, ADMIN.password, "2001:db8:0:8::1")).status,
      200,
    );
    for (let i = 0; i < 5; i++) {
      assertEquals((await httpLogin(gw, ADMIN.address, "x", "::ffff:203.0.113.9")).status, 401);
    }
    assertEquals((await httpLogin(gw, ADMIN.address, ADMIN.password, "203.0.113.9")).status, 429);
  } finally {
    gw.close();
  }
});

Deno.test("issue15#2: the last-resort account lock trips across many sources, and can be off", async () => {
  const sources = (n: number) => Array.from({ length: n }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
  {
    const { gw, clock } = await gateway({
      loginAccountLockFailures: 30,
      loginAccountLockSeconds: 60,
    });
    try {
      for (const ip of sources(30)) {
        assertEquals((await httpLogin(gw, ADMIN.address, "botnet", ip)).status, 401);
      }
      // Locked for everyone, the owner included, on every spelling.
      const locked = await httpLogin(gw, ` ${ADMIN.address}`, ADMIN.password, OWNER);
      assertEquals(locked.status, 429);
      assert(locked.retry! > 0 && locked.retry! <= 60, `Retry-After ${locked.retry}`);
      clock.advance(61);
      assertEquals((await httpLogin(gw, ADMIN.address, ADMIN.password, OWNER)).status, 200);
    } finally {
      gw.close();
    }
  }
  {
    const { gw } = await gateway({ loginAccountLockFailures: 0 });
    try {
      for (const ip of sources(60)) {
        assertEquals((await httpLogin(gw, ADMIN.address, "botnet", ip)).status, 401);
      }
      assertEquals((await httpLogin(gw, ADMIN.address, ADMIN.password, OWNER)).status, 200);
    } finally {
      gw.close();
    }
  }
});

Deno.test("issue15#2: the throttle's old setting names still set the new fields", async () => {
  const { parseConfig } = await import("../../src/config.ts");
  const env = parseConfig({
    POSTERN_LOGIN_MAX_FAILURES_PER_ACCOUNT: "7",
    POSTERN_LOGIN_MAX_FAILURES_PER_IP: "70",
    POSTERN_LOGIN_LOCK_SECONDS: "600",
  });
  assert(env.ok);
  assertEquals(
    [env.config.loginFailuresBeforeDelay, env.config.loginIpFailuresBeforeDelay],
    [7, 70],
  );
  assertEquals(env.config.loginMaxDelaySeconds, 600);
  // The new name wins over the old one; a config file's old keys are read too.
  const both = parseConfig({
    POSTERN_LOGIN_FAILURES_BEFORE_DELAY: "3",
    POSTERN_LOGIN_MAX_FAILURES_PER_ACCOUNT: "7",
  }, { loginLockSeconds: 120, loginAccountLockFailures: 0 });
  assert(both.ok);
  assertEquals(
    [both.config.loginFailuresBeforeDelay, both.config.loginMaxDelaySeconds],
    [3, 120],
  );
  assertEquals(both.config.loginAccountLockFailures, 0);
});

Deno.test("issue15#2: the throttle's source of an address (IPv4, IPv4-mapped, IPv6 /64, junk)", async () => {
  const { throttleSource } = await import("../../src/auth/throttle_source.ts");
  const cases: [string, string][] = [
    ["192.0.2.1", "192.0.2.1"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["::FFFF:c000:0201", "192.0.2.1"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["[2001:DB8:0:0:ffff::]", "2001:db8:0:0::/64"],
    ["2001:db8:0:1::1", "2001:db8:0:1::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["64:ff9b::192.0.2.1", "64:ff9b:0:0::/64"],
    ["2001:db8::1::2", "2001:db8::1::2"],
    ["1.2.3.999", "1.2.3.999"],
    ["unknown", "unknown"],
  ];
  assertEquals(cases.map(([ip]) => [ip, throttleSource(ip)]), cases);
});
