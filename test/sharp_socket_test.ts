/**
 * SHARP/1.3 over real sockets on 127.0.0.1, both directions: Postern's client against Postern's
 * listener; raw transcripts against the listener (lock-step violation, a line over 1 MiB, a
 * Python stdlib sender that writes EMAIL_CONTENT and END_DATA together as the reference sender
 * does); Postern's client against a small reference-behaving SHARP peer in Python (stdlib only)
 * that checks lock-step and the stamp with hashlib; and discovery/sender verification against a
 * fake DNS server (SRV order, NXDOMAIN fallback to `sharp.<domain>`, NODATA).
 */
import { createConnection } from "node:net";
import { createResolver } from "../bridge/dns/resolver.ts";
import { sendSharp } from "../bridge/sharp/client.ts";
import { MemoryReplayTable, mintStamp } from "../bridge/sharp/hashcash.ts";
import { startSharpServer } from "../bridge/sharp/server.ts";
import type { RecipientCheck, SharpBackend, SharpMail } from "../bridge/sharp/session.ts";
import { discoverSharp, publishesSharpSrv, verifySender } from "../bridge/sharp/verify_sender.ts";
import type { TcpListener } from "../bridge/net/tcp_server.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { type FakeDns, startFakeDns } from "./fixtures/fake_dns.ts";

const BITS = 8;
const CONTENT = {
  subject: "Over TCP",
  body: "Hello Bob.",
  contentType: "text/plain",
  htmlBody: null,
  attachments: [],
};

interface Listener {
  listener: TcpListener;
  dns: FakeDns;
  delivered: SharpMail[];
  close(): Promise<void>;
}

/** Postern's listener; senders verified by IP through a fake DNS (a.example → 127.0.0.1). */
async function startListener(limits = { maxConnections: 20, maxPerIp: 20 }): Promise<Listener> {
  const dns = await startFakeDns({
    "_sharp._tcp.a.example": { SRV: ["10 5 5000 sharp.a.example"] },
    "sharp.a.example": { A: ["127.0.0.1"] },
    "_sharp._tcp.far.example": { SRV: ["10 5 5000 sharp.far.example"] },
    "sharp.far.example": { A: ["192.0.2.99"] },
  });
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 2000, tries: 1 });
  const delivered: SharpMail[] = [];
  const backend: SharpBackend = {
    verifySender: (domain, ip) => verifySender(resolver, domain, ip),
    checkRecipient: (r): Promise<RecipientCheck> =>
      Promise.resolve(
        r === "bob@b.example"
          ? { ok: true }
          : { ok: false, code: 550, message: "Recipient user not found" },
      ),
    deliver: (mail) => {
      delivered.push(mail);
      return Promise.resolve({ ok: true });
    },
  };
  const listener = await startSharpServer({
    host: "127.0.0.1",
    port: 0,
    backend,
    minBits: BITS,
    replay: new MemoryReplayTable(),
    ...limits,
    idleMs: 10_000,
    sessionMs: 30_000,
  });
  return {
    listener,
    dns,
    delivered,
    async close() {
      await listener.close();
      await dns.close();
    },
  };
}

/** Writes `chunks` (each in one write, waiting for a reply line between them when asked) and
 * returns every line the server sent before closing. */
async function raw(port: number, chunks: (string | Uint8Array)[], waitBetween = true) {
  const socket = createConnection({ host: "127.0.0.1", port });
  const lines: string[] = [];
  let buf = "";
  let wake: (() => void) | undefined;
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.on("error", () => {});
  socket.on("data", (d: Uint8Array) => {
    buf += new TextDecoder().decode(d);
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    wake?.();
  });
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  for (const chunk of chunks) {
    const before = lines.length;
    if (socket.destroyed) break;
    socket.write(chunk);
    if (waitBetween) {
      await Promise.race([
        closed,
        new Promise<void>((resolve) => {
          wake = () => lines.length > before && resolve();
        }),
      ]);
    }
  }
  await closed;
  return lines;
}

