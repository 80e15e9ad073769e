/**
 * POP3 end to end over real sockets, wired as `postern serve` wires it: a message arrives by
 * SMTP (Python smtplib → the bridge's MX → gateway), and Python's poplib (Debian's python3)
 * reads it back over STLS and implicit TLS with the account's password: RETR is byte-exact
 * against the stored bytes, UIDL is stable, DELE applies only at QUIT, USER is refused before TLS.
 */
import { blobBytes } from "../src/services/blob_chunks.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE } from "./fixtures/app.ts";
import { bridgeKey, startBridgeWorld } from "./fixtures/bridge.ts";
import { py, startGatewayPop3, worldTls } from "./fixtures/imap_pop3.ts";
import { schema } from "../src/store/store.ts";
import { eq } from "drizzle-orm";

const SEND = `
import smtplib, sys
msg = (b"From: Zed <zed@remote.example>\\r\\nTo: alice@postern.test\\r\\nSubject: pop me\\r\\n"
       b"Message-ID: <pop-%s@remote.example>\\r\\nContent-Type: text/plain; charset=utf-8\\r\\n"
       b"Content-Transfer-Encoding: 8bit\\r\\n\\r\\n.starts with a dot\\r\\n..two dots\\r\\n"
       b"caf\\xc3\\xa9 \\xe2\\x82\\xac\\r\\n.\\r\\nend\\r\\n") % sys.argv[2].encode()
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="mx.remote.example") as s:
    s.sendmail("zed@remote.example", ["alice@postern.test"], msg)
print("SENT")
`;

const READ = `
import poplib, ssl, sys, base64
port, pops_port, user, password, cafile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
p = poplib.POP3("127.0.0.1", port, timeout=20)
print("GREETING", p.getwelcome()[:3].decode())
try:
    p.user(user)
    print("USER before TLS accepted")
except poplib.error_proto as e:
    print("USER before TLS refused", e.args[0].decode()[:11])
caps = p.capa()
print("CAPS", "STLS" in caps, "USER" in caps)
p.stls(context=ctx)
caps = p.capa()
print("CAPS TLS", "STLS" in caps, "USER" in caps, "UIDL" in caps, "TOP" in caps)
try:
    p.user(user); p.pass_("wrong-password")
except poplib.error_proto as e:
    print("BAD PASS", e.args[0].decode())
p.user(user)
p.pass_(password)
count, size = p.stat()
print("STAT", count, size)
print("LIST", [l.decode() for l in p.list()[1]])
uidl = [l.decode() for l in p.uidl()[1]]
print("UIDL", uidl)
resp, lines, octets = p.retr(1)
sys.stdout.buffer.write(b"RETR " + base64.b64encode(b"\\r\\n".join(lines) + b"\\r\\n") + b"\\n")
print("OCTETS", octets)
resp, lines, octets = p.top(2, 1)
print("TOP", [l.decode("utf-8") for l in lines][-2:])
p.dele(2)
# Dropping the connection without QUIT must not delete anything.
p.sock.close()
p = poplib.POP3("127.0.0.1", port, timeout=20)
p.stls(context=ctx)
p.user(user); p.pass_(password)
print("AFTER DROP", p.stat()[0], [l.decode() for l in p.uidl()[1]] == uidl)
p.retr(1)
p.dele(2)
print("QUIT", p.quit().decode())
s = poplib.POP3_SSL("127.0.0.1", pops_port, context=ctx, timeout=20)
s.user(user); s.pass_(password)
print("AFTER QUIT", s.stat()[0], [l.decode().split()[1] for l in s.uidl()[1]] == [uidl[0].split()[1]])
s.quit()
print("DONE")
`;

Deno.test("POP3: poplib reads mail that came by SMTP, byte-exact, over STLS and implicit TLS", async () => {
  const world = await startBridgeWorld();
  const tls = worldTls(world);
  const key = await bridgeKey(world.gw, "pop3 bridge");
  const pop3 = await startGatewayPop3(world.gw, { tls, key });
  const pop3s = await startGatewayPop3(world.gw, { tls, key, implicitTls: true });
  try {
    for (const n of ["1", "2"]) {
      assert((await py(SEND, [String(world.mxPort), n])).includes("SENT"));
    }
    const db = world.gw.deps.store.db;
    const rows = await db.select().from(schema.messages).orderBy(schema.messages.uid);
    assertEquals(rows.length, 2);
    const [blob] = await db.select().from(schema.blobs)
      .where(eq(schema.blobs.sha256, rows[0].blobSha256));
    const stored = await blobBytes(db, blob); // opened: sealed at rest;
    const out = await py(READ, [
      String(pop3.port),
      String(pop3s.port),
      ALICE.address,
      ALICE.password,
      world.certFile,
    ]);
    const line = (prefix: string) =>
      out.split("\n").find((l) => l.startsWith(prefix + " "))?.slice(prefix.length + 1);
    assertEquals(line("GREETING"), "+OK");
    assertEquals(line("USER before TLS refused"), "-ERR [AUTH]");
    assertEquals(line("CAPS"), "True False");
    assertEquals(line("CAPS TLS"), "False True True True");
    assertEquals(line("BAD PASS"), "-ERR [AUTH] invalid username or password");
    assertEquals(line("STAT"), `2 ${rows[0].size + rows[1].size}`);
    assertEquals(line("LIST"), `['1 ${rows[0].size}', '2 ${rows[1].size}']`);
    // RETR gives back exactly the stored bytes, 8-bit text and leading dots included.
    const retr = Uint8Array.from(atob(line("RETR")!), (c) => c.charCodeAt(0));
    assertEquals([...retr], [...stored]);
    assert(new TextDecoder().decode(retr).includes("\r\n.starts with a dot\r\n..two dots\r\n"));
    assert(new TextDecoder().decode(retr).includes("café €"));
    assertEquals(line("TOP")?.endsWith("'', '.starts with a dot']"), true, line("TOP"));
    assertEquals(line("AFTER DROP"), "2 True");
    assert(line("QUIT")?.startsWith("+OK"), out);
    assertEquals(line("AFTER QUIT"), "1 True");
    assert(out.includes("DONE"), out);
    // The UPDATE state removed exactly message 2; message 1, RETR'd before QUIT, is \Seen.
    const left = await db.select().from(schema.messages);
    assertEquals(left.map((r) => [r.uid, r.seen]), [[rows[0].uid, true]]);
    // Each login opened a session marked "bridge:pop3"; QUIT and drops end them.
    const sessions = await db.select().from(schema.sessions)
      .where(eq(schema.sessions.userAgent, "bridge:pop3"));
    assertEquals(sessions.length, 3);
    assertEquals(sessions.filter((s) => s.revokedAt === null).length, 0);
  } finally {
    await pop3.close();
    await pop3s.close();
    await world.close();
  }
});
