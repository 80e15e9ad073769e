/**
 * Spam filtering end to end (issue 21 item 1): Python's smtplib talks to the real MX listener,
 * the bridge authenticates mail through a fake DNS server, and the gateway scores it (DNS
 * blocklists through the same fake DNS, content rules, greylisting, the account's classifier),
 * files it (Inbox, Junk, refusal at DATA) and shows the verdict: the X-Spam fields in the raw
 * message and `spam` in its JSON form. Training goes through a real IMAP MOVE (imaplib);
 * thresholds through the REST API.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, BOB, createTestGateway, DOMAIN } from "./fixtures/app.ts";
import {
  type BridgeWorld,
  findStored,
  python,
  startBridgeWorld,
  type StoredMessage,
} from "./fixtures/bridge.ts";
import { type FakeDns, startFakeDns } from "./fixtures/fake_dns.ts";
import { py, startGatewayImap } from "./fixtures/imap_pop3.ts";
import { createResolver } from "../bridge/dns/resolver.ts";
import type { Config } from "../src/config.ts";

const SEND = `
import smtplib, sys, base64
port, helo, sender, rcpt = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
msg = base64.b64decode(sys.argv[5])
with smtplib.SMTP("127.0.0.1", port, local_hostname=helo) as s:
    s.ehlo(helo)
    s.mail(sender)
    code, text = s.rcpt(rcpt)
    if code != 250:
        print("RCPT", code, text.decode())
    else:
        code, text = s.data(msg)
        print("DATA", code, text.decode())
`;

/** Sends `message` over the MX; answers `RCPT <code> <text>` or `DATA <code> <text>`. */
async function send(world: BridgeWorld, from: string, message: string, rcpt = ALICE.address) {
  const b64 = btoa(message);
  return (await python(SEND, [String(world.mxPort), "mail.remote.example", from, rcpt, b64]))
    .trim();
}

const ZONE = {
  // SPF allows loopback and DMARC is published: mail from good.example is aligned.
  "good.example": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  "_dmarc.good.example": { TXT: ["v=DMARC1; p=none"] },
  "other.example": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
};

async function world(dns: FakeDns, config: Partial<Config> = {}) {
  return await startBridgeWorld({
    resolver: createResolver({ servers: [dns.server] }),
    config: {
      hostname: "mx.postern.test",
      dnsServers: dns.server,
      // Tests send from loopback, which is trusted by default.
      spamTrustedNetworks: "",
      ...config,
    },
  });
}

function message(opts: {
  from: string;
  subject: string;
  body: string;
  date?: boolean;
  id?: boolean;
  headers?: string[];
}): string {
  return [
    `From: ${opts.from}`,
    `To: ${ALICE.address}`,
    `Subject: ${opts.subject}`,
    ...(opts.date === false ? [] : [`Date: ${new Date().toUTCString()}`]),
    ...(opts.id === false
      ? []
      : [`Message-ID: <${crypto.randomUUID()}@${opts.from.split("@")[1]}>`]),
    ...(opts.headers ?? []),
    "",
    opts.body,
    "",
  ].join("\r\n");
}

type Stored = StoredMessage & { spam?: StoredMessage["detail"]["spam"] };

async function findSpam(
  world: BridgeWorld,
  subject: string,
  account = ALICE,
): Promise<Stored | undefined> {
  const found = await findStored(world, subject, account);
  return found && { ...found, spam: found.detail.spam };
}

const names = (s: Stored) => s.spam?.tests.map((t) => t.name) ?? [];