Deno.test("socket: Postern's client delivers to Postern's listener, lock-step", async () => {
  const l = await startListener();
  try {
    const result = await sendSharp({
      host: "127.0.0.1",
      port: l.listener.port,
      serverId: "alice#a.example",
      to: "bob#b.example",
      hashcash: await mintStamp("bob#b.example", BITS),
      content: CONTENT,
    });
    assert(result.ok, JSON.stringify(result));
    assertEquals(result.transcript.filter((t) => t.startsWith("S:")), [
      'S: {"type":"OK","protocol":"SHARP/1.3"}',
      'S: {"type":"OK"}',
      'S: {"type":"OK"}',
      'S: {"type":"OK","message":"Email content received"}',
      'S: {"type":"OK","message":"Email processed"}',
    ]);
    assertEquals(l.delivered.length, 1);
    assertEquals(l.delivered[0].from, "alice@a.example");
    assertEquals(l.delivered[0].clientIp, "127.0.0.1");
    // The same client is refused when its domain's SHARP host is another address.
    const far = await sendSharp({
      host: "127.0.0.1",
      port: l.listener.port,
      serverId: "eve#far.example",
      to: "bob#b.example",
      hashcash: await mintStamp("bob#b.example", BITS),
      content: CONTENT,
    });
    assertEquals(far.ok ? "ok" : [far.step, far.code, far.message], [
      "HELLO",
      400,
      "Sender verification failed: 127.0.0.1 is not a SHARP host of far.example",
    ]);
    const nouser = await sendSharp({
      host: "127.0.0.1",
      port: l.listener.port,
      serverId: "alice#a.example",
      to: "carol#b.example",
      hashcash: await mintStamp("carol#b.example", BITS),
      content: CONTENT,
    });
    assertEquals(nouser.ok ? "ok" : [nouser.step, nouser.code], ["MAIL_TO", 550]);
    assertEquals(l.delivered.length, 1);
  } finally {
    await l.close();
  }
});

Deno.test("socket: HELLO and MAIL_TO in one write → Expected HELLO, then close", async () => {
  const l = await startListener();
  try {
    const stamp = await mintStamp("bob#b.example", BITS);
    const lines = await raw(l.listener.port, [
      '{"type":"HELLO","server_id":"alice#a.example","protocol":"SHARP/1.3"}\n' +
      `{"type":"MAIL_TO","address":"bob#b.example","hashcash":"${stamp}"}\n`,
    ]);
    assertEquals(lines, ['{"type":"ERROR","message":"Expected HELLO","code":400}']);
  } finally {
    await l.close();
  }
});

Deno.test("socket: bad JSON → 400; a line over 1 MiB → 413 before its end; blank lines and CR ok", async () => {
  const l = await startListener();
  try {
    assertEquals(await raw(l.listener.port, ["\r\n\n{oops\r\n"]), [
      '{"type":"ERROR","message":"Invalid message format or processing error","code":400}',
    ]);
    const big = new Uint8Array(1024 * 1024 + 100).fill(0x20);
    big[0] = 0x7b;
    assertEquals(await raw(l.listener.port, [big]), [
      '{"type":"ERROR","message":"Message too large","code":413}',
    ]);
  } finally {
    await l.close();
  }
});

Deno.test("socket: over the per-IP connection limit → ERROR 451 and close", async () => {
  const l = await startListener({ maxConnections: 20, maxPerIp: 1 });
  const first = createConnection({ host: "127.0.0.1", port: l.listener.port });
  first.on("error", () => {});
  try {
    await new Promise<void>((resolve) => first.once("connect", () => resolve()));
    // The first connection is registered once the server has accepted it.
    while (l.listener.connections < 1) await new Promise((r) => setTimeout(r, 10));
    assertEquals(await raw(l.listener.port, []), [
      '{"type":"ERROR","message":"Too many connections, try again later","code":451}',
    ]);
  } finally {
    first.destroy();
    await l.close();
  }
});

/** A sender as the reference writes it: lock-step until EMAIL_CONTENT, then END_DATA with it. */
const PY_SENDER = `
import socket, sys, json
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
f = s.makefile("rb")
def send(*objs):
    s.sendall(b"".join((json.dumps(o) + "\\r\\n").encode() for o in objs))
out = []
send({"type": "HELLO", "server_id": "alice#a.example", "protocol": "SHARP/1.3"}); out.append(f.readline())
send({"type": "MAIL_TO", "address": "bob#b.example", "hashcash": sys.argv[2]}); out.append(f.readline())
send({"type": "DATA"}); out.append(f.readline())
send({"type": "EMAIL_CONTENT", "subject": "Py", "body": "from python", "html_body": "<p>hi</p>",
      "attachments": ["k1"], "unknown": True}, {"type": "END_DATA"})
out.append(f.readline()); out.append(f.readline()); out.append(f.read())
print(json.dumps([o.decode() for o in out]))
`;

