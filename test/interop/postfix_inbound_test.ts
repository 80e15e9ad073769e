/**
 * INBOUND interop with real peers on loopback: Postfix relays mail for edge.test into a real
 * `postern serve` (plain ESMTP, and with STARTTLS required by Postfix's SMTP client), swaks talks
 * to Postern's MX and submission ports directly, and an open-relay probe is refused.
 *
 * One `postern serve` for the file (its cases are steps) keeps CI time down; each Postfix case
 * starts its own Postfix. Postern's inbound SPF/DKIM/DMARC checks ask a fake DNS on loopback, so
 * the tests do not depend on the machine's resolver. Needs root, postfix, swaks (with libnet-ssleay-perl) and python3:
 * skipped with a note where they are missing, failed in CI (`CI` set), where .ci/run installs
 * them.
 */
import { assert, assertEquals } from "../fixtures/assert.ts";
import { python } from "../fixtures/bridge.ts";
import { startFakeDns } from "../fixtures/fake_dns.ts";
import {
  assertPeers,
  peerTest,
  type Postfix,
  type PostfixOptions,
  startPostfix,
} from "../fixtures/postfix.ts";
import { HOSTNAME, type Postern, startPostern, swaks } from "./postern.ts";

const ALICE = "alice@edge.test";
const ALICE_PASSWORD = "alice-interop-password-1";
const peers = peerTest(["postfix", "swaks", "python3"]);

type Case = (postern: Postern, token: string) => Promise<void>;
const cases: [string, Case][] = [];
function interop(name: string, fn: Case) {
  cases.push([name, fn]);
}

async function withPostfix(opts: PostfixOptions, fn: (pf: Postfix) => Promise<void>) {
  const pf = await startPostfix(opts);
  try {
    await fn(pf);
  } catch (e) {
    console.error(`postfix log:\n${await pf.log()}\npostqueue -p:\n${await pf.queue()}`);
    throw e;
  } finally {
    await pf.stop();
  }
}

/** The Received fields of a raw message, unfolded, top (newest) first. */
function receivedFields(raw: string): string[] {
  const head = raw.split(/\r?\n\r?\n/, 1)[0].replace(/\r?\n[ \t]+/g, " ");
  return head.split(/\r?\n/).filter((l) => /^received:/i.test(l));
}

type Protocol = "ESMTP" | "ESMTPS";

/** The relayed message carries Postern's trace field on top of Postfix's. */
function assertRelayTrace(raw: string, ours: Protocol, theirs: Protocol) {
  const received = receivedFields(raw);
  assert(received.length >= 2, `two Received fields expected:\n${received.join("\n")}`);
  const [postern, postfix] = received;
  const expected =
    `Received: from mx.legacy.test ([127.0.0.1]) by ${HOSTNAME} (Postern) with ${ours} id `;
  assert(postern.startsWith(expected), `Postern's Received field: ${postern}`);
  assert(
    postfix.includes(` by mx.legacy.test (Postfix) with ${theirs} id `) &&
      postfix.includes(" for <alice@edge.test>;"),
    `Postfix's Received field: ${postfix}`,
  );
}

const sentBy = (log: string, port: number) =>
  new RegExp(
    `to=<alice@edge\\.test>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${port},.*status=sent`,
  ).test(log);

/**
 * Postfix's log once it says the message went to Postern: Postfix writes its `status=sent` line
 * after Postern's 250, so a loaded machine may show Postern's copy before that line (bounded).
 */
async function logOnceSent(pf: { log(): Promise<string> }, port: number): Promise<string> {
  let log = await pf.log();
  for (let i = 0; i < 100 && !sentBy(log, port); i++) {
    await new Promise((r) => setTimeout(r, 100));
    log = await pf.log();
  }
  return log;
}

interop("Postfix relays edge.test into Postern's MX over plain ESMTP", async (postern, token) => {
  await withPostfix({ edgePort: postern.mxPort, relayTls: "none" }, async (pf) => {
    const subject = "relayed by postfix (plain)";
    const sent = await swaks([
      ...["--server", `127.0.0.1:${pf.port}`, "--helo", "client.legacy.test"],
      ...["--from", "zed@legacy.test", "--to", ALICE],
      ...["--h-Subject", subject, "--body", "Hello through Postfix."],
    ]);
    assertEquals(sent.code, 0, sent.out);
    assert(/<- {2}250 2\.0\.0 Ok: queued as/.test(sent.out), sent.out);
    const msg = await postern.waitForSubject(token, subject);
    assertEquals(await postern.mailboxRole(token, msg.mailboxId), "inbox");
    assertEquals(msg.from.address, "zed@legacy.test");
    const raw = await postern.raw(token, msg.id);
    assertRelayTrace(raw, "ESMTP", "ESMTP");
    assert(raw.includes("Hello through Postfix."), raw);
    // Postern checked the relay's SPF (legacy.test allows 127.0.0.1) through the fake DNS.
    assert(/^Authentication-Results: [^\r\n]*(\r\n[ \t][^\r\n]*)*spf=pass/mi.test(raw), raw);
    const log = await logOnceSent(pf, postern.mxPort);
    assert(sentBy(log, postern.mxPort), log);
    assert(!/TLS connection established to 127\.0\.0\.1/.test(log), "no TLS was asked for");
  });
});

