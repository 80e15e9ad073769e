/**
 * JMAP synchronisation (RFC 8620 sections 5.2 and 5.6) through the real app: changes made
 * over the IMAP mail-access API and REST show in /changes and /queryChanges; the pruned log.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { jmapWorld, type Json } from "./fixtures/jmap.ts";
import { seedMessage } from "./fixtures/mail.ts";
import { BOB } from "./fixtures/app.ts";
import { storeTest } from "./fixtures/store.ts";
import type { JobReport } from "../src/store/store.ts";

Deno.test("issue19#2: changes made over IMAP (mail-access) and REST show in Email/changes and queryChanges", async () => {
  await using w = await jmapWorld();
  const a = await seedMessage(w.gw, { subject: "first" });
  const [, got] = await w.one(["Email/get", {
    accountId: w.aliceAccount,
    ids: [`e${a.id}`],
    properties: ["keywords", "mailboxIds"],
  }, "g"]);
  const state = got.state;
  const [, query] = await w.one(["Email/query", {
    accountId: w.aliceAccount,
    filter: { notKeyword: "$seen" },
  }, "q"]);
  const [, mstate] = await w.one(["Mailbox/get", { accountId: w.aliceAccount, ids: [] }, "m"]);

  // IMAP STORE +FLAGS (\Seen) through the bridge's mail-access API.
  const inbox = Number(Object.keys(got.list[0].mailboxIds)[0].slice(1));
  const store = await w.call("POST", `/v1/mail-access/mailboxes/${inbox}/flags`, {
    token: w.alice,
    body: { uids: "1:*", op: "add", flags: ["\\Seen"] },
  });
  assertEquals(store.status, 200);
  const [, ch] = await w.one([
    "Email/changes",
    { accountId: w.aliceAccount, sinceState: state },
    "c",
  ]);
  assertEquals([ch.created, ch.updated, ch.destroyed], [[], [`e${a.id}`], []]);
  assertEquals(ch.oldState, state);
  const [, now] = await w.one(["Email/get", {
    accountId: w.aliceAccount,
    ids: [`e${a.id}`],
    properties: ["keywords"],
  }, "g"]);
  assertEquals(now.list[0].keywords, { $seen: true });
  assertEquals(now.state, ch.newState);

  // Only counts changed on the mailbox: updatedProperties says so (RFC 8621 section 2.2).
  const [, mch] = await w.one(["Mailbox/changes", {
    accountId: w.aliceAccount,
    sinceState: mstate.state,
  }, "c"]);
  assertEquals(mch.updated, [`m${inbox}`]);
  assertEquals(mch.updatedProperties, [
    "totalEmails",
    "unreadEmails",
    "totalThreads",
    "unreadThreads",
  ]);

  // The query of unseen mail: the message left it.
  const [, qc] = await w.one(["Email/queryChanges", {
    accountId: w.aliceAccount,
    filter: { notKeyword: "$seen" },
    sinceQueryState: query.queryState,
  }, "qc"]);
  assertEquals([qc.removed, qc.added], [[`e${a.id}`], []]);

  // A new delivery and a REST delete: created and destroyed.
  const b = await seedMessage(w.gw, { subject: "second" });
  const del = await w.call("DELETE", `/v1/messages/${a.id}?purge=true`, { token: w.alice });
  assert(del.status < 300, `delete: ${del.status}`);
  const [, ch2] = await w.one(["Email/changes", {
    accountId: w.aliceAccount,
    sinceState: ch.newState,
  }, "c"]);
  assertEquals([ch2.created, ch2.updated, ch2.destroyed], [[`e${b.id}`], [], [`e${a.id}`]]);
  const [, qc2] = await w.one(["Email/queryChanges", {
    accountId: w.aliceAccount,
    filter: { notKeyword: "$seen" },
    sinceQueryState: query.queryState,
  }, "qc"]);
  assertEquals(qc2.added, [{ id: `e${b.id}`, index: 0 }]);

  // maxChanges: one at a time, with hasMoreChanges and an intermediate state.
  const [, step] = await w.one(["Email/changes", {
    accountId: w.aliceAccount,
    sinceState: state,
    maxChanges: 1,
  }, "c"]);
  assertEquals(step.hasMoreChanges, true);
  assertEquals(step.created.length + step.updated.length + step.destroyed.length, 1);
  const [, rest] = await w.one(["Email/changes", {
    accountId: w.aliceAccount,
    sinceState: step.newState,
  }, "c"]);
  assertEquals(rest.hasMoreChanges, false);

  // Threads follow too.
  const [, th] = await w.one(["Thread/get", {
    accountId: w.aliceAccount,
    "#ids": undefined,
    ids: null,
  }, "t"]);
  assert(th.list.some((t: Json) => t.emailIds.includes(`e${b.id}`)));
  const [, tch] = await w.one([
    "Thread/changes",
    { accountId: w.aliceAccount, sinceState: "0" },
    "t",
  ]);
  assert(tch.created.length >= 1);
});

Deno.test("issue19#2: queryChanges with collapseThreads and for mailboxes turn the old list into the new one", async () => {
  await using w = await jmapWorld();
  const t0 = Date.UTC(2024, 0, 1);
  const root = await seedMessage(w.gw, {
    subject: "Topic",
    messageId: "<topic@x>",
    internalDate: t0,
  });
  const other = await seedMessage(w.gw, { subject: "Other", internalDate: t0 + 1000 });
  const args = { accountId: w.aliceAccount, collapseThreads: true };
  const [, before] = await w.one(["Email/query", args, "q"]);
  assertEquals(before.ids, [`e${other.id}`, `e${root.id}`]);
  const reply = await seedMessage(w.gw, {
    subject: "Re: Topic",
    inReplyTo: "<topic@x>",
    references: ["<topic@x>"],
    internalDate: t0 + 2000,
  });
  const [, after] = await w.one(["Email/query", args, "q"]);
  assertEquals(after.ids, [`e${reply.id}`, `e${other.id}`]);
  const [, qc] = await w.one([
    "Email/queryChanges",
    { ...args, sinceQueryState: before.queryState },
    "c",
  ]);
  // Applying removed then added (RFC 8620 section 5.6) to the old list gives the new one.
  const list = before.ids.filter((id: string) => !qc.removed.includes(id));
  for (const { id, index } of qc.added) list.splice(index, 0, id);
  assertEquals(list, after.ids);

  const [, mq] = await w.one(["Mailbox/query", {
    accountId: w.aliceAccount,
    sort: [{ property: "name" }],
  }, "m"]);
  await w.one([
    "Mailbox/set",
    { accountId: w.aliceAccount, create: { n: { name: "Aardvark" } } },
    "s",
  ]);
  const [, mq2] = await w.one(["Mailbox/query", {
    accountId: w.aliceAccount,
    sort: [{ property: "name" }],
  }, "m"]);
  const [, mqc] = await w.one(["Mailbox/queryChanges", {
    accountId: w.aliceAccount,
    sort: [{ property: "name" }],
    sinceQueryState: mq.queryState,
  }, "c"]);
  const boxes = mq.ids.filter((id: string) => !mqc.removed.includes(id));
  for (const { id, index } of mqc.added) boxes.splice(index, 0, id);
  assertEquals(boxes, mq2.ids);
});

storeTest(
  "issue19#2, issue16#1: a state older than the pruned change log is cannotCalculateChanges; a prune is one write job",
  async () => {
    await using w = await jmapWorld();
    await seedMessage(w.gw, { to: [BOB.address], subject: "bob's only mail" });
    const [, bob] = await w.one(["Email/get", { accountId: w.bobAccount, ids: [] }, "g"], {
      token: w.bob,
    });
    const [, before] = await w.one(["Email/get", { accountId: w.aliceAccount, ids: [] }, "g"]);
    for (let i = 0; i < 3; i++) await seedMessage(w.gw, { subject: `m${i}` });
    const { pruneChangeLog } = await import("../src/jmap/retention.ts");
    const jobs: JobReport[] = [];
    w.gw.deps.store.onJob = (j) => jobs.push(j);
    assert(await pruneChangeLog(w.gw.deps.store, 2) > 0);
    assertEquals(jobs.map((j) => [j.kind, j.roundTrips]), [["batch", 1]]);
    const [name, err] = await w.one(["Email/changes", {
      accountId: w.aliceAccount,
      sinceState: before.state,
    }, "c"]);
    assertEquals([name, err.type], ["error", "cannotCalculateChanges"]);
    // A current state still works, and a quiet account keeps its state (its latest row stays).
    const [, now] = await w.one(["Email/get", { accountId: w.aliceAccount, ids: [] }, "g"]);
    const [, ok] = await w.one(["Email/changes", {
      accountId: w.aliceAccount,
      sinceState: now.state,
    }, "c"]);
    assertEquals([ok.created, ok.updated, ok.destroyed], [[], [], []]);
    const [, bobNow] = await w.one(["Email/get", { accountId: w.bobAccount, ids: [] }, "g"], {
      token: w.bob,
    });
    assertEquals(bobNow.state, bob.state);
    const [bobName] = await w.one(["Email/changes", {
      accountId: w.bobAccount,
      sinceState: bob.state,
    }, "c"], { token: w.bob });
    assertEquals(bobName, "Email/changes");
  },
);
