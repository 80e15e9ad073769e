import { assert, assertEquals } from "../../test/fixtures/assert.ts";
import { StructureCache } from "./structure_cache.ts";
import type { ImapAccount } from "./backend.ts";
import { aliceBackend, ImapWire, transcript } from "./testing.ts";

const MSG1 = [
  "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)",
  "From: Terry Gray <gray@cac.washington.edu>",
  "Subject: IMAP4rev1 WG mtg summary and minutes",
  "To: imap@cac.washington.edu",
  "Message-Id: <B27397-0100000@cac.washington.edu>",
  "",
  "Hello there",
  "",
].join("\r\n");

const MSG2 = [
  "From: Bob <bob@example.test>",
  "To: alice@example.test",
  "Subject: report",
  'Content-Type: multipart/mixed; boundary="b"',
  "",
  "--b",
  "Content-Type: text/plain; charset=utf-8",
  "",
  "see attached",
  "--b",
  'Content-Type: application/pdf; name="r.pdf"',
  "Content-Transfer-Encoding: base64",
  "",
  "JVBERi0=",
  "--b--",
  "",
].join("\r\n");

async function loggedIn() {
  const backend = aliceBackend();
  backend.deliver("alice@example.test", "INBOX", MSG1, ["\\Seen"]);
  backend.deliver("alice@example.test", "INBOX", MSG2);
  const wire = await ImapWire.open(backend);
  await wire.send("a0 LOGIN alice@example.test sesame\r\n");
  return { backend, wire };
}

Deno.test("greeting, CAPABILITY, LOGIN, wrong state, LOGOUT", async () => {
  const backend = aliceBackend();
  const wire = await ImapWire.open(backend);
  assert(wire.output.startsWith("* OK [CAPABILITY IMAP4rev1 "));
  await transcript(
    wire,
    `
    C: a1 CAPABILITY
    S: * CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE STARTTLS AUTH=PLAIN
    S: a1 OK CAPABILITY completed
    C: a2 SELECT INBOX
    S: a2 BAD SELECT is not allowed in the not authenticated state
    C: a3 LOGIN alice@example.test wrong
    S: a3 NO [AUTHENTICATIONFAILED] authentication failed
    C: a4 LOGIN "alice@example.test" {6}
    S: + Ready for literal data
    C: sesame
    S: a4 OK [CAPABILITY IMAP4rev1 …
    C: a5 LOGIN alice@example.test sesame
    S: a5 BAD LOGIN is not allowed in the authenticated state
    C: a6 LOGOUT
    S: * BYE logging out
    S: a6 OK LOGOUT completed
    `,
  );
  assert(wire.closed);
});

Deno.test("LOGINDISABLED before TLS; STARTTLS; AUTHENTICATE PLAIN", async () => {
  const wire = await ImapWire.open(aliceBackend(), { allowPlaintextAuth: false });
  await transcript(
    wire,
    `
    C: a1 CAPABILITY
    S: * CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE STARTTLS LOGINDISABLED
    S: a1 OK CAPABILITY completed
    C: a2 LOGIN alice@example.test sesame
    S: a2 NO [PRIVACYREQUIRED] LOGIN is disabled before STARTTLS
    C: a3 AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZXNhbWU=
    S: a3 NO [PRIVACYREQUIRED] authentication is disabled before STARTTLS
    C: a4 STARTTLS
    S: a4 OK begin TLS negotiation now
    `,
  );
  assert(wire.tlsStarted);
  await transcript(
    wire,
    `
    C: a5 AUTHENTICATE PLAIN
    S: +…
    C: *
    S: a5 BAD AUTHENTICATE cancelled
    C: a6 AUTHENTICATE PLAIN
    S: +…
    C: AGFsaWNlQGV4YW1wbGUudGVzdABzZXNhbWU=
    S: a6 OK [CAPABILITY …
    C: a7 STARTTLS
    S: a7 BAD STARTTLS is not allowed in the authenticated state
    `,
  );
});

Deno.test("LIST with SPECIAL-USE, STATUS, CREATE, RENAME, DELETE, SUBSCRIBE", async () => {
  const { wire } = await loggedIn();
  await transcript(
    wire,
    `
    C: b1 LIST "" ""
    S: * LIST (\\Noselect) "/" ""
    S: b1 OK LIST completed
    C: b2 LIST "" *
    S: * LIST (\\HasNoChildren) "/" INBOX
    S: * LIST (\\HasNoChildren \\Sent) "/" Sent
    S: * LIST (\\HasNoChildren \\Drafts) "/" Drafts
    S: * LIST (\\HasNoChildren \\Trash) "/" Trash
    S: * LIST (\\HasNoChildren \\Junk) "/" Junk
    S: * LIST (\\HasNoChildren \\Archive) "/" Archive
    S: b2 OK LIST completed
    C: b3 CREATE Projects/
    S: b3 OK CREATE completed
    C: b4 CREATE "Projects/Été"
    S: b4 OK CREATE completed
    C: b5 LIST "" Projects/%
    S: * LIST (\\HasNoChildren) "/" Projects/&AMk-t&AOk-
    S: b5 OK LIST completed
    C: b6 LIST (SPECIAL-USE) "" % RETURN (STATUS (MESSAGES))
    S: * LIST (\\HasNoChildren \\Sent) "/" Sent
    S: * STATUS Sent (MESSAGES 0)
    S: * LIST (\\HasNoChildren \\Drafts) "/" Drafts
    S: * STATUS Drafts (MESSAGES 0)
    S: * LIST (\\HasNoChildren \\Trash) "/" Trash
    S: * STATUS Trash (MESSAGES 0)
    S: * LIST (\\HasNoChildren \\Junk) "/" Junk
    S: * STATUS Junk (MESSAGES 0)
    S: * LIST (\\HasNoChildren \\Archive) "/" Archive
    S: * STATUS Archive (MESSAGES 0)
    S: b6 OK LIST completed
    C: b7 STATUS inbox (MESSAGES UNSEEN UIDNEXT RECENT)
    S: * STATUS INBOX (MESSAGES 2 UNSEEN 1 UIDNEXT 3 RECENT 0)
    S: b7 OK STATUS completed
    C: b8 RENAME Projects Work
    S: b8 OK RENAME completed
    C: b9 LIST "" Work*
    S: * LIST (\\HasChildren) "/" Work
    S: * LIST (\\HasNoChildren) "/" Work/&AMk-t&AOk-
    S: b9 OK LIST completed
    C: b10 DELETE Nope
    S: b10 NO [NONEXISTENT] no such mailbox
    C: b11 DELETE Trash
    S: b11 NO [CANNOT] special-use mailboxes cannot be deleted
    C: b12 UNSUBSCRIBE Work
    S: b12 OK UNSUBSCRIBE completed
    C: b13 LSUB "" Work*
    S: * LSUB (\\HasNoChildren) "/" Work/&AMk-t&AOk-
    S: b13 OK LSUB completed
    C: b14 NAMESPACE
    S: * NAMESPACE (("" "/")) NIL NIL
    S: b14 OK NAMESPACE completed
    `,
  );
});

