/**
 * The Sieve language against the RFCs' own examples: RFC 5228 section 9's filter, the
 * extensions' examples (RFC 5229 variables, RFC 5231 relational, RFC 5232 imap4flags, RFC 5233
 * subaddress, RFC 5260 date/index, RFC 5173 body, RFC 5429 reject, RFC 3894 copy, RFC 5230
 * vacation), the implicit keep, and the errors the validator reports with their positions.
 */
import { assert, assertEquals } from "../../test/fixtures/assert.ts";
import { headerFields } from "../mime/header_block.ts";
import type { SieveMessage } from "./context.ts";
import { SieveRuntimeError } from "./errors.ts";
import { runSieve } from "./interpreter.ts";
import { parseScript } from "./validate.ts";

function message(head: string, opts: Partial<SieveMessage> = {}): SieveMessage {
  const body = opts.body ?? { parts: [{ contentType: "text/plain", text: "hello" }], raw: "hello" };
  return {
    headers: headerFields(head.trim()),
    envelope: { from: "sender@example.org", to: "me@example.com" },
    size: head.length + 100,
    body,
    now: Date.UTC(2026, 11, 7, 12, 0, 0),
    ...opts,
  };
}

function compile(script: string) {
  const parsed = parseScript(script);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.program;
}

function run(script: string, msg: SieveMessage) {
  return runSieve([compile(script)], msg);
}

function assertThrows(fn: () => unknown, type: new (...a: never[]) => Error, includes = "") {
  try {
    fn();
  } catch (e) {
    assert(e instanceof type, String(e));
    assert(e.message.includes(includes), e.message);
    return;
  }
  throw new Error("did not throw");
}

const RFC5228_EXAMPLE = `#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto"];

#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter mailbox
#
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" mailbox
        }
#
# Keep all messages to or from people in my company
#
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" mailbox
        }

#
# Try and catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" mailbox
        }
else
        {
        # Move all other (non-company) mail to "personal"
        # mailbox.
        fileinto "personal";
        }
`;

Deno.test("issue21#2: RFC 5228 section 9's example filter files each kind of mail", () => {
  const list = run(RFC5228_EXAMPLE, message("Sender: owner-ietf-mta-filters@imc.org\nTo: x@y.org"));
  assertEquals(list.fileinto.map((f) => f.mailbox), ["filter"]);
  assertEquals(list.keep, undefined);
  const company = run(RFC5228_EXAMPLE, message("From: boss@example.com\nTo: me@elsewhere.org"));
  assertEquals([company.keep !== undefined, company.fileinto.length], [true, 0]);
  const notToMe = run(RFC5228_EXAMPLE, message("From: a@b.org\nTo: other@c.org\nSubject: hi"));
  assertEquals(notToMe.fileinto.map((f) => f.mailbox), ["spam"]);
  // Mail to me@example.com is company mail first: the spam branch is never reached for it.
  const toMe = run(
    RFC5228_EXAMPLE,
    message("From: a@b.org\nTo: Me <me@example.com>\nSubject: MAKE lots of MONEY very FAST"),
  );
  assertEquals([toMe.keep !== undefined, toMe.fileinto.length], [true, 0]);
  const spam = run(
    RFC5228_EXAMPLE,
    message("From: a@b.org\nCc: me@example.com\nSubject: MAKE lots of MONEY very FAST"),
  );
  assertEquals(spam.fileinto.map((f) => f.mailbox), ["spam"]);
  const personal = run(RFC5228_EXAMPLE, message("From: a@b.org\nCc: me@example.com\nSubject: hi"));
  assertEquals(personal.fileinto.map((f) => f.mailbox), ["personal"]);
});

