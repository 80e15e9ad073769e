/**
 * Hostile IMAP input over a real socket against the bridge's listener and a test gateway: bytes
 * that are not ASCII in a tag (RFC 3501 section 9: tag = 1*<any ASTRING-CHAR except "+">,
 * ASTRING-CHAR is 7-bit) and MIME bombs through APPEND.
 */
import { assert, assertEquals } from "../fixtures/assert.ts";
import { ALICE, createTestGateway } from "../fixtures/app.ts";
import { startGatewayImap } from "../fixtures/imap_pop3.ts";

const enc = new TextEncoder();

/** A line-level IMAP client that writes raw bytes and reads raw lines. */
export class RawClient {
  #buf = new Uint8Array(0);
  private constructor(private conn: Deno.Conn) {}
  static async open(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }
  async write(data: string | Uint8Array) {
    await this.conn.write(typeof data === "string" ? enc.encode(data) : data);
  }
  /** The next line as latin1 text (so any 8-bit byte shows as itself), or null at EOF. */
  async line(): Promise<string | null> {
    for (;;) {
      const lf = this.#buf.indexOf(10);
      if (lf >= 0) {
        const line = this.#buf.subarray(0, lf + 1);
        this.#buf = this.#buf.slice(lf + 1);
        return String.fromCharCode(...line).replace(/\r?\n$/, "");
      }
      const chunk = new Uint8Array(65536);
      const n = await this.conn.read(chunk).catch(() => null);
      if (n === null) return null;
      const next = new Uint8Array(this.#buf.length + n);
      next.set(this.#buf);
      next.set(chunk.subarray(0, n), this.#buf.length);
      this.#buf = next;
    }
  }
  /** Lines up to and including the first that starts with `prefix`. */
  async until(prefix: string): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const l = await this.line();
      if (l === null) throw new Error(`EOF before ${prefix}: ${lines.join(" | ")}`);
      lines.push(l);
      if (l.startsWith(prefix)) return lines;
    }
  }
  close() {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

Deno.test("issue15#12: IMAP tags with 8-bit bytes get an untagged BAD, never an echo", async () => {
  const gw = await createTestGateway();
  const imap = await startGatewayImap(gw);
  const c = await RawClient.open(imap.port);
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
    assertEquals((await c.until("a1 ")).at(-1), "a1 OK NOOP completed");
  } finally {
    c.close();
    await imap.close();
    gw.close();
  }
});

export { ALICE };
