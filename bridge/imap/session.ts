/**
 * The IMAP session state machine (RFC 3501 sections 3 and 6), with no sockets: the server
 * feeds it complete commands (lines with their literals), SASL response lines and IDLE's DONE,
 * and carries out the actions it returns (responses, the TLS upgrade, closing). It enforces
 * the not-authenticated / authenticated / selected / logout states, LOGINDISABLED before TLS
 * (section 6.2.3), literal limits (a synchronising literal over the limit gets NO [TOOBIG]
 * before a single octet is sent), and the rules for unsolicited EXISTS/EXPUNGE/FETCH updates
 * (section 7.4.1: no EXPUNGE during FETCH, STORE or SEARCH). Command groups live in the
 * session_*.ts helpers; calls are serialised, so pipelined commands are answered in order.
 */
import type { ImapAccount, ImapBackend } from "./backend.ts";
import { ImapError } from "./backend.ts";
import type { Command } from "./command.ts";
import { tagged, untagged } from "./encode.ts";
import { type CommandParts, parseCommand, tagOf } from "./parse.ts";
import { authenticateCommand, loginCommand, saslResponse } from "./session_auth.ts";
import { fetchCommand } from "./session_fetch.ts";
import { idleCommand, idleDone } from "./session_idle.ts";
import { mailboxCommand } from "./session_mailbox.ts";
import { RecentClaims } from "./recent.ts";
import { quotaCommand } from "./session_quota.ts";
import { searchCommand } from "./session_search.ts";
import { sortCommand } from "./session_sort.ts";
import { closeCommand, copyCommand, expungeCommand, storeCommand } from "./session_store.ts";
import { refresh } from "./session_view.ts";
import {
  type Action,
  type ConnectionInfo,
  DEFAULT_LITERAL_BYTES,
  type InputMode,
  type LiteralVerdict,
  type Selected,
  type SessionConfig,
} from "./session_types.ts";

export type {
  Action,
  ConnectionInfo,
  InputMode,
  LiteralVerdict,
  SessionConfig,
} from "./session_types.ts";

type State = "notauth" | "auth" | "selected" | "logout";

const ANY = new Set(["CAPABILITY", "NOOP", "LOGOUT", "ID"]);
const NOT_AUTH = new Set(["STARTTLS", "LOGIN", "AUTHENTICATE"]);
const SELECTED_ONLY = new Set([
  "CHECK",
  "CLOSE",
  "UNSELECT",
  "EXPUNGE",
  "SEARCH",
  "SORT",
  "THREAD",
  "FETCH",
  "STORE",
  "COPY",
  "MOVE",
]);

export class ImapSession {
  readonly config: SessionConfig;
  readonly backend: ImapBackend;
  readonly conn: ConnectionInfo;
  /** Shared with the listener's other sessions when the server passes one in. */
  readonly recentClaims: RecentClaims;
  // State shared with the session_*.ts helpers; the server reads `mode` only.
  mode: InputMode = "command";
  state: State = "notauth";
  tls: boolean;
  account?: ImapAccount;
  selected?: Selected;
  /** CONDSTORE enabled (ENABLE, SELECT (CONDSTORE), or a CONDSTORE-using command). */
  condstore = false;
  /** QRESYNC enabled (RFC 7162 section 3.2.3): expunges are then announced as VANISHED. */
  qresync = false;
  /** Failed LOGIN/AUTHENTICATE attempts on this connection. */
  authFailures = 0;
  /** RFC 5182 `$`: UIDs of the last SEARCH RETURN (SAVE). */
  savedSearch: number[] = [];
  /** The tag and state of an AUTHENTICATE or IDLE in progress. */
  pendingTag?: string;
  /** Set by the server: called when an update should be pushed to an idling client. */
  onPush?: () => void;
  #unwatch?: () => void;
  #errors = 0;
  #out: Action[] = [];
  #tail: Promise<unknown> = Promise.resolve();

  constructor(config: SessionConfig, backend: ImapBackend, conn: ConnectionInfo) {
    this.config = config;
    this.backend = backend;
    this.conn = conn;
    this.tls = config.tlsActive;
    this.recentClaims = config.recentClaims ?? new RecentClaims();
  }

  get loginDisabled(): boolean {
    return !this.tls && !this.config.allowPlaintextAuth;
  }

