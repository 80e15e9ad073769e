/**
 * Test support for the SMTP session: a fake backend, and `Wire`, a stand-in for the socket server
 * that splits the byte stream into lines or content exactly as the server must (honouring
 * `consumed`, dropping bytes read before a TLS handshake), so tests read as C:/S: transcripts.
 */
import assert from "node:assert/strict";
import type {
  AuthResult,
  DeliveryResult,
  Envelope,
  Recipient,
  SmtpBackend,
  Verdict,
} from "./backend.ts";
import type { ByteBudget } from "../net/byte_budget.ts";
import { type Action, type SessionConfig, SmtpSession } from "./session.ts";

export interface Delivered {
  envelope: Envelope;
  text: string;
  bytes: Uint8Array;
}

export class FakeBackend implements SmtpBackend {
  localDomains = new Set(["example.test"]);
  users = new Set(["alice@example.test", "bob@example.test", "postmaster@mx.example.test"]);
  passwords = new Map([["alice@example.test", "sesame"]]);
  delivered: Delivered[] = [];
  authCalls: { username: string; password: string; clientIp: string }[] = [];
  rcptThrows = false;
  authResult?: AuthResult | "throw";
  deliverResult?: DeliveryResult | "throw";
  checkSender?: SmtpBackend["checkSender"];

  checkRecipient(envelope: Envelope, rcpt: Recipient): Promise<Verdict> {
    if (this.rcptThrows) return Promise.reject(new Error("gateway unreachable"));
    const domain = rcpt.address.slice(rcpt.address.lastIndexOf("@") + 1);
    if (envelope.authenticatedAs) return Promise.resolve({ ok: true });
    if (!this.localDomains.has(domain) && !rcpt.address.startsWith("postmaster@")) {
      return Promise.resolve({ ok: false, code: 550, enhanced: "5.7.1", text: "relaying denied" });
    }
    if (!this.users.has(rcpt.address)) {
      return Promise.resolve({ ok: false, code: 550, enhanced: "5.1.1", text: "no such user" });
    }
    return Promise.resolve({ ok: true });
  }

  authenticate(username: string, password: string, clientIp: string): Promise<AuthResult> {
    this.authCalls.push({ username, password, clientIp });
    if (this.authResult === "throw") return Promise.reject(new Error("gateway down"));
    if (this.authResult) return Promise.resolve(this.authResult);
    return Promise.resolve(
      this.passwords.get(username) === password
        ? { ok: true, accountAddress: username }
        : { ok: false },
    );
  }

  async deliver(envelope: Envelope, bytes: Uint8Array): Promise<DeliveryResult> {
    await Promise.resolve(); // a real commit is asynchronous
    if (this.deliverResult === "throw") throw new Error("gateway unreachable");
    if (this.deliverResult) return this.deliverResult;
    this.delivered.push({ envelope, bytes, text: new TextDecoder().decode(bytes) });
    return { code: 250, enhanced: "2.0.0", text: `queued as ${this.delivered.length}` };
  }
}

export const mxConfig: SessionConfig = {
  hostname: "mx.example.test",
  mode: "mx",
  tlsActive: false,
  tlsAvailable: false,
  requireTlsForAuth: true,
  maxMessageBytes: 1000,
  maxRecipients: 5,
};

export const submissionConfig: SessionConfig = {
  ...mxConfig,
  hostname: "smtp.example.test",
  mode: "submission",
  tlsAvailable: true,
};

const encoder = new TextEncoder();

/** Decodes the escapes used by `B:` lines: \r \n \t \0 \\ and \xHH. */
export function unescape(text: string): Uint8Array {
  const s = text.replace(
    /\\(x[0-9a-fA-F]{2}|.)/g,
    (_, e: string) =>
      e[0] === "x"
        ? String.fromCharCode(parseInt(e.slice(1), 16))
        : ({ r: "\r", n: "\n", t: "\t", "0": "\0", "\\": "\\" } as Record<string, string>)[e] ?? e,
  );
  return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
}

