/**
 * IMAP side by side with Dovecot 2.3 on the same N-message mailbox (default 10,000, about 2 KB
 * each, bench/seed.ts): Postern is a real `postern serve` seeded in its store; Dovecot (a private
 * one, test/fixtures/dovecot.ts) gets the very same stored bytes as maildir files. One client per server, over loopback, medians of
 * five passes after a warm-up, the two servers' passes alternating: FETCH 1:* (ENVELOPE FLAGS), FETCH of 1,000 full bodies
 * (BODY.PEEK[]), and SEARCH SUBJECT. Prints each time, the ratio Postern / Dovecot, each
 * server's CPU per operation (Postern's process; Dovecot's master and children), and the 1.5× target of issue
 * 5. Needs root and dovecot-imapd for the Dovecot side. Asserts nothing.
 *
 * BENCH_CPU_PROFILE=<file> profiles Postern's server over each operation of the measured passes
 * (bench/cpu_profile.ts), writes <file>.<operation>.cpuprofile (the first pass's) and prints the
 * event loop's self time by file per operation, summed over the passes.
 */
import { type Dovecot, startDovecot } from "../test/fixtures/dovecot.ts";
import { attachProfiler, type CpuProfile, type Profiler, summarize } from "./cpu_profile.ts";
import { cpuMs, fmt, freePort, processTreeCpuMs, summary } from "./lib.ts";
import { serveSeededMailbox } from "./mailbox_seed.ts";
import { Wire } from "./wire.ts";

const DOMAIN = "postern.localhost";
const USER = `imap@${DOMAIN}`;
const PASSWORD = "bench-password-1";

/** A minimal IMAP client: sends a command and reads to its tagged reply, literals included. */
class ImapWire extends Wire {
  #n = 0;

  static async open(port: number): Promise<ImapWire> {
    const w = new ImapWire(await Wire.connect(port), 1024 * 1024);
    await w.#line();
    return w;
  }

  /** One response line; a literal at its end is skipped over (its octets counted). */
  async #line(): Promise<{ text: string; octets: number }> {
    let octets = 0;
    let text = "";
    for (;;) {
      const part = new TextDecoder().decode(await this.line());
      text += part;
      const m = /\{(\d+)\}\r\n$/.exec(part);
      if (!m) return { text, octets };
      const n = Number(m[1]);
      while (this.buf.length < n) await this.fill();
      this.buf = this.buf.subarray(n);
      octets += n;
    }
  }

  /** Runs a command; returns the untagged lines' count, literal octets and the tagged line. */
  async command(text: string): Promise<{ lines: number; octets: number; tagged: string }> {
    const tag = `b${++this.#n}`;
    await this.send(`${tag} ${text}`);
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
}

interface Figures {
  envelopes: number;
  bodies: number;
  search: number;
  bodyBytes: number;
  hits: number;
  /** Server CPU per operation (mean of the passes), ms: [envelopes, bodies, search]. */
  cpu: [number, number, number];
}

type Pass = Omit<Figures, "cpu">;

const OPERATIONS = ["envelopes", "bodies", "search"] as const;

/** Profiles of each operation while `recording` (the measured passes), none without a profiler. */
class OperationProfiles {
  recording = false;
  readonly taken: CpuProfile[][] = OPERATIONS.map(() => []);
  constructor(private readonly profiler?: Profiler) {}

  async around<T>(op: 0 | 1 | 2, run: () => Promise<T>): Promise<T> {
    if (!this.profiler || !this.recording) return await run();
    await this.profiler.start();
    const result = await run();
    this.taken[op].push(await this.profiler.take());
    return result;
  }

  /** Writes each operation's first profile beside `path` and prints the summaries. */
  async report(path: string): Promise<void> {
    for (const [i, op] of OPERATIONS.entries()) {
      if (this.taken[i].length === 0) continue;
      await Deno.writeTextFile(`${path}.${op}.cpuprofile`, JSON.stringify(this.taken[i][0]));
      console.log(`Postern ${op} (${this.taken[i].length} passes), event loop:`);
      for (const line of summarize(this.taken[i])) console.log(`  ${line}`);
    }
  }
}

/**
 * A logged-in client on one server, whose `pass()` runs the three measured operations once and
 * adds each one's server CPU to `cpu`.
 */
async function client(
  port: number,
  user: string,
  pass: string,
  n: number,
  serverCpu: () => number,
  profiles = new OperationProfiles(),
) {
  const w = await ImapWire.open(port);
  await w.command(`LOGIN ${user} ${pass}`);
  await w.command("SELECT INBOX");
  const bodies = `1:${Math.min(1000, n)}`;
  const cpu: [number, number, number] = [0, 0, 0];
  return {
    cpu,
    async pass(): Promise<Pass> {
      // Each operation's time and server CPU; a profile of it when asked (outside the figures).
      const timed = (op: 0 | 1 | 2, text: string) =>
        profiles.around(op, async () => {
          const c = serverCpu();
          const t = performance.now();
          const reply = await w.command(text);
          const ms = performance.now() - t;
          cpu[op] += serverCpu() - c;
          return { ...reply, ms };
        });
      const env = await timed(0, "FETCH 1:* (ENVELOPE FLAGS)");
      if (env.lines < n) throw new Error(`FETCH returned ${env.lines} of ${n}`);
      const envelopes = env.ms;
      const b = await timed(1, `FETCH ${bodies} BODY.PEEK[]`);
      const bodyTime = b.ms;
      const s = await timed(2, "SEARCH SUBJECT invoice");
      const search = s.ms;
      return { envelopes, bodies: bodyTime, search, bodyBytes: b.octets, hits: s.lines };
    },
    async close() {
      await w.command("LOGOUT").catch(() => {});
      w.close();
    },
  };
}

