/**
 * Large raw messages are stored in rows of at most 1 MiB (src/services/blob_chunks.ts; issue 15,
 * item 7: D1 refuses rows of 2 MB): every reader gets the exact bytes back, headers come from
 * the first chunk, and purging the message removes its chunks.
 */
import { eq } from "drizzle-orm";
import { BLOB_CHUNK_BYTES } from "../src/services/blob_chunks.ts";
import { sealedRanges } from "../src/crypt/sealed_blob.ts";
import { deliver } from "../src/services/delivery.ts";
import { headerBlock, rawFrames } from "../src/services/mail_access_raw.ts";
import { purgeRows, purgeStatements } from "../src/services/message_store.ts";
import { getRaw } from "../src/services/messages.ts";
import { schema } from "../src/store/store.ts";
import { ALICE, createTestGateway } from "./fixtures/app.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { multipartWithAttachment } from "./fixtures/large_mail.ts";

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("issue15#7: a 2.5 MB message is stored in 1 MiB rows and read back byte for byte", async () => {
  // Spam scoring off: its X-Spam fields would make the stored copy longer than the bytes sent.
  const gw = await createTestGateway({ spamEnabled: false });
  try {
    const { raw } = multipartWithAttachment(1900 * 1024);
    assert(raw.byteLength > 2 * BLOB_CHUNK_BYTES);
    const [result] = await deliver(gw.deps, {
      raw,
      mailFrom: "zed@remote.example",
      recipients: [ALICE.address],
      source: "smtp",
    });
    assertEquals(result.status, "delivered");
    const db = gw.deps.store.db;
    const [message] = await db.select().from(schema.messages);
    const [blob] = await db.select().from(schema.blobs);
    assertEquals(blob.size, raw.byteLength);
    // Sealed at rest (the default): parts of PART_BYTES each, their seal within the 1 MiB rows.
    assert(new Uint8Array(blob.data).byteLength <= BLOB_CHUNK_BYTES);
    const chunks = await db.select().from(schema.blobChunks);
    assertEquals(chunks.length, sealedRanges(raw.byteLength).length - 1);
    assert(chunks.every((c) => new Uint8Array(c.data).byteLength <= BLOB_CHUNK_BYTES));

    const same = (a: Uint8Array, b: Uint8Array) =>
      a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
    assert(same(await getRaw(db, message.accountId, message.id), raw), "GET …/raw");
    const frames = await readAll(
      await rawFrames(gw.deps, message.accountId, message.mailboxId, "1:*", "full"),
    );
    assert(same(frames.subarray(frames.byteLength - raw.byteLength), raw), "IMAP BODY[] frames");
    const headers = await readAll(
      await rawFrames(gw.deps, message.accountId, message.mailboxId, "1:*", "header"),
    );
    const expected = headerBlock(raw);
    assert(same(headers.subarray(headers.byteLength - expected.byteLength), expected), "headers");

    // Delivering the same bytes again stores no second copy of the chunks.
    await deliver(gw.deps, {
      raw,
      mailFrom: "zed@remote.example",
      recipients: [ALICE.address],
      source: "smtp",
    });
    assertEquals((await db.select().from(schema.blobChunks)).length, chunks.length);

    const rows = await purgeRows(db, message.accountId, [message.id]);
    await gw.deps.store.batch(purgeStatements(message.accountId, rows));
    assertEquals((await db.select().from(schema.blobs)).length, 0);
    assertEquals(
      (await db.select().from(schema.blobChunks).where(
        eq(schema.blobChunks.sha256, message.blobSha256),
      )).length,
      0,
      "the chunks go with their blob",
    );
  } finally {
    gw.close();
  }
});
