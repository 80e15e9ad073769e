/**
 * The SHARP/1.3 receiving session as a state machine with no sockets: HELLO → MAIL_TO → DATA →
 * EMAIL_CONTENT → END_DATA, one reply per line, with the reference server's reply objects and
 * message texts. The session is over after the final OK or any ERROR (the server then closes).
 * Checks per step: HELLO — protocol string, `server_id` syntax, sender verification by IP
 * (verify_sender.ts); MAIL_TO — address syntax, username syntax, then the hashcash stamp (429,
 * hashcash.ts), and only then domain served here (451) and user exists (550); END_DATA — the
 * message is handed to the backend and OK is sent only after it is stored.
 *
 * Stamp before recipient, unlike the reference server (which answers 451/550 before it looks at
 * the stamp): otherwise anyone learns which users exist without paying any proof of work. A
 * missing or bad stamp gets the same 429 whatever the recipient. A stamp is spent (recorded in
 * the shared table, durably) the moment it passes, and never given back, whatever the session
 * does next: a stamp "released" by a session that delivered nothing could pay for any number of
 * probes, and a paid probe for an unknown user must cost a stamp too.
 *
 * Lock-step: the reference server handles HELLO and MAIL_TO asynchronously, so a line sent before
 * their reply is read in the old state and refused ("Expected HELLO" / "Expected MAIL_TO"). The
 * server reports such early input with `earlyInput()` and the session answers the same way. DATA
 * and EMAIL_CONTENT are answered at once there, and the reference sender itself writes
 * EMAIL_CONTENT and END_DATA together, so input early after those is fine.
 */
import { type ReplayTable, type StampProblem, verifyStamp } from "./hashcash.ts";
import {
  type EmailContent,
  error,
  isValidUsername,
  ok,
  parseLine,
  parseSharpAddress,
  PROTOCOL,
  type SharpCode,
  type SharpReply,
} from "./parse.ts";

export type Step = "HELLO" | "MAIL_TO" | "DATA" | "RECEIVING_DATA" | "closed";

export type RecipientCheck =
  | { ok: true }
  | { ok: false; code: SharpCode; message: string };

/** A message received over SHARP/1.3, ready for hand-in. */
export interface SharpMail {
  /** HELLO's `server_id` as sent (the sender's `user#domain`). */
  serverId: string;
  /** The sender as `user@domain` (lower-cased like the reference server). */
  from: string;
  /** MAIL_TO's address exactly as sent. */
  to: string;
  /** The recipient as `user@domain`. */
  recipient: string;
  content: EmailContent;
  clientIp: string;
  hashcashBits: number;
  receivedAt: Date;
}

export interface SharpBackend {
  /** Is `clientIp` among the addresses of the domain's SHARP hosts? A reason when not. */
  verifySender(
    domain: string,
    clientIp: string,
  ): Promise<{ ok: true } | { ok: false; reason: string }>;
  /** May `recipient` (`user@domain`) receive mail here? */
  checkRecipient(recipient: string): Promise<RecipientCheck>;
  /** Stores the message; resolves only after the commit. */
  deliver(mail: SharpMail): Promise<RecipientCheck>;
}

export interface SharpSessionConfig {
  /** Least hashcash bits accepted (default 18). */
  minBits: number;
  replay: ReplayTable;
  now?: () => number;
}

const STAMP_TEXT: Record<StampProblem, string> = {
  missing: "Missing X-Hashcash header or hashcash field",
  malformed: "Insufficient proof of work. Score: 3 (malformed stamp)",
  resource: "Insufficient proof of work. Score: 3 (stamp is for another address)",
  future: "Insufficient proof of work. Score: 3 (stamp dated in the future)",
  stale: "Insufficient proof of work. Score: 3 (stamp older than 24 hours)",
  replayed: "Insufficient proof of work. Score: 3 (stamp already used)",
  invalid: "Insufficient proof of work. Score: 3 (stamp does not have its bits)",
  weak: "Insufficient proof of work. Score: 3 (too few bits)",
};

export class SharpSession {
  step: Step = "HELLO";
  /** The step the last line was handled in (for lock-step violations). */
  private handledIn: Step = "HELLO";
  private from?: { serverId: string; address: string };
  private to?: { address: string; recipient: string; bits: number };
  private content?: EmailContent;
  private readonly now: () => number;

  constructor(
    private readonly config: SharpSessionConfig,
    private readonly backend: SharpBackend,
    readonly clientIp: string,
  ) {
    this.now = config.now ?? Date.now;
  }

  get closed(): boolean {
    return this.step === "closed";
  }

  private fail(message: string, code: SharpCode = 400): SharpReply {
    this.step = "closed";
    return error(message, code);
  }

