/**
 * JMAP end to end over a real socket: the npm client `jmap-jam` against a running gateway
 * (lists mailboxes, queries and reads, searches, uploads, imports, downloads, sends through
 * EmailSubmission and the recipient sees the mail), push by EventSource, and RFC 8620's own
 * result-reference example (section 3.7).
 */
import JamClient from "jmap-jam";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { jmapWorld, type Json } from "./fixtures/jmap.ts";
import { seedMessage } from "./fixtures/mail.ts";
import { ALICE, BOB } from "./fixtures/app.ts";

async function served() {
  const w = await jmapWorld();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => w.gw.app.fetch(req),
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  return {
    ...w,
    base,
    jam: (token: string) =>
      new JamClient({ sessionUrl: `${base}/.well-known/jmap`, bearerToken: token }),
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      w.gw.close();
    },
  };
}

Deno.test("issue19#2: jmap-jam lists, reads, searches, uploads, imports and sends; the mail lands in Bob's inbox", async () => {
  await using w = await served();
  const t0 = Date.UTC(2024, 5, 1);
  await seedMessage(w.gw, {
    subject: "Quarterly numbers",
    text: "The numbers look good.",
    internalDate: t0,
  });
  await seedMessage(w.gw, { subject: "Picnic", text: "Bring a blanket.", internalDate: t0 + 1000 });

  const alice = w.jam(w.alice);
  const accountId = await alice.getPrimaryAccount();
  assertEquals(accountId, w.aliceAccount);
  const session = await alice.session;
  assert(session.apiUrl.startsWith(w.base), session.apiUrl);

  const [mailboxes] = await alice.api.Mailbox.get({ accountId });
  const inbox = mailboxes.list.find((m) => m.role === "inbox")!;
  const drafts = mailboxes.list.find((m) => m.role === "drafts")!;
  const sent = mailboxes.list.find((m) => m.role === "sent")!;
  assertEquals(inbox.totalEmails, 2);

  // Query and read in one request with a back-reference.
  const [{ query, emails }] = await alice.requestMany((t) => {
    const query = t.Email.query({
      accountId,
      filter: { inMailbox: inbox.id },
      sort: [{ property: "receivedAt", isAscending: false }],
    });
    const emails = t.Email.get({
      accountId,
      ids: query.$ref("/ids"),
      properties: ["subject", "from", "preview", "receivedAt"],
    });
    return { query, emails };
  });
  assertEquals(query.ids.length, 2);
  assertEquals(emails.list.map((e) => e.subject), ["Picnic", "Quarterly numbers"]);

  // Search.
  const [found] = await alice.api.Email.query({ accountId, filter: { text: "blanket" } });
  assertEquals(found.ids.length, 1);
  const [snippets] = await alice.api.SearchSnippet.get({
    accountId,
    filter: { text: "blanket" },
    emailIds: found.ids,
  });
  assert(snippets.list[0].preview?.includes("<mark>blanket</mark>"));

  // Upload an RFC 5322 message, import it, download it back byte for byte.
  const rfc =
    "From: Zed <zed@example.net>\r\nTo: alice@postern.test\r\nSubject: From the archive\r\n" +
    "Message-ID: <arch1@example.net>\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\n\r\nOld mail\r\n";
  const upload = await alice.uploadBlob(accountId, new Blob([rfc], { type: "message/rfc822" }));
  assertEquals(upload.size, rfc.length);
  const [imported] = await alice.api.Email.import({
    accountId,
    emails: {
      a: {
        blobId: upload.blobId,
        mailboxIds: { [inbox.id]: true },
        keywords: { $seen: true },
        receivedAt: "2024-01-02T10:00:00Z",
      },
    },
  });
  const importedId = imported.created!.a.id;
  const res = await alice.downloadBlob({
    accountId,
    blobId: imported.created!.a.blobId,
    mimeType: "message/rfc822",
    fileName: "archive.eml",
  });
  assertEquals(await res.text(), rfc);
  const [archive] = await alice.api.Email.get({
    accountId,
    ids: [importedId],
    properties: ["subject", "keywords"],
  });
  assertEquals(archive.list[0].subject, "From the archive");

  // Send: a draft, its submission, the implicit Email/set moving it to Sent.
  const [identities] = await alice.api.Identity.get({ accountId });
  const identityId = identities.list[0].id;
  const [{ submit }] = await alice.requestMany((t) => {
    // jmap-jam's types demand server-set fields (size, isTruncated…) that a create leaves out.
    const draft = t.Email.set({
      accountId,
      create: <Json> {
        d: {
          mailboxIds: { [drafts.id]: true },
          keywords: { $draft: true, $seen: true },
          from: [{ name: "Alice", email: ALICE.address }],
          to: [{ name: "Bob", email: BOB.address }],
          subject: "Hello from jmap-jam",
          textBody: [{ partId: "b", type: "text/plain" }],
          bodyValues: { b: { value: "Sent with a JMAP client." } },
        },
      },
    });
    const submit = t.EmailSubmission.set({
      accountId,
      create: { s: { identityId, emailId: "#d" } },
      onSuccessUpdateEmail: <Json> {
        "#s": {
          [`mailboxIds/${drafts.id}`]: null,
          [`mailboxIds/${sent.id}`]: true,
          "keywords/$draft": null,
        },
      },
    });
    return { draft, submit };
  });
  // jmap-jam keys responses by call id, so the implicit Email/set (same id, RFC 8621 section
  // 7.5) is what it keeps: the draft was updated on success.
  assertEquals(Object.values((submit as Json).updated ?? {}), [null]);
  const [subs] = await alice.api.EmailSubmission.get({ accountId });
  assertEquals(subs.list.map((s) => s.undoStatus), ["final"]);
  const [sentBox] = await alice.api.Email.query({ accountId, filter: { inMailbox: sent.id } });
  assertEquals(sentBox.ids.length, 1);

  // Bob's client sees it delivered, in his Inbox.
  const bob = w.jam(w.bob);
  const bobAccount = await bob.getPrimaryAccount();
  const [bobBoxes] = await bob.api.Mailbox.get({ accountId: bobAccount });
  const bobInbox = bobBoxes.list.find((m) => m.role === "inbox")!;
  const [{ bq, bg }] = await bob.requestMany((t) => {
    const bq = t.Email.query({
      accountId: bobAccount,
      filter: { inMailbox: bobInbox.id, subject: "Hello from jmap-jam" },
    });
    const bg = t.Email.get({
      accountId: bobAccount,
      ids: bq.$ref("/ids"),
      properties: ["from", "subject", "bodyValues", "textBody"],
      fetchTextBodyValues: true,
    });
    return { bq, bg };
  });
  assertEquals(bq.ids.length, 1);
  const mail = bg.list[0];
  assertEquals(mail.from, [{ name: "Alice", email: ALICE.address }]);
  const partId = mail.textBody![0].partId!;
  assertEquals(mail.bodyValues![partId].value.trim(), "Sent with a JMAP client.");

  // The client sees a method error as an error, not data (Bob's account from Alice).
  let refused: Json;
  try {
    await alice.api.Email.get({ accountId: bobAccount, ids: [] });
  } catch (e) {
    refused = e;
  }
  assertEquals(refused?.type, "accountNotFound");
});

