/**
 * JMAP Mail (RFC 8621) through the real app: mailboxes, email reading in every form, queries,
 * changes (including writes made over the IMAP mail-access API and REST), sets, import, parse,
 * submission, blobs and isolation between accounts.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { jmapWorld, type Json } from "./fixtures/jmap.ts";
import { seedMessage } from "./fixtures/mail.ts";
import { ALICE, BOB } from "./fixtures/app.ts";

type World = Awaited<ReturnType<typeof jmapWorld>>;

async function boxes(w: World, account = w.aliceAccount, token = w.alice) {
  const [, r] = await w.one(["Mailbox/get", { accountId: account }, "m"], { token });
  return r.list as Json[];
}
const byRole = (list: Json[], role: string) => list.find((m) => m.role === role);

Deno.test("issue19#2: Mailbox/get gives roles, counts and rights; Mailbox/set renames, moves, destroys", async () => {
  await using w = await jmapWorld();
  const first = await seedMessage(w.gw, { subject: "one" });
  await seedMessage(w.gw, { subject: "Re: one", inReplyTo: undefined });
  let list = await boxes(w);
  const inbox = byRole(list, "inbox");
  assertEquals(inbox.name, "INBOX");
  assertEquals(inbox.parentId, null);
  assertEquals([inbox.totalEmails, inbox.unreadEmails], [2, 2]);
  assertEquals(inbox.totalThreads >= 1, true);
  assertEquals(inbox.myRights.mayDelete, false);
  for (const role of ["sent", "drafts", "trash", "junk"]) assert(byRole(list, role), role);

  const [, created] = await w.one(["Mailbox/set", {
    accountId: w.aliceAccount,
    create: { a: { name: "Work" }, b: { name: "Old" } },
  }, "s"]);
  const work = created.created.a.id;
  const old = created.created.b.id;
  assertEquals(created.created.a.totalEmails, 0);
  assert(created.newState !== created.oldState);

  // Rename and move below another mailbox in one update; the REST API sees the new path.
  const [, upd] = await w.one(["Mailbox/set", {
    accountId: w.aliceAccount,
    update: { [old]: { name: "Archive2024", parentId: work } },
  }, "u"]);
  assertEquals(upd.updated, { [old]: null });
  const rest = await w.json("GET", "/v1/mailboxes", { token: w.alice });
  assert(rest.items.some((m: Json) => m.name === "Work/Archive2024"));

  // Section 2.5: a mailbox with a child refuses destroy; a special-use one is forbidden.
  const [, refused] = await w.one(["Mailbox/set", {
    accountId: w.aliceAccount,
    destroy: [work, inbox.id],
    update: { [inbox.id]: { name: "Elsewhere" } },
  }, "d"]);
  assertEquals(refused.notDestroyed[work].type, "mailboxHasChild");
  assertEquals(refused.notDestroyed[inbox.id].type, "forbidden");
  assertEquals(refused.notUpdated[inbox.id].type, "forbidden");

  // A mailbox with mail: mailboxHasEmail unless onDestroyRemoveEmails.
  await w.one(["Email/set", {
    accountId: w.aliceAccount,
    update: { [`e${first.id}`]: { mailboxIds: { [old]: true } } },
  }, "mv"]);
  const [, hasMail] = await w.one([
    "Mailbox/set",
    { accountId: w.aliceAccount, destroy: [old] },
    "d",
  ]);
  assertEquals(hasMail.notDestroyed[old].type, "mailboxHasEmail");
  const [, gone] = await w.one(["Mailbox/set", {
    accountId: w.aliceAccount,
    destroy: [old],
    onDestroyRemoveEmails: true,
  }, "d"]);
  assertEquals(gone.destroyed, [old]);
  list = await boxes(w);
  assertEquals(list.some((m) => m.id === old), false);
  const [, email] = await w.one([
    "Email/get",
    { accountId: w.aliceAccount, ids: [`e${first.id}`] },
    "g",
  ]);
  assertEquals(email.notFound, [`e${first.id}`]);

  // Role and server-set properties cannot be written.
  const [, bad] = await w.one(["Mailbox/set", {
    accountId: w.aliceAccount,
    create: {
      r: { name: "X", role: "inbox" },
      t: { name: "Y", totalEmails: 5 },
      s: { name: "a/b" },
    },
  }, "c"]);
  assertEquals(bad.notCreated.r.type, "invalidProperties");
  assertEquals(bad.notCreated.t.properties, ["totalEmails"]);
  assertEquals(bad.notCreated.s.type, "invalidProperties");
});

Deno.test("issue19#2: Email/get gives headers in every form, bodyStructure, body lists and values", async () => {
  await using w = await jmapWorld();
  const { id, raw } = await seedMessage(w.gw, {
    fromName: "Carol Ünïcode",
    subject: "Größe und Maß",
    text: "Plain body with a needle.",
    html: "<p>HTML body</p>",
    cc: [BOB.address],
    attachments: [{
      filename: "report.pdf",
      contentType: "application/pdf",
      content: "%PDF-1.4 x",
    }],
  });
  const [, r] = await w.one(["Email/get", {
    accountId: w.aliceAccount,
    ids: [`e${id}`],
    properties: [
      "id",
      "blobId",
      "threadId",
      "mailboxIds",
      "keywords",
      "size",
      "receivedAt",
      "messageId",
      "from",
      "to",
      "cc",
      "subject",
      "sentAt",
      "hasAttachment",
      "preview",
      "bodyStructure",
      "textBody",
      "htmlBody",
      "attachments",
      "bodyValues",
      "header:Subject",
      "header:Subject:asText",
      "header:From:asAddresses",
      "header:X-Missing",
      "header:Received:all",
      "header:Message-ID:asMessageIds",
      "header:Date:asDate",
    ],
    fetchAllBodyValues: true,
  }, "g"]);
  const e = r.list[0];
  assertEquals(e.id, `e${id}`);
  assertEquals(e.size, raw.byteLength);
  assertEquals(e.keywords, {});
  assertEquals(Object.keys(e.mailboxIds).length, 1);
  assertEquals(e.from, [{ name: "Carol Ünïcode", email: "carol@example.org" }]);
  assertEquals(e.to, [{ name: null, email: ALICE.address }]);
  assertEquals(e.cc, [{ name: null, email: BOB.address }]);
  assertEquals(e.subject, "Größe und Maß");
  assertEquals(e["header:Subject:asText"], "Größe und Maß");
  assert(e["header:Subject"].startsWith(" =?UTF-8?B?"), "asRaw keeps the encoded-word and space");
  assertEquals(e["header:From:asAddresses"], e.from);
  assertEquals(e["header:X-Missing"], null);
  assertEquals(e["header:Received:all"], []);
  assertEquals(e["header:Message-ID:asMessageIds"], e.messageId);
  assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(e.sentAt));
  assertEquals(e.hasAttachment, true);
  assertEquals(e.bodyStructure.type, "multipart/mixed");
  assertEquals(e.bodyStructure.partId, null);
  assertEquals(e.textBody.map((p: Json) => p.type), ["text/plain"]);
  assertEquals(e.htmlBody.map((p: Json) => p.type), ["text/html"]);
  assertEquals(e.attachments.map((p: Json) => [p.name, p.type, p.disposition]), [
    ["report.pdf", "application/pdf", "attachment"],
  ]);
  assertEquals(e.bodyValues[e.textBody[0].partId].value, "Plain body with a needle.");
  assertEquals(e.bodyValues[e.htmlBody[0].partId].value, "<p>HTML body</p>");
  assertEquals(e.bodyValues[e.textBody[0].partId].isTruncated, false);

  // The attachment's blob downloads decoded; the message's blob is the exact bytes.
  const att = e.attachments[0];
  assertEquals(att.size, 10);
  const dl = await w.gw.app.request(
    `/jmap/download/${w.aliceAccount}/${att.blobId}/report.pdf?accept=application/pdf`,
    { headers: { authorization: `Bearer ${w.alice}` } },
  );
  assertEquals(dl.status, 200);
  assertEquals(dl.headers.get("content-type"), "application/pdf");
  assertEquals(await dl.text(), "%PDF-1.4 x");
  const whole = await w.gw.app.request(
    `/jmap/download/${w.aliceAccount}/${e.blobId}/m.eml`,
    { headers: { authorization: `Bearer ${w.alice}` } },
  );
  assertEquals(new Uint8Array(await whole.arrayBuffer()), raw);

  // maxBodyValueBytes truncates on a character boundary.
  const [, cut] = await w.one(["Email/get", {
    accountId: w.aliceAccount,
    ids: [`e${id}`],
    properties: ["bodyValues"],
    fetchTextBodyValues: true,
    maxBodyValueBytes: 5,
  }, "g"]);
  const value = Object.values(cut.list[0].bodyValues)[0] as Json;
  assertEquals([value.value, value.isTruncated], ["Plain", true]);
  // Unknown properties are invalidArguments (RFC 8620 section 5.1).
  const [name, err] = await w.one(["Email/get", {
    accountId: w.aliceAccount,
    ids: [`e${id}`],
    properties: ["colour"],
  }, "g"]);
  assertEquals([name, err.type], ["error", "invalidArguments"]);
});

Deno.test("issue19#2: Email/query filters, sorts, collapses threads and windows; SearchSnippet marks", async () => {
  await using w = await jmapWorld();
  const t0 = Date.UTC(2024, 0, 1);
  const a = await seedMessage(w.gw, {
    subject: "Invoice March",
    from: "billing@shop.example",
    internalDate: t0,
    text: "pay the invoice soon",
  });
  const b = await seedMessage(w.gw, {
    subject: "Lunch?",
    from: "dave@example.org",
    internalDate: t0 + 1000,
    messageId: "<root@x>",
  });
  const c = await seedMessage(w.gw, {
    subject: "Re: Lunch?",
    from: "erin@example.org",
    internalDate: t0 + 2000,
    inReplyTo: "<root@x>",
    references: ["<root@x>"],
  });
  const ids = (x: { id: number }[]) => x.map((m) => `e${m.id}`);
  const q = async (args: Json) => {
    const [name, r] = await w.one(["Email/query", { accountId: w.aliceAccount, ...args }, "q"]);
    if (name === "error") throw new Error(JSON.stringify(r));
    return r;
  };
  assertEquals((await q({})).ids, ids([c, b, a]));
  assertEquals(
    (await q({ sort: [{ property: "receivedAt", isAscending: true }] })).ids,
    ids([a, b, c]),
  );
  assertEquals((await q({ filter: { from: "billing" } })).ids, ids([a]));
  assertEquals((await q({ filter: { subject: "lunch" } })).ids, ids([c, b]));
  assertEquals((await q({ filter: { text: "invoice" } })).ids, ids([a]));
  assertEquals((await q({ filter: { body: "soon" } })).ids, ids([a]));
  assertEquals((await q({ filter: { before: new Date(t0 + 1000).toISOString() } })).ids, ids([a]));
  assertEquals(
    (await q({ filter: { after: new Date(t0 + 1000).toISOString() } })).ids,
    ids([c, b]),
  );
  assertEquals(
    (await q({ filter: { operator: "NOT", conditions: [{ from: "billing" }] } })).ids,
    ids([c, b]),
  );
  assertEquals((await q({ collapseThreads: true })).ids, ids([c, a]));
  assertEquals(
    (await q({ sort: [{ property: "subject", isAscending: true }] })).ids,
    ids([a, c, b]),
  );
  const win = await q({ position: 1, limit: 1, calculateTotal: true });
  assertEquals([win.ids, win.position, win.total], [ids([b]), 1, 3]);
  const anchored = await q({ anchor: `e${b.id}`, anchorOffset: 1 });
  assertEquals(anchored.ids, ids([a]));
  const [, missing] = await w.one([
    "Email/query",
    { accountId: w.aliceAccount, anchor: "e999999" },
    "q",
  ]);
  assertEquals(missing.type, "anchorNotFound");

  // Keywords: after flagging one over JMAP, hasKeyword/notKeyword split the mailbox.
  await w.one(["Email/set", {
    accountId: w.aliceAccount,
    update: { [`e${b.id}`]: { "keywords/$flagged": true } },
  }, "k"]);
  assertEquals((await q({ filter: { hasKeyword: "$flagged" } })).ids, ids([b]));
  assertEquals((await q({ filter: { notKeyword: "$flagged" } })).ids, ids([c, a]));
  const inbox = byRole(await boxes(w), "inbox").id;
  assertEquals((await q({ filter: { inMailbox: inbox } })).ids.length, 3);

  const [, snip] = await w.one(["SearchSnippet/get", {
    accountId: w.aliceAccount,
    filter: { text: "invoice" },
    emailIds: [`e${a.id}`],
  }, "s"]);
  assertEquals(snip.list[0].subject, "<mark>Invoice</mark> March");
  assert(snip.list[0].preview.includes("<mark>invoice</mark>"));
});

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

Deno.test("issue19#2: Email/set creates, moves, flags and destroys; Email/import and Email/parse read uploads", async () => {
  await using w = await jmapWorld();
  const list = await boxes(w);
  const drafts = byRole(list, "drafts").id;
  const archive = byRole(list, "archive").id;
  const up = await w.gw.app.request(`/jmap/upload/${w.aliceAccount}/`, {
    method: "POST",
    headers: { authorization: `Bearer ${w.alice}`, "content-type": "text/plain" },
    body: "attached words",
  });
  assertEquals(up.status, 201);
  const blob = await up.json();
  assertEquals([blob.accountId, blob.size, blob.type], [w.aliceAccount, 14, "text/plain"]);

  const [, set] = await w.one(["Email/set", {
    accountId: w.aliceAccount,
    create: {
      d1: {
        mailboxIds: { [drafts]: true },
        keywords: { $draft: true, $seen: true },
        from: [{ name: "Alice", email: ALICE.address }],
        to: [{ name: "Bob", email: BOB.address }],
        subject: "Draft via JMAP",
        textBody: [{ partId: "t", type: "text/plain" }],
        bodyValues: { t: { value: "Hello Bob" } },
        attachments: [{ blobId: blob.blobId, type: "text/plain", name: "words.txt" }],
        "header:X-Client": "jmap-test",
      },
      bad: { mailboxIds: { [drafts]: true, [archive]: true }, from: [{ email: ALICE.address }] },
    },
  }, "c"]);
  assertEquals(set.notCreated.bad.type, "tooManyMailboxes");
  const d1 = set.created.d1;
  assert(d1.id && d1.blobId && d1.threadId && d1.size > 0);
  const [, read] = await w.one(["Email/get", {
    accountId: w.aliceAccount,
    ids: [d1.id],
    properties: [
      "subject",
      "keywords",
      "mailboxIds",
      "attachments",
      "header:X-Client:asText",
      "bodyValues",
    ],
    fetchTextBodyValues: true,
  }, "g"]);
  const e = read.list[0];
  assertEquals(e.subject, "Draft via JMAP");
  assertEquals(e.keywords, { $draft: true, $seen: true });
  assertEquals(e.mailboxIds, { [drafts]: true });
  assertEquals(e.attachments[0].name, "words.txt");
  assertEquals(e["header:X-Client:asText"], "jmap-test");
  assertEquals(Object.values(e.bodyValues).map((v: Json) => v.value.trim()), ["Hello Bob"]);

  // Update keywords (patch and whole map) and move; the id stays (the REST API agrees).
  const [, upd] = await w.one(["Email/set", {
    accountId: w.aliceAccount,
    update: {
      [d1.id]: {
        "keywords/$draft": null,
        "keywords/custom": true,
        mailboxIds: { [archive]: true },
      },
      e999999: { "keywords/$seen": true },
    },
  }, "u"]);
  assertEquals(upd.updated, { [d1.id]: null });
  assertEquals(upd.notUpdated.e999999.type, "notFound");
  const msg = await w.json("GET", `/v1/messages/${d1.id.slice(1)}`, { token: w.alice });
  assertEquals([msg.mailboxId, msg.flags.draft, msg.flags.seen, msg.keywords], [
    Number(archive.slice(1)),
    false,
    true,
    ["custom"],
  ]);

  // Import an RFC 5322 upload into the Inbox; parse it first.
  const rfc = "From: Zed <zed@example.net>\r\nTo: alice@postern.test\r\nSubject: Imported\r\n" +
    "Message-ID: <imp1@example.net>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nImported body\r\n";
  const up2 = await (await w.gw.app.request(`/jmap/upload/${w.aliceAccount}/`, {
    method: "POST",
    headers: { authorization: `Bearer ${w.alice}`, "content-type": "message/rfc822" },
    body: rfc,
  })).json();
  const [, parsed] = await w.one(["Email/parse", {
    accountId: w.aliceAccount,
    blobIds: [up2.blobId, "up_0000000000000000"],
    fetchTextBodyValues: true,
  }, "p"]);
  const p = parsed.parsed[up2.blobId];
  assertEquals([p.subject, p.from[0].email, p.messageId], ["Imported", "zed@example.net", [
    "imp1@example.net",
  ]]);
  assertEquals(Object.values(p.bodyValues).map((v: Json) => v.value), ["Imported body\n"]);
  assertEquals(parsed.notFound, ["up_0000000000000000"]);
  const inbox = byRole(list, "inbox").id;
  const [, imp] = await w.one(["Email/import", {
    accountId: w.aliceAccount,
    emails: {
      i1: {
        blobId: up2.blobId,
        mailboxIds: { [inbox]: true },
        keywords: { $seen: true },
        receivedAt: "2024-01-02T00:00:00Z",
      },
      i2: { blobId: "B999999", mailboxIds: { [inbox]: true } },
    },
  }, "i"]);
  assertEquals(imp.notCreated.i2.type, "blobNotFound");
  const [, got] = await w.one(["Email/get", {
    accountId: w.aliceAccount,
    ids: [imp.created.i1.id],
    properties: ["receivedAt", "keywords", "subject"],
  }, "g"]);
  assertEquals(got.list[0], {
    id: imp.created.i1.id,
    receivedAt: "2024-01-02T00:00:00Z",
    keywords: { $seen: true },
    subject: "Imported",
  });

  // Destroy removes it for good.
  const [, des] = await w.one(["Email/set", {
    accountId: w.aliceAccount,
    destroy: [imp.created.i1.id],
  }, "d"]);
  assertEquals(des.destroyed, [imp.created.i1.id]);
  const gone = await w.call("GET", `/v1/messages/${imp.created.i1.id.slice(1)}`, {
    token: w.alice,
  });
  assertEquals(gone.status, 404);

  // Email/copy between one's own account and itself is not a copy (RFC 8620 section 5.4).
  const [cname, cerr] = await w.one(["Email/copy", {
    fromAccountId: w.bobAccount,
    accountId: w.aliceAccount,
    create: {},
  }, "cp"]);
  assertEquals([cname, cerr.type], ["error", "fromAccountNotFound"]);
});

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
  const r2 = await w.api([
    ["Email/set", {
      accountId: w.aliceAccount,
      create: {
        x: {
          mailboxIds: { [byRole(list, "drafts").id]: true },
          from: [{ email: BOB.address }],
          to: [{ email: BOB.address }],
          subject: "spoof",
          textBody: [{ partId: "1" }],
          bodyValues: { "1": { value: "x" } },
        },
      },
    }, "0"],
    ["EmailSubmission/set", {
      accountId: w.aliceAccount,
      create: { s: { identityId: ids.list[0].id, emailId: "#x" } },
    }, "1"],
  ]);
  assertEquals(r2.methodResponses[1][1].notCreated.s.type, "forbiddenFrom");
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

Deno.test("issue19#2: a state older than the pruned change log is cannotCalculateChanges", async () => {
  await using w = await jmapWorld();
  await seedMessage(w.gw, { to: [BOB.address], subject: "bob's only mail" });
  const [, bob] = await w.one(["Email/get", { accountId: w.bobAccount, ids: [] }, "g"], {
    token: w.bob,
  });
  const [, before] = await w.one(["Email/get", { accountId: w.aliceAccount, ids: [] }, "g"]);
  for (let i = 0; i < 3; i++) await seedMessage(w.gw, { subject: `m${i}` });
  const { pruneChangeLog } = await import("../src/jmap/retention.ts");
  assert(await pruneChangeLog(w.gw.deps.store, 2) > 0);
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

Deno.test("issue19#2: RFC 8621 section 4.2's Email/get example (List-Post as URLs, HTML body values)", async () => {
  await using w = await jmapWorld();
  const { deliver } = await import("../src/services/delivery.ts");
  const raw = new TextEncoder().encode([
    `From: "Joe Bloggs" <joe@example.com>`,
    `To: ${ALICE.address}`,
    "Subject: Dinner on Thursday?",
    "Date: Tue, 12 Feb 2019 13:35:51 +0000",
    "Message-ID: <dinner@example.com>",
    "List-Post: <mailto:partners@example.com>",
    "MIME-Version: 1.0",
    "Content-Type: text/html; charset=utf-8",
    "",
    "<html><body><p>Hello, I'm on the list? Dinner on Thursday?</p></body></html>",
  ].join("\r\n"));
  const [first] = await deliver(w.gw.deps, {
    raw,
    mailFrom: "joe@example.com",
    recipients: [ALICE.address],
    source: "api",
  });
  const id = `e${first.messageId}`;
  // The request as the RFC gives it (ids and accountId are this server's).
  const [name, r] = await w.one(["Email/get", {
    accountId: w.aliceAccount,
    ids: [id],
    properties: [
      "threadId",
      "mailboxIds",
      "from",
      "subject",
      "receivedAt",
      "header:List-POST:asURLs",
      "htmlBody",
      "bodyValues",
    ],
    bodyProperties: ["partId", "blobId", "size", "type"],
    fetchHTMLBodyValues: true,
    maxBodyValueBytes: 256,
  }, "f"]);
  assertEquals(name, "Email/get");
  const e = r.list[0];
  assertEquals(Object.keys(e).sort(), [
    "bodyValues",
    "from",
    "header:List-POST:asURLs",
    "htmlBody",
    "id",
    "mailboxIds",
    "receivedAt",
    "subject",
    "threadId",
  ]);
  assertEquals(e.from, [{ name: "Joe Bloggs", email: "joe@example.com" }]);
  assertEquals(e.subject, "Dinner on Thursday?");
  assertEquals(e["header:List-POST:asURLs"], ["mailto:partners@example.com"]);
  assertEquals(e.htmlBody.length, 1);
  assertEquals(Object.keys(e.htmlBody[0]).sort(), ["blobId", "partId", "size", "type"]);
  assertEquals(e.htmlBody[0].type, "text/html");
  assertEquals(e.bodyValues[e.htmlBody[0].partId], {
    value: "<html><body><p>Hello, I'm on the list? Dinner on Thursday?</p></body></html>",
    isEncodingProblem: false,
    isTruncated: false,
  });
  assertEquals(r.notFound, []);
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

Deno.test("issue19#2: Email/set creates from a bodyStructure (alternative bodies and an attachment)", async () => {
  await using w = await jmapWorld();
  const drafts = byRole(await boxes(w), "drafts").id;
  const up = await (await w.gw.app.request(`/jmap/upload/${w.aliceAccount}/`, {
    method: "POST",
    headers: { authorization: `Bearer ${w.alice}` },
    body: "a,b\n1,2\n",
  })).json();
  const [, set] = await w.one(["Email/set", {
    accountId: w.aliceAccount,
    create: {
      s: {
        mailboxIds: { [drafts]: true },
        from: [{ email: ALICE.address }],
        to: [{ email: BOB.address }],
        subject: "Structured",
        bodyStructure: {
          type: "multipart/mixed",
          subParts: [
            {
              type: "multipart/alternative",
              subParts: [
                { type: "text/plain", partId: "t" },
                { type: "text/html", partId: "h" },
              ],
            },
            { type: "text/csv", blobId: up.blobId, name: "data.csv", disposition: "attachment" },
          ],
        },
        bodyValues: { t: { value: "plain words" }, h: { value: "<p>html words</p>" } },
      },
      both: {
        mailboxIds: { [drafts]: true },
        from: [{ email: ALICE.address }],
        bodyStructure: { type: "text/plain", partId: "t" },
        textBody: [{ partId: "t" }],
        bodyValues: { t: { value: "x" } },
      },
    },
  }, "c"]);
  assertEquals(set.notCreated.both.type, "invalidProperties");
  const [, got] = await w.one(["Email/get", {
    accountId: w.aliceAccount,
    ids: [set.created.s.id],
    properties: ["textBody", "htmlBody", "attachments", "bodyValues"],
    fetchAllBodyValues: true,
  }, "g"]);
  const e = got.list[0];
  assertEquals(e.bodyValues[e.textBody[0].partId].value.trim(), "plain words");
  assertEquals(e.bodyValues[e.htmlBody[0].partId].value.trim(), "<p>html words</p>");
  assertEquals(e.attachments.map((a: Json) => [a.name, a.type]), [["data.csv", "text/csv"]]);
});
