/**
 * The POP3 session state machine (RFC 1939), with no sockets: the server feeds it lines and
 * carries out the actions it returns (send, TLS upgrade, close). AUTHORIZATION accepts CAPA
 * (RFC 2449), STLS (RFC 2595 section 4), USER/PASS and AUTH PLAIN (RFC 5034, RFC 4616); both
 * are refused before TLS unless configured (RFC 2595 section 2.1). TRANSACTION numbers the Inbox
 * snapshot taken at login: STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP. Deletions only mark;
 * they are applied at QUIT in the UPDATE state (section 6), never when the connection just drops.
 */
import { decodeBase64Text } from "../smtp/sasl.ts";
import type { Maildrop, Pop3Backend } from "./backend.ts";
import { lineCount, messageNumber, parseCommand } from "./parse.ts";
import { dotStuff, err, multiline, ok, topOf } from "./reply.ts";

export type Action =
  | { type: "send"; data: string | Uint8Array }
  | { type: "startTls" }
  | { type: "close" };

export interface Pop3Config {
  hostname: string;
  /** A certificate is there: STLS may be offered. */
  tlsAvailable: boolean;
  /** The connection is already encrypted (implicit TLS, port 995). */
  tlsActive: boolean;
  /** Allow USER/PASS and AUTH PLAIN over plaintext (RFC 2595 section 2.1: off by default). */
  allowPlaintextAuth: boolean;
  maxAuthFailures?: number;
  maxBadCommands?: number;
  /** How many bytes RETR reads ahead in one gateway call (sequential RETRs cost one call). */
  prefetchBytes?: number;
}

export type Pop3State = "authorization" | "transaction" | "closed";

/**
 * Most messages RETR reads ahead in one gateway call (within `prefetchBytes`): a client reading
 * its maildrop from 1 to n then costs a call per few hundred messages, not per few dozen.
 */
const PREFETCH_MESSAGES = 512;

/**
 * Dovecot's UIDL format (`%08Xu%08Xv`, which Dovecot writes in lower case): UID then
 * UIDVALIDITY, 8 hex digits each, so the two servers' unique-ids have one shape.
 */
export function uidlOf(uid: number, uidValidity: number): string {
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  return hex(uid) + hex(uidValidity);
}

export class Pop3Session {
  state: Pop3State = "authorization";
  /** "sasl" while an AUTH PLAIN exchange waits for the client's response line. */
  mode: "command" | "sasl" = "command";
  tls: boolean;
  #user?: string;
  #authFailures = 0;
  #bad = 0;
  #drop?: Maildrop;
  #deleted = new Set<number>();
  #retrieved = new Set<number>();
  #cache = new Map<number, Uint8Array>();
  /** [count, octets] of the messages not marked deleted; undefined until first asked. */
  #sums?: [number, number];

  constructor(
    readonly config: Pop3Config,
    readonly backend: Pop3Backend,
    readonly clientIp: string,
  ) {
    this.tls = config.tlsActive;
  }

  greeting(): Action[] {
    return [send(ok(`${this.config.hostname} Postern POP3 ready`))];
  }

