/**
 * Postmark's own SDK (npm `postmark`, pinned in package.json) against a running Postern with
 * only its host changed: `sendEmail`, `sendEmailBatch` and `sendEmailWithTemplate` must carry
 * every field into the queued message and its record, and errors must come back as Postmark's
 * {ErrorCode, Message}, which the SDK turns into its own error classes.
 */
import { queuedRaw } from "./fixtures/tx_sent.ts";
import { eq } from "drizzle-orm";
import { ServerClient } from "postmark";
import { listen } from "../hosts/process/serve.ts";
import { splitAddresses } from "../schemas/compat_postmark.ts";
import { schema } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, createTestGateway, type TestGateway } from "./fixtures/app.ts";

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

Deno.test("issue19#1: Postmark address lists split at commas outside quotes and brackets", () => {
  assertEquals(splitAddresses('a@x.test, "B, C" <b@x.test>,<d@x.test> , '), [
    "a@x.test",
    '"B, C" <b@x.test>',
    "<d@x.test>",
  ]);
});
