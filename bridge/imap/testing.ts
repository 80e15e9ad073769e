/**
 * Test support for the IMAP session: `ImapWire`, a stand-in for the socket server that splits a
 * client byte stream into lines and literals exactly as server.ts does (asking the session
 * before reading a literal), and `transcript`, which runs `C:`/`S:` scripts against it. An
 * `S:` line ending in `…` matches by prefix.
 */
import assert from "node:assert/strict";
import { MemoryBackend } from "./memory_backend.ts";
import { LITERAL_RE } from "./reader.ts";
import { RecentClaims } from "./recent.ts";
import { type Action, ImapSession, type SessionConfig } from "./session.ts";

const enc = new TextEncoder();
const claims = new WeakMap<MemoryBackend, RecentClaims>();
const dec = new TextDecoder();

export const testConfig: SessionConfig = {
  hostname: "imap.example.test",
  tlsActive: false,
  tlsAvailable: true,
  allowPlaintextAuth: true,
  maxMessageBytes: 10_000,
  maxLiteralBytes: 1000,
};

export class ImapWire {
  output = "";
  closed = false;
  tlsStarted = false;
  #input = new Uint8Array();
  #pending: Promise<void> = Promise.resolve();

  constructor(readonly session: ImapSession) {
    session.onPush = () => {
      this.#pending = this.#pending.then(async () => this.#perform(await session.poll()));
    };
  }

  static async open(
    backend: MemoryBackend,
    config: Partial<SessionConfig> = {},
  ): Promise<ImapWire> {
    // Sessions on one backend share \Recent claims, as a listener's sessions do.
    let recentClaims = claims.get(backend);
    if (!recentClaims) claims.set(backend, recentClaims = new RecentClaims());
    const wire = new ImapWire(
      new ImapSession({ ...testConfig, recentClaims, ...config }, backend, {
        clientIp: "192.0.2.1",
      }),
    );
    await wire.#perform(wire.session.greeting());
    return wire;
  }

  #perform(actions: Action[]): void {
    for (const a of actions) {
      if (a.type === "send") {
        this.output += typeof a.data === "string" ? a.data : dec.decode(a.data);
      } else if (a.type === "startTls") {
        this.#input = new Uint8Array(); // RFC 3501 section 6.2.1: no pipelining past STARTTLS
        this.tlsStarted = true;
        this.session.tlsStarted();
      } else this.closed = true;
    }
  }

  #line(): string | undefined {
    const lf = this.#input.indexOf(10);
    if (lf < 0) return undefined;
    const text = dec.decode(this.#input.subarray(0, lf));
    this.#input = this.#input.subarray(lf + 1);
    return text.endsWith("\r") ? text.slice(0, -1) : text;
  }

  // A command whose literal octets have not all arrived yet.
  #parts?: (string | Uint8Array)[];
  #need = 0;
  #soFar = 0;

  /** Sends client bytes and processes every complete command in them. */
  async send(data: string | Uint8Array): Promise<string> {
    await this.#pending;
    const bytes = typeof data === "string" ? enc.encode(data) : data;
    const joined = new Uint8Array(this.#input.length + bytes.length);
    joined.set(this.#input);
    joined.set(bytes, this.#input.length);
    this.#input = joined;
    const start = this.output.length;
    while (!this.closed) {
      if (this.#parts) {
        // Waiting for literal octets, then the line that continues the command.
        if (this.#input.length < this.#need) break;
        const lf = this.#input.indexOf(10, this.#need);
        if (lf < 0) break;
        this.#parts.push(this.#input.slice(0, this.#need));
        this.#input = this.#input.subarray(this.#need);
        this.#parts.push(this.#line()!);
      } else {
        const line = this.#line();
        if (line === undefined) break;
        if (this.session.mode === "sasl" || this.session.mode === "idle") {
          this.#perform(await this.session.handleLine(line));
          continue;
        }
        this.#parts = [line];
        this.#soFar = 0;
      }
      const parts = this.#parts;
      const m = LITERAL_RE.exec(parts[parts.length - 1] as string);
      if (m) {
        const size = Number(m[1]);
        const v = this.session.literal(parts[0] as string, size, m[2] === "+", this.#soFar);
        if (!v.ok) {
          this.output += v.reply;
          if (v.close) this.closed = true;
          this.#parts = undefined;
          continue;
        }
        if (v.continuation) this.output += v.continuation;
        this.#soFar += size;
        this.#need = size;
        continue;
      }
      this.#parts = undefined;
      this.#perform(await this.session.handle(parts));
    }
    await this.#pending;
    this.#drained = this.output.length;
    return this.output.slice(start);
  }

  /** Output produced since the last call (IDLE pushes). */
  async drain(): Promise<string> {
    for (let k = 0; k < 3; k++) {
      await new Promise((r) => setTimeout(r, 0));
      await this.#pending;
    }
    const out = this.output.slice(this.#drained);
    this.#drained = this.output.length;
    return out;
  }
  #drained = 0;
}

/**
 * Runs a script of `C: ` lines (sent with CRLF; consecutive C: lines go together) and `S: `
 * lines (expected output lines, in order; a trailing `…` matches a prefix).
 */
export async function transcript(wire: ImapWire, script: string): Promise<void> {
  const lines = script.split("\n").map((l) => l.trimStart()).filter((l) => l.length > 0);
  let i = 0;
  while (i < lines.length) {
    let client = "";
    while (i < lines.length && lines[i].startsWith("C:")) client += lines[i++].slice(3) + "\r\n";
    const expected: string[] = [];
    while (i < lines.length && lines[i].startsWith("S:")) expected.push(lines[i++].slice(3));
    if (i < lines.length && !lines[i].startsWith("C:") && !lines[i].startsWith("S:")) {
      throw new Error(`bad script line: ${lines[i]}`);
    }
    const out = client ? await wire.send(client) : await wire.drain();
    const got = out.split("\r\n");
    if (got.at(-1) === "") got.pop();
    const ok = got.length === expected.length &&
      expected.every((e, k) => e.endsWith("…") ? got[k].startsWith(e.slice(0, -1)) : got[k] === e);
    assert.ok(
      ok,
      `after:\n${client}\nexpected:\n${expected.join("\n")}\n\ngot:\n${got.join("\n")}`,
    );
  }
}

/** A backend with alice@example.test (password "sesame") and her standard mailboxes. */
export function aliceBackend(): MemoryBackend {
  const backend = new MemoryBackend();
  backend.addAccount("alice@example.test", "sesame");
  backend.addAccount("bob@example.test", "hunter2");
  return backend;
}
