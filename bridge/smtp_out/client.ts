/**
 * One outbound SMTP connection, on nodemailer's SMTPConnection (the chosen SMTP client): EHLO
 * with our host name, STARTTLS (RFC 3207) opportunistically — any certificate, and a plaintext
 * retry when the handshake itself fails (RFC 7435) — or required with a certificate valid for the
 * MX name (MTA-STS enforce, RFC 8461 section 4.2). Several transactions may run over one
 * connection (RSET between them after a failure). Replies come back as code, enhanced status
 * (RFC 3463) and text; connection-level trouble as `SmtpConnectError`.
 */
import { Buffer } from "node:buffer";
import SMTPConnection from "nodemailer/lib/smtp-connection";

export type TlsMode = "opportunistic" | "verify";

export interface ConnectOptions {
  /** The address to connect to (resolved from the MX name). */
  address: string;
  port: number;
  /** The MX host name: SNI and, in "verify" mode, the certificate's required identity. */
  mxName: string;
  /** Our host name, sent with EHLO. */
  clientName: string;
  tls: TlsMode;
  /** Extra trusted CA certificates (PEM) for "verify" mode; tests use a private CA. */
  ca?: string[];
  connectTimeoutMs?: number;
  greetingTimeoutMs?: number;
  socketTimeoutMs?: number;
}

export interface SmtpReply {
  code: number;
  enhanced?: string;
  text: string;
}

/**
 * A transaction's per-recipient outcome; `reply` is the final reply for accepted ones. `stage`
 * says which command the reply answered: a refusal of MAIL FROM is about the sender, of RCPT TO
 * about this recipient, of DATA about the whole transaction (the gateway decides suppression on
 * it: src/transactional/bounce_class.ts).
 */
export interface RecipientReply {
  recipient: string;
  accepted: boolean;
  reply: SmtpReply;
  stage: "mail" | "rcpt" | "data";
}

/** The connection could not be set up or broke: try another host, or defer. */
export class SmtpConnectError extends Error {
  constructor(message: string, readonly reply?: SmtpReply) {
    super(message);
    this.name = "SmtpConnectError";
  }
}

export interface SmtpClient {
  /** TLS is active (STARTTLS done). */
  readonly secure: boolean;
  readonly mxName: string;
  /**
   * One transaction. Replies to MAIL, RCPT and DATA become per-recipient results; a broken
   * connection throws SmtpConnectError (the outcome of the message is then unknown).
   */
  send(mailFrom: string, recipients: string[], message: Uint8Array): Promise<RecipientReply[]>;
  close(): void;
}

/** "550 5.1.1 no such user" → { code: 550, enhanced: "5.1.1", text: "no such user" }. */
export function parseReply(response: string | undefined): SmtpReply | undefined {
  if (!response) return undefined;
  const lines = response.trim().split(/\r?\n/);
  const last = lines[lines.length - 1];
  const m = last.match(/^(\d{3})[ -]?(?:([245]\.\d{1,3}\.\d{1,3})(?:\s|$))?(.*)$/);
  if (!m) return undefined;
  const text = lines.map((l) => l.replace(/^\d{3}[ -]?(?:[245]\.\d{1,3}\.\d{1,3}\s?)?/, ""))
    .join(" ").trim();
  return { code: Number(m[1]), enhanced: m[2], text: text || m[3] };
}

interface NodemailerError extends Error {
  code?: string;
  response?: string;
  responseCode?: number;
  /** The command that was answered: "MAIL FROM", "RCPT TO", "DATA" (or "API", "CONN"…). */
  command?: string;
  recipient?: string;
  rejectedErrors?: NodemailerError[];
}

function connectOnce(options: ConnectOptions, plaintext: boolean): Promise<SMTPConnection> {
  const verify = options.tls === "verify";
  const conn = new SMTPConnection({
    host: options.address,
    port: options.port,
    name: options.clientName,
    secure: false,
    ignoreTLS: plaintext && !verify,
    requireTLS: verify,
    opportunisticTLS: !verify,
    servername: options.mxName,
    connectionTimeout: options.connectTimeoutMs ?? 30_000,
    greetingTimeout: options.greetingTimeoutMs ?? 60_000,
    // RFC 5321 section 4.5.3.2: servers may take minutes to answer DATA's final dot.
    socketTimeout: options.socketTimeoutMs ?? 10 * 60_000,
    socketCloseTimeout: 2_000,
    allowInternalNetworkInterfaces: true,
    tls: verify
      ? {
        rejectUnauthorized: true,
        servername: options.mxName,
        minVersion: "TLSv1.2",
        ...(options.ca ? { ca: options.ca } : {}),
      }
      : { rejectUnauthorized: false, servername: options.mxName },
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    conn.once("error", (e: NodemailerError) => {
      if (settled) return;
      settled = true;
      conn.close();
      reject(e);
    });
    conn.connect((err) => {
      if (settled) return;
      settled = true;
      if (err) {
        conn.close();
        reject(err);
      } else resolve(conn);
    });
  });
}