Deno.test("SELECT, FETCH ENVELOPE/BODYSTRUCTURE/BODY[] exact, \\Seen side effect", async () => {
  const { wire } = await loggedIn();
  await transcript(
    wire,
    `
    C: c1 SELECT INBOX
    S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)
    S: * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags permitted
    S: * 2 EXISTS
    S: * 0 RECENT
    S: * OK [UNSEEN 2] first unseen
    S: * OK [UIDVALIDITY …
    S: * OK [UIDNEXT 3] predicted next UID
    S: * OK [HIGHESTMODSEQ 3] highest
    S: c1 OK [READ-WRITE] SELECT completed
    C: c2 FETCH 1 (FLAGS ENVELOPE)
    S: * 1 FETCH (FLAGS (\\Seen) ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" (("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) NIL NIL NIL "<B27397-0100000@cac.washington.edu>"))
    S: c2 OK FETCH completed
    C: c3 UID FETCH 2 (BODYSTRUCTURE RFC822.SIZE)
    S: * 2 FETCH (UID 2 BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 12 0 NIL NIL NIL NIL)("application" "pdf" ("name" "r.pdf") NIL NIL "base64" 8 NIL NIL NIL NIL) "mixed" ("boundary" "b") NIL NIL NIL) RFC822.SIZE ${MSG2.length})
    S: c3 OK FETCH completed
    C: c4 FETCH 2 (BODY.PEEK[1] BODY[2.MIME] BODY[HEADER.FIELDS (subject)]<0.10>)
    S: * 2 FETCH (BODY[1] {12}
    S: see attached BODY[2.MIME] {82}
    S: Content-Type: application/pdf; name="r.pdf"
    S: Content-Transfer-Encoding: base64
    S: 
    S:  BODY[HEADER.FIELDS (SUBJECT)]<0> {10}
    S: Subject: r FLAGS (\\Seen))
    S: c4 OK FETCH completed
    C: c5 FETCH 2 FLAGS
    S: * 2 FETCH (FLAGS (\\Seen))
    S: c5 OK FETCH completed
    C: c6 FETCH 3 FLAGS
    S: c6 BAD invalid message sequence number
    C: c7 UID FETCH 3:* FLAGS
    S: * 2 FETCH (UID 2 FLAGS (\\Seen))
    S: c7 OK FETCH completed
    `,
  );
  const out = await wire.send("c8 FETCH 2 BODY.PEEK[]\r\n");
  const head = `* 2 FETCH (BODY[] {${MSG2.length}}\r\n`;
  assertEquals(out, `${head}${MSG2})\r\nc8 OK FETCH completed\r\n`);
});

Deno.test("STORE, SEARCH, COPY with COPYUID, MOVE, EXPUNGE, APPEND with APPENDUID", async () => {
  const { wire } = await loggedIn();
  await wire.send("d0 SELECT INBOX\r\n");
  await transcript(
    wire,
    `
    C: d1 STORE 1:2 +FLAGS (\\Flagged $Work)
    S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)
    S: * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)] flags permitted
    S: * 1 FETCH (FLAGS (\\Seen \\Flagged $Work))
    S: * 2 FETCH (FLAGS (\\Flagged $Work))
    S: d1 OK STORE completed
    C: d2 UID STORE 2 -FLAGS.SILENT ($Work)
    S: d2 OK STORE completed
    C: d3 STORE 1 FLAGS \\Recent
    S: d3 BAD cannot store the flag \\Recent
    C: d4 SEARCH UNSEEN
    S: * SEARCH 2
    S: d4 OK SEARCH completed
    C: d5 UID SEARCH CHARSET UTF-8 OR SUBJECT report FROM terry KEYWORD $Work
    S: * SEARCH 1
    S: d5 OK SEARCH completed
    C: d6 SEARCH CHARSET KOI8-R ALL
    S: d6 NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset
    C: d7 SEARCH BODY attached NOT SEEN
    S: * SEARCH 2
    S: d7 OK SEARCH completed
    C: d7b SEARCH SENTSINCE 1-Jan-1990 SENTBEFORE 1-Jan-2000 LARGER 10
    S: * SEARCH 1
    S: d7b OK SEARCH completed
    C: d8 COPY 1:2 Archive
    S: d8 OK [COPYUID 1007 1:2 1:2] COPY completed
    C: d9 COPY 1 Nowhere
    S: d9 NO [TRYCREATE] no such mailbox
    C: d10 UID MOVE 1 Trash
    S: * OK [COPYUID 1005 1 1] moved
    S: * 1 EXPUNGE
    S: d10 OK MOVE completed
    C: d11 STORE 1 +FLAGS.SILENT (\\Deleted)
    S: d11 OK STORE completed
    C: d12 EXPUNGE
    S: * 1 EXPUNGE
    S: d12 OK EXPUNGE completed
    C: d13 APPEND INBOX (\\Seen) "05-Mar-2024 10:00:00 +0100" {19+}
    C: Subject: hi
    C: 
    C: x
    C: 
    S: * 1 EXISTS
    S: * 1 RECENT
    S: d13 OK [APPENDUID 1002 3] APPEND completed
    C: d14 NOOP
    S: d14 OK NOOP completed
    C: d15 FETCH 1 (UID INTERNALDATE FLAGS)
    S: * 1 FETCH (UID 3 INTERNALDATE "05-Mar-2024 09:00:00 +0000" FLAGS (\\Seen \\Recent))
    S: d15 OK FETCH completed
    C: d16 CLOSE
    S: d16 OK CLOSE completed
    C: d17 FETCH 1 FLAGS
    S: d17 BAD FETCH is not allowed in the authenticated state
    `,
  );
});

