/**
 * POP3 and mailbox-access figures against a real `postern serve` on loopback, one account
 * holding N seeded messages (about 2 KB each): the gateway's whole-mailbox index call (what IMAP
 * SELECT and POP3 login read), POP3 login to STAT, UIDL of every message, and RETR of 1,000
 * messages by one client, each RETR read to its terminating dot — and the same against a private
 * Dovecot (test/interop/pop3_dovecot.ts) holding the very same bytes in its maildir, when
 * Dovecot is installed. Login includes Postern's argon2id password check (Dovecot's test users
 * have plaintext passwords). Prints figures and ratios; asserts nothing.
 */
import { decodeFrames } from "../schemas/mail_access.ts";
import { DOVECOT, startDovecotPop3 } from "../test/interop/pop3_dovecot.ts";
import { api, fmt, freePort, login, startServer, summary } from "./lib.ts";
import { seedMessages } from "./seed.ts";

const DOMAIN = "postern.localhost";
const USER = `pop@${DOMAIN}`;
const PASSWORD = "bench-password-1";

/** A minimal POP3 client: one command, the status line, and for multi-line replies the body. */
class Pop3Wire {
  #buf = new Uint8Array(0);
  constructor(private conn: Deno.Conn) {}

  static async open(port: number): Promise<Pop3Wire> {
    const w = new Pop3Wire(await Deno.connect({ hostname: "127.0.0.1", port }));
    await w.status();
    return w;
  }

