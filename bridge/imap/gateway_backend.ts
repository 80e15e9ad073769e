/**
 * The IMAP backend over the gateway: the credential is checked with the bridge key
 * (`/v1/bridge/auth`), and everything after it runs with the account's own session
 * (bridge/mail_client.ts), so the gateway enforces account isolation. Every ImapAccount call
 * is one mailbox-access request for a whole UID set; the account's event stream (`/v1/events`)
 * drives IDLE and the updates other sessions cause. Gateway problems become IMAP response codes
 * (RFC 5530): 404 NONEXISTENT, 409 ALREADYEXISTS or CANNOT, 413 TOOBIG, 507 OVERQUOTA (RFC 9208),
 * 429/5xx UNAVAILABLE.
 */
import type { Mailbox } from "../../schemas/api_mail.ts";
import { formatUidSet } from "../../schemas/mail_access.ts";
import { type FetchLike, GatewayError } from "../gateway_client.ts";
import { MailClient } from "../mail_client.ts";
import {
  type AuthOutcome,
  type CreatableRole,
  type ImapAccount,
  type ImapBackend,
  ImapError,
  type MailboxInfo,
} from "./backend.ts";

/** A gateway refusal as an IMAP NO with a response code; other errors pass through. */
function imapError(e: unknown): unknown {
  if (!(e instanceof GatewayError)) return e;
  if (e.status === 404) return new ImapError("NONEXISTENT", e.message);
  if (e.status === 409) {
    const code = e.code === "already_exists"
      ? "ALREADYEXISTS"
      // RFC 6154 section 3: a special use that cannot be given is USEATTR.
      : e.code === "role_taken"
      ? "USEATTR"
      : "CANNOT";
    return new ImapError(code, e.message);
  }
  if (e.status === 413) return new ImapError("TOOBIG", e.message);
  if (e.status === 400 || e.status === 422) return new ImapError("CANNOT", e.message);
  if (e.status === 403) return new ImapError("NOPERM", e.message);
  // RFC 9208 section 4.3: a store refused for the quota is OVERQUOTA, not a passing failure.
  if (e.status === 507) return new ImapError("OVERQUOTA", e.message);
  return new ImapError("UNAVAILABLE", "the mail store is unavailable, try again later");
}

async function wrap<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw imapError(e);
  }
}

export class GatewayImapBackend implements ImapBackend {
  constructor(
    private readonly baseUrl: string,
    private readonly bridgeKey: string,
    private readonly fetcher?: FetchLike,
    private readonly onError?: (error: unknown) => void,
  ) {}

  async authenticate(username: string, password: string, clientIp: string): Promise<AuthOutcome> {
    let client: MailClient | undefined;
    try {
      client = await MailClient.login({
        baseUrl: this.baseUrl,
        bridgeKey: this.bridgeKey,
        username,
        secret: password,
        clientIp,
        protocol: "imap",
        fetcher: this.fetcher,
      });
    } catch (e) {
      if (e instanceof GatewayError && e.status === 429) {
        return { ok: false, temporary: true, reason: "too many attempts, try again later" };
      }
      if (e instanceof GatewayError && e.temporary) return { ok: false, temporary: true };
      throw e;
    }
    if (!client) return { ok: false };
    return { ok: true, account: new GatewayAccount(client, this.onError) };
  }
}

const info = (m: Mailbox): MailboxInfo => ({
  id: m.id,
  name: m.name,
  role: m.role,
  subscribed: m.subscribed,
  uidValidity: m.uidValidity,
  uidNext: m.uidNext,
  highestModseq: m.highestModseq,
  exists: m.counts.total,
  unseen: m.counts.unread,
  sizeBytes: m.counts.sizeBytes,
});

class GatewayAccount implements ImapAccount {
  readonly address: string;
  #listeners = new Set<(mailboxId: number | null) => void>();
  #events?: AbortController;

  constructor(
    private readonly client: MailClient,
    private readonly onError?: (error: unknown) => void,
  ) {
    this.address = client.account.address;
  }

