/**
 * Test mode (issue 19 item 5): a test API key (`pst_test_…`) makes every send it carries — the
 * native API, its batch, Resend's and Postmark's SDKs, SMTP relay — go through the live checks and be
 * recorded (`GET /v1/emails`, state `test`) while nothing is delivered locally, copied to Sent,
 * queued, tracked or posted to a webhook. A live key beside it still delivers (so the counts
 * below can fail). Postmark's own test token `POSTMARK_API_TEST` is checked and accepted,
 * nothing sent or recorded.
 */
import { ServerClient } from "postmark";
import { Resend } from "resend";
import { listen } from "../hosts/process/serve.ts";
import { rawSql } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, BOB, createTestGateway, type TestGateway } from "./fixtures/app.ts";
import { python, startBridgeWorld } from "./fixtures/bridge.ts";
import { draftAndSubmit, jmapWorld } from "./fixtures/jmap.ts";

async function newKey(gw: TestGateway, token: string, test: boolean) {
  const res = await gw.call("POST", "/v1/api-keys", {
    token,
    body: { name: test ? "ci" : "live", scopes: ["send", "read"], ...(test ? { test } : {}) },
  });
  assertEquals(res.status, 201, await res.clone().text());
  return (await res.json()) as { key: string; id: number; test: boolean; prefix: string };
}

/** Rows every kind of delivery leaves: mailbox copies, outbox rows, events, webhook posts. */
async function traces(gw: TestGateway) {
  const sql = rawSql(gw.deps.store.db);
  const count = async (table: string) =>
    Number((await sql.get<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))!.n);
  return {
    messages: await count("messages"),
    outbox: await count("outbox"),
    events: await count("tx_events"),
    webhookPosts: await count("tx_webhook_deliveries"),
  };
}

/** Postmark's SDK against the listener, with only its host changed. */
const postmark = (token: string, port: number) =>
  new ServerClient(token, { useHttps: false, requestHost: `127.0.0.1:${port}` });

const NOTHING = { messages: 0, outbox: 0, events: 0, webhookPosts: 0 };

async function world() {
  const gw = await createTestGateway({ webhookAllowPrivate: true });
  const session = await gw.login(ALICE);
  const hook = await gw.call("POST", "/v1/webhooks", {
    token: session,
    body: { url: "http://127.0.0.1:9/hook", events: [] },
  });
  assertEquals(hook.status, 201, await hook.clone().text());
  return {
    gw,
    session,
    test: await newKey(gw, session, true),
    live: await newKey(gw, session, false),
  };
}

Deno.test("issue19#5: test keys are created as such, shown as such, and only the account's", async () => {
  const { gw, session, test, live } = await world();
  try {
    assert(test.key.startsWith("pst_test_") && test.test, JSON.stringify(test));
    assert(!live.key.startsWith("pst_test_") && !live.test);
    assertEquals(test.prefix, test.key.slice(0, 12));
    const { items } = await (await gw.call("GET", "/v1/api-keys", { token: session })).json();
    assertEquals(
      items.map((k: { id: number; test: boolean }) => [k.id, k.test]),
      [[test.id, true], [live.id, false]],
    );
    // Bob sees none of Alice's keys, nor her test sends.
    const bob = await gw.login(BOB);
    assertEquals((await (await gw.call("GET", "/v1/api-keys", { token: bob })).json()).items, []);
    const sent = await (await gw.call("POST", "/v1/emails", {
      token: test.key,
      body: { from: ALICE.address, to: "carol@remote.test", text: "hi" },
    })).json();
    assertEquals((await gw.call("GET", `/v1/emails/${sent.emailId}`, { token: bob })).status, 404);
    const bobList = await (await gw.call("GET", "/v1/emails?status=test", { token: bob })).json();
    assertEquals(bobList.data, []);
  } finally {
    gw.close();
  }
});