Deno.test("CONDSTORE: ENABLE, FETCH CHANGEDSINCE, STORE UNCHANGEDSINCE, SEARCH MODSEQ", async () => {
  const { wire } = await loggedIn();
  await transcript(
    wire,
    `
    C: e1 ENABLE CONDSTORE
    S: * ENABLED CONDSTORE
    S: e1 OK ENABLE completed
    C: e2 EXAMINE INBOX
    S: * FLAGS …
    S: * OK [PERMANENTFLAGS ()] flags permitted
    S: * 2 EXISTS
    S: * 0 RECENT
    S: * OK [UNSEEN 2] first unseen
    S: * OK [UIDVALIDITY …
    S: * OK [UIDNEXT 3] predicted next UID
    S: * OK [HIGHESTMODSEQ 3] highest
    S: e2 OK [READ-ONLY] EXAMINE completed
    C: e3 STORE 1 +FLAGS (\\Deleted)
    S: e3 NO [READ-ONLY] the mailbox is read-only
    C: e4 FETCH 2 BODY[TEXT]
    S: * 2 FETCH (BODY[TEXT] {166}
    S: --b
    S: Content-Type: text/plain; charset=utf-8
    S: 
    S: see attached
    S: --b
    S: Content-Type: application/pdf; name="r.pdf"
    S: Content-Transfer-Encoding: base64
    S: 
    S: JVBERi0=
    S: --b--
    S: )
    S: e4 OK FETCH completed
    C: e5 SELECT INBOX (CONDSTORE)
    S: * FLAGS …
    S: * OK [PERMANENTFLAGS …
    S: * 2 EXISTS
    S: * 0 RECENT
    S: * OK [UNSEEN 2] first unseen
    S: * OK [UIDVALIDITY …
    S: * OK [UIDNEXT 3] predicted next UID
    S: * OK [HIGHESTMODSEQ 3] highest
    S: e5 OK [READ-WRITE] SELECT completed
    C: e6 STORE 2 (UNCHANGEDSINCE 3) +FLAGS (\\Answered)
    S: * 2 FETCH (FLAGS (\\Answered) MODSEQ (4))
    S: e6 OK STORE completed
    C: e7 UID STORE 1:2 (UNCHANGEDSINCE 3) +FLAGS (\\Flagged)
    S: * 1 FETCH (UID 1 FLAGS (\\Seen \\Flagged) MODSEQ (5))
    S: e7 OK [MODIFIED 2] conditional STORE failed
    C: e8 FETCH 1:* (FLAGS) (CHANGEDSINCE 4)
    S: * 1 FETCH (FLAGS (\\Seen \\Flagged) MODSEQ (5))
    S: e8 OK FETCH completed
    C: e9 SEARCH MODSEQ 4
    S: * SEARCH 1 2 (MODSEQ 5)
    S: e9 OK SEARCH completed
    `,
  );
});

Deno.test("other sessions see EXISTS, FETCH FLAGS and EXPUNGE; IDLE pushes them", async () => {
  const { backend, wire } = await loggedIn();
  const other = await ImapWire.open(backend);
  await other.send("x LOGIN alice@example.test sesame\r\nx2 SELECT INBOX\r\n");
  await wire.send("f0 SELECT INBOX\r\n");
  await transcript(
    wire,
    `
    C: f1 IDLE
    S: + idling
    `,
  );
  backend.deliver("alice@example.test", "INBOX", "Subject: new\r\n\r\nnew\r\n");
  await transcript(wire, "S: * 3 EXISTS\nS: * 1 RECENT");
  await other.send("x3 STORE 1 +FLAGS (\\Deleted)\r\nx4 EXPUNGE\r\n");
  await transcript(
    wire,
    `
    S: * 1 FETCH (UID 1 FLAGS (\\Seen \\Deleted))
    S: * 1 EXPUNGE
    `,
  );
  await transcript(
    wire,
    `
    C: DONE
    S: f1 OK IDLE terminated
    C: f2 FETCH 1:* UID
    S: * 1 FETCH (UID 2)
    S: * 2 FETCH (UID 3)
    S: f2 OK FETCH completed
    `,
  );
  // EXPUNGE is held back during FETCH and sent with the next command that allows it.
  await other.send("x5 STORE 2 +FLAGS.SILENT (\\Deleted)\r\nx6 EXPUNGE\r\n");
  await transcript(
    wire,
    `
    C: f3 FETCH 2 UID
    S: * 2 FETCH (UID 3)
    S: f3 OK FETCH completed
    C: f4 NOOP
    S: * 2 EXPUNGE
    S: f4 OK NOOP completed
    `,
  );
});

Deno.test("bad input: literal limits, malformed commands, too many errors", async () => {
  const { wire } = await loggedIn();
  await transcript(
    wire,
    `
    C: g1 SELECT {100000}
    S: g1 NO [TOOBIG] literal too large
    C: g2 APPEND INBOX {20000}
    S: g2 NO [TOOBIG] literal too large
    C: g3 APPEND INBOX {5}
    S: + Ready for literal data
    C: hello
    S: g3 OK [APPENDUID …
    `,
  );
  const fresh = await ImapWire.open(aliceBackend());
  await transcript(
    fresh,
    `
    C: h1 LOGIN {5000}
    S: h1 NO [TOOBIG] literal too large
    C: h2 FETCH (((
    S: h2 BAD invalid sequence set
    C: ) ) )
    S: * BAD missing or invalid tag
    C: h3 LOGIN a
    S: h3 BAD expected a space
    `,
  );
  const plus = await ImapWire.open(aliceBackend());
  await transcript(
    plus,
    `
    C: h4 LOGIN {5000+}
    S: h4 BAD [TOOBIG] literal too large
    S: * BYE literal too large
    `,
  );
  assert(plus.closed);
  const noisy = await ImapWire.open(aliceBackend(), { maxErrors: 3 });
  const out = await noisy.send("1 X\r\n2 X\r\n3 X\r\n4 X\r\n");
  assert(out.includes("* BYE too many errors"));
  assert(!out.includes("4 BAD"));
});

Deno.test("accounts are isolated: bob sees none of alice's mail", async () => {
  const { backend } = await loggedIn();
  const bob = await ImapWire.open(backend);
  await transcript(
    bob,
    `
    C: i1 LOGIN bob@example.test hunter2
    S: i1 OK …
    C: i2 STATUS INBOX (MESSAGES)
    S: * STATUS INBOX (MESSAGES 0)
    S: i2 OK STATUS completed
    C: i3 SELECT INBOX
    S: * FLAGS …
    S: * OK [PERMANENTFLAGS …
    S: * 0 EXISTS
    S: * 0 RECENT
    S: * OK [UIDVALIDITY …
    S: * OK [UIDNEXT 1] predicted next UID
    S: * OK [HIGHESTMODSEQ 1] highest
    S: i3 OK [READ-WRITE] SELECT completed
    C: i4 UID FETCH 1:* BODY[]
    S: i4 OK FETCH completed
    C: i5 FETCH 1:* FLAGS
    S: i5 OK FETCH completed
    `,
  );
});

Deno.test("five failed logins on one connection end it", async () => {
  const wire = await ImapWire.open(aliceBackend());
  let out = "";
  for (let i = 1; i <= 5; i++) out += await wire.send(`t${i} LOGIN alice@example.test nope\r\n`);
  assertEquals(out.split("AUTHENTICATIONFAILED").length - 1, 5);
  assert(out.endsWith("* BYE too many failed authentication attempts\r\n"));
  assert(wire.closed);
});

Deno.test("a backend that is down gives NO [UNAVAILABLE], never a crash", async () => {
  const backend = aliceBackend();
  backend.mode = "down";
  const wire = await ImapWire.open(backend);
  await transcript(
    wire,
    `
    C: u1 LOGIN alice@example.test sesame
    S: u1 NO [UNAVAILABLE] authentication is unavailable now
    `,
  );
});

