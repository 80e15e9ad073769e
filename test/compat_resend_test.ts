/**
 * Resend's own SDK (npm `resend`, pinned in package.json) against a running Postern, with only
 * its base URL changed: every field it sends must reach the queued message or its timeline,
 * `scheduled_at` must hold the message back, and errors must come back in Resend's shape. Also
 * Postern's own `POST /v1/emails` taking `"Name <addr>"` and a bare string for a list.
 */
import { eq } from "drizzle-orm";
import { Resend } from "resend";
import { listen } from "../hosts/process/serve.ts";
import { blobBytes } from "../src/services/blob_chunks.ts";
import { schema } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, createTestGateway, type TestGateway } from "./fixtures/app.ts";
import { aliceKey } from "./fixtures/tx_sent.ts";

/** The queued copies of a message: outbox rows and the raw message they carry. */
async function queued(gw: TestGateway, emailId: string) {
  const db = gw.deps.store.db;
  const recipients = await db.select().from(schema.txRecipients)
    .where(eq(schema.txRecipients.messageId, emailId));
  const rows = [];
  for (const r of recipients) {
    const [row] = await db.select().from(schema.outbox).where(eq(schema.outbox.id, r.outboxId!));
    rows.push(row);
  }
  const [blob] = await db.select().from(schema.blobs)
    .where(eq(schema.blobs.sha256, rows[0].blobSha256));
  const raw = new TextDecoder().decode(await blobBytes(db, blob));
  return { rows, raw };
}

async function serve(gw: TestGateway) {
  const listener = await listen((req) => gw.app.fetch(req), { hostname: "127.0.0.1", port: 0 });
  return { listener, baseUrl: `http://127.0.0.1:${listener.port}` };
}

Deno.test("issue19#1: Resend's SDK sends, reads, reschedules and cancels by base URL alone", async () => {
  const gw = await createTestGateway();
  const { listener, baseUrl } = await serve(gw);
  try {
    const resend = new Resend(await aliceKey(gw), { baseUrl });
    const at = new Date(Date.now() + 3_600_000);
    at.setMilliseconds(0);
    const payload = {
      from: "Alice Example <alice@postern.test>",
      to: "carol@remote.test",
      cc: ["dave@remote.test"],
      bcc: "erin@remote.test",
      replyTo: "Reply Desk <desk@postern.test>",
      subject: "Your receipt",
      html: "<p>Thanks</p>",
      text: "Thanks",
      headers: { "X-Campaign": "spring" },
      tags: [{ name: "category", value: "receipt" }],
      attachments: [{ filename: "r.txt", content: new TextEncoder().encode("receipt body") }],
      scheduledAt: at.toISOString(),
    };
    const sent = await resend.emails.send(payload, { idempotencyKey: "order-7" });
    assertEquals(sent.error, null, JSON.stringify(sent.error));
    const id = sent.data!.id;
    assert(/^em_[0-9a-f]{24}$/.test(id), id);

    // A retry with the same Idempotency-Key answers with the same id and sends nothing more.
    const again = await resend.emails.send(payload, { idempotencyKey: "order-7" });
    assertEquals(again.data?.id, id);
    assertEquals((await gw.deps.store.db.select().from(schema.txMessages)).length, 1);

    const { rows, raw } = await queued(gw, id);
    assertEquals(rows.map((r) => r.rcptTo).sort(), [
      "carol@remote.test",
      "dave@remote.test",
      "erin@remote.test",
    ]);
    // scheduled_at holds every copy back until then.
    for (const r of rows) assertEquals([r.state, r.nextAttemptAt], ["queued", at.getTime()]);
    const head = raw.slice(0, raw.indexOf("\r\n\r\n"));
    assert(/^From: "?Alice Example"? <alice@postern\.test>/m.test(head), head);
    assert(/^To: carol@remote\.test/m.test(head), head);
    assert(/^Cc: dave@remote\.test/m.test(head), head);
    assert(!/^Bcc:/im.test(head), "Bcc is not written into the message");
    assert(/^Reply-To: "?Reply Desk"? <desk@postern\.test>/m.test(head), head);
    assert(/^Subject: Your receipt/m.test(head), head);
    assert(/^X-Campaign: spring/m.test(head), head);
    assert(raw.includes("<p>Thanks</p>") && raw.includes("r.txt"), raw);
    assert(raw.includes(btoa("receipt body")), "the attachment's bytes");

    const got = await resend.emails.get(id);
    assertEquals(got.error, null);
    assertEquals(
      {
        object: got.data!.object,
        last_event: got.data!.last_event,
        scheduled_at: got.data!.scheduled_at,
        tags: got.data!.tags,
        from: got.data!.from,
        to: got.data!.to,
        cc: got.data!.cc,
        bcc: got.data!.bcc,
        reply_to: got.data!.reply_to,
        html: got.data!.html,
        text: got.data!.text,
      },
      {
        object: "email",
        last_event: "scheduled",
        scheduled_at: at.toISOString(),
        tags: [{ name: "category", value: "receipt" }],
        from: "Alice Example <alice@postern.test>",
        to: ["carol@remote.test"],
        cc: ["dave@remote.test"],
        bcc: ["erin@remote.test"],
        reply_to: ["Reply Desk <desk@postern.test>"],
        html: "<p>Thanks</p>",
        text: "Thanks",
      },
    );

    const later = new Date(at.getTime() + 3_600_000);
    const moved = await resend.emails.update({ id, scheduledAt: later.toISOString() });
    assertEquals(moved.data, { object: "email", id });
    for (const r of (await queued(gw, id)).rows) assertEquals(r.nextAttemptAt, later.getTime());

    const cancelled = await resend.emails.cancel(id);
    assertEquals(cancelled.data, { object: "email", id });
    assertEquals((await resend.emails.get(id)).data?.last_event, "canceled");
    for (const r of (await queued(gw, id)).rows) assertEquals(r.state, "cancelled");

    const batch = await resend.batch.send([
      { from: "alice@postern.test", to: "f@remote.test", subject: "1", text: "one" },
      { from: "alice@postern.test", to: ["g@remote.test"], subject: "2", text: "two" },
    ]);
    assertEquals(batch.error, null, JSON.stringify(batch.error));
    assertEquals(batch.data!.data.length, 2);
    assertEquals((await gw.deps.store.db.select().from(schema.txMessages)).length, 3);
  } finally {
    await listener.shutdown();
    gw.close();
  }
});

