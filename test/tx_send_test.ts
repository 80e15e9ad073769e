/**
 * Transactional sending through the real app: Idempotency-Key (exactly one send under
 * concurrent duplicates, 409 for another body), the batch API, scheduled sends (not claimable
 * before `sendAt`, cancellable, kept across a gateway restart on the same database file) and
 * the status timeline fed by the outbox's results.
 */
import { eq } from "drizzle-orm";
import { buildDeps } from "../hosts/process/deps_node.ts";
import { openStore } from "../hosts/process/open_store.ts";
import { createApp } from "../src/app.ts";
import { parseConfig } from "../src/config.ts";
import { silentLogger } from "../src/ports.ts";
import { createAccount, createDomain } from "../src/services/accounts.ts";
import { schema } from "../src/store/store.ts";
import { purgeExpiredKeys } from "../src/transactional/idempotency.ts";
import { toBase64 } from "../src/crypto.ts";
import { parsedOfRow } from "../src/crypt/sealed_rows.ts";
import { encodeBase64Lines } from "../src/mime/transfer.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, BOB, createTestGateway, DOMAIN, type TestGateway } from "./fixtures/app.ts";

async function bridgeKey(gw: TestGateway): Promise<string> {
  const admin = await gw.login(ADMIN);
  const res = await gw.call("POST", "/v1/api-keys", {
    token: admin,
    body: { name: "bridge", scopes: ["bridge"] },
  });
  return (await res.json()).key;
}

async function claim(gw: TestGateway, key: string, worker = "w1") {
  const res = await gw.call("POST", "/v1/bridge/outbox/claim", {
    token: key,
    body: { worker, limit: 100, leaseSeconds: 60 },
  });
  assertEquals(res.status, 200);
  return (await res.json()).groups.flatMap((g: { items: unknown[] }) => g.items) as {
    id: number;
    rcptTo: string;
    mailFrom: string;
  }[];
}

Deno.test("Idempotency-Key: concurrent duplicates send once and share one response; another body is 409", async () => {
  const gw = await createTestGateway();
  try {
    const token = await gw.login(ALICE);
    const body = { from: ALICE.address, to: ["carol@remote.test"], subject: "Receipt", text: "1" };
    const headers = { "idempotency-key": "order-42" };
    const responses = await Promise.all(
      Array.from({ length: 12 }, () => gw.call("POST", "/v1/emails", { token, body, headers })),
    );
    const bodies = await Promise.all(responses.map((r) => r.json()));
    assertEquals(responses.map((r) => r.status), Array(12).fill(201), JSON.stringify(bodies[0]));
    assertEquals(new Set(bodies.map((b) => b.emailId)).size, 1, "one emailId for all");
    assertEquals(
      responses.filter((r) => r.headers.get("idempotent-replayed") === "true").length,
      11,
    );
    const db = gw.deps.store.db;
    assertEquals((await db.select().from(schema.outbox)).length, 1, "exactly one outbox row");
    assertEquals((await db.select().from(schema.txMessages)).length, 1);
    const sent = await db.select().from(schema.messages);
    assertEquals(sent.length, 1, "one Sent copy");

    // The same key and body later: the first response; another body: 409.
    const again = await gw.call("POST", "/v1/emails", { token, body, headers });
    assertEquals((await again.json()).emailId, bodies[0].emailId);
    const other = await gw.call("POST", "/v1/emails", {
      token,
      body: { ...body, text: "2" },
      headers,
    });
    assertEquals(other.status, 409);
    // Keys are per account: Bob's "order-42" is his own.
    const bob = await gw.login(BOB);
    const bobs = await gw.call("POST", "/v1/emails", {
      token: bob,
      body: { ...body, from: BOB.address },
      headers,
    });
    assertEquals(bobs.status, 201);
    assert((await bobs.json()).emailId !== bodies[0].emailId);

    // After 24 hours the key is forgotten: the same key sends again, even with another body.
    gw.deps.clock = { now: () => Date.now() + 25 * 3_600_000 };
    assertEquals(await purgeExpiredKeys(gw.deps), 2);
    const later = await gw.call("POST", "/v1/emails", {
      token: await gw.login(ALICE),
      body: { ...body, text: "2" },
      headers,
    });
    assertEquals(later.status, 201);
    assert((await later.json()).emailId !== bodies[0].emailId);
  } finally {
    gw.close();
  }
});

