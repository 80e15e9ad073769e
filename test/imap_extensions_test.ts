/**
 * IMAP extensions with real clients over a plain loopback socket (issue 19 item 3), on the
 * in-memory backend unless said: Python's imaplib (Debian's python3) drives SORT and UID SORT
 * (RFC 5256), ESEARCH (RFC 4731), MULTIAPPEND (RFC 3502), BINARY (RFC 3516), \Recent, FLAGS
 * returned with an implicit \Seen, THREAD=REFERENCES and ORDEREDSUBJECT, ENABLE QRESYNC with
 * CHANGEDSINCE and VANISHED (RFC 7162) and SEARCHRES (RFC 5182); imapflow reads the
 * capabilities, appends, resyncs with QRESYNC and sorts; CREATE (USE (\Archive)) (RFC 6154)
 * runs through the gateway's backend.
 */
import { ImapFlow } from "imapflow";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { py, startMemoryImap } from "./fixtures/imap_pop3.ts";
import { aliceBackend } from "../bridge/imap/testing.ts";

const msg = (from: string, date: string, subject: string) =>
  `From: ${from}\r\nTo: alice@example.test\r\nDate: ${date}\r\nSubject: ${subject}\r\n\r\nhi\r\n`;

async function world() {
  const backend = aliceBackend();
  const deliver = (raw: string) => backend.deliver("alice@example.test", "INBOX", raw);
  deliver(msg("carol@example.test", "Mon, 3 Jun 2024 10:00:00 +0000", "Re: budget"));
  deliver(msg("amy@example.test", "Sat, 1 Jun 2024 10:00:00 +0000", "apples"));
  deliver(msg("bob@example.test", "Sun, 2 Jun 2024 10:00:00 +0000", "[team] cherries"));
  const listener = await startMemoryImap(backend);
  return { backend, listener, port: listener.port };
}

/** An imapflow client for alice, connected and in a locked INBOX for `body`. */
async function withFlow(
  port: number,
  qresync: boolean,
  body: (client: ImapFlow) => Promise<void>,
): Promise<void> {
  const client = new ImapFlow({
    host: "127.0.0.1",
    port,
    secure: false,
    auth: { user: "alice@example.test", pass: "sesame" },
    logger: false,
    qresync,
  });
  try {
    await client.connect();
    const lock = await client.getMailboxLock("INBOX");
    try {
      await body(client);
    } finally {
      lock.release();
    }
    await client.logout();
  } finally {
    client.close();
  }
}

const SCRIPT = `
import imaplib, sys, json
out = {}
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login("alice@example.test", "sesame")
out["caps"] = m.capability()[1][0].decode().split()
typ, data = m.select("INBOX")
out["recent_before"] = [x.decode() for x in m.response("RECENT")[1]]
typ, data = m.sort("(SUBJECT)", "UTF-8", "ALL")
out["sort_subject"] = data[0].decode()
typ, data = m.sort("(REVERSE DATE)", "UTF-8", "ALL")
out["sort_date"] = data[0].decode()
typ, data = m.uid("SORT", "(FROM)", "UTF-8", "ALL")
out["uid_sort_from"] = data[0].decode()
typ, data = m._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "ALL")
out["esearch"] = m._untagged_response(typ, data, "ESEARCH")[1][0].decode()
typ, data = m._simple_command("UID", "SEARCH", "RETURN", "(COUNT)", "UNSEEN")
out["uid_esearch"] = m._untagged_response(typ, data, "ESEARCH")[1][0].decode()
# MULTIAPPEND: imaplib sends one literal per call, so the command is written by hand.
a, b = b"Subject: multi a\\r\\n\\r\\na\\r\\n", b"Subject: multi b\\r\\n\\r\\nb\\r\\n"
tag = m._new_tag()
m.send(tag + b" APPEND INBOX (\\\\Seen) {%d+}\\r\\n" % len(a) + a + b" {%d+}\\r\\n" % len(b) + b + b"\\r\\n")
out["multiappend"] = []
while True:
    line = m._get_line()
    out["multiappend"].append(line.decode())
    if line.startswith(tag):
        break
typ, data = m.fetch("4:5", "(FLAGS)")
out["new_flags"] = [d.decode() for d in data]
typ, data = m.fetch("2", "(BODY[TEXT])")
out["implicit_seen"] = data[-1].decode() if isinstance(data[-1], bytes) else data[-1][0].decode()
typ, data = m.fetch("1", "(BINARY.PEEK[1] BINARY.SIZE[1])")
out["binary"] = [data[0][0].decode(), data[0][1].decode(), data[1].decode()]
m.logout()
print(json.dumps(out))
`;