/** Reads Server-Sent Events until the stream ends, or `stop` says so. */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  stop: (e: { event: string; data: string }) => boolean,
) {
  const events: { event: string; data: string }[] = [];
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = block.match(/^event: ?(.*)$/m)?.[1] ?? "message";
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) =>
        l.slice(5).trimStart()
      ).join("\n");
      if (!data) continue;
      events.push({ event, data });
      if (stop(events[events.length - 1])) {
        await reader.cancel();
        return events;
      }
    }
  }
  return events;
}

Deno.test("issue19#2: EventSource push sends a StateChange after a change, honours types, closeafter and ping", async () => {
  await using w = await served();
  const session = w.aliceSession;
  assert(session.eventSourceUrl.includes("{types}"));
  const url = (types: string, closeafter: string, ping: string) =>
    `${w.base}/jmap/eventsource?types=${types}&closeafter=${closeafter}&ping=${ping}`;
  const headers = { authorization: `Bearer ${w.alice}` };

  // closeafter=state: one StateChange, then the server ends the stream.
  const res = await fetch(url("Email,Mailbox", "state", "0"), { headers });
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type")?.startsWith("text/event-stream"), true);
  const reading = readEvents(res.body!, () => false);
  await seedMessage(w.gw, { subject: "push me" });
  const events = await reading;
  assertEquals(events.length, 1);
  assertEquals(events[0].event, "state");
  const change = JSON.parse(events[0].data);
  assertEquals(change["@type"], "StateChange");
  const changed = change.changed[w.aliceAccount];
  assertEquals(Object.keys(changed).sort(), ["Email", "Mailbox"]);
  const [, now] = await w.one(["Email/get", { accountId: w.aliceAccount, ids: [] }, "g"]);
  assertEquals(changed.Email, now.state);

  // Only the types asked for: a change to Bob's mail is not Alice's, and ping arrives meanwhile.
  const res2 = await fetch(url("EmailDelivery", "no", "5"), { headers });
  const reading2 = readEvents(res2.body!, (e) => e.event === "state");
  await seedMessage(w.gw, { to: [BOB.address], subject: "for bob" });
  await seedMessage(w.gw, { subject: "for alice" });
  const events2 = await reading2;
  const states = events2.filter((e) => e.event === "state").map((e) => JSON.parse(e.data));
  assertEquals(states.length, 1);
  assertEquals(Object.keys(states[0].changed[w.aliceAccount]), ["EmailDelivery"]);
  for (const ping of events2.filter((e) => e.event === "ping")) {
    assertEquals(JSON.parse(ping.data), { interval: 5 });
  }

  const anonymous = await fetch(url("*", "no", "0"));
  assertEquals(anonymous.status, 401);
  await anonymous.body?.cancel();
});