Deno.test("issue19#1: Resend's SDK reads Postern's errors in Resend's shape", async () => {
  const gw = await createTestGateway();
  const { listener, baseUrl } = await serve(gw);
  try {
    const bad = await new Resend("pst_not-a-key", { baseUrl }).emails.send({
      from: "alice@postern.test",
      to: "carol@remote.test",
      subject: "x",
      text: "x",
    });
    assertEquals(bad.data, null);
    assert(bad.error!.statusCode === 401 || bad.error!.statusCode === 403, bad.error!.message);
    assert(/api_key/.test(bad.error!.name), bad.error!.name);

    const resend = new Resend(await aliceKey(gw), { baseUrl });
    const invalid = await resend.emails.send({
      from: "not an address",
      to: "carol@remote.test",
      subject: "x",
      text: "x",
    });
    assertEquals([invalid.error?.statusCode, invalid.error?.name], [422, "validation_error"]);
    const vague = await resend.emails.send({
      from: "alice@postern.test",
      to: "carol@remote.test",
      subject: "x",
      text: "x",
      scheduledAt: "in 1 min",
    });
    assertEquals([vague.error?.statusCode, vague.error?.name], [422, "validation_error"]);
    const templated = await resend.emails.send({
      from: "alice@postern.test",
      to: "carol@remote.test",
      template: { id: "welcome" },
    });
    // No template of that name: Resend's not_found, and nothing is sent.
    assertEquals([templated.error?.statusCode, templated.error?.name], [404, "not_found"]);
    const missing = await resend.emails.get("em_000000000000000000000000");
    assertEquals([missing.error?.statusCode, missing.error?.name], [404, "not_found"]);
    assertEquals((await gw.deps.store.db.select().from(schema.outbox)).length, 0);
  } finally {
    await listener.shutdown();
    gw.close();
  }
});

Deno.test('issue19#1: POST /v1/emails takes "Name <addr>" and a single string for a list', async () => {
  const gw = await createTestGateway();
  try {
    const res = await gw.call("POST", "/v1/emails", {
      token: await gw.login(ALICE),
      body: {
        from: "Alice Example <alice@postern.test>",
        to: "Carol <carol@remote.test>",
        replyTo: "desk@postern.test",
        subject: "hi",
        text: "hi",
      },
    });
    const body = await res.json();
    assertEquals(res.status, 201, JSON.stringify(body));
    assertEquals(body.recipients.map((r: { address: string }) => r.address), [
      "carol@remote.test",
    ]);
    const { raw } = await queued(gw, body.emailId);
    assert(/^From: "?Alice Example"? <alice@postern\.test>/m.test(raw), raw);
    assert(/^To: "?Carol"? <carol@remote\.test>/m.test(raw), raw);
    assert(/^Reply-To: desk@postern\.test/m.test(raw), raw);
  } finally {
    gw.close();
  }
});

Deno.test("issue19#1: the OpenAPI document declares the Resend and Postmark surfaces", async () => {
  const gw = await createTestGateway();
  try {
    const doc = await (await gw.call("GET", "/openapi.json")).json();
    const ids = (path: string) =>
      Object.values(doc.paths[path] ?? {}).map((op) => (op as { operationId: string }).operationId);
    assertEquals(ids("/emails").sort(), ["resendListEmails", "resendSendEmail"]);
    assertEquals(ids("/api-keys").sort(), ["resendCreateApiKey", "resendListApiKeys"]);
    assertEquals(ids("/domains").sort(), ["resendCreateDomain", "resendListDomains"]);
    assertEquals(ids("/emails/batch"), ["resendSendBatch"]);
    assertEquals(ids("/emails/{id}").sort(), ["resendGetEmail", "resendUpdateEmail"]);
    assertEquals(ids("/emails/{id}/cancel"), ["resendCancelEmail"]);
    assertEquals(ids("/email"), ["postmarkSendEmail"]);
    assertEquals(ids("/email/batch"), ["postmarkSendEmailBatch"]);
    assertEquals(ids("/email/withTemplate"), ["postmarkSendEmailWithTemplate"]);
    assertEquals(ids("/email/batchWithTemplates"), ["postmarkSendEmailBatchWithTemplates"]);
    assertEquals(ids("/domains/{id}").sort(), [
      "resendDeleteDomain",
      "resendGetDomain",
      "resendUpdateDomain",
    ]);
    assertEquals(ids("/domains/{id}/verify"), ["resendVerifyDomain"]);
    assertEquals(ids("/api-keys/{id}"), ["resendDeleteApiKey"]);
    // Each surface is its own group (tag) in the document.
    const tags = (path: string) =>
      Object.values(doc.paths[path]).flatMap((op) => (op as { tags: string[] }).tags);
    assertEquals([...new Set([...tags("/emails"), ...tags("/domains")])], ["compat-resend"]);
    assertEquals([...new Set(tags("/email/batchWithTemplates"))], ["compat-postmark"]);
    assert(doc.components.securitySchemes.postmarkServerToken, "the Postmark token scheme");
  } finally {
    gw.close();
  }
});