Deno.test("issue21#1: a DNSBL-listed client is scored, and refused at DATA above the reject threshold", async () => {
  const dns = await startFakeDns({ ...ZONE, "1.0.0.127.bl.test": { A: ["127.0.0.2"] } });
  const w = await world(dns, { spamDnsblZones: "bl.test=3,clean.test" });
  try {
    const first = await send(
      w,
      "a@good.example",
      message({
        from: "a@good.example",
        subject: "listed but fine",
        body: "Hello Alice, see you tomorrow.",
      }),
    );
    assert(first.startsWith("DATA 250"), first);
    const stored = (await findSpam(w, "listed but fine"))!;
    assertEquals(stored.mailbox, "inbox");
    assert(names(stored).includes("RCVD_IN_BL_TEST"), JSON.stringify(stored.spam));
    assert(!names(stored).includes("RCVD_IN_CLEAN_TEST"), JSON.stringify(stored.spam));
    assert(
      /^X-Spam-Status: No, score=[-0-9.]+ required=5\.0 tests=.*RCVD_IN_BL_TEST/m.test(stored.raw),
      stored.raw,
    );
    assert(/^X-Spam-Score: [-0-9.]+\r$/m.test(stored.raw), stored.raw);
    // Authentication-Results stays on top; the X-Spam fields sit in the receiving hop's block.
    assert(
      stored.raw.startsWith("Authentication-Results: mx.postern.test;"),
      stored.raw.slice(0, 200),
    );
    const blQueries = () => dns.queries.filter((q) => q.name.endsWith("bl.test")).length;
    const asked = blQueries();

    // The domain's administrator lowers the thresholds (admin REST): now past the reject
    // threshold, the listed client gets 550 5.7.1 with the reason, and nothing is stored.
    const admin = await w.gw.login(ADMIN);
    const set = await w.gw.call("PUT", `/v1/domains/${DOMAIN}/spam`, {
      token: admin,
      body: { junkScore: 1, rejectScore: 2 },
    });
    assertEquals(set.status, 200, await set.clone().text());
    assertEquals((await set.json()).effective.rejectScore, 2);
    const user = await w.gw.login(ALICE);
    const notAdmin = await w.gw.call("PUT", `/v1/domains/${DOMAIN}/spam`, {
      token: user,
      body: { rejectScore: 100 },
    });
    assertEquals(notAdmin.status, 403); // not an administrator: domain_admin_required
    const refused = await send(
      w,
      "b@good.example",
      message({
        from: "b@good.example",
        subject: "listed and refused",
        body: "Hello again.",
      }),
    );
    assert(
      /^DATA 550 5\.7\.1 message refused as spam \(score [0-9.]+: RCVD_IN_BL_TEST/.test(refused),
      refused,
    );
    assertEquals(await findSpam(w, "listed and refused"), undefined);
    // The answer was cached for its TTL: the zone was not asked again.
    assertEquals(blQueries(), asked);
  } finally {
    await w.close();
    await dns.close();
  }
});

Deno.test("issue21#1: greylisting answers 451 4.7.1 at RCPT, then accepts the retry after the delay", async () => {
  const dns = await startFakeDns(ZONE);
  const w = await world(dns, { spamGreylist: true, spamGreylistDelaySeconds: 300 });
  // The gateway's clock, moved by the test: a loaded machine cannot make "early" late.
  const clock = w.gw.deps.clock;
  let skew = 0;
  w.gw.deps.clock = { now: () => clock.now() + skew };
  try {
    const msg = message({ from: "c@good.example", subject: "greylisted once", body: "Hi." });
    const first = await send(w, "c@good.example", msg);
    assert(/^RCPT 451 4\.7\.1 /.test(first), first);
    const early = await send(w, "c@good.example", msg);
    assert(/^RCPT 451 4\.7\.1 /.test(early), early); // before the delay: still deferred
    skew += 301_000;
    const retry = await send(w, "c@good.example", msg);
    assert(retry.startsWith("DATA 250"), retry);
    assertEquals((await findSpam(w, "greylisted once"))?.mailbox, "inbox");
    // The triplet passed: no new delay for it; another sender is greylisted afresh.
    assert((await send(w, "c@good.example", msg)).startsWith("DATA 250"));
    assert((await send(w, "d@other.example", msg)).startsWith("RCPT 451"));
    // A sender Alice has written to is exempt.
    const token = await w.gw.login(ALICE);
    const sent = await w.gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: ["friend@other.example"], subject: "hi", text: "hello" },
    });
    assert(sent.ok, await sent.text());
    const friend = message({ from: "friend@other.example", subject: "from a friend", body: "Yo." });
    assert((await send(w, "friend@other.example", friend)).startsWith("DATA 250"));
  } finally {
    await w.close();
    await dns.close();
  }
});

const SPAMMY = (from: string, subject: string) =>
  message({
    from,
    subject,
    date: false,
    id: false,
    headers: ["MIME-Version: 1.0", "Content-Type: text/html; charset=utf-8"],
    body: '<p>Click <a href="http://bit.ly/x1">http://www.mybank.example/login</a> now</p>',
  });

