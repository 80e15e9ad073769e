import { assertEquals } from "../../test/fixtures/assert.ts";
import type { Command } from "./command.ts";
import { parseCommand, parseDateTime, tagOf } from "./parse.ts";
import { decodeMailboxName, encodeMailboxName } from "./mailbox_name.ts";

const enc = new TextEncoder();
const ok = (line: string | (string | Uint8Array)[], command: Command) => {
  const parts = typeof line === "string" ? [line] : line;
  const r = parseCommand(parts);
  assertEquals(r, { ok: true, tag: (parts[0] as string).split(" ")[0], command }, String(line));
};
const bad = (line: string | (string | Uint8Array)[], tag: string, includes: string) => {
  const r = parseCommand(typeof line === "string" ? [line] : line);
  if (r.ok) throw new Error(`accepted ${line}`);
  assertEquals(r.tag, tag);
  if (!r.error.includes(includes)) throw new Error(`"${r.error}" lacks "${includes}"`);
};

Deno.test("RFC 3501 section 6 examples parse", () => {
  ok("abcd CAPABILITY", { name: "CAPABILITY" });
  ok("a002 NOOP", { name: "NOOP" });
  ok("A023 LOGOUT", { name: "LOGOUT" });
  ok("a001 login SMITH SESAME", { name: "LOGIN", user: "SMITH", password: "SESAME" });
  ok(["a001 LOGIN {5}", enc.encode("FRED "), ' "pass \\"w\\""'], {
    name: "LOGIN",
    user: "FRED ",
    password: 'pass "w"',
  });
  ok("A142 SELECT INBOX", { name: "SELECT", mailbox: "INBOX", condstore: false });
  ok("A932 EXAMINE blurdybloop (CONDSTORE)", {
    name: "EXAMINE",
    mailbox: "blurdybloop",
    condstore: true,
  });
  ok("A003 CREATE owatagusiam/", { name: "CREATE", mailbox: "owatagusiam/" });
  ok("A683 RENAME blurdybloop sarasoop", { name: "RENAME", from: "blurdybloop", to: "sarasoop" });
  ok("A042 STATUS blurdybloop (UIDNEXT MESSAGES)", {
    name: "STATUS",
    mailbox: "blurdybloop",
    items: ["UIDNEXT", "MESSAGES"],
  });
  ok('A101 LIST "" ""', {
    name: "LIST",
    reference: "",
    patterns: [""],
    specialUseOnly: false,
    subscribedOnly: false,
    returnSpecialUse: false,
    returnSubscribed: false,
    returnStatus: undefined,
  });
  ok("A202 LIST ~/Mail/ %", {
    name: "LIST",
    reference: "~/Mail/",
    patterns: ["%"],
    specialUseOnly: false,
    subscribedOnly: false,
    returnSpecialUse: false,
    returnSubscribed: false,
    returnStatus: undefined,
  });
  ok('t1 LIST (SPECIAL-USE) "" * RETURN (SPECIAL-USE STATUS (MESSAGES))', {
    name: "LIST",
    reference: "",
    patterns: ["*"],
    specialUseOnly: true,
    subscribedOnly: false,
    returnSpecialUse: true,
    returnSubscribed: false,
    returnStatus: ["MESSAGES"],
  });
  ok('A002 LSUB "#news." "comp.mail.*"', {
    name: "LSUB",
    reference: "#news.",
    patterns: ["comp.mail.*"],
    specialUseOnly: false,
    subscribedOnly: true,
    returnSpecialUse: false,
    returnSubscribed: false,
    returnStatus: undefined,
  });
  const msg = enc.encode("Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nHello\r\n");
  ok(
    [`A003 APPEND saved-messages (\\Seen) "07-Feb-1994 21:52:25 -0800" {${msg.length}}`, msg, ""],
    {
      name: "APPEND",
      mailbox: "saved-messages",
      messages: [{ flags: ["\\Seen"], date: Date.UTC(1994, 1, 8, 5, 52, 25), message: msg }],
    },
  );
  ok([`A4 APPEND INBOX {${msg.length}+}`, msg, ""], {
    name: "APPEND",
    mailbox: "INBOX",
    messages: [{ flags: [], date: undefined, message: msg }],
  });
  // MULTIAPPEND (RFC 3502 section 6): several messages, each with its own flags and date.
  ok([`A5 APPEND INBOX {${msg.length}+}`, msg, ` (\\Draft) {${msg.length}+}`, msg, ""], {
    name: "APPEND",
    mailbox: "INBOX",
    messages: [
      { flags: [], date: undefined, message: msg },
      { flags: ["\\Draft"], date: undefined, message: msg },
    ],
  });
  ok("A202 EXPUNGE", { name: "EXPUNGE", uid: false });
  ok("A3 UID EXPUNGE 3000:3002", { name: "EXPUNGE", uid: true, set: { ranges: [[3000, 3002]] } });
  ok("A003 STORE 2:4 +FLAGS (\\Deleted)", {
    name: "STORE",
    uid: false,
    set: { ranges: [[2, 4]] },
    mode: "add",
    silent: false,
    flags: ["\\Deleted"],
    unchangedSince: undefined,
  });
  ok("A5 UID STORE 1:* (UNCHANGEDSINCE 320162338) -FLAGS.SILENT \\Seen $Junk", {
    name: "STORE",
    uid: true,
    set: { ranges: [[1, "*"]] },
    mode: "remove",
    silent: true,
    flags: ["\\Seen", "$Junk"],
    unchangedSince: 320162338,
  });
  ok("A003 COPY 2:4 MEETING", {
    name: "COPY",
    uid: false,
    set: { ranges: [[2, 4]] },
    mailbox: "MEETING",
  });
  ok("A7 UID MOVE 42,44:* Trash", {
    name: "MOVE",
    uid: true,
    set: { ranges: [[42, 42], [44, "*"]] },
    mailbox: "Trash",
  });
  ok('a ID ("name" "mutt" "version" NIL)', {
    name: "ID",
    params: [["name", "mutt"], ["version", null]],
  });
  ok("a ID NIL", { name: "ID", params: null });
  ok("a ENABLE CONDSTORE utf8=accept", {
    name: "ENABLE",
    capabilities: ["CONDSTORE", "UTF8=ACCEPT"],
  });
  ok("a AUTHENTICATE PLAIN AGFsaWNlAHNlc2FtZQ==", {
    name: "AUTHENTICATE",
    mechanism: "PLAIN",
    initial: "AGFsaWNlAHNlc2FtZQ==",
  });
  ok("a SELECT &AMk-t&AOk-", { name: "SELECT", mailbox: "Été", condstore: false });
});