Deno.test("structures are fetched once and then served from the listener's cache", async () => {
  const backend = aliceBackend();
  backend.deliver("alice@example.test", "INBOX", MSG1);
  backend.deliver("alice@example.test", "INBOX", MSG2);
  // Count the backend's structure calls per UID.
  const asked: number[] = [];
  const authenticate = backend.authenticate.bind(backend);
  backend.authenticate = async (u, p) => {
    const r = await authenticate(u, p);
    if (!r.ok) return r;
    const account: ImapAccount = r.account;
    const structure = account.structure.bind(account);
    account.structure = (id, uids) => {
      asked.push(...uids);
      return structure(id, uids);
    };
    return { ok: true, account };
  };
  const cache = new StructureCache(1);
  const wire = await ImapWire.open(backend, { structureCache: cache });
  await wire.send("a LOGIN alice@example.test sesame\r\nb SELECT INBOX\r\n");
  const first = await wire.send("c FETCH 1:2 ENVELOPE\r\n");
  const second = await wire.send("d FETCH 2 (ENVELOPE BODYSTRUCTURE)\r\n");
  assertEquals(asked, [1, 2]); // the second FETCH hit the cache for UID 2
  assert(second.includes('"report"'), second);
  assert(first.includes('"report"'), first);
  // Bounded: with room for one entry, UID 1 was evicted and is asked for again.
  await wire.send("e FETCH 1 ENVELOPE\r\n");
  assertEquals(asked, [1, 2, 1]);
  assertEquals(cache.size, 1);
});

Deno.test("QUOTA (RFC 9208): one STORAGE root per account, none without a limit", async () => {
  const { backend, wire } = await loggedIn();
  await wire.drain();
  await transcript(
    wire,
    `
    C: q1 GETQUOTAROOT INBOX
    S: * QUOTAROOT INBOX
    S: q1 OK GETQUOTAROOT completed
    C: q2 GETQUOTA ""
    S: q2 NO [NONEXISTENT] no such quota root
    `,
  );
  backend.accounts.get("alice@example.test")!.quotaBytes = 10 * 1024 * 1024;
  const used = Math.ceil((MSG1.length + MSG2.length) / 1024);
  await transcript(
    wire,
    `
    C: q3 GETQUOTAROOT Sent
    S: * QUOTAROOT Sent ""
    S: * QUOTA "" (STORAGE ${used} 10240)
    S: q3 OK GETQUOTAROOT completed
    C: q4 GETQUOTA ""
    S: * QUOTA "" (STORAGE ${used} 10240)
    S: q4 OK GETQUOTA completed
    C: q5 GETQUOTAROOT Nowhere
    S: q5 NO [NONEXISTENT] no such mailbox
    C: q6 CAPABILITY
    S: * CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT SPECIAL-USE CONDSTORE QRESYNC CHILDREN LIST-EXTENDED LIST-STATUS STATUS=SIZE QUOTA QUOTA=RES-STORAGE ESEARCH SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES MULTIAPPEND BINARY SEARCHRES CREATE-SPECIAL-USE ESORT
    S: q6 OK…
    `,
  );
});

Deno.test("issue19#3: a non-peek FETCH that sets \\Seen returns FLAGS in the same response", async () => {
  const { wire } = await loggedIn();
  await wire.send("a SELECT INBOX\r\n");
  // RFC822.HEADER and BODY.PEEK leave \Seen alone: no FLAGS beyond the ones asked for.
  let out = await wire.send("g1 FETCH 2 (RFC822.HEADER BODY.PEEK[TEXT])\r\n");
  assert(!out.includes("FLAGS"), out);
  out = await wire.send("g2 UID FETCH 2 (BODY[HEADER.FIELDS (Subject)])\r\n");
  assertEquals(
    out,
    "* 2 FETCH (UID 2 BODY[HEADER.FIELDS (SUBJECT)] {19}\r\nSubject: report\r\n\r\n" +
      " FLAGS (\\Seen))\r\ng2 OK FETCH completed\r\n",
  );
  for (const item of ["RFC822", "RFC822.TEXT", "BODY[1]"]) {
    await wire.send("g3 STORE 2 -FLAGS.SILENT (\\Seen)\r\n");
    out = await wire.send(`g4 FETCH 2 (${item})\r\n`);
    assert(out.endsWith(" FLAGS (\\Seen))\r\ng4 OK FETCH completed\r\n"), out);
    // Asked for FLAGS too: it is sent once, already with \Seen.
    await wire.send("g3 STORE 2 -FLAGS.SILENT (\\Seen)\r\n");
    out = await wire.send(`g5 FETCH 2 (FLAGS ${item})\r\n`);
    assert(out.startsWith("* 2 FETCH (FLAGS (\\Seen) "), out);
    assertEquals(out.split("FLAGS").length, 2, out);
  }
  // Read-only: nothing changes, so no FLAGS is added.
  await wire.send("g3 STORE 2 -FLAGS.SILENT (\\Seen)\r\ng6 EXAMINE INBOX\r\n");
  out = await wire.send("g7 FETCH 2 RFC822\r\n");
  assert(!out.includes("FLAGS"), out);
});

Deno.test("issue19#3: \\Recent goes to the first session that sees a message", async () => {
  const { backend, wire } = await loggedIn();
  const other = await ImapWire.open(backend);
  await other.send("x LOGIN alice@example.test sesame\r\n");
  // The two messages were there before the bridge first looked: not recent.
  await transcript(
    wire,
    `
    C: h1 SELECT INBOX
    S: * FLAGS …
    S: * OK [PERMANENTFLAGS …
    S: * 2 EXISTS
    S: * 0 RECENT
    S: * OK [UNSEEN 2] first unseen
    S: * OK [UIDVALIDITY …
    S: * OK [UIDNEXT 3] predicted next UID
    S: * OK [HIGHESTMODSEQ 3] highest
    S: h1 OK [READ-WRITE] SELECT completed
    `,
  );
  backend.deliver("alice@example.test", "INBOX", "Subject: one\r\n\r\none\r\n");
  backend.deliver("alice@example.test", "INBOX", "Subject: two\r\n\r\ntwo\r\n");
  await transcript(
    other,
    `
    C: x1 STATUS INBOX (MESSAGES RECENT)
    S: * STATUS INBOX (MESSAGES 4 RECENT 2)
    S: x1 OK STATUS completed
    `,
  );
  await transcript(
    wire,
    `
    C: h2 NOOP
    S: * 4 EXISTS
    S: * 2 RECENT
    S: h2 OK NOOP completed
    C: h3 FETCH 2:4 FLAGS
    S: * 2 FETCH (FLAGS ())
    S: * 3 FETCH (FLAGS (\\Recent))
    S: * 4 FETCH (FLAGS (\\Recent))
    S: h3 OK FETCH completed
    C: h4 SEARCH RECENT
    S: * SEARCH 3 4
    S: h4 OK SEARCH completed
    C: h5 STORE 3 +FLAGS (\\Seen)
    S: * 3 FETCH (FLAGS (\\Seen \\Recent))
    S: h5 OK STORE completed
    C: h6 SEARCH NEW
    S: * SEARCH 4
    S: h6 OK SEARCH completed
    C: h7 SEARCH OLD
    S: * SEARCH 1 2
    S: h7 OK SEARCH completed
    C: h8 STATUS INBOX (RECENT)
    S: * STATUS INBOX (RECENT 2)
    S: h8 OK STATUS completed
    `,
  );
  // The other session comes second: the messages are not recent for it.
  await transcript(
    other,
    `
    C: x2 STATUS INBOX (RECENT)
    S: * STATUS INBOX (RECENT 0)
    S: x2 OK STATUS completed
    C: x3 SELECT INBOX
    S: * FLAGS …
    S: * OK [PERMANENTFLAGS …
    S: * 4 EXISTS
    S: * 0 RECENT
    S: * OK [UNSEEN 2] first unseen
    S: * OK [UIDVALIDITY …
    S: * OK [UIDNEXT 5] predicted next UID
    S: * OK [HIGHESTMODSEQ 6] highest
    S: x3 OK [READ-WRITE] SELECT completed
    C: x4 FETCH 4 FLAGS
    S: * 4 FETCH (FLAGS ())
    S: x4 OK FETCH completed
    `,
  );
  // Expunged messages leave the recent set.
  await transcript(
    wire,
    `
    C: h9 STORE 3 +FLAGS.SILENT (\\Deleted)
    S: h9 OK STORE completed
    C: h10 EXPUNGE
    S: * 3 EXPUNGE
    S: h10 OK EXPUNGE completed
    C: h11 SEARCH RECENT
    S: * SEARCH 3
    S: h11 OK SEARCH completed
    `,
  );
});

