/**
 * MIME bombs over the real interfaces: the MX (SMTP), IMAP APPEND and the MIME port itself. The
 * bytes are valid RFC 5322 up to mailparser's limits (a 1000-level nested multipart, a 1 MB
 * header field, a 1 MB folded one). Postern stores them as received and marks the parsed form
 * degraded (src/mime/degraded.ts); it never answers with a temporary failure, which senders
 * would retry for days.
 */
import { assert, assertEquals } from "../fixtures/assert.ts";
import { ALICE } from "../fixtures/app.ts";
import { startBridgeWorld } from "../fixtures/bridge.ts";
import { startGatewayImap } from "../fixtures/imap_pop3.ts";
import { LineClient } from "../fixtures/line_client.ts";
import { createNodeMime } from "../../hosts/process/mime_node.ts";
import { BOMBS } from "../fixtures/mime_bombs.ts";
import { rawSql } from "../../src/store/store.ts";
import { parsedOfRow } from "../../src/crypt/sealed_rows.ts";
import type { TestGateway } from "../fixtures/app.ts";

const enc = new TextEncoder();

async function stored(gw: TestGateway, subject: string) {
  const row = await rawSql(gw.deps.store.db).get<
    { account_id: number; parsed: string; size: number; sha: string }
  >(
    "SELECT account_id, parsed, size, blob_sha256 AS sha FROM messages WHERE subject = ?",
    [subject],
  );
  // The parsed form may be sealed at rest (issue 21 item 6): read it the way the server does.
  return row && {
    ...row,
    parsed: await parsedOfRow<{ degraded?: boolean }>(
      gw.deps.store.db,
      Number(row.account_id),
      row.parsed,
    ),
  };
}

Deno.test("issue15#9: the MIME port reads a bomb's headers and marks it degraded, never throws", async () => {
  const mime = createNodeMime();
  for (const [subject, make] of BOMBS) {
    const parsed = await mime.parse(enc.encode(make()));
    assertEquals(parsed.subject, subject);
    assertEquals(parsed.from?.address, "bomb@remote.example");
    assertEquals(parsed.to.map((a) => a.address), [ALICE.address]);
    assert(parsed.degraded, subject);
    assertEquals(parsed.attachments, []);
    assert(JSON.stringify(parsed).length < 300_000, `${subject}: parsed form not bounded`);
  }
});

/** One message over SMTP; returns each reply's last line. */
async function smtpSend(port: number, message: string): Promise<string[]> {
  const c = await LineClient.open(port);
  try {
    const out = [await c.until(/^\d{3} /)];
    for (
      const cmd of [
        "EHLO peer.remote.example",
        "MAIL FROM:<bomb@remote.example>",
        `RCPT TO:<${ALICE.address}>`,
        "DATA",
      ]
    ) out.push(await c.smtp(cmd));
    out.push(await c.smtp(message.replace(/^\./gm, "..") + "."));
    await c.write("QUIT\r\n");
    return out;
  } finally {
    c.close();
  }
}

Deno.test("issue15#9: MIME bombs over SMTP are accepted (250) and stored whole, never 451", async () => {
  const world = await startBridgeWorld();
  try {
    for (const [subject, make] of BOMBS) {
      const message = make();
      const replies = await smtpSend(world.mxPort, message);
      const final = replies.at(-1)!;
      assert(!final.startsWith("4"), `${subject}: a temporary answer: ${final}`);
      assertEquals(final.slice(0, 3), "250", `${subject}: ${replies.join(" | ")}`);
      const row = await stored(world.gw, subject);
      assert(row, `${subject} not stored`);
      // The MX adds its Received field in front; the rest is the message as sent.
      const grown = row.size - enc.encode(message).byteLength;
      assert(grown > 0 && grown < 1000, `${subject}: stored ${row.size} bytes`);
      assert(row.parsed.degraded, subject);
    }
  } finally {
    await world.close();
  }
});

Deno.test("issue15#9: MIME bombs over IMAP APPEND are stored, never NO [UNAVAILABLE]", async () => {
  const world = await startBridgeWorld({ maxMessageBytes: 4_000_000 });
  const imap = await startGatewayImap(world.gw, { maxMessageBytes: 4_000_000 });
  const c = await LineClient.open(imap.port);
  try {
    await c.until("* OK");
    await c.write(`l LOGIN ${ALICE.address} ${ALICE.password}\r\n`);
    assert((await c.until("l ")).startsWith("l OK"));
    let n = 0;
    for (const [subject, make] of BOMBS) {
      const bytes = enc.encode(make().replace("Subject: ", "Subject: appended "));
      const tag = `a${++n}`;
      await c.write(`${tag} APPEND INBOX {${bytes.byteLength}+}\r\n`);
      await c.write(bytes);
      await c.write("\r\n");
      const done = await c.until(`${tag} `);
      assert(!done.includes("UNAVAILABLE"), `${subject}: ${done}`);
      assert(done.startsWith(`${tag} OK`), `${subject}: ${done}`);
      const row = await stored(world.gw, `appended ${subject}`);
      assertEquals(row?.size, bytes.byteLength);
    }
  } finally {
    c.close();
    await imap.close();
    await world.close();
  }
});
