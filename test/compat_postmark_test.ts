/**
 * Postmark's own SDK (npm `postmark`, pinned in package.json) against a running Postern with
 * only its host changed: `sendEmail`, `sendEmailBatch`, `sendEmailWithTemplate` (by
 * `TemplateAlias` and by `TemplateId`) and `sendEmailBatchWithTemplates` must carry every field
 * into the queued message and its record, and errors must come back as Postmark's
 * {ErrorCode, Message}, which the SDK turns into its own error classes.
 */
import { queuedRaw } from "./fixtures/tx_sent.ts";
import { eq } from "drizzle-orm";
import { Models, ServerClient } from "postmark";
import { listen } from "../hosts/process/serve.ts";
import { splitAddresses } from "../schemas/compat_postmark.ts";
import { schema } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, BOB, createTestGateway, type TestGateway } from "./fixtures/app.ts";

async function setup(gw: TestGateway) {
  const token = await gw.login(ALICE);
  const res = await gw.call("POST", "/v1/api-keys", {
    token,
    body: { name: "postmark", scopes: ["send"] },
  });
  assertEquals(res.status, 201);
  const tpl = await gw.call("POST", "/v1/templates", {
    token,
    body: { name: "welcome", subject: "Hi {{name}}", text: "Welcome, {{name}}!" },
  });
  assertEquals(tpl.status, 201, await tpl.clone().text());
  const listener = await listen((req) => gw.app.fetch(req), { hostname: "127.0.0.1", port: 0 });
  const client = (key: string) =>
    new ServerClient(key, { useHttps: false, requestHost: `127.0.0.1:${listener.port}` });
  return { key: (await res.json()).key as string, listener, client };
}

Deno.test("issue19#1: Postmark's SDK sends single, batch and templated email by host alone", async () => {
  const gw = await createTestGateway();
  const { key, listener, client } = await setup(gw);
  try {
    const pm = client(key);
    const sent = await pm.sendEmail({
      From: "Alice Example <alice@postern.test>",
      To: 'carol@remote.test, "Dave, Jr" <dave@remote.test>',
      Cc: "erin@remote.test",
      Bcc: "frank@remote.test",
      ReplyTo: "desk@postern.test",
      Subject: "Order shipped",
      HtmlBody: "<p>Shipped</p>",
      TextBody: "Shipped",
      Tag: "shipping",
      Headers: [{ Name: "X-Order", Value: "42" }],
      Metadata: { order: "42" },
      TrackOpens: false,
      Attachments: [{
        Name: "label.txt",
        Content: btoa("label"),
        ContentType: "text/plain",
        ContentID: null,
      }, {
        Name: "logo.png",
        Content: btoa("png bytes"),
        ContentType: "image/png",
        ContentID: "cid:logo.png",
      }],
      MessageStream: "outbound",
    });
    assertEquals([sent.ErrorCode, sent.Message], [0, "OK"]);
    assert(/^em_/.test(sent.MessageID), sent.MessageID);
    const [message] = await gw.deps.store.db.select().from(schema.txMessages)
      .where(eq(schema.txMessages.id, sent.MessageID));
    assertEquals([JSON.parse(message.tags), JSON.parse(message.metadata)], [["shipping"], {
      order: "42",
    }]);
    const recipients = await gw.deps.store.db.select().from(schema.txRecipients)
      .where(eq(schema.txRecipients.messageId, sent.MessageID));
    assertEquals(recipients.map((r) => r.address).sort(), [
      "carol@remote.test",
      "dave@remote.test",
      "erin@remote.test",
      "frank@remote.test",
    ]);
    const raw = await queuedRaw(gw, sent.MessageID);
    const head = raw.slice(0, raw.indexOf("\r\n\r\n"));
    assert(/^From: "?Alice Example"? <alice@postern\.test>/m.test(head), head);
    assert(/^To: carol@remote\.test, "Dave, Jr" <dave@remote\.test>/m.test(head), head);
    assert(/^Cc: erin@remote\.test/m.test(head) && !/^Bcc:/im.test(head), head);
    assert(/^Reply-To: desk@postern\.test/m.test(head), head);
    assert(/^X-Order: 42/m.test(head) && /^Subject: Order shipped/m.test(head), head);
    assert(raw.includes("label.txt") && raw.includes(btoa("label")), raw);
    // ContentID "cid:logo.png" makes the image inline, Content-ID <logo.png> (issue 19 item 5).
    assert(/Content-ID: <logo\.png>/i.test(raw) && /multipart\/related/i.test(raw), raw);

    const batch = await pm.sendEmailBatch([
      { From: "alice@postern.test", To: "g@remote.test", Subject: "1", TextBody: "one" },
      { From: "alice@postern.test", To: "not an address", Subject: "2", TextBody: "two" },
    ]);
    assertEquals(batch.map((r) => r.ErrorCode), [0, 300]);

    const templated = await pm.sendEmailWithTemplate({
      From: "alice@postern.test",
      To: "h@remote.test",
      TemplateAlias: "welcome",
      TemplateModel: { name: "Hana" },
    });
    assertEquals(templated.ErrorCode, 0);
    const welcome = await queuedRaw(gw, templated.MessageID);
    assert(/^Subject: Hi Hana/m.test(welcome) && welcome.includes("Welcome, Hana!"), welcome);
  } finally {
    await listener.shutdown();
    gw.close();
  }
});

