/**
 * The IMAP, POP3 and ManageSieve servers' way into one account's mail: the gateway's
 * mailbox-access API (`/v1/mail-access/...`), mailbox and Sieve routes, called with the account's OWN access token (issued
 * by `/v1/bridge/auth` after the credential check), so the gateway enforces account isolation
 * exactly as for any client. The token is refreshed before it runs out. `fetch` is injectable:
 * `postern serve` calls the app in-process, `postern bridge` goes over HTTP(S).
 */
import type { Mailbox } from "../schemas/api_mail.ts";
import type { BridgeAuthResponse } from "../schemas/bridge.ts";
import {
  type AppendResult,
  type ExpungeResult,
  frameHead,
  type IndexEntry,
  type MailboxChanges,
  type MailboxIndex,
  type MailboxState,
  type Maildrop,
  RAW_FRAMES_TYPE,
  type SearchCriteria,
  type SearchResult,
  type StoreFlagsRequest,
  type StoreFlagsResult,
  type TransferResult,
} from "../schemas/mail_access.ts";
import type { MimeStructure } from "../schemas/mime_structure.ts";
import { readFrames } from "./frame_reader.ts";
import { type FetchLike, GatewayError } from "./gateway_client.ts";

export type { FetchLike };
export { GatewayError };

/** Renew the access token this long before it expires. */
const REFRESH_MARGIN_MS = 60_000;

interface Tokens {
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
}

/** One change from the account's event stream (`/v1/events`), e.g. for IMAP IDLE. */
export interface MailEvent {
  id: number;
  type: string;
  mailboxId: number | null;
  messageId: number | null;
  data: Record<string, unknown>;
}

async function problemOf(res: Response): Promise<GatewayError> {
  let data: Record<string, unknown> = {};
  try {
    data = await res.json();
  } catch { /* not JSON */ }
  return new GatewayError(
    res.status,
    String(data.code ?? "error"),
    String(data.detail ?? res.statusText),
    res.status >= 500 || res.status === 429,
    data,
  );
}

export class MailClient {
  #tokens: Tokens;
  #refreshing?: Promise<void>;

