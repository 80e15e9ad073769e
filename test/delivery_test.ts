import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, BOB, createTestGateway, DOMAIN } from "./fixtures/app.ts";
import { deliver } from "../src/services/delivery.ts";
import { schema } from "../src/store/store.ts";
import { eq } from "drizzle-orm";

const enc = new TextEncoder();
function rfc5322(opts: { messageId?: string; subject?: string; body?: string; to?: string } = {}) {
  return enc.encode([
    `From: Sender <sender@remote.example>`,
    `To: ${opts.to ?? ALICE.address}`,
    `Subject: ${opts.subject ?? "Hello"}`,
    `Date: Sun, 29 Nov 2026 10:00:00 +0000`,
    ...(opts.messageId === undefined
      ? [`Message-ID: <m1@remote.example>`]
      : opts.messageId
      ? [`Message-ID: ${opts.messageId}`]
      : []),
    `MIME-Version: 1.0`,
    `Content-Type: text/plain; charset=utf-8`,
    ``,
    opts.body ?? `Hi Alice,\r\nthis is a test.`,
    ``,
  ].join("\r\n"));
}

async function inboxCount(gw: Awaited<ReturnType<typeof createTestGateway>>, address: string) {
  const [account] = await gw.deps.store.db.select().from(schema.accounts).where(
    eq(schema.accounts.address, address),
  );
  const rows = await gw.deps.store.db.select().from(schema.messages).where(
    eq(schema.messages.accountId, account.id),
  );
  return rows.length;
}

Deno.test("the pipeline delivers once: the same Message-ID and content twice is stored once", async () => {
  const gw = await createTestGateway();
  const msg = {
    raw: rfc5322(),
    mailFrom: "sender@remote.example",
    recipients: [ALICE.address],
    source: "smtp" as const,
  };
  const first = await deliver(gw.deps, msg);
  assertEquals(first[0].status, "delivered");
  const second = await deliver(gw.deps, msg);
  assertEquals(second[0].status, "duplicate");
  assertEquals(second[0].messageId, first[0].messageId);
  assertEquals(await inboxCount(gw, ALICE.address), 1);
  const blobs = await gw.deps.store.db.select().from(schema.blobs);
  assertEquals(blobs.length, 1);
  gw.close();
});

Deno.test("plus-addressing, aliases and the catch-all reach the right accounts", async () => {
  const gw = await createTestGateway();
  const db = gw.deps.store.db;
  const [dom] = await db.select().from(schema.domains);
  await db.insert(schema.aliases).values({
    domainId: dom.id,
    address: `team@${DOMAIN}`,
    addressKey: `team@${DOMAIN}`,
    targets: JSON.stringify([ALICE.address, BOB.address, "ext@remote.example"]),
  });
  const results = await deliver(gw.deps, {
    raw: rfc5322({ messageId: "<m2@remote.example>" }),
    mailFrom: "sender@remote.example",
    recipients: [
      `alice+news@${DOMAIN}`,
      `team@${DOMAIN}`,
      `nobody@${DOMAIN}`,
      "someone@elsewhere.example",
    ],
    source: "smtp",
  });
  assertEquals(results.map((r) => r.status), ["delivered", "delivered", "rejected", "rejected"]);
  assertEquals(results[2].code, "no_such_recipient");
  assertEquals(results[3].code, "relay_denied");
  assertEquals(await inboxCount(gw, ALICE.address), 1, "alice gets one copy for two addresses");
  assertEquals(await inboxCount(gw, BOB.address), 1);
  const queued = await db.select().from(schema.outbox);
  assertEquals(
    queued.map((q) => q.rcptTo),
    ["ext@remote.example"],
    "the remote alias target is queued",
  );

  const [bob] = await db.select().from(schema.accounts).where(
    eq(schema.accounts.address, BOB.address),
  );
  await db.update(schema.domains).set({ catchAllAccountId: bob.id });
  const caught = await deliver(gw.deps, {
    raw: rfc5322({ messageId: "<m3@remote.example>" }),
    mailFrom: "",
    recipients: [`nobody@${DOMAIN}`],
    source: "smtp",
  });
  assertEquals(caught[0].status, "delivered");
  assertEquals(caught[0].accountId, bob.id);
  gw.close();
});

Deno.test("quota and size limits reject without storing anything", async () => {
  const gw = await createTestGateway({ maxMessageBytes: 2048 });
  const big = await deliver(gw.deps, {
    raw: rfc5322({ body: "x".repeat(4096) }),
    mailFrom: "a@remote.example",
    recipients: [ALICE.address],
    source: "smtp",
  });
  assertEquals(big[0].code, "message_too_large");
  await gw.deps.store.db.update(schema.accounts).set({ quotaBytes: 100 }).where(
    eq(schema.accounts.address, ALICE.address),
  );
  const full = await deliver(gw.deps, {
    raw: rfc5322(),
    mailFrom: "a@remote.example",
    recipients: [ALICE.address],
    source: "smtp",
  });
  assertEquals(full[0].code, "quota_exceeded");
  assert(full[0].temporary);
  assertEquals(await inboxCount(gw, ALICE.address), 0);
  assertEquals((await gw.deps.store.db.select().from(schema.blobs)).length, 0);
  gw.close();
});

Deno.test("replies join the thread of the message they answer", async () => {
  const gw = await createTestGateway();
  const a = await deliver(gw.deps, {
    raw: rfc5322({ messageId: "<t1@remote.example>", subject: "Plans" }),
    mailFrom: "",
    recipients: [ALICE.address],
    source: "smtp",
  });
  const reply = enc.encode(
    "From: x@remote.example\r\nTo: alice@postern.test\r\nSubject: Re: Plans\r\nMessage-ID: <t2@remote.example>\r\n" +
      "In-Reply-To: <t1@remote.example>\r\nReferences: <t1@remote.example>\r\n\r\nok\r\n",
  );
  const b = await deliver(gw.deps, {
    raw: reply,
    mailFrom: "",
    recipients: [ALICE.address],
    source: "smtp",
  });
  const rows = await gw.deps.store.db.select().from(schema.messages);
  const byId = new Map(rows.map((r) => [r.id, r]));
  assertEquals(byId.get(a[0].messageId!)!.threadId, byId.get(b[0].messageId!)!.threadId);
  const [thread] = await gw.deps.store.db.select().from(schema.threads);
  assertEquals(thread.messageCount, 2);
  assertEquals(thread.subject, "Plans");
  gw.close();
});