Deno.test("issue19#1: Postmark's SDK reads Postern's errors as Postmark error codes", async () => {
  const gw = await createTestGateway();
  const { key, listener, client } = await setup(gw);
  const failure = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      const err = e as { name: string; code: number; statusCode: number };
      return [err.name, err.code, err.statusCode];
    }
    throw new Error("expected an error");
  };
  try {
    const email = { From: "alice@postern.test", To: "c@remote.test", Subject: "x", TextBody: "x" };
    assertEquals(await failure(client("pst_wrong").sendEmail(email)), [
      "InvalidAPIKeyError",
      10,
      401,
    ]);
    assertEquals(
      (await failure(client(key).sendEmail({ ...email, To: "nobody" })))[1],
      300,
    );
    assertEquals(
      (await failure(
        client(key).sendEmailWithTemplate({
          ...email,
          TemplateAlias: "missing",
          TemplateModel: {},
        }),
      ))[1],
      1101,
    );
    assertEquals((await gw.deps.store.db.select().from(schema.outbox)).length, 0);
  } finally {
    await listener.shutdown();
    gw.close();
  }
});

Deno.test("issue19#1: Postmark's SDK sends by TemplateId and in batches with templates", async () => {
  const gw = await createTestGateway();
  const { key, listener, client } = await setup(gw);
  try {
    const alice = await gw.login(ALICE);
    const save = async (token: string, body: Record<string, unknown>) => {
      const res = await gw.call("POST", "/v1/templates", { token, body });
      assertEquals(res.status, 201, await res.clone().text());
      return await res.json() as { id: number; name: string; version: number };
    };
    const v1 = await save(alice, { name: "receipt", subject: "Receipt {{n}}", text: "old {{n}}" });
    const v2 = await save(alice, { name: "receipt", subject: "Receipt {{n}}", text: "new {{n}}" });
    assert(Number.isInteger(v1.id) && v2.id !== v1.id && v2.version === 2, JSON.stringify(v2));
    const bobs = await save(await gw.login(BOB), { name: "private", subject: "s", text: "b" });

    const pm = client(key);
    // The id of any version names the template; its latest version is rendered.
    const byId = await pm.sendEmailWithTemplate({
      From: "alice@postern.test",
      To: "i@remote.test",
      TemplateId: v1.id,
      TemplateModel: { n: "7" },
    });
    assertEquals(byId.ErrorCode, 0, byId.Message);
    const raw = await queuedRaw(gw, byId.MessageID);
    assert(/^Subject: Receipt 7/m.test(raw) && raw.includes("new 7"), raw);
    const [record] = await gw.deps.store.db.select().from(schema.txMessages)
      .where(eq(schema.txMessages.id, byId.MessageID));
    assertEquals(record.template, "receipt");

    const results = await pm.sendEmailBatchWithTemplates([
      {
        From: "alice@postern.test",
        To: "j@remote.test",
        TemplateId: v2.id,
        TemplateModel: { n: "8" },
        Tag: "batch",
        Metadata: { row: "0" },
      },
      {
        From: "alice@postern.test",
        To: "k@remote.test",
        TemplateAlias: "welcome",
        TemplateModel: { name: "Kim" },
      },
      { From: "alice@postern.test", To: "l@remote.test", TemplateId: 999_999, TemplateModel: {} },
      // Another account's template is not found, as if it did not exist.
      { From: "alice@postern.test", To: "m@remote.test", TemplateId: bobs.id, TemplateModel: {} },
      // A variable the template needs is missing: refused on its own, nothing else is.
      { From: "alice@postern.test", To: "n@remote.test", TemplateId: v1.id, TemplateModel: {} },
    ]);
    assertEquals(results.map((r) => r.ErrorCode), [0, 0, 1101, 1101, 300]);
    assert(results[4].Message.includes("n"), results[4].Message);
    const first = await queuedRaw(gw, results[0].MessageID);
    assert(/^Subject: Receipt 8/m.test(first) && first.includes("new 8"), first);
    const [row] = await gw.deps.store.db.select().from(schema.txMessages)
      .where(eq(schema.txMessages.id, results[0].MessageID));
    assertEquals([JSON.parse(row.tags), JSON.parse(row.metadata)], [["batch"], { row: "0" }]);
    assert((await queuedRaw(gw, results[1].MessageID)).includes("Welcome, Kim!"));

    // Exactly one of TemplateId and TemplateAlias.
    const both = await fetch(`http://127.0.0.1:${listener.port}/email/withTemplate`, {
      method: "POST",
      headers: { "x-postmark-server-token": key, "content-type": "application/json" },
      body: JSON.stringify({
        From: "alice@postern.test",
        To: "o@remote.test",
        TemplateId: v1.id,
        TemplateAlias: "receipt",
        TemplateModel: { n: "1" },
      }),
    });
    assertEquals([both.status, (await both.json()).ErrorCode], [422, 300]);
    assertEquals((await gw.deps.store.db.select().from(schema.txMessages)).length, 3);
  } finally {
    await listener.shutdown();
    gw.close();
  }
});