  /** Handles one line (blank lines never reach here) and returns its reply. */
  async handleLine(line: string): Promise<SharpReply> {
    if (this.closed) return error("Connection closed");
    this.handledIn = this.step;
    try {
      return await this.handle(line);
    } catch {
      // The reference server's catch-all answer; backends turn outages into 451 themselves.
      return this.fail("Invalid message format or processing error");
    }
  }

  private async handle(line: string): Promise<SharpReply> {
    const parsed = parseLine(line);
    if (!parsed.ok) return this.fail(parsed.message);
    const cmd = parsed.command;
    switch (this.step) {
      case "HELLO": {
        if (cmd.type !== "HELLO") return this.fail("Expected HELLO");
        if (cmd.protocol !== PROTOCOL) {
          return this.fail(`Unsupported protocol version: ${cmd.protocol || "undefined"}`);
        }
        const sender = parseSharpAddress(cmd.serverId);
        if (!sender.ok) return this.fail(`Sender verification failed: ${sender.message}`);
        if (!isValidUsername(sender.value.username)) {
          return this.fail("Invalid username format in server_id.");
        }
        const verified = await this.backend.verifySender(sender.value.domain, this.clientIp);
        if (!verified.ok) return this.fail(`Sender verification failed: ${verified.reason}`);
        this.from = {
          serverId: cmd.serverId,
          address: `${sender.value.username}@${sender.value.domain}`,
        };
        this.step = "MAIL_TO";
        return ok({ protocol: PROTOCOL });
      }
      case "MAIL_TO": {
        if (cmd.type !== "MAIL_TO") return this.fail("Expected MAIL_TO");
        const to = parseSharpAddress(cmd.address);
        if (!to.ok) return this.fail(`Invalid recipient address format: ${to.message}`);
        if (!isValidUsername(to.value.username)) {
          return this.fail("Invalid username format in recipient address.");
        }
        const recipient = `${to.value.username}@${to.value.domain}`;
        // The stamp first (see the module note): nothing about the recipient is told for free.
        let stamp;
        try {
          stamp = await verifyStamp(cmd.hashcash, {
            resource: cmd.address,
            minBits: this.config.minBits,
            now: this.now(),
            replay: this.config.replay,
          });
        } catch {
          // The replay table (the gateway) is unreachable: the sender may try again.
          return this.fail("Temporary failure, try again later", 451);
        }
        if (!stamp.ok) return this.fail(STAMP_TEXT[stamp.problem], 429);
        const check = await this.backend.checkRecipient(recipient);
        if (!check.ok) return this.fail(check.message, check.code);
        this.to = { address: cmd.address, recipient, bits: stamp.bits };
        this.step = "DATA";
        return ok();
      }
      case "DATA":
        if (cmd.type !== "DATA") return this.fail("Expected DATA");
        this.step = "RECEIVING_DATA";
        return ok();
      case "RECEIVING_DATA":
        if (cmd.type === "EMAIL_CONTENT") {
          // A second EMAIL_CONTENT replaces the first (reference server).
          this.content = cmd.content;
          return ok({ message: "Email content received" });
        }
        if (cmd.type === "END_DATA") return await this.endData();
        return this.fail("Expected EMAIL_CONTENT or END_DATA");
      default:
        return this.fail(`Unhandled state: ${this.step}`);
    }
  }

  private async endData(): Promise<SharpReply> {
    const content = this.content ??
      { subject: "", body: "", contentType: "text/plain", htmlBody: null, attachments: [] };
    const result = await this.backend.deliver({
      serverId: this.from!.serverId,
      from: this.from!.address,
      to: this.to!.address,
      recipient: this.to!.recipient,
      content,
      clientIp: this.clientIp,
      hashcashBits: this.to!.bits,
      receivedAt: new Date(this.now()),
    });
    if (!result.ok) return this.fail(result.message, result.code);
    this.step = "closed";
    return ok({ message: "Email processed" });
  }

  /**
   * The client sent more before the reply to the line just handled was written. After HELLO and
   * MAIL_TO that line would have met the old state at the reference server: refuse it the same
   * way (the pending reply is replaced). Undefined when early input is allowed here.
   */
  earlyInput(): SharpReply | undefined {
    if (this.handledIn !== "HELLO" && this.handledIn !== "MAIL_TO") return undefined;
    if (this.closed) return undefined; // the reply is already an ERROR
    return this.fail(`Expected ${this.handledIn}`);
  }

  /** A line over 1 MiB. */
  lineTooLong(): SharpReply {
    return this.fail("Message too large", 413);
  }

  /** The connection's buffer passed 10 MiB. */
  overflow(): SharpReply {
    return this.fail("Maximum message size exceeded");
  }

  /** The connection is gone. Its stamp, if any, stays spent (see the module note). */
  finish(): void {
    this.step = "closed";
  }
}