Deno.test("issue19#2: RFC 8620 section 3.7's result-reference example runs as written", async () => {
  await using w = await served();
  const root = await seedMessage(w.gw, { subject: "Plans", messageId: "<plans@x>" });
  await seedMessage(w.gw, {
    subject: "Re: Plans",
    inReplyTo: "<plans@x>",
    references: ["<plans@x>"],
  });
  await seedMessage(w.gw, { subject: "Other" });
  const boxes = (await w.one(["Mailbox/get", { accountId: w.aliceAccount }, "m"]))[1].list;
  const inbox = boxes.find((b: Json) => b.role === "inbox").id;
  const A1 = w.aliceAccount;
  const r = await w.api([
    ["Email/query", {
      accountId: A1,
      filter: { inMailbox: inbox },
      sort: [{ property: "receivedAt", isAscending: false }],
      collapseThreads: true,
      position: 0,
      limit: 10,
      calculateTotal: true,
    }, "t0"],
    ["Email/get", {
      accountId: A1,
      "#ids": { resultOf: "t0", name: "Email/query", path: "/ids" },
      properties: ["threadId"],
    }, "t1"],
    ["Thread/get", {
      accountId: A1,
      "#ids": { resultOf: "t1", name: "Email/get", path: "/list/*/threadId" },
    }, "t2"],
    ["Email/get", {
      accountId: A1,
      "#ids": { resultOf: "t2", name: "Thread/get", path: "/list/*/emailIds" },
      properties: ["from", "receivedAt", "subject"],
    }, "t3"],
  ]);
  const [[n0, q], [n1], [n2, threads], [n3, emails]] = r.methodResponses;
  assertEquals([n0, n1, n2, n3], ["Email/query", "Email/get", "Thread/get", "Email/get"]);
  assertEquals([q.total, q.ids.length, q.collapseThreads], [2, 2, true]);
  assertEquals(threads.list.length, 2);
  const plans = threads.list.find((t: Json) => t.emailIds.includes(`e${root.id}`));
  assertEquals(plans.emailIds.length, 2);
  assertEquals(emails.list.map((e: Json) => e.subject).sort(), ["Other", "Plans", "Re: Plans"]);
});

Deno.test("issue19#2: flags set and a message moved by an IMAP client (imapflow, real socket) show in Email/changes", async () => {
  await using w = await served();
  const { startGatewayImap } = await import("./fixtures/imap_pop3.ts");
  const { ImapFlow } = await import("imapflow");
  const listener = await startGatewayImap(w.gw);
  const a = await seedMessage(w.gw, { subject: "over IMAP" });
  const [, before] = await w.one(["Email/get", { accountId: w.aliceAccount, ids: [] }, "g"]);
  const [, mbBefore] = await w.one(["Mailbox/get", { accountId: w.aliceAccount, ids: [] }, "m"]);
  const client = new ImapFlow({
    host: "127.0.0.1",
    port: listener.port,
    secure: false,
    auth: { user: ALICE.address, pass: "alice-password-1" },
    logger: false,
  });
  try {
    await client.connect();
    const lock = await client.getMailboxLock("INBOX");
    try {
      await client.messageFlagsAdd("1:*", ["\\Flagged", "$Forwarded"]);
      await client.messageMove("1:*", "Archive");
    } finally {
      lock.release();
    }
    await client.logout();
  } finally {
    await listener.close();
  }
  const [, ch] = await w.one(["Email/changes", {
    accountId: w.aliceAccount,
    sinceState: before.state,
  }, "c"]);
  assertEquals([ch.created, ch.updated, ch.destroyed], [[], [`e${a.id}`], []]);
  const [, got] = await w.one(["Email/get", {
    accountId: w.aliceAccount,
    ids: [`e${a.id}`],
    properties: ["keywords", "mailboxIds"],
  }, "g"]);
  assertEquals(got.list[0].keywords, { $flagged: true, $forwarded: true });
  const boxes = (await w.one(["Mailbox/get", { accountId: w.aliceAccount }, "m"]))[1].list;
  const archive = boxes.find((b: Json) => b.role === "archive");
  assertEquals(got.list[0].mailboxIds, { [archive.id]: true });
  assertEquals(archive.totalEmails, 1);
  const [, mch] = await w.one(["Mailbox/changes", {
    accountId: w.aliceAccount,
    sinceState: mbBefore.state,
  }, "c"]);
  assertEquals(
    mch.updated.sort(),
    [archive.id, boxes.find((b: Json) => b.role === "inbox").id].sort(),
  );
});
