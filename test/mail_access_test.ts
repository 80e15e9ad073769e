/**
 * The mailbox-access API as the bridge uses it: `/v1/bridge/auth` opens an account session, and
 * `bridge/mail_client.ts` drives the batch routes (index, changes, raw frames, headers, MIME
 * structure, flags with UNCHANGEDSINCE, expunge, copy/move with UID mappings, append, search)
 * against a real gateway in-process. Isolation: another account's token gets 404 on every route.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, BOB, createTestGateway } from "./fixtures/app.ts";
import { GatewayError, MailClient } from "../bridge/mail_client.ts";
import { expireRecoverable } from "../src/services/recovery.ts";

const enc = new TextEncoder();

async function world() {
  const gw = await createTestGateway();
  const admin = await gw.login(ADMIN);
  const res = await gw.call("POST", "/v1/api-keys", {
    token: admin,
    body: { name: "bridge", scopes: ["bridge"] },
  });
  const { key } = await res.json();
  const open = async (who: { address: string; password: string }) => {
    const c = await MailClient.login({
      baseUrl: "http://gateway.internal",
      bridgeKey: key,
      username: who.address,
      secret: who.password,
      clientIp: "192.0.2.7",
      protocol: "imap",
      fetcher: (r) => gw.app.fetch(r),
    });
    assert(c, "login failed");
    return c;
  };
  const alice = await open(ALICE);
  const inbox = (await alice.mailboxes()).find((b) => b.role === "inbox")!.id;
  return {
    gw,
    key,
    alice,
    inbox,
    open,
    [Symbol.dispose]: () => gw.close(),
  };
}

const message = (subject: string, body = "hello world", extra = "") =>
  enc.encode(
    `From: Carol <carol@example.org>\r\nTo: alice@postern.test\r\nCc: dave@example.org\r\n` +
      `Bcc: secret@example.org\r\nSubject: ${subject}\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n` +
      `Message-ID: <${crypto.randomUUID()}@example.org>\r\n${extra}\r\n${body}\r\n`,
  );

Deno.test("bridge auth: imap/pop3 get an account session, smtp does not, bad secrets nothing", async () => {
  using w = await world();
  const auth = (body: Record<string, unknown>) =>
    w.gw.call("POST", "/v1/bridge/auth", { token: w.key, body });
  const pop =
    await (await auth({ username: ALICE.address, secret: ALICE.password, protocol: "pop3" }))
      .json();
  assert(pop.accessToken && pop.refreshToken && pop.expiresIn >= 3600, JSON.stringify(pop));
  const me = await (await w.gw.call("GET", "/v1/auth/me", { token: pop.accessToken })).json();
  assertEquals(me.address, ALICE.address);
  const smtp =
    await (await auth({ username: ALICE.address, secret: ALICE.password, protocol: "smtp" }))
      .json();
  assertEquals(smtp.accessToken, undefined);
  assertEquals(smtp.address, ALICE.address);
  const wrong = await MailClient.login({
    baseUrl: "http://gateway.internal",
    bridgeKey: w.key,
    username: ALICE.address,
    secret: "nope-nope-nope",
    clientIp: "192.0.2.7",
    protocol: "pop3",
    fetcher: (r) => w.gw.app.fetch(r),
  });
  assertEquals(wrong, undefined);
  // The session is a real one: logout ends it, and the token stops working.
  const c = await w.open(BOB);
  await c.close();
  const err = await c.mailboxes().catch((e) => e);
  assert(err instanceof GatewayError && err.status === 401, String(err));
});

Deno.test("append, index, state, raw frames and headers are byte-exact", async () => {
  using w = await world();
  const a = w.alice;
  const raws = [message("one"), message("two", "x\r\n.\r\n..dots\r\n"), message("three")];
  const appended = [];
  for (const [i, raw] of raws.entries()) {
    appended.push(
      await a.append(w.inbox, raw, {
        flags: i === 0 ? ["\\Seen", "$Forwarded"] : [],
        internalDate: Date.UTC(2026, 2, 1 + i, 12),
      }),
    );
  }
  assertEquals(appended.map((r) => r.uid), [1, 2, 3]);
  const { mailbox, items } = await a.index(w.inbox);
  assertEquals(mailbox.exists, 3);
  assertEquals(mailbox.unseen, 2);
  assertEquals(mailbox.uidNext, 4);
  assertEquals(items.map((i) => i.uid), [1, 2, 3]);
  assertEquals(items[0].flags, ["\\Seen", "$Forwarded"]);
  assertEquals(items[1].internalDate, Date.UTC(2026, 2, 2, 12));
  assertEquals(items.map((i) => i.size), raws.map((r) => r.byteLength));
  const bodies = await a.raw(w.inbox, "1:*");
  assertEquals([...bodies.keys()], [1, 2, 3]);
  for (const [i, raw] of raws.entries()) assertEquals([...bodies.get(i + 1)!], [...raw]);
  const heads = await a.headers(w.inbox, "2,3,99");
  assertEquals([...heads.keys()], [2, 3]);
  const text = new TextDecoder().decode(heads.get(2));
  assert(text.endsWith("\r\n\r\n") && text.includes("Subject: two") && !text.includes("dots"));
  assertEquals((await a.state(w.inbox)).exists, 3);
});

Deno.test("flags: add, remove, replace, UNCHANGEDSINCE and changes since a modseq", async () => {
  using w = await world();
  const a = w.alice;
  for (const s of ["a", "b", "c"]) await a.append(w.inbox, message(s));
  const before = (await a.state(w.inbox)).highestModseq;
  const added = await a.store(w.inbox, { uids: "1:2", op: "add", flags: ["\\Flagged", "Work"] });
  assertEquals(added.updated.map((u) => [u.uid, u.flags]), [
    [1, ["\\Flagged", "Work"]],
    [2, ["\\Flagged", "Work"]],
  ]);
  assertEquals(added.modified, []);
  const modseq = added.updated[0].modseq;
  assert(modseq > before);
  const removed = await a.store(w.inbox, { uids: "2", op: "remove", flags: ["work"] });
  assertEquals(removed.updated[0].flags, ["\\Flagged"]);
  const replaced = await a.store(w.inbox, { uids: "3", op: "replace", flags: ["\\Seen"] });
  assertEquals(replaced.updated[0].flags, ["\\Seen"]);
  // UID 2 changed after `modseq`: it fails the condition; UID 1 did not, so it is stored.
  const cond = await a.store(w.inbox, {
    uids: "1:2",
    op: "add",
    flags: ["\\Answered"],
    unchangedSince: modseq,
  });
  assertEquals(cond.modified, [2]);
  assertEquals(cond.updated.map((u) => u.uid), [1]);
  assertEquals(cond.updated[0].flags, ["\\Answered", "\\Flagged", "Work"]);
  const changes = await a.changes(w.inbox, modseq);
  assertEquals(changes.changed.map((c) => c.uid), [1, 2, 3]);
  assertEquals(changes.expunged, []);
});

Deno.test("expunge, copy and move give UID mappings; changes list the vanished UIDs", async () => {
  using w = await world();
  const a = w.alice;
  for (const s of ["a", "b", "c", "d"]) await a.append(w.inbox, message(s));
  const archive = await a.createMailbox("Projects");
  const copied = await a.copy(w.inbox, "1,3", archive.id);
  assertEquals(copied.mapping, [[1, 1], [3, 2]]);
  assertEquals(copied.uidValidity, archive.uidValidity);
  const copiedRaw = await a.raw(archive.id, "1:2");
  const origRaw = await a.raw(w.inbox, "1,3");
  assertEquals([...copiedRaw.get(2)!], [...origRaw.get(3)!]);
  const mark = (await a.state(w.inbox)).highestModseq;
  const moved = await a.move(w.inbox, "2", archive.id);
  assertEquals(moved.mapping, [[2, 3]]);
  await a.store(w.inbox, { uids: "1,4", op: "add", flags: ["\\Deleted"] });
  const uidOnly = await a.expunge(w.inbox, "4");
  assertEquals(uidOnly.expunged, [4]);
  const all = await a.expunge(w.inbox);
  assertEquals(all.expunged, [1]);
  const left = await a.index(w.inbox);
  assertEquals(left.items.map((i) => i.uid), [3]);
  const changes = await a.changes(w.inbox, mark);
  assertEquals(changes.expunged, [1, 2, 4]);
  assertEquals((await a.index(archive.id)).items.length, 3);
  // The copies count against the quota and survive the originals' expunge.
  assertEquals((await a.raw(archive.id, "1")).size, 1);
});

Deno.test("structure: multipart tree with byte offsets, stored after the first request", async () => {
  using w = await world();
  const a = w.alice;
  const raw = enc.encode(
    "From: a@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\n" +
      'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n' +
      "Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n--b1\r\n" +
      'Content-Type: application/octet-stream; name="x.bin"\r\n' +
      "Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b1--\r\n",
  );
  await a.append(w.inbox, raw);
  for (let round = 0; round < 2; round++) {
    const s = (await a.structure(w.inbox, "1")).get(1)!;
    assertEquals(s.size, raw.byteLength);
    assertEquals(s.envelope.subject, "parts");
    const body = s.body as unknown as { type: string; subtype: string; parts: unknown[] };
    assertEquals([body.type.toLowerCase(), body.subtype.toLowerCase()], ["multipart", "mixed"]);
    assertEquals(body.parts.length, 2);
  }
  const count = async () =>
    Number(
      (await w.gw.deps.store.client.execute("SELECT count(*) AS n FROM mime_structures")).rows[0]
        .n,
    );
  assertEquals(await count(), 1);
  // Expunging the only message that holds the blob keeps it for the recovery window (issue 21,
  // item 7); the window's end removes the blob and its structure too.
  await a.store(w.inbox, { uids: "1", op: "add", flags: ["\\Deleted"] });
  assertEquals((await a.expunge(w.inbox)).expunged, [1]);
  assertEquals(await count(), 1);
  const { recoveryDays } = w.gw.deps.config;
  await expireRecoverable(
    w.gw.deps.store,
    w.gw.deps.config,
    Date.now() + (recoveryDays + 1) * 864e5,
  );
  assertEquals(await count(), 0);
});

Deno.test("search: RFC 3501 keys, and/or/not, uid sets, modseq", async () => {
  using w = await world();
  const a = w.alice;
  await a.append(w.inbox, message("Quarterly report", "numbers inside"), {
    internalDate: Date.UTC(2026, 0, 10, 8),
  });
  await a.append(w.inbox, message("lunch?", "see you at noon", "X-Tag: blue\r\n"), {
    flags: ["\\Seen", "Later"],
    internalDate: Date.UTC(2026, 0, 11, 8),
  });
  await a.append(w.inbox, enc.encode("From: zed@else.org\r\nSubject: tiny\r\n\r\nx\r\n"), {
    internalDate: Date.UTC(2026, 0, 12, 8),
  });
  const s = async (criteria: Parameters<MailClient["search"]>[1]) =>
    (await a.search(w.inbox, criteria)).uids;
  assertEquals(await s({ key: "all" }), [1, 2, 3]);
  assertEquals(await s({ key: "subject", value: "REPORT" }), [1]);
  assertEquals(await s({ key: "subject", value: "port" }), [1]);
  assertEquals(await s({ key: "body", value: "noon" }), [2]);
  assertEquals(await s({ key: "text", value: "x-tag" }), [2]);
  assertEquals(await s({ key: "from", value: "carol" }), [1, 2]);
  assertEquals(await s({ key: "to", value: "alice@" }), [1, 2]);
  assertEquals(await s({ key: "cc", value: "dave" }), [1, 2]);
  assertEquals(await s({ key: "bcc", value: "secret@" }), [1, 2]);
  assertEquals(await s({ key: "header", field: "x-tag", value: "" }), [2]);
  assertEquals(await s({ key: "header", field: "X-TAG", value: "green" }), []);
  assertEquals(await s({ key: "flag", flag: "\\Seen", present: false }), [1, 3]);
  assertEquals(await s({ key: "flag", flag: "later", present: true }), [2]);
  assertEquals(await s({ key: "on", date: "11-Jan-2026" }), [2]);
  assertEquals(await s({ key: "since", date: "2026-01-11" }), [2, 3]);
  assertEquals(await s({ key: "before", date: "11-Jan-2026" }), [1]);
  assertEquals(await s({ key: "senton", date: "2-Mar-2026" }), [1, 2]);
  assertEquals(await s({ key: "smaller", size: 60 }), [3]);
  assertEquals(await s({ key: "larger", size: 60 }), [1, 2]);
  assertEquals(await s({ key: "uid", uids: "2:*" }), [2, 3]);
  assertEquals(
    await s({
      key: "or",
      of: [{ key: "subject", value: "tiny" }, { key: "not", of: { key: "uid", uids: "1:2" } }],
    }),
    [3],
  );
  assertEquals(
    // Whole words: the body is sealed at rest, its words indexed as keyed hashes (README).
    await s({
      key: "and",
      of: [{ key: "from", value: "carol" }, { key: "body", value: "numbers" }],
    }),
    [1],
  );
  const stored = await a.store(w.inbox, { uids: "3", op: "add", flags: ["\\Flagged"] });
  const r = await a.search(w.inbox, { key: "modseq", modseq: stored.updated[0].modseq });
  assertEquals(r.uids, [3]);
  assertEquals(r.highestModseq, stored.updated[0].modseq);
});

Deno.test("isolation: another account's token gets 404 on every mail-access route", async () => {
  using w = await world();
  await w.alice.append(w.inbox, message("alice only", "zanzibar"));
  const other = await w.alice.createMailbox("Other");
  const bob = await w.open(BOB);
  const bobInbox = (await bob.mailboxes()).find((b) => b.role === "inbox")!.id;
  const attempts: [string, () => Promise<unknown>][] = [
    ["state", () => bob.state(w.inbox)],
    ["index", () => bob.index(w.inbox)],
    ["changes", () => bob.changes(w.inbox, 0)],
    ["raw", () => bob.raw(w.inbox, "1:*")],
    ["headers", () => bob.headers(w.inbox, "1")],
    ["structure", () => bob.structure(w.inbox, "1")],
    ["flags", () => bob.store(w.inbox, { uids: "1", op: "add", flags: ["\\Deleted"] })],
    ["expunge", () => bob.expunge(w.inbox)],
    ["copy out", () => bob.copy(w.inbox, "1", bobInbox)],
    ["copy in", () => bob.copy(bobInbox, "1:*", other.id)],
    ["move out", () => bob.move(w.inbox, "1", bobInbox)],
    ["append", () => bob.append(w.inbox, message("intruder"))],
    ["search", () => bob.search(w.inbox, { key: "body", value: "zanzibar" })],
    ["rename", () => bob.renameMailbox(other.id, "Mine")],
    ["delete", () => bob.deleteMailbox(other.id, true)],
  ];
  for (const [name, attempt] of attempts) {
    const err = await attempt().then(() => undefined, (e) => e);
    assert(err instanceof GatewayError && err.status === 404, `${name}: ${err}`);
  }
  // Bob's own mailbox never shows Alice's message, and hers is untouched.
  assertEquals((await bob.index(bobInbox)).items, []);
  assertEquals((await bob.search(bobInbox, { key: "all" })).uids, []);
  const mine = await w.alice.index(w.inbox);
  assertEquals(mine.items.map((i) => [i.uid, i.flags]), [[1, []]]);
});

Deno.test("bad input: malformed UID sets and flags are 422, deep criteria 400", async () => {
  using w = await world();
  const token = (await (await w.gw.call("POST", "/v1/bridge/auth", {
    token: w.key,
    body: { username: ALICE.address, secret: ALICE.password, protocol: "imap" },
  })).json()).accessToken;
  const post = (path: string, body: unknown) =>
    w.gw.call("POST", `/v1/mail-access/mailboxes/${w.inbox}/${path}`, { token, body });
  assertEquals((await post("raw", { uids: "1:x" })).status, 422);
  assertEquals((await post("raw", { uids: "0" })).status, 400);
  assertEquals((await post("flags", { uids: "1", op: "add", flags: ["a b"] })).status, 422);
  let deep: Record<string, unknown> = { key: "all" };
  for (let i = 0; i < 60; i++) deep = { key: "not", of: deep };
  assertEquals((await post("search", { criteria: deep })).status, 400);
});

Deno.test("bridge sessions are mail-only: an admin's IMAP login cannot administer or mint keys", async () => {
  using w = await world();
  const opened = await (await w.gw.call("POST", "/v1/bridge/auth", {
    token: w.key,
    body: { username: ADMIN.address, secret: ADMIN.password, protocol: "imap" },
  })).json();
  const check = async (token: string) => {
    const me = await (await w.gw.call("GET", "/v1/auth/me", { token })).json();
    assertEquals([me.credential, me.scopes], ["mail_session", ["read", "send"]]);
    assertEquals((await w.gw.call("GET", "/v1/mailboxes", { token })).status, 200);
    assertEquals((await w.gw.call("GET", "/v1/admin/accounts", { token })).status, 403);
    const key = await w.gw.call("POST", "/v1/api-keys", {
      token,
      body: { name: "escalate", scopes: ["admin"] },
    });
    assertEquals(key.status, 403);
  };
  await check(opened.accessToken);
  // Renewing keeps the restriction.
  const renewed = await (await w.gw.call("POST", "/v1/auth/refresh", {
    body: { refreshToken: opened.refreshToken },
  })).json();
  assert(renewed.accessToken && renewed.accessToken !== opened.accessToken, "renewed");
  await check(renewed.accessToken);
  // The same admin signing in normally still administers.
  const full = await w.gw.login(ADMIN);
  assertEquals((await w.gw.call("GET", "/v1/admin/accounts", { token: full })).status, 200);
  // And the bridge can end its session.
  assertEquals(
    (await w.gw.call("POST", "/v1/auth/logout", { token: renewed.accessToken })).status,
    204,
  );
  assertEquals((await w.gw.call("GET", "/v1/auth/me", { token: renewed.accessToken })).status, 401);
});

Deno.test("issue20: the maildrop is the Inbox's UIDs and sizes as the index has them, paged, and only the caller's", async () => {
  using w = await world();
  const a = w.alice;
  for (let i = 0; i < 5; i++) {
    await a.append(w.inbox, message(`m${i}`, "x".repeat(10 * i)), {
      flags: i % 2 ? ["\\Seen"] : [],
    });
  }
  await a.store(w.inbox, { uids: "2", op: "add", flags: ["\\Deleted"] });
  await a.expunge(w.inbox);
  const { mailbox, items } = await a.index(w.inbox);
  const drop = await a.maildrop();
  assertEquals(drop.mailbox, mailbox);
  assertEquals(drop.uids, [1, 3, 4, 5]);
  assertEquals(drop.uids, items.map((i) => i.uid));
  assertEquals(drop.sizes, items.map((i) => i.size));
  // Pages of two, and of one: the same columns; the state is the mailbox's whatever the page.
  for (const limit of [1, 2, 3]) {
    const uids: number[] = [];
    const sizes: number[] = [];
    let after = 0;
    for (;;) {
      const res = await w.gw.call(
        "GET",
        `/v1/mail-access/maildrop?afterUid=${after}&limit=${limit}`,
        { token: await tokenOf(w) },
      );
      assertEquals(res.status, 200);
      const page = await res.json();
      assertEquals(page.mailbox, mailbox);
      uids.push(...page.uids);
      sizes.push(...page.sizes);
      if (page.nextAfterUid === null) break;
      after = page.nextAfterUid;
    }
    assertEquals(uids, drop.uids, `limit ${limit}`);
    assertEquals(sizes, drop.sizes, `limit ${limit}`);
  }
  // Raw frames of a sparse set with an expunged UID and one past the end: exactly those there.
  const all = await a.raw(w.inbox, "1:*");
  assertEquals([...all.keys()], [1, 3, 4, 5]);
  const some = await a.raw(w.inbox, "5,1:2,99");
  assertEquals([...some.keys()], [1, 5]);
  for (const [uid, bytes] of some) assertEquals([...bytes], [...all.get(uid)!]);
  assertEquals([...(await a.raw(w.inbox, "2")).keys()], []);
  // Bob's maildrop is his own (empty) Inbox.
  const bob = await w.open(BOB);
  const his = await bob.maildrop();
  assertEquals(his.uids, []);
  assertEquals(his.mailbox.exists, 0);
  assert(his.mailbox.id !== mailbox.id);
});

/** A fresh access token of Alice's (a bridge session), for raw calls. */
async function tokenOf(w: Awaited<ReturnType<typeof world>>): Promise<string> {
  const res = await w.gw.call("POST", "/v1/bridge/auth", {
    token: w.key,
    body: { username: ALICE.address, secret: ALICE.password, protocol: "pop3" },
  });
  return (await res.json()).accessToken;
}