Deno.test("issue19#5: a test key's sends are recorded and never delivered; a live key's are", async () => {
  const { gw, test, live } = await world();
  try {
    const body = {
      from: "Alice <alice@postern.test>",
      to: [BOB.address, "carol@remote.test"],
      subject: "Receipt",
      html: '<p><a href="https://shop.example/o/1">order</a></p>',
      text: "order",
      tags: ["receipt"],
      tracking: { opens: true, clicks: true },
      attachments: [{ filename: "r.txt", contentType: "text/plain", content: btoa("receipt") }],
    };
    const res = await gw.call("POST", "/v1/emails", { token: test.key, body });
    assertEquals(res.status, 201, await res.clone().text());
    const sent = await res.json();
    assert(/^em_/.test(sent.emailId));
    assertEquals(sent.id, null);
    assertEquals(sent.recipients, [
      { address: BOB.address, status: "test" },
      { address: "carol@remote.test", status: "test" },
    ]);
    assertEquals(await traces(gw), NOTHING);

    const view = await (await gw.call("GET", `/v1/emails/${sent.emailId}`, { token: test.key }))
      .json();
    assertEquals([view.state, view.subject, view.tags], ["test", "Receipt", ["receipt"]]);
    assertEquals(view.recipients.map((r: { status: string }) => r.status), ["test", "test"]);
    const listed = await (await gw.call("GET", "/v1/emails?status=test", { token: test.key }))
      .json();
    assertEquals(listed.data.map((m: { emailId: string }) => m.emailId), [sent.emailId]);

    // The batch: each item checked and recorded on its own, nothing delivered.
    const batch = await gw.call("POST", "/v1/emails/batch", {
      token: test.key,
      body: [
        { from: ALICE.address, to: "dave@remote.test", text: "one" },
        { from: BOB.address, to: "dave@remote.test", text: "not Alice's address" },
      ],
    });
    assertEquals(batch.status, 200);
    const results = (await batch.json()).results;
    assertEquals(results.map((r: { status: number }) => r.status), [201, 403]);
    assertEquals(results[0].email.recipients, [{ address: "dave@remote.test", status: "test" }]);
    assertEquals(results[1].error.code, "sender_not_allowed");
    assertEquals(await traces(gw), NOTHING);

    // The same send with the live key delivers, queues, times and posts: the counts can move.
    assertEquals((await gw.call("POST", "/v1/emails", { token: live.key, body })).status, 201);
    const after = await traces(gw);
    assert(
      after.messages === 1 && after.outbox === 1 && after.events > 0 && after.webhookPosts > 0,
      JSON.stringify(after),
    );
  } finally {
    gw.close();
  }
});

Deno.test("issue19#5: a test send is refused exactly where a live one is", async () => {
  const { gw, test, live } = await world();
  try {
    const admin = await gw.login(ADMIN);
    const suppressed = await gw.call("POST", "/v1/domains/postern.test/suppressions", {
      token: admin,
      body: { address: "gone@remote.test" },
    });
    assertEquals(suppressed.status, 201, await suppressed.clone().text());
    const ok = { from: ALICE.address, to: ["carol@remote.test"], text: "x" };
    const bad: Record<string, unknown>[] = [
      { ...ok, from: BOB.address },
      { ...ok, to: ["nobody@postern.test"] },
      { ...ok, to: ["gone@remote.test"] },
      { ...ok, text: undefined, template: { name: "missing" } },
      { ...ok, attachments: [{ filename: "a", content: "***not base64***" }] },
      { ...ok, to: ["a@remote.test", "b@remote.test"], unsubscribe: true },
      { ...ok, to: [BOB.address], sendAt: new Date(Date.now() + 3_600_000).toISOString() },
      { ...ok, attachments: [{ filename: "a", blobId: "up_nonexistent" }] },
    ];
    for (const body of bad) {
      const answers = [];
      for (const token of [live.key, test.key]) {
        const res = await gw.call("POST", "/v1/emails", { token, body });
        const problem = await res.json();
        answers.push({ status: res.status, code: problem.code });
      }
      assert(answers[0].status >= 400, JSON.stringify({ body, answers }));
      assertEquals(answers[1], answers[0], JSON.stringify(body));
    }
    assertEquals(await traces(gw), NOTHING);

    // A suppressed recipient beside a good one is answered as live: dropped, the rest recorded.
    const mixed = await (await gw.call("POST", "/v1/emails", {
      token: test.key,
      body: { ...ok, to: ["carol@remote.test", "gone@remote.test"] },
    })).json();
    assertEquals(mixed.recipients, [
      { address: "carol@remote.test", status: "test" },
      { address: "gone@remote.test", status: "suppressed" },
    ]);

    // An Idempotency-Key replays a test send like a live one.
    const headers = { "idempotency-key": "test-mode-1" };
    const first = await gw.call("POST", "/v1/emails", { token: test.key, body: ok, headers });
    const again = await gw.call("POST", "/v1/emails", { token: test.key, body: ok, headers });
    assertEquals([first.status, again.status], [201, 201]);
    assertEquals((await again.json()).emailId, (await first.json()).emailId);
    assertEquals(again.headers.get("idempotent-replayed"), "true");
    assertEquals(await traces(gw), NOTHING);
  } finally {
    gw.close();
  }
});

