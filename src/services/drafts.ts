/**
 * Drafts: a composition kept as a real message in the Drafts mailbox (flags \Draft \Seen, so IMAP
 * clients see it), with the JSON it was made from kept in its parsed form for editing and sending.
 * Replacing a draft stores the new version and expunges the old one in one write job (one round
 * trip: reads first, then a batch that re-checks them, store/optimistic.ts).
 */
import { and, eq } from "drizzle-orm";
import type { DraftRequest, SendRequest, SendResponse } from "../../schemas/api_send.ts";
import type { AuthContext } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import { AppError, notFound } from "../errors.ts";
import { sha256Hex } from "../crypto.ts";
import { assertStep, rawSql, schema } from "../store/store.ts";
import { retryStale } from "../store/optimistic.ts";
import { assertMaySendAs, composeRaw, mailboxIdByRole, named, sendMessage } from "./send.ts";
import { purgeRows, purgeStatements, storeMessageJob } from "./message_store.ts";
import { blobStatements } from "./blob_chunks.ts";

export interface DraftView {
  id: number;
  draft: DraftRequest;
  updatedAt: string;
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
    const job = storeMessageJob({
      accountId: auth.accountId,
      mailboxId: draftsBox,
      blobSha256: sha,
      size: raw.byteLength,
      parsed: { ...parsed, draft: req },
      flags: { draft: true, seen: true },
      internalDate: now,
      quotaGuard: true,
    });
    // The old version goes first (its bytes make room); the new one must go in, or nothing does.
    const statements = [...purgeStatements(auth.accountId, old), ...blobStatements(raw, sha)];
    const at = statements.length;
    statements.push(...job.statements, assertStep("changes() = 1"));
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
  const draft = row ? JSON.parse(row.parsed).draft as DraftRequest | undefined : undefined;
  if (!row || !draft) throw notFound("draft");
  return { id: row.id, draft, updatedAt: new Date(row.internalDate).toISOString() };
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
    await deps.store.batch(purgeStatements(auth.accountId, rows));
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
