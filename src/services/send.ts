/**
 * Sending from an account: checks that the sender may use the From address, builds the MIME
 * message (through the MIME port), then in ONE write job stores the Sent copy (unless the
 * caller opts out: transactional sends keep their own record), delivers to
 * local recipients through the inbound pipeline and queues remote recipients in the outbox. The
 * caller is answered only after that commit; a local recipient that does not exist rejects the
 * whole request before anything is written. The job is one batch, one round trip (DESIGN.md
 * "Storage and scale"); a caller's own steps (the send API's record, a sent draft's removal)
 * join it through `options.job`.
 */
import { eq } from "drizzle-orm";
import { parseAddress } from "../../schemas/address.ts";
import type { Base64Content, ComposeInput, NamedAddress, ParsedMail } from "../../schemas/mail.ts";
import { base64Content, contentSize } from "../mime/base64_text.ts";
import { parseHeaderBlock } from "../mime/header_block.ts";
import { composeSimple, composesSimply } from "../mime/compose.ts";
import type { SendRequest, SendResponse } from "../../schemas/api_send.ts";
import type { AuthContext } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { fromBase64Url } from "../crypto.ts";
import type { Queryable, Statement } from "../store/store.ts";
import {
  assertStep,
  dbView,
  isFailedAssertion,
  localCache,
  rawSql,
  readCaches,
  schema,
  type Store,
} from "../store/store.ts";
import { scopeOf, StaleReads } from "../store/read_scope.ts";
import { addressKey, findDomain } from "./accounts.ts";
import { isDomainAdmin } from "./domain_roles.ts";
import { correspondentStatement } from "./spam_reputation.ts";
import {
  deliveryJob,
  isHostPostmaster,
  type PostmasterRoute,
  postmasterRoute,
  prepareDelivery,
  type RecipientResult,
  resolveRecipient,
} from "./delivery.ts";
import { deliveryKeyFor, type Flags, sealedStoreJob, type StoreJob } from "./message_store.ts";
import { blobJob } from "./blob_chunks.ts";
import type { SqlValue } from "./outbox.ts";
import { assertSharpCanCarry } from "./sharp_route.ts";

type RecipientInput = string | { name: string; address: string };

export function named(r: RecipientInput): NamedAddress {
  return typeof r === "string" ? { name: "", address: r } : { name: r.name, address: r.address };
}

function decodeBase64(text: string): Uint8Array {
  // ES2026's decoder skips whitespace and takes missing padding itself, with no copies of the
  // text: a 24 MB attachment went through seven 24 MB strings and one string per octet before.
  const native = (Uint8Array as { fromBase64?: (text: string) => Uint8Array }).fromBase64;
  if (native) {
    try {
      return native.call(Uint8Array, text);
    } catch { /* padding it does not take (say "ab="): the lenient decoder below does */ }
  }
  return fromBase64Url(
    text.replace(/\s+/g, "").replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, ""),
  );
}

/** May this credential put `from` in the From field? Own address, an alias that reaches the
 * account, or (API keys with domains) any address of those local domains while the key's owner
 * administers them (the server, or that domain). */
export async function assertMaySendAs(
  db: Queryable,
  auth: AuthContext,
  from: string,
): Promise<void> {
  const parsed = parseAddress(from);
  if (!parsed.ok) throw new AppError(422, "validation_failed", "invalid From address");
  const { address, domain } = parsed.value;
  if (addressKey(address) === addressKey(auth.address)) return;
  if (auth.sendDomains?.includes(domain)) {
    const local = await findDomain(db, domain);
    if (local && (auth.role === "admin" || await isDomainAdmin(db, auth.accountId, local.id))) {
      return;
    }
  }
  const [alias] = await db.select().from(schema.aliases).where(
    eq(schema.aliases.addressKey, addressKey(address)),
  );
  if (alias) {
    const targets = (JSON.parse(alias.targets) as string[]).map(addressKey);
    if (targets.includes(addressKey(auth.address))) return;
  }
  throw new AppError(403, "sender_not_allowed", `this account may not send as ${address}`);
}

