/**
 * JMAP submission (RFC 8621 sections 6 and 7) through the real app: identities, sending
 * through Postern's own path, implicit Email/set, live delivery status.
 */
import { assertEquals } from "./fixtures/assert.ts";
import { boxes, byRole, draftAndSubmit, jmapWorld, type Json } from "./fixtures/jmap.ts";
import { ALICE, BOB } from "./fixtures/app.ts";

Deno.test("issue19#2: EmailSubmission sends through Postern's own path and updates the Email on success", async () => {
  await using w = await jmapWorld();
  const list = await boxes(w);
  const [, ids] = await w.one(["Identity/get", { accountId: w.aliceAccount }, "i"]);
  assertEquals(ids.list[0].email, ALICE.address);
  const [, iset] = await w.one(["Identity/set", {
    accountId: w.aliceAccount,
    create: { x: { email: "x@y.z" } },
  }, "s"]);
  assertEquals(iset.notCreated.x.type, "forbidden");
  const r = await w.api([
    ["Email/set", {
      accountId: w.aliceAccount,
      create: {
        draft: {
          mailboxIds: { [byRole(list, "drafts").id]: true },
          keywords: { $draft: true, $seen: true },
          from: [{ email: ALICE.address }],
          to: [{ email: BOB.address }],
          bcc: [{ email: "admin@postern.test" }],
          subject: "Sent by JMAP",
          textBody: [{ partId: "1" }],
          bodyValues: { "1": { value: "Hi Bob, from JMAP." } },
        },
      },
    }, "0"],
    ["EmailSubmission/set", {
      accountId: w.aliceAccount,
      create: { sub: { identityId: ids.list[0].id, emailId: "#draft" } },
      onSuccessUpdateEmail: {
        "#sub": {
          [`mailboxIds/${byRole(list, "drafts").id}`]: null,
          [`mailboxIds/${byRole(list, "sent").id}`]: true,
          "keywords/$draft": null,
        },
      },
    }, "1"],
  ]);
  const [n1, sub] = r.methodResponses[1];
  assertEquals(n1, "EmailSubmission/set", JSON.stringify(sub));
  const created = sub.created.sub;
  assertEquals(created.undoStatus, "final");
  const [n2, implicit] = r.methodResponses[2];
  assertEquals([n2, r.methodResponses[2][2]], ["Email/set", "1"]);
  const emailId = r.methodResponses[0][1].created.draft.id;
  assertEquals(implicit.updated, { [emailId]: null });
  const [, moved] = await w.one(["Email/get", {
    accountId: w.aliceAccount,
    ids: [emailId],
    properties: ["mailboxIds", "keywords"],
  }, "g"]);
  assertEquals(moved.list[0].mailboxIds, { [byRole(list, "sent").id]: true });
  assertEquals(moved.list[0].keywords, { $seen: true });

  const [, subs] = await w.one(["EmailSubmission/get", {
    accountId: w.aliceAccount,
    ids: [created.id],
  }, "g"]);
  const s = subs.list[0];
  assertEquals(s.emailId, emailId);
  assertEquals(s.envelope.rcptTo.map((x: Json) => x.email).sort(), [
    "admin@postern.test",
    BOB.address,
  ]);
  assertEquals(s.deliveryStatus[BOB.address].delivered, "yes");

  // Bob has it, without the Bcc field; admin got it too.
  const [, bq] = await w.one(["Email/query", {
    accountId: w.bobAccount,
    filter: { subject: "Sent by JMAP" },
  }, "q"], { token: w.bob });
  assertEquals(bq.ids.length, 1);
  const [, bm] = await w.one(["Email/get", {
    accountId: w.bobAccount,
    ids: bq.ids,
    properties: ["bcc", "from", "header:Bcc"],
  }, "g"], { token: w.bob });
  assertEquals([bm.list[0].bcc, bm.list[0]["header:Bcc"]], [null, null]);

  // Sending as someone else is forbiddenFrom.
  const r2 = await draftAndSubmit(w, {
    from: BOB.address,
    to: [BOB.address],
    subject: "spoof",
    text: "x",
  });
  assertEquals(r2.notCreated.s.type, "forbiddenFrom");
  const [, cancel] = await w.one(["EmailSubmission/set", {
    accountId: w.aliceAccount,
    update: { [created.id]: { undoStatus: "canceled" } },
  }, "c"]);
  assertEquals(cancel.notUpdated[created.id].type, "cannotUnsend");
  const [, sch] = await w.one(["EmailSubmission/changes", {
    accountId: w.aliceAccount,
    sinceState: "0",
  }, "c"]);
  assertEquals(sch.created, [created.id]);
});

