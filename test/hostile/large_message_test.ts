/**
 * Hostile inputs for issue 15, item 7 (large messages held in memory), through the real
 * interfaces: SMTP over a socket into the bridge and gateway, HTTP through the app. Memory itself
 * is measured by bench/run.ts section (l), never asserted here; these tests hold the behaviour
 * the bounds must keep: byte-exact storage of large mail, 452 4.3.1 when the content budget is
 * spent, waiting (not failing) while it is in use, and large HTTP bodies counted the same way.
 */
import { eq } from "drizzle-orm";
import { ByteBudget } from "../../bridge/net/byte_budget.ts";
import { schema } from "../../src/store/store.ts";
import { parsedOfRow } from "../../src/crypt/sealed_rows.ts";
import { ALICE, createTestGateway } from "../fixtures/app.ts";
import { assert, assertEquals } from "../fixtures/assert.ts";
import { startBridgeWorld } from "../fixtures/bridge.ts";
import { startGatewayImap } from "../fixtures/imap_pop3.ts";
import { multipartWithAttachment } from "../fixtures/large_mail.ts";

const encoder = new TextEncoder();
const MiB = 1024 * 1024;

/** A minimal SMTP client: each step sends a line and returns the reply's last line. */
async function smtpClient(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let buffered = "";
  const decoder = new TextDecoder();
  const reply = async (): Promise<string> => {
    for (;;) {
      const m = buffered.match(/^(?:\d{3}-[^\r\n]*\r\n)*(\d{3} [^\r\n]*)\r\n/);
      if (m) {
        buffered = buffered.slice(m[0].length);
        return m[1];
      }
      const chunk = new Uint8Array(4096);
      const n = await conn.read(chunk);
      if (n === null) throw new Error(`closed; pending ${buffered}`);
      buffered += decoder.decode(chunk.subarray(0, n));
    }
  };
  const write = async (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
  };
  await reply(); // greeting
  return {
    async cmd(line: string) {
      await write(encoder.encode(line + "\r\n"));
      return await reply();
    },
    /** DATA with `raw` (no line may start with "."), and the reply after the end. */
    async data(raw: Uint8Array) {
      const go = await this.cmd("DATA");
      if (!go.startsWith("354")) return go;
      await write(raw);
      // RFC 5321 section 4.1.1.4: the CRLF ending the content is part of the terminator.
      const crlf = raw[raw.length - 2] === 13 && raw[raw.length - 1] === 10;
      await write(encoder.encode(crlf ? ".\r\n" : "\r\n.\r\n"));
      return await reply();
    },
    close: () => conn.close(),
  };
}

async function transaction(port: number, raw: Uint8Array): Promise<string> {
  const c = await smtpClient(port);
  try {
    await c.cmd("EHLO mx.remote.example");
    await c.cmd("MAIL FROM:<zed@remote.example>");
    await c.cmd(`RCPT TO:<${ALICE.address}>`);
    return await c.data(raw);
  } finally {
    c.close();
  }
}

Deno.test("issue15#7: a 3 MB message with a base64 attachment is stored byte for byte over SMTP", async () => {
  const world = await startBridgeWorld({
    contentBudget: new ByteBudget({ total: 8 * MiB, perIp: 8 * MiB }),
  });
  try {
    const { raw } = multipartWithAttachment(2 * MiB + 12345);
    assert(raw.byteLength > 2 * MiB);
    assertEquals(String(await transaction(world.mxPort, raw)), "250 2.0.0 OK: stored");
    const db = world.gw.deps.store.db;
    const [message] = await db.select().from(schema.messages);
    // Read back through the API: the stored blob is chunked (no row over 1 MiB) and joined.
    const res = await world.gw.call("GET", `/v1/messages/${message.id}/raw`, {
      token: await world.gw.login(ALICE),
    });
    assertEquals(res.status, 200);
    const stored = new Uint8Array(await res.arrayBuffer());
    // The stored message is our trace field followed by exactly the octets sent.
    const tail = stored.subarray(stored.byteLength - raw.byteLength);
    assert(tail.every((b, i) => b === raw[i]), "the octets sent, unchanged");
    assert(new TextDecoder().decode(stored.subarray(0, 9)) === "Received:");
    const rows = await db.select().from(schema.blobChunks).where(
      eq(schema.blobChunks.sha256, message.blobSha256),
    );
    assertEquals(rows.length, Math.ceil(stored.byteLength / MiB) - 1, "1 MiB rows");
    assert(rows.every((r) => new Uint8Array(r.data).byteLength <= MiB));
    // The parsed form is sealed at rest (issue 21 item 6): read it the way the server does.
    const parsed = await parsedOfRow<{ attachments?: { size: number }[] }>(
      db,
      message.accountId,
      message.parsed,
    );
    assertEquals(parsed.attachments?.[0]?.size, 2 * MiB + 12345);
  } finally {
    await world.close();
  }
});