Deno.test("socket: a Python stdlib sender in the reference's rhythm (EMAIL_CONTENT + END_DATA together)", async () => {
  const l = await startListener();
  try {
    const stamp = await mintStamp("bob#b.example", BITS);
    const out = await new Deno.Command("python3", {
      args: ["-c", PY_SENDER, String(l.listener.port), stamp],
      stdout: "piped",
    }).output();
    assert(out.success);
    const replies = JSON.parse(new TextDecoder().decode(out.stdout));
    assertEquals(replies, [
      '{"type":"OK","protocol":"SHARP/1.3"}\n',
      '{"type":"OK"}\n',
      '{"type":"OK"}\n',
      '{"type":"OK","message":"Email content received"}\n',
      '{"type":"OK","message":"Email processed"}\n',
      "",
    ]);
    assertEquals(l.delivered[0].content, {
      subject: "Py",
      body: "from python",
      contentType: "text/plain",
      htmlBody: "<p>hi</p>",
      attachments: ["k1"],
    });
  } finally {
    await l.close();
  }
});

/**
 * A reference-behaving SHARP/1.3 receiver in Python: lock-step checks, hashcash by hashlib. One
 * connection per mode given on the command line; prints the port, then each connection's log.
 */
const PY_PEER = `
import socket, sys, json, hashlib, time, select
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(5)
print(srv.getsockname()[1], flush=True)
class Done(Exception): pass
def serve(conn, mode):
    buf = b""; log = []
    def send(obj): conn.sendall((json.dumps(obj, separators=(",", ":")) + "\\n").encode())
    def err(msg, code=400): send({"type": "ERROR", "message": msg, "code": code}); raise Done(log)
    def line():
        nonlocal buf
        while b"\\n" not in buf:
            d = conn.recv(65536)
            if not d: raise Done(log)
            buf += d
        l, buf = buf.split(b"\\n", 1)
        m = json.loads(l.decode().rstrip("\\r")); log.append(m); return m
    def early():
        # HELLO and MAIL_TO are answered after asynchronous checks at the reference server.
        time.sleep(0.05)
        return bool(buf.strip()) or bool(select.select([conn], [], [], 0)[0])
    m = line()
    if m.get("type") != "HELLO": err("Expected HELLO")
    if m.get("protocol") != "SHARP/1.3": err("Unsupported protocol version: %s" % m.get("protocol"))
    if early(): err("Expected HELLO")
    send({"type": "OK", "protocol": "SHARP/1.3"})
    m = line()
    if m.get("type") != "MAIL_TO": err("Expected MAIL_TO")
    if mode == "nouser": err("Recipient user not found", 550)
    if mode == "elsewhere": err("This server does not handle mail for b.example", 451)
    stamp = m.get("hashcash") or ""; p = stamp.split(":")
    if len(p) != 7 or p[0] != "1" or p[3] != m.get("address"): err("Insufficient proof of work. Score: 3", 429)
    if int(p[1]) < 8 or int(hashlib.sha1(stamp.encode()).hexdigest(), 16) >> (160 - int(p[1])): err("Insufficient proof of work. Score: 3", 429)
    if early(): err("Expected MAIL_TO")
    send({"type": "OK"})
    if line().get("type") != "DATA": err("Expected DATA")
    send({"type": "OK"})
    while True:
        m = line()
        if m.get("type") == "EMAIL_CONTENT": send({"type": "OK", "message": "Email content received"})
        elif m.get("type") == "END_DATA": send({"type": "OK", "message": "Email processed"}); raise Done(log)
        else: err("Expected EMAIL_CONTENT or END_DATA")
for mode in sys.argv[1:]:
    conn, _ = srv.accept(); conn.settimeout(10)
    try: serve(conn, mode)
    except Done as d: print(json.dumps(d.args[0]), flush=True)
    conn.close()
`;