/** A separate gateway process on the same database, firing duplicates of one keyed send. */
const SENDER = `
import { buildDeps } from "ROOT/hosts/process/deps_node.ts";
import { openStore } from "ROOT/hosts/process/open_store.ts";
import { createApp } from "ROOT/src/app.ts";
import { parseConfig } from "ROOT/src/config.ts";
import { silentLogger } from "ROOT/src/ports.ts";
const [url, token, body] = Deno.args;
const parsed = parseConfig({});
if (!parsed.ok) throw new Error("config");
const store = await openStore(url);
const app = createApp(await buildDeps({ ...parsed.config, hostname: "postern.test" }, store,
  "test-master-key-0123456789abcdef0123", silentLogger));
const answers = await Promise.all(Array.from({ length: 8 }, async () => {
  const res = await app.request("/v1/emails", {
    method: "POST",
    headers: { authorization: "Bearer " + token, "content-type": "application/json",
      "idempotency-key": "cross-process-1" },
    body,
  });
  if (res.status !== 201) throw new Error("send answered " + res.status + " " + await res.text());
  return (await res.json()).emailId;
}));
store.close();
console.log(JSON.stringify(answers));
`;

Deno.test("Idempotency-Key: duplicates from gateways in separate processes on one database send once", async () => {
  const gw = await createTestGateway();
  try {
    const list = await gw.deps.store.client.execute(
      "SELECT file FROM pragma_database_list WHERE name = 'main'",
    );
    const file = String(list.rows[0].file);
    const token = await gw.login(ALICE);
    const body = JSON.stringify({ from: ALICE.address, to: ["z@remote.test"], text: "once" });
    const root = new URL("../", import.meta.url).href.replace(/\/$/, "");
    const outputs = await Promise.all([1, 2, 3].map(() =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", "--ext=ts", SENDER.replaceAll("ROOT", root), `file:${file}`, token, body],
        cwd: new URL("../", import.meta.url).pathname,
        stdout: "piped",
        stderr: "piped",
      }).output()
    ));
    const ids = outputs.flatMap((out) => {
      assert(out.success, new TextDecoder().decode(out.stderr));
      return JSON.parse(new TextDecoder().decode(out.stdout)) as string[];
    });
    assertEquals(ids.length, 24);
    assertEquals(new Set(ids).size, 1, "every process answered with the first send's id");
    const db = gw.deps.store.db;
    assertEquals((await db.select().from(schema.outbox)).length, 1, "one outbox row");
    assertEquals((await db.select().from(schema.txMessages)).length, 1, "one message");
  } finally {
    gw.close();
  }
});