  async #fill(): Promise<void> {
    const chunk = new Uint8Array(256 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) throw new Error("connection closed");
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
  }

  async status(): Promise<string> {
    for (;;) {
      const lf = this.#buf.indexOf(10);
      if (lf >= 0) {
        const line = new TextDecoder().decode(this.#buf.subarray(0, lf - 1));
        this.#buf = this.#buf.subarray(lf + 1);
        if (!line.startsWith("+OK")) throw new Error(line);
        return line;
      }
      await this.#fill();
    }
  }

  /** The multi-line body up to CRLF.CRLF (still byte-stuffed); returns its length. */
  async body(): Promise<number> {
    let from = 0;
    for (;;) {
      for (let i = Math.max(from, 2); i + 2 < this.#buf.length; i++) {
        if (
          this.#buf[i] === 46 && this.#buf[i + 1] === 13 && this.#buf[i + 2] === 10 &&
          this.#buf[i - 1] === 10
        ) {
          this.#buf = this.#buf.subarray(i + 3);
          return i;
        }
      }
      from = Math.max(0, this.#buf.length - 3);
      await this.#fill();
    }
  }

  async command(line: string, multiline = false): Promise<number> {
    await this.conn.write(new TextEncoder().encode(line + "\r\n"));
    await this.status();
    return multiline ? await this.body() : 0;
  }

  close(): void {
    this.conn.close();
  }
}

interface Pop3Figures {
  login: number;
  uidl: number;
  retr: number;
  retrieved: number;
  bytes: number;
}

/** One client: login to STAT, UIDL, then RETR 1..n each read to its terminating dot. */
async function measurePop3(port: number, user: string, password: string, n: number) {
  const t0 = performance.now();
  const w = await Pop3Wire.open(port);
  await w.command(`USER ${user}`);
  await w.command(`PASS ${password}`);
  await w.command("STAT");
  const login = performance.now() - t0;
  const t1 = performance.now();
  await w.command("UIDL", true);
  const uidl = performance.now() - t1;
  let bytes = 0;
  const t2 = performance.now();
  for (let i = 1; i <= n; i++) bytes += await w.command(`RETR ${i}`, true);
  const retr = performance.now() - t2;
  await w.command("QUIT");
  w.close();
  return { login, uidl, retr, retrieved: n, bytes };
}

function report(who: string, messages: number, f: Pop3Figures) {
  console.log(
    `${who}: login to STAT (Inbox of ${messages}) ${fmt(f.login)} ms; UIDL ${fmt(f.uidl)} ms; ` +
      `RETR of ${f.retrieved} (${fmt(f.bytes / 1024 / 1024, 2)} MiB) ${fmt(f.retr)} ms — ` +
      `${fmt(f.retrieved / (f.retr / 1000), 0)} messages/s`,
  );
}

/** A private Dovecot whose alice Inbox holds these messages (maildir files), measured alike. */
async function dovecotPop3(messages: Uint8Array[], n: number): Promise<Pop3Figures> {
  const dovecot = await startDovecotPop3();
  try {
    const md = dovecot.aliceMaildir;
    for (const sub of ["cur", "new", "tmp"]) await Deno.mkdir(`${md}/${sub}`, { recursive: true });
    const now = Math.floor(Date.now() / 1000);
    for (const [i, bytes] of messages.entries()) {
      const file = `${md}/cur/${now - messages.length + i}.M${i}P1.bench,S=${bytes.length}:2,`;
      await Deno.writeFile(file, bytes);
      await Deno.chown(file, 5000, 5000);
    }
    for (const p of [md, `${md}/..`, `${md}/../..`, `${md}/cur`, `${md}/new`, `${md}/tmp`]) {
      await Deno.chown(p, 5000, 5000);
    }
    // A first session lets Dovecot build its index (as Postern's store is built at seeding).
    await measurePop3(dovecot.pop3Port, "alice", "alicepw", 1);
    return await measurePop3(dovecot.pop3Port, "alice", "alicepw", n);
  } finally {
    await dovecot.stop();
  }
}

export async function pop3Bench(opts: { messages: number; retr: number }): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postern-bench-pop3-" });
  const pop3Port = freePort();
  const env = {
    POSTERN_POP3_PORT: String(pop3Port),
    // Loopback benchmark: plaintext USER/PASS, as Dovecot's bench profile will allow.
    POSTERN_POP3_ALLOW_PLAINTEXT_AUTH: "true",
    POSTERN_SMTP_PORT: "0",
    POSTERN_SUBMISSION_PORT: "0",
    POSTERN_OUTBOUND_PORT: "0",
    POSTERN_IMAP_PORT: "0",
    POSTERN_IMAPS_PORT: "0",
    POSTERN_SHARP_PORT: "0",
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
  server = await startServer(dir, env);
  try {
    const token = await login(server.url, USER, PASSWORD);
    const boxes = await (await api(server.url, "GET", "/v1/mailboxes", token)).json();
    const inbox = boxes.items.find((b: { role: string }) => b.role === "inbox").id;
    const indexTimes: number[] = [];
    let items = 0;
    for (let i = 0; i < 6; i++) {
      const t = performance.now();
      const r = await api(server.url, "GET", `/v1/mail-access/mailboxes/${inbox}/index`, token);
      items = (await r.json()).items.length;
      if (i > 0) indexTimes.push(performance.now() - t); // the first call warms up
    }
    const idx = summary(indexTimes);
    console.log(
      `mail-access index of ${items} messages over HTTP: p50 ${fmt(idx.p50)} ms, ` +
        `max ${fmt(idx.max)} ms`,
    );

    await measurePop3(pop3Port, USER, PASSWORD, 1); // warm-up, as for Dovecot below
    const ours = await measurePop3(pop3Port, USER, PASSWORD, opts.retr);
    report("Postern", opts.messages, ours);
    if (await Deno.stat(DOVECOT).then(() => true, () => false)) {
      // Dovecot gets the very same bytes, written into its maildir.
      const r = await api(server.url, "POST", `/v1/mail-access/mailboxes/${inbox}/raw`, token, {
        uids: "1:*",
      });
      const frames = decodeFrames(new Uint8Array(await r.arrayBuffer()))!;
      const theirs = await dovecotPop3(frames.map((f) => f.bytes), opts.retr);
      report("Dovecot", opts.messages, theirs);
      console.log(
        `ratio Postern/Dovecot: login ${fmt(ours.login / theirs.login, 2)}, UIDL ` +
          `${fmt(ours.uidl / theirs.uidl, 2)}, RETR ${fmt(ours.retr / theirs.retr, 2)} ` +
          "(target ≤ 1.5)",
      );
    }
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const messages = Number(Deno.args[0] ?? 10_000);
  await pop3Bench({ messages, retr: 1000 });
}
