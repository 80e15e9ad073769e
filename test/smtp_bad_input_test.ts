/**
 * Hostile and broken SMTP clients against the real listener (raw sockets): overlong lines, NUL
 * bytes, a connection dropped in the middle of DATA, smuggling, too many connections from one IP,
 * a client that never reads. The server answers each correctly, stays up, and stores nothing
 * half-done.
 */
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import { startBridgeWorld } from "./fixtures/bridge.ts";
import { schema } from "../src/store/store.ts";

const N_RCPT = Number(Deno.env.get("N_RCPT") ?? 10_000);
const enc = new TextEncoder();
const dec = new TextDecoder();

class Client {
  private buffer = "";
  private constructor(readonly conn: Deno.Conn) {}
  static async open(port: number): Promise<Client> {
    return new Client(await Deno.connect({ hostname: "127.0.0.1", port }));
  }
  async send(text: string | Uint8Array): Promise<void> {
    const bytes = typeof text === "string" ? enc.encode(text) : text;
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }
  /** Reads one complete reply (through the line with a space after the code). */
  async reply(): Promise<string> {
    let start = 0;
    for (;;) {
      const end = this.buffer.indexOf("\r\n", start);
      if (end >= 0) {
        if (/^\d{3} /.test(this.buffer.slice(start, start + 4))) {
          const out = this.buffer.slice(0, end);
          this.buffer = this.buffer.slice(end + 2);
          return out;
        }
        start = end + 2;
        continue;
      }
      const chunk = new Uint8Array(65536);
      const n = await this.conn.read(chunk);
      if (n === null) return this.buffer ? this.buffer : "<closed>";
      this.buffer += dec.decode(chunk.subarray(0, n));
    }
  }
  close() {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

async function session(port: number): Promise<Client> {
  const c = await Client.open(port);
  assertMatch(await c.reply(), /^220 /);
  await c.send("EHLO client.example\r\n");
  assertMatch(await c.reply(), /^250 /m);
  return c;
}

Deno.test("SMTP bad input: long lines, NULs, unknown and out-of-order commands", async () => {
  const world = await startBridgeWorld();
  try {
    const c = await session(world.mxPort);
    await c.send("X".repeat(10 * 1024 * 1024) + "\r\n");
    assertMatch(await c.reply(), /^500 5\.5\.2/);
    await c.send("NOOP\r\n");
    assertMatch(await c.reply(), /^250/);
    await c.send("MAIL FROM:<a@b.example>\0\r\n");
    assertMatch(await c.reply(), /^500/);
    await c.send("RCPT TO:<alice@postern.test>\r\n");
    assertMatch(await c.reply(), /^503 5\.5\.1/);
    await c.send("DATA\r\n");
    assertMatch(await c.reply(), /^503/);
    await c.send("FROB\r\n");
    assertMatch(await c.reply(), /^500 5\.5\.1/);
    await c.send("MAIL FROM:<\xff\xfe@bad>\r\n");
    assertMatch(await c.reply(), /^5\d\d/);
    await c.send("QUIT\r\n");
    assertMatch(await c.reply(), /^221/);
    c.close();
    assertEquals((await world.gw.deps.store.db.select().from(schema.messages)).length, 0);
  } finally {
    await world.close();
  }
});

Deno.test("SMTP QUIT: the 221 arrives, then the server closes; a client that resets costs nothing", async () => {
  const world = await startBridgeWorld();
  try {
    // The reply and the FIN: reading on after 221 meets the end of the stream.
    const c = await session(world.mxPort);
    await c.send("QUIT\r\n");
    assertMatch(await c.reply(), /^221 /);
    assertEquals(await c.reply(), "<closed>");
    c.close();
    // QUIT and an immediate close, as Postfix's smtp-source does, many times over: the server
    // goes on serving.
    for (let i = 0; i < 20; i++) {
      const quick = await Client.open(world.mxPort);
      await quick.send("EHLO quick.example\r\nQUIT\r\n");
      quick.close();
    }
    const after = await session(world.mxPort);
    await after.send("NOOP\r\n");
    assertMatch(await after.reply(), /^250/);
    after.close();
  } finally {
    await world.close();
  }
});

Deno.test("SMTP: a connection dropped in the middle of DATA stores nothing; smuggling is refused", async () => {
  const world = await startBridgeWorld();
  try {
    const c = await session(world.mxPort);
    await c.send("MAIL FROM:<z@remote.example>\r\nRCPT TO:<alice@postern.test>\r\nDATA\r\n");
    assertMatch(await c.reply(), /^250/);
    assertMatch(await c.reply(), /^250/);
    assertMatch(await c.reply(), /^354/);
    await c.send("Subject: half\r\n\r\nthis message never ends");
    c.close();
    await new Promise((r) => setTimeout(r, 300));
    assertEquals((await world.gw.deps.store.db.select().from(schema.messages)).length, 0);

    const s = await session(world.mxPort);
    await s.send("MAIL FROM:<z@remote.example>\r\nRCPT TO:<alice@postern.test>\r\nDATA\r\n");
    await s.reply();
    await s.reply();
    await s.reply();
    // A bare-LF "end of data" followed by a smuggled second transaction.
    await s.send(
      "Subject: first\r\n\r\nbody\n.\nMAIL FROM:<ceo@victim.example>\r\nRCPT TO:<alice@postern.test>\r\nDATA\r\nSubject: smuggled\r\n\r\n.\r\n",
    );
    assertMatch(await s.reply(), /^550 5\.5\.2/);
    s.close();
    assertEquals((await world.gw.deps.store.db.select().from(schema.messages)).length, 0);
  } finally {
    await world.close();
  }
});

Deno.test("SMTP: 10,000 recipients hit the limit; too many connections from one IP get 421", async () => {
  const world = await startBridgeWorld();
  try {
    const c = await session(world.mxPort);
    let batch = "MAIL FROM:<z@remote.example>\r\n";
    for (let i = 0; i < N_RCPT; i++) batch += `RCPT TO:<alice+${i}@postern.test>\r\n`;
    // Read while writing: a pipelining client must (RFC 2920 section 3.1), or both sides block.
    const replies: string[] = [];
    const reading = (async () => {
      for (let i = 0; i < N_RCPT + 1; i++) replies.push(await c.reply());
    })();
    await c.send(batch);
    await reading;
    const counts: Record<string, number> = {};
    for (const r of replies) counts[r.slice(0, 3)] = (counts[r.slice(0, 3)] ?? 0) + 1;
    assertEquals(
      replies.filter((r) => r.startsWith("250")).length,
      101,
      `MAIL + 100 recipients: ${JSON.stringify(counts)}`,
    );
    assert(
      replies.slice(101).every((r) => r.startsWith("452")),
      "the rest: 452 too many recipients",
    );
    await c.send("DATA\r\n");
    assertMatch(await c.reply(), /^354/);
    await c.send("Subject: many\r\n\r\nhi\r\n.\r\n");
    assertMatch(await c.reply(), /^250/);
    c.close();
    assertEquals(
      (await world.gw.deps.store.db.select().from(schema.messages)).length,
      1,
      "stored once",
    );

    // The fixture allows 50 connections per IP.
    const open: Client[] = [];
    for (let i = 0; i < 50; i++) {
      const x = await Client.open(world.mxPort);
      assertMatch(await x.reply(), /^220/);
      open.push(x);
    }
    const extra = await Client.open(world.mxPort);
    assertMatch(await extra.reply(), /^421 4\.7\.0/);
    extra.close();
    for (const x of open) x.close();
  } finally {
    await world.close();
  }
});

Deno.test("SMTP: a client that never reads does not stall other sessions", async () => {
  const world = await startBridgeWorld();
  try {
    const mute = await Client.open(world.mxPort);
    // Pipeline thousands of commands whose replies it never reads.
    await mute.send("NOOP\r\n".repeat(20_000));
    const c = await session(world.mxPort);
    await c.send("MAIL FROM:<z@remote.example>\r\nRCPT TO:<alice@postern.test>\r\nDATA\r\n");
    await c.reply();
    await c.reply();
    assertMatch(await c.reply(), /^354/);
    await c.send("Subject: still served\r\n\r\nhi\r\n.\r\n");
    assertMatch(await c.reply(), /^250/);
    c.close();
    mute.close();
  } finally {
    await world.close();
  }
});

Deno.test("SMTP: a client sending one byte at a time is served, and others are not held up", async () => {
  const world = await startBridgeWorld();
  try {
    const slow = await Client.open(world.mxPort);
    assertMatch(await slow.reply(), /^220/);
    const typing = (async () => {
      for (const byte of enc.encode("EHLO slow.example\r\n")) {
        await slow.send(new Uint8Array([byte]));
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    // While the slow client types, a normal session completes a delivery.
    const c = await session(world.mxPort);
    await c.send("MAIL FROM:<z@remote.example>\r\nRCPT TO:<alice@postern.test>\r\nDATA\r\n");
    await c.reply();
    await c.reply();
    assertMatch(await c.reply(), /^354/);
    await c.send("Subject: meanwhile\r\n\r\nhi\r\n.\r\n");
    assertMatch(await c.reply(), /^250/);
    c.close();
    await typing;
    assertMatch(await slow.reply(), /^250/);
    slow.close();
  } finally {
    await world.close();
  }
});
