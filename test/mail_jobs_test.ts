/**
 * Issue 16 item 1 for the mail-side write jobs: IMAP STORE, EXPUNGE, COPY, MOVE and (MULTI)APPEND,
 * mailbox create/rename/delete and drafts, each one round trip whose reads are re-checked in SQL.
 * Every race runs between two `Store`s on one database (two gateways), on each engine
 * (`storeTest`: the embedded file, remote libSQL over Hrana/HTTP and over Hrana/WebSocket,
 * Cloudflare D1 in workerd; fixtures/gateway_pair.ts), so nothing this process holds in memory
 * can be what keeps UIDs, modseqs and quota right.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, BOB, createTestGateway } from "./fixtures/app.ts";
import { storeTest } from "./fixtures/store.ts";
import { type Pair, pair } from "./fixtures/gateway_pair.ts";
import { runBursts } from "./fixtures/burst.ts";
import type { Deps } from "../src/deps.ts";
import { AppError } from "../src/errors.ts";
import type { AuthContext } from "../src/auth/auth_context.ts";
import type { OutboxResultRequest } from "../schemas/bridge_outbox.ts";
import { submitMessage } from "../src/services/submission.ts";
import { sendDraft } from "../src/services/drafts.ts";
import { claimOutbox, recordResult } from "../src/services/outbox_delivery.ts";
import { frameHead, RAW_FRAMES_TYPE } from "../schemas/mail_access.ts";
import { rawSql } from "../src/store/store.ts";
import {
  appendMessage,
  appendMessages,
  copyMessages,
  expunge,
  moveToMailbox,
  storeFlags,
} from "../src/services/mail_access_write.ts";
import { createMailbox, deleteMailbox, updateMailbox } from "../src/services/mailboxes.ts";
const enc = new TextEncoder();
const mail = (id: string, body = "hello") =>
  enc.encode(
    `From: a@remote.example\r\nTo: ${ALICE.address}\r\nSubject: s ${id}\r\n` +
      `Message-ID: <${id}@remote.example>\r\n\r\n${body}\r\n`,
  );

const nums = <T extends object>(rows: T[], col: keyof T) => rows.map((r) => Number(r[col]));

async function uidsOf(p: Pair, mailboxId: number): Promise<number[]> {
  return nums(
    await p.sql.all<{ uid: number }>("SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid", [
      mailboxId,
    ]),
    "uid",
  );
}

/** The mailbox's counters agree with its rows: uid_next above every UID, modseq at the top. */
async function assertCounters(p: Pair, mailboxId: number) {
  const box = (await p.sql.get<{ uid_next: number; highest: number; top: number; max_uid: number }>(
    `SELECT uid_next, highest_modseq AS highest,
       (SELECT coalesce(max(modseq), 0) FROM messages WHERE mailbox_id = ?1) AS top,
       (SELECT coalesce(max(uid), 0) FROM messages WHERE mailbox_id = ?1) AS max_uid
     FROM mailboxes WHERE id = ?1`,
    [mailboxId],
  ))!;
  assert(Number(box.uid_next) > Number(box.max_uid), "uid_next is above every UID");
  assert(Number(box.highest) >= Number(box.top), "HIGHESTMODSEQ is at least every modseq");
}

const usedBytes = async (p: Pair) =>
  Number(
    (await p.sql.get<{ used: number }>("SELECT used_bytes AS used FROM accounts WHERE id = ?", [
      p.account,
    ]))!.used,
  );

async function seed(p: Pair, n: number, flags: string[] = []): Promise<number> {
  let size = 0;
  for (let i = 0; i < n; i++) {
    const raw = mail(`seed${i}`);
    size = raw.byteLength;
    await appendMessage(p.a, p.account, p.inbox, raw, { flags });
  }
  return size;
}