const SMTPLIB_TO_POSTFIX = `
import smtplib, sys
port, rcpt, subject = int(sys.argv[1]), sys.argv[2], sys.argv[3]
msg = ("From: Zed <zed@legacy.test>\\r\\nTo: %s\\r\\nSubject: %s\\r\\n"
       "Message-ID: <tls-relay@legacy.test>\\r\\n\\r\\nRelayed over STARTTLS.\\r\\n") % (rcpt, subject)
with smtplib.SMTP("127.0.0.1", port, local_hostname="client.legacy.test") as s:
    s.starttls()
    s.ehlo("client.legacy.test")
    refused = s.sendmail("zed@legacy.test", [rcpt], msg)
    print("SENT", refused)
`;

interop(
  "Postfix relays into Postern with STARTTLS required (smtp_tls_security_level = encrypt)",
  async (postern, token) => {
    await withPostfix({ edgePort: postern.mxPort, relayTls: "encrypt" }, async (pf) => {
      const subject = "relayed by postfix over TLS";
      const out = await python(SMTPLIB_TO_POSTFIX, [String(pf.port), ALICE, subject]);
      assert(out.includes("SENT {}"), out);
      const msg = await postern.waitForSubject(token, subject);
      assertEquals(await postern.mailboxRole(token, msg.mailboxId), "inbox");
      const raw = await postern.raw(token, msg.id);
      // Both hops used TLS: smtplib → Postfix (STARTTLS), Postfix → Postern (required).
      assertRelayTrace(raw, "ESMTPS", "ESMTPS");
      assert(raw.includes("Relayed over STARTTLS."), raw);
      const log = await logOnceSent(pf, postern.mxPort);
      assert(
        /TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: TLSv1\.[23]/.test(log),
        log,
      );
      assert(sentBy(log, postern.mxPort), log);
    });
  },
);

interop(
  "swaks delivers to Postern's MX, in the clear and after STARTTLS",
  async (postern, token) => {
    const common = ["--server", `127.0.0.1:${postern.mxPort}`, "--helo", "swaks.remote.example"];
    const envelope = ["--from", "zed@remote.example", "--to", ALICE];
    const plain = await swaks([...common, ...envelope, "--h-Subject", "swaks plain"]);
    assertEquals(plain.code, 0, plain.out);
    assert(/<- {2}250[- ]STARTTLS/.test(plain.out), plain.out);
    assert(!/<- {2}250[- ]AUTH/.test(plain.out), `the MX offers no AUTH:\n${plain.out}`);
    const tls = await swaks([...common, "-tls", ...envelope, "--h-Subject", "swaks tls"]);
    assertEquals(tls.code, 0, tls.out);
    assert(/TLS started with cipher TLSv1\.[23]/.test(tls.out), tls.out);
    for (const [subject, protocol] of [["swaks plain", "ESMTP"], ["swaks tls", "ESMTPS"]]) {
      const msg = await postern.waitForSubject(token, subject);
      assertEquals(await postern.mailboxRole(token, msg.mailboxId), "inbox");
      const [ours] = receivedFields(await postern.raw(token, msg.id));
      const expected =
        `Received: from swaks.remote.example ([127.0.0.1]) by ${HOSTNAME} (Postern) with ${protocol} id `;
      assert(ours.startsWith(expected), ours);
    }
  },
);

