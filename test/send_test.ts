import { assert, assertEquals } from "./fixtures/assert.ts";
import { blobBytes } from "../src/services/blob_chunks.ts";
import { ALICE, BOB, createTestGateway, DOMAIN } from "./fixtures/app.ts";
import { schema } from "../src/store/store.ts";
import { eq } from "drizzle-orm";

Deno.test("send delivers locally with a Sent copy, queues remote recipients, hides Bcc", async () => {
  const gw = await createTestGateway();
  const token = await gw.login(ALICE);
  const res = await gw.call("POST", "/v1/emails", {
    token,
    body: {
      from: { name: "Alice", address: ALICE.address },
      to: [BOB.address, "carol#remote.example"],
      bcc: [`admin@${DOMAIN}`],
      subject: "Lunch?",
      text: "At noon.",
      attachments: [{ filename: "menu.txt", contentType: "text/plain", content: btoa("soup") }],
    },
  });
  assertEquals(res.status, 201, await res.clone().text());
  const out = await res.json();
  assert(/^<[^@]+@postern\.test>$/.test(out.messageId));
  const byAddress = Object.fromEntries(
    out.recipients.map((r: { address: string; status: string }) => [r.address, r.status]),
  );
  assertEquals(byAddress, {
    [BOB.address]: "delivered",
    [`admin@${DOMAIN}`]: "delivered",
    "carol@remote.example": "queued",
  });

  const db = gw.deps.store.db;
  const outbox = await db.select().from(schema.outbox);
  assertEquals(outbox.length, 1);
  assertEquals(outbox[0].state, "queued");
  assertEquals(outbox[0].messageRef, out.id);
  const [sent] = await db.select().from(schema.messages).where(eq(schema.messages.id, out.id));
  assert(sent.seen, "the Sent copy is marked seen");
  const [blob] = await db.select().from(schema.blobs).where(
    eq(schema.blobs.sha256, sent.blobSha256),
  );
  const raw = new TextDecoder().decode(await blobBytes(db, blob));
  assert(!/^bcc:/im.test(raw), "no Bcc header in the sent bytes");
  assert(/^Subject: Lunch\?/m.test(raw));
  const all = await db.select().from(schema.messages);
  assertEquals(all.length, 3, "Sent copy + bob + admin");
  assertEquals(new Set(all.map((m) => m.blobSha256)).size, 1, "one blob shared by every copy");
  gw.close();
});

Deno.test("send refuses bad input and writes nothing", async () => {
  const gw = await createTestGateway();
  const token = await gw.login(ALICE);
  const cases: [unknown, number, string][] = [
    [
      { from: ALICE.address, to: [BOB.address], subject: "x\r\nBcc: victim@example.com" },
      422,
      "validation_failed",
    ],
    [{ from: ALICE.address, to: ["not an address"] }, 422, "validation_failed"],
    [{ from: ALICE.address, to: [] }, 422, "validation_failed"],
    [
      { from: ALICE.address, to: [BOB.address], headers: { "Message-ID": "<x@y>" } },
      422,
      "validation_failed",
    ],
    [
      { from: ALICE.address, to: [BOB.address], headers: { "X-Ok": "a\nb" } },
      422,
      "validation_failed",
    ],
    [{ from: ALICE.address, to: [`ghost@${DOMAIN}`, BOB.address] }, 422, "no_such_recipient"],
    [{ from: BOB.address, to: [BOB.address] }, 403, "sender_not_allowed"],
    [
      { from: ALICE.address, to: [BOB.address], attachments: [{ filename: "a", content: "%%%" }] },
      422,
      "validation_failed",
    ],
  ];
  for (const [body, status, code] of cases) {
    const res = await gw.call("POST", "/v1/emails", { token, body });
    assertEquals(res.status, status, JSON.stringify(body));
    assertEquals((await res.json()).code, code, JSON.stringify(body));
  }
  const malformed = await gw.call("POST", "/v1/emails", {
    token,
    body: "{not json",
    headers: { "content-type": "application/json" },
  });
  assertEquals(malformed.status, 400);
  assertEquals((await malformed.json()).code, "invalid_json");
  const many = await gw.call("POST", "/v1/emails", {
    token,
    body: { from: 5, to: "x", subject: 7 },
  });
  const problem = await many.json();
  assertEquals(many.status, 422);
  assert(problem.errors.length >= 3, "every invalid field is listed");
  assertEquals((await gw.deps.store.db.select().from(schema.messages)).length, 0);
  assertEquals((await gw.deps.store.db.select().from(schema.outbox)).length, 0);
  gw.close();
});

