/**
 * Large messages and resident memory (issue 15, item 7): a real `postern serve` receives N
 * concurrent 25 MB messages over SMTP on its MX from one unauthenticated client (a multipart
 * message whose attachment is base64 in 76-character lines, as mail clients send it), then M
 * 24 MB JSON sends through `POST /v1/emails` (one big base64 attachment each, to a local
 * recipient). The server's resident memory (VmRSS from /proc, sampled every 100 ms) is printed
 * idle, at its peak during each phase, and 30 s after the phase ended ("settled"). Every SMTP
 * message must get its 250 and every send its 201; the stored messages are counted through the
 * API. Used by bench/run.ts section (l); prints figures and asserts only that the mail arrived.
 */
import { addAccount, api, fmt, freePort, login, rssMiB, startServer, waitForMx } from "./lib.ts";
import { startZoneDns } from "./smtp.ts";

export interface LargeMessageOptions {
  /** Concurrent SMTP messages (one connection each). */
  smtp: number;
  /** Size of each SMTP message in bytes. */
  smtpBytes: number;
  /** Concurrent JSON sends. */
  json: number;
  /** Size of each JSON request body in bytes (about). */
  jsonBytes: number;
  /** Seconds to wait after a phase before reading the settled figure. */
  settleSeconds: number;
}

const DOMAIN = "postern.localhost";
const RCPT = `rcpt@${DOMAIN}`;
const SENDER = `sender@${DOMAIN}`;
const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pseudo-random base64 lines (incompressible, like a real attachment) of `bytes` in total. */
function base64Lines(bytes: number, seed: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const lines: string[] = [];
  let x = seed * 2654435761 >>> 0;
  let total = 0;
  while (total < bytes) {
    let line = "";
    for (let i = 0; i < 76; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      line += alphabet[(x >>> 16) & 63];
    }
    lines.push(line);
    total += 78;
  }
  return lines.join("\r\n");
}

/** An RFC 5322 multipart message of about `bytes` octets, dot-stuffing-free, CRLF. */
function bigMessage(bytes: number, seed: number): Uint8Array {
  const head = [
    `From: Large Sender <bench@edge.test>`,
    `To: <${RCPT}>`,
    `Subject: large message ${seed}`,
    `Date: ${new Date().toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: <large-${seed}-${crypto.randomUUID()}@edge.test>`,
    `MIME-Version: 1.0`,
    `Content-Type: multipart/mixed; boundary="b1"`,
    ``,
    `--b1`,
    `Content-Type: text/plain; charset=utf-8`,
    ``,
    `A large attachment follows.`,
    `--b1`,
    `Content-Type: application/octet-stream; name="big.bin"`,
    `Content-Transfer-Encoding: base64`,
    `Content-Disposition: attachment; filename="big.bin"`,
    ``,
    ``,
  ].join("\r\n");
  const tail = "\r\n--b1--\r\n";
  return encoder.encode(head + base64Lines(bytes - head.length - tail.length, seed) + tail);
}

/** Reads SMTP replies (multi-line aware) from a connection. */
class ReplyReader {
  #buf = "";
  #decoder = new TextDecoder();
  constructor(private readonly conn: Deno.Conn) {}
  async read(): Promise<string> {
    for (;;) {
      const lines = this.#buf.split("\r\n");
      for (let i = 0; i < lines.length - 1; i++) {
        if (/^\d{3} /.test(lines[i])) {
          this.#buf = lines.slice(i + 1).join("\r\n");
          return lines[i];
        }
      }
      const chunk = new Uint8Array(4096);
      const n = await this.conn.read(chunk);
      if (n === null) throw new Error(`connection closed; pending: ${this.#buf}`);
      this.#buf += this.#decoder.decode(chunk.subarray(0, n));
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** One SMTP transaction; returns the reply to the end of data. */
async function sendSmtp(port: number, message: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const r = new ReplyReader(conn);
    const expect = async (code: string) => {
      const line = await r.read();
      if (!line.startsWith(code)) throw new Error(`expected ${code}, got ${line}`);
      return line;
    };
    await expect("220");
    const step = async (line: string, code: string) => {
      await writeAll(conn, encoder.encode(line + "\r\n"));
      return await expect(code);
    };
    await step("EHLO bench.test", "250");
    await step(`MAIL FROM:<bench@edge.test> SIZE=${message.length}`, "250");
    await step(`RCPT TO:<${RCPT}>`, "250");
    await step("DATA", "354");
    await writeAll(conn, message);
    await writeAll(conn, encoder.encode("\r\n.\r\n"));
    const final = await r.read();
    await writeAll(conn, encoder.encode("QUIT\r\n")).catch(() => {});
    return final;
  } finally {
    conn.close();
  }
}

/** Samples the server's RSS every 100 ms while `work` runs; returns the peak in MiB. */
async function peakDuring(pid: number, work: () => Promise<void>): Promise<number> {
  let peak = rssMiB(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMiB(pid));
  }, 100);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, rssMiB(pid));
}