storeTest(
  "issue16#1: APPEND from two gateways at once: distinct consecutive UIDs and modseqs, one round trip each",
  async (engine) => {
    const p = await pair(engine);
    const results = await Promise.all(
      Array.from(
        { length: 16 },
        (_, i) =>
          appendMessage(i % 2 ? p.a : p.b, p.account, p.inbox, mail(`ap${i}`), {
            flags: ["\\Seen"],
          }),
      ),
    );
    assertEquals(p.jobs.map((j) => j.roundTrips), Array(16).fill(1));
    assertEquals(await uidsOf(p, p.inbox), Array.from({ length: 16 }, (_, i) => i + 1));
    assertEquals(results.map((r) => r.uid).sort((a, b) => a - b), await uidsOf(p, p.inbox));
    assertEquals(new Set(results.map((r) => r.modseq)).size, 16, "every APPEND its own modseq");
    const box = (await p.sql.get<{ uid_next: number; highest: number }>(
      "SELECT uid_next, highest_modseq AS highest FROM mailboxes WHERE id = ?",
      [p.inbox],
    ))!;
    assertEquals([Number(box.uid_next), Number(box.highest)], [17, 17]);
    const bytes = Array.from({ length: 16 }, (_, i) => mail(`ap${i}`).byteLength);
    assertEquals(await usedBytes(p), bytes.reduce((a, b) => a + b));
    p.close();
  },
);

storeTest(
  "issue16#1: MULTIAPPEND is all or none, and two APPENDs that do not both fit store one",
  async (engine) => {
    const p = await pair(engine);
    const size = mail("m0", "x".repeat(500)).byteLength;
    await p.sql.run("UPDATE accounts SET quota_bytes = ? WHERE id = ?", [2 * size + 10, p.account]);
    const three = ["m0", "m1", "m2"].map((id) => ({ raw: mail(id, "x".repeat(500)), flags: [] }));
    const refused = await appendMessages(p.a, p.account, p.inbox, three).catch((e) => e);
    assert(refused instanceof AppError && refused.status === 507, String(refused));
    assertEquals(await uidsOf(p, p.inbox), []);
    const two = await appendMessages(p.a, p.account, p.inbox, three.slice(0, 2));
    assertEquals(two.map((r) => r.uid), [1, 2]);
    assertEquals(p.jobs.filter((j) => j.kind === "batch").map((j) => j.roundTrips), [1]);
    // Room for one more of half the size; both gateways read that there is, one gets it.
    await p.sql.run("UPDATE accounts SET quota_bytes = used_bytes + ? WHERE id = ?", [
      size,
      p.account,
    ]);
    const raced = await Promise.allSettled(
      [p.a, p.b].map((deps, i) =>
        appendMessage(deps, p.account, p.inbox, mail(`r${i}`, "y".repeat(500)), { flags: [] })
      ),
    );
    assertEquals(
      raced.map((r) => r.status).sort(),
      ["fulfilled", "rejected"],
    );
    const error = raced.find((r) => r.status === "rejected") as PromiseRejectedResult;
    assertEquals((error.reason as AppError).status, 507);
    assertEquals(await uidsOf(p, p.inbox), [1, 2, 3]);
    const blobs = Number((await p.sql.get<{ n: number }>("SELECT count(*) AS n FROM blobs"))!.n);
    assertEquals(blobs, 3, "a refused message leaves no blob behind");
    p.close();
  },
);

storeTest(
  "issue16#1: STOREs from two gateways at once on one set: every keyword lands, modseqs ascend",
  async (engine) => {
    const p = await pair(engine);
    await seed(p, 5);
    p.jobs.length = 0;
    const first = await storeFlags(p.a, p.account, p.inbox, {
      uids: "1:*",
      op: "add",
      flags: ["\\Seen"],
    });
    assertEquals(p.jobs.map((j) => j.roundTrips), [1], "a STORE is one round trip");
    assertEquals(new Set(first.updated.map((e) => e.modseq)).size, 1, "one modseq per command");
    const words = ["k0", "k1", "k2", "k3", "k4", "k5"];
    const results = await Promise.all(
      words.map((w, i) =>
        storeFlags(i % 2 ? p.a : p.b, p.account, p.inbox, { uids: "1:*", op: "add", flags: [w] })
      ),
    );
    const rows = await p.sql.all<{ keywords: string; modseq: number }>(
      "SELECT keywords, modseq FROM messages WHERE mailbox_id = ?",
      [p.inbox],
    );
    for (const r of rows) assertEquals(JSON.parse(r.keywords).sort(), words);
    // Each STORE got its own modseq, above the one before it.
    const given = results.map((r) => r.updated[0].modseq);
    assertEquals(new Set(given).size, words.length);
    assertEquals(Math.max(...given), Math.max(...nums(rows, "modseq")));
    assertEquals(Math.max(...results.map((r) => r.highestModseq)), Math.max(...given));
    await assertCounters(p, p.inbox);
    p.close();
  },
);

