/**
 * JMAP Email reading and writing (RFC 8621 sections 4 and 5) through the real app: every
 * property form, queries and snippets, set, import and parse.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { boxes, byRole, jmapWorld, type Json } from "./fixtures/jmap.ts";
import { seedMessage } from "./fixtures/mail.ts";
import { ALICE, BOB } from "./fixtures/app.ts";

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