  get #plaintextOk(): boolean {
    return this.tls || this.config.allowPlaintextAuth;
  }

  /** One line from the client, CRLF removed. */
  async handleLine(line: string): Promise<Action[]> {
    if (this.state === "closed") return [];
    if (this.mode === "sasl") return await this.#saslResponse(line);
    const parsed = parseCommand(line);
    if (!parsed.ok) return this.#badCommand(parsed.error);
    const { verb, args } = parsed.command;
    if (verb === "CAPA") return [send(multiline("Capability list follows", this.#capabilities()))];
    if (verb === "QUIT") return await this.#quit();
    if (verb === "NOOP" && this.state === "transaction") return [send(ok())];
    return this.state === "authorization"
      ? await this.#authorization(verb, args)
      : await this.#transaction(verb, args);
  }

  /** A line over the length limit (RFC 2449 section 4). */
  lineTooLong(): Action[] {
    this.mode = "command";
    return this.#badCommand("line too long");
  }

  /** After the TLS handshake: the session starts over as if newly connected (RFC 2595 4). */
  tlsStarted(): Action[] {
    this.tls = true;
    this.#user = undefined;
    return [];
  }

  /** The connection ended without QUIT: nothing is deleted (RFC 1939 section 6). */
  async end(): Promise<void> {
    this.state = "closed";
    const drop = this.#drop;
    this.#drop = undefined;
    await drop?.close();
  }

  #capabilities(): string[] {
    const caps = ["CAPA", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"];
    if (this.state === "authorization") {
      if (this.#plaintextOk) caps.push("USER", "SASL PLAIN");
      if (this.config.tlsAvailable && !this.tls) caps.push("STLS");
    }
    caps.push("IMPLEMENTATION Postern");
    return caps;
  }

  #badCommand(reason: string): Action[] {
    this.#bad++;
    if (this.#bad >= (this.config.maxBadCommands ?? 20)) {
      return [send(err("too many bad commands, closing")), { type: "close" }];
    }
    return [send(err(reason))];
  }

  async #authorization(verb: string, args: string[]): Promise<Action[]> {
    switch (verb) {
      case "STLS":
        if (!this.config.tlsAvailable || this.tls) return [send(err("STLS not available"))];
        if (args.length > 0) return this.#badCommand("STLS takes no arguments");
        return [send(ok("Begin TLS negotiation")), { type: "startTls" }];
      case "USER":
        if (!this.#plaintextOk) return [send(plaintextRefused)];
        if (args.length !== 1) return this.#badCommand("USER takes one argument");
        this.#user = args[0];
        return [send(ok())];
      case "PASS": {
        if (!this.#plaintextOk) return [send(plaintextRefused)];
        const user = this.#user;
        if (user === undefined) return [send(err("USER first"))];
        this.#user = undefined;
        return await this.#login(user, args[0]);
      }
      case "AUTH":
        if (args.length === 0) return [send(multiline("", ["PLAIN"]))];
        if (args[0].toUpperCase() !== "PLAIN" || args.length > 2) {
          return [send(err("unsupported authentication mechanism"))];
        }
        if (!this.#plaintextOk) return [send(plaintextRefused)];
        if (args.length === 2) return await this.#plain(args[1] === "=" ? "" : args[1]);
        this.mode = "sasl";
        return [send("+ \r\n")];
      case "STAT":
      case "LIST":
      case "UIDL":
      case "RETR":
      case "TOP":
      case "DELE":
      case "RSET":
      case "NOOP":
        return [send(err("not in this state: log in first"))];
      default:
        return this.#badCommand("unknown command");
    }
  }

  async #saslResponse(line: string): Promise<Action[]> {
    this.mode = "command";
    // RFC 5034 section 4: "*" cancels the exchange.
    if (line === "*") return [send(err("authentication cancelled"))];
    return await this.#plain(line);
  }

  // RFC 4616 section 2: [authzid] NUL authcid NUL passwd; no proxy authorisation here.
  async #plain(base64: string): Promise<Action[]> {
    const text = decodeBase64Text(base64);
    const parts = text?.split("\0");
    if (!parts || parts.length !== 3 || parts[1] === "" || parts[2] === "") {
      return [send(err("malformed PLAIN response"))];
    }
    const [authzid, user, password] = parts;
    if (authzid !== "" && authzid.toLowerCase() !== user.toLowerCase()) {
      return this.#failed();
    }
    return await this.#login(user, password);
  }

  #failed(): Action[] {
    this.#authFailures++;
    const reply = send(err("invalid username or password", "AUTH"));
    return this.#authFailures >= (this.config.maxAuthFailures ?? 3)
      ? [reply, { type: "close" }]
      : [reply];
  }

  async #login(user: string, password: string): Promise<Action[]> {
    let result;
    try {
      result = await this.backend.login(user, password, this.clientIp);
    } catch {
      return [send(err("service temporarily unavailable, try again later", "SYS/TEMP"))];
    }
    if (!result.ok) {
      if (result.reason === "locked") {
        return [send(err("too many failed logins, try again later", "LOGIN-DELAY"))];
      }
      return this.#failed();
    }
    this.#drop = result.maildrop;
    this.state = "transaction";
    const [count, size] = this.#totals();
    return [send(ok(`${count} messages (${size} octets)`))];
  }

  /**
   * Messages and octets not marked deleted: summed once per snapshot, then kept up to date by
   * DELE and RSET (a 10,000-message maildrop is not walked again for every STAT and LIST).
   */
  #totals(): [number, number] {
    if (!this.#sums) {
      let count = 0;
      let size = 0;
      for (const m of this.#drop!.messages) {
        if (this.#deleted.has(m.uid)) continue;
        count++;
        size += m.size;
      }
      this.#sums = [count, size];
    }
    return [this.#sums[0], this.#sums[1]];
  }

  /** The message for a number argument, or the error reply. */
  #message(arg: string | undefined) {
    const n = messageNumber(arg);
    const m = n === undefined ? undefined : this.#drop!.messages[n - 1];
    if (!m) return { error: send(err("no such message")) };
    if (this.#deleted.has(m.uid)) return { error: send(err(`message ${n} already deleted`)) };
    return { n: n!, m };
  }

  async #transaction(verb: string, args: string[]): Promise<Action[]> {
    const drop = this.#drop!;
    const listing = (line: (n: number, m: { uid: number; size: number }) => string) => {
      if (args.length > 1) return this.#badCommand("too many arguments");
      if (args.length === 1) {
        const r = this.#message(args[0]);
        return r.error ? [r.error] : [send(ok(line(r.n, r.m)))];
      }
      const lines: string[] = [];
      const messages = drop.messages;
      const deleted = this.#deleted;
      for (let i = 0; i < messages.length; i++) {
        if (deleted.size === 0 || !deleted.has(messages[i].uid)) {
          lines.push(line(i + 1, messages[i]));
        }
      }
      const [count, size] = this.#totals();
      return [send(multiline(`${count} messages (${size} octets)`, lines))];
    };
    switch (verb) {
      case "STAT": {
        const [count, size] = this.#totals();
        return [send(ok(`${count} ${size}`))];
      }
      case "LIST":
        return listing((n, m) => `${n} ${m.size}`);
      case "UIDL": {
        // uidlOf's second half, once per listing rather than per message.
        const validity = uidlOf(0, drop.uidValidity).slice(8);
        return listing((n, m) => `${n} ${m.uid.toString(16).padStart(8, "0")}${validity}`);
      }
      case "RETR":
      case "TOP": {
        if (args.length !== (verb === "RETR" ? 1 : 2)) return this.#badCommand("wrong arguments");
        const lines = verb === "TOP" ? lineCount(args[1]) : undefined;
        if (verb === "TOP" && lines === undefined) return [send(err("invalid line count"))];
        const r = this.#message(args[0]);
        if (r.error) return [r.error];
        let bytes;
        try {
          bytes = await this.#bytes(r.n);
        } catch {
          return [send(err("service temporarily unavailable, try again later", "SYS/TEMP"))];
        }
        if (!bytes) return [send(err(`message ${r.n} is no longer in the mailbox`))];
        if (verb === "TOP") return [send(dotStuff(topOf(bytes, lines!), ok()))];
        this.#cache.delete(r.m.uid);
        this.#retrieved.add(r.m.uid);
        return [send(dotStuff(bytes, ok(`${bytes.byteLength} octets`)))];
      }
      case "DELE": {
        if (args.length !== 1) return this.#badCommand("DELE takes one argument");
        const r = this.#message(args[0]);
        if (r.error) return [r.error];
        this.#deleted.add(r.m.uid);
        if (this.#sums) this.#sums = [this.#sums[0] - 1, this.#sums[1] - r.m.size];
        this.#cache.delete(r.m.uid);
        return [send(ok(`message ${r.n} deleted`))];
      }
      case "RSET": {
        this.#deleted.clear();
        this.#sums = undefined;
        const [count, size] = this.#totals();
        return [send(ok(`maildrop has ${count} messages (${size} octets)`))];
      }
      case "STLS":
      case "USER":
      case "PASS":
      case "AUTH":
        return [send(err("already logged in"))];
      default:
        return this.#badCommand("unknown command");
    }
  }

  /** The bytes of message n, reading ahead so that sequential RETRs cost one call per batch. */
  async #bytes(n: number): Promise<Uint8Array | undefined> {
    const messages = this.#drop!.messages;
    const uid = messages[n - 1].uid;
    const hit = this.#cache.get(uid);
    if (hit) return hit;
    const budget = this.config.prefetchBytes ?? 2_000_000;
    const uids = [uid];
    let bytes = messages[n - 1].size;
    for (let i = n; i < messages.length && uids.length < PREFETCH_MESSAGES; i++) {
      const m = messages[i];
      if (this.#deleted.has(m.uid) || this.#cache.has(m.uid)) continue;
      if (bytes + m.size > budget) break;
      uids.push(m.uid);
      bytes += m.size;
    }
    // Keep what was read ahead unless the cache would outgrow two batches.
    let cached = 0;
    for (const b of this.#cache.values()) cached += b.byteLength;
    if (cached + bytes > 2 * budget) this.#cache.clear();
    const got = await this.#drop!.fetch(uids);
    for (const [u, b] of got) this.#cache.set(u, b);
    return got.get(uid);
  }

  async #quit(): Promise<Action[]> {
    if (this.state !== "transaction") {
      this.state = "closed";
      return [send(ok(`${this.config.hostname} signing off`)), { type: "close" }];
    }
    // RFC 1939 section 6: the UPDATE state removes the messages marked as deleted.
    const drop = this.#drop!;
    let reply: string;
    try {
      await drop.commit([...this.#deleted], [...this.#retrieved]);
      const left = drop.messages.length - this.#deleted.size;
      reply = ok(`${this.config.hostname} signing off (${left} messages left)`);
    } catch {
      reply = err("some deleted messages not removed", "SYS/TEMP");
    }
    await this.end();
    return [send(reply), { type: "close" }];
  }
}

const plaintextRefused = err(
  "plaintext authentication disallowed on non-secure connections: use STLS",
  "AUTH",
);

function send(data: string | Uint8Array): Action {
  return { type: "send", data };
}