Deno.test("issue19#3: ESEARCH (RFC 4731) RETURN MIN MAX COUNT ALL, UID form, SAVE", async () => {
  const { backend, wire } = await loggedIn();
  for (let i = 0; i < 4; i++) {
    backend.deliver("alice@example.test", "INBOX", `Subject: n${i}\r\n\r\nbody\r\n`);
  }
  await wire.send("a SELECT INBOX\r\na2 STORE 1 -FLAGS.SILENT (\\Seen)\r\n");
  await wire.send("a3 UID STORE 3 +FLAGS.SILENT (\\Seen)\r\n");
  assert((await wire.send("e0 CAPABILITY\r\n")).includes(" ESEARCH"));
  await transcript(
    wire,
    `
    C: e1 SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN
    S: * ESEARCH (TAG "e1") MIN 1 MAX 6 COUNT 5 ALL 1:2,4:6
    S: e1 OK SEARCH completed
    C: e2 UID SEARCH RETURN () BODY body
    S: * ESEARCH (TAG "e2") UID ALL 3:6
    S: e2 OK SEARCH completed
    C: e3 UID SEARCH RETURN (COUNT MIN) SUBJECT nothing-like-this
    S: * ESEARCH (TAG "e3") UID COUNT 0
    S: e3 OK SEARCH completed
    C: e4 SEARCH RETURN (MAX) 1:3
    S: * ESEARCH (TAG "e4") MAX 3
    S: e4 OK SEARCH completed
    C: e5 SEARCH RETURN (SAVE MIN) BODY body
    S: * ESEARCH (TAG "e5") MIN 3
    S: e5 OK SEARCH completed
    C: e5b SEARCH RETURN (SAVE) BODY nothing-like-this
    S: e5b OK SEARCH completed
    C: e5c SEARCH RETURN (SAVE MIN) BODY body
    S: * ESEARCH (TAG "e5c") MIN 3
    S: e5c OK SEARCH completed
    C: e6 FETCH $ UID
    S: * 3 FETCH (UID 3)
    S: e6 OK FETCH completed
    C: e7 SEARCH RETURN (BOGUS) ALL
    S: e7 BAD unknown return option BOGUS
    C: e8 SEARCH RETURN (COUNT) MODSEQ 1
    S: * ESEARCH (TAG "e8") COUNT 6 MODSEQ 9
    S: e8 OK SEARCH completed
    `,
  );
});

Deno.test("issue19#3: SEARCHRES (RFC 5182): $ in FETCH, STORE and SEARCH; reset by SELECT and a failed SAVE", async () => {
  const { backend, wire } = await loggedIn();
  for (let i = 0; i < 4; i++) {
    backend.deliver("alice@example.test", "INBOX", `Subject: pick${i}\r\n\r\nbody\r\n`);
  }
  await wire.send("a SELECT INBOX\r\n");
  assert((await wire.send("c CAPABILITY\r\n")).includes(" SEARCHRES"));
  await transcript(
    wire,
    `
    C: s1 SEARCH RETURN (SAVE) SUBJECT pick
    S: s1 OK SEARCH completed
    C: s2 SEARCH RETURN (SAVE) $ SUBJECT pick1
    S: s2 OK SEARCH completed
    C: s3 FETCH $ (UID)
    S: * 4 FETCH (UID 4)
    S: s3 OK FETCH completed
    C: s4 UID STORE $ +FLAGS.SILENT (\\Flagged)
    S: s4 OK STORE completed
    C: s5 SEARCH FLAGGED
    S: * SEARCH 4
    S: s5 OK SEARCH completed
    C: s6 SEARCH RETURN (SAVE) CHARSET KOI8-R ALL
    S: s6 NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset
    C: s7 FETCH $ (UID)
    S: s7 OK FETCH completed
    C: s8 SEARCH RETURN (SAVE) ALL
    S: s8 OK SEARCH completed
    C: s9 FETCH $ (UID)
    S: * 1 FETCH (UID 1)
    S: * 2 FETCH (UID 2)
    S: * 3 FETCH (UID 3)
    S: * 4 FETCH (UID 4)
    S: * 5 FETCH (UID 5)
    S: * 6 FETCH (UID 6)
    S: s9 OK FETCH completed
    `,
  );
  await wire.send("b SELECT INBOX\r\n");
  await transcript(
    wire,
    `
    C: s10 FETCH $ (UID)
    S: s10 OK FETCH completed
    `,
  );
});

Deno.test("issue19#3: CREATE-SPECIAL-USE (RFC 6154 section 3): one use, a free role, else USEATTR", async () => {
  const { backend, wire } = await loggedIn();
  assert((await wire.send("c CAPABILITY\r\n")).includes(" CREATE-SPECIAL-USE"));
  await transcript(
    wire,
    `
    C: c1 CREATE Archive2 (USE (\\Archive))
    S: c1 NO [USEATTR] the archive mailbox is "Archive"; each special use belongs to one mailbox
    C: c2 CREATE Stuff (USE (\\All))
    S: c2 NO [USEATTR] a mailbox takes one of \\Sent \\Drafts \\Trash \\Junk \\Archive
    C: c3 CREATE Stuff (USE (\\Sent \\Trash))
    S: c3 NO [USEATTR] a mailbox takes one of \\Sent \\Drafts \\Trash \\Junk \\Archive
    C: c4 CREATE Stuff (COLOR (\\Sent))
    S: c4 BAD unknown create parameter COLOR
    C: c5 CREATE Stuff (USE (\\Sent)
    S: c5 BAD unbalanced parentheses
    C: c6 LIST "" Stuff
    S: c6 OK LIST completed
    C: c7 CREATE Stuff (USE ())
    S: c7 OK CREATE completed
    `,
  );
  // An account from before the Archive role (or whose archive was given up) gets one by CREATE.
  const alice = backend.accounts.get("alice@example.test")!;
  alice.mailboxes.find((b) => b.name === "Archive")!.role = null;
  await transcript(
    wire,
    `
    C: c8 CREATE Old/Kept (USE (\\archive))
    S: c8 OK CREATE completed
    C: c9 LIST "" Old/Kept RETURN (SPECIAL-USE)
    S: * LIST (\\HasNoChildren \\Archive) "/" Old/Kept
    S: c9 OK LIST completed
    `,
  );
});