Deno.test("issue19#5: Resend's and Postmark's SDKs with a test key record without delivering", async () => {
  const { gw, test } = await world();
  const listener = await listen((req) => gw.app.fetch(req), { hostname: "127.0.0.1", port: 0 });
  try {
    const resend = new Resend(test.key, { baseUrl: `http://127.0.0.1:${listener.port}` });
    const r = await resend.emails.send({
      from: "Alice <alice@postern.test>",
      to: "carol@remote.test",
      subject: "via Resend",
      text: "hi",
    });
    assertEquals(r.error, null, JSON.stringify(r.error));
    const pm = postmark(test.key, listener.port);
    const p = await pm.sendEmail({
      From: ALICE.address,
      To: "dave@remote.test",
      Subject: "via Postmark",
      TextBody: "hi",
    });
    assertEquals([p.ErrorCode, p.Message], [0, "OK"]);
    const pb = await pm.sendEmailBatch([
      { From: ALICE.address, To: "erin@remote.test", Subject: "b1", TextBody: "1" },
      { From: BOB.address, To: "erin@remote.test", Subject: "b2", TextBody: "2" },
    ]);
    assertEquals(pb.map((x) => x.ErrorCode === 0), [true, false]);
    assertEquals(await traces(gw), NOTHING);
    const listed = await (await gw.call("GET", "/v1/emails?status=test", { token: test.key }))
      .json();
    assertEquals(
      listed.data.map((m: { subject: string; state: string }) => [m.subject, m.state]).sort(),
      [["b1", "test"], ["via Postmark", "test"], ["via Resend", "test"]],
    );
    assert(listed.data.some((m: { emailId: string }) => m.emailId === r.data!.id));
    // Resend's read answers for a test email too (its recipients; no event, nothing queued).
    const got = await resend.emails.get(r.data!.id);
    assertEquals(got.error, null, JSON.stringify(got.error));
    assertEquals([got.data?.to, got.data?.subject], [["carol@remote.test"], "via Resend"]);
    assert(listed.data.some((m: { emailId: string }) => m.emailId === p.MessageID));
  } finally {
    await listener.shutdown();
    gw.close();
  }
});

Deno.test("issue19#5: Postmark's POSTMARK_API_TEST token is checked and accepted, nothing sent or kept", async () => {
  const { gw } = await world();
  const listener = await listen((req) => gw.app.fetch(req), { hostname: "127.0.0.1", port: 0 });
  try {
    const pm = postmark("POSTMARK_API_TEST", listener.port);
    const sent = await pm.sendEmail({
      From: ALICE.address,
      To: "carol@remote.test",
      Subject: "dry run",
      TextBody: "hi",
    });
    assertEquals([sent.ErrorCode, sent.Message, sent.To], [0, "OK", "carol@remote.test"]);
    assert(sent.MessageID.length > 0);
    const batch = await pm.sendEmailBatch([
      { From: ALICE.address, To: "carol@remote.test", Subject: "1", TextBody: "1" },
      { From: ALICE.address, To: "not an address", Subject: "2", TextBody: "2" },
    ]);
    assertEquals(batch.map((x) => x.ErrorCode === 0), [true, false]);
    // A malformed request is refused as Postmark refuses it, test token or not.
    let refused = 0;
    try {
      await pm.sendEmail({
        From: ALICE.address,
        To: "not an address",
        Subject: "x",
        TextBody: "x",
      });
    } catch (e) {
      refused = (e as { code: number }).code;
    }
    assert(refused > 0, "an invalid To is refused with a Postmark error code");
    const kept = await rawSql(gw.deps.store.db).get<{ n: number }>(
      "SELECT count(*) AS n FROM tx_messages",
    );
    assertEquals(Number(kept!.n), 0);
    assertEquals(await traces(gw), NOTHING);
    // Any other unknown token is still refused.
    const other = await gw.call("POST", "/email", {
      headers: { "x-postmark-server-token": "POSTMARK_API_TESTX" },
      body: { From: ALICE.address, To: "carol@remote.test", TextBody: "x" },
    });
    assertEquals(other.status, 401);
  } finally {
    await listener.shutdown();
    gw.close();
  }
});