Deno.test("issue20: raw frames read as they arrive are byte-exact however the body is cut into chunks", async () => {
  using w = await world();
  const raws = [message("small"), message("big", "y".repeat(70_000)), message("dots", ".\r\n..")];
  for (const raw of raws) await w.alice.append(w.inbox, raw);
  // Over a network the body arrives in pieces of any size: 1, 7 and 4096 bytes here.
  for (const size of [1, 7, 4096]) {
    const rechunk = async (r: Request) => {
      const res = await w.gw.app.fetch(r);
      if (!r.url.endsWith("/raw") || !res.body) return res;
      const all = new Uint8Array(await res.arrayBuffer());
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < all.length; i += size) c.enqueue(all.slice(i, i + size));
          c.close();
        },
      });
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const c = await aliceVia(w.key, rechunk);
    const got = await c.raw(w.inbox, "1:*");
    assertEquals([...got.keys()], [1, 2, 3], `chunks of ${size}`);
    for (const [i, raw] of raws.entries()) assertEquals([...got.get(i + 1)!], [...raw]);
  }
  // A body cut inside a frame is an error, never a short message.
  const truncated = await aliceVia(w.key, async (r) => {
    const res = await w.gw.app.fetch(r);
    if (!r.url.endsWith("/raw")) return res;
    const all = new Uint8Array(await res.arrayBuffer());
    return new Response(all.slice(0, all.length - 5), { headers: res.headers });
  });
  const err = await truncated.raw(w.inbox, "1:*").then(() => undefined, (e) => e);
  assert(err instanceof GatewayError && err.code === "bad_response", String(err));
});

/** Alice's bridge session whose every gateway call goes through `fetcher`. */
async function aliceVia(key: string, fetcher: (r: Request) => Promise<Response>) {
  const c = await MailClient.login({
    baseUrl: "http://gateway.internal",
    bridgeKey: key,
    username: ALICE.address,
    secret: ALICE.password,
    clientIp: "192.0.2.7",
    protocol: "imap",
    fetcher,
  });
  assert(c, "login failed");
  return c;
}
