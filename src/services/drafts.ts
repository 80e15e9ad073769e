/**
 * Drafts: a composition kept as a real message in the Drafts mailbox (flags \Draft \Seen, so IMAP
 * clients see it), with the JSON it was made from kept in its parsed form for editing and sending.
 * Replacing a draft stores the new version and expunges the old one in one transaction.
 */
import { and, eq } from "drizzle-orm";
import type { DraftRequest, SendRequest, SendResponse } from "../../schemas/api_send.ts";
import type { AuthContext } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import { AppError, notFound } from "../errors.ts";
import { sha256Hex } from "../crypto.ts";
import { schema } from "../store/store.ts";
import { assertMaySendAs, composeRaw, mailboxIdByRole, named, sendMessage } from "./send.ts";
import { purgeMessages, putBlob, storeMessage } from "./message_store.ts";

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
  const saved = await deps.store.write(async (tx) => {
    if (replaces !== undefined) await purgeMessages(tx, auth.accountId, [replaces]);
    const [account] = await tx.select().from(schema.accounts).where(
      eq(schema.accounts.id, auth.accountId),
    );
    if (account.quotaBytes > 0 && account.usedBytes + raw.byteLength > account.quotaBytes) {
      throw new AppError(507, "quota_exceeded", "your mailbox is full: the draft cannot be stored");
    }
    await putBlob(tx, raw, sha);
    return await storeMessage(tx, {
      accountId: auth.accountId,
      mailboxId: draftsBox,
      blobSha256: sha,
      size: raw.byteLength,
      parsed: { ...parsed, draft: req },
      flags: { draft: true, seen: true },
      internalDate: now,
    });
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
  await deps.store.write((tx) => purgeMessages(tx, auth.accountId, [id]));
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
  const sent = await sendMessage(deps, auth, draft as SendRequest, {
    alsoInTx: async (tx) => {
      // A concurrent send or delete got there first: roll everything back.
      if (await purgeMessages(tx, auth.accountId, [id]) !== 1) throw notFound("draft");
    },
  });
  // An account's own send always keeps its Sent copy (sentCopy is not turned off here).
  return { ...sent, id: sent.id! };
}