Deno.test("issue19#3: imaplib drives SORT, UID SORT, ESEARCH, MULTIAPPEND and \\Recent", async () => {
  const w = await world();
  try {
    const out = JSON.parse(await py(SCRIPT, [String(w.port)]));
    for (const cap of ["SORT", "ESEARCH", "MULTIAPPEND"]) assert(out.caps.includes(cap), cap);
    assertEquals(out.recent_before, ["0"]);
    // Base subjects: APPLES, BUDGET, CHERRIES.
    assertEquals(out.sort_subject, "2 1 3");
    assertEquals(out.sort_date, "1 3 2");
    assertEquals(out.uid_sort_from, "2 3 1");
    assertEquals(
      out.esearch,
      '(TAG "' + out.esearch.split('"')[1] + '") MIN 1 MAX 3 COUNT 3 ALL 1:3',
    );
    assertEquals(out.uid_esearch.replace(/^\(TAG "[^"]+"\) /, ""), "UID COUNT 3");
    // The selected mailbox grows by both at once, and this session takes their \Recent.
    assertEquals(out.multiappend.slice(0, 2), ["* 5 EXISTS", "* 2 RECENT"]);
    assert(/OK \[APPENDUID \d+ 4:5\] APPEND completed$/.test(out.multiappend[2]), out.multiappend);
    assertEquals(out.new_flags, ["4 (FLAGS (\\Seen \\Recent))", "5 (FLAGS (\\Recent))"]);
    assert(out.implicit_seen.includes("FLAGS (\\Seen)"), out.implicit_seen);
    assertEquals(out.binary, ["1 (BINARY[1] {4}", "hi\r\n", " BINARY.SIZE[1] 4)"]);
  } finally {
    await w.listener.close();
  }
});

const SCRIPT_SYNC = `
import imaplib, sys, json
out = {}
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login("alice@example.test", "sesame")
typ, data = m.enable("QRESYNC")
out["enabled"] = [d.decode() for d in m.response("ENABLED")[1]]
typ, data = m.select("INBOX")
out["highestmodseq"] = int(m.response("HIGHESTMODSEQ")[1][0])
typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
out["thread_refs"] = data[0].decode()
typ, data = m.uid("THREAD", "ORDEREDSUBJECT", "UTF-8", "ALL")
out["thread_subject"] = data[0].decode()
typ, data = m.store("1", "+FLAGS.SILENT", "(\\\\Answered)")
typ, data = m.uid("STORE", "2", "+FLAGS", "(\\\\Deleted)")
typ, data = m.expunge()
out["vanished"] = [d.decode() for d in (m.response("VANISHED")[1] or []) if d]
typ, data = m.uid("FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE %d VANISHED)" % out["highestmodseq"])
out["changed"] = [d.decode() for d in data if d]
out["earlier"] = [d.decode() for d in (m.response("VANISHED")[1] or []) if d]
typ, data = m._simple_command("SEARCH", "RETURN", "(SAVE)", "SUBJECT", "cherries")
typ, data = m.fetch("$", "(UID)")
out["saved"] = [d.decode() for d in data if d]
m.logout()
print(json.dumps(out))
`;

Deno.test("issue19#3: imaplib drives THREAD=REFERENCES, QRESYNC (ENABLE, CHANGEDSINCE, VANISHED) and SEARCHRES", async () => {
  const w = await world();
  try {
    const out = JSON.parse(await py(SCRIPT_SYNC, [String(w.port)]));
    assertEquals(out.enabled, ["QRESYNC"]);
    assert(out.highestmodseq > 0);
    // No references among the three: one thread each, by sent date (2 is 1 June, 1 is 3 June).
    assertEquals(out.thread_refs, "(2)(3)(1)");
    assertEquals(out.thread_subject, "(2)(3)(1)");
    assertEquals(out.vanished, ["2"]);
    // Only what changed since the modseq: UID 1's flags, and UID 2 as VANISHED (EARLIER).
    assertEquals(out.earlier, ["(EARLIER) 2"]);
    assertEquals(out.changed.length, 1, out.changed);
    assert(
      /^1 \(UID 1 FLAGS \(\\Answered\) MODSEQ \(\d+\)\)$/.test(out.changed[0]),
      out.changed[0],
    );
    assertEquals(out.saved, ["2 (UID 3)"]);
  } finally {
    await w.listener.close();
  }
});

Deno.test("issue19#3: imapflow sees the extensions advertised and appends with APPENDUID", async () => {
  const w = await world();
  try {
    await withFlow(w.port, false, async (client) => {
      assert(client.capabilities.has("MULTIAPPEND"));
      assert(client.capabilities.has("SORT"));
      const r = await client.append("INBOX", "Subject: flow\r\n\r\nx\r\n", ["\\Flagged"]);
      assert(
        r && typeof r === "object" && r.uid === 4,
        String(r && typeof r === "object" && r.uid),
      );
      const got = await client.fetchOne("4", { flags: true, envelope: true }, { uid: true });
      assert(got && got.flags?.has("\\Flagged"));
      assertEquals(got && got.envelope?.subject, "flow");
    });
  } finally {
    await w.listener.close();
  }
});

Deno.test("issue19#3: imapflow uses QRESYNC (ENABLE, live VANISHED, SELECT resync) and SORT", async () => {
  const w = await world();
  try {
    let known = { uidValidity: 0n, highestModseq: 0n };
    await withFlow(w.port, true, async (client) => {
      assert(client.capabilities.has("QRESYNC"));
      assert(client.enabled.has("QRESYNC"), [...client.enabled].join(" "));
      const events: { uid?: number; vanished?: boolean }[] = [];
      client.on("expunge", (e) => events.push(e));
      await client.messageDelete("2", { uid: true });
      assertEquals(events.map((e) => [e.uid, e.vanished]), [[2, true]]);
      const left = [];
      for (const m of await client.fetchAll("1:*", { uid: true })) left.push(m.uid);
      assertEquals(left, [1, 3]);
      const box = client.mailbox as { uidValidity: bigint; highestModseq: bigint };
      known = { uidValidity: box.uidValidity, highestModseq: box.highestModseq };
      // SORT (RFC 5256): imapflow has no helper, so the command goes through its own exec.
      const sorted: number[] = [];
      // deno-lint-ignore no-explicit-any
      const exec = (client as any).exec.bind(client);
      await exec("UID SORT", [
        [{ type: "ATOM", value: "REVERSE" }, { type: "ATOM", value: "DATE" }],
        { type: "ATOM", value: "UTF-8" },
        { type: "ATOM", value: "ALL" },
      ], {
        untagged: {
          SORT: (u: { attributes?: { value: string }[] }) => {
            for (const a of u.attributes ?? []) sorted.push(Number(a.value));
          },
        },
      });
      // Dates: 1 is 3 June, 3 is 2 June (2, of 1 June, is gone).
      assertEquals(sorted, [1, 3]);
    });
    assert(known.highestModseq > 0n);

    // Meanwhile another client expunges UID 3 and flags UID 1.
    await withFlow(w.port, false, async (client) => {
      await client.messageFlagsAdd("1", ["\\Flagged"], { uid: true });
      await client.messageDelete("3", { uid: true });
    });

    // Back with what it knew: SELECT (QRESYNC (uidvalidity modseq)) tells only what changed.
    const client = new ImapFlow({
      host: "127.0.0.1",
      port: w.port,
      secure: false,
      auth: { user: "alice@example.test", pass: "sesame" },
      logger: false,
      qresync: true,
    });
    const vanished: { uid?: number; earlier?: boolean }[] = [];
    const flags: { uid?: number; flags?: Set<string> }[] = [];
    client.on("expunge", (e) => vanished.push(e));
    client.on("flags", (e) => flags.push(e));
    try {
      await client.connect();
      const box = await client.mailboxOpen("INBOX", {
        uidValidity: known.uidValidity,
        changedSince: known.highestModseq,
      } as Record<string, unknown>);
      assertEquals(box.exists, 1);
      assertEquals(vanished.map((e) => [e.uid, e.earlier]), [[3, true]]);
      assertEquals(flags.map((f) => [f.uid, [...f.flags ?? []]]), [[1, ["\\Flagged"]]]);
      await client.logout();
    } finally {
      client.close();
    }
  } finally {
    await w.listener.close();
  }
});

const CREATE_USE = `
import imaplib, sys, json
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login(sys.argv[2], sys.argv[3])
out = {"caps": m.capability()[1][0].decode().split()}
for name in ["Kept", "Kept2"]:
    typ, data = m._simple_command("CREATE", name, "(USE (\\\\Archive))")
    out[name] = typ + " " + data[-1].decode()
typ, data = m.list('""', "Kept*")
out["list"] = [d.decode() for d in data if d]
m.logout()
print(json.dumps(out))
`;

Deno.test("issue19#3: CREATE (USE (\\Archive)) through the gateway; roles stay one per mailbox in IMAP, JMAP and REST", async () => {
  const { jmapWorld } = await import("./fixtures/jmap.ts");
  const { startGatewayImap } = await import("./fixtures/imap_pop3.ts");
  const { ALICE, expectProblem } = await import("./fixtures/app.ts");
  const { schema } = await import("../src/store/store.ts");
  const { and, eq, inArray } = await import("drizzle-orm");
  const w = await jmapWorld();
  const listener = await startGatewayImap(w.gw);
  try {
    const db = w.gw.deps.store.db;
    // An account whose Archive and Drafts lost their roles (made before those roles existed).
    const [{ id: alice }] = await db.select().from(schema.accounts)
      .where(eq(schema.accounts.address, ALICE.address));
    await db.update(schema.mailboxes).set({ role: null }).where(and(
      eq(schema.mailboxes.accountId, alice),
      inArray(schema.mailboxes.role, ["archive", "drafts"]),
    ));
    const out = JSON.parse(
      await py(CREATE_USE, [String(listener.port), ALICE.address, ALICE.password]),
    );
    assert(out.caps.includes("CREATE-SPECIAL-USE"), out.caps);
    assertEquals(out.Kept, "OK CREATE completed");
    assertEquals(
      out.Kept2,
      'NO [USEATTR] the archive mailbox is "Kept"; each special use belongs to one mailbox',
    );
    assertEquals(out.list, ['(\\HasNoChildren \\Archive) "/" Kept']);

    // JMAP gives a free role to a new mailbox, and refuses a held one on the role property.
    const [, set] = await w.one(["Mailbox/set", {
      accountId: w.aliceAccount,
      create: { d: { name: "Drafts 2", role: "drafts" }, a: { name: "A2", role: "archive" } },
    }, "s"]);
    assertEquals(set.notCreated?.d, undefined);
    assertEquals([set.notCreated.a.type, set.notCreated.a.properties], [
      "invalidProperties",
      ["role"],
    ]);
    const [, got] = await w.one(["Mailbox/get", { accountId: w.aliceAccount, ids: null }, "g"]);
    const roles = Object.fromEntries(
      got.list.map((m: { name: string; role: string }) => [m.name, m.role]),
    );
    assertEquals([roles["Kept"], roles["Drafts 2"], roles["Kept2"]], [
      "archive",
      "drafts",
      undefined,
    ]);

    // The REST API alike: 409 role_taken, nothing created.
    const res = await w.gw.app.request("/v1/mailboxes", {
      method: "POST",
      headers: { authorization: `Bearer ${w.alice}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "Drafts 3", role: "drafts" }),
    });
    await expectProblem(res, 409, "role_taken");
    const inbox = await w.gw.app.request("/v1/mailboxes", {
      method: "POST",
      headers: { authorization: `Bearer ${w.alice}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "Inbox 2", role: "inbox" }),
    });
    assertEquals(inbox.status, 422);
    await inbox.body?.cancel();
    const names = (await db.select().from(schema.mailboxes)
      .where(eq(schema.mailboxes.accountId, alice))).map((m) => m.name);
    assert(!names.includes("Drafts 3") && !names.includes("Inbox 2"), names.join(","));
  } finally {
    await listener.close();
    w.gw.close();
  }
});