interop(
  "swaks submits with AUTH PLAIN after STARTTLS; AUTH in the clear, bad passwords and no AUTH are refused",
  async (postern, token) => {
    const server = ["--server", `127.0.0.1:${postern.submissionPort}`, "--helo", "laptop.example"];
    const auth = (
      password: string,
    ) => ["--auth", "PLAIN", "--auth-user", ALICE, "--auth-password", password];
    const envelope = ["--from", ALICE, "--to", ALICE];
    const refusedSubject = ["--h-Subject", "must not arrive"];

    const ok = await swaks([
      ...server,
      "-tls",
      ...auth(ALICE_PASSWORD),
      ...envelope,
      ...["--h-Subject", "submitted by swaks"],
    ]);
    assertEquals(ok.code, 0, ok.out);
    assert(/ ~> AUTH PLAIN /.test(ok.out) && /<~ {2}235 2\.7\.0/.test(ok.out), ok.out);
    assert(/<~ {2}250 2\.0\.0/.test(ok.out), ok.out);

    // Before STARTTLS, AUTH is not possible: either it is not offered (swaks gives up) or it is
    // answered 538 5.7.11 (RFC 4954 section 6); no mail is taken.
    const clear = await swaks([...server, ...auth(ALICE_PASSWORD), ...envelope, ...refusedSubject]);
    assert(clear.code !== 0, clear.out);
    assert(!/ 235 /.test(clear.out) && !/-> {2}MAIL FROM/.test(clear.out), clear.out);
    if (/-> {2}AUTH PLAIN/.test(clear.out)) {
      assert(/<\*\* {1,2}538 5\.7\.11/.test(clear.out), clear.out);
    }

    const bad = await swaks([
      ...server,
      "-tls",
      ...auth("wrong-password-123"),
      ...envelope,
      ...refusedSubject,
    ]);
    assertEquals(bad.code, 28, bad.out); // swaks: authentication failed
    assert(/<~\* {1,2}535 5\.7\.8/.test(bad.out), bad.out);

    // No AUTH at all: submission refuses MAIL (530 5.7.0).
    const anon = await swaks([...server, "-tls", ...envelope, ...refusedSubject]);
    assertEquals(anon.code, 23, anon.out); // swaks: MAIL FROM refused
    assert(/<~\* {1,2}530 5\.7\.0/.test(anon.out), anon.out);

    const msg = await postern.waitForSubject(token, "submitted by swaks");
    const [ours] = receivedFields(await postern.raw(token, msg.id));
    assert(ours.includes(` by ${HOSTNAME} (Postern) with ESMTPSA id `), ours);
    const subjects = (await postern.messages(token)).map((m) => m.subject);
    assertEquals(subjects.filter((s) => s === "submitted by swaks").length, 1, String(subjects));
    assert(!subjects.includes("must not arrive"), String(subjects));
  },
);

interop(
  "open-relay probe: Postern's MX refuses to relay to other domains (550 5.7.1)",
  async (postern, token) => {
    const probe = (to: string, extra: string[] = []) =>
      swaks([
        ...["--server", `127.0.0.1:${postern.mxPort}`, "--helo", "probe.example"],
        ...["--from", "spammer@probe.example", "--to", to, "--h-Subject", "relay probe"],
        ...extra,
      ]);
    // Plain, after STARTTLS (TLS grants nothing), and with a trailing dot on the domain.
    for (
      const [to, extra] of [
        ["victim@elsewhere.example", []],
        ["victim@elsewhere.example", ["-tls"]],
        ["victim@elsewhere.example.", []],
        ["@edge.test:victim@elsewhere.example", []], // RFC 5321 source route
      ] as [string, string[]][]
    ) {
      const r = await probe(to, extra);
      assertEquals(r.code, 24, r.out); // swaks: every recipient refused
      assert(/<~?\*{1,2} {1,2}550 5\.7\.1 /.test(r.out), r.out);
    }
    // The older relay tricks aim at a local domain: refused as unknown users or bad syntax.
    for (
      const to of [
        "victim%elsewhere.example@edge.test",
        '"victim@elsewhere.example"@edge.test',
        "victim@[127.0.0.1]",
      ]
    ) {
      const r = await probe(to);
      assertEquals(r.code, 24, `${to}\n${r.out}`);
      assert(/<\*\* {1,2}5\d\d 5\.\d\.\d+ /.test(r.out), r.out);
    }
    const subjects = (await postern.messages(token)).map((m) => m.subject);
    assert(!subjects.includes("relay probe"), String(subjects));
  },
);

Deno.test({
  name: "interop: Postfix and swaks against a real postern serve (MX, submission, no open relay)",
  ignore: peers.ignore,
  fn: async (t) => {
    assertPeers(peers.missing);
    const dns = await startFakeDns({
      "legacy.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
      "_dmarc.legacy.test": { TXT: ["v=DMARC1; p=none"] },
      "remote.example": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
    });
    const postern = await startPostern({
      domains: ["edge.test"],
      accounts: { [ALICE]: ALICE_PASSWORD },
      dnsServer: dns.server,
    }).catch(async (e) => {
      await dns.close();
      throw e;
    });
    try {
      const token = await postern.login(ALICE, ALICE_PASSWORD);
      let failed = false;
      for (const [name, fn] of cases) {
        if (!await t.step(name, () => fn(postern, token))) failed = true;
      }
      const log = postern.stderr().trim();
      if (failed && log) console.error(`postern serve stderr:\n${log}`);
    } finally {
      await postern.stop();
      await dns.close();
    }
  },
});