/** Runs Postern's client once per `[mode, bits]` against one Python peer process. */
async function againstPeer(runs: [string, number][]) {
  const child = new Deno.Command("python3", {
    args: ["-c", PY_PEER, ...runs.map(([mode]) => mode)],
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const nextLine = async () => {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the Python peer ended early");
      text += value;
    }
    const i = text.indexOf("\n");
    const line = text.slice(0, i);
    text = text.slice(i + 1);
    return line;
  };
  const port = Number(await nextLine());
  const out = [];
  for (const [, bits] of runs) {
    const result = await sendSharp({
      host: "127.0.0.1",
      port,
      serverId: "alice#a.example",
      to: "bob#b.example",
      hashcash: await mintStamp("bob#b.example", bits),
      content: CONTENT,
    });
    out.push({ result, peerLog: JSON.parse(await nextLine()) as Record<string, unknown>[] });
  }
  while (!(await reader.read()).done) { /* the peer exits after its last connection */ }
  assert((await child.status).success, "the Python peer failed");
  return out;
}

Deno.test("socket: Postern's client against a reference-behaving Python peer", async () => {
  const [ok, nouser, elsewhere, weak] = await againstPeer([
    ["ok", BITS],
    ["nouser", BITS],
    ["elsewhere", BITS],
    ["ok", 4],
  ]);
  assert(ok.result.ok, JSON.stringify(ok.result));
  assertEquals(ok.peerLog.map((m) => m.type), [
    "HELLO",
    "MAIL_TO",
    "DATA",
    "EMAIL_CONTENT",
    "END_DATA",
  ]);
  assertEquals(ok.peerLog[0], {
    type: "HELLO",
    server_id: "alice#a.example",
    protocol: "SHARP/1.3",
  });
  assertEquals(ok.peerLog[3], {
    type: "EMAIL_CONTENT",
    subject: "Over TCP",
    body: "Hello Bob.",
    content_type: "text/plain",
    html_body: null,
    attachments: [],
  });
  assertEquals(nouser.result.ok ? "ok" : [nouser.result.step, nouser.result.code], [
    "MAIL_TO",
    550,
  ]);
  assertEquals(elsewhere.result.ok ? "ok" : elsewhere.result.code, 451);
  assertEquals(weak.result.ok ? "ok" : weak.result.code, 429);
});

Deno.test("discovery: SRV order, no SRV falls back to sharp.<domain>:5000, a dot target means none", async () => {
  const dns = await startFakeDns({
    "_sharp._tcp.srv.example": {
      SRV: [
        "20 0 5001 backup.srv.example",
        "10 1 5002 low.srv.example",
        "10 9 5003 high.srv.example",
      ],
    },
    "high.srv.example": { A: ["192.0.2.3"] },
    "low.srv.example": { AAAA: ["2001:db8::5"] },
    // RFC 2782: a "." target says the service is decidedly not available.
    "_sharp._tcp.empty.example": { SRV: ["0 0 0 ."] },
    "sharp.plain.example": { A: ["192.0.2.7"] },
  });
  try {
    const resolver = createResolver({ servers: [dns.server], timeoutMs: 2000, tries: 1 });
    assertEquals(await discoverSharp(resolver, "srv.example"), {
      kind: "found",
      via: "srv",
      hosts: [
        { name: "high.srv.example", port: 5003 },
        { name: "low.srv.example", port: 5002 },
        { name: "backup.srv.example", port: 5001 },
      ],
    });
    assertEquals(await discoverSharp(resolver, "plain.example"), {
      kind: "found",
      via: "fallback",
      hosts: [{ name: "sharp.plain.example", port: 5000 }],
    });
    assertEquals(await discoverSharp(resolver, "empty.example"), { kind: "none" });
    assertEquals(await verifySender(resolver, "srv.example", "2001:db8::5"), { ok: true });
    assertEquals(await verifySender(resolver, "srv.example", "::ffff:192.0.2.3"), { ok: true });
    assertEquals(await verifySender(resolver, "plain.example", "192.0.2.7"), { ok: true });
    assertEquals((await verifySender(resolver, "plain.example", "192.0.2.8")).ok, false);
    assertEquals((await verifySender(resolver, "empty.example", "192.0.2.7")).ok, false);
    assertEquals(await publishesSharpSrv(resolver, "srv.example"), "yes");
    assertEquals(await publishesSharpSrv(resolver, "plain.example"), "no");
    // No DNS answer at all is neither yes nor no: the worker defers instead of guessing SMTP.
    const dead = createResolver({ servers: ["127.0.0.1:9"], timeoutMs: 300, tries: 1 });
    assertEquals(await publishesSharpSrv(dead, "srv.example"), "error");
  } finally {
    await dns.close();
  }
});