Deno.test("batch: each item on its own; a retried batch with its key sends nothing twice", async () => {
  const gw = await createTestGateway();
  try {
    const token = await gw.login(ALICE);
    const items = [
      { from: ALICE.address, to: ["a@remote.test"], subject: "one", text: "x", tags: ["welcome"] },
      { from: BOB.address, to: ["b@remote.test"], subject: "not hers", text: "x" },
      { from: ALICE.address, to: [BOB.address], subject: "local", text: "x" },
    ];
    const headers = { "idempotency-key": "batch-1" };
    const res = await gw.call("POST", "/v1/emails/batch", { token, body: items, headers });
    assertEquals(res.status, 200);
    const out = await res.json();
    assertEquals(out.results.map((r: { status: number }) => r.status), [201, 403, 201]);
    assertEquals({ accepted: out.accepted, refused: out.refused }, { accepted: 2, refused: 1 });
    assertEquals(out.results[2].email.recipients, [{ address: BOB.address, status: "delivered" }]);

    const retry = await gw.call("POST", "/v1/emails/batch", { token, body: items, headers });
    assertEquals(retry.headers.get("idempotent-replayed"), "true");
    assertEquals(await retry.json(), out);
    assertEquals((await gw.deps.store.db.select().from(schema.txMessages)).length, 2);

    // An attachment uploaded once is sent by its blob id.
    const upload = await gw.call("POST", "/v1/emails/attachments", {
      token,
      body: new TextEncoder().encode("col1,col2\n1,2\n"),
      headers: { "content-type": "application/octet-stream" },
    });
    assertEquals(upload.status, 201);
    const { blobId } = await upload.json();
    const withBlob = await gw.call("POST", "/v1/emails", {
      token,
      body: {
        from: ALICE.address,
        to: [BOB.address],
        text: "see attached",
        attachments: [{ filename: "report.csv", contentType: "text/csv", blobId }],
      },
    });
    assertEquals(withBlob.status, 201, await withBlob.clone().text());
    const [copy] = await gw.deps.store.db.select().from(schema.messages)
      .where(eq(schema.messages.id, (await withBlob.json()).id));
    // deno-lint-ignore no-explicit-any -- the stored JSON
    const parsed = await parsedOfRow<any>(gw.deps.store.db, copy.accountId, copy.parsed);
    assertEquals(
      parsed.attachments.map((a: { filename: string; size: number }) => [a.filename, a.size]),
      [
        ["report.csv", 14],
      ],
    );
    const missingBlob = await gw.call("POST", "/v1/emails", {
      token,
      body: {
        from: ALICE.address,
        to: [BOB.address],
        attachments: [{ filename: "x", blobId: "0".repeat(64) }],
      },
    });
    assertEquals(missingBlob.status, 422);

    const tooMany = await gw.call("POST", "/v1/emails/batch", {
      token,
      body: Array(501).fill(items[0]),
    });
    assertEquals(tooMany.status, 422);
  } finally {
    gw.close();
  }
});

Deno.test("timeline: queued, then delivered or bounced from the outbox's results; local delivered at once", async () => {
  const gw = await createTestGateway();
  try {
    const token = await gw.login(ALICE);
    const key = await bridgeKey(gw);
    const hook = await (await gw.call("POST", "/v1/webhooks", {
      token,
      body: { url: "https://hooks.example.com/tx", events: ["email.sent"] },
    })).json();
    const res = await gw.call("POST", "/v1/emails", {
      token,
      body: {
        from: ALICE.address,
        to: ["ok@remote.test", "gone@remote.test", BOB.address],
        subject: "Hi",
        text: "x",
        metadata: { order: "42" },
      },
    });
    const sent = await res.json();
    const items = await claim(gw, key);
    assertEquals(items.length, 2);
    for (const item of items) {
      const result = item.rcptTo.startsWith("ok")
        ? { worker: "w1", outcome: "sent", message: "250 2.0.0 queued", smtpCode: 250 }
        : {
          worker: "w1",
          outcome: "failed",
          message: "550 5.1.1 no such user",
          smtpCode: 550,
          enhanced: "5.1.1",
        };
      const r = await gw.call("POST", `/v1/bridge/outbox/${item.id}/result`, {
        token: key,
        body: result,
      });
      assertEquals(r.status, 200, await r.clone().text());
    }
    const view = await (await gw.call("GET", `/v1/emails/${sent.emailId}`, { token })).json();
    const status = Object.fromEntries(
      view.recipients.map((r: { address: string; status: string }) => [r.address, r.status]),
    );
    assertEquals(status, {
      "ok@remote.test": "delivered",
      "gone@remote.test": "bounced",
      [BOB.address]: "delivered",
    });
    const gone = view.recipients.find((r: { address: string }) => r.address.startsWith("gone"));
    // `sent` when the transport took it off the queue, then the next hop's answer.
    assertEquals(gone.events.map((e: { type: string }) => e.type), ["queued", "sent", "bounced"]);
    assertEquals(gone.events[1].data.route, "bridge");
    assertEquals(gone.events[2].data.status, "5.1.1");
    const bob = view.recipients.find((r: { address: string }) => r.address === BOB.address);
    assertEquals(bob.events.map((e: { type: string }) => e.type), ["queued", "sent", "delivered"]);
    // The same `sent` events reach webhooks (one per recipient) and analytics.
    const log = (await (await gw.call("GET", `/v1/webhooks/${hook.webhook.id}/deliveries`, {
      token,
    })).json()).deliveries;
    assertEquals(
      log.map((d: { eventType: string; payload: { data: { to: string } } }) => [
        d.eventType,
        d.payload.data.to,
      ]).sort(),
      [
        ["email.sent", BOB.address],
        ["email.sent", "gone@remote.test"],
        ["email.sent", "ok@remote.test"],
      ],
    );
    const stats = (await (await gw.call("GET", "/v1/analytics?groupBy=domain", { token })).json())
      .rows.map((r: Record<string, unknown>) => [r.sent, r.delivered, r.bounced]);
    assertEquals(stats, [[3, 2, 1]]);
    // A hard bounce suppresses the address for the domain: the next send skips it.
    const next = await gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: ["gone@remote.test", "ok@remote.test"], text: "again" },
    });
    assertEquals((await next.json()).recipients, [
      { address: "ok@remote.test", status: "queued" },
      { address: "gone@remote.test", status: "suppressed" },
    ]);
    // The batch API checks the whole batch at once, with the same outcome per item.
    const batch = await (await gw.call("POST", "/v1/emails/batch", {
      token,
      body: [
        { from: ALICE.address, to: ["gone@remote.test"], text: "only the suppressed one" },
        { from: ALICE.address, to: ["ok@remote.test", "GONE@remote.test"], text: "both" },
      ],
    })).json();
    assertEquals(batch.accepted, 1);
    assertEquals(batch.results[0].status, 422);
    assertEquals(batch.results[0].error.code, "recipients_suppressed");
    assertEquals(batch.results[1].email.recipients, [
      { address: "ok@remote.test", status: "queued" },
      { address: "GONE@remote.test", status: "suppressed" },
    ]);
    const other = await gw.call("GET", `/v1/emails/${sent.emailId}`, {
      token: await gw.login(BOB),
    });
    assertEquals(other.status, 404, "another account's message is not found");
  } finally {
    gw.close();
  }
});