  /**
   * What this server does, and nothing more (a client takes the list at its word): CONTEXT,
   * UTF8=ACCEPT and IMAP4rev2 itself are not offered.
   */
  capabilities(): string {
    const caps = ["IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "NAMESPACE"];
    if (this.state === "notauth") {
      if (this.config.tlsAvailable && !this.tls) caps.push("STARTTLS");
      caps.push(this.loginDisabled ? "LOGINDISABLED" : "AUTH=PLAIN");
    } else {
      caps.push("UIDPLUS", "MOVE", "UNSELECT", "SPECIAL-USE", "CONDSTORE", "QRESYNC", "CHILDREN");
      caps.push("LIST-EXTENDED", "LIST-STATUS", "STATUS=SIZE", "QUOTA", "QUOTA=RES-STORAGE");
      caps.push("ESEARCH", "SORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "MULTIAPPEND");
      caps.push("BINARY", "SEARCHRES", "CREATE-SPECIAL-USE", "ESORT");
    }
    return caps.join(" ");
  }

  // ------------------------------------------------------------------ output helpers

  send(data: string | Uint8Array): void {
    this.#out.push({ type: "send", data });
  }

  untagged(text: string): void {
    this.send(untagged(text));
  }

  ok(tag: string, text: string, code?: string): void {
    this.send(tagged(tag, "OK", text, code));
  }

  no(tag: string, text: string, code?: string): void {
    this.send(tagged(tag, "NO", text, code));
  }

  bad(tag: string, text: string, code?: string): void {
    this.#errors++;
    this.send(tagged(tag, "BAD", text, code));
  }

  act(action: Action): void {
    this.#out.push(action);
  }

  /**
   * Set by a server that can write during a command: long FETCH responses then go out batch by
   * batch (bounded memory, and the next batch loads while this one is written).
   */
  writer?: (data: string | Uint8Array | readonly Uint8Array[]) => Promise<void>;

  /** Sends pieces at once through `writer` (everything queued before them first), else queues. */
  async sendNow(data: readonly Uint8Array[]): Promise<void> {
    if (!this.writer) return data.forEach((d) => this.send(d));
    const queued = this.#out;
    this.#out = [];
    for (const a of queued) {
      if (a.type === "send") await this.writer(a.data);
      else this.#out.push(a);
    }
    await this.writer(data);
  }

  #flush(): Action[] {
    const out = this.#out;
    this.#out = [];
    if (this.#errors >= (this.config.maxErrors ?? 50) && this.mode !== "closed") {
      out.push({ type: "send", data: untagged("BYE too many errors") }, { type: "close" });
      this.mode = "closed";
    }
    return out;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => {});
    return run;
  }

  // ------------------------------------------------------------------ entry points

  /** The greeting (RFC 3501 section 7.1.1), with capabilities to spare a round trip. */
  greeting(): Action[] {
    this.untagged(`OK [CAPABILITY ${this.capabilities()}] ${this.config.hostname} Postern ready`);
    return this.#flush();
  }

  /**
   * A literal `{size}` / `{size+}` announced at the end of a line of the command that began
   * with `firstLine`; `soFar` octets of literals were already accepted for it.
   */
  literal(firstLine: string, size: number, nonSync: boolean, soFar: number): LiteralVerdict {
    const tag = tagOf(firstLine) ?? "*";
    const words = firstLine.split(" ").map((w) => w.toUpperCase());
    const isAppend = words[1] === "APPEND";
    // The messages of one MULTIAPPEND together fit in one message's limit (held in memory).
    const limit = this.state !== "notauth" && isAppend
      ? this.config.maxMessageBytes
      : this.config.maxLiteralBytes ?? DEFAULT_LITERAL_BYTES;
    if (size + soFar <= limit) {
      return { ok: true, continuation: nonSync ? undefined : "+ Ready for literal data\r\n" };
    }
    this.#errors++;
    // RFC 7888 section 4: a LITERAL+ literal over the limit cannot be refused in time.
    if (nonSync) {
      return {
        ok: false,
        reply: tagged(tag, "BAD", "literal too large", "TOOBIG") +
          untagged("BYE literal too large"),
        close: true,
      };
    }
    return { ok: false, reply: tagged(tag, "NO", "literal too large", "TOOBIG"), close: false };
  }

  /** The server's line reader dropped an overlong command line. */
  lineTooLong(): Action[] {
    this.mode = "closed";
    this.untagged("BAD command line too long");
    this.untagged("BYE command line too long");
    this.act({ type: "close" });
    return this.#flush();
  }

