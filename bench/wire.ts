/**
 * The byte plumbing of the benchmarks' minimal protocol clients (bench/imap.ts, bench/pop3.ts):
 * a loopback connection that waits for the listener, a receive buffer filled in large reads,
 * and whole lines taken from it. Parsing replies is left to each protocol's client.
 */
export class Wire {
  protected buf = new Uint8Array(0);

  protected constructor(protected conn: Deno.Conn, private chunkBytes: number) {}

  /** Connects to 127.0.0.1:`port`; `postern serve` answers /health before its bridge listens. */
  protected static async connect(port: number): Promise<Deno.Conn> {
    for (let i = 0;; i++) {
      try {
        return await Deno.connect({ hostname: "127.0.0.1", port });
      } catch (e) {
        if (i > 100) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Appends the next read to the buffer; the peer closing is an error. */
  protected async fill(): Promise<void> {
    const chunk = new Uint8Array(this.chunkBytes);
    const n = await this.conn.read(chunk);
    if (n === null) throw new Error("connection closed");
    const next = new Uint8Array(this.buf.length + n);
    next.set(this.buf);
    next.set(chunk.subarray(0, n), this.buf.length);
    this.buf = next;
  }

  /** The next line, its CRLF included, taken off the buffer. */
  protected async line(): Promise<Uint8Array> {
    let lf = this.buf.indexOf(10);
    while (lf < 0) {
      await this.fill();
      lf = this.buf.indexOf(10);
    }
    const line = this.buf.subarray(0, lf + 1);
    this.buf = this.buf.subarray(lf + 1);
    return line;
  }

  protected async send(line: string): Promise<void> {
    await this.conn.write(new TextEncoder().encode(line + "\r\n"));
  }

  close(): void {
    this.conn.close();
  }
}