Deno.test("issue19#3: SORT and UID SORT (RFC 5256) by subject, date, from, size, arrival", async () => {
  const backend = aliceBackend();
  const msg = (from: string, date: string, subject: string, cc = "", pad = "") =>
    `From: ${from}\r\nTo: alice@example.test\r\n${cc ? `Cc: ${cc}\r\n` : ""}` +
    `Date: ${date}\r\nSubject: ${subject}\r\n\r\nbody${pad}\r\n`;
  const deliver = (raw: string) => backend.deliver("alice@example.test", "INBOX", raw);
  deliver(
    msg("zed@example.test", "Mon, 3 Jun 2024 10:00:00 +0000", "Re: [list] Budget", "b@x.test"),
  );
  deliver(msg("Amy <amy@example.test>", "Sat, 1 Jun 2024 10:00:00 +0000", "apples", "", "xxxxxx"));
  // No readable Date: the internal date (15 Jan 2024 in the memory backend) stands in.
  deliver(msg("bob@example.test", "not a date", "Fwd: budget (fwd)", "a@x.test", "xx"));
  deliver(msg("amy@example.test", "Sun, 2 Jun 2024 10:00:00 +0000", "=?utf-8?q?Cherries?="));
  const wire = await ImapWire.open(backend);
  await wire.send("a LOGIN alice@example.test sesame\r\nb SELECT INBOX\r\n");
  assert((await wire.send("s0 CAPABILITY\r\n")).includes(" SORT"));
  // All four arrived at the same instant here: REVERSE ARRIVAL keeps sequence order for ties
  // (REVERSE flips the key, not the tie-break, section 3).
  await transcript(
    wire,
    `
    C: s1 SORT (SUBJECT) UTF-8 ALL
    S: * SORT 2 1 3 4
    S: s1 OK SORT completed
    C: s2 SORT (DATE) UTF-8 ALL
    S: * SORT 3 2 4 1
    S: s2 OK SORT completed
    C: s3 SORT (REVERSE DATE) UTF-8 ALL
    S: * SORT 1 4 2 3
    S: s3 OK SORT completed
    C: s4 SORT (FROM REVERSE SIZE) US-ASCII ALL
    S: * SORT 4 2 3 1
    S: s4 OK SORT completed
    C: s5 UID SORT (CC SUBJECT) UTF-8 NOT FROM bob
    S: * SORT 2 4 1
    S: s5 OK SORT completed
    C: s6 SORT (ARRIVAL) UTF-8 2:4
    S: * SORT 2 3 4
    S: s6 OK SORT completed
    C: s7 SORT (REVERSE ARRIVAL) UTF-8 ALL
    S: * SORT 1 2 3 4
    S: s7 OK SORT completed
    C: s8 SORT (TO SIZE) UTF-8 SUBJECT nothing-like-this
    S: * SORT
    S: s8 OK SORT completed
    C: s9 SORT (SUBJECT) KOI8-R ALL
    S: s9 NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset
    C: s10 SORT (COLOUR) UTF-8 ALL
    S: s10 BAD unknown sort key COLOUR
    C: s11 SORT SUBJECT UTF-8 ALL
    S: s11 BAD expected sort criteria
    `,
  );
});

Deno.test("issue19#3: ESORT (RFC 5267): SORT RETURN answers ESEARCH in sort order; SAVE; MODSEQ", async () => {
  const backend = aliceBackend();
  for (const [subject, day] of [["c", 1], ["a", 2], ["d", 3], ["b", 4], ["e", 5]] as const) {
    backend.deliver(
      "alice@example.test",
      "INBOX",
      `Subject: ${subject}\r\nDate: ${day} Jun 2024 10:00:00 +0000\r\n\r\nx\r\n`,
    );
  }
  const wire = await ImapWire.open(backend);
  await wire.send("a LOGIN alice@example.test sesame\r\nb SELECT INBOX\r\n");
  assert((await wire.send("c CAPABILITY\r\n")).includes(" ESORT"));
  // Dovecot 2.3 gives the same answers to these commands (item order aside): MIN and MAX are
  // the ends of the sort order, ALL keeps it.
  await transcript(
    wire,
    `
    C: s1 SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL
    S: * ESEARCH (TAG "s1") MIN 2 MAX 5 COUNT 5 ALL 2,4,1,3,5
    S: s1 OK SORT completed
    C: s2 SORT RETURN () (SUBJECT) UTF-8 ALL
    S: * ESEARCH (TAG "s2") ALL 2,4,1,3,5
    S: s2 OK SORT completed
    C: s3 SORT RETURN (MIN) (SUBJECT) UTF-8 NOT 1
    S: * ESEARCH (TAG "s3") MIN 2
    S: s3 OK SORT completed
    C: s4 UID SORT RETURN (ALL COUNT) (REVERSE SUBJECT) UTF-8 ALL
    S: * ESEARCH (TAG "s4") UID COUNT 5 ALL 5,3,1,4,2
    S: s4 OK SORT completed
    C: s5 SORT RETURN (COUNT) (ARRIVAL) UTF-8 SUBJECT zzz
    S: * ESEARCH (TAG "s5") COUNT 0
    S: s5 OK SORT completed
    C: s6 SORT RETURN (MIN MAX ALL) (SUBJECT) UTF-8 SUBJECT zzz
    S: * ESEARCH (TAG "s6")
    S: s6 OK SORT completed
    C: s7 SORT RETURN (SAVE MAX) (DATE) UTF-8 NOT 5
    S: * ESEARCH (TAG "s7") MAX 4
    S: s7 OK SORT completed
    C: s8 FETCH $ (UID)
    S: * 4 FETCH (UID 4)
    S: s8 OK FETCH completed
    C: s9 SORT RETURN (ALL) (ARRIVAL) UTF-8 ALL
    S: * ESEARCH (TAG "s9") ALL 1:5
    S: s9 OK SORT completed
    C: s10 SORT RETURN (BOGUS) (SUBJECT) UTF-8 ALL
    S: s10 BAD unknown return option BOGUS
    C: s11 SORT RETURN (SAVE) (SUBJECT) KOI8-R ALL
    S: s11 NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset
    C: s12 FETCH $ (UID)
    S: s12 OK FETCH completed
    `,
  );
  // CONDSTORE's MODSEQ key: the highest modseq of the matches ends a plain SORT, as SEARCH's.
  const out = await wire.send("m1 SORT (SUBJECT) UTF-8 MODSEQ 1\r\nm2 SEARCH MODSEQ 1\r\n");
  const modseq = /\* SEARCH 1 2 3 4 5 \(MODSEQ (\d+)\)/.exec(out)?.[1];
  assert(modseq, out);
  assert(out.includes(`* SORT 2 4 1 3 5 (MODSEQ ${modseq})\r\n`), out);
});