Deno.test("an oversized request body is 413 problem+json", async () => {
  const gw = await createTestGateway({ maxRequestBytes: 2048 });
  const token = await gw.login(ALICE);
  const res = await gw.call("POST", "/v1/emails", {
    token,
    body: { from: ALICE.address, to: [BOB.address], text: "x".repeat(5000) },
  });
  assertEquals(res.status, 413);
  assertEquals((await res.json()).code, "payload_too_large");
  gw.close();
});

Deno.test("drafts: save, read, replace, send (the draft leaves Drafts)", async () => {
  const gw = await createTestGateway();
  const token = await gw.login(ALICE);
  const created = await gw.call("POST", "/v1/drafts", {
    token,
    body: { from: ALICE.address, subject: "Draft 1" },
  });
  assertEquals(created.status, 201);
  const { id } = await created.json();
  const read = await gw.call("GET", `/v1/drafts/${id}`, { token });
  assertEquals((await read.json()).draft.subject, "Draft 1");
  const replaced = await gw.call("PUT", `/v1/drafts/${id}`, {
    token,
    body: { from: ALICE.address, to: [BOB.address], subject: "Draft 2", text: "final" },
  });
  assertEquals(replaced.status, 200);
  const newId = (await replaced.json()).id;
  assertEquals(
    (await gw.call("GET", `/v1/drafts/${id}`, { token })).status,
    404,
    "the old version is gone",
  );
  const bobToken = await gw.login(BOB);
  assertEquals(
    (await gw.call("GET", `/v1/drafts/${newId}`, { token: bobToken })).status,
    404,
    "not bob's",
  );
  const sent = await gw.call("POST", `/v1/drafts/${newId}/send`, { token });
  assertEquals(sent.status, 201);
  assertEquals((await sent.json()).recipients[0].status, "delivered");
  assertEquals((await gw.call("GET", `/v1/drafts/${newId}`, { token })).status, 404);
  const drafts = await gw.deps.store.db.select().from(schema.messages).where(
    eq(schema.messages.draft, true),
  );
  assertEquals(drafts.length, 0);
  gw.close();
});

Deno.test("the SSE stream reports a delivery to the recipient", async () => {
  const gw = await createTestGateway();
  const alice = await gw.login(ALICE);
  const bob = await gw.login(BOB);
  const stream = await gw.call("GET", "/v1/events", { token: bob });
  assertEquals(stream.status, 200);
  assertEquals(stream.headers.get("content-type"), "text/event-stream");
  const reader = stream.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const readUntil = async (needle: string) => {
    while (!text.includes(needle)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
  };
  await readUntil("event: ready");
  await gw.call("POST", "/v1/emails", {
    token: alice,
    body: { from: ALICE.address, to: [BOB.address], subject: "ping" },
  });
  await readUntil("event: message.created");
  assert(text.includes("event: message.created"));
  await reader.cancel();
  gw.close();
});

Deno.test("every answer carries x-request-id (the caller's, else a new one) and nosniff: JSON, problem, plain Response", async () => {
  const gw = await createTestGateway();
  const token = await gw.login(ALICE);
  const sent = await gw.call("POST", "/v1/emails", {
    token,
    headers: { "x-request-id": "req-send-1" },
    body: { from: ALICE.address, to: [BOB.address], subject: "ids", text: "x" },
  });
  assertEquals(sent.status, 201);
  const { id } = await sent.json();
  const answers: [string, Response][] = [
    ["json", sent],
    [
      "problem",
      await gw.call("POST", "/v1/emails", {
        token,
        headers: { "x-request-id": "req-bad" },
        body: {},
      }),
    ],
    ["no auth", await gw.call("GET", "/v1/mailboxes", { headers: { "x-request-id": "req-401" } })],
    [
      "raw",
      await gw.call("GET", `/v1/messages/${id}/raw`, {
        token,
        headers: { "x-request-id": "req-raw" },
      }),
    ],
    ["new id", await gw.call("GET", "/health")],
  ];
  const seen = answers.map(([what, res]) => [
    what,
    res.status,
    res.headers.get("x-request-id"),
    res.headers.get("x-content-type-options"),
  ]);
  await Promise.all(answers.map(([, res]) => res.bodyUsed ? undefined : res.body?.cancel()));
  const fresh = seen.pop()!;
  assertEquals(seen, [
    ["json", 201, "req-send-1", "nosniff"],
    ["problem", 422, "req-bad", "nosniff"],
    ["no auth", 401, "req-401", "nosniff"],
    ["raw", 200, "req-raw", "nosniff"],
  ]);
  assert(/^[0-9a-f-]{36}$/.test(String(fresh[2])), String(fresh[2]));
  assertEquals(fresh[3], "nosniff");
});
