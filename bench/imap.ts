/**
 * IMAP side by side with Dovecot 2.3 on the same N-message mailbox (default 10,000, about 2 KB
 * each, bench/seed.ts): Postern is a real `postern serve` seeded in its store; Dovecot gets the
 * very same stored bytes as maildir files. One client per server, over loopback, medians of
 * five passes after a warm-up: FETCH 1:* (ENVELOPE FLAGS), FETCH of 1,000 full bodies
 * (BODY.PEEK[]), and SEARCH SUBJECT. Prints each time, the ratio Postern / Dovecot, and the 1.5× target of issue
 * 5. Needs root and dovecot-imapd for the Dovecot side. Asserts nothing.
 */
import { openStore } from "../cli/open_store.ts";
import { startDovecot } from "../test/interop/imap_dovecot.ts";
import { api, fmt, freePort, login, startServer } from "./lib.ts";
import { seedMessages } from "./seed.ts";

const DOMAIN = "postern.localhost";
const USER = `imap@${DOMAIN}`;
const PASSWORD = "bench-password-1";

/** A minimal IMAP client: sends a command and reads to its tagged reply, literals included. */
class ImapWire {
  #buf = new Uint8Array(0);
  #n = 0;
  constructor(private conn: Deno.Conn) {}

  static async open(port: number): Promise<ImapWire> {
    // `postern serve` answers /health before the bridge's listeners are up.
    let conn: Deno.Conn | undefined;
    for (let i = 0; !conn; i++) {
      try {
        conn = await Deno.connect({ hostname: "127.0.0.1", port });
      } catch (e) {
        if (i > 100) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const w = new ImapWire(conn);
    await w.#line();
    return w;
  }

  async #fill(): Promise<void> {
    const chunk = new Uint8Array(1024 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) throw new Error("connection closed");
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
  }

  /** One response line; a literal at its end is skipped over (its octets counted). */
  async #line(): Promise<{ text: string; octets: number }> {
    let octets = 0;
    let text = "";
    for (;;) {
      let lf = this.#buf.indexOf(10);
      while (lf < 0) {
        await this.#fill();
        lf = this.#buf.indexOf(10);
      }
      const part = new TextDecoder().decode(this.#buf.subarray(0, lf + 1));
      this.#buf = this.#buf.subarray(lf + 1);
      text += part;
      const m = /\{(\d+)\}\r\n$/.exec(part);
      if (!m) return { text, octets };
      const n = Number(m[1]);
      while (this.#buf.length < n) await this.#fill();
      this.#buf = this.#buf.subarray(n);
      octets += n;
    }
  }

  /** Runs a command; returns the untagged lines' count, literal octets and the tagged line. */
  async command(text: string): Promise<{ lines: number; octets: number; tagged: string }> {
    const tag = `b${++this.#n}`;
    await this.conn.write(new TextEncoder().encode(`${tag} ${text}\r\n`));
    let lines = 0;
    let octets = 0;
    for (;;) {
      const l = await this.#line();
      if (l.text.startsWith(`${tag} `)) {
        if (!l.text.startsWith(`${tag} OK`)) throw new Error(`${text}: ${l.text}`);
        return { lines, octets, tagged: l.text };
      }
      lines++;
      octets += l.octets;
    }
  }

  close(): void {
    this.conn.close();
  }
}

interface Figures {
  envelopes: number;
  bodies: number;
  search: number;
  bodyBytes: number;
  hits: number;
}

/** The three measured operations, after one warm-up pass (index and caches built). */
async function measure(port: number, user: string, pass: string, n: number): Promise<Figures> {
  const w = await ImapWire.open(port);
  await w.command(`LOGIN ${user} ${pass}`);
  await w.command("SELECT INBOX");
  const bodies = `1:${Math.min(1000, n)}`;
  const run = async () => {
    let t = performance.now();
    const env = await w.command("FETCH 1:* (ENVELOPE FLAGS)");
    const envelopes = performance.now() - t;
    if (env.lines < n) throw new Error(`FETCH returned ${env.lines} of ${n}`);
    t = performance.now();
    const b = await w.command(`FETCH ${bodies} BODY.PEEK[]`);
    const bodyTime = performance.now() - t;
    t = performance.now();
    const s = await w.command("SEARCH SUBJECT invoice");
    const search = performance.now() - t;
    return { envelopes, bodies: bodyTime, search, bodyBytes: b.octets, hits: s.lines };
  };
  // Medians of five passes after one warm-up: the machine is shared, single runs are noisy.
  await run();
  const passes: Figures[] = [];
  for (let i = 0; i < 5; i++) passes.push(await run());
  const median = (f: (x: Figures) => number) => passes.map(f).sort((a, b) => a - b)[2];
  const figures: Figures = {
    envelopes: median((x) => x.envelopes),
    bodies: median((x) => x.bodies),
    search: median((x) => x.search),
    bodyBytes: passes[0].bodyBytes,
    hits: passes[0].hits,
  };
  await w.command("LOGOUT").catch(() => {});
  w.close();
  return figures;
}

async function storedBytes(dir: string): Promise<Uint8Array[]> {
  const store = await openStore(`file:${dir}/postern.db`);
  const rows = await store.client.execute(
    "SELECT b.data FROM messages m JOIN blobs b ON b.sha256 = m.blob_sha256 ORDER BY m.uid",
  );
  const out = rows.rows.map((r) => new Uint8Array(r.data as ArrayBuffer));
  store.client.close();
  return out;
}

export async function imapBench(opts: { messages: number }): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postern-bench-imap-" });
  const imapPort = freePort();
  const env = {
    POSTERN_IMAP_PORT: String(imapPort),
    // Loopback benchmark: LOGIN without TLS, as Dovecot's profile allows.
    POSTERN_IMAP_ALLOW_PLAINTEXT_AUTH: "true",
    POSTERN_SMTP_PORT: "0",
    POSTERN_SUBMISSION_PORT: "0",
    POSTERN_POP3_PORT: "0",
  };
  let server = await startServer(dir, env);
  const admin = await login(server.url, `admin@${DOMAIN}`, server.adminPassword);
  const res = await api(server.url, "POST", "/v1/admin/accounts", admin, {
    address: USER,
    password: PASSWORD,
    quotaBytes: 0,
  });
  await res.body?.cancel();
  await server.stop();
  await seedMessages(`file:${dir}/postern.db`, USER, opts.messages);
  const raws = await storedBytes(dir);
  server = await startServer(dir, env);
  let dovecot: Awaited<ReturnType<typeof startDovecot>> | undefined;
  try {
    const p = await measure(imapPort, USER, PASSWORD, opts.messages);
    let d: Figures | undefined;
    try {
      dovecot = await startDovecot();
      const maildir = `${dovecot.dir}/mail/legacy.test/alice/Maildir`;
      for (const sub of ["cur", "new", "tmp"]) {
        await Deno.mkdir(`${maildir}/${sub}`, { recursive: true });
      }
      const t0 = Math.floor(Date.now() / 1000) - raws.length;
      for (const [i, raw] of raws.entries()) {
        // Same flags as the seed: every third message \Seen.
        const flags = i % 3 === 0 ? "S" : "";
        await Deno.writeFile(
          `${maildir}/cur/${t0 + i}.M${i}P1.bench,S=${raw.length}:2,${flags}`,
          raw,
        );
      }
      await new Deno.Command("chown", { args: ["-R", "5000:5000", `${dovecot.dir}/mail`] })
        .output();
      d = await measure(dovecot.port, "alice", "alicepw", opts.messages);
    } catch (e) {
      console.log(`Dovecot side skipped: ${(e as Error).message}`);
    }
    const row = (what: string, pt: number, dt?: number) =>
      console.log(
        `${what.padEnd(44)} Postern ${fmt(pt).padStart(8)} ms` +
          (dt === undefined
            ? ""
            : `   Dovecot ${fmt(dt).padStart(8)} ms   ratio ${fmt(pt / dt, 2)} (target ≤ 1.5)`),
      );
    console.log(
      `IMAP, one client, ${opts.messages}-message INBOX (loopback, medians of 5 after a warm-up):`,
    );
    row(`FETCH 1:* (ENVELOPE FLAGS)`, p.envelopes, d?.envelopes);
    row(
      `FETCH ${Math.min(1000, opts.messages)} BODY.PEEK[] (${fmt(p.bodyBytes / 1048576, 2)} MiB)`,
      p.bodies,
      d?.bodies,
    );
    row(`SEARCH SUBJECT invoice (${p.hits ? "hits" : "no hits"})`, p.search, d?.search);
  } finally {
    await server.stop();
    await dovecot?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  await imapBench({ messages: Number(Deno.args[0] ?? 10_000) });
}
