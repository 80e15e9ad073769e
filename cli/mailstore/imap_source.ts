/**
 * Reading a legacy IMAP server with imapflow for `postern import imap://…`: the folder list with
 * special-use attributes (RFC 6154; imapflow also recognises common localised names), each folder
 * opened read-only (EXAMINE, RFC 3501 section 6.3.2) so nothing on the source changes, the
 * message index (UID, FLAGS, INTERNALDATE, RFC822.SIZE) after a resume point, and the exact bytes
 * with BODY.PEEK[] (never setting \Seen), fetched in batches bounded by count and size.
 */
import type { ImapFlow } from "imapflow";
import { rootCertificates } from "node:tls";
import { CliError, usageError } from "../args.ts";

export interface ImapSourceOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  /** "tls" implicit TLS; "starttls" required upgrade; "insecure" plaintext. */
  security: "tls" | "starttls" | "insecure";
  /** PEM CA certificates (or a self-signed certificate) trusted besides the system's roots. */
  ca?: string;
  /** Accept any certificate (`--insecure-skip-verify`): encryption without authentication. */
  skipVerify?: boolean;
}

export interface SourceFolder {
  path: string;
  segments: string[];
  specialUse?: string;
}

export interface SourceMessage {
  uid: number;
  size: number;
  flags: string[];
  internalDate: number;
}

/** Parses `imap://USER@HOST[:PORT]` (USER may hold a literal or %40-encoded "@"). */
export function parseImapUrl(
  url: string,
): { user: string; host: string; port?: number; tls: boolean } {
  const m = /^(imaps?):\/\/(.+)@([^@/:]+|\[[^\]]+\])(?::(\d+))?\/?$/i.exec(url);
  if (!m) throw usageError(`expected imap://USER@HOST[:PORT], got ${JSON.stringify(url)}`);
  if (m[2].includes(":")) {
    throw usageError(
      "do not put the password in the URL: use $POSTERN_IMPORT_PASSWORD or --password-stdin",
    );
  }
  const port = m[4] ? Number(m[4]) : undefined;
  if (port !== undefined && (port < 1 || port > 65535)) throw usageError(`bad port ${m[4]}`);
  return {
    user: decodeURIComponent(m[2]),
    host: m[3].replace(/^\[|\]$/g, ""),
    port,
    tls: m[1].toLowerCase() === "imaps",
  };
}

/** Batches of UIDs to fetch together: at most 100 messages or 16 MiB (one big message alone). */
export function batches(
  messages: SourceMessage[],
  maxBytes = 16 << 20,
  maxCount = 100,
): SourceMessage[][] {
  const out: SourceMessage[][] = [];
  let cur: SourceMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    if (cur.length > 0 && (cur.length >= maxCount || bytes + m.size > maxBytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(m);
    bytes += m.size;
  }
  if (cur.length) out.push(cur);
  return out;
}

export class ImapSource {
  private constructor(readonly client: ImapFlow) {}

  static async connect(o: ImapSourceOptions): Promise<ImapSource> {
    // Loaded here, not at the top: the one-file bundle `postern serve` runs from
    // (scripts/build_serve.ts) holds every command, and a static import of this external
    // package would load it (about 190 KB of source, its MIME and charset tables) in every
    // process, serve included.
    const { ImapFlow } = await import("imapflow");
    const client = new ImapFlow({
      host: o.host,
      port: o.port,
      secure: o.security === "tls",
      doSTARTTLS: o.security === "starttls" ? true : o.security === "insecure" ? false : undefined,
      auth: { user: o.user, pass: o.password },
      // imapflow hands `tls` to node:tls for both implicit TLS and STARTTLS; `ca` adds to the
      // default roots only when we add them too (node replaces them otherwise).
      tls: {
        ...(o.ca ? { ca: [...rootCertificates, o.ca] } : {}),
        rejectUnauthorized: !o.skipVerify,
      },
      logger: false,
      disableAutoIdle: true,
    });
    client.on("error", () => {}); // surfaced by the failing command instead
    try {
      await client.connect();
    } catch (e) {
      const err = e as { message: string; responseText?: string; authenticationFailed?: boolean };
      throw new CliError(
        `cannot sign in to ${o.host}:${o.port} as ${o.user}: ${
          err.authenticationFailed ? "authentication failed" : err.responseText ?? err.message
        }`,
      );
    }
    return new ImapSource(client);
  }

  async folders(): Promise<SourceFolder[]> {
    const list = await this.client.list();
    return list
      .filter((f) => !f.flags.has("\\Noselect") && !f.flags.has("\\NonExistent"))
      .map((f) => ({
        path: f.path,
        segments: f.delimiter ? f.path.split(f.delimiter) : [f.path],
        specialUse: f.path.toUpperCase() === "INBOX" ? "\\Inbox" : f.specialUse,
      }));
  }

  /** Opens a folder read-only and returns its UIDVALIDITY; `release` when done. */
  async open(path: string): Promise<{ uidValidity: number; exists: number; release: () => void }> {
    const lock = await this.client.getMailboxLock(path, { readOnly: true });
    const box = this.client.mailbox;
    if (!box) {
      lock.release();
      throw new CliError(`cannot open ${path} on the source`);
    }
    return {
      uidValidity: Number(box.uidValidity),
      exists: box.exists,
      release: () => lock.release(),
    };
  }

  /** The index of the open folder's messages with a UID above `afterUid`. */
  async index(afterUid: number, exists: number): Promise<SourceMessage[]> {
    if (exists === 0) return [];
    const out: SourceMessage[] = [];
    for await (
      const msg of this.client.fetch(`${afterUid + 1}:*`, {
        uid: true,
        flags: true,
        internalDate: true,
        size: true,
      }, { uid: true })
    ) {
      // "N:*" also matches the highest UID when it is below N (RFC 3501 section 6.4.8).
      if (msg.uid <= afterUid) continue;
      out.push({
        uid: msg.uid,
        size: msg.size ?? 0,
        flags: [...(msg.flags ?? [])].filter((f) => f !== "\\Recent"),
        internalDate: new Date(msg.internalDate ?? Date.now()).getTime(),
      });
    }
    return out.sort((a, b) => a.uid - b.uid);
  }

  /** The exact bytes of these UIDs of the open folder (BODY.PEEK[]). */
  async sources(uids: number[]): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>();
    for await (
      const msg of this.client.fetch(uids.join(","), { uid: true, source: true }, { uid: true })
    ) {
      if (msg.source) out.set(msg.uid, new Uint8Array(msg.source));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.client.logout().catch(() => this.client.close());
  }
}