storeTest(
  "issue16#1: two EXPUNGEs at once remove each message once (quota, events, expunged UIDs)",
  async (engine) => {
    const p = await pair(engine);
    await seed(p, 4, ["\\Deleted"]);
    await seed(p, 1); // kept: not \Deleted
    p.jobs.length = 0;
    const results = await Promise.all(
      [p.a, p.b].map((d) => expunge(d, p.account, p.inbox, undefined)),
    );
    assertEquals(results.flatMap((r) => r.expunged).sort(), [1, 2, 3, 4]);
    assert(p.jobs.every((j) => j.roundTrips === 1), "every attempt is one round trip");
    assertEquals(await uidsOf(p, p.inbox), [5]);
    assertEquals(await usedBytes(p), mail("seed0").byteLength);
    const counts = (await p.sql.get<{ deleted: number; expunged: number; threads: number }>(
      `SELECT (SELECT count(*) FROM events WHERE type = 'message.deleted') AS deleted,
       (SELECT count(*) FROM expunged WHERE mailbox_id = ?) AS expunged,
       (SELECT sum(message_count) FROM threads) AS threads`,
      [p.inbox],
    ))!;
    assertEquals([counts.deleted, counts.expunged, counts.threads].map(Number), [4, 4, 1]);
    await assertCounters(p, p.inbox);
    p.close();
  },
);

storeTest(
  "issue16#1: COPYs from two gateways at once into one mailbox take distinct UIDs, one round trip each",
  async (engine) => {
    const p = await pair(engine);
    const size = await seed(p, 3);
    const archive = await p.box("archive");
    p.jobs.length = 0;
    const results = await Promise.all(
      [p.a, p.b].map((d) => copyMessages(d, p.account, p.inbox, "1:*", archive)),
    );
    assertEquals(p.jobs.map((j) => j.roundTrips), [1, 1]);
    assertEquals(await uidsOf(p, archive), [1, 2, 3, 4, 5, 6]);
    const given = results.flatMap((r) => r.mapping.map(([, uid]) => uid)).sort((a, b) => a - b);
    assertEquals(given, [1, 2, 3, 4, 5, 6]);
    for (const r of results) assertEquals(r.mapping.map(([old]) => old), [1, 2, 3]);
    assertEquals(await usedBytes(p), 9 * size);
    const threads = await p.sql.get<{ n: number }>("SELECT sum(message_count) AS n FROM threads");
    assertEquals(Number(threads!.n), 9);
    await assertCounters(p, archive);
    p.close();
  },
);

storeTest("issue16#1: two MOVEs of one set at once: each message moves once", async (engine) => {
  const p = await pair(engine);
  await seed(p, 3);
  const [archive, trash] = [await p.box("archive"), await p.box("trash")];
  const results = await Promise.all([
    moveToMailbox(p.a, p.account, p.inbox, "1:*", archive),
    moveToMailbox(p.b, p.account, p.inbox, "1:*", trash),
  ]);
  assertEquals(results.map((r) => r.mapping.length).sort(), [0, 3]);
  const moved = results.find((r) => r.mapping.length === 3)!;
  assertEquals(moved.mapping, [[1, 1], [2, 2], [3, 3]]);
  assertEquals(await uidsOf(p, p.inbox), []);
  const total = (await uidsOf(p, archive)).length + (await uidsOf(p, trash)).length;
  assertEquals(total, 3);
  const gone = await p.sql.all<{ uid: number }>(
    "SELECT uid FROM expunged WHERE mailbox_id = ? ORDER BY uid",
    [
      p.inbox,
    ],
  );
  assertEquals(nums(gone, "uid"), [1, 2, 3]);
  await assertCounters(p, archive);
  await assertCounters(p, trash);
  p.close();
});