Deno.test("FETCH attributes, macros, sections and partials", () => {
  const fetch = (line: string) => {
    const r = parseCommand([line]);
    if (!r.ok || r.command.name !== "FETCH") throw new Error(`${line}: ${JSON.stringify(r)}`);
    return r.command;
  };
  assertEquals(fetch("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])").items, [
    { kind: "FLAGS" },
    {
      kind: "BODY[]",
      peek: false,
      section: { part: [], text: "HEADER.FIELDS", fields: ["DATE", "FROM"] },
    },
  ]);
  assertEquals(fetch("a FETCH 1 ALL").items.map((i) => i.kind), [
    "FLAGS",
    "INTERNALDATE",
    "RFC822.SIZE",
    "ENVELOPE",
  ]);
  assertEquals(fetch("a FETCH 1 full").items.length, 5);
  assertEquals(fetch("a FETCH 1:* fast").set, { ranges: [[1, "*"]] });
  assertEquals(fetch("a FETCH 1 BODY.PEEK[4.2.2.1.MIME]<0.2048>").items, [{
    kind: "BODY[]",
    peek: true,
    section: { part: [4, 2, 2, 1], text: "MIME" },
    partial: { start: 0, length: 2048 },
  }]);
  assertEquals(fetch("a FETCH 1 (BODY[] BODY[3.TEXT] BODY[2] BODYSTRUCTURE)").items, [
    { kind: "BODY[]", peek: false, section: { part: [] } },
    { kind: "BODY[]", peek: false, section: { part: [3], text: "TEXT" } },
    { kind: "BODY[]", peek: false, section: { part: [2] } },
    { kind: "BODYSTRUCTURE" },
  ]);
  assertEquals(
    fetch('a FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT ("Received" X-Y)]').items[0],
    {
      kind: "BODY[]",
      peek: true,
      section: { part: [], text: "HEADER.FIELDS.NOT", fields: ["Received", "X-Y"] },
    },
  );
  const c = fetch("a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)");
  assertEquals([c.uid, c.changedSince], [true, 12345]);
  assertEquals(fetch("a FETCH $ (UID RFC822.SIZE)").set, { saved: true });
});