Deno.test("issue21#1: a spammy message lands in Junk with its X-Spam fields and verdict", async () => {
  const dns = await startFakeDns(ZONE);
  const w = await world(dns);
  try {
    const answer = await send(
      w,
      "e@other.example",
      SPAMMY("e@other.example", "WIN A BRAND NEW CAR TODAY"),
    );
    assert(answer.startsWith("DATA 250"), answer);
    const stored = (await findSpam(w, "WIN A BRAND NEW CAR TODAY"))!;
    assertEquals(stored.mailbox, "junk");
    assertEquals(stored.spam?.action, "junk");
    assertEquals(stored.spam?.spam, true);
    for (
      const rule of [
        "MISSING_DATE",
        "MISSING_MID",
        "MIME_HTML_ONLY",
        "SUBJ_ALL_CAPS",
        "URI_SHORTENER",
        "HTML_LINK_MISMATCH",
      ]
    ) assert(names(stored).includes(rule), `${rule}: ${JSON.stringify(stored.spam)}`);
    assert(/^X-Spam-Status: Yes, score=/m.test(stored.raw), stored.raw);
    // A sender's own X-Spam-Status claim is dropped: only ours remains.
    const forged = SPAMMY("e@other.example", "FORGED VERDICT INSIDE").replace(
      "MIME-Version",
      "X-Spam-Status: No, score=-100\r\nMIME-Version",
    );
    assert((await send(w, "e@other.example", forged)).startsWith("DATA 250"));
    const f = (await findSpam(w, "FORGED VERDICT INSIDE"))!;
    assertEquals(f.raw.match(/^X-Spam-Status:/gm)?.length, 1, f.raw);
    assert(!f.raw.includes("score=-100"), f.raw);
  } finally {
    await w.close();
    await dns.close();
  }
});

const IMAP_MOVE = `
import imaplib, sys
port, user, password, subject = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
target = sys.argv[5]
source = sys.argv[6] if len(sys.argv) > 6 else "INBOX"
M = imaplib.IMAP4("127.0.0.1", port)
M.login(user, password)
M.select(source)
typ, data = M.uid("SEARCH", None, "SUBJECT", '"%s"' % subject)
uid = data[0].split()[-1].decode()
typ, data = M.uid("MOVE", uid, target)
print(typ)
M.logout()
`;

Deno.test("issue21#1: an IMAP MOVE into Junk trains the classifier: the next similar message scores higher", async () => {
  const dns = await startFakeDns(ZONE);
  const w = await world(dns, { spamBayesMinMessages: 1 });
  const imap = await startGatewayImap(w.gw);
  const move = async (subject: string, target: string, source?: string) =>
    (await py(IMAP_MOVE, [
      String(imap.port),
      ALICE.address,
      ALICE.password,
      subject,
      target,
      ...(source ? [source] : []),
    ])).trim();
  try {
    const pills = (subject: string) =>
      message({
        from: "pills@other.example",
        subject,
        body: "Cheap pharmacy pills online, discount meds, cheap pills, pharmacy discount.",
      });
    const lunch = (subject: string) =>
      message({
        from: "colleague@good.example",
        subject,
        body: "Shall we have lunch on Thursday? The usual place near the office.",
      });
    assert((await send(w, "pills@other.example", pills("cheap meds 1"))).startsWith("DATA 250"));
    assert((await send(w, "colleague@good.example", lunch("lunch 1"))).startsWith("DATA 250"));
    const before = (await findSpam(w, "cheap meds 1"))!;
    assert(!names(before).some((n) => n.startsWith("BAYES_")), JSON.stringify(before.spam));
    // Spam: into Junk. Ham: into Junk by mistake, then back out (unlearned, learned as ham).
    assertEquals(await move("cheap meds 1", "Junk"), "OK");
    assertEquals(await move("lunch 1", "Junk"), "OK");
    assertEquals(await move("lunch 1", "INBOX", "Junk"), "OK");
    assert((await send(w, "pills@other.example", pills("cheap meds 2"))).startsWith("DATA 250"));
    const after = (await findSpam(w, "cheap meds 2"))!;
    const bayes = after.spam?.tests.find((t) => t.name.startsWith("BAYES_"));
    assert(bayes && bayes.score > 0, JSON.stringify(after.spam));
    assert(after.spam!.score > before.spam!.score, `${after.spam!.score} vs ${before.spam!.score}`);
    // And the ham-like one scores lower than before training.
    assert((await send(w, "colleague@good.example", lunch("lunch 2"))).startsWith("DATA 250"));
    const lunch2 = (await findSpam(w, "lunch 2"))!;
    const hamBayes = lunch2.spam?.tests.find((t) => t.name.startsWith("BAYES_"));
    assert(hamBayes && hamBayes.score < 0, JSON.stringify(lunch2.spam));
  } finally {
    await imap.close();
    await w.close();
    await dns.close();
  }
});