storeTest(
  "issue16#1: the same mailbox created by two gateways at once: one wins, one is told it exists",
  async (engine) => {
    const p = await pair(engine);
    p.jobs.length = 0;
    const created = await Promise.allSettled(
      [p.a, p.b].map((d) => createMailbox(d, p.account, "Projects/Alpha")),
    );
    assertEquals(created.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
    const lost = (created.find((r) => r.status === "rejected") as PromiseRejectedResult).reason;
    assertEquals([lost.status, lost.code], [409, "already_exists"]);
    const names = await p.sql.all<{ name: string }>(
      "SELECT name FROM mailboxes WHERE account_id = ? AND name LIKE 'Projects%' ORDER BY name",
      [p.account],
    );
    assertEquals(names.map((r) => r.name), ["Projects", "Projects/Alpha"]);
    const events = await p.sql.get<{ n: number }>(
      "SELECT count(*) AS n FROM events WHERE type = 'mailbox.created'",
    );
    assertEquals(Number(events!.n), 2, "one event per mailbox that went in");
    assert(p.jobs.every((j) => j.roundTrips === 1));
    // A rename (with its child) and a delete (with its messages): one round trip each.
    const parent = (await p.sql.get<{ id: number }>(
      "SELECT id FROM mailboxes WHERE account_id = ? AND name = 'Projects'",
      [p.account],
    ))!;
    p.jobs.length = 0;
    await updateMailbox(p.a, p.account, Number(parent.id), { name: "Work" });
    const renamed = await p.sql.all<{ name: string }>(
      "SELECT name FROM mailboxes WHERE account_id = ? AND name LIKE 'Work%' ORDER BY name",
      [p.account],
    );
    assertEquals(renamed.map((r) => r.name), ["Work", "Work/Alpha"]);
    const child = (await p.sql.get<{ id: number }>(
      "SELECT id FROM mailboxes WHERE name = 'Work/Alpha'",
    ))!;
    await appendMessage(p.a, p.account, Number(child.id), mail("in-child"), { flags: [] });
    await deleteMailbox(p.b, p.account, Number(parent.id), true);
    assertEquals(p.jobs.map((j) => j.roundTrips), [1, 1, 1]);
    assertEquals(await usedBytes(p), 0);
    const left = await p.sql.get<{ n: number }>(
      "SELECT count(*) AS n FROM mailboxes WHERE name LIKE 'Work%'",
    );
    assertEquals(Number(left!.n), 0);
    p.close();
  },
);

storeTest(
  "issue16#1: MULTIAPPEND over the mailbox API (the bridge's path): one write job, all or none",
  async (engine) => {
    const p = await pair(engine);
    const token = await p.gw.login(ALICE);
    const frames = (raws: Uint8Array[]) => {
      const parts = raws.flatMap((r, i) => [frameHead(i, r.byteLength), r]);
      const body = new Uint8Array(parts.reduce((n, x) => n + x.byteLength, 0));
      let at = 0;
      for (const x of parts) {
        body.set(x, at);
        at += x.byteLength;
      }
      return body;
    };
    const post = (raws: Uint8Array[], meta: unknown) =>
      p.gw.call(
        "POST",
        `/v1/mail-access/mailboxes/${p.inbox}/append-many?meta=${
          encodeURIComponent(JSON.stringify(meta))
        }`,
        { token, body: frames(raws), headers: { "content-type": RAW_FRAMES_TYPE } },
      );
    p.jobs.length = 0;
    const ok = await post([mail("x1"), mail("x2")], [{ flags: ["\\Seen"] }, {
      internalDate: 1_700_000_000_000,
    }]);
    const body = await ok.json();
    assertEquals(ok.status, 200, JSON.stringify(body));
    assertEquals(body.items.map((i: { uid: number }) => i.uid), [1, 2]);
    assertEquals(p.jobs.map((j) => j.roundTrips), [1]);
    const rows = await p.sql.all<{ seen: number; internal_date: number }>(
      "SELECT seen, internal_date FROM messages WHERE mailbox_id = ? ORDER BY uid",
      [p.inbox],
    );
    assertEquals(rows.map((r) => Number(r.seen)), [1, 0]);
    assertEquals(Number(rows[1].internal_date), 1_700_000_000_000);
    // Over the quota as a whole: none of them.
    await p.sql.run("UPDATE accounts SET quota_bytes = used_bytes + ? WHERE id = ?", [
      mail("y1").byteLength + 5,
      p.account,
    ]);
    const full = await post([mail("y1"), mail("y2")], [{ flags: [] }, { flags: [] }]);
    assertEquals(full.status, 507);
    await full.body?.cancel();
    assertEquals(await uidsOf(p, p.inbox), [1, 2]);
    const mismatched = await post([mail("z1")], [{ flags: [] }, { flags: [] }]);
    assertEquals(mismatched.status, 400);
    await mismatched.body?.cancel();
    p.close();
  },
);

storeTest(
  "issue16#1: a submission with an Idempotency-Key is one round trip; the same key at two gateways at once sends once",
  async (engine) => {
    const p = await pair(engine);
    const submission = (deps: Deps, n: number) =>
      submitMessage(
        deps,
        {
          mailFrom: ALICE.address,
          recipients: [BOB.address, "far@remote.example"],
          authenticatedAs: ALICE.address,
          clientIp: "192.0.2.1",
        },
        enc.encode(
          `From: ${ALICE.address}\r\nTo: ${BOB.address}\r\nSubject: keyed\r\n` +
            `Idempotency-Key: order-7\r\nMessage-ID: <k${n}@postern.test>\r\n\r\nattempt ${n}\r\n`,
        ),
      );
    p.jobs.length = 0;
    const results = await Promise.all([submission(p.a, 1), submission(p.b, 2)]);
    assertEquals(results.map((r) => r.replayed).sort(), [false, true]);
    const first = results.find((r) => !r.replayed)!;
    assertEquals(first.results.map((r) => r.status), ["delivered", "forwarded"]);
    assertEquals(
      results.find((r) => r.replayed)!.results.map((r) => r.status),
      ["delivered", "forwarded"],
    );
    assert(p.jobs.every((j) => j.roundTrips === 1), JSON.stringify(p.jobs));
    const counts = (await p.sql.get<{ stored: number; queued: number; keys: number }>(
      `SELECT (SELECT count(*) FROM messages WHERE subject = 'keyed') AS stored,
       (SELECT count(*) FROM outbox) AS queued, (SELECT count(*) FROM tx_idempotency) AS keys`,
    ))!;
    assertEquals([counts.stored, counts.queued, counts.keys].map(Number), [1, 1, 1]);
    p.close();
  },
);

storeTest(
  "issue16#1: a draft sent from two gateways at once goes out once; the other is told it is gone",
  async (engine) => {
    const p = await pair(engine);
    const token = await p.gw.login(ALICE);
    const created = await p.gw.call("POST", "/v1/drafts", {
      token,
      body: { from: ALICE.address, to: [BOB.address], subject: "draft race", text: "t" },
    });
    assertEquals(created.status, 201);
    const { id } = await created.json();
    const auth = {
      accountId: p.account,
      address: ALICE.address,
      domainId: null,
      role: "user",
      kind: "session",
      scopes: new Set(["send"]),
    } as unknown as AuthContext;
    const sends = await Promise.allSettled([sendDraft(p.a, auth, id), sendDraft(p.b, auth, id)]);
    assertEquals(sends.map((s) => s.status).sort(), ["fulfilled", "rejected"]);
    const lost = (sends.find((s) => s.status === "rejected") as PromiseRejectedResult).reason;
    assertEquals([lost.status, lost.code], [404, "not_found"]);
    const copies = await p.sql.get<{ bob: number; drafts: number }>(
      `SELECT (SELECT count(*) FROM messages m JOIN accounts a ON a.id = m.account_id
       WHERE a.address = ? AND m.subject = 'draft race') AS bob,
     (SELECT count(*) FROM messages WHERE mailbox_id = (SELECT id FROM mailboxes
       WHERE account_id = ? AND role = 'drafts')) AS drafts`,
      [BOB.address, p.account],
    );
    assertEquals([Number(copies!.bob), Number(copies!.drafts)], [1, 0]);
    p.close();
  },
);

storeTest(
  "issue16#1: an outbox result is one round trip and needs the lease: a worker whose lease was taken over gets 409",
  async (engine) => {
    const p = await pair(engine);
    const token = await p.gw.login(ALICE);
    const res = await p.gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: ["carol@remote.test"], subject: "s", text: "t" },
    });
    assertEquals(res.status, 201);
    await res.body?.cancel();
    const [claimed] = (await claimOutbox(p.a, { worker: "w1", limit: 1, leaseSeconds: 60 })).groups;
    const id = claimed.items[0].id;
    // w1's lease lapses; w2 (another gateway) takes the row over.
    await p.sql.run("UPDATE outbox SET lease_until = 1 WHERE id = ?", [id]);
    await claimOutbox(p.b, { worker: "w2", limit: 1, leaseSeconds: 60 });
    p.jobs.length = 0;
    const late = await recordResult(p.a, id, {
      worker: "w1",
      outcome: "sent",
      message: "250 ok",
    } as OutboxResultRequest).catch((e) => e);
    assert(late instanceof AppError && late.status === 409, String(late));
    const done = await recordResult(p.b, id, {
      worker: "w2",
      outcome: "deferred",
      smtpCode: 451,
      message: "try later",
    } as OutboxResultRequest);
    assertEquals(done.row.state, "deferred");
    assertEquals(p.jobs.map((j) => j.roundTrips), [1]);
    const events = await p.sql.all<{ type: string }>(
      "SELECT type FROM events WHERE type LIKE 'outbox.%' AND type != 'outbox.queued' ORDER BY id",
    );
    assertEquals(events.map((e) => e.type), ["outbox.deferred"]);
    p.close();
  },
);