Deno.test("issue19#2: a remote recipient's delivery status follows the outbox; onSuccessDestroyEmail destroys", async () => {
  await using w = await jmapWorld();
  const list = await boxes(w);
  const drafts = byRole(list, "drafts").id;
  const [, ids] = await w.one(["Identity/get", { accountId: w.aliceAccount }, "i"]);
  const r = await w.api([
    ["Email/set", {
      accountId: w.aliceAccount,
      create: {
        m: {
          mailboxIds: { [drafts]: true },
          from: [{ email: ALICE.address }],
          to: [{ email: "carol@remote.example" }],
          subject: "Far away",
          textBody: [{ partId: "1" }],
          bodyValues: { "1": { value: "Hello over SMTP." } },
        },
      },
    }, "0"],
    ["EmailSubmission/set", {
      accountId: w.aliceAccount,
      create: { s: { identityId: ids.list[0].id, emailId: "#m" } },
      onSuccessDestroyEmail: ["#s"],
    }, "1"],
  ]);
  const emailId = r.methodResponses[0][1].created.m.id;
  const subId = r.methodResponses[1][1].created.s.id;
  assertEquals(r.methodResponses[2][0], "Email/set");
  assertEquals(r.methodResponses[2][1].destroyed, [emailId]);
  const status = async () => {
    const [, got] = await w.one([
      "EmailSubmission/get",
      { accountId: w.aliceAccount, ids: [subId] },
      "g",
    ]);
    return got.list[0].deliveryStatus["carol@remote.example"];
  };
  assertEquals((await status()).delivered, "queued");
  // The bridge's outbound worker reports it sent (as it does through the outbox API).
  const { schema } = await import("../src/store/store.ts");
  const { eq } = await import("drizzle-orm");
  const rows = await w.gw.deps.store.db.select().from(schema.outbox)
    .where(eq(schema.outbox.rcptTo, "carol@remote.example"));
  assertEquals(rows.length, 1);
  await w.gw.deps.store.db.update(schema.outbox).set({ state: "sent" })
    .where(eq(schema.outbox.id, rows[0].id));
  assertEquals((await status()).delivered, "yes");
});

Deno.test("issue19#2: EmailSubmission/query filters and sorts; queryChanges turns the old list into the new one", async () => {
  await using w = await jmapWorld();
  const send = async (subject: string) =>
    (await draftAndSubmit(w, { from: ALICE.address, to: [BOB.address], subject, text: "x" }))
      .created.s;
  const a = await send("one");
  const b = await send("two");
  const query = (extra: Json = {}) =>
    w.one(["EmailSubmission/query", {
      accountId: w.aliceAccount,
      sort: [{ property: "emailId", isAscending: false }],
      ...extra,
    }, "q"]);
  const [, q] = await query();
  assertEquals([q.ids, q.canCalculateChanges], [[b.id, a.id], true]);
  const [, got] = await w.one([
    "EmailSubmission/get",
    { accountId: w.aliceAccount, ids: [a.id] },
    "g",
  ]);
  const [, only] = await query({ filter: { emailIds: [got.list[0].emailId] } });
  assertEquals(only.ids, [a.id]);
  const [name, bad] = await query({ filter: { color: "red" } });
  assertEquals([name, bad.type], ["error", "unsupportedFilter"]);

  const c = await send("three");
  const [, qc] = await w.one(["EmailSubmission/queryChanges", {
    accountId: w.aliceAccount,
    sort: [{ property: "emailId", isAscending: false }],
    sinceQueryState: q.queryState,
    calculateTotal: true,
  }, "c"]);
  assertEquals(qc.oldQueryState, q.queryState);
  assertEquals([qc.removed, qc.added, qc.total], [[c.id], [{ id: c.id, index: 0 }], 3]);
  const [, now] = await query();
  assertEquals(now.queryState, qc.newQueryState);
  assertEquals(now.ids, [c.id, b.id, a.id]);

  // RFC 8620 section 5.6: more changes than maxChanges is tooManyChanges, not a partial list.
  const [errName, err] = await w.one(["EmailSubmission/queryChanges", {
    accountId: w.aliceAccount,
    sinceQueryState: "0",
    maxChanges: 1,
  }, "c"]);
  assertEquals([errName, err.type], ["error", "tooManyChanges"]);
});