  async mailboxes(): Promise<MailboxInfo[]> {
    return (await wrap(this.client.mailboxes())).map(info);
  }
  async createMailbox(name: string, role?: CreatableRole): Promise<void> {
    await wrap(this.client.createMailbox(name, role));
  }
  async deleteMailbox(id: number): Promise<void> {
    // RFC 3501 section 6.3.4: DELETE removes the mailbox with its messages.
    await wrap(this.client.deleteMailbox(id, true));
  }
  async renameMailbox(id: number, name: string): Promise<void> {
    await wrap(this.client.renameMailbox(id, name));
  }
  async setSubscribed(id: number, subscribed: boolean): Promise<void> {
    await wrap(this.client.setSubscribed(id, subscribed));
  }
  index(mailboxId: number) {
    return wrap(this.client.index(mailboxId));
  }
  changes(mailboxId: number, sinceModseq: number) {
    return wrap(this.client.changes(mailboxId, sinceModseq));
  }
  raw(mailboxId: number, uids: number[]) {
    return wrap(this.client.raw(mailboxId, formatUidSet(uids)));
  }
  headers(mailboxId: number, uids: number[]) {
    return wrap(this.client.headers(mailboxId, formatUidSet(uids)));
  }
  structure(mailboxId: number, uids: number[]) {
    return wrap(this.client.structure(mailboxId, formatUidSet(uids)));
  }
  store(
    mailboxId: number,
    req: {
      uids: number[];
      op: "add" | "remove" | "replace";
      flags: string[];
      unchangedSince?: number;
    },
  ) {
    return wrap(this.client.store(mailboxId, { ...req, uids: formatUidSet(req.uids) }));
  }
  expunge(mailboxId: number, uids?: number[]) {
    return wrap(this.client.expunge(mailboxId, uids ? formatUidSet(uids) : undefined));
  }
  copy(mailboxId: number, uids: number[], target: number) {
    return wrap(this.client.copy(mailboxId, formatUidSet(uids), target));
  }
  move(mailboxId: number, uids: number[], target: number) {
    return wrap(this.client.move(mailboxId, formatUidSet(uids), target));
  }
  append(mailboxId: number, raw: Uint8Array, opts: { flags: string[]; internalDate?: number }) {
    return wrap(this.client.append(mailboxId, raw, opts));
  }
  appendMany(
    mailboxId: number,
    items: { raw: Uint8Array; flags: string[]; internalDate?: number }[],
  ) {
    return wrap(this.client.appendMany(mailboxId, items));
  }
  search(mailboxId: number, criteria: Parameters<MailClient["search"]>[1]) {
    return wrap(this.client.search(mailboxId, criteria));
  }

  async quota(): Promise<{ usedBytes: number; limitBytes: number }> {
    const me = await wrap(this.client.me());
    return { usedBytes: me.usedBytes, limitBytes: me.quotaBytes };
  }

  watch(listener: (mailboxId: number | null) => void): () => void {
    this.#listeners.add(listener);
    if (!this.#events) this.#follow();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) {
        this.#events?.abort();
        this.#events = undefined;
      }
    };
  }

  /** Follows the event stream while anyone listens, reconnecting with a growing pause. */
  #follow(): void {
    const abort = new AbortController();
    this.#events = abort;
    void (async () => {
      let pause = 500;
      let last: number | undefined;
      while (!abort.signal.aborted) {
        try {
          for await (const e of this.client.events(last, abort.signal)) {
            last = e.id;
            pause = 500;
            for (const l of [...this.#listeners]) l(e.mailboxId);
          }
        } catch (e) {
          if (abort.signal.aborted) return;
          this.onError?.(e);
        }
        if (abort.signal.aborted) return;
        // After a gap, every session re-checks its mailbox.
        for (const l of [...this.#listeners]) l(null);
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, 30_000);
      }
    })();
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    this.#events?.abort();
    this.#events = undefined;
    await this.client.close();
  }
}
