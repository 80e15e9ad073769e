/**
 * The ManageSieve session state machine (RFC 5804), with no sockets: the server hands it whole
 * commands (lines and literals already assembled, parse.ts) and carries out the actions it
 * returns (send, TLS upgrade, close). Non-authenticated state: CAPABILITY, STARTTLS (section
 * 2.2; the capabilities are sent again after the handshake), AUTHENTICATE with PLAIN or LOGIN,
 * with or without an initial response (section 2.1; refused with ENCRYPT-NEEDED before TLS
 * unless configured, as the IMAP and POP3 servers here refuse plaintext logins), NOOP and
 * LOGOUT. Once authenticated, the script commands (session_scripts.ts) and UNAUTHENTICATE
 * (section 2.14.1). Too many bad commands or failed logins end the session with BYE.
 */
import { isMechanism, SaslExchange } from "../smtp/sasl.ts";
import { Replies } from "../smtp/reply.ts";
import type { SieveAccount, SieveBackend, SieveCapabilities } from "./backend.ts";
import { type Token, tokenize } from "./parse.ts";
import { bye, capabilities, no, ok } from "./reply.ts";
import { scriptCommand } from "./session_scripts.ts";
import { type Action, send, type SessionContext } from "./session_types.ts";

export type { Action };

export interface SieveSessionConfig {
  /** The IMPLEMENTATION capability, e.g. "Postern ManageSieve". */
  implementation?: string;
  /** A certificate is there: STARTTLS may be offered. */
  tlsAvailable: boolean;
  /** The connection is already encrypted. */
  tlsActive: boolean;
  /** Allow AUTHENTICATE before TLS (RFC 5804 section 2.1 wants TLS first; off by default). */
  allowPlaintextAuth: boolean;
  maxAuthFailures?: number;
  maxBadCommands?: number;
}

export type SieveState = "nonauth" | "auth" | "closed";

/** Largest literal accepted before authentication (a SASL response is far smaller). */
export const PREAUTH_LITERAL_OCTETS = 8192;

export class ManageSieveSession {
  state: SieveState = "nonauth";
  tls: boolean;
  #sasl?: SaslExchange;
  #account?: SieveAccount;
  #caps?: SieveCapabilities;
  #bad = 0;
  #authFailures = 0;

  constructor(
    readonly config: SieveSessionConfig,
    readonly backend: SieveBackend,
    readonly clientIp: string,
  ) {
    this.tls = config.tlsActive;
  }

