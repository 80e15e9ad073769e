/**
 * IMAP end to end over real sockets, wired as `postern serve` wires it: a message arrives by
 * SMTP (Python smtplib → the bridge's MX → gateway), Python's imaplib reads it over STARTTLS
 * through the gateway backend (BODY[] byte-exact against the stored blob, ENVELOPE,
 * BODYSTRUCTURE, SEARCH, STORE, COPY, EXPUNGE, MULTIAPPEND, SORT, ESEARCH), imapflow sees a
 * second SMTP message arrive while in IDLE (pushed from the gateway's event stream), and bob
 * sees none of alice's mail.
 * Also s-nail, a terminal mail client run non-interactively, reading a message that came by
 * SMTP over STARTTLS.
 */
import { blobBytes } from "../src/services/blob_chunks.ts";
import { ImapFlow } from "imapflow";
import { eq } from "drizzle-orm";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, BOB } from "./fixtures/app.ts";
import { startBridgeWorld } from "./fixtures/bridge.ts";
import { py, startGatewayImap, worldTls } from "./fixtures/imap_pop3.ts";
import { schema } from "../src/store/store.ts";

const SEND = `
import smtplib, sys
msg = (b"From: Zed <zed@remote.example>\\r\\nTo: alice@postern.test\\r\\nSubject: imap %s\\r\\n"
       b"Message-ID: <imap-%s@remote.example>\\r\\nDate: Mon, 15 Jan 2024 10:30:00 +0000\\r\\n"
       b"Content-Type: text/plain; charset=utf-8\\r\\nContent-Transfer-Encoding: 8bit\\r\\n\\r\\n"
       b"caf\\xc3\\xa9 \\xe2\\x82\\xac\\r\\n.dot\\r\\n") % (sys.argv[2].encode(), sys.argv[2].encode())
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="mx.remote.example") as s:
    s.sendmail("zed@remote.example", ["alice@postern.test"], msg)
print("SENT")
`;

const READ = `
import imaplib, ssl, sys, json, base64
port, user, password, cafile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
m = imaplib.IMAP4("127.0.0.1", port)
m.starttls(ssl_context=ctx)
out = {}
try:
    m.login(user, "wrong")
except imaplib.IMAP4.error as e:
    out["bad_login"] = str(e)
m.login(user, password)
typ, data = m.select("INBOX")
out["exists"] = int(data[0])
typ, data = m.fetch("1", "(UID RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[])")
out["meta"] = data[0][0].decode()
out["body"] = base64.b64encode(data[0][1]).decode()
out["tail"] = data[1].decode() if isinstance(data[1], bytes) else str(data[1])
typ, data = m.search(None, "SUBJECT", "imap")
out["search"] = data[0].decode()
typ, data = m.store("1", "+FLAGS", "(\\\\Flagged)")
out["store"] = data[0].decode()
typ, data = m.copy("1", "Archive")
out["copy"] = data[0].decode()
typ, data = m.status("Archive", "(MESSAGES)")
out["archive"] = data[0].decode()
typ, data = m.getquotaroot("INBOX")
out["quota"] = [x.decode() for part in data for x in part]
# Issue 19: MULTIAPPEND, SORT and ESEARCH through the gateway's mailbox API.
a, b = b"Subject: Re: multi b\\r\\n\\r\\nb\\r\\n", b"Subject: multi a\\r\\n\\r\\na\\r\\n"
tag = m._new_tag()
m.send(tag + b" APPEND Archive {%d+}\\r\\n" % len(a) + a + b" (\\\\Seen) {%d+}\\r\\n" % len(b) + b + b"\\r\\n")
line = m._get_line()
while not line.startswith(tag):
    line = m._get_line()
out["multiappend"] = line.decode()
m.select("Archive")
out["sort"] = m.sort("(SUBJECT)", "UTF-8", "ALL")[1][0].decode()
out["uid_sort"] = m.uid("SORT", "(REVERSE SUBJECT)", "UTF-8", "ALL")[1][0].decode()
out["thread"] = m.thread("REFERENCES", "UTF-8", "ALL")[1][0].decode()
typ, data = m._simple_command("SEARCH", "RETURN", "(COUNT MAX)", "UNSEEN")
out["esearch"] = m._untagged_response(typ, data, "ESEARCH")[1][0].decode()
m.logout()
print(json.dumps(out))
`;