async function openGateway(url: string, clock: { now(): number }, seed: boolean) {
  const parsed = parseConfig({});
  if (!parsed.ok) throw new Error(parsed.problems.join("; "));
  const store = await openStore(url);
  const deps = await buildDeps(
    { ...parsed.config, hostname: DOMAIN },
    store,
    "test-master-key-0123456789abcdef0123",
    silentLogger,
  );
  deps.clock = clock;
  if (seed) {
    await createDomain(store, DOMAIN);
    for (const who of [{ ...ADMIN, role: "admin" as const }, ALICE]) {
      await createAccount(store, who, { quotaBytes: 0, nowMs: Date.now() });
    }
  }
  const app = createApp(deps);
  const call = async (method: string, path: string, token?: string, body?: unknown) =>
    await app.request(path, {
      method,
      headers: {
        "content-type": "application/json",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const login = async (who: { address: string; password: string }) =>
    (await (await call("POST", "/v1/auth/login", undefined, who)).json()).accessToken as string;
  return { deps, store, call, login };
}

Deno.test("scheduled sends wait for sendAt across a gateway restart; cancel works before, not after", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-tx-" });
  const url = `file:${dir}/postern.db`;
  let now = Date.parse("2030-01-01T10:00:00Z");
  const clock = { now: () => now };
  const first = await openGateway(url, clock, true);
  const token = await first.login(ALICE);
  const adminToken = await first.login(ADMIN);
  const bridge = (await (await first.call("POST", "/v1/api-keys", adminToken, {
    name: "bridge",
    scopes: ["bridge"],
  })).json()).key;
  const sendAt = "2030-01-01T12:00:00Z";
  const one = await (await first.call("POST", "/v1/emails", token, {
    from: ALICE.address,
    to: ["later@remote.test"],
    subject: "Later",
    text: "x",
    sendAt,
  })).json();
  assertEquals(one.recipients, [{ address: "later@remote.test", status: "scheduled" }]);
  assertEquals(one.sendAt, new Date(sendAt).toISOString());
  const two = await (await first.call("POST", "/v1/emails", token, {
    from: ALICE.address,
    to: ["never@remote.test"],
    text: "x",
    sendAt,
  })).json();
  const local = await first.call("POST", "/v1/emails", token, {
    from: ALICE.address,
    to: [ADMIN.address],
    text: "x",
    sendAt,
  });
  assertEquals(local.status, 422, "local recipients cannot be scheduled");
  const claimBody = { worker: "w1", limit: 10, leaseSeconds: 60 };
  const early = await (await first.call("POST", "/v1/bridge/outbox/claim", bridge, claimBody))
    .json();
  assertEquals(early.groups, [], "nothing is claimable before sendAt");
  const cancelled = await first.call("POST", `/v1/emails/${two.emailId}/cancel`, token);
  assertEquals(cancelled.status, 200);
  assertEquals((await cancelled.json()).state, "cancelled");
  first.store.close();

  // A new gateway process on the same file, after sendAt.
  now = Date.parse("2030-01-01T12:00:01Z");
  const second = await openGateway(url, clock, false);
  try {
    const due = await (await second.call("POST", "/v1/bridge/outbox/claim", bridge, claimBody))
      .json();
    const items = due.groups.flatMap((g: { items: { rcptTo: string }[] }) => g.items);
    assertEquals(items.map((i: { rcptTo: string }) => i.rcptTo), ["later@remote.test"]);
    const fresh = await second.login(ALICE); // two hours later: the first token has expired
    const tooLate = await second.call("POST", `/v1/emails/${one.emailId}/cancel`, fresh);
    assertEquals(tooLate.status, 409, "a message being sent cannot be cancelled");
    const rows = await second.store.db.select().from(schema.outbox)
      .where(eq(schema.outbox.rcptTo, "never@remote.test"));
    assertEquals(rows[0].state, "cancelled");
  } finally {
    second.store.close();
  }
});

Deno.test("an API key's sends keep no Sent copy unless storeSent; a signed-in user's do", async () => {
  const gw = await createTestGateway();
  try {
    const alice = await gw.login(ALICE);
    const created = await gw.call("POST", "/v1/api-keys", {
      token: alice,
      body: { name: "app", scopes: ["send"] },
    });
    const key = (await created.json()).key as string;
    const send = async (token: string, extra: Record<string, unknown> = {}) => {
      const res = await gw.call("POST", "/v1/emails", {
        token,
        body: {
          from: ALICE.address,
          to: ["dora@remote.test"],
          subject: "Order",
          text: "ok",
          ...extra,
        },
      });
      assertEquals(res.status, 201, await res.clone().text());
      return await res.json();
    };
    const db = gw.deps.store.db;
    const sentCopies = async () => (await db.select().from(schema.messages)).length;

    const app = await send(key);
    assertEquals(app.id, null, "no Sent copy for an application's send");
    assertEquals(await sentCopies(), 0);
    // The transactional record and the queued recipient are there all the same.
    const view = await (await gw.call("GET", `/v1/emails/${app.emailId}`, { token: key })).json();
    assertEquals(view.recipients.map((r: { address: string }) => r.address), ["dora@remote.test"]);
    const [row] = await db.select().from(schema.outbox);
    assertEquals([row.rcptTo, row.messageRef], ["dora@remote.test", null]);

    const kept = await send(key, { storeSent: true });
    assert(typeof kept.id === "number", "storeSent keeps a copy");
    const person = await send(alice);
    assert(typeof person.id === "number", "a signed-in user's send keeps its Sent copy");
    assertEquals(await sentCopies(), 2);
    const declined = await send(alice, { storeSent: false });
    assertEquals(declined.id, null);
    assertEquals(await sentCopies(), 2);
  } finally {
    gw.close();
  }
});

Deno.test("issue17#5: attachments by content (decoded before the compose) and by upload arrive byte-exact; an idempotent replay still matches", async () => {
  const gw = await createTestGateway();
  try {
    const token = await gw.login(ALICE);
    // Over a megabyte, in more than one 64 KiB slice of random bytes.
    const file = new Uint8Array(1_500_000);
    for (let at = 0; at < file.length; at += 65536) {
      crypto.getRandomValues(file.subarray(at, Math.min(file.length, at + 65536)));
    }
    const body = {
      from: ALICE.address,
      to: [BOB.address],
      subject: "with a file",
      text: "attached",
      attachments: [{ filename: "a.bin", content: toBase64(file) }],
    };
    const headers = { "idempotency-key": "file-1" };
    const first = await gw.call("POST", "/v1/emails", { token, body, headers });
    assertEquals(first.status, 201, await first.clone().text());
    const sent = await first.json();
    const got = await gw.call("GET", `/v1/messages/${sent.id}/attachments/0`, { token });
    assertEquals(got.status, 200);
    assertEquals(new Uint8Array(await got.arrayBuffer()), file, "content: the same bytes");
    // The key's fingerprint was taken from the body before its base64 text was let go.
    const again = await gw.call("POST", "/v1/emails", { token, body, headers });
    assertEquals(again.headers.get("idempotent-replayed"), "true");
    assertEquals((await again.json()).emailId, sent.emailId);

    const upload = await gw.call("POST", "/v1/emails/attachments", {
      token,
      body: file,
      headers: { "content-type": "application/octet-stream" },
    });
    assertEquals(upload.status, 201);
    const { blobId } = await upload.json();
    const byId = await gw.call("POST", "/v1/emails", {
      token,
      body: { ...body, subject: "by upload", attachments: [{ filename: "a.bin", blobId }] },
    });
    assertEquals(byId.status, 201, await byId.clone().text());
    const viaUpload = await gw.call(
      "GET",
      `/v1/messages/${(await byId.json()).id}/attachments/0`,
      { token },
    );
    assertEquals(new Uint8Array(await viaUpload.arrayBuffer()), file, "blobId: the same bytes");
  } finally {
    gw.close();
  }
});

Deno.test("issue17#5: base64 taken as it came (lines, spaces, no padding) goes out in the same 76-character lines; bad base64 is still 422", async () => {
  const gw = await createTestGateway();
  try {
    const token = await gw.login(ALICE);
    const file = crypto.getRandomValues(new Uint8Array(10_001));
    const plain = toBase64(file);
    const lines = encodeBase64Lines(file);
    const shapes = {
      plain,
      wrapped: plain.replace(/.{76}/g, "$&\n"),
      crlf: plain.replace(/.{64}/g, "$&\r\n"),
      unpadded: plain.replace(/=+$/, ""),
      spaced: plain.replace(/.{40}/g, "$& \t"),
      paddedTwice: `${plain}==`,
    };
    for (const [shape, content] of Object.entries(shapes)) {
      const sent = await gw.call("POST", "/v1/emails", {
        token,
        body: {
          from: ALICE.address,
          to: [BOB.address],
          subject: shape,
          text: "attached",
          attachments: [{ filename: "a.bin", content }],
        },
      });
      assertEquals(sent.status, 201, `${shape}: ${await sent.clone().text()}`);
      const { id } = await sent.json();
      const raw = await (await gw.call("GET", `/v1/messages/${id}/raw`, { token })).text();
      assert(raw.includes(`\r\n\r\n${lines}\r\n`), `${shape}: the encoder's own lines`);
      const got = await gw.call("GET", `/v1/messages/${id}/attachments/0`, { token });
      assertEquals(new Uint8Array(await got.arrayBuffer()), file, `${shape}: the same bytes`);
    }
    // Past the request schema (the alphabet, "=", whitespace), the decoder's own refusals.
    for (const content of ["QUJDR", "QQ==QQ==", "Q===", "QUJD=A"]) {
      const bad = await gw.call("POST", "/v1/emails", {
        token,
        body: {
          from: ALICE.address,
          to: [BOB.address],
          subject: "bad",
          attachments: [{ filename: "a.bin", content }],
        },
      });
      assertEquals(bad.status, 422, content);
      assertEquals((await bad.json()).detail, "an attachment is not valid base64");
    }
  } finally {
    gw.close();
  }
});
