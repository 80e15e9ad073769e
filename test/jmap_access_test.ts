/**
 * Who may reach what over JMAP: account isolation (ids, blobs, account ids) and Basic
 * authentication with app passwords.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { boxes, byRole, jmapWorld } from "./fixtures/jmap.ts";
import { seedMessage } from "./fixtures/mail.ts";
import { ALICE, BOB } from "./fixtures/app.ts";

Deno.test("issue19#2: isolation: another account's ids, blobs and account id are refused", async () => {
  await using w = await jmapWorld();
  const bobMsg = await seedMessage(w.gw, { to: [BOB.address], subject: "Bob only" });
  const bobBoxes = await boxes(w, w.bobAccount, w.bob);
  const [, get] = await w.one([
    "Email/get",
    { accountId: w.aliceAccount, ids: [`e${bobMsg.id}`] },
    "g",
  ]);
  assertEquals([get.list, get.notFound], [[], [`e${bobMsg.id}`]]);
  const [, set] = await w.one(["Email/set", {
    accountId: w.aliceAccount,
    update: { [`e${bobMsg.id}`]: { "keywords/$seen": true } },
    destroy: [`e${bobMsg.id}`],
  }, "s"]);
  assertEquals(set.notUpdated[`e${bobMsg.id}`].type, "notFound");
  assertEquals(set.notDestroyed[`e${bobMsg.id}`].type, "notFound");
  const [, mb] = await w.one([
    "Mailbox/get",
    { accountId: w.aliceAccount, ids: [bobBoxes[0].id] },
    "m",
  ]);
  assertEquals(mb.notFound, [bobBoxes[0].id]);
  const [, q] = await w.one(["Email/query", {
    accountId: w.aliceAccount,
    filter: { inMailbox: byRole(bobBoxes, "inbox").id },
  }, "q"]);
  assertEquals(q.ids, []);
  const [name, err] = await w.one(["Email/query", { accountId: w.bobAccount }, "q"]);
  assertEquals([name, err.type], ["error", "accountNotFound"]);

  // Blobs: Bob's message and Bob's upload are 404 for Alice, by either account id.
  const up = await (await w.gw.app.request(`/jmap/upload/${w.bobAccount}/`, {
    method: "POST",
    headers: { authorization: `Bearer ${w.bob}` },
    body: "bob's secret",
  })).json();
  for (const blobId of [`B${bobMsg.id}`, up.blobId, `B${bobMsg.id}-1`]) {
    for (const account of [w.aliceAccount, w.bobAccount]) {
      const res = await w.gw.app.request(`/jmap/download/${account}/${blobId}/x`, {
        headers: { authorization: `Bearer ${w.alice}` },
      });
      assertEquals(res.status, 404, `${account} ${blobId}`);
      await res.body?.cancel();
    }
  }
  const [, imp] = await w.one(["Email/import", {
    accountId: w.aliceAccount,
    emails: {
      x: { blobId: up.blobId, mailboxIds: { [byRole(await boxes(w), "inbox").id]: true } },
    },
  }, "i"]);
  assertEquals(imp.notCreated.x.type, "blobNotFound");
  const upload = await w.gw.app.request(`/jmap/upload/${w.bobAccount}/`, {
    method: "POST",
    headers: { authorization: `Bearer ${w.alice}` },
    body: "x",
  });
  assertEquals(upload.status, 404);
  await upload.body?.cancel();

  // Blob/copy (RFC 8620 section 6.3): Alice's own blobs copy within her account; Bob's are
  // notFound, and Bob's account as the source is fromAccountNotFound.
  const mine = await seedMessage(w.gw, { subject: "Alice's" });
  const [, copy] = await w.one(["Blob/copy", {
    fromAccountId: w.aliceAccount,
    accountId: w.aliceAccount,
    blobIds: [`B${mine.id}`, `B${bobMsg.id}`, up.blobId, "nonsense"],
  }, "b"]);
  assertEquals(copy.copied, { [`B${mine.id}`]: `B${mine.id}` });
  assertEquals(Object.keys(copy.notCopied).sort(), [`B${bobMsg.id}`, "nonsense", up.blobId].sort());
  assert(Object.values(copy.notCopied).every((e) => (e as { type: string }).type === "notFound"));
  const [from, fromErr] = await w.one(["Blob/copy", {
    fromAccountId: w.bobAccount,
    accountId: w.aliceAccount,
    blobIds: [up.blobId],
  }, "b"]);
  assertEquals([from, fromErr.type], ["error", "fromAccountNotFound"]);
});

Deno.test("issue19#2: Basic auth with an app password (what JMAP clients send); wrong secrets are 401", async () => {
  await using w = await jmapWorld();
  const made = await w.json("POST", "/v1/auth/app-passwords", {
    token: w.alice,
    body: { name: "phone" },
  }, 201);
  const basic = (secret: string) => `Basic ${btoa(`${ALICE.address}:${secret}`)}`;
  for (let i = 0; i < 2; i++) {
    const res = await w.gw.app.request("/.well-known/jmap", {
      headers: { authorization: basic(made.password) },
    });
    assertEquals(res.status, 200);
    assertEquals((await res.json()).username, ALICE.address);
  }
  const wrong = await w.gw.app.request("/.well-known/jmap", {
    headers: { authorization: basic("nope-nope-nope-nope") },
  });
  assertEquals(wrong.status, 401);
  await wrong.body?.cancel();
  // Revoking the app password ends it at once, although it was just remembered.
  const del = await w.call("DELETE", `/v1/auth/app-passwords/${made.id}`, { token: w.alice });
  assert(del.status < 300);
  const after = await w.gw.app.request("/.well-known/jmap", {
    headers: { authorization: basic(made.password) },
  });
  assertEquals(after.status, 401);
  await after.body?.cancel();
});

Deno.test("issue19#2: an upload over maxSizeUpload is refused with the limit problem, and stores nothing", async () => {
  await using w = await jmapWorld();
  const max = w.aliceSession.capabilities["urn:ietf:params:jmap:core"].maxSizeUpload;
  const big = new Uint8Array(max + 1);
  const res = await w.gw.app.request(`/jmap/upload/${w.aliceAccount}/`, {
    method: "POST",
    headers: { authorization: `Bearer ${w.alice}` },
    body: big,
  });
  assertEquals(res.status, 413);
  const problem = await res.json();
  assertEquals([problem.type, problem.limit], [
    "urn:ietf:params:jmap:error:limit",
    "maxSizeUpload",
  ]);
  const { schema } = await import("../src/store/store.ts");
  assertEquals((await w.gw.deps.store.db.select().from(schema.uploads)).length, 0);
});

Deno.test("issue19#2: maxConcurrentUpload and maxConcurrentRequests: one more in flight is the limit problem", async () => {
  await using w = await jmapWorld();
  const core = w.aliceSession.capabilities["urn:ietf:params:jmap:core"];
  const enc = new TextEncoder();
  /** A request whose body stays open until `finish` is called: it holds its slot meanwhile. */
  const held = (path: string, last: string) => {
    let finish!: () => void;
    let reading!: () => void;
    const read = new Promise<void>((r) => reading = r);
    // No read-ahead: `pull` runs once the handler, holding its slot, starts reading the body.
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        finish = () => {
          c.enqueue(enc.encode(last));
          c.close();
        };
      },
      pull: () => reading(),
    }, { highWaterMark: 0 });
    const res = Promise.resolve(w.gw.app.request(path, {
      method: "POST",
      headers: {
        authorization: `Bearer ${w.alice}`,
        "content-type": "application/json",
        // Declared small, as a real client would: the body budget lets it straight through.
        "content-length": String(enc.encode(last).length),
      },
      body,
      duplex: "half",
    } as RequestInit));
    return { res, finish, read };
  };
  const call = JSON.stringify({
    using: ["urn:ietf:params:jmap:core"],
    methodCalls: [["Core/echo", { hello: true }, "0"]],
  });
  for (
    const [path, max, limit, body] of [
      [`/jmap/upload/${w.aliceAccount}/`, core.maxConcurrentUpload, "maxConcurrentUpload", "blob"],
      ["/jmap/api", core.maxConcurrentRequests, "maxConcurrentRequests", call],
    ] as const
  ) {
    const open = Array.from({ length: max }, () => held(path, body));
    await Promise.all(open.map((o) => o.read));
    const over = await w.gw.app.request(path, {
      method: "POST",
      headers: { authorization: `Bearer ${w.alice}`, "content-type": "application/json" },
      body,
    });
    assertEquals(over.status, 400, limit);
    const problem = await over.json();
    assertEquals([problem.type, problem.limit], ["urn:ietf:params:jmap:error:limit", limit]);
    // Bob is not held up by Alice's slots.
    const bobs = await w.gw.app.request(path.replace(w.aliceAccount, w.bobAccount), {
      method: "POST",
      headers: { authorization: `Bearer ${w.bob}`, "content-type": "application/json" },
      body,
    });
    assert(bobs.status === 200 || bobs.status === 201, `${limit}: bob ${bobs.status}`);
    await bobs.body?.cancel();
    // The held ones finish normally and free their slots.
    for (const o of open) o.finish();
    for (const o of open) {
      const r = await o.res;
      assert(r.status === 200 || r.status === 201, `${limit}: ${r.status}`);
      await r.body?.cancel();
    }
    const again = await w.gw.app.request(path, {
      method: "POST",
      headers: { authorization: `Bearer ${w.alice}`, "content-type": "application/json" },
      body,
    });
    assert(again.status === 200 || again.status === 201, `${limit}: again ${again.status}`);
    await again.body?.cancel();
  }
});
