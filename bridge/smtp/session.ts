/**
 * The SMTP session state machine (RFC 5321 sections 3 and 4.1.4), with no sockets: the server
 * feeds it command lines and content octets and carries out the actions it returns (replies,
 * the TLS upgrade, switching to content mode, closing). It enforces command order, RSET and
 * STARTTLS resets (RFC 3207 section 4.2), AUTH (RFC 4954), limits, and the MX/submission split:
 * unauthenticated mail only for recipients the backend calls local, never an open relay. Calls
 * are serialised, so pipelined commands (RFC 2920) are handled and answered in order.
 */
import type { Envelope, SmtpBackend } from "./backend.ts";
import { MAX_LINE_OCTETS, parseCommand, type SmtpCommand } from "./parse.ts";
import { formatReply, Replies, SmtpError, type SmtpReply } from "./reply.ts";
import type { SaslExchange } from "./sasl.ts";
import { authCommand, authContinue } from "./session_auth.ts";
import {
  bdatCommand,
  bdatFinished,
  dataCommand,
  dataFinished,
  holdContent,
} from "./session_data.ts";
import { mailCommand, rcptCommand } from "./session_mail.ts";
import type {
  Action,
  BdatChunk,
  ConnectionInfo,
  DataResult,
  InputMode,
  SessionConfig,
  Transaction,
} from "./session_types.ts";

export type {
  Action,
  BdatChunk,
  ConnectionInfo,
  DataResult,
  InputMode,
  SessionConfig,
  Transaction,
} from "./session_types.ts";

const decoder = new TextDecoder("utf-8", { fatal: true });

export class SmtpSession {
  readonly config: SessionConfig;
  readonly backend: SmtpBackend;
  readonly conn: ConnectionInfo;
  // The session's state, shared with its helper modules (session_*.ts). A server reads `mode`
  // (which input to feed next) and may log the rest, but never writes any of it.
  mode: InputMode = "command";
  helo?: string;
  esmtp = false;
  tls: boolean;
  authenticatedAs?: string;
  /** Set with `authenticatedAs` when the password was an API key. */
  apiKeyId?: number;
  #tx?: Transaction;
  sasl?: SaslExchange;
  chunk?: BdatChunk;
  #errors = 0;
  #out: Action[] = [];
  #tail: Promise<unknown> = Promise.resolve();

  /** The mail transaction; replacing or ending it gives its content budget back. */
  get tx(): Transaction | undefined {
    return this.#tx;
  }
  set tx(next: Transaction | undefined) {
    if (this.#tx !== next) this.#tx?.hold?.release();
    this.#tx = next;
  }

  constructor(config: SessionConfig, backend: SmtpBackend, conn: ConnectionInfo) {
    this.config = config;
    this.backend = backend;
    this.conn = conn;
    this.tls = config.tlsActive;
  }

  get offersAuth(): boolean {
    return this.config.offerAuth ?? this.config.mode === "submission";
  }

  /** The opening actions: the 220 greeting (RFC 5321 section 4.3.1), or an early-talker pause. */
  greeting(): Action[] {
    if (this.config.earlyTalkerPause && this.config.earlyTalkerPause > 0) {
      this.mode = "pause";
      return [{ type: "pause", ms: this.config.earlyTalkerPause }];
    }
    return [this.#greet()];
  }

  /** After a pause: a client that spoke before the greeting is refused (RFC 5321 4.3.1: 554). */
  afterPause(clientSpoke: boolean): Action[] {
    if (this.mode !== "pause") return [];
    if (!clientSpoke) {
      this.mode = "command";
      return [this.#greet()];
    }
    this.mode = "closed";
    const text = formatReply({ code: 554, enhanced: "5.5.1", text: "talked before the greeting" });
    return [{ type: "reply", text }, { type: "close" }];
  }

  #greet(): Action {
    return {
      type: "reply",
      text: formatReply({ code: 220, text: `${this.config.hostname} ESMTP` }),
    };
  }

  /** One command line (or AUTH response line), without CRLF. */
  handleLine(line: Uint8Array | string): Promise<Action[]> {
    return this.#serial(async () => {
      await this.#line(line);
      return this.#flush();
    });
  }