Deno.test("issue19#1: Postmark's TrackOpens, TrackLinks and MessageStream reach the message", async () => {
  const gw = await createTestGateway({ publicUrl: "https://mail.postern.test" });
  const { key, listener, client } = await setup(gw);
  try {
    const pm = client(key);
    const html = '<html><body><a href="https://shop.example/a">Shop</a></body></html>';
    const email = { From: "alice@postern.test", To: "p@remote.test", Subject: "t", HtmlBody: html };
    const decoded = async (id: string) =>
      (await queuedRaw(gw, id)).replace(/=\r\n/g, "").replace(/=3D/g, "=");

    const tracked = await pm.sendEmail({
      ...email,
      TrackOpens: true,
      TrackLinks: Models.LinkTrackingOptions.HtmlAndText,
    });
    const t = await decoded(tracked.MessageID);
    assert(/src="https:\/\/mail\.postern\.test\/v1\/t\/o\//.test(t), "open pixel added");
    assert(/href="https:\/\/mail\.postern\.test\/v1\/t\/c\//.test(t), "link rewritten");
    // TextOnly: Postern never rewrites text links, and leaves the HTML links alone as asked.
    const plain = await pm.sendEmail({
      ...email,
      TrackOpens: false,
      TrackLinks: Models.LinkTrackingOptions.TextOnly,
    });
    const p = await decoded(plain.MessageID);
    assert(!p.includes("/v1/t/") && p.includes('href="https://shop.example/a"'), p);

    // The default transactional stream adds nothing; the broadcast stream adds RFC 8058
    // one-click unsubscribe.
    const outbound = await pm.sendEmail({ ...email, MessageStream: "outbound" });
    assert(!/^List-Unsubscribe:/m.test(await queuedRaw(gw, outbound.MessageID)));
    const broadcast = await pm.sendEmail({ ...email, MessageStream: "broadcast" });
    const b = await queuedRaw(gw, broadcast.MessageID);
    assert(/^List-Unsubscribe: <https:\/\/mail\.postern\.test\//m.test(b), b);
    assert(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click/m.test(b), b);
    try {
      await pm.sendEmail({ ...email, MessageStream: "newsletters" });
      throw new Error("an unknown stream was accepted");
    } catch (e) {
      const err = e as { code: number; statusCode: number; message: string };
      assertEquals([err.code, err.statusCode], [1235, 422], err.message);
    }

    // Every recipient suppressed: Postmark's "inactive recipient", 406.
    const admin = await gw.login(ADMIN);
    const suppressed = await gw.call("POST", "/v1/domains/postern.test/suppressions", {
      token: admin,
      body: { address: "gone@remote.test" },
    });
    assertEquals(suppressed.status, 201, await suppressed.clone().text());
    try {
      await pm.sendEmail({ ...email, To: "gone@remote.test" });
      throw new Error("a suppressed recipient was accepted");
    } catch (e) {
      assertEquals((e as { code: number }).code, 406, (e as Error).message);
    }
    assertEquals((await gw.deps.store.db.select().from(schema.txMessages)).length, 4);
  } finally {
    await listener.shutdown();
    gw.close();
  }
});

Deno.test("issue19#1: Postmark address lists split at commas outside quotes and brackets", () => {
  assertEquals(splitAddresses('a@x.test, "B, C" <b@x.test>,<d@x.test> , '), [
    "a@x.test",
    '"B, C" <b@x.test>',
    "<d@x.test>",
  ]);
});