  /** Prefer `MailClient.login`; this takes tokens from an earlier `/v1/bridge/auth`. */
  constructor(
    private readonly baseUrl: string,
    tokens: { accessToken: string; refreshToken: string; expiresIn: number },
    readonly account: { accountId: number; address: string },
    private readonly fetcher: FetchLike = (r) => fetch(r),
    private readonly now: () => number = Date.now,
  ) {
    this.#tokens = {
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      expiresAt: now() + tokens.expiresIn * 1000,
    };
  }

  /**
   * Checks a credential with the bridge key (`/v1/bridge/auth`) and opens a session for that
   * account. Undefined when the credential is wrong; throws GatewayError when locked (429) or
   * the gateway is down.
   */
  static async login(opts: {
    baseUrl: string;
    bridgeKey: string;
    username: string;
    secret: string;
    clientIp: string;
    protocol: "imap" | "pop3" | "managesieve";
    fetcher?: FetchLike;
  }): Promise<MailClient | undefined> {
    const fetcher = opts.fetcher ?? ((r: Request) => fetch(r));
    const res = await call(fetcher, new URL("/v1/bridge/auth", opts.baseUrl), {
      method: "POST",
      headers: { authorization: `Bearer ${opts.bridgeKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        username: opts.username,
        secret: opts.secret,
        clientIp: opts.clientIp,
        protocol: opts.protocol,
        session: true,
      }),
    });
    if (res.status === 401) return undefined;
    if (!res.ok) throw await problemOf(res);
    const body = await res.json() as BridgeAuthResponse;
    if (!body.accessToken || !body.refreshToken || !body.expiresIn) {
      throw new GatewayError(res.status, "bad_response", "the gateway issued no session", true);
    }
    return new MailClient(
      opts.baseUrl,
      {
        accessToken: body.accessToken,
        refreshToken: body.refreshToken,
        expiresIn: body.expiresIn,
      },
      { accountId: body.accountId, address: body.address },
      fetcher,
    );
  }

  /**
   * `login` with its two refusals told apart: "invalid" (a wrong credential) or "locked" (the
   * gateway delays this source, 429). Throws when the gateway is unreachable or failing.
   */
  static async open(
    opts: Parameters<typeof MailClient.login>[0],
  ): Promise<MailClient | "invalid" | "locked"> {
    try {
      return await MailClient.login(opts) ?? "invalid";
    } catch (e) {
      if (e instanceof GatewayError && e.status === 429) return "locked";
      throw e;
    }
  }

  async #refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      const res = await call(this.fetcher, new URL("/v1/auth/refresh", this.baseUrl), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refreshToken: this.#tokens.refreshToken }),
      });
      if (!res.ok) throw await problemOf(res);
      const t = await res.json();
      this.#tokens = {
        accessToken: t.accessToken,
        refreshToken: t.refreshToken,
        expiresAt: this.now() + t.expiresIn * 1000,
      };
    })().finally(() => (this.#refreshing = undefined));
    await this.#refreshing;
  }

  /** One authenticated request; refreshes the token when due and once after a 401. */
  async #request(
    method: string,
    path: string,
    body?: { json?: unknown; bytes?: Uint8Array; contentType?: string },
  ): Promise<Response> {
    if (this.now() > this.#tokens.expiresAt - REFRESH_MARGIN_MS) await this.#refresh();
    for (let attempt = 0;; attempt++) {
      const headers: Record<string, string> = {
        authorization: `Bearer ${this.#tokens.accessToken}`,
      };
      let payload: BodyInit | undefined;
      if (body?.json !== undefined) {
        headers["content-type"] = "application/json";
        payload = JSON.stringify(body.json);
      } else if (body?.bytes) {
        headers["content-type"] = body.contentType ?? "message/rfc822";
        payload = body.bytes as Uint8Array<ArrayBuffer>;
      }
      const res = await call(this.fetcher, new URL(path, this.baseUrl), {
        method,
        headers,
        body: payload,
      });
      if (res.status === 401 && attempt === 0) {
        await res.body?.cancel();
        await this.#refresh();
        continue;
      }
      if (!res.ok) throw await problemOf(res);
      return res;
    }
  }

  async #json<T>(method: string, path: string, json?: unknown): Promise<T> {
    const res = await this.#request(method, path, json === undefined ? undefined : { json });
    return res.status === 204 ? undefined as T : await res.json() as T;
  }

  /**
   * A JSON call to another account-scoped route with this session (ManageSieve's `/v1/sieve`):
   * the answer's body, undefined for 204; a refusal throws GatewayError with the problem's
   * fields in `details`.
   */
  async requestJson<T>(method: string, path: string, json?: unknown): Promise<T> {
    return await this.#json<T>(method, path, json);
  }

  #box(id: number, what: string): string {
    return `/v1/mail-access/mailboxes/${id}/${what}`;
  }

  /** Every mailbox of the account with role (special use), UID state and counts (LIST, STATUS). */
  async mailboxes(): Promise<Mailbox[]> {
    return (await this.#json<{ items: Mailbox[] }>("GET", "/v1/mailboxes")).items;
  }

  /**
   * CREATE: a new mailbox (missing parents too; "/" separates levels), with a special use when
   * `role` is given (409 role_taken when another mailbox holds it).
   */
  async createMailbox(name: string, role?: string): Promise<Mailbox> {
    return await this.#json("POST", "/v1/mailboxes", role ? { name, role } : { name });
  }

  /** RENAME (sub-mailboxes move with it); special-use mailboxes refuse (409 mailbox_protected). */
  async renameMailbox(id: number, name: string): Promise<Mailbox> {
    return await this.#json("PATCH", `/v1/mailboxes/${id}`, { name });
  }

  /** SUBSCRIBE / UNSUBSCRIBE. */
  async setSubscribed(id: number, subscribed: boolean): Promise<Mailbox> {
    return await this.#json("PATCH", `/v1/mailboxes/${id}`, { subscribed });
  }

  /** DELETE; refused (409) for special-use mailboxes and, without `force`, non-empty ones. */
  async deleteMailbox(id: number, force = false): Promise<void> {
    await this.#json("DELETE", `/v1/mailboxes/${id}${force ? "?force=true" : ""}`);
  }

  /** UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, EXISTS, UNSEEN of one mailbox (cheap). */
  async state(mailboxId: number): Promise<MailboxState> {
    return await this.#json("GET", this.#box(mailboxId, "state"));
  }

  /** SELECT: the state and every message (UID, flags, modseq, date, size), all pages joined. */
  async index(mailboxId: number): Promise<{ mailbox: MailboxState; items: IndexEntry[] }> {
    let page = await this.#json<MailboxIndex>("GET", this.#box(mailboxId, "index"));
    const mailbox = page.mailbox;
    const items = page.items;
    while (page.nextAfterUid !== null) {
      page = await this.#json("GET", this.#box(mailboxId, `index?afterUid=${page.nextAfterUid}`));
      items.push(...page.items);
    }
    return { mailbox, items };
  }

  /** POP3 login: the Inbox's state and its messages' UIDs and sizes (two columns), all pages. */
  async maildrop(): Promise<{ mailbox: MailboxState; uids: number[]; sizes: number[] }> {
    let page = await this.#json<Maildrop>("GET", "/v1/mail-access/maildrop");
    const { mailbox, uids, sizes } = page;
    while (page.nextAfterUid !== null) {
      page = await this.#json("GET", `/v1/mail-access/maildrop?afterUid=${page.nextAfterUid}`);
      for (let i = 0; i < page.uids.length; i++) {
        uids.push(page.uids[i]);
        sizes.push(page.sizes[i]);
      }
    }
    return { mailbox, uids, sizes };
  }

  /** Messages changed and UIDs expunged after `sinceModseq` (NOOP/IDLE updates, QRESYNC). */
  async changes(mailboxId: number, sinceModseq: number): Promise<MailboxChanges> {
    return await this.#json("GET", this.#box(mailboxId, `changes?sinceModseq=${sinceModseq}`));
  }

  /** Exact stored bytes of the UID set (BODY[], RFC822, RETR), by UID; absent UIDs left out. */
  async raw(mailboxId: number, uids: string): Promise<Map<number, Uint8Array>> {
    return await this.#frames(mailboxId, uids, "full");
  }

  /** Header blocks (through the empty line) of the UID set (BODY[HEADER], TOP n 0). */
  async headers(mailboxId: number, uids: string): Promise<Map<number, Uint8Array>> {
    return await this.#frames(mailboxId, uids, "header");
  }

  async #frames(mailboxId: number, uids: string, part: "full" | "header") {
    const res = await this.#request("POST", this.#box(mailboxId, "raw"), { json: { uids, part } });
    const frames = await readFrames(res.body);
    if (!frames) throw new GatewayError(200, "bad_response", "truncated frames", true);
    return frames;
  }

  /** MIME structure and envelope per UID (BODYSTRUCTURE, ENVELOPE, BODY[section] offsets). */
  async structure(mailboxId: number, uids: string): Promise<Map<number, MimeStructure>> {
    const r = await this.#json<{ items: { uid: number; structure: MimeStructure }[] }>(
      "POST",
      this.#box(mailboxId, "structure"),
      { uids },
    );
    return new Map(r.items.map((i) => [i.uid, i.structure]));
  }

  /** STORE: add/remove/replace flags on a UID set; `modified` lists UNCHANGEDSINCE failures. */
  async store(mailboxId: number, req: StoreFlagsRequest): Promise<StoreFlagsResult> {
    return await this.#json("POST", this.#box(mailboxId, "flags"), req);
  }

  /** EXPUNGE (every \Deleted message) or UID EXPUNGE (only those in `uids`). */
  async expunge(mailboxId: number, uids?: string): Promise<ExpungeResult> {
    return await this.#json("POST", this.#box(mailboxId, "expunge"), uids ? { uids } : {});
  }

  /** COPY to another mailbox; the target's UIDVALIDITY and [source, new] UID pairs. */
  async copy(mailboxId: number, uids: string, targetMailboxId: number): Promise<TransferResult> {
    return await this.#json("POST", this.#box(mailboxId, "copy"), { uids, targetMailboxId });
  }

  /** MOVE to another mailbox; like copy, and the source UIDs are expunged. */
  async move(mailboxId: number, uids: string, targetMailboxId: number): Promise<TransferResult> {
    return await this.#json("POST", this.#box(mailboxId, "move"), { uids, targetMailboxId });
  }

  /** APPEND the exact bytes with flags and internal date (Unix ms); the new UID. */
  async append(
    mailboxId: number,
    raw: Uint8Array,
    opts: { flags?: string[]; internalDate?: number } = {},
  ): Promise<AppendResult> {
    const q = new URLSearchParams();
    if (opts.flags?.length) q.set("flags", opts.flags.join(" "));
    if (opts.internalDate !== undefined) q.set("internalDate", String(opts.internalDate));
    const res = await this.#request("POST", this.#box(mailboxId, `append?${q}`), { bytes: raw });
    return await res.json();
  }

  /** APPEND of several messages (MULTIAPPEND, RFC 3502): all stored, in order, or none. */
  async appendMany(
    mailboxId: number,
    items: { raw: Uint8Array; flags?: string[]; internalDate?: number }[],
  ): Promise<AppendResult[]> {
    const meta = items.map((m) => ({ flags: m.flags ?? [], internalDate: m.internalDate }));
    const parts = items.flatMap((m, i) => [frameHead(i, m.raw.byteLength), m.raw]);
    const body = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      body.set(p, at);
      at += p.byteLength;
    }
    const q = new URLSearchParams({ meta: JSON.stringify(meta) });
    const res = await this.#request("POST", this.#box(mailboxId, `append-many?${q}`), {
      bytes: body,
      contentType: RAW_FRAMES_TYPE,
    });
    return (await res.json() as { items: AppendResult[] }).items;
  }

  /** The account itself (`/v1/auth/me`): address, quota and bytes used. */
  async me(): Promise<{ address: string; quotaBytes: number; usedBytes: number }> {
    return await this.#json("GET", "/v1/auth/me");
  }

  /** SEARCH: UIDs matching a criteria tree, ascending, with their highest modseq. */
  async search(mailboxId: number, criteria: SearchCriteria): Promise<SearchResult> {
    return await this.#json("POST", this.#box(mailboxId, "search"), { criteria });
  }

  /**
   * The account's change events (`/v1/events`, Server-Sent Events) after `since` (default: from
   * now on), until `signal` aborts; for IMAP IDLE. Reconnecting is the caller's choice.
   */
  async *events(since?: number, signal?: AbortSignal): AsyncGenerator<MailEvent> {
    const res = await this.#request(
      "GET",
      `/v1/events${since === undefined ? "" : `?since=${since}`}`,
    );
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const onAbort = () => void reader.cancel().catch(() => {});
    signal?.addEventListener("abort", onAbort);
    let buffer = "";
    try {
      while (!signal?.aborted) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trim()).join("\n");
          const type = block.match(/^event:\s*(.*)$/m)?.[1];
          if (!data || !type || type === "ready") continue;
          const e = JSON.parse(data);
          yield {
            id: Number(e.id),
            type,
            mailboxId: e.mailboxId ?? null,
            messageId: e.messageId ?? null,
            data: typeof e.data === "string" ? JSON.parse(e.data) : e.data ?? {},
          };
        }
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      await reader.cancel().catch(() => {});
    }
  }

  /** Ends the account session (LOGOUT, QUIT): the token stops working. Never throws. */
  async close(): Promise<void> {
    try {
      const res = await call(this.fetcher, new URL("/v1/auth/logout", this.baseUrl), {
        method: "POST",
        headers: { authorization: `Bearer ${this.#tokens.accessToken}` },
      });
      await res.body?.cancel();
    } catch { /* the session expires by itself */ }
  }
}

async function call(fetcher: FetchLike, url: URL, init: RequestInit): Promise<Response> {
  try {
    return await fetcher(new Request(url, init));
  } catch (e) {
    throw new GatewayError(
      0,
      "unreachable",
      `the gateway is unreachable: ${(e as Error).message}`,
      true,
    );
  }
}