  /** The server's line reader dropped a line longer than MAX_LINE_OCTETS. */
  lineTooLong(): Promise<Action[]> {
    return this.#serial(() => {
      if (this.mode === "command") {
        this.sasl = undefined;
        this.reply(Replies.lineTooLong);
      }
      return Promise.resolve(this.#flush());
    });
  }

  /** Content octets after `startData` or `expectBdat`. */
  handleData(chunk: Uint8Array): Promise<DataResult> {
    return this.#serial(async () => {
      let consumed = chunk.length;
      if (this.mode === "data" && this.tx?.data) {
        await holdContent(this, this.tx.data.size + chunk.length);
        consumed = this.tx.data.feed(chunk);
        if (this.tx.data.done) {
          this.mode = "command";
          await dataFinished(this);
        }
      } else if (this.mode === "bdat" && this.chunk) {
        if (!this.chunk.failure) await holdContent(this, this.chunk.reader.size + chunk.length);
        consumed = this.chunk.reader.feed(chunk);
        if (this.chunk.reader.remaining === 0) await bdatFinished(this);
      } else if (this.mode !== "closed") {
        throw new Error(`handleData called in ${this.mode} mode`);
      }
      return { actions: this.#flush(), consumed };
    });
  }

  /** The TLS handshake finished: forget everything learnt in plaintext (RFC 3207 section 4.2). */
  tlsStarted(): Action[] {
    this.tls = true;
    this.mode = "command";
    this.helo = undefined;
    this.esmtp = false;
    this.authenticatedAs = undefined;
    this.apiKeyId = undefined;
    this.tx = undefined;
    this.sasl = undefined;
    return [];
  }

  /** Queues a reply; 5xx replies count towards the error limit unless told otherwise. */
  reply(reply: SmtpReply, countsAsError = true): void {
    this.#out.push({ type: "reply", text: formatReply(reply) });
    if (countsAsError && reply.code >= 500 && ++this.#errors >= (this.config.maxErrors ?? 10)) {
      this.#out.push({ type: "reply", text: formatReply(Replies.tooManyErrors) });
      this.close();
    }
  }

  action(action: Action): void {
    this.#out.push(action);
  }

  close(clientQuit = false): void {
    if (this.mode === "closed") return;
    this.mode = "closed";
    this.tx = undefined;
    this.sasl = undefined;
    this.#out.push(clientQuit ? { type: "close", clientQuit } : { type: "close" });
  }

  envelope(): Envelope {
    const tx = this.tx;
    return {
      mode: this.config.mode,
      clientIp: this.conn.clientIp,
      helo: this.helo ?? "",
      tls: this.tls,
      authenticatedAs: this.authenticatedAs,
      ...(this.apiKeyId ? { apiKeyId: this.apiKeyId } : {}),
      mailFrom: tx?.from?.address ?? "",
      params: tx?.params ?? { smtputf8: false },
      rcptTo: tx ? [...tx.rcpts] : [],
    };
  }

  #flush(): Action[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn);
    this.#tail = run.catch(() => {});
    return run;
  }

  async #line(input: Uint8Array | string): Promise<void> {
    if (this.mode === "closed") return;
    // A line read before the TLS handshake is plaintext injection (CVE-2011-0411), and a line
    // before the greeting is an early talker: both end the connection.
    if (this.mode === "tls" || this.mode === "pause") return this.close();
    if (this.mode !== "command") throw new Error(`handleLine called in ${this.mode} mode`);
    if (input.length > MAX_LINE_OCTETS) {
      this.sasl = undefined; // an over-long SASL response ends the exchange too
      return this.reply(Replies.lineTooLong);
    }
    let line: string;
    if (typeof input === "string") line = input;
    else {
      if (input.includes(0)) return this.reply(Replies.nulByte);
      try {
        line = decoder.decode(input);
      } catch {
        return this.reply(Replies.badUtf8);
      }
    }
    if (this.sasl) return await authContinue(this, line);
    const parsed = parseCommand(line, {
      smtputf8: this.tx?.params.smtputf8,
      postmasterDomain: this.config.hostname,
    });
    if (!parsed.ok) {
      this.reply(parsed.reply);
      if (parsed.close) this.close();
      return;
    }
    try {
      await this.#command(parsed.command);
    } catch (error) {
      // The one boundary where the error type becomes a reply; anything else is a local fault.
      this.tx = undefined;
      this.reply(error instanceof SmtpError ? error.reply : Replies.tempLocal);
    }
  }

  async #command(cmd: SmtpCommand): Promise<void> {
    switch (cmd.verb) {
      case "EHLO":
      case "HELO":
        // RFC 5321 section 4.1.4: EHLO/HELO resets any transaction, like RSET.
        this.tx = undefined;
        this.helo = cmd.domain;
        this.esmtp = cmd.verb === "EHLO";
        return this.reply(
          cmd.verb === "EHLO"
            ? { code: 250, text: [`${this.config.hostname} greets ${cmd.domain}`, ...this.#ext()] }
            : { code: 250, text: this.config.hostname },
        );
      case "MAIL":
        return await mailCommand(this, cmd.from, cmd.params);
      case "RCPT":
        return await rcptCommand(this, { address: cmd.to.address, params: cmd.params });
      case "DATA":
        return dataCommand(this);
      case "BDAT":
        return await bdatCommand(this, cmd.size, cmd.last);
      case "RSET": // RFC 5321 section 4.1.1.5: drop the transaction, keep EHLO and AUTH.
        this.tx = undefined;
        return this.reply(Replies.reset);
      case "NOOP":
        return this.reply(Replies.ok);
      case "HELP":
        return this.reply(Replies.help);
      case "VRFY":
        return this.reply(Replies.vrfy);
      case "EXPN":
        return this.reply(Replies.expn);
      case "QUIT": // RFC 5321 section 4.1.1.10
        this.reply(Replies.bye);
        return this.close(true);
      case "STARTTLS":
        return this.#starttls();
      case "AUTH":
        return await authCommand(this, cmd.mechanism, cmd.initialResponse);
    }
  }

  // RFC 5321 section 4.1.1.1 and each extension's RFC: the EHLO keywords.
  #ext(): string[] {
    const ext = [
      "PIPELINING", // RFC 2920
      `SIZE ${this.config.maxMessageBytes}`, // RFC 1870
      "8BITMIME", // RFC 6152
      "BINARYMIME", // RFC 3030
      "CHUNKING", // RFC 3030
      "SMTPUTF8", // RFC 6531
      "ENHANCEDSTATUSCODES", // RFC 2034
      "DSN", // RFC 3461
    ];
    // RFC 3207 section 4.2: STARTTLS is not offered once TLS is active.
    if (this.config.tlsAvailable && !this.tls) ext.push("STARTTLS");
    if (this.offersAuth && (this.tls || !this.config.requireTlsForAuth)) {
      ext.push("AUTH PLAIN LOGIN");
    }
    return ext;
  }

  #starttls(): void {
    if (this.tls) return this.reply(Replies.badSequence("TLS is already active"));
    if (!this.config.tlsAvailable) return this.reply(Replies.tlsUnavailable);
    if (!this.esmtp) return this.reply(Replies.badSequence("send EHLO first"));
    if (this.tx) return this.reply(Replies.badSequence("mail transaction in progress"));
    this.reply(Replies.tlsReady);
    this.mode = "tls";
    this.action({ type: "startTls" });
  }
}