const RELAY = `
import smtplib, ssl, sys
port, password, cafile, sender = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
extra = sys.argv[5] + "\\r\\n" if len(sys.argv) > 5 else ""
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
with smtplib.SMTP("127.0.0.1", port) as s:
    s.starttls(context=ctx)
    s.login("apikey", password)
    msg = "From: %s\\r\\nTo: bob@postern.test\\r\\n%sSubject: relayed test\\r\\n\\r\\nvia key\\r\\n" % (sender, extra)
    try:
        s.sendmail(sender, ["bob@postern.test", "far@away.example"], msg)
        print("SENT 250")
    except smtplib.SMTPException as e:
        print("REFUSED", getattr(e, "smtp_code", e))
`;

Deno.test("issue19#5: SMTP relay with a test key records the message and delivers nothing", async () => {
  const bridgeWorld = await startBridgeWorld();
  try {
    const { gw } = bridgeWorld;
    const session = await gw.login(ALICE);
    const test = await newKey(gw, session, true);
    const relay = (sender: string, ...extra: string[]) =>
      python(RELAY, [
        String(bridgeWorld.submissionPort),
        test.key,
        bridgeWorld.certFile,
        sender,
        ...extra,
      ]);
    const out = await relay(ALICE.address);
    assert(out.includes("SENT 250"), out);
    // Checked like a live submission: another account's address is refused.
    const refused = await relay(BOB.address);
    assert(/REFUSED 5\d\d/.test(refused), refused);
    assertEquals(await traces(gw), NOTHING);
    const listed = await (await gw.call("GET", "/v1/emails?status=test", { token: test.key }))
      .json();
    assertEquals(listed.data.length, 1);
    assertEquals(listed.data[0].subject, "relayed test");
    assertEquals(
      listed.data[0].recipients.map((r: { address: string; status: string }) => [
        r.address,
        r.status,
      ]),
      [[BOB.address, "test"], ["far@away.example", "test"]],
    );
    // An Idempotency-Key field works as live: the second submission is answered, not recorded.
    for (let i = 0; i < 2; i++) {
      const again = await relay(ALICE.address, "Idempotency-Key: smtp-test-1");
      assert(again.includes("SENT 250"), again);
    }
    const after = await (await gw.call("GET", "/v1/emails?status=test", { token: test.key }))
      .json();
    assertEquals(after.data.length, 2);
    assertEquals(await traces(gw), NOTHING);
  } finally {
    await bridgeWorld.close();
  }
});

Deno.test("issue19#5: a test key never delivers by another way: drafts are refused, JMAP records", async () => {
  const { gw, test } = await world();
  try {
    const draft = await gw.call("POST", "/v1/drafts", {
      token: test.key,
      body: { from: ALICE.address, to: [BOB.address], subject: "draft", text: "x" },
    });
    assertEquals(draft.status, 201, await draft.clone().text());
    const { id } = await draft.json();
    const sent = await gw.call("POST", `/v1/drafts/${id}/send`, { token: test.key });
    assertEquals(sent.status, 403, await sent.clone().text());
    const t = await traces(gw);
    assertEquals([t.outbox, t.events, t.webhookPosts], [0, 0, 0]);
    assertEquals(t.messages, 1, "only the draft itself");
  } finally {
    gw.close();
  }

  await using w = await jmapWorld();
  const key = await newKey(w.gw, w.alice, true);
  const sub = await draftAndSubmit(w, {
    from: ALICE.address,
    to: [BOB.address, "far@remote.test"],
    subject: "JMAP test send",
    text: "recorded only",
  }, key.key);
  assert(sub.created?.s, JSON.stringify(sub));
  const sql = rawSql(w.gw.deps.store.db);
  const delivered = await sql.get<{ n: number }>(
    "SELECT count(*) AS n FROM messages m JOIN accounts a ON a.id = m.account_id " +
      "WHERE a.address = ? AND m.subject = ?",
    [BOB.address, "JMAP test send"],
  );
  assertEquals(Number(delivered!.n), 0);
  assertEquals(
    Number((await sql.get<{ n: number }>("SELECT count(*) AS n FROM outbox"))!.n),
    0,
  );
  const listed = await (await w.gw.call("GET", "/v1/emails?status=test", { token: key.key }))
    .json();
  assertEquals(listed.data.map((m: { subject: string }) => m.subject), ["JMAP test send"]);
});
