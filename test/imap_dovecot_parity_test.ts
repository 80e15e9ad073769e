/**
 * THREAD, SORT and ESORT (RFC 5256, RFC 5267) against a reference: the same mailbox is served by
 * a private Dovecot 2.3 (test/fixtures/dovecot.ts) and by Postern's IMAP listener, the same
 * commands go to both over sockets (Python's imaplib), and the answers must agree. The mailbox
 * holds the cases where threading goes wrong: In-Reply-To without References, replies to a
 * message not at hand, a reply seen before its original, subjects merged by "Re:"/"Fwd:"/"[blob]",
 * a missing and a duplicate Message-ID, a References loop. Skipped where Dovecot is missing.
 */
import { assertEquals } from "./fixtures/assert.ts";
import { dovecotAvailable, startDovecot } from "./fixtures/dovecot.ts";
import { py, startMemoryImap } from "./fixtures/imap_pop3.ts";
import { aliceBackend } from "../bridge/imap/testing.ts";

/** [Message-ID, Subject, extra fields, day of June 2024]. */
const MAIL: [string | null, string, string, number][] = [
  ["a", "Plan", "", 1],
  ["b", "Re: Plan", "References: <a@x.test>", 3],
  ["c", "Re: Plan", "In-Reply-To: <a@x.test>", 2],
  ["d", "Re: Re: Plan", "References: <a@x.test>\r\n <b@x.test>", 4],
  ["e", "Lunch", "", 5],
  ["f", "Re: Lunch", "", 6],
  ["g", "Other", "References: <missing@x.test>", 7],
  ["h", "Another", "References: <missing@x.test>", 8],
  ["i", "Fwd: Budget", "", 9],
  ["j", "Budget", "", 10],
  ["k", "[team] Budget", "", 11],
  [null, "No id", "", 12],
  ["b", "Dup", "", 13],
  ["l", "loop", "References: <m@x.test>", 14],
  ["m", "loop two", "References: <l@x.test>", 15],
  ["n", "Re: [fwd: Plan]", "", 16],
];

const raw = ([id, subject, extra, day]: (typeof MAIL)[number], i: number) =>
  `From: u${i % 4}@x.test\r\nTo: alice@x.test\r\n` +
  (id ? `Message-ID: <${id}@x.test>\r\n` : "") +
  `Subject: ${subject}\r\nDate: ${day} Jun 2024 10:00:00 +0000\r\n` +
  (extra ? extra + "\r\n" : "") + `\r\nbody ${i}\r\n`;

const COMMANDS = [
  "THREAD REFERENCES UTF-8 ALL",
  "UID THREAD REFERENCES UTF-8 NOT SUBJECT lunch",
  "THREAD REFERENCES UTF-8 SENTSINCE 3-Jun-2024",
  "THREAD ORDEREDSUBJECT UTF-8 ALL",
  "SORT (SUBJECT) UTF-8 ALL",
  "SORT (REVERSE DATE) UTF-8 ALL",
  "SORT (FROM SUBJECT) UTF-8 ALL",
  "UID SORT (REVERSE SUBJECT DATE) UTF-8 NOT SUBJECT plan",
  "SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL",
  "SORT RETURN (ALL) (REVERSE SIZE) UTF-8 ALL",
];

const SCRIPT = `
import imaplib, sys, json
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login(sys.argv[2], sys.argv[3])
m.select("INBOX")
out = []
for cmd in json.loads(sys.argv[4]):
    tag = m._new_tag()
    m.send(tag + b" " + cmd.encode() + b"\\r\\n")
    lines = []
    while True:
        line = m._get_line().decode()
        if line.startswith(tag.decode()):
            lines.append(line.split(" ")[1])
            break
        lines.append(line)
    out.append(lines)
m.logout()
print(json.dumps(out))
`;

/** Tags out; ESEARCH items as a sorted list (their order is free, RFC 4731 section 3.1). */
function normal(lines: string[]): string[] {
  return lines.map((l) => {
    const e = /^\* ESEARCH \(TAG "[^"]+"\)(.*)$/.exec(l);
    if (!e) return l;
    const items = [...e[1].matchAll(/ (UID)| ([A-Z]+) (\S+)/g)].map((m) => m[0].trim()).sort();
    return `* ESEARCH ${items.join(" ")}`;
  });
}

Deno.test({
  name: "issue19#3: THREAD (REFERENCES, ORDEREDSUBJECT), SORT and ESORT answer as Dovecot does",
  ignore: !(await dovecotAvailable()),
  async fn() {
    const enc = new TextEncoder();
    const dovecot = await startDovecot();
    const backend = aliceBackend();
    for (const [i, m] of MAIL.entries()) backend.deliver("alice@example.test", "INBOX", raw(m, i));
    const postern = await startMemoryImap(backend);
    try {
      await dovecot.fillMaildir(MAIL.map((m, i) => enc.encode(raw(m, i))));
      const ask = async (port: number, user: string, pass: string) =>
        (JSON.parse(
          await py(SCRIPT, [String(port), user, pass, JSON.stringify(COMMANDS)]),
        ) as string[][]).map(normal);
      const theirs = await ask(dovecot.imapPort, "alice@legacy.test", "alicepw");
      const ours = await ask(postern.port, "alice@example.test", "sesame");
      for (const [i, command] of COMMANDS.entries()) {
        assertEquals(ours[i], theirs[i], command);
      }
    } finally {
      await postern.close();
      await dovecot.stop();
    }
  },
});