export async function openSmtpClient(options: ConnectOptions): Promise<SmtpClient> {
  let conn: SMTPConnection;
  try {
    conn = await connectOnce(options, false);
  } catch (e) {
    const err = e as NodemailerError;
    // RFC 7435: a failed opportunistic handshake is retried without TLS, never given up on.
    if (options.tls === "opportunistic" && err.code === "ETLS") {
      try {
        conn = await connectOnce(options, true);
      } catch (e2) {
        throw toConnectError(e2 as NodemailerError, options);
      }
    } else throw toConnectError(err, options);
  }
  return new NodemailerClient(conn, options.mxName);
}

function toConnectError(err: NodemailerError, options: ConnectOptions): SmtpConnectError {
  const where = `${options.mxName} [${options.address}]:${options.port}`;
  return new SmtpConnectError(
    `${where}: ${err.code ?? "error"}: ${err.message}`,
    parseReply(err.response),
  );
}

class NodemailerClient implements SmtpClient {
  private dirty = false;
  private broken?: Error;

  constructor(private readonly conn: SMTPConnection, readonly mxName: string) {
    conn.on("error", (e: Error) => (this.broken = e));
    conn.on("end", () => (this.broken ??= new Error("the server closed the connection")));
  }

  get secure(): boolean {
    return this.conn.secure;
  }

  private reset(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.conn.reset((err) => err ? reject(err) : resolve())
    );
  }

  async send(mailFrom: string, recipients: string[], message: Uint8Array) {
    if (this.broken) throw new SmtpConnectError(this.broken.message);
    if (this.dirty) {
      try {
        await this.reset();
      } catch (e) {
        throw new SmtpConnectError(`RSET failed: ${(e as Error).message}`);
      }
    }
    this.dirty = true;
    const body = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    try {
      const info = await new Promise<{ accepted: string[]; rejectedErrors?: NodemailerError[] }>(
        (resolve, reject) =>
          this.conn.send(
            { from: mailFrom === "" ? false : mailFrom, to: recipients, size: message.byteLength },
            body,
            (err, info) => err ? reject(err) : resolve(info!),
          ),
      );
      this.dirty = false;
      const final = parseReply((info as { response?: string }).response) ??
        { code: 250, text: "accepted" };
      const rejected = new Map(
        (info.rejectedErrors ?? []).map((e) => [e.recipient ?? "", e] as const),
      );
      return recipients.map((recipient) => {
        const err = rejected.get(recipient);
        return err
          ? { recipient, accepted: false, reply: replyOf(err), stage: stageOf(err) }
          : { recipient, accepted: true, reply: final, stage: "data" as const };
      });
    } catch (e) {
      const err = e as NodemailerError;
      if (!["EENVELOPE", "EMESSAGE"].includes(err.code ?? "") || !err.responseCode) {
        this.broken ??= err;
        throw new SmtpConnectError(`${this.mxName}: ${err.code ?? "error"}: ${err.message}`);
      }
      // MAIL FROM refused, every RCPT refused, or the content refused after DATA.
      const perRecipient = new Map(
        (err.rejectedErrors ?? []).map((r) => [r.recipient ?? "", r] as const),
      );
      return recipients.map((recipient) => {
        const answer = perRecipient.get(recipient) ?? err;
        return { recipient, accepted: false, reply: replyOf(answer), stage: stageOf(answer) };
      });
    }
  }

  close(): void {
    if (this.broken) this.conn.close();
    else this.conn.quit();
  }
}

function stageOf(err: NodemailerError): RecipientReply["stage"] {
  return err.command === "MAIL FROM" ? "mail" : err.command === "RCPT TO" ? "rcpt" : "data";
}

function replyOf(err: NodemailerError): SmtpReply {
  return parseReply(err.response) ??
    { code: err.responseCode ?? 451, text: err.message.slice(0, 300) };
}