Deno.test("issue19#2: Identity/set updates the name, replyTo, bcc and signatures; the rest stays the server's", async () => {
  await using w = await jmapWorld();
  const [, before] = await w.one(["Identity/get", { accountId: w.aliceAccount }, "g"]);
  const me = before.list[0];
  const [, set] = await w.one(["Identity/set", {
    accountId: w.aliceAccount,
    ifInState: before.state,
    update: {
      [me.id]: {
        name: "Alice Liddell",
        replyTo: [{ name: "Desk", email: "desk@postern.test" }],
        textSignature: "-- \nAlice",
        htmlSignature: "<p>Alice</p>",
      },
    },
  }, "s"]);
  assertEquals(set.updated, { [me.id]: null });
  assertEquals(set.oldState, before.state);
  const [, after] = await w.one(["Identity/get", { accountId: w.aliceAccount, ids: [me.id] }, "g"]);
  assertEquals(after.state, set.newState);
  const got = after.list[0];
  assertEquals(
    [got.name, got.email, got.replyTo, got.bcc, got.textSignature, got.htmlSignature],
    [
      "Alice Liddell",
      ALICE.address,
      [{ name: "Desk", email: "desk@postern.test" }],
      null,
      "-- \nAlice",
      "<p>Alice</p>",
    ],
  );
  // A patch path works too; the old state is now stale (stateMismatch), and changes say refetch.
  const [, patched] = await w.one(["Identity/set", {
    accountId: w.aliceAccount,
    update: { [me.id]: { "bcc": [{ email: "archive@postern.test" }] } },
  }, "s"]);
  assertEquals(patched.updated, { [me.id]: null });
  const [stale, mismatch] = await w.one(["Identity/set", {
    accountId: w.aliceAccount,
    ifInState: before.state,
    update: { [me.id]: { name: "x" } },
  }, "s"]);
  assertEquals([stale, mismatch.type], ["error", "stateMismatch"]);
  const [, ch] = await w.one(["Identity/changes", {
    accountId: w.aliceAccount,
    sinceState: before.state,
  }, "c"]);
  assertEquals(ch.type, "cannotCalculateChanges");

  // The address, new identities and deletions are refused; so is bad input, which changes nothing.
  const [, refused] = await w.one(["Identity/set", {
    accountId: w.aliceAccount,
    create: { n: { email: ALICE.address } },
    update: {
      [me.id]: { email: BOB.address },
      "i999": { name: "ghost" },
    },
    destroy: [me.id],
  }, "s"]);
  assertEquals(refused.notCreated.n.type, "forbidden");
  assertEquals(refused.notDestroyed[me.id].type, "forbidden");
  assertEquals([refused.notUpdated[me.id].type, refused.notUpdated[me.id].properties], [
    "invalidProperties",
    ["email"],
  ]);
  assertEquals(refused.notUpdated.i999.type, "notFound");
  const [, bad] = await w.one(["Identity/set", {
    accountId: w.aliceAccount,
    update: { [me.id]: { replyTo: [{ email: "not an address" }], textSignature: 5 } },
  }, "s"]);
  assertEquals(bad.notUpdated[me.id].properties, ["replyTo", "textSignature"]);
  const [, still] = await w.one(["Identity/get", { accountId: w.aliceAccount, ids: [me.id] }, "g"]);
  assertEquals(still.list[0].replyTo, [{ name: "Desk", email: "desk@postern.test" }]);

  // Bob cannot touch Alice's identity, from his account or hers.
  const [, fromBob] = await w.one(["Identity/set", {
    accountId: w.bobAccount,
    update: { [me.id]: { name: "Mallory" } },
  }, "s"], { token: w.bob });
  assertEquals(fromBob.notUpdated[me.id].type, "notFound");
  const [denied, err] = await w.one(["Identity/set", {
    accountId: w.aliceAccount,
    update: { [me.id]: { name: "Mallory" } },
  }, "s"], { token: w.bob });
  assertEquals([denied, err.type], ["error", "accountNotFound"]);
});

Deno.test("issue19#2: a method the server cannot complete is serverFail, without the reason, and the other calls still run", async () => {
  await using w = await jmapWorld();
  const sent = await draftAndSubmit(w, {
    from: ALICE.address,
    to: [BOB.address],
    subject: "to be broken",
    text: "x",
  });
  // A stored row the code cannot read (what a disk or a bad migration could leave behind).
  const { schema } = await import("../src/store/store.ts");
  await w.gw.deps.store.db.update(schema.jmapSubmissions).set({ envelope: "{not json" });
  const r = await w.api([
    ["EmailSubmission/get", { accountId: w.aliceAccount, ids: [sent.created.s.id] }, "a"],
    ["Core/echo", { still: "here" }, "b"],
  ], { using: ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:submission"] });
  const [[n0, e0, c0], [n1, e1]] = r.methodResponses;
  assertEquals([n0, e0.type, c0], ["error", "serverFail", "a"]);
  // The reason goes to the log (jmap.method_failed), not to the client.
  assertEquals(JSON.stringify(e0).includes("JSON"), false);
  assertEquals([n1, e1], ["Core/echo", { still: "here" }]);
});