Deno.test("SEARCH keys: every RFC 3501 key, nesting, CHARSET, MODSEQ", () => {
  const search = (line: string) => {
    const r = parseCommand([line]);
    if (!r.ok || r.command.name !== "SEARCH") throw new Error(`${line}: ${JSON.stringify(r)}`);
    return r.command;
  };
  assertEquals(search('A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"').criteria, {
    op: "and",
    keys: [
      { op: "flag", flag: "\\Flagged", set: true },
      { op: "date", field: "internal", cmp: "since", date: "1994-02-01" },
      { op: "not", key: { op: "header", field: "FROM", value: "Smith" } },
    ],
  });
  assertEquals(search("A284 SEARCH CHARSET UTF-8 TEXT XXXXXX").charset, "UTF-8");
  const lit = parseCommand(["A284 SEARCH CHARSET UTF-8 TEXT {6}", enc.encode("XXXXXX"), ""]);
  assertEquals(lit.ok && lit.command.name === "SEARCH" && lit.command.criteria, {
    op: "text",
    value: "XXXXXX",
  });
  assertEquals(search("a UID SEARCH OR (SEEN DELETED) UID 1:5 MODSEQ 620162338").criteria, {
    op: "and",
    keys: [
      {
        op: "or",
        a: {
          op: "and",
          keys: [{ op: "flag", flag: "\\Seen", set: true }, {
            op: "flag",
            flag: "\\Deleted",
            set: true,
          }],
        },
        b: { op: "uid", set: { ranges: [[1, 5]] } },
      },
      { op: "modseq", modseq: 620162338 },
    ],
  });
  const keys = "ALL ANSWERED BCC x BEFORE 1-Jan-2020 BODY y CC z DELETED DRAFT FLAGGED " +
    'FROM a HEADER X-A b KEYWORD $k LARGER 10 NEW OLD ON "2-Mar-2021" RECENT SEEN ' +
    "SENTBEFORE 1-Jan-2020 SENTON 1-Jan-2020 SENTSINCE 1-Jan-2020 SINCE 1-Jan-2020 " +
    "SMALLER 5 SUBJECT s TEXT t TO u UID 1,2 UNANSWERED UNDELETED UNDRAFT UNFLAGGED " +
    "UNKEYWORD $k UNSEEN 1:3,*";
  const all = search(`a SEARCH ${keys}`).criteria;
  assertEquals(all.op === "and" && all.keys.length, 34);
});

Deno.test("bad input is a result with the tag, never an exception", () => {
  bad("", "*", "tag");
  bad("+ x", "*", "tag");
  bad("a1", "*", "tag");
  bad("a1 FOO", "a1", "unknown command");
  bad("a1 FETCH 1:* (FLAGS", "a1", "unbalanced");
  bad("a1 FETCH 0 FLAGS", "a1", "sequence set");
  bad("a1 FETCH 1:x FLAGS", "a1", "sequence set");
  bad("a1 FETCH 1 BODY[1.FOO]", "a1", "bad section");
  bad("a1 FETCH 1 BODY[MIME]", "a1", "MIME");
  bad("a1 FETCH 1 (FLAGS))", "a1", "unexpected");
  bad("a1 SEARCH (SEEN", "a1", "unbalanced");
  bad("a1 SEARCH SINCE 31-Foo-2020", "a1", "bad date");
  bad("a1 SEARCH " + "(".repeat(200) + "ALL" + ")".repeat(200), "a1", "deeply");
  bad("a1 STORE 1 FLAGZ (\\Seen)", "a1", "store item");
  bad('a1 LOGIN "unterminated', "a1", "unterminated");
  bad("a1 LOGIN {5}", "a1", "literal");
  bad("a1 UID NOOP", "a1", "UID NOOP");
  bad("a1 APPEND INBOX (\\Seen) hello", "a1", "literal");
  bad("a1 STATUS INBOX (FOO)", "a1", "status item");
  bad("a1 SELECT", "a1", "space");
});

Deno.test("date-time and modified UTF-7", () => {
  assertEquals(parseDateTime("17-Jul-1996 02:44:25 -0700"), Date.UTC(1996, 6, 17, 9, 44, 25));
  assertEquals(parseDateTime(" 7-Jul-1996 02:44:25 +0000"), Date.UTC(1996, 6, 7, 2, 44, 25));
  assertEquals(parseDateTime("17-Jul-1996"), undefined);
  // RFC 3501 section 5.1.3 example
  assertEquals(decodeMailboxName("~peter/mail/&U,BTFw-/&ZeVnLIqe-"), "~peter/mail/台北/日本語");
  assertEquals(encodeMailboxName("~peter/mail/台北/日本語"), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
  assertEquals(encodeMailboxName("A&B"), "A&-B");
  assertEquals(decodeMailboxName("A&-B"), "A&B");
  assertEquals(decodeMailboxName("bad&***-"), "bad&***-");
});

Deno.test("issue15#12: a tag is printable ASCII without specials; 8-bit or U+FFFD tags are refused", () => {
  assertEquals(tagOf("a1 NOOP"), "a1");
  assertEquals(tagOf("a]1 NOOP"), "a]1");
  for (
    const line of ["\uFFFDA NOOP", "a\u00e9 NOOP", "\u20ac NOOP", "a+ NOOP", "a* NOOP", "(a NOOP"]
  ) {
    assertEquals(tagOf(line), undefined, line);
    const parsed = parseCommand([line]);
    assertEquals(parsed.ok ? "" : parsed.tag, "*", line);
  }
  // A reason that quotes the client's text quotes it as ASCII.
  const bad = parseCommand(["a1 NOOP \uFFFD\u00e9"]);
  assertEquals(bad.ok ? "" : bad.error, 'unexpected " ??"');
});