  /** Section 1.7: the server greets with its capabilities, then OK. */
  async greeting(): Promise<Action[]> {
    return await this.#capabilityReply("Postern ManageSieve ready.", () => [
      send(bye("the mail service is unavailable, try again later", "TRYLATER")),
      { type: "close" },
    ]);
  }

  /** The largest literal the next command may carry: a script once authenticated. */
  get literalLimit(): number {
    return this.state === "auth" && this.#caps ? this.#caps.maxScriptBytes : PREAUTH_LITERAL_OCTETS;
  }

  /** A line over the length limit: consumed and refused. */
  lineTooLong(): Action[] {
    this.#sasl = undefined;
    return this.#badCommand("line too long");
  }

  /** A literal over `literalLimit` whose octets were read and dropped. */
  literalTooLarge(command: string): Action[] {
    if (this.#sasl) {
      this.#sasl = undefined;
      return [send(no("authentication response too long"))];
    }
    if (this.state === "auth" && /^(PUTSCRIPT|CHECKSCRIPT)$/i.test(command)) {
      return [send(no("the script is larger than the server allows", "QUOTA/MAXSIZE"))];
    }
    return this.#badCommand("literal too large");
  }

  /** After the TLS handshake (section 2.2): the capabilities again, then OK. */
  async tlsStarted(): Promise<Action[]> {
    this.tls = true;
    return await this.#capabilityReply("TLS negotiation successful.", () => [
      send(bye("the mail service is unavailable, try again later", "TRYLATER")),
      { type: "close" },
    ]);
  }

  /** The connection ended: the account session ends with it. */
  async end(): Promise<void> {
    this.state = "closed";
    const account = this.#account;
    this.#account = undefined;
    await account?.close();
  }

  /** One whole command (its lines and literals as the client sent them, last CRLF removed). */
  async handleCommand(bytes: Uint8Array): Promise<Action[]> {
    if (this.state === "closed") return [];
    const parsed = tokenize(bytes);
    if (this.#sasl) return await this.#saslResponse(parsed.ok ? parsed.tokens : undefined);
    if (!parsed.ok) return this.#badCommand(parsed.error);
    const [head, ...args] = parsed.tokens;
    if (head?.type !== "atom") return this.#badCommand("expected a command name");
    const command = head.value;
    switch (command) {
      case "CAPABILITY":
        if (args.length > 0) return this.#badCommand("CAPABILITY takes no arguments");
        return await this.#capabilityReply(
          "Capability completed.",
          () => [send(no("the mail service is unavailable, try again later", "TRYLATER"))],
        );
      case "LOGOUT":
        // Section 2.3: the server answers OK and closes the connection.
        await this.end();
        return [send(ok("Logout completed.")), { type: "close" }];
      case "NOOP":
        return this.#noop(args);
    }
    if (this.state === "nonauth") return await this.#nonAuth(command, args);
    if (command === "UNAUTHENTICATE") {
      if (args.length > 0) return this.#badCommand("UNAUTHENTICATE takes no arguments");
      // Section 2.14.1: back to the non-authenticated state; the connection stays open.
      const account = this.#account;
      this.#account = undefined;
      this.state = "nonauth";
      await account?.close();
      return [send(ok())];
    }
    if (command === "STARTTLS" || command === "AUTHENTICATE") {
      return [send(no("already authenticated"))];
    }
    const context: SessionContext = {
      account: this.#account!,
      capabilities: this.#caps!,
      bad: (reason) => this.#badCommand(reason),
    };
    return await scriptCommand(context, command, args) ?? this.#badCommand("unknown command");
  }

  // Section 2.11: NOOP with a string echoes it in a TAG response code.
  #noop(args: Token[]): Action[] {
    if (args.length > 1 || (args.length === 1 && args[0].type !== "string")) {
      return this.#badCommand("NOOP takes one optional string");
    }
    const tag = args[0]?.type === "string" ? args[0].value : undefined;
    return [send(ok("Done", tag === undefined ? undefined : { tag }))];
  }

  get #plaintextOk(): boolean {
    return this.tls || this.config.allowPlaintextAuth;
  }

  async #capabilityReply(done: string, failed: () => Action[]): Promise<Action[]> {
    let caps: SieveCapabilities;
    try {
      caps = await this.backend.capabilities();
    } catch {
      return failed();
    }
    this.#caps = caps;
    const text = capabilities({
      implementation: this.config.implementation ?? "Postern ManageSieve",
      sasl: this.state === "auth" ? undefined : this.#plaintextOk ? ["PLAIN", "LOGIN"] : [],
      sieve: caps.extensions,
      startTls: this.state === "nonauth" && this.config.tlsAvailable && !this.tls,
      maxRedirects: caps.maxRedirects,
      notify: caps.notify,
      owner: this.state === "auth" ? this.#account?.address : undefined,
      unauthenticate: true,
    }, done);
    return [send(text)];
  }

  async #nonAuth(command: string, args: Token[]): Promise<Action[]> {
    switch (command) {
      case "STARTTLS":
        if (args.length > 0) return this.#badCommand("STARTTLS takes no arguments");
        if (!this.config.tlsAvailable || this.tls) return [send(no("TLS is not available"))];
        return [send(ok("Begin TLS negotiation now.")), { type: "startTls" }];
      case "AUTHENTICATE":
        return await this.#authenticate(args);
      case "UNAUTHENTICATE":
        return [send(no("not authenticated"))];
      case "LISTSCRIPTS":
      case "GETSCRIPT":
      case "PUTSCRIPT":
      case "CHECKSCRIPT":
      case "SETACTIVE":
      case "DELETESCRIPT":
      case "RENAMESCRIPT":
      case "HAVESPACE":
        return this.#badCommand("authenticate first");
      default:
        return this.#badCommand("unknown command");
    }
  }

  async #authenticate(args: Token[]): Promise<Action[]> {
    const [mech, initial, ...rest] = args;
    if (mech?.type !== "string" || (initial && initial.type !== "string") || rest.length > 0) {
      return this.#badCommand('usage: AUTHENTICATE "PLAIN" [initial-response]');
    }
    const name = mech.value.toUpperCase();
    if (!isMechanism(name)) return [send(no("unsupported authentication mechanism"))];
    // Section 2.1 and RFC 2595 section 2.1: no password over a connection anyone can read.
    if (!this.#plaintextOk) {
      return [send(no("authentication requires TLS: use STARTTLS first", "ENCRYPT-NEEDED"))];
    }
    const [exchange, step] = SaslExchange.start(
      name,
      initial?.type === "string" ? initial.value : undefined,
    );
    return await this.#saslStep(exchange, step);
  }

  async #saslResponse(tokens: Token[] | undefined): Promise<Action[]> {
    const exchange = this.#sasl!;
    this.#sasl = undefined;
    // Section 2.1: the client answers each challenge with one string; "*" cancels.
    if (!tokens || tokens.length !== 1 || tokens[0].type !== "string") {
      return [send(no("malformed authentication response"))];
    }
    if (tokens[0].value === "*") return [send(no("authentication cancelled"))];
    return await this.#saslStep(exchange, exchange.next(tokens[0].value));
  }

  async #saslStep(
    exchange: SaslExchange,
    step: ReturnType<SaslExchange["next"]>,
  ): Promise<Action[]> {
    if (step.type === "challenge") {
      this.#sasl = exchange;
      // Section 2.1: a challenge is a string holding base64 (empty for PLAIN).
      return [send(`"${step.challenge}"\r\n`)];
    }
    if (step.type === "error") {
      if (step.reply === Replies.authFailed) return this.#failed();
      return [send(no(step.reply.text ?? "malformed authentication response"))];
    }
    return await this.#login(step.username, step.password);
  }

  async #login(username: string, password: string): Promise<Action[]> {
    let result;
    try {
      result = await this.backend.login(username, password, this.clientIp);
      // The limits the script commands enforce (the greeting normally fetched them already).
      this.#caps ??= await this.backend.capabilities();
    } catch {
      return [send(no("the mail service is unavailable, try again later", "TRYLATER"))];
    }
    if (!result.ok) {
      if (result.reason === "locked") {
        return [send(no("too many failed logins, try again later", "TRYLATER"))];
      }
      return this.#failed();
    }
    this.#account = result.account;
    this.state = "auth";
    // Section 2.1: without a SASL security layer the capabilities are not sent again.
    return [send(ok("Logged in."))];
  }

  #failed(): Action[] {
    this.#authFailures++;
    const reply = send(no("authentication failed"));
    if (this.#authFailures < (this.config.maxAuthFailures ?? 3)) return [reply];
    return [reply, send(bye("too many failed logins")), { type: "close" }];
  }

  #badCommand(reason: string): Action[] {
    this.#bad++;
    if (this.#bad >= (this.config.maxBadCommands ?? 10)) {
      return [send(bye("too many invalid commands")), { type: "close" }];
    }
    return [send(no(reason))];
  }
}
