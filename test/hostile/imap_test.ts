/**
 * Hostile IMAP input over a real socket against the bridge's listener and a test gateway: bytes
 * that are not ASCII in a tag (RFC 3501 section 9: tag = 1*<any ASTRING-CHAR except "+">,
 * ASTRING-CHAR is 7-bit) and MIME bombs through APPEND.
 */
import { assert, assertEquals } from "../fixtures/assert.ts";
import { createTestGateway } from "../fixtures/app.ts";
import { LineClient } from "../fixtures/line_client.ts";
import { startGatewayImap } from "../fixtures/imap_pop3.ts";

const enc = new TextEncoder();

Deno.test("issue15#12: IMAP tags with 8-bit bytes get an untagged BAD, never an echo", async () => {
  const gw = await createTestGateway();
  const imap = await startGatewayImap(gw);
  const c = await LineClient.open(imap.port);
  try {
    await c.until("* OK");
    const bad = [
      new Uint8Array([0xff, 0x41, 0x20, ...enc.encode("NOOP\r\n")]), // invalid UTF-8
      new Uint8Array([0x61, 0xc3, 0xa9, 0x20, ...enc.encode("NOOP\r\n")]), // valid UTF-8 "aé"
      new Uint8Array([0xe2, 0x82, 0xac, 0x20, ...enc.encode("CAPABILITY\r\n")]), // "€"
      new Uint8Array([0x80, 0x20, ...enc.encode("LOGIN a b\r\n")]),
    ];
    for (const line of bad) {
      await c.write(line);
      const reply = await c.line();
      assert(reply !== null);
      assert(reply.startsWith("* BAD"), reply);
      assert(/^[\x20-\x7e]*$/.test(reply), `8-bit bytes echoed: ${JSON.stringify(reply)}`);
    }
    // The session goes on; a good tag still works.
    await c.write("a1 NOOP\r\n");
    assertEquals(await c.until("a1 "), "a1 OK NOOP completed");
  } finally {
    c.close();
    await imap.close();
    gw.close();
  }
});