Deno.test("issue21#1: thresholds per account over REST; a sender the user wrote to is never refused", async () => {
  // The client is listed too: every message here scores far above the reject threshold.
  const dns = await startFakeDns({ ...ZONE, "1.0.0.127.bl.test": { A: ["127.0.0.2"] } });
  const w = await world(dns, { spamDnsblZones: "bl.test=10" });
  try {
    const token = await w.gw.login(ALICE);
    const bad = await w.gw.call("PUT", "/v1/spam/settings", {
      token,
      body: { junkScore: 2, rejectScore: 1 },
    });
    assertEquals(bad.status, 422);
    const set = await w.gw.call("PUT", "/v1/spam/settings", {
      token,
      body: { junkScore: 1, rejectScore: 2 },
    });
    assertEquals(set.status, 200, await set.clone().text());
    assertEquals((await set.json()).effective, { enabled: true, junkScore: 1, rejectScore: 2 });
    assertEquals(
      (await (await w.gw.call("GET", "/v1/spam/settings", { token })).json()).own,
      { enabled: null, junkScore: 1, rejectScore: 2 },
    );
    // A stranger's spammy message is refused under Alice's thresholds.
    const stranger = await send(
      w,
      "x@good.example",
      SPAMMY("x@good.example", "STRANGER OFFER HERE"),
    );
    assert(/^DATA 550 5\.7\.1 /.test(stranger), stranger);
    // Alice writes to y@good.example: the same content from y (SPF + DMARC aligned) is kept.
    const sent = await w.gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: ["y@good.example"], subject: "hello", text: "hello" },
    });
    assert(sent.ok, await sent.text());
    const known = await send(w, "y@good.example", SPAMMY("y@good.example", "KNOWN SENDER OFFER"));
    assert(known.startsWith("DATA 250"), known);
    const stored = (await findSpam(w, "KNOWN SENDER OFFER"))!;
    assert(names(stored).includes("KNOWN_SENDER_AUTH"), JSON.stringify(stored.spam));
    // Above the reject threshold even with the bonus, yet filed into Junk, not refused.
    assert(stored.spam!.score >= 2, JSON.stringify(stored.spam));
    assertEquals(stored.mailbox, "junk");
    assertEquals(stored.spam?.action, "junk");
    // The known From without alignment (envelope of another domain, DMARC fails): refused.
    const spoofed = await send(w, "z@other.example", SPAMMY("y@good.example", "SPOOFED KNOWN"));
    assert(/^DATA 550 5\.7\.1 /.test(spoofed), spoofed);
    // Off for the account: no verdict at all.
    await w.gw.call("PUT", "/v1/spam/settings", { token, body: { enabled: false } });
    assert(
      (await send(w, "x@good.example", SPAMMY("x@good.example", "UNSCORED NOW"))).startsWith(
        "DATA 250",
      ),
    );
    assertEquals((await findSpam(w, "UNSCORED NOW"))?.spam, undefined);
  } finally {
    await w.close();
    await dns.close();
  }
});

const SEND_TWO = `
import smtplib, sys, base64
port, sender, first, second = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
with smtplib.SMTP("127.0.0.1", port, local_hostname="mail.remote.example") as s:
    s.ehlo("mail.remote.example")
    s.mail(sender)
    for rcpt in (first, second):
        code, text = s.rcpt(rcpt)
        assert code == 250, (rcpt, code, text)
    code, text = s.data(base64.b64decode(sys.argv[5]))
    print("DATA", code, text.decode())
`;