/** RSS after `seconds` of quiet; prints how much of it is anonymous memory (heaps). */
async function settled(pid: number, seconds: number): Promise<number> {
  await sleep(seconds * 1000);
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (field: string) => Number(status.match(new RegExp(`${field}:\\s+(\\d+)`))?.[1] ?? 0);
  console.log(
    `  (settled: RssAnon ${fmt(kb("RssAnon") / 1024, 0)} MiB, RssFile ` +
      `${fmt(kb("RssFile") / 1024, 0)} MiB)`,
  );
  return rssMiB(pid);
}

async function inboxTotal(url: string, token: string): Promise<number> {
  const boxes = await (await api(url, "GET", "/v1/mailboxes", token)).json();
  const inbox = (boxes.items ?? boxes).find((b: { role: string }) => b.role === "inbox");
  return inbox?.counts?.total ?? -1;
}

/** Section (l) of `deno task bench`. */
export async function largeMessageBench(o: LargeMessageOptions): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postern-bench-large-" });
  const dns = await startZoneDns(dir);
  const mxPort = freePort();
  const server = await startServer(`${dir}/data`, {
    POSTERN_SMTP_PORT: String(mxPort),
    POSTERN_DNS_SERVERS: dns.server,
  });
  try {
    await waitForMx(mxPort);
    const admin = await login(server.url, `admin@${DOMAIN}`, server.adminPassword);
    for (const address of [RCPT, SENDER]) await addAccount(server.url, admin, address);
    const rcptToken = await login(server.url, RCPT, "bench-password-1");
    const senderToken = await login(server.url, SENDER, "bench-password-1");
    const idle = await settled(server.pid, 5);
    console.log(`idle RSS: ${fmt(idle, 0)} MiB`);

    // Phase 1: N concurrent SMTP messages.
    const messages = Array.from({ length: o.smtp }, (_, i) => bigMessage(o.smtpBytes, i + 1));
    const replies: string[] = [];
    const t0 = performance.now();
    const smtpPeak = await peakDuring(server.pid, async () => {
      replies.push(...await Promise.all(messages.map((m) => sendSmtp(mxPort, m))));
    });
    const smtpSeconds = (performance.now() - t0) / 1000;
    const accepted = replies.filter((r) => r.startsWith("250")).length;
    const smtpSettled = await settled(server.pid, o.settleSeconds);
    console.log(
      `SMTP ${o.smtp} × ${fmt(o.smtpBytes / 1e6, 0)} MB concurrent: ${accepted} × 250 in ` +
        `${fmt(smtpSeconds, 1)} s; RSS peak ${fmt(smtpPeak, 0)} MiB, settled ` +
        `${fmt(smtpSettled, 0)} MiB after ${o.settleSeconds} s`,
    );
    for (const r of replies.filter((r) => !r.startsWith("250"))) console.log(`  refused: ${r}`);

    // Phase 2: M concurrent JSON sends with one big base64 attachment each.
    const attachmentBytes = Math.floor(o.jsonBytes * 3 / 4);
    const bodies = Array.from({ length: o.json }, (_, i) =>
      JSON.stringify({
        from: SENDER,
        to: [RCPT],
        subject: `large JSON send ${i}`,
        text: "A large attachment follows.",
        attachments: [{
          filename: "big.bin",
          contentType: "application/octet-stream",
          content: base64Lines(attachmentBytes * 4 / 3, 100 + i).replaceAll("\r\n", ""),
        }],
      }));
    const statuses: number[] = [];
    const t1 = performance.now();
    const jsonPeak = await peakDuring(server.pid, async () => {
      statuses.push(
        ...await Promise.all(bodies.map(async (body) => {
          const res = await fetch(`${server.url}/v1/emails`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${senderToken}`,
              "content-type": "application/json",
            },
            body,
          });
          if (res.status !== 201) console.log(`  send: ${res.status} ${await res.text()}`);
          else await res.body?.cancel();
          return res.status;
        })),
      );
    });
    const jsonSeconds = (performance.now() - t1) / 1000;
    const jsonSettled = o.json > 0 ? await settled(server.pid, o.settleSeconds) : 0;
    if (o.json > 0) {
      console.log(
        `JSON ${o.json} × ${fmt(bodies[0].length / 1e6, 0)} MB concurrent: ` +
          `${statuses.filter((s) => s === 201).length} × 201 in ${
            fmt(jsonSeconds, 1)
          } s; RSS peak ` +
          `${fmt(jsonPeak, 0)} MiB, settled ${fmt(jsonSettled, 0)} MiB after ${o.settleSeconds} s`,
      );
    }
    const stored = await inboxTotal(server.url, rcptToken);
    const expected = accepted + statuses.filter((s) => s === 201).length;
    console.log(
      `stored ${stored} of ${expected} accepted (INBOX count through the API)` +
        (stored === expected ? "" : " — MISMATCH"),
    );
    const hwm = Number(
      Deno.readTextFileSync(`/proc/${server.pid}/status`).match(/VmHWM:\s+(\d+)/)?.[1] ?? 0,
    ) / 1024;
    console.log(`VmHWM (the kernel's peak RSS): ${fmt(hwm, 0)} MiB`);
    if (stored !== expected) throw new Error(`stored ${stored}, accepted ${expected}`);
  } finally {
    await server.stop();
    await dns.stop();
    await Deno.remove(dir, { recursive: true });
  }
}