Deno.test("issue21#2: sieve implicit keep, discard, stop and :copy (RFC 5228 2.10.2, RFC 3894)", () => {
  const msg = message("From: a@b.org\nSubject: x");
  assertEquals(run("", msg).keep, { flags: [] });
  const d = run("discard;", msg);
  assertEquals([d.keep, d.discarded], [undefined, true]);
  const s = run('require "fileinto"; stop; fileinto "never";', msg);
  assertEquals([s.keep !== undefined, s.fileinto.length], [true, 0]);
  const c = run(
    'require ["fileinto", "copy"]; fileinto :copy "Archive"; redirect :copy "x@y.org";',
    msg,
  );
  assert(c.keep, "the implicit keep survives :copy");
  assertEquals(c.redirects, ["x@y.org"]);
  const r = run('redirect "x@y.org";', msg);
  assertEquals([r.keep, r.redirects], [undefined, ["x@y.org"]]);
  const limited = runSieve(
    [compile('redirect "a@x.org"; redirect "b@x.org"; redirect "c@x.org";')],
    msg,
    { maxSteps: 100, maxRedirects: 2 },
  );
  assertEquals(limited.redirects, ["a@x.org", "b@x.org"]);
  assertEquals(limited.notes.length, 1);
});

Deno.test("issue21#2: sieve variables and match variables (RFC 5229 examples)", () => {
  const script = `require ["fileinto", "variables"];
if header :matches "List-ID" "*<*@*" {
    fileinto "INBOX.lists.\${2}"; stop;
}
# Imagine the header
# Subject: [acme-users] [fwd] version 1.0 is out
if header :matches "Subject" "[*] *" {
    # \${1} will hold "acme-users",
    # \${2} will hold "[fwd] version 1.0 is out"
    fileinto "INBOX.lists.\${1}"; stop;
}
# Imagine the header
# To: coyote@ACME.Example.COM
if address :matches ["To", "Cc"] ["coyote@**.com",
        "wile@**.com"] {
    # \${0} is the matching address
    # \${1} always holds ""
    # \${2} holds "ACME.Example"
    fileinto "INBOX.business.\${2}"; stop;
} else {
    # Control wouldn't reach this block if any match was
    # successful, so no match variables are set at this
    # point.
}
`;
  assertEquals(
    run(script, message("List-ID: Sieve discussion <sieve@ietf.org>")).fileinto[0].mailbox,
    "INBOX.lists.sieve",
  );
  assertEquals(
    run(script, message("Subject: [acme-users] [fwd] version 1.0 is out")).fileinto[0].mailbox,
    "INBOX.lists.acme-users",
  );
  assertEquals(
    run(script, message("To: coyote@ACME.Example.COM")).fileinto[0].mailbox,
    "INBOX.business.ACME.Example",
  );
  // Section 4.1's modifiers.
  const mods = `require ["variables", "fileinto"];
set "a" "juMBlEd lETteRS";
set :length "b" "\${a}";
set :lower "c" "\${a}";
set :upperfirst "d" "\${a}";
set :upperfirst :lower "e" "\${a}";
set :quotewildcard "f" "a*b?c\\\\d";
fileinto "\${b}|\${c}|\${d}|\${e}|\${f}";`;
  assertEquals(
    run(mods, message("Subject: x")).fileinto[0].mailbox,
    "15|jumbled letters|JuMBlEd lETteRS|Jumbled letters|a\\*b\\?c\\\\d",
  );
});

Deno.test("issue21#2: sieve relational with i;ascii-numeric (RFC 5231 examples)", () => {
  const head = `Received: from a\nReceived: from b\nReceived: from c\nX-Priority: 3 (Normal)
To: a@x.org, b@x.org\nCc: c@x.org`;
  const yes = (test: string) =>
    run(
      `require ["relational", "comparator-i;ascii-numeric", "fileinto"];
if ${test} { fileinto "yes"; }`,
      message(head),
    ).fileinto.length === 1;
  assert(yes('header :count "ge" :comparator "i;ascii-numeric" "received" "3"'));
  assert(!yes('header :count "gt" :comparator "i;ascii-numeric" "received" "3"'));
  assert(yes('address :count "eq" :comparator "i;ascii-numeric" ["to", "cc"] "3"'));
  assert(yes('header :value "lt" :comparator "i;ascii-numeric" "x-priority" "5"'));
  assert(!yes('header :value "gt" :comparator "i;ascii-numeric" "x-priority" "3"'));
  // A value without leading digits is positive infinity (RFC 4790 section 9.1).
  assert(yes('header :value "gt" :comparator "i;ascii-numeric" "to" "99999"'));
  assert(yes('header :value "gt" "x-priority" "1"'));
});

