/**
 * The IMAP socket server with real clients, on the in-memory backend: Python's imaplib
 * (Debian's python3) over STARTTLS with LOGINDISABLED before it, and imapflow (the npm IMAP
 * client) for SELECT, FETCH of envelopes, structures and exact bytes, SEARCH, STORE, APPEND,
 * MOVE and IDLE with a message that arrives meanwhile. Also the listener's limits: literals
 * over the limit, connections per IP, and a client that writes one byte at a time.
 */
import { ImapFlow } from "imapflow";
import { connect } from "node:net";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { py } from "./fixtures/imap_pop3.ts";
import { loadTlsContext } from "../bridge/net/tls.ts";
import { startImapServer } from "../bridge/imap/server.ts";
import { aliceBackend } from "../bridge/imap/testing.ts";
import type { MemoryBackend } from "../bridge/imap/memory_backend.ts";
import { generateSelfSigned } from "../hosts/process/tls_files.ts";

const MSG = [
  "From: Zed <zed@remote.example>",
  "To: alice@example.test",
  "Subject: =?utf-8?q?caf=C3=A9?= report",
  "Date: Mon, 15 Jan 2024 10:30:00 +0000",
  "Message-ID: <r1@remote.example>",
  'Content-Type: multipart/mixed; boundary="zz"',
  "",
  "--zz",
  "Content-Type: text/plain; charset=utf-8",
  "Content-Transfer-Encoding: 8bit",
  "",
  "caf\u00e9 \u20ac",
  "--zz",
  "Content-Type: application/octet-stream; name*=utf-8''%E2%82%AC.bin",
  "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.bin",
  "Content-Transfer-Encoding: base64",
  "",
  "AAECAw==",
  "--zz--",
  "",
].join("\r\n");
const MSG_BYTES = new TextEncoder().encode(MSG);