export async function mailboxIdByRole(
  db: Queryable,
  accountId: number,
  role: "sent" | "drafts",
): Promise<number> {
  const read = async () => {
    const box = await rawSql(db).get<{ id: number }>(
      "SELECT id FROM mailboxes WHERE account_id = ? AND role = ?",
      [accountId, role],
    );
    return box ? Number(box.id) : null;
  };
  // With optimistic reads (store/read_scope.ts) and on the embedded file, from the mailbox cache
  // the change counter covers (delivery's mailboxFor does the same).
  const id = scopeOf(db) || localCache(db)
    ? await readCaches(db).mailboxes.get(`${accountId} ${role} only`, read, (v) => v !== null)
    : await read();
  if (id === null) throw new AppError(409, "conflict", `the account has no ${role} mailbox`);
  return id;
}

/** A send request whose attachments may carry their bytes already (an upload, a file fetched by
 * URL), so they are not written out as base64 text only to be decoded again here: for an 18 MB
 * upload that was 24 MB of string and 18 MB of copy on top of the message (issue 17). */
export type SendInput = Omit<SendRequest, "attachments"> & {
  attachments: (Omit<SendRequest["attachments"][number], "content"> & {
    content: string | Uint8Array | Base64Content;
  })[];
};

/** An attachment's base64 `content` decoded; 422 when it is not base64. */
export function attachmentBytes(content: string): Uint8Array {
  try {
    return decodeBase64(content);
  } catch {
    throw new AppError(422, "validation_failed", "an attachment is not valid base64", [
      { path: "attachments", message: "not valid base64" },
    ]);
  }
}

/**
 * An attachment's base64 `content` for the composer: the text itself when it is plain base64
 * (copied into the message re-wrapped, src/mime/base64_text.ts), else decoded here (the decoder
 * above takes more: URL-safe letters, Unicode spaces, odd padding); 422 when it is not base64.
 */
export function attachmentContent(content: string): Uint8Array | Base64Content {
  return base64Content(content) ?? attachmentBytes(content);
}

export async function composeRaw(
  deps: Deps,
  req: SendInput,
  fromDomain: string,
): Promise<{ raw: Uint8Array; messageId: string; parsed: ParsedMail }> {
  const messageId = `<${crypto.randomUUID()}@${fromDomain}>`;
  const attachments = req.attachments.map((a) => ({
    filename: a.filename,
    contentType: a.contentType,
    content: typeof a.content === "string" ? attachmentContent(a.content) : a.content,
    contentId: a.contentId,
  }));
  const date = new Date(deps.clock.now());
  const input: ComposeInput = {
    from: named(req.from),
    to: req.to.map(named),
    cc: req.cc.map(named),
    bcc: req.bcc.map(named),
    replyTo: req.replyTo.map(named),
    subject: req.subject,
    text: req.text,
    html: req.html,
    messageId,
    date,
    inReplyTo: req.inReplyTo,
    references: req.references,
    headers: Object.entries(req.headers).map(([name, value]) => ({ name, value })),
    attachments,
  };
  // Text and HTML alone are composed here (src/mime/compose.ts); attachments go to the port.
  const raw = composesSimply(input)
    ? composeSimple(input, `=_postern_${crypto.randomUUID()}`)
    : await deps.mime.compose(input);
  // We built this message, so its JSON form comes from the request (no second MIME parse);
  // the header list is read back from the bytes so it shows exactly what was written.
  const parsed: ParsedMail = {
    messageId,
    inReplyTo: req.inReplyTo,
    references: req.references ?? [],
    subject: req.subject,
    from: named(req.from),
    to: req.to.map(named),
    cc: req.cc.map(named),
    replyTo: req.replyTo.map(named),
    date: Math.floor(date.getTime() / 1000) * 1000,
    headers: parseHeaderBlock(raw),
    text: req.text,
    html: req.html,
    attachments: attachments.map((a, index) => ({
      index,
      filename: a.filename,
      contentType: a.contentType,
      size: contentSize(a.content),
      ...(a.contentId ? { contentId: a.contentId } : {}),
      disposition: a.contentId ? "inline" as const : "attachment" as const,
    })),
  };
  return { raw, messageId, parsed };
}