/** Medians of the passes' times; the CPU per pass as a mean (it sums well, times do not). */
function figures(passes: Pass[], cpu: [number, number, number]): Figures {
  const median = (f: (x: Pass) => number) => summary(passes.map(f)).p50;
  return {
    envelopes: median((x) => x.envelopes),
    bodies: median((x) => x.bodies),
    search: median((x) => x.search),
    bodyBytes: passes[0].bodyBytes,
    hits: passes[0].hits,
    cpu: cpu.map((ms) => ms / passes.length) as [number, number, number],
  };
}

/**
 * Waits until the server's CPU stays under 10 ms a second: a server started on a freshly seeded
 * store indexes the seeded mail for search and stores the structures the warm-up computed, in
 * the background, for some seconds. Measured passes then count the FETCH path alone (and the
 * store's commits no longer drop the reader's page cache between them).
 */
async function settled(pid: number, limitMs = 60_000): Promise<void> {
  const start = performance.now();
  for (;;) {
    const before = cpuMs(pid);
    await new Promise((r) => setTimeout(r, 1000));
    if (cpuMs(pid) - before <= 10 || performance.now() - start > limitMs) break;
  }
  console.log(`Postern's background work settled after ${fmt(performance.now() - start)} ms`);
}

/**
 * Passes per server after one warm-up pass each (index and caches built); BENCH_IMAP_PASSES
 * sets more, for A/B comparisons of server CPU finer than one run's noise.
 */
const PASSES = Number(Deno.env.get("BENCH_IMAP_PASSES") ?? 5);

export async function imapBench(opts: { messages: number }): Promise<void> {
  const imapPort = freePort();
  const profilePath = Deno.env.get("BENCH_CPU_PROFILE");
  const inspectPort = profilePath ? freePort() : 0;
  const denoFlags = Deno.env.get("BENCH_DENO_FLAGS") ?? "";
  if (profilePath) {
    Deno.env.set("BENCH_DENO_FLAGS", `${denoFlags} --inspect=127.0.0.1:${inspectPort}`.trim());
  }
  const mailbox = await serveSeededMailbox({
    prefix: "postern-bench-imap-",
    address: USER,
    password: PASSWORD,
    messages: opts.messages,
    // Loopback benchmark: LOGIN without TLS, as Dovecot's profile allows.
    env: { POSTERN_IMAP_PORT: String(imapPort), POSTERN_IMAP_ALLOW_PLAINTEXT_AUTH: "true" },
  });
  if (profilePath) Deno.env.set("BENCH_DENO_FLAGS", denoFlags);
  let dovecot: Dovecot | undefined;
  let profiler: Profiler | undefined;
  try {
    const pid = mailbox.server.pid;
    if (profilePath) profiler = await attachProfiler(inspectPort);
    const profiles = new OperationProfiles(profiler);
    const ours = await client(imapPort, USER, PASSWORD, opts.messages, () => cpuMs(pid), profiles);
    let theirs: Awaited<ReturnType<typeof client>> | undefined;
    try {
      dovecot = await startDovecot();
      // The very same bytes; same flags as the seed: every third message \Seen.
      await dovecot.fillMaildir(mailbox.messages, (i) => i % 3 === 0 ? "S" : "");
      const master = await dovecot.masterPid();
      theirs = await client(
        dovecot.imapPort,
        "alice",
        "alicepw",
        opts.messages,
        () => processTreeCpuMs(master),
      );
    } catch (e) {
      console.log(`Dovecot side skipped: ${(e as Error).message}`);
    }
    // Passes alternate between the servers, so a machine shared with other work slows both
    // alike and the ratio of one run stays meaningful.
    await ours.pass();
    await theirs?.pass();
    await settled(pid);
    ours.cpu.fill(0);
    theirs?.cpu.fill(0);
    profiles.recording = true;
    const mine: Pass[] = [];
    const peer: Pass[] = [];
    for (let i = 0; i < PASSES; i++) {
      mine.push(await ours.pass());
      if (theirs) peer.push(await theirs.pass());
    }
    await ours.close();
    await theirs?.close();
    const p = figures(mine, ours.cpu);
    const d = theirs ? figures(peer, theirs.cpu) : undefined;
    const row = (what: string, i: 0 | 1 | 2, pt: number, dt?: number) =>
      console.log(
        `${what.padEnd(44)} Postern ${fmt(pt).padStart(8)} ms` +
          (dt === undefined
            ? ""
            : `   Dovecot ${fmt(dt).padStart(8)} ms   ratio ${fmt(pt / dt, 2)} (target ≤ 1.5)`) +
          `   server CPU ${fmt(p.cpu[i])}` + (d ? ` / ${fmt(d.cpu[i])} ms` : " ms"),
      );
    console.log(
      `IMAP, one client per server, ${opts.messages}-message INBOX (loopback, medians of ` +
        `${PASSES} passes alternating between the servers after a warm-up; CPU per pass):`,
    );
    row(`FETCH 1:* (ENVELOPE FLAGS)`, 0, p.envelopes, d?.envelopes);
    row(
      `FETCH ${Math.min(1000, opts.messages)} BODY.PEEK[] (${fmt(p.bodyBytes / 1048576, 2)} MiB)`,
      1,
      p.bodies,
      d?.bodies,
    );
    row(`SEARCH SUBJECT invoice (${p.hits ? "hits" : "no hits"})`, 2, p.search, d?.search);
    if (profilePath) await profiles.report(profilePath);
  } finally {
    profiler?.close();
    await mailbox.stop();
    await dovecot?.stop();
  }
}

if (import.meta.main) {
  await imapBench({ messages: Number(Deno.args[0] ?? 10_000) });
}