Deno.test("issue19#3: MULTIAPPEND (RFC 3502) stores all messages or none, APPENDUID with a set", async () => {
  const { backend, wire } = await loggedIn();
  assert((await wire.send("m0 CAPABILITY\r\n")).includes(" MULTIAPPEND"));
  await transcript(
    wire,
    `
    C: m1 APPEND Archive (\\Seen) {12+}
    C: Subject: a
    C:  (\\Draft $Work) "05-Mar-2024 10:00:00 +0100" {12+}
    C: Subject: b
    C:  {12+}
    C: Subject: c
    C: 
    S: m1 OK [APPENDUID 1007 1:3] APPEND completed
    C: m2 SELECT Archive
    S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)
    S: * OK [PERMANENTFLAGS …
    S: * 3 EXISTS
    S: * 0 RECENT
    S: * OK [UNSEEN 2] first unseen
    S: * OK [UIDVALIDITY 1007] UIDs valid
    S: * OK [UIDNEXT 4] predicted next UID
    S: * OK [HIGHESTMODSEQ 4] highest
    S: m2 OK [READ-WRITE] SELECT completed
    C: m3 FETCH 1:3 (FLAGS BODY.PEEK[HEADER])
    S: * 1 FETCH (FLAGS (\\Seen) BODY[HEADER] {12}
    S: Subject: a
    S: )
    S: * 2 FETCH (FLAGS (\\Draft $Work) BODY[HEADER] {12}
    S: Subject: b
    S: )
    S: * 3 FETCH (FLAGS () BODY[HEADER] {12}
    S: Subject: c
    S: )
    S: m3 OK FETCH completed
    C: m3b FETCH 2 INTERNALDATE
    S: * 2 FETCH (INTERNALDATE "05-Mar-2024 09:00:00 +0000")
    S: m3b OK FETCH completed
    C: m4 APPEND Archive {12+}
    C: Subject: d
    C:  (\\Bogus) {12+}
    C: Subject: e
    C: 
    S: m4 BAD cannot store the flag \\Bogus
    C: m5 APPEND Archive {12+}
    C: Subject: f
    C:  {0+}
    C: 
    S: m5 NO [CANNOT] the message is empty
    C: m6 APPEND Nowhere {12+}
    C: Subject: g
    C: 
    S: m6 NO [TRYCREATE] no such mailbox
    `,
  );
  // A failure on the third message leaves none of them: the quota lets two in, not three.
  const account = backend.accounts.get("alice@example.test")!;
  const used = account.mailboxes.reduce(
    (n, b) => n + b.messages.reduce((k, m) => k + m.raw.byteLength, 0),
    0,
  );
  account.quotaBytes = used + 30;
  await transcript(
    wire,
    `
    C: m7 APPEND Archive {12+}
    C: Subject: h
    C:  {12+}
    C: Subject: i
    C:  {12+}
    C: Subject: j
    C: 
    S: m7 NO [OVERQUOTA] the account is over its storage quota
    C: m8 UID SEARCH ALL
    S: * SEARCH 1 2 3
    S: m8 OK SEARCH completed
    `,
  );
  const archive = account.mailboxes.find((b) => b.name === "Archive")!;
  assertEquals(archive.messages.map((m) => m.uid), [1, 2, 3]);
});

Deno.test("issue19#3: THREAD=ORDEREDSUBJECT (RFC 5256 section 4)", async () => {
  const backend = aliceBackend();
  const day = (d: number) => `${d} Jun 2024 10:00:00 +0000`;
  for (
    const [subject, d] of [
      ["Re: budget", 3],
      ["apples", 1],
      ["budget", 2],
      ["Apples (fwd)", 4],
      ["cherries", 0],
      ["Re: budget", 5],
    ] as const
  ) {
    const date = d === 0 ? "31 May 2024 10:00:00 +0000" : day(d);
    backend.deliver(
      "alice@example.test",
      "INBOX",
      `Date: ${date}\r\nSubject: ${subject}\r\n\r\nx\r\n`,
    );
  }
  const wire = await ImapWire.open(backend);
  await wire.send("a LOGIN alice@example.test sesame\r\nb SELECT INBOX\r\n");
  assert((await wire.send("t0 CAPABILITY\r\n")).includes(" THREAD=ORDEREDSUBJECT"));
  await transcript(
    wire,
    `
    C: t1 THREAD ORDEREDSUBJECT UTF-8 ALL
    S: * THREAD (5)(2 4)(3 (1)(6))
    S: t1 OK THREAD completed
    C: t2 UID THREAD ORDEREDSUBJECT UTF-8 NOT UID 5
    S: * THREAD (2 4)(3 (1)(6))
    S: t2 OK THREAD completed
    C: t3 THREAD ORDEREDSUBJECT US-ASCII SUBJECT nothing-like-this
    S: * THREAD
    S: t3 OK THREAD completed
    C: t4 THREAD X-MAGIC UTF-8 ALL
    S: t4 BAD unknown threading algorithm X-MAGIC
    `,
  );
});

Deno.test("issue19#3: THREAD=REFERENCES (RFC 5256 section 4) links replies by their fields", async () => {
  const backend = aliceBackend();
  const mail = (id: string, day: number, subject: string, more = "") =>
    backend.deliver(
      "alice@example.test",
      "INBOX",
      `Message-ID: <${id}@example.test>\r\nDate: ${day} Jun 2024 10:00:00 +0000\r\n` +
        `Subject: ${subject}\r\n${more}\r\nx\r\n`,
    );
  mail("plan", 1, "Plan"); // 1
  mail("r2", 3, "Re: Plan", "In-Reply-To: <plan@example.test>\r\n"); // 2
  mail("r1", 2, "Re: Plan", "References: <plan@example.test>\r\n"); // 3
  // A reply to r2 whose References also names a message that is not here (folded).
  mail("r3", 4, "Re: Plan", "References: <plan@example.test>\r\n <r2@example.test>\r\n"); // 4
  mail("lunch", 5, "Lunch"); // 5
  mail("x1", 6, "Other", "References: <gone@example.test>\r\n"); // 6
  mail("x2", 7, "Another", "References: <gone@example.test>\r\n"); // 7
  mail("late", 8, "Re: Lunch"); // 8: no fields, joins Lunch by subject
  const wire = await ImapWire.open(backend);
  await wire.send("a LOGIN alice@example.test sesame\r\nb SELECT INBOX\r\n");
  assert((await wire.send("t0 CAPABILITY\r\n")).includes(" THREAD=REFERENCES"));
  await transcript(
    wire,
    `
    C: t1 THREAD REFERENCES UTF-8 ALL
    S: * THREAD (1 (3)(2 4))(5 8)((6)(7))
    S: t1 OK THREAD completed
    C: t2 UID THREAD REFERENCES UTF-8 NOT SUBJECT lunch
    S: * THREAD (1 (3)(2 4))((6)(7))
    S: t2 OK THREAD completed
    C: t3 THREAD REFERENCES UTF-8 SUBJECT nothing-like-this
    S: * THREAD
    S: t3 OK THREAD completed
    C: t4 THREAD REFERENCES KOI8-R ALL
    S: t4 NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset
    `,
  );
});