Deno.test("issue16#1: two processes appending to and flagging one mailbox of the embedded file: distinct consecutive UIDs, modseqs ascend", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-append-procs-" });
  const url = `file:${dir}/postern.db`;
  const gw = await createTestGateway({}, url);
  const per = 12;
  await runBursts("append_burst.ts", url, ALICE.address, per, ["p1", "p2"]);
  const sql = rawSql(gw.deps.store.db);
  const rows = await sql.all<{ uid: number; subject: string; keywords: string }>(
    `SELECT uid, subject, keywords FROM messages WHERE mailbox_id =
       (SELECT id FROM mailboxes WHERE role = 'inbox' AND account_id =
         (SELECT id FROM accounts WHERE address = ?)) ORDER BY uid`,
    [ALICE.address],
  );
  assertEquals(rows.map((r) => Number(r.uid)), Array.from({ length: 2 * per }, (_, i) => i + 1));
  // Each STORE +FLAGS 1:* began after its own APPEND had committed, so that message carries
  // the STORE's keyword: no flag change of either process was lost to the other's.
  for (const r of rows) {
    const [tag, i] = r.subject.split(" ");
    assert(JSON.parse(r.keywords).includes(`${tag}-${i}`), `${r.subject}: ${r.keywords}`);
  }
  const box = (await sql.get<{ uid_next: number; highest: number; top: number }>(
    `SELECT uid_next, highest_modseq AS highest, (SELECT max(modseq) FROM messages
       WHERE mailbox_id = mailboxes.id) AS top
     FROM mailboxes WHERE role = 'inbox' AND account_id = (SELECT id FROM accounts WHERE address = ?)`,
    [ALICE.address],
  ))!;
  assertEquals(Number(box.uid_next), 2 * per + 1);
  assertEquals(Number(box.highest), Number(box.top), "HIGHESTMODSEQ is the newest change's");
  gw.close();
});
