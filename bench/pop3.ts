/**
 * POP3 and mailbox-access figures against a real `postern serve` on loopback, one account
 * holding N seeded messages (about 2 KB each): the gateway's whole-mailbox index call (what IMAP
 * SELECT read), POP3 login to STAT, UIDL of every message, and RETR of 1,000 messages by one
 * client, each RETR read to its terminating dot — and the same against a private Dovecot
 * (test/fixtures/dovecot.ts) holding the very same bytes in its maildir, when Dovecot is
 * installed; three sessions per server, alternating between them, medians reported. Login includes Postern's argon2id password check (Dovecot's test users
 * have plaintext passwords; a login after the first skips it, as Dovecot's auth cache would).
 * Beside each time, the server's CPU for it (Postern's process and main thread; Dovecot's master
 * and its children), which a busy machine disturbs far less. Prints figures and ratios; asserts
 * nothing.
 */
import { type Dovecot, dovecotAvailable, startDovecot } from "../test/fixtures/dovecot.ts";
import {
  api,
  cpuMs,
  fmt,
  freePort,
  login,
  mainThreadCpuMs,
  processTreeCpuMs,
  summary,
} from "./lib.ts";
import { serveSeededMailbox } from "./mailbox_seed.ts";
import { Wire } from "./wire.ts";

const DOMAIN = "postern.localhost";
const USER = `pop@${DOMAIN}`;
const PASSWORD = "bench-password-1";

/** A minimal POP3 client: one command, the status line, and for multi-line replies the body. */
class Pop3Wire extends Wire {
  static async open(port: number): Promise<Pop3Wire> {
    const w = new Pop3Wire(await Wire.connect(port), 256 * 1024);
    await w.status();
    return w;
  }

  async status(): Promise<string> {
    const line = await this.line();
    const text = new TextDecoder().decode(line.subarray(0, line.length - 2));
    if (!text.startsWith("+OK")) throw new Error(text);
    return text;
  }

  /** The multi-line body up to CRLF.CRLF (still byte-stuffed); returns its length. */
  async body(): Promise<number> {
    let from = 0;
    for (;;) {
      for (let i = Math.max(from, 2); i + 2 < this.buf.length; i++) {
        if (
          this.buf[i] === 46 && this.buf[i + 1] === 13 && this.buf[i + 2] === 10 &&
          this.buf[i - 1] === 10
        ) {
          this.buf = this.buf.subarray(i + 3);
          return i;
        }
      }
      from = Math.max(0, this.buf.length - 3);
      await this.fill();
    }
  }

  async command(line: string, multiline = false): Promise<number> {
    await this.send(line);
    await this.status();
    return multiline ? await this.body() : 0;
  }
}

interface Pop3Figures {
  login: number;
  uidl: number;
  retr: number;
  retrieved: number;
  bytes: number;
  /** Server CPU (all threads / processes) for login to STAT and for the RETRs, in ms. */
  loginCpu: number;
  retrCpu: number;
  /** Postern's main thread alone (NaN for Dovecot). */
  retrMainCpu: number;
}

/** Reads a server's CPU so far: [whole server, main thread (NaN where there is none)]. */
type CpuProbe = () => [number, number];

/** One client: login to STAT, UIDL, then RETR 1..n each read to its terminating dot. */
async function measurePop3(
  port: number,
  user: string,
  password: string,
  n: number,
  cpu: CpuProbe,
): Promise<Pop3Figures> {
  const c0 = cpu();
  const t0 = performance.now();
  const w = await Pop3Wire.open(port);
  await w.command(`USER ${user}`);
  await w.command(`PASS ${password}`);
  await w.command("STAT");
  const login = performance.now() - t0;
  const c1 = cpu();
  const t1 = performance.now();
  await w.command("UIDL", true);
  const uidl = performance.now() - t1;
  let bytes = 0;
  const c2 = cpu();
  const t2 = performance.now();
  for (let i = 1; i <= n; i++) bytes += await w.command(`RETR ${i}`, true);
  const retr = performance.now() - t2;
  const c3 = cpu();
  await w.command("QUIT");
  w.close();
  return {
    login,
    uidl,
    retr,
    retrieved: n,
    bytes,
    loginCpu: c1[0] - c0[0],
    retrCpu: c3[0] - c2[0],
    retrMainCpu: c3[1] - c2[1],
  };
}