Deno.test("issue19#3: QRESYNC (RFC 7162) ENABLE, SELECT resync, VANISHED, CLOSED", async () => {
  const { backend, wire } = await loggedIn();
  const fresh = await ImapWire.open(backend);
  await transcript(
    fresh,
    `
    C: x1 LOGIN alice@example.test sesame
    S: x1 OK …
    C: x2 SELECT INBOX (QRESYNC (1002 1))
    S: x2 BAD QRESYNC needs ENABLE QRESYNC first
    C: x4 FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)
    S: x4 BAD VANISHED needs UID FETCH with CHANGEDSINCE
    C: x5 SELECT INBOX
    S: * FLAGS …
    S: * OK [PERMANENTFLAGS …
    S: * 2 EXISTS
    S: * 0 RECENT
    S: * OK [UNSEEN 2] first unseen
    S: * OK [UIDVALIDITY 1002] UIDs valid
    S: * OK [UIDNEXT 3] predicted next UID
    S: * OK [HIGHESTMODSEQ 3] highest
    S: x5 OK [READ-WRITE] SELECT completed
    C: x3 UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)
    S: x3 BAD VANISHED needs ENABLE QRESYNC first
    `,
  );
  // Meanwhile: a new message, a flag change and an expunge, by another session.
  backend.deliver("alice@example.test", "INBOX", "Subject: third\r\n\r\nx\r\n");
  await fresh.send(
    "x6 STORE 1 +FLAGS.SILENT (\\Flagged)\r\nx7 STORE 2 +FLAGS.SILENT (\\Deleted)\r\n",
  );
  await fresh.send("x8 EXPUNGE\r\n");
  await transcript(
    wire,
    `
    C: q1 ENABLE QRESYNC
    S: * ENABLED QRESYNC
    S: q1 OK ENABLE completed
    C: q2 EXAMINE Junk
    S: * FLAGS …
    S: * OK [PERMANENTFLAGS ()] flags permitted
    S: * 0 EXISTS
    S: * 0 RECENT
    S: * OK [UIDVALIDITY …
    S: * OK [UIDNEXT 1] predicted next UID
    S: * OK [HIGHESTMODSEQ 1] highest
    S: q2 OK [READ-ONLY] EXAMINE completed
    C: q3 SELECT INBOX (QRESYNC (1002 3 1:2))
    S: * OK [CLOSED] previous mailbox closed
    S: * FLAGS …
    S: * OK [PERMANENTFLAGS …
    S: * 2 EXISTS
    S: * 0 RECENT
    S: * OK [UNSEEN 2] first unseen
    S: * OK [UIDVALIDITY 1002] UIDs valid
    S: * OK [UIDNEXT 4] predicted next UID
    S: * OK [HIGHESTMODSEQ 7] highest
    S: * VANISHED (EARLIER) 2
    S: * 1 FETCH (UID 1 FLAGS (\\Seen \\Flagged) MODSEQ (5))
    S: * 2 FETCH (UID 3 FLAGS () MODSEQ (4))
    S: q3 OK [READ-WRITE] SELECT completed
    C: q4 UID FETCH 1:* FLAGS (CHANGEDSINCE 4 VANISHED)
    S: * VANISHED (EARLIER) 2
    S: * 1 FETCH (UID 1 FLAGS (\\Seen \\Flagged) MODSEQ (5))
    S: q4 OK FETCH completed
    C: q5 SELECT INBOX (QRESYNC (999 3))
    S: * OK [CLOSED] previous mailbox closed
    S: * FLAGS …
    S: * OK [PERMANENTFLAGS …
    S: * 2 EXISTS
    S: * 0 RECENT
    S: * OK [UNSEEN 2] first unseen
    S: * OK [UIDVALIDITY 1002] UIDs valid
    S: * OK [UIDNEXT 4] predicted next UID
    S: * OK [HIGHESTMODSEQ 7] highest
    S: q5 OK [READ-WRITE] SELECT completed
    C: q6 STORE 1:2 +FLAGS.SILENT (\\Deleted)
    S: q6 OK STORE completed
    C: q7 EXPUNGE
    S: * VANISHED 1,3
    S: q7 OK [HIGHESTMODSEQ …
    `,
  );
});

Deno.test("issue19#3: BINARY (RFC 3516) decodes parts, BINARY.SIZE, literal8, UNKNOWN-CTE", async () => {
  const { backend, wire } = await loggedIn();
  backend.deliver(
    "alice@example.test",
    "INBOX",
    [
      'Content-Type: multipart/mixed; boundary="q"',
      "",
      "--q",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: quoted-printable",
      "",
      "caf=C3=A9 soft=",
      "break",
      "--q",
      "Content-Type: application/octet-stream",
      "Content-Transfer-Encoding: base64",
      "",
      "AAEC",
      "--q",
      "Content-Type: application/x-odd",
      "Content-Transfer-Encoding: x-uuencode",
      "",
      "begin",
      "--q--",
      "",
    ].join("\r\n"),
  );
  await wire.send("a SELECT INBOX\r\n");
  assert((await wire.send("b0 CAPABILITY\r\n")).includes(" BINARY"));
  await transcript(
    wire,
    `
    C: b1 FETCH 2 (BINARY.SIZE[2] BINARY[2])
    S: * 2 FETCH (BINARY.SIZE[2] 5 BINARY[2] {5}
    S: %PDF- FLAGS (\\Seen))
    S: b1 OK FETCH completed
    C: b2 FETCH 3 (BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[1]<3.4>)
    S: * 3 FETCH (BINARY[1] {15}
    S: café softbreak BINARY.SIZE[1] 15 BINARY[1]<3> {4}
    S: é s)
    S: b2 OK FETCH completed
    C: b3 FETCH 3 BINARY.PEEK[3]
    S: b3 NO [UNKNOWN-CTE] cannot decode the part's transfer encoding
    C: b4 FETCH 3 BINARY.PEEK[9]
    S: * 3 FETCH (BINARY[9] NIL)
    S: b4 OK FETCH completed
    C: b5 FETCH 3 BINARY[1.MIME]
    S: b5 BAD bad section part number
    `,
  );
  // NUL octets go out as literal8 (RFC 3516 section 4.2).
  const out = await wire.send("b6 FETCH 3 BINARY.PEEK[2]\r\n");
  assertEquals(out, "* 3 FETCH (BINARY[2] ~{3}\r\n\x00\x01\x02)\r\nb6 OK FETCH completed\r\n");
});