  /** One complete command: its text lines and literal octets. */
  handle(parts: CommandParts): Promise<Action[]> {
    return this.#serial(async () => {
      await this.#command(parts);
      return this.#flush();
    });
  }

  /** One line while `mode` is "sasl" (an AUTHENTICATE response) or "idle" (DONE). */
  handleLine(line: string): Promise<Action[]> {
    return this.#serial(async () => {
      try {
        if (this.mode === "sasl") await saslResponse(this, line);
        else if (this.mode === "idle") await idleDone(this, line);
      } catch (e) {
        this.#failure(this.pendingTag ?? "*", e);
        this.mode = "command";
      }
      return this.#flush();
    });
  }

  /** Updates for an idling client, when `onPush` fired. */
  poll(): Promise<Action[]> {
    return this.#serial(async () => {
      if (this.mode === "idle") {
        try {
          await refresh(this, true);
        } catch { /* the next command reports a broken backend */ }
      }
      return this.#flush();
    });
  }

  /** After the TLS handshake of STARTTLS. */
  tlsStarted(): void {
    this.tls = true;
  }

  /** Called when a watched mailbox may have changed. */
  notifyChange(mailboxId: number | null): void {
    const sel = this.selected;
    if (!sel || (mailboxId !== null && mailboxId !== sel.id)) return;
    sel.dirty = true;
    if (this.mode === "idle") this.onPush?.();
  }

  /** The connection is gone: release the account session. */
  async end(): Promise<void> {
    this.#unwatch?.();
    this.#unwatch = undefined;
    const account = this.account;
    this.account = undefined;
    this.mode = "closed";
    await account?.close();
  }

  /** Called by the auth helpers on success. */
  loggedIn(account: ImapAccount): void {
    this.account = account;
    this.state = "auth";
    this.#unwatch = account.watch((id) => this.notifyChange(id));
  }

  // ------------------------------------------------------------------ dispatch

  async #command(parts: CommandParts): Promise<void> {
    const parsed = parseCommand(parts);
    if (!parsed.ok) {
      this.bad(parsed.tag, parsed.error);
      return;
    }
    const { tag, command } = parsed;
    const name = command.name;
    const allowed = ANY.has(name) ||
      (NOT_AUTH.has(name)
        ? this.state === "notauth"
        : SELECTED_ONLY.has(name)
        ? this.state === "selected"
        : this.state === "auth" || this.state === "selected");
    if (!allowed) {
      this.bad(tag, `${name} is not allowed in the ${stateName(this.state)} state`);
      return;
    }
    try {
      await this.#dispatch(tag, command);
    } catch (e) {
      this.#failure(tag, e);
    }
  }

  #failure(tag: string, e: unknown): void {
    if (e instanceof ImapError) this.no(tag, e.message, e.code);
    else this.no(tag, "temporary failure, try again later", "UNAVAILABLE");
  }

  async #dispatch(tag: string, command: Command): Promise<void> {
    switch (command.name) {
      case "CAPABILITY":
        this.untagged(`CAPABILITY ${this.capabilities()}`);
        break;
      case "NOOP":
      case "CHECK":
        // The client polls for updates (RFC 3501 section 6.1.2): ask the store even if no
        // change notification arrived (an event stream can drop one).
        if (this.selected) this.selected.dirty = true;
        break;
      case "LOGOUT":
        this.untagged("BYE logging out");
        this.ok(tag, "LOGOUT completed");
        this.act({ type: "close" });
        this.state = "logout";
        this.mode = "closed";
        await this.end();
        return;
      case "STARTTLS":
        if (this.tls || !this.config.tlsAvailable) {
          this.bad(tag, this.tls ? "TLS is already active" : "STARTTLS is not available");
          return;
        }
        this.ok(tag, "begin TLS negotiation now");
        this.act({ type: "startTls" });
        return;
      case "LOGIN":
        return await loginCommand(this, tag, command);
      case "AUTHENTICATE":
        return await authenticateCommand(this, tag, command);
      case "ID":
        this.untagged(`ID ("name" "Postern")`);
        break;
      case "ENABLE": {
        const enabled = command.capabilities.filter((c) => c === "CONDSTORE" || c === "QRESYNC");
        if (enabled.length > 0) this.condstore = true;
        // QRESYNC implies CONDSTORE (RFC 7162 section 3.2.3).
        if (enabled.includes("QRESYNC")) this.qresync = true;
        this.untagged(`ENABLED${enabled.map((c) => " " + c).join("")}`);
        break;
      }
      case "NAMESPACE":
        this.untagged(`NAMESPACE (("" "/")) NIL NIL`);
        break;
      case "IDLE":
        return await idleCommand(this, tag);
      case "GETQUOTA":
      case "GETQUOTAROOT":
        await quotaCommand(this, tag, command);
        return;
      case "FETCH":
        await fetchCommand(this, tag, command);
        return;
      case "SEARCH":
        await searchCommand(this, tag, command);
        return;
      case "SORT":
      case "THREAD":
        await sortCommand(this, tag, command);
        return;
      case "STORE":
        await storeCommand(this, tag, command);
        return;
      case "COPY":
      case "MOVE":
        await copyCommand(this, tag, command);
        return;
      case "EXPUNGE":
        await expungeCommand(this, tag, command);
        return;
      case "CLOSE":
      case "UNSELECT":
        await closeCommand(this, tag, command.name === "CLOSE");
        return;
      default:
        await mailboxCommand(this, tag, command);
        return;
    }
    if (this.state === "selected") await refresh(this, true);
    this.ok(tag, `${command.name} completed`);
  }
}

function stateName(state: State): string {
  return state === "notauth" ? "not authenticated" : state === "auth" ? "authenticated" : state;
}