Deno.test("issue15#7: DATA while the content budget is spent gets 452 4.3.1, accepted once it is free", async () => {
  const budget = new ByteBudget({ total: 2 * MiB, perIp: 2 * MiB });
  const world = await startBridgeWorld({ contentBudget: budget });
  try {
    const others = [budget.open("198.51.100.1")!, budget.open("198.51.100.2")!];
    const { raw } = multipartWithAttachment(1000);
    assertEquals(
      await transaction(world.mxPort, raw),
      "452 4.3.1 insufficient system storage, try again later",
    );
    assertEquals((await world.gw.deps.store.db.select().from(schema.messages)).length, 0);
    for (const h of others) h.release();
    assertEquals(await transaction(world.mxPort, raw), "250 2.0.0 OK: stored");
    assertEquals(budget.used, 0, "every share is given back");
  } finally {
    await world.close();
  }
});

Deno.test("issue15#7: messages larger together than the budget wait their turn, none is lost", async () => {
  // Room for one large message (its whole 4 MiB limit) at a time: the others wait, unread.
  const budget = new ByteBudget({ total: 7 * MiB, perIp: 7 * MiB });
  const world = await startBridgeWorld({ contentBudget: budget, maxMessageBytes: 4 * MiB });
  try {
    const messages = [1, 2, 3].map((n) => multipartWithAttachment(1536 * 1024, `big-${n}`).raw);
    const replies = await Promise.all(messages.map((raw) => transaction(world.mxPort, raw)));
    assertEquals(replies.join("; "), Array(3).fill("250 2.0.0 OK: stored").join("; "));
    assertEquals(
      (await world.gw.deps.store.db.select().from(schema.messages)).length,
      3,
      "three messages, each stored once",
    );
    assertEquals(budget.used, 0);
  } finally {
    await world.close();
  }
});

Deno.test("issue15#7: large JSON sends over the HTTP budget wait their turn and all succeed", async () => {
  // Room for one 2 MB body at a time.
  const gw = await createTestGateway({
    contentBudgetBytes: 3 * MiB,
    contentBudgetPerIpBytes: 3 * MiB,
  });
  try {
    const token = await gw.login(ALICE);
    const content = btoa("x".repeat(1536 * 1024));
    const sends = [1, 2, 3].map((i) =>
      gw.call("POST", "/v1/emails", {
        token,
        body: JSON.stringify({
          from: ALICE.address,
          to: [ALICE.address],
          subject: `large ${i}`,
          text: "see attachment",
          attachments: [{ filename: "x.txt", contentType: "text/plain", content }],
        }),
        headers: { "content-type": "application/json" },
      })
    );
    const statuses = await Promise.all(sends.map(async (p) => {
      const res = await p;
      await res.body?.cancel();
      return res.status;
    }));
    assertEquals(statuses, [201, 201, 201]);
  } finally {
    gw.close();
  }
});

Deno.test("issue15#7: IMAP APPEND of a large literal while the budget is spent: NO [LIMIT], then accepted", async () => {
  const gw = await createTestGateway();
  const budget = new ByteBudget({
    total: 2 * MiB,
    perIp: 2 * MiB,
    initial: 256 * 1024,
    waitMs: 50,
  });
  const listener = await startGatewayImap(gw, { contentBudget: budget });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  const decoder = new TextDecoder();
  let buffered = "";
  /** Reads until a line starting with `prefix`; returns it. */
  const until = async (prefix: string): Promise<string> => {
    for (;;) {
      const line = buffered.split("\r\n").find((l) => l.startsWith(prefix));
      if (line) {
        buffered = buffered.slice(buffered.indexOf(line) + line.length + 2);
        return line;
      }
      const chunk = new Uint8Array(4096);
      const n = await conn.read(chunk);
      if (n === null) throw new Error(`closed; pending ${buffered}`);
      buffered += decoder.decode(chunk.subarray(0, n));
    }
  };
  const send = (text: string | Uint8Array) =>
    conn.write(typeof text === "string" ? encoder.encode(text) : text);
  try {
    await until("* OK");
    await send(`a1 LOGIN ${ALICE.address} ${ALICE.password}\r\n`);
    assert((await until("a1 ")).startsWith("a1 OK"));
    const { raw } = multipartWithAttachment(600 * 1024);
    assert(raw.byteLength > budget.initial && raw.byteLength < 1_000_000);
    // Another client's message holds most of the budget.
    const other = budget.open("198.51.100.1")!;
    assert(await other.grow(1536 * 1024));
    await send(`a2 APPEND INBOX {${raw.byteLength}}\r\n`);
    assertEquals(await until("a2 "), "a2 NO [LIMIT] server busy, try again later");
    other.release();
    await send(`a3 APPEND INBOX {${raw.byteLength}}\r\n`);
    await until("+");
    for (let at = 0; at < raw.length;) at += await conn.write(raw.subarray(at));
    await send("\r\n");
    assert((await until("a3 ")).startsWith("a3 OK"));
    assertEquals(budget.used, 0, "the share is given back once the APPEND is done");
  } finally {
    conn.close();
    await listener.close();
    gw.close();
  }
});