/** Splits recipients into local and remote, rejecting unknown local ones (nothing is written). */
async function classify(
  db: Queryable,
  addresses: string[],
  postmaster: PostmasterRoute,
): Promise<{ local: string[]; remote: string[] }> {
  const local: string[] = [];
  const remote: string[] = [];
  const unknown: { path: string; message: string }[] = [];
  for (const address of addresses) {
    const parsed = parseAddress(address);
    if (!parsed.ok) {
      unknown.push({ path: "to", message: `${address}: ${parsed.error}` });
      continue;
    }
    if (
      !await findDomain(db, parsed.value.domain) &&
      !isHostPostmaster(parsed.value.address, postmaster)
    ) {
      remote.push(parsed.value.address);
      continue;
    }
    const targets = await resolveRecipient(db, parsed.value.address, postmaster);
    if (!targets || targets.length === 0) {
      unknown.push({ path: "to", message: `${parsed.value.address}: no such mailbox here` });
    } else local.push(parsed.value.address);
  }
  if (unknown.length > 0) {
    throw new AppError(
      422,
      "no_such_recipient",
      "some local recipients do not exist; nothing was sent",
      unknown,
    );
  }
  return { local, remote };
}

/**
 * `store` with a `db` that reads rows the embedded file's local cache keeps afresh (a view on
 * the same database, store.ts `dbView`; the caches the change counter covers still apply).
 */
function withoutLocalCache(store: Store): Store {
  const db = dbView(store, store.caches);
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "db") return db;
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** What a send answers; `id` is the Sent copy's, null when none was kept. */
export type SendOutcome = Omit<SendResponse, "id"> & { id: number | null };

export interface SendOptions {
  /** Keep a copy in the account's Sent mailbox (the default; it counts against the quota). */
  sentCopy?: boolean;
  /** Flags for the Sent copy (a sent draft keeps none but \Seen). */
  sentFlags?: Flags;
  /** Envelope sender for remote recipients (a VERP return path); default: the From address. */
  envelopeFrom?: string;
  /** Remote recipients are handed to no transport before this time (`send_at`). */
  notBefore?: number;
  /** Set for the run after a job refused what cached reads decided (embedded file). */
  freshReads?: boolean;
  /**
   * The caller's statements, in the same single write job (one
   * round trip, DESIGN.md "Storage and scale"). `first` runs before anything (a claim whose
   * unique constraint stops a concurrent twin); `last` is given the response the job will give
   * (the Sent copy's id is known only as SQL then) and what names the job's outbox rows.
   */
  job?: {
    first?: Statement[];
    last(expected: SendOutcome, refs: SendJobRefs): Promise<
      Statement[]
    >;
  };
}

/** What a send job's last steps can name of its earlier ones. */
export interface SendJobRefs {
  /** The Sent copy's id, as SQL (none when no copy is kept). */
  sentId?: SqlValue;
  blobSha256: string;
  /** The `created_at` of the outbox rows the job queues (indexed with their account). */
  queuedAt: number;
}

/** The Sent copy's id as SQL, for the steps after it in the same job. */
const sentIdSql = (mailboxId: number, deliveryKey: string): SqlValue => ({
  sql: "(SELECT id FROM messages WHERE mailbox_id = ? AND delivery_key = ?)",
  args: [mailboxId, deliveryKey],
});

/**
 * Every check a send makes before it writes, and the message it composes: the sender may use
 * From, local recipients exist, SHARP can carry it, it fits. Test sends (transactional/
 * test_mode.ts) stop here, so they are refused exactly when a live send would be.
 */
