/**
 * Retention and recovery (issue 21, item 7) through the HTTP API and the slices a scheduler
 * runs: new accounts' Junk and Trash get the configured retention, `PATCH /v1/mailboxes/{id}`
 * sets it, the slice removes only what arrived in a mailbox longer ago than its limit (by UID
 * marks, so a message moved there yesterday stays), deleted mail is listed and restored with its
 * bytes, flags and keywords, the window's end frees the blob, and no account sees another's.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, BOB, createTestGateway, expectJson } from "./fixtures/app.ts";
import { buildMessage, deliverRaw, seedMessage } from "./fixtures/mail.ts";
import { jmapWorld } from "./fixtures/jmap.ts";
import { applyRetention, runRetention } from "../src/services/retention.ts";
import { expireRecoverable } from "../src/services/recovery.ts";
import { runScheduledWork } from "../src/services/scheduled.ts";
import { expunge, storeFlags } from "../src/services/mail_access_write.ts";
import type { TestGateway } from "./fixtures/app.ts";
import { storeTest } from "./fixtures/store.ts";

const DAY = 86_400_000;

async function world(overrides = {}) {
  // Spam scoring off: its X-Spam fields would make the stored copy differ from the raw message
  // these tests build, and compare restored bytes and blob hashes against.
  const gw = await createTestGateway({ spamEnabled: false, ...overrides });
  const alice = await gw.login(ALICE);
  const bob = await gw.login(BOB);
  const json = (method: string, path: string, token: string, body?: unknown, status = 200) =>
    expectJson(gw, method, path, token, body, status);
  const boxes = async (token: string) =>
    (await json("GET", "/v1/mailboxes", token)).items as {
      id: number;
      role: string | null;
      name: string;
      retentionDays: number | null;
    }[];
  const box = async (token: string, role: string) =>
    (await boxes(token)).find((b) => b.role === role)!;
  return { gw, alice, bob, json, boxes, box };
}

async function deliverTo(gw: TestGateway, to: string, subject: string) {
  const raw = buildMessage({ subject, to: [to], text: `body of ${subject}` });
  return { id: await deliverRaw(gw, raw, { recipients: [to] }), raw };
}

const rawOf = async (w: Awaited<ReturnType<typeof world>>, token: string, id: number) =>
  new Uint8Array(await (await w.gw.call("GET", `/v1/messages/${id}/raw`, { token })).arrayBuffer());

Deno.test("issue21#7: new Junk and Trash get the default retention, PATCH sets and clears it, bad values are refused", async () => {
  const w = await world({ retentionJunkDays: 30, retentionTrashDays: 7 });
  try {
    // Accounts made through the admin API get the defaults (the fixture's own accounts predate them).
    const admin = await w.gw.login({ address: "admin@postern.test", password: "admin-password-1" });
    await w.json("POST", "/v1/admin/accounts", admin, {
      address: "carol@postern.test",
      password: "carol-password-1",
    }, 201);
    const carol = await w.gw.login({ address: "carol@postern.test", password: "carol-password-1" });
    const byRole = Object.fromEntries((await w.boxes(carol)).map((b) => [b.role, b.retentionDays]));
    assertEquals(byRole, {
      inbox: null,
      sent: null,
      drafts: null,
      trash: 7,
      junk: 30,
      archive: null,
    });

    const inbox = await w.box(carol, "inbox");
    const set = await w.json("PATCH", `/v1/mailboxes/${inbox.id}`, carol, { retentionDays: 365 });
    assertEquals(set.retentionDays, 365);
    assertEquals((await w.json("GET", `/v1/mailboxes/${inbox.id}`, carol)).retentionDays, 365);
    const cleared = await w.json("PATCH", `/v1/mailboxes/${inbox.id}`, carol, {
      retentionDays: null,
    });
    assertEquals(cleared.retentionDays, null);
    for (const bad of [0, -1, 1.5, "30"]) {
      await w.json("PATCH", `/v1/mailboxes/${inbox.id}`, carol, { retentionDays: bad }, 422);
    }
    // Another account's mailbox is not there for Bob.
    await w.json("PATCH", `/v1/mailboxes/${inbox.id}`, w.bob, { retentionDays: 1 }, 404);
  } finally {
    w.gw.close();
  }
});

storeTest(
  "issue21#7: retention removes mail that arrived in Junk before the limit, and nothing else",
  async () => {
    const w = await world();
    try {
      const junk = await w.box(w.alice, "junk");
      const inbox = await w.box(w.alice, "inbox");
      await w.json("PATCH", `/v1/mailboxes/${junk.id}`, w.alice, { retentionDays: 30 });
      const old = await deliverTo(w.gw, ALICE.address, "old spam");
      await w.json("POST", `/v1/messages/${old.id}/move`, w.alice, { mailboxId: junk.id });
      const kept = await deliverTo(w.gw, ALICE.address, "inbox mail");
      const t0 = Date.now();
      assertEquals(await applyRetention(w.gw.deps, t0), 0); // the first mark; nothing is old yet
      // Arrives in Junk after the mark: younger than the limit whatever its internal date.
      const fresh = await deliverTo(w.gw, ALICE.address, "new spam");
      await w.json("POST", `/v1/messages/${fresh.id}/move`, w.alice, { mailboxId: junk.id });

      assertEquals(await applyRetention(w.gw.deps, t0 + 29 * DAY), 0);
      assertEquals(await applyRetention(w.gw.deps, t0 + 31 * DAY), 1);
      const inJunk = (await w.json("GET", `/v1/messages?mailboxId=${junk.id}`, w.alice)).items;
      assertEquals(inJunk.map((m: { subject: string }) => m.subject), ["new spam"]);
      const inInbox = (await w.json("GET", `/v1/messages?mailboxId=${inbox.id}`, w.alice)).items;
      assertEquals(inInbox.map((m: { id: number }) => m.id), [kept.id]);
      // What retention removed is recoverable.
      const recovery = (await w.json("GET", "/v1/recovery", w.alice)).items;
      assertEquals(
        recovery.map((r: { subject: string; mailboxName: string }) => [r.subject, r.mailboxName]),
        [
          ["old spam", "Junk"],
        ],
      );
      // The scheduled pass (a Worker's scheduled(), Deno.cron) runs the same step without failing.
      const pass = await runScheduledWork(w.gw.deps, { budgetMs: 10_000 });
      assertEquals(pass.failed, []);
    } finally {
      w.gw.close();
    }
  },
);

Deno.test("issue21#7: one of several gateways runs the retention slice (a lease in the store)", async () => {
  const w = await world();
  try {
    const now = Date.now();
    const first = await runRetention(w.gw.deps, "gateway-a", now, 60_000);
    const second = await runRetention(w.gw.deps, "gateway-b", now, 60_000);
    assert(first !== undefined);
    assertEquals(second, undefined);
    assert(await runRetention(w.gw.deps, "gateway-b", now + 61_000, 60_000) !== undefined);
  } finally {
    w.gw.close();
  }
});

storeTest(
  "issue21#7: recovery restores a deleted message with its bytes, flags and keywords, whichever door deleted it",
  async () => {
    const w = await world();
    try {
      const inbox = await w.box(w.alice, "inbox");
      const projects = await w.json("POST", "/v1/mailboxes", w.alice, { name: "Projects" }, 201);
      // REST purge, with flags and keywords set first.
      const a = await deliverTo(w.gw, ALICE.address, "purged over REST");
      await w.json("PATCH", `/v1/messages/${a.id}`, w.alice, {
        flags: { seen: true, flagged: true },
        addKeywords: ["$Important", "client-x"],
      });
      await w.json("POST", `/v1/messages/${a.id}/move`, w.alice, { mailboxId: projects.id });
      await w.json("DELETE", `/v1/messages/${a.id}?purge=true`, w.alice);
      // IMAP: \Deleted, then EXPUNGE (the gateway side of the bridge's command).
      const b = await deliverTo(w.gw, ALICE.address, "expunged over IMAP");
      const uidB = (await w.json("GET", `/v1/messages/${b.id}`, w.alice)).uid;
      await storeFlags(w.gw.deps, await accountId(w, ALICE.address), inbox.id, {
        uids: String(uidB),
        op: "add",
        flags: ["\\Deleted", "\\Answered"],
      });
      await expunge(w.gw.deps, await accountId(w, ALICE.address), inbox.id, String(uidB));

      const listed = (await w.json("GET", "/v1/recovery", w.alice)).items as {
        id: number;
        subject: string;
        mailboxId: number;
        flags: Record<string, boolean>;
        keywords: string[];
        expiresAt: string;
        deletedAt: string;
      }[];
      assertEquals(listed.map((r) => r.subject), ["expunged over IMAP", "purged over REST"]);
      const entryA = listed[1];
      assertEquals(listed[0].flags.answered, true, "the IMAP flags came along");
      assertEquals(entryA.mailboxId, projects.id);
      assertEquals(entryA.flags, { seen: true, flagged: true, answered: false, draft: false });
      assertEquals(entryA.keywords.sort(), ["$Important", "client-x"]);
      assertEquals(Date.parse(entryA.expiresAt) - Date.parse(entryA.deletedAt), 14 * DAY);

      const restored = await w.json("POST", `/v1/recovery/${entryA.id}/restore`, w.alice);
      assertEquals(restored.mailboxId, projects.id);
      const got = await w.json("GET", `/v1/messages/${restored.messageId}`, w.alice);
      assertEquals(got.flags, {
        seen: true,
        flagged: true,
        answered: false,
        draft: false,
        deleted: false,
      });
      assertEquals(got.keywords.sort(), ["$Important", "client-x"]);
      assertEquals(await rawOf(w, w.alice, restored.messageId), a.raw);
      assert(restored.uid > 1, "a new UID");
      // Gone from the list; a second restore is a 404, not a second copy.
      assertEquals((await w.json("GET", "/v1/recovery", w.alice)).items.length, 1);
      await w.json("POST", `/v1/recovery/${entryA.id}/restore`, w.alice, undefined, 404);
      assertEquals(
        (await w.json("GET", `/v1/messages?mailboxId=${projects.id}`, w.alice)).items.length,
        1,
      );

      // A mailbox deleted with its mail: the message comes back to the Inbox.
      const c = await deliverTo(w.gw, ALICE.address, "in a deleted mailbox");
      await w.json("POST", `/v1/messages/${c.id}/move`, w.alice, { mailboxId: projects.id });
      await w.gw.call("DELETE", `/v1/mailboxes/${projects.id}?force=true`, { token: w.alice });
      const entryC = (await w.json("GET", "/v1/recovery", w.alice)).items
        .find((r: { subject: string }) => r.subject === "in a deleted mailbox");
      assertEquals(entryC.mailboxId, null);
      const back = await w.json("POST", `/v1/recovery/${entryC.id}/restore`, w.alice);
      assertEquals(back.mailboxId, inbox.id);
      assertEquals(await rawOf(w, w.alice, back.messageId), c.raw);
    } finally {
      w.gw.close();
    }
  },
);

async function accountId(w: Awaited<ReturnType<typeof world>>, address: string) {
  const rs = await w.gw.deps.store.client.execute({
    sql: "SELECT id FROM accounts WHERE address = ?",
    args: [address],
  });
  return Number(rs.rows[0][0]);
}

async function blobCount(w: Awaited<ReturnType<typeof world>>, raw: Uint8Array) {
  const sha = Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", raw as BufferSource)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const rs = await w.gw.deps.store.client.execute({
    sql: "SELECT count(*) FROM blobs WHERE sha256 = ?",
    args: [sha],
  });
  return Number(rs.rows[0][0]);
}

storeTest(
  "issue21#7: the end of the recovery window frees the blob; with recovery off a purge frees it at once",
  async () => {
    const w = await world();
    try {
      const m = await deliverTo(w.gw, ALICE.address, "to expire");
      await w.json("DELETE", `/v1/messages/${m.id}?purge=true`, w.alice);
      assertEquals(await blobCount(w, m.raw), 1, "kept while recoverable");
      const now = Date.now();
      assertEquals(await expireRecoverable(w.gw.deps.store, w.gw.deps.config, now + 13 * DAY), 0);
      assertEquals(await expireRecoverable(w.gw.deps.store, w.gw.deps.config, now + 15 * DAY), 1);
      assertEquals(await blobCount(w, m.raw), 0, "freed after the window");
      assertEquals((await w.json("GET", "/v1/recovery", w.alice)).items, []);
    } finally {
      w.gw.close();
    }
    const off = await world({ recoveryDays: 0 });
    try {
      const m = await deliverTo(off.gw, ALICE.address, "no window");
      await off.json("DELETE", `/v1/messages/${m.id}?purge=true`, off.alice);
      assertEquals(await blobCount(off, m.raw), 0);
      assertEquals((await off.json("GET", "/v1/recovery", off.alice)).items, []);
    } finally {
      off.gw.close();
    }
  },
);

Deno.test("issue21#7: an account sees and restores only its own deleted mail", async () => {
  const w = await world();
  try {
    const a = await deliverTo(w.gw, ALICE.address, "alice's secret");
    await w.json("DELETE", `/v1/messages/${a.id}?purge=true`, w.alice);
    const [entry] = (await w.json("GET", "/v1/recovery", w.alice)).items;
    assertEquals((await w.json("GET", "/v1/recovery", w.bob)).items, []);
    await w.json("POST", `/v1/recovery/${entry.id}/restore`, w.bob, undefined, 404);
    assertEquals((await w.json("GET", "/v1/recovery", w.alice)).items.length, 1);
    assertEquals((await w.gw.call("GET", "/v1/recovery", {})).status, 401);
  } finally {
    w.gw.close();
  }
});

Deno.test("issue21#7: a mailbox under retention keeps about 31 UID marks, however often the slice runs", async () => {
  const w = await world();
  try {
    const junk = await w.box(w.alice, "junk");
    await w.json("PATCH", `/v1/mailboxes/${junk.id}`, w.alice, { retentionDays: 30 });
    const t0 = Date.now();
    for (let at = t0; at < t0 + 90 * DAY; at += 6 * 3_600_000) {
      await applyRetention(w.gw.deps, at);
    }
    const rs = await w.gw.deps.store.client.execute({
      sql: "SELECT count(*) FROM retention_marks WHERE mailbox_id = ?",
      args: [junk.id],
    });
    const marks = Number(rs.rows[0][0]);
    assert(marks >= 30 && marks <= 32, `${marks} marks`);
  } finally {
    w.gw.close();
  }
});

Deno.test("issue21#7: a message destroyed over JMAP (Email/set destroy) is recoverable", async () => {
  const w = await jmapWorld();
  try {
    const { id, raw } = await seedMessage(w.gw, { subject: "destroyed over JMAP" });
    const [, set] = await w.one([
      "Email/set",
      { accountId: w.aliceAccount, destroy: [`e${id}`] },
      "d",
    ]);
    assertEquals(set.destroyed, [`e${id}`]);
    const [entry] = (await w.json("GET", "/v1/recovery", { token: w.alice })).items;
    assertEquals([entry.subject, entry.messageId], ["destroyed over JMAP", id]);
    const back = await w.json("POST", `/v1/recovery/${entry.id}/restore`, { token: w.alice });
    const res = await w.call("GET", `/v1/messages/${back.messageId}/raw`, { token: w.alice });
    assertEquals(new Uint8Array(await res.arrayBuffer()), raw);
  } finally {
    w.gw.close();
  }
});