Deno.test("issue21#1: one DATA reply for two recipients: a refusal for one becomes its Junk copy, both refusing gets 550", async () => {
  // RFC 5321 section 4.1.1.4: one reply for all recipients. Alice refuses what Bob accepts: the
  // message is taken (250), and Alice's copy is filed into her Junk rather than bounced.
  const dns = await startFakeDns({ ...ZONE, "1.0.0.127.bl.test": { A: ["127.0.0.2"] } });
  const w = await world(dns, { spamDnsblZones: "bl.test=10" });
  const sendTwo = async (subject: string) =>
    (await python(SEND_TWO, [
      String(w.mxPort),
      "x@good.example",
      ALICE.address,
      BOB.address,
      btoa(SPAMMY("x@good.example", subject)),
    ])).trim();
  try {
    const thresholds = async (who: typeof ALICE, rejectScore: number) => {
      const set = await w.gw.call("PUT", "/v1/spam/settings", {
        token: await w.gw.login(who),
        body: { junkScore: 1, rejectScore },
      });
      assertEquals(set.status, 200, await set.clone().text());
    };
    await thresholds(ALICE, 2);
    await thresholds(BOB, 100);
    const mixed = await sendTwo("MIXED VERDICTS");
    assert(mixed.startsWith("DATA 250"), mixed);
    const alice = (await findSpam(w, "MIXED VERDICTS", ALICE))!;
    assertEquals(alice.mailbox, "junk");
    assertEquals(alice.spam?.action, "junk");
    assert(alice.spam!.score >= 2, JSON.stringify(alice.spam));
    assert(/^X-Spam-Status: Yes, /m.test(alice.raw), alice.raw.slice(0, 600));
    const bob = (await findSpam(w, "MIXED VERDICTS", BOB))!;
    assertEquals(bob.mailbox, "junk");
    assertEquals(bob.spam?.action, "junk");

    // Both refuse: the single reply can say it, and nothing is stored.
    await thresholds(BOB, 2);
    const refused = await sendTwo("BOTH REFUSE");
    assert(/^DATA 550 5\.7\.1 message refused as spam/.test(refused), refused);
    assertEquals(await findSpam(w, "BOTH REFUSE", ALICE), undefined);
    assertEquals(await findSpam(w, "BOTH REFUSE", BOB), undefined);
  } finally {
    await w.close();
    await dns.close();
  }
});

Deno.test("issue21#1: per-sender rate limit: 451 4.7.1 past the hourly count, counted in the store", async () => {
  const dns = await startFakeDns(ZONE);
  const w = await world(dns, { spamSenderPerHour: 2 });
  try {
    for (const n of [1, 2]) {
      const ok = await send(
        w,
        "bulk@good.example",
        message({
          from: "bulk@good.example",
          subject: `bulk ${n}`,
          body: "Hello.",
        }),
      );
      assert(ok.startsWith("DATA 250"), ok);
    }
    const third = await send(
      w,
      "bulk@good.example",
      message({
        from: "bulk@good.example",
        subject: "bulk 3",
        body: "Hello.",
      }),
    );
    assert(/^DATA 451 4\.7\.1 too many messages from bulk@good\.example/.test(third), third);
    assertEquals(await findSpam(w, "bulk 3"), undefined);
    // Another sender from the same client is not limited by bulk@'s count.
    const other = await send(
      w,
      "solo@good.example",
      message({
        from: "solo@good.example",
        subject: "solo",
        body: "Hi.",
      }),
    );
    assert(other.startsWith("DATA 250"), other);
  } finally {
    await w.close();
    await dns.close();
  }
});

Deno.test("issue 20: the spam read finds rate counters by key, never by scanning the hour's counters", async () => {
  const gw = await createTestGateway();
  try {
    const { SPAM_READ_SQL } = await import("../src/services/spam_verdict.ts");
    const { rawSql } = await import("../src/store/store.ts");
    const plan = await rawSql(gw.deps.store.db).all<{ detail: string }>(
      `EXPLAIN QUERY PLAN ${SPAM_READ_SQL}`,
      ["[]", "[]", "[]", '["s:a@example.org"]', 0],
    );
    const rates = plan.map((r) => String(r.detail)).filter((d) => d.includes("spam_rates"));
    assertEquals(rates.length, 1, JSON.stringify(plan));
    assert(
      /spam_rates USING INDEX sqlite_autoindex_spam_rates_1 \(key=\?\)/.test(rates[0]),
      rates[0],
    );
  } finally {
    gw.close();
  }
});