export async function checkedMessage(deps: Deps, auth: AuthContext, req: SendInput) {
  const { db } = deps.store;
  const from = named(req.from);
  await assertMaySendAs(db, auth, from.address);
  const fromDomain = from.address.slice(from.address.lastIndexOf("@") + 1);
  const all = [...new Set([...req.to, ...req.cc, ...req.bcc].map((r) => named(r).address))];
  const { local, remote } = await classify(db, all, postmasterRoute(deps.config));
  await assertSharpCanCarry(deps, from.address, remote);
  const { raw, messageId, parsed } = await composeRaw(deps, req, fromDomain);
  if (raw.byteLength > deps.config.maxMessageBytes) {
    throw new AppError(
      413,
      "message_too_large",
      `the message exceeds ${deps.config.maxMessageBytes} bytes`,
    );
  }
  return { from, all, local, remote, raw, messageId, parsed };
}

export async function sendMessage(
  deps: Deps,
  auth: AuthContext,
  req: SendInput,
  options: SendOptions = {},
): Promise<SendOutcome> {
  const { store } = deps;
  // A test key's mail is never delivered: the send API records it (transactional/test_mode.ts);
  // every other way here (sending a draft) is refused rather than delivering for real.
  if (auth.testMode) {
    throw new AppError(
      403,
      "forbidden",
      "a test API key only records mail, through POST /v1/emails (and its batch and the " +
        "compatible APIs); it cannot send drafts",
    );
  }
  // From here the store expects this send's write job: concurrent sends share one commit.
  const queued = store.expectWrite();
  try {
    return await composeAndSend(deps, auth, req, options, queued);
  } finally {
    queued();
  }
}