Deno.test("issue21#2: sieve imap4flags (RFC 5232 examples)", () => {
  const script = `require ["imap4flags", "fileinto"];
if header :contains "from" "boss@frobnitzm.example.edu" {
  setflag "\\\\Flagged";
  fileinto :flags "\\\\Deleted" "urgent";
}
addflag ["\\\\Seen", "$Work"];
removeflag "$Work";
if hasflag :contains "\\\\Seen" { keep; }`;
  const out = run(script, message("From: boss@frobnitzm.example.edu"));
  assertEquals(out.fileinto, [{ mailbox: "urgent", flags: ["\\Deleted"] }]);
  assertEquals(out.keep, { flags: ["\\Flagged", "\\Seen"] });
});

Deno.test("issue21#2: sieve subaddress, envelope, exists and size", () => {
  const msg = message("From: ken+sieve@example.org\nX-Spam-Flag: YES", {
    envelope: { from: "", to: "me+lists@example.com" },
    size: 200 * 1024,
  });
  const yes = (test: string) =>
    run(`require ["envelope", "subaddress", "fileinto"]; if ${test} { fileinto "y"; }`, msg)
      .fileinto.length === 1;
  assert(yes('address :user "from" "ken"'));
  assert(yes('address :detail "from" "sieve"'));
  assert(yes('envelope :detail "to" "lists"'));
  assert(!yes('envelope :detail "to" "other"'));
  // The null sender is the empty string for every part.
  assert(yes('envelope :all :is "from" ""'));
  assert(yes('exists ["x-spam-flag", "from"]'));
  assert(!yes('exists ["x-spam-flag", "x-nope"]'));
  assert(yes("size :over 100K"));
  assert(!yes("size :under 1M") === false);
});

Deno.test("issue21#2: sieve date, currentdate and index (RFC 5260 examples)", () => {
  const head =
    `Date: Mon, 7 Dec 2026 09:30:00 -0500\nReceived: from a by b; Mon, 7 Dec 2026 14:40:00 +0000
Received: from c by d; Mon, 7 Dec 2026 14:35:00 +0000`;
  const yes = (test: string) =>
    run(
      `require ["date", "relational", "index", "fileinto"]; if ${test} { fileinto "y"; }`,
      message(head),
    ).fileinto.length === 1;
  assert(yes('date :is "date" "date" "2026-12-07"'));
  assert(yes('date :originalzone :is "date" "hour" "09"'));
  assert(yes('date :zone "+0100" :is "date" "hour" "15"'));
  assert(yes('date :is "date" "weekday" "1"'));
  assert(yes('currentdate :value "ge" "date" "2026-12-01"'));
  assert(yes('currentdate :is "julian" "61381"'));
  // RFC 5260 section 7: the first Received field is the newest hop.
  assert(yes('date :index 1 :is "received" "minute" "40"'));
  assert(yes('date :index 1 :last :is "received" "minute" "35"'));
  assert(!yes('date :index 3 :is "received" "minute" "35"'));
});

Deno.test("issue21#2: sieve body (RFC 5173) and encoded-character (RFC 5228 2.4.2.4)", () => {
  const msg = message("Subject: x", {
    body: {
      parts: [
        { contentType: "text/plain", text: "Please find the MAKE MONEY offer" },
        { contentType: "text/html", text: "<p>html only words</p>" },
      ],
      raw: "raw =3D bytes",
    },
  });
  const yes = (test: string) =>
    run(
      `require ["body", "fileinto", "encoded-character"]; if ${test} { fileinto "y"; }`,
      msg,
    ).fileinto.length === 1;
  assert(yes('body :contains "make money"'));
  assert(yes('body :content "text/html" :contains "html only"'));
  assert(!yes('body :content "image" :contains "make"'));
  assert(yes('body :raw :contains "=3D"'));
  assert(yes('body :text :contains "${hex:4D 41 4B 45}"'));
  const emoji = parseScript('require "encoded-character"; keep :flags "${unicode:1F600}";');
  assert(!emoji.ok, "keep :flags needs imap4flags");
  const bad = parseScript('require "encoded-character"; if header :is "a" "${unicode:D800}" {}');
  assert(!bad.ok);
});

