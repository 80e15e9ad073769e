/**
 * Drafts: a composition kept as a real message in the Drafts mailbox (flags \Draft \Seen, so IMAP
 * clients see it), with the JSON it was made from kept in its parsed form for editing and sending.
 * Replacing a draft stores the new version and expunges the old one in one write job (one round
 * trip: reads first, then a batch that re-checks them, store/optimistic.ts). A large request is
 * kept in a blob beside the message rather than in its row (DRAFT_INLINE_BYTES).
 */
import { parsedOfRow } from "../crypt/sealed_rows.ts";
import { and, eq } from "drizzle-orm";
import type { DraftRequest, SendRequest, SendResponse } from "../../schemas/api_send.ts";
import type { AuthContext } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import { AppError, notFound } from "../errors.ts";
import { sha256Hex } from "../crypto.ts";
import { assertStep, rawSql, schema } from "../store/store.ts";
import { retryStale } from "../store/optimistic.ts";
import { assertMaySendAs, composeRaw, mailboxIdByRole, named, sendMessage } from "./send.ts";
import { purgeRows, purgeStatements, sealedStoreJob } from "./message_store.ts";
import { blobBytes, ownedBlobStatements } from "./blob_chunks.ts";
import { recoveryOn } from "./recovery_sql.ts";

export interface DraftView {
  id: number;
  draft: DraftRequest;
  updatedAt: string;
}

/**
 * Most UTF-8 bytes of a draft's request kept in its message row's parsed JSON. A larger one —
 * attachments ride in it as base64, text and HTML may each be 10 MiB — is stored as a blob of
 * its own (1 MiB rows, blob_chunks.ts) that the row names (`draft_sha256`): Cloudflare D1
 * refuses rows of 2 MB or more (issue 16, item 4), and the row would otherwise hold the
 * attachments a second time beside the raw message.
 */
export const DRAFT_INLINE_BYTES = 64 * 1024;

/** The request as the row keeps it: inline when small, else its JSON bytes and their digest. */
async function draftRequestBlob(
  req: DraftRequest,
): Promise<{ inline: true } | { inline: false; bytes: Uint8Array; sha: string }> {
  const json = JSON.stringify(req);
  if (json.length * 3 <= DRAFT_INLINE_BYTES) return { inline: true };
  const bytes = new TextEncoder().encode(json);
  if (bytes.byteLength <= DRAFT_INLINE_BYTES) return { inline: true };
  return { inline: false, bytes, sha: await sha256Hex(bytes) };
}

async function writeDraft(
  deps: Deps,
  auth: AuthContext,
  req: DraftRequest,
  replaces?: number,
): Promise<DraftView> {
  const from = named(req.from);
  await assertMaySendAs(deps.store.db, auth, from.address);
  const { raw, parsed } = await composeRaw(
    deps,
    req as SendRequest,
    from.address.split("@").pop()!,
  );
  const sha = await sha256Hex(raw);
  const request = await draftRequestBlob(req);
  const draftsBox = await mailboxIdByRole(deps.store.db, auth.accountId, "drafts");
  const now = deps.clock.now();
  const saved = await retryStale(async () => {
    const old = await purgeRows(
      deps.store.db,
      auth.accountId,
      replaces === undefined ? [] : [replaces],
    );
    if (replaces !== undefined && old.length === 0) throw notFound("draft");
    const account = (await rawSql(deps.store.db).get<{ quota: number; used: number }>(
      "SELECT quota_bytes AS quota, used_bytes AS used FROM accounts WHERE id = ?",
      [auth.accountId],
    ))!;
    const freed = old.reduce((n, r) => n + Number(r.size), 0);
    if (account.quota > 0 && account.used - freed + raw.byteLength > account.quota) {
      throw new AppError(507, "quota_exceeded", "your mailbox is full: the draft cannot be stored");
    }
    const job = await sealedStoreJob(deps.store, {
      accountId: auth.accountId,
      mailboxId: draftsBox,
      blobSha256: sha,
      size: raw.byteLength,
      parsed: request.inline ? { ...parsed, draft: req } : parsed,
      flags: { draft: true, seen: true },
      internalDate: now,
      quotaGuard: true,
    });
    // The old version goes first (its bytes make room); the new one must go in, or nothing does.
    const own = (bytes: Uint8Array, digest: string) =>
      ownedBlobStatements(deps.store, auth.accountId, bytes, digest);
    const statements = [...purgeStatements(auth.accountId, old), ...await own(raw, sha)];
    if (!request.inline) statements.push(...await own(request.bytes, request.sha));
    const at = statements.length;
    statements.push(...job.statements, assertStep("changes() = 1"));
    if (!request.inline) {
      // The row the job just stored: its mailbox's newest UID, in this same write job.
      statements.push({
        sql: `UPDATE messages SET draft_sha256 = ? WHERE mailbox_id = ?
          AND uid = (SELECT uid_next - 1 FROM mailboxes WHERE id = ?)`,
        args: [request.sha, draftsBox, draftsBox],
      });
    }
    const outcome = job.decode(await deps.store.batch(statements), at);
    if ("refused" in outcome) throw new Error("a refused draft was kept"); // asserted above
    return outcome;
  });
  deps.bus.notify(auth.accountId);
  return { id: saved.id, draft: req, updatedAt: new Date(now).toISOString() };
}