function report(who: string, messages: number, f: Pop3Figures) {
  console.log(
    `${who}: login to STAT (Inbox of ${messages}) ${fmt(f.login)} ms; UIDL ${fmt(f.uidl)} ms; ` +
      `RETR of ${f.retrieved} (${fmt(f.bytes / 1024 / 1024, 2)} MiB) ${fmt(f.retr)} ms — ` +
      `${fmt(f.retrieved / (f.retr / 1000), 0)} messages/s; server CPU: login to STAT ` +
      `${fmt(f.loginCpu, 0)} ms, RETRs ${fmt(f.retrCpu, 0)} ms` +
      (Number.isNaN(f.retrMainCpu) ? "" : ` (main thread ${fmt(f.retrMainCpu, 0)} ms)`),
  );
}

/** Sessions measured per server after a warm-up, alternating between the servers. */
const SESSIONS = 3;

/** Per figure, the median of the sessions (times and CPU alike). */
function medians(runs: Pop3Figures[]): Pop3Figures {
  const m = (f: (x: Pop3Figures) => number) => summary(runs.map(f)).p50;
  return {
    login: m((x) => x.login),
    uidl: m((x) => x.uidl),
    retr: m((x) => x.retr),
    retrieved: runs[0].retrieved,
    bytes: runs[0].bytes,
    loginCpu: m((x) => x.loginCpu),
    retrCpu: m((x) => x.retrCpu),
    retrMainCpu: m((x) => x.retrMainCpu),
  };
}

export async function pop3Bench(opts: { messages: number; retr: number }): Promise<void> {
  const pop3Port = freePort();
  const mailbox = await serveSeededMailbox({
    prefix: "postern-bench-pop3-",
    address: USER,
    password: PASSWORD,
    messages: opts.messages,
    env: {
      POSTERN_POP3_PORT: String(pop3Port),
      // Loopback benchmark: plaintext USER/PASS, as Dovecot's bench profile will allow.
      POSTERN_POP3_ALLOW_PLAINTEXT_AUTH: "true",
      POSTERN_OUTBOUND_PORT: "0",
    },
  });
  const { server } = mailbox;
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

    const cpu: CpuProbe = () => [cpuMs(server.pid), mainThreadCpuMs(server.pid)];
    let dovecot: Dovecot | undefined;
    let peerCpu: CpuProbe | undefined;
    if (await dovecotAvailable({ pop3: true })) {
      // Dovecot gets the very same bytes, written into its maildir.
      dovecot = await startDovecot();
      await dovecot.fillMaildir(mailbox.messages);
      const master = await dovecot.masterPid();
      peerCpu = () => [processTreeCpuMs(master), NaN];
    }
    try {
      // A first session each: Dovecot builds its index (as Postern's store is built at seeding).
      await measurePop3(pop3Port, USER, PASSWORD, 1, cpu);
      if (dovecot) await measurePop3(dovecot.pop3Port, "alice", "alicepw", 1, peerCpu!);
      // Then sessions alternate between the servers, so a machine shared with other work slows
      // both alike and the ratio of one run stays meaningful.
      const mine: Pop3Figures[] = [];
      const peer: Pop3Figures[] = [];
      for (let i = 0; i < SESSIONS; i++) {
        mine.push(await measurePop3(pop3Port, USER, PASSWORD, opts.retr, cpu));
        if (dovecot) {
          peer.push(await measurePop3(dovecot.pop3Port, "alice", "alicepw", opts.retr, peerCpu!));
        }
      }
      const ours = medians(mine);
      report("Postern", opts.messages, ours);
      if (dovecot) {
        const theirs = medians(peer);
        report("Dovecot", opts.messages, theirs);
        console.log(
          `ratio Postern/Dovecot (medians of ${SESSIONS} sessions each, alternating): login ` +
            `${fmt(ours.login / theirs.login, 2)}, UIDL ${fmt(ours.uidl / theirs.uidl, 2)}, RETR ` +
            `${fmt(ours.retr / theirs.retr, 2)} (target ≤ 1.5); server CPU of the RETRs ` +
            `${fmt(ours.retrCpu / theirs.retrCpu, 2)}`,
        );
      }
    } finally {
      await dovecot?.stop();
    }
  } finally {
    await mailbox.stop();
  }
}

if (import.meta.main) {
  const messages = Number(Deno.args[0] ?? 10_000);
  await pop3Bench({ messages, retr: 1000 });
}