async function world(
  opts: { allowPlaintextAuth?: boolean; maxPerIp?: number; maxConnections?: number } = {},
) {
  const backend: MemoryBackend = aliceBackend();
  backend.deliver("alice@example.test", "INBOX", MSG_BYTES);
  backend.deliver("alice@example.test", "INBOX", "Subject: second\r\n\r\nplain\r\n", ["\\Seen"]);
  const dir = await Deno.makeTempDir({ prefix: "postern-imap-" });
  const certFile = `${dir}/cert.pem`;
  await generateSelfSigned(certFile, `${dir}/key.pem`, ["localhost", "127.0.0.1"]);
  const tls = loadTlsContext({ certFile, keyFile: `${dir}/key.pem` });
  const listener = await startImapServer({
    host: "127.0.0.1",
    port: 0,
    hostname: "imap.example.test",
    backend,
    tls,
    allowPlaintextAuth: opts.allowPlaintextAuth ?? false,
    maxMessageBytes: 100_000,
    maxLiteralBytes: 8192,
    maxConnections: opts.maxConnections ?? 50,
    maxPerIp: opts.maxPerIp ?? 20,
    idleMs: 60_000,
    onError: (e) => console.error("imap server error", e),
  });
  return {
    backend,
    port: listener.port,
    listener,
    certFile,
    async close() {
      await listener.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const IMAPLIB = `
import imaplib, ssl, sys, json
port, cafile = int(sys.argv[1]), sys.argv[2]
out = {}
m = imaplib.IMAP4("127.0.0.1", port)
out["caps_before"] = sorted(m.capabilities)
try:
    m.login("alice@example.test", "sesame")
    out["login_before_tls"] = "accepted"
except imaplib.IMAP4.error as e:
    out["login_before_tls"] = "refused"
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
m.starttls(ssl_context=ctx)
typ, _ = m.login("alice@example.test", "sesame")
out["login"] = typ
typ, data = m.list()
out["list"] = [d.decode() for d in data]
typ, data = m.select("INBOX")
out["exists"] = int(data[0])
typ, data = m.fetch("1", "(BODY.PEEK[] RFC822.SIZE)")
out["body"] = data[0][1].decode("utf-8")
out["size_line"] = data[0][0].decode()
typ, data = m.uid("SEARCH", None, "UNSEEN")
out["unseen"] = data[0].decode()
typ, data = m.search("UTF-8", "SUBJECT", "second")
out["subject_search"] = data[0].decode()
typ, data = m.store("1", "+FLAGS", "(\\\\Flagged)")
out["store"] = data[0].decode()
typ, data = m.append("INBOX", "(\\\\Seen)", imaplib.Time2Internaldate(1700000000), b"Subject: appended\\r\\n\\r\\nhi\\r\\n")
out["append"] = data[0].decode()
typ, data = m.fetch("3", "(FLAGS BODY[HEADER.FIELDS (SUBJECT)])")
out["appended"] = data[0][1].decode()
typ, data = m.copy("1:2", "Archive")
out["copy"] = data[0].decode()
m.store("2", "+FLAGS", "(\\\\Deleted)")
typ, data = m.expunge()
out["expunge"] = [d.decode() for d in data if d]
typ, data = m.fetch("1:*", "(UID)")
out["uids"] = [d.decode() for d in data]
m.close()
m.logout()
print(json.dumps(out))
`;

Deno.test("Python imaplib: STARTTLS, LOGIN, SELECT, FETCH, SEARCH, STORE, APPEND, EXPUNGE", async () => {
  const w = await world();
  try {
    const out = JSON.parse(await py(IMAPLIB, [String(w.port), w.certFile]));
    assert(out.caps_before.includes("LOGINDISABLED"), JSON.stringify(out.caps_before));
    assert(out.caps_before.includes("STARTTLS"));
    assertEquals(out.login_before_tls, "refused");
    assertEquals(out.login, "OK");
    assert(out.list.includes('(\\HasNoChildren \\Sent) "/" Sent'), JSON.stringify(out.list));
    assertEquals(out.exists, 2);
    assertEquals(out.body, MSG);
    assertEquals(out.size_line, `1 (BODY[] {${MSG_BYTES.length}}`);
    assertEquals(out.unseen, "1");
    assertEquals(out.subject_search, "2");
    assertEquals(out.store, "1 (FLAGS (\\Flagged))");
    assert(/\[APPENDUID \d+ 3\]/.test(out.append), out.append);
    assertEquals(out.appended, "Subject: appended\r\n\r\n");
    assert(/\[COPYUID \d+ 1:2 1:2\]/.test(out.copy), out.copy);
    assertEquals(out.expunge, ["2"]);
    assertEquals(out.uids, ["1 (UID 1)", "2 (UID 3)"]);
    const archive = w.backend.accounts.get("alice@example.test")!.mailboxes
      .find((b) => b.name === "Archive")!;
    assertEquals(archive.messages.length, 2);
  } finally {
    await w.close();
  }
});

Deno.test("imapflow: envelopes, structures, exact source, search, flags, move, IDLE", async () => {
  const w = await world({ allowPlaintextAuth: true });
  const client = new ImapFlow({
    host: "127.0.0.1",
    port: w.port,
    secure: false,
    doSTARTTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user: "alice@example.test", pass: "sesame" },
    logger: false,
  });
  try {
    await client.connect();
    const lock = await client.getMailboxLock("INBOX");
    try {
      const messages = [];
      for await (
        const m of client.fetch("1:*", {
          uid: true,
          flags: true,
          envelope: true,
          bodyStructure: true,
          source: true,
          size: true,
        })
      ) messages.push(m);
      assertEquals(messages.length, 2);
      const first = messages[0];
      assertEquals(first.envelope?.subject, "café report");
      assertEquals(first.envelope?.from?.[0].address, "zed@remote.example");
      assertEquals(first.envelope?.messageId, "<r1@remote.example>");
      assertEquals(new TextDecoder().decode(first.source), MSG);
      assertEquals(first.size, MSG_BYTES.length);
      assertEquals(first.bodyStructure?.type, "multipart/mixed");
      const attachment = first.bodyStructure?.childNodes?.[1];
      assertEquals(attachment?.part, "2");
      assertEquals(attachment?.dispositionParameters?.filename, "€.bin");
      assertEquals(first.bodyStructure?.childNodes?.[0].encoding, "8bit");

      const { content } = await client.download("1", "1");
      let text = "";
      for await (const c of content!) text += new TextDecoder().decode(c as Uint8Array);
      assertEquals(text, "café €");

      assertEquals(await client.search({ seen: false }, { uid: true }), [1]);
      assertEquals(await client.search({ subject: "second" }), [2]);
      await client.messageFlagsAdd("1", ["\\Answered", "$Label1"]);
      const flags = await client.fetchOne("1", { flags: true });
      assert(flags && flags.flags?.has("$Label1") && flags.flags.has("\\Answered"));

      const moved = await client.messageMove("2", "Archive");
      assert(moved && moved.uidMap?.get(2) === 1, String(moved && moved.uidMap?.get(2)));

      // IDLE: a message that arrives is announced without polling.
      const exists = new Promise<number>((resolve) =>
        client.once("exists", (e) => resolve(e.count))
      );
      const idle = client.idle();
      await new Promise((r) => setTimeout(r, 100));
      w.backend.deliver("alice@example.test", "INBOX", "Subject: pushed\r\n\r\nhi\r\n");
      assertEquals(await exists, 2);
      await client.noop();
      await idle.catch(() => {});
      const status = await client.status("INBOX", { messages: true, unseen: true });
      assert(status);
      assertEquals([status.messages, status.unseen], [2, 2]);
    } finally {
      lock.release();
    }
    await client.logout();
  } finally {
    client.close();
    await w.close();
  }
});

/** A raw client: write `text`, read until `until` matches, resolve the whole reply. */
function rawSession(port: number) {
  const socket = connect(port, "127.0.0.1");
  let buffer = "";
  let waiter: (() => void) | undefined;
  socket.on("data", (d: Uint8Array) => {
    buffer += new TextDecoder().decode(d);
    waiter?.();
  });
  socket.on("close", () => waiter?.());
  const closed = new Promise<void>((r) => socket.once("close", () => r()));
  return {
    socket,
    closed,
    async until(re: RegExp): Promise<string> {
      while (!re.test(buffer) && !socket.destroyed) {
        await new Promise<void>((r) => (waiter = r));
      }
      const out = buffer;
      buffer = "";
      return out;
    },
    write(text: string | Uint8Array) {
      socket.write(text);
    },
  };
}

Deno.test("socket limits: literal too big, per-IP connections, one byte at a time", async () => {
  const w = await world({ allowPlaintextAuth: true, maxPerIp: 3 });
  try {
    const a = rawSession(w.port);
    await a.until(/^\* OK/);
    a.write("a1 LOGIN {999999}\r\n");
    const r1 = await a.until(/a1 /);
    assert(r1.startsWith("a1 NO [TOOBIG]"), "r1 " + JSON.stringify(r1));
    a.write("a2 LOGIN {99999+}\r\nxxxx");
    const r2 = await a.until(/BYE/);
    assert(r2.includes("a2 BAD [TOOBIG]"), "r2 " + JSON.stringify(r2));
    await a.closed;

    const open = [rawSession(w.port), rawSession(w.port), rawSession(w.port)];
    for (const s of open) await s.until(/^\* OK/);
    const extra = rawSession(w.port);
    const busy = await extra.until(/\r\n/);
    assert(busy.startsWith("* BYE [UNAVAILABLE]"), "busy " + JSON.stringify(busy));
    for (const s of open) s.socket.destroy();
    extra.socket.destroy();
    await Promise.all([...open.map((s) => s.closed), extra.closed]);
    while (w.listener.connections > 0) await new Promise((r) => setTimeout(r, 10));

    // One byte per write, with a literal in the middle: the same replies as at full speed.
    const slow = rawSession(w.port);
    await slow.until(/^\* OK/);
    const script = "s1 LOGIN alice@example.test {6+}\r\nsesame\r\ns2 SELECT INBOX\r\n" +
      "s3 FETCH 2 BODY[]\r\ns4 LOGOUT\r\n";
    for (const ch of new TextEncoder().encode(script)) {
      slow.write(new Uint8Array([ch]));
      await new Promise((r) => setTimeout(r, 0));
    }
    const reply = await slow.until(/s4 OK/);
    assert(reply.includes("s1 OK"), JSON.stringify(reply));
    assert(reply.includes("s2 OK [READ-WRITE]"), JSON.stringify(reply));
    assert(
      reply.includes("BODY[] {26}\r\nSubject: second\r\n\r\nplain\r\n"),
      JSON.stringify(reply),
    );
    await slow.closed;
  } finally {
    await w.close();
  }
});

const IMAPS = `
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False
m = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[1]), ssl_context=ctx)
print("CAPS", "STARTTLS" in m.capabilities, "AUTH=PLAIN" in m.capabilities)
m.login("alice@example.test", "sesame")
typ, data = m.select("INBOX", readonly=True)
print("EXISTS", data[0].decode())
m.logout()
`;

Deno.test("implicit TLS (port 993 style) and 200 concurrent sessions", async () => {
  const w = await world({ maxPerIp: 500, maxConnections: 500, allowPlaintextAuth: true });
  const dir = await Deno.makeTempDir({ prefix: "postern-imaps-" });
  await generateSelfSigned(`${dir}/cert.pem`, `${dir}/key.pem`, ["localhost", "127.0.0.1"]);
  const tls = loadTlsContext({ certFile: `${dir}/cert.pem`, keyFile: `${dir}/key.pem` });
  const imaps = await startImapServer({
    host: "127.0.0.1",
    port: 0,
    hostname: "imap.example.test",
    backend: w.backend,
    tls,
    implicitTls: true,
    allowPlaintextAuth: false,
    maxMessageBytes: 100_000,
    maxConnections: 10,
    maxPerIp: 10,
    idleMs: 60_000,
  });
  try {
    const out = await py(IMAPS, [String(imaps.port), `${dir}/cert.pem`]);
    // TLS is already on: no STARTTLS, and LOGIN is allowed.
    assert(out.includes("CAPS False True"), out);
    assert(out.includes("EXISTS 2"), out);

    const sessions = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const s = rawSession(w.port);
        await s.until(/^\* OK/);
        s.write(`${i}a LOGIN alice@example.test sesame\r\n${i}b SELECT INBOX\r\n`);
        const r = await s.until(new RegExp(`${i}b (OK|NO|BAD)`));
        s.write(`${i}c LOGOUT\r\n`);
        await s.until(new RegExp(`${i}c OK`));
        await s.closed;
        return r;
      }),
    );
    const good = sessions.filter((r) => /\d+b OK \[READ-WRITE\]/.test(r));
    assertEquals(good.length, 200, sessions.find((r) => !good.includes(r)));
  } finally {
    await imaps.close();
    await w.close();
    await Deno.remove(dir, { recursive: true });
  }
});