export async function getDraft(deps: Deps, auth: AuthContext, id: number): Promise<DraftView> {
  const draftsBox = await mailboxIdByRole(deps.store.db, auth.accountId, "drafts");
  const [row] = await deps.store.db.select().from(schema.messages).where(and(
    eq(schema.messages.id, id),
    eq(schema.messages.accountId, auth.accountId),
    eq(schema.messages.mailboxId, draftsBox),
  ));
  if (!row) throw notFound("draft");
  const draft = row.draftSha256
    ? await storedRequest(deps, row.draftSha256)
    : (await parsedOfRow<{ draft?: DraftRequest }>(deps.store.db, auth.accountId, row.parsed))
      .draft;
  if (!draft) throw notFound("draft");
  return { id: row.id, draft, updatedAt: new Date(row.internalDate).toISOString() };
}

/** A large draft's request, from the blob its row names. */
async function storedRequest(deps: Deps, sha256: string): Promise<DraftRequest> {
  const [blob] = await deps.store.db.select().from(schema.blobs)
    .where(eq(schema.blobs.sha256, sha256));
  if (!blob) throw new Error(`draft request blob ${sha256} is missing`);
  return JSON.parse(new TextDecoder().decode(await blobBytes(deps.store.db, blob)));
}

export const createDraft = (deps: Deps, auth: AuthContext, req: DraftRequest) =>
  writeDraft(deps, auth, req);

export async function replaceDraft(deps: Deps, auth: AuthContext, id: number, req: DraftRequest) {
  await getDraft(deps, auth, id);
  return await writeDraft(deps, auth, req, id);
}

export async function deleteDraft(deps: Deps, auth: AuthContext, id: number): Promise<void> {
  await getDraft(deps, auth, id);
  await retryStale(async () => {
    const rows = await purgeRows(deps.store.db, auth.accountId, [id]);
    if (rows.length === 0) throw notFound("draft");
    await deps.store.batch(
      purgeStatements(auth.accountId, rows, { recover: recoveryOn(deps.config) }),
    );
  });
  deps.bus.notify(auth.accountId);
}

/** Sends a draft; the draft is removed in the same transaction that accepts the message. */
export async function sendDraft(deps: Deps, auth: AuthContext, id: number): Promise<SendResponse> {
  const { draft } = await getDraft(deps, auth, id);
  if (draft.to.length + draft.cc.length + draft.bcc.length === 0) {
    throw new AppError(422, "validation_failed", "the draft has no recipients", [
      { path: "to", message: "at least one recipient is required" },
    ]);
  }
  const rows = await purgeRows(deps.store.db, auth.accountId, [id]);
  if (rows.length === 0) throw notFound("draft");
  let sent;
  try {
    sent = await sendMessage(deps, auth, draft as SendRequest, {
      // In the send's own job: the draft goes, unless it changed or went since it was read.
      job: { first: purgeStatements(auth.accountId, rows), last: () => Promise.resolve([]) },
    });
  } catch (e) {
    // A concurrent send or delete got there first (the whole job was undone): say so.
    if (e instanceof AppError && e.status === 409) await getDraft(deps, auth, id);
    throw e;
  }
  // An account's own send always keeps its Sent copy (sentCopy is not turned off here).
  return { ...sent, id: sent.id! };
}