/** A fake connection: what the socket server does, minus the socket. */
export class Wire {
  readonly session: SmtpSession;
  /** Server output not yet checked: reply lines and `[action]` markers. */
  readonly output: string[] = [];
  #buf = new Uint8Array(0);

  constructor(
    config: SessionConfig,
    readonly backend = new FakeBackend(),
    clientIp = "192.0.2.7",
    budget?: ByteBudget,
  ) {
    this.session = new SmtpSession(config, backend, {
      clientIp,
      budget: budget && { open: () => budget.open(clientIp) },
    });
    this.#record(this.session.greeting());
  }

  #record(actions: Action[]): void {
    for (const a of actions) {
      if (a.type === "reply") this.output.push(...a.text.replace(/\r\n$/, "").split("\r\n"));
      else if (a.type === "close" || a.type === "startTls") this.output.push(`[${a.type}]`);
      else if (a.type === "pause") this.output.push(`[pause ${a.ms}]`);
      if (a.type === "reply") assert.ok(a.text.endsWith("\r\n"), "replies end with CRLF");
      // RFC 3207 section 4.2: bytes read before the handshake are dropped, never executed.
      if (a.type === "startTls") this.#buf = new Uint8Array(0);
    }
  }

  async send(bytes: Uint8Array): Promise<void> {
    const next = new Uint8Array(this.#buf.length + bytes.length);
    next.set(this.#buf);
    next.set(bytes, this.#buf.length);
    this.#buf = next;
    while (this.#buf.length > 0) {
      const mode = this.session.mode;
      if (mode === "closed" || mode === "tls") {
        this.#buf = new Uint8Array(0);
      } else if (mode === "data" || mode === "bdat") {
        const { actions, consumed } = await this.session.handleData(this.#buf);
        this.#buf = this.#buf.subarray(consumed);
        this.#record(actions);
      } else if (mode === "pause") {
        this.#record(this.session.afterPause(true));
      } else {
        const lf = this.#buf.indexOf(10);
        if (lf < 0) break;
        const end = lf > 0 && this.#buf[lf - 1] === 13 ? lf - 1 : lf;
        const line = this.#buf.subarray(0, end);
        this.#buf = this.#buf.subarray(lf + 1);
        this.#record(await this.session.handleLine(line));
      }
    }
  }

  /** Records actions produced outside `send` (a pause ending, a TLS handshake). */
  record(actions: Action[]): void {
    this.#record(actions);
  }

  /**
   * Runs a transcript. `C: text` sends text + CRLF; `B: bytes` sends escaped bytes as they are;
   * `S: text` expects the next server line (or `[close]`, `[startTls]`, `[pause N]`);
   * `T:` completes a TLS handshake. Ends by checking that no server output is left unread.
   */
  async run(script: string): Promise<void> {
    for (const raw of script.split("\n")) {
      const line = raw.replace(/^\s+/, "");
      if (line === "") continue;
      const kind = line.slice(0, 2);
      const text = line.slice(3);
      if (kind === "C:") await this.send(encoder.encode(text + "\r\n"));
      else if (kind === "B:") await this.send(unescape(text));
      else if (kind === "T:") this.#record(this.session.tlsStarted());
      else if (kind === "S:") {
        assert.ok(this.output.length > 0, `expected "${text}" but the server said nothing more`);
        assert.equal(this.output.shift()!.trimEnd(), text.trimEnd());
      } else throw new Error(`bad transcript line: ${line}`);
    }
    assert.deepEqual(this.output, [], "unexpected server output");
  }
}

/** A wire already past the greeting. */
export async function connect(
  config: SessionConfig,
  backend = new FakeBackend(),
): Promise<Wire> {
  const wire = new Wire(config, backend);
  await wire.run(`S: 220 ${config.hostname} ESMTP`);
  return wire;
}

export const b64 = (s: string) => btoa(s);
