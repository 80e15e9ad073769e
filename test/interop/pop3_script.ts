/**
 * A POP3 client for interop tests that records each command's status line and multi-line body
 * (un-stuffed, RFC 1939 section 3), for comparing Postern with Dovecot structurally.
 */

/** One command's outcome: the status line and, for a multi-line reply, the body's bytes. */
export interface Pop3Reply {
  command: string;
  status: string;
  body?: Uint8Array;
}

const MULTILINE = /^(CAPA|LIST|UIDL|RETR \S+|TOP \S+ \S+)$/i;

/** Runs commands in order over one connection; returns the greeting and every reply. */
export async function pop3Script(port: number, commands: string[]): Promise<Pop3Reply[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let buf = new Uint8Array(0);
  const fill = async () => {
    const chunk = new Uint8Array(65536);
    const n = await conn.read(chunk);
    if (n === null) throw new Error("connection closed");
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(chunk.subarray(0, n), buf.length);
    buf = next;
  };
  const line = async (): Promise<Uint8Array> => {
    for (;;) {
      const lf = buf.indexOf(10);
      if (lf >= 0) {
        const out = buf.subarray(0, lf + 1);
        buf = buf.subarray(lf + 1);
        return out;
      }
      await fill();
    }
  };
  const text = (b: Uint8Array) => new TextDecoder().decode(b).replace(/\r?\n$/, "");
  const replies: Pop3Reply[] = [{ command: "", status: text(await line()) }];
  try {
    for (const command of commands) {
      await conn.write(new TextEncoder().encode(command + "\r\n"));
      const status = text(await line());
      const reply: Pop3Reply = { command, status };
      if (status.startsWith("+OK") && MULTILINE.test(command)) {
        const parts: Uint8Array[] = [];
        for (;;) {
          const l = await line();
          if (l.length <= 3 && text(l) === ".") break;
          parts.push(l[0] === 46 ? l.subarray(1) : l); // RFC 1939 section 3: un-stuff
        }
        const body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          body.set(p, at);
          at += p.length;
        }
        reply.body = body;
      }
      replies.push(reply);
    }
  } finally {
    conn.close();
  }
  return replies;
}