/** `sendMessage` once the store expects its job; `queued` tells it the job is in the queue. */
async function composeAndSend(
  deps: Deps,
  auth: AuthContext,
  req: SendInput,
  options: SendOptions,
  queued: () => void,
): Promise<SendOutcome> {
  const { store } = deps;
  const sentCopy = options.sentCopy ?? true;
  const { from, all, local, remote, raw, messageId, parsed } = await checkedMessage(
    deps,
    auth,
    req,
  );
  const prepared = await prepareDelivery(deps, {
    raw,
    mailFrom: from.address,
    recipients: local,
    source: "api",
    parsed,
  });
  const sentBox = sentCopy ? await mailboxIdByRole(store.db, auth.accountId, "sent") : undefined;
  // The same key the delivery computed from the same Message-ID and bytes (a send has no trace
  // fields): not hashed twice.
  const sentKey = prepared.deliveryKey || await deliveryKeyFor(messageId, prepared.sha);
  const sentParsed = { ...prepared.parsed, envelope: { from: from.address, recipients: all } };
  const outbound = {
    accountId: auth.accountId,
    blobSha256: prepared.sha,
    messageIdHeader: messageId,
    mailFrom: options.envelopeFrom ?? from.address,
    recipients: remote,
    now: prepared.now,
    notBefore: options.notBefore,
  };
  const sentInput = sentBox === undefined ? undefined : {
    accountId: auth.accountId,
    mailboxId: sentBox,
    blobSha256: prepared.sha,
    size: raw.byteLength,
    parsed: sentParsed,
    flags: options.sentFlags ?? { seen: true },
    internalDate: prepared.now,
    deliveryKey: sentKey,
  };
  /** Refuses the send when the Sent copy would not fit (read on `q`). */
  const checkSentRoom = async (q: Queryable) => {
    const fresh = (await rawSql(q).get<{ quota: number; used: number }>(
      "SELECT quota_bytes AS quota, used_bytes AS used FROM accounts WHERE id = ?",
      [auth.accountId],
    ))!;
    if (fresh.quota > 0 && fresh.used + raw.byteLength > fresh.quota) {
      throw new AppError(
        507,
        "quota_exceeded",
        "your mailbox is full: the Sent copy cannot be stored",
      );
    }
  };

  // One write job: reads first (above), then every write in one round trip, each step
  // re-checking in SQL what the reads decided (storeMessageJob's guards, assertStep). The quota
  // is left to the job's guard, which every send passes but the one that fills the mailbox: when
  // it refuses, `checkSentRoom` says why (with optimistic reads, in the request's second run
  // with fresh reads: store/read_scope.ts), instead of a read before every send.
  const optimistic = scopeOf(store.db) !== undefined;
  const blob = await blobJob(store, raw, prepared.sha, auth.accountId);
  const statements: Statement[] = [
    ...options.job?.first ?? [],
    ...blob.statements,
  ];
  let sentJob: { job: StoreJob; at: number } | undefined;
  const sentId = sentBox === undefined ? undefined : sentIdSql(sentBox, sentKey);
  if (sentInput) {
    const job = await sealedStoreJob(store, { ...sentInput, quotaGuard: true });
    sentJob = { job, at: statements.length };
    statements.push(...job.statements, assertStep(`${sentId!.sql} IS NOT NULL`, sentId!.args));
  }
  const delivery = await deliveryJob(store.db, deps, prepared, {
    outbound,
    messageRef: sentId,
    blobWritten: true,
    assertStored: true,
    // A copy to oneself must fit beside the Sent copy the same job stores first.
    reserved: sentInput && { accountId: auth.accountId, bytes: raw.byteLength },
  });
  const deliveredAt = statements.length;
  statements.push(...delivery.statements);
  // Who the account writes to earns a spam reputation bonus (issue 21 item 1).
  const known = correspondentStatement(auth.accountId, [...local, ...remote], prepared.now);
  if (known) statements.push(known);
  if (options.job) {
    statements.push(
      ...await options.job.last(
        sendResponse(null, messageId, delivery.expected.results, remote),
        { sentId, blobSha256: prepared.sha, queuedAt: prepared.now },
      ),
    );
  }
  let results;
  try {
    const committed = store.batch(statements);
    queued();
    results = await committed;
  } catch (e) {
    await blob.discard().catch(() => {});
    // The quota filled between the reads and the write: nothing of the job was kept.
    if (isFailedAssertion(e)) {
      if (optimistic) throw new StaleReads();
      // The embedded file's cached reads (an account's usage may be behind, so the job's guard
      // decided what a fresh read would have): once more with every read fresh.
      if (!options.freshReads && localCache(store.db)) {
        const fresh = { ...deps, store: withoutLocalCache(store) };
        return await sendMessage(fresh, auth, req, { ...options, freshReads: true });
      }
      if (sentInput) await checkSentRoom(store.db);
      throw new AppError(409, "conflict", "the mailbox changed while sending; try again");
    }
    throw e;
  }
  const sent = sentJob?.job.decode(results, sentJob.at);
  const delivered = delivery.decode(results.slice(deliveredAt));
  notifySent(deps, auth, sentCopy, delivered.touchedAccounts, local, remote, raw.byteLength);
  return sendResponse(
    sent && "id" in sent ? sent.id : null,
    messageId,
    delivered.results,
    remote,
  );
}

/** After the commit: wakes the mailboxes that changed, and logs the send. */
function notifySent(
  deps: Deps,
  auth: AuthContext,
  sentCopy: boolean,
  touchedAccounts: number[],
  local: string[],
  remote: string[],
  size: number,
): void {
  const touched = sentCopy ? [auth.accountId] : [];
  for (const id of new Set([...touched, ...touchedAccounts])) deps.bus.notify(id);
  if (remote.length > 0) deps.bus.notifyQueued(); // the federation worker, without its poll wait
  deps.logger.log("info", "send.accepted", {
    accountId: auth.accountId,
    local: local.length,
    remote: remote.length,
    size,
  });
}

function sendResponse(
  id: number | null,
  messageId: string,
  results: RecipientResult[],
  remote: string[],
): SendOutcome {
  const recipients = [
    ...results.map((r) => ({
      address: r.recipient,
      status: r.status === "rejected"
        ? "rejected" as const
        : r.status === "forwarded"
        ? "queued" as const
        : "delivered" as const,
      ...(r.code ? { code: r.code } : {}),
      ...(r.reason ? { reason: r.reason } : {}),
    })),
    ...remote.map((address) => ({ address, status: "queued" as const })),
  ];
  return { id, messageId, recipients };
}