Deno.test("IMAP via the gateway: SMTP in, imaplib and imapflow out, IDLE push, isolation", async () => {
  const world = await startBridgeWorld();
  const imap = await startGatewayImap(world.gw, { tls: worldTls(world) });
  const flow = new ImapFlow({
    host: "127.0.0.1",
    port: imap.port,
    secure: false,
    doSTARTTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user: ALICE.address, pass: ALICE.password },
    logger: false,
  });
  try {
    assert((await py(SEND, [String(world.mxPort), "1"])).includes("SENT"));
    const db = world.gw.deps.store.db;
    const [row] = await db.select().from(schema.messages);
    const [blob] = await db.select().from(schema.blobs)
      .where(eq(schema.blobs.sha256, row.blobSha256));
    const stored = await blobBytes(db, blob); // opened: sealed at rest;

    const out = JSON.parse(
      await py(READ, [String(imap.port), ALICE.address, ALICE.password, world.certFile]),
    );
    assert(out.bad_login.includes("AUTHENTICATIONFAILED"), out.bad_login);
    assertEquals(out.exists, 1);
    const body = Uint8Array.from(atob(out.body), (c) => c.charCodeAt(0));
    assertEquals([...body], [...stored]);
    assert(out.meta.includes(`RFC822.SIZE ${stored.length}`), out.meta);
    assert(out.meta.includes('"imap 1" (("Zed" NIL "zed" "remote.example"))'), out.meta);
    assert(
      out.meta.includes('BODYSTRUCTURE ("text" "plain" ("charset" "utf-8") NIL NIL "8bit"'),
      out.meta,
    );
    assertEquals(out.search, "1");
    assertEquals(out.store, "1 (FLAGS (\\Flagged))");
    assert(/\[COPYUID \d+ \d+ 1\]/.test(out.copy), out.copy);
    assertEquals(out.archive, "Archive (MESSAGES 1)");
    // RFC 9208 QUOTA: the account's storage, used (both copies) and limit in KiB.
    const kib = Math.ceil((2 * stored.length) / 1024);
    const limit = world.gw.deps.config.defaultQuotaBytes / 1024;
    assertEquals(out.quota, ['INBOX ""', `"" (STORAGE ${kib} ${limit})`]);
    assert(/OK \[APPENDUID \d+ 2:3\] APPEND completed$/.test(out.multiappend), out.multiappend);
    // Base subjects IMAP 1, MULTI A, MULTI B (the "Re:" is not part of it).
    assertEquals(out.sort, "1 3 2");
    assertEquals(out.uid_sort, "2 3 1");
    // THREAD=REFERENCES reads the header blocks through the gateway: no references, three threads.
    assertEquals(out.thread, "(1)(2)(3)");
    assert(/^\(TAG "[^"]+"\) MAX 2 COUNT 2$/.test(out.esearch), out.esearch);

    // imapflow: IDLE sees a message that arrives by SMTP meanwhile.
    await flow.connect();
    const lock = await flow.getMailboxLock("INBOX");
    try {
      const first = await flow.fetchOne("1", { flags: true, envelope: true });
      assert(first && first.flags?.has("\\Flagged"));
      assertEquals(first && first.envelope?.subject, "imap 1");
      const exists = new Promise<number>((resolve) => flow.once("exists", (e) => resolve(e.count)));
      const idle = flow.idle();
      await new Promise((r) => setTimeout(r, 200));
      assert((await py(SEND, [String(world.mxPort), "2"])).includes("SENT"));
      assertEquals(await exists, 2);
      await flow.noop();
      await idle.catch(() => {});
      const second = await flow.fetchOne("2", { envelope: true });
      assertEquals(second && second.envelope?.subject, "imap 2");
    } finally {
      lock.release();
    }
    await flow.logout();

    // Bob logs in to the same server and sees an empty INBOX.
    const bob = new ImapFlow({
      host: "127.0.0.1",
      port: imap.port,
      secure: false,
      doSTARTTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: BOB.address, pass: BOB.password },
      logger: false,
    });
    await bob.connect();
    const status = await bob.status("INBOX", { messages: true });
    assertEquals(status && status.messages, 0);
    const mailbox = await bob.mailboxOpen("INBOX");
    assertEquals(mailbox.exists, 0);
    assertEquals(await bob.search({ all: true }, { uid: true }), []);
    await bob.logout();
    bob.close();
  } finally {
    flow.close();
    await imap.close();
    await world.close();
  }
});

const SNAIL = "/usr/bin/s-nail";
const hasSnail = (() => {
  try {
    Deno.statSync(SNAIL);
    return true;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "s-nail (terminal client, batch mode) reads a message that arrived by SMTP",
  ignore: !hasSnail && !Deno.env.get("CI"),
  async fn() {
    const world = await startBridgeWorld();
    const imap = await startGatewayImap(world.gw, { tls: worldTls(world) });
    const home = await Deno.makeTempDir({ prefix: "postern-snail-" });
    try {
      assert((await py(SEND, [String(world.mxPort), "snail"])).includes("SENT"));
      const user = encodeURIComponent(ALICE.address);
      const out = await new Deno.Command(SNAIL, {
        args: [
          "-#",
          "-n",
          "-S",
          "v15-compat",
          "-S",
          "imap-use-starttls",
          "-S",
          "tls-verify=ignore",
          "-S",
          `password=${ALICE.password}`,
          "-Y",
          "headers",
          "-Y",
          "print 1",
          "-Y",
          "quit",
          "-f",
          `imap://${user}@127.0.0.1:${imap.port}/INBOX`,
        ],
        env: { HOME: home, MAILRC: "/dev/null", LC_ALL: "C.UTF-8" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert(out.success, new TextDecoder().decode(out.stderr) + text);
      assert(/zed@remote\.example.*imap snail/.test(text), text);
      assert(text.includes("Subject: imap snail"), text);
      assert(text.includes("café €"), text);
    } finally {
      await imap.close();
      await world.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});