Deno.test("issue21#2: sieve reject and ereject conflict with keeping (RFC 5429)", () => {
  const msg = message("From: a@b.org");
  const r = run('require "reject"; reject "I do not accept mail from you";', msg);
  assertEquals(r.reject, { reason: "I do not accept mail from you", extended: false });
  assertEquals(r.keep, undefined);
  const e = run('require "ereject"; ereject "no";', msg);
  assertEquals(e.reject?.extended, true);
  assertThrows(
    () => run('require ["reject", "fileinto"]; fileinto "x"; reject "no";', msg),
    SieveRuntimeError,
    "reject cannot be combined with fileinto",
  );
  assertThrows(() => run('require "reject"; keep; reject "no";', msg), SieveRuntimeError);
  assertThrows(
    () => run('require ["reject", "vacation"]; vacation "away"; reject "no";', msg),
    SieveRuntimeError,
  );
});

Deno.test("issue21#2: sieve vacation arguments (RFC 5230 section 4 example)", () => {
  const script = `require "vacation";
if header :contains "subject" "cyrus" {
    vacation :days 7 :from "hemingway@example.com" :addresses ["me@example.com"]
      :subject "Out of office" :handle "ooo-1" "I'm out -- send mail to cyrus-bugs";
} else {
    vacation "I'm out -- call me at +1 304 555 0123";
}`;
  const a = run(script, message("Subject: about cyrus"));
  assertEquals(a.vacation, {
    reason: "I'm out -- send mail to cyrus-bugs",
    days: 7,
    subject: "Out of office",
    from: "hemingway@example.com",
    addresses: ["me@example.com"],
    mime: false,
    handle: "ooo-1",
  });
  assert(a.keep, "vacation does not cancel the implicit keep");
  const b = run(script, message("Subject: other"));
  assertEquals(b.vacation?.days, 7);
  assertEquals(b.vacation?.reason, "I'm out -- call me at +1 304 555 0123");
});

Deno.test("issue21#2: sieve validator errors carry line, column and reason", () => {
  const cases: [string, number, number, RegExp][] = [
    ['if header :is "a" "b" {\n  keep;\n', 3, 1, /expected "}"/],
    ['require "nope";', 1, 9, /unsupported extension "nope"/],
    ['fileinto "x";', 1, 1, /require "fileinto"/],
    ["keep;\nelse { keep; }", 2, 1, /must follow "if"/],
    ['keep;\nrequire "fileinto";', 2, 1, /"require" must come before/],
    ['if size :over "10" { keep; }', 1, 15, /argument 1 of "size" must be a number/],
    ['if header :is :contains "a" "b" { keep; }', 1, 15, /cannot be used together/],
    ['redirect "a@b.org" "c@d.org";', 1, 1, /takes 1 positional/],
    ['if header :comparator "i;nope" "a" "b" { keep; }', 1, 4, /unknown comparator/],
    ['if "a" { keep; }', 1, 1, /takes 0 positional/],
    ["keep;\n/* open", 2, 1, /unterminated/],
    ['vacation :days 0 "x";', 1, 1, /require "vacation"/],
    ['require "relational";\nif header :value "xx" "a" "b" { keep; }', 2, 4, /gt, ge/],
    ["keep;\ntext:\nline\n", 2, 6, /unterminated text/],
  ];
  for (const [script, line, column, reason] of cases) {
    const r = parseScript(script);
    assert(!r.ok, script);
    const first = r.errors[0];
    assert(reason.test(first.reason), `${script}: ${first.reason}`);
    assertEquals([first.line, first.column], [line, column], `${script}: ${first.reason}`);
  }
  // Multi-line strings, numbers with quantifiers, dot-unstuffing.
  const ok = parseScript(
    'require "vacation";\nvacation :days 1 text:\n..hi\nthere\n.\n;\nif size :over 1G { discard; }',
  );
  assert(ok.ok, JSON.stringify(ok));
});
