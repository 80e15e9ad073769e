/**
 * Changing one mailbox on UID sets, each in one transaction with batched statements: STORE
 * (RFC 3501 section 6.4.6; one new modseq per command and RFC 7162 section 3.1.3 UNCHANGEDSINCE),
 * EXPUNGE and UID EXPUNGE (RFC 3501 6.4.3, RFC 4315 2.1), COPY and MOVE with the UID mapping
 * RFC 4315 COPYUID needs (RFC 6851), and APPEND with flags and internal date (RFC 3501 6.3.11,
 * RFC 4315 APPENDUID). Quota is checked before anything is written.
 */
import { eq, sql } from "drizzle-orm";
import {
  type AppendResult,
  type ExpungeResult,
  type StoreFlagsRequest,
  type StoreFlagsResult,
  type TransferResult,
} from "../../schemas/mail_access.ts";
import { sha256Hex } from "../crypto.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import type { Tx } from "../store/store.ts";
import { schema } from "../store/store.ts";
import { requireMailbox } from "./mailboxes.ts";
import {
  allocateUid,
  moveMessages,
  nextModseq,
  purgeMessages,
  putBlob,
  storeMessage,
} from "./message_store.ts";
import { MAX_KEYWORDS_PER_MESSAGE } from "./messages.ts";
import { keywordsOf, rowsInSet, toEntry } from "./mail_access.ts";
import { inList } from "../store/in_list.ts";

const m = schema.messages;
const CHUNK = 400;

type FlagCols = {
  seen: boolean;
  answered: boolean;
  flagged: boolean;
  deleted: boolean;
  draft: boolean;
};
const SYSTEM: Record<string, keyof FlagCols> = {
  "\\seen": "seen",
  "\\answered": "answered",
  "\\flagged": "flagged",
  "\\deleted": "deleted",
  "\\draft": "draft",
};

/** Splits IMAP flags into the system flag columns and keywords (first spelling kept). */
export function splitFlags(flags: string[]): { system: Set<keyof FlagCols>; keywords: string[] } {
  const system = new Set<keyof FlagCols>();
  const keywords: string[] = [];
  const seen = new Set<string>();
  for (const f of flags) {
    const col = SYSTEM[f.toLowerCase()];
    if (col) system.add(col);
    else if (!f.startsWith("\\") && !seen.has(f.toLowerCase())) {
      // RFC 3501 section 2.3.2: keywords compare case-insensitively.
      seen.add(f.toLowerCase());
      keywords.push(f);
    }
  }
  return { system, keywords };
}

function chunks<T>(items: T[], n = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
  return out;
}

export async function storeFlags(
  deps: Deps,
  accountId: number,
  mailboxId: number,
  req: StoreFlagsRequest,
): Promise<StoreFlagsResult> {
  const wanted = splitFlags(req.flags);
  const result = await deps.store.write(async (tx) => {
    const rows = await rowsInSet(tx, accountId, mailboxId, req.uids);
    const modified: number[] = [];
    const groups = new Map<string, { cols: FlagCols; keywords: string; ids: number[] }>();
    const after = new Map<number, (typeof rows)[number]>();
    for (const row of rows) {
      if (req.unchangedSince !== undefined && row.modseq > req.unchangedSince) {
        modified.push(row.uid);
        continue;
      }
      const cols: FlagCols = {
        seen: row.seen,
        answered: row.answered,
        flagged: row.flagged,
        deleted: row.deleted,
        draft: row.draft,
      };
      let keywords = keywordsOf(row.keywords);
      const lower = (list: string[]) => new Set(list.map((k) => k.toLowerCase()));
      if (req.op === "replace") {
        for (const k of Object.keys(cols) as (keyof FlagCols)[]) cols[k] = wanted.system.has(k);
        keywords = [...wanted.keywords];
      } else if (req.op === "add") {
        for (const k of wanted.system) cols[k] = true;
        const have = lower(keywords);
        keywords = keywords.concat(wanted.keywords.filter((k) => !have.has(k.toLowerCase())));
      } else {
        for (const k of wanted.system) cols[k] = false;
        const gone = lower(wanted.keywords);
        keywords = keywords.filter((k) => !gone.has(k.toLowerCase()));
      }
      if (keywords.length > MAX_KEYWORDS_PER_MESSAGE) {
        throw new AppError(422, "validation_failed", "too many keywords on one message", [
          { path: "flags", message: `at most ${MAX_KEYWORDS_PER_MESSAGE} keywords per message` },
        ]);
      }
      const kwJson = JSON.stringify(keywords);
      const same = kwJson === JSON.stringify(keywordsOf(row.keywords)) &&
        (Object.keys(cols) as (keyof FlagCols)[]).every((k) => cols[k] === row[k]);
      if (same) {
        after.set(row.uid, row);
        continue;
      }
      const key = JSON.stringify([cols, kwJson]);
      const group = groups.get(key) ?? { cols, keywords: kwJson, ids: [] };
      group.ids.push(row.id);
      groups.set(key, group);
      after.set(row.uid, { ...row, ...cols, keywords: kwJson });
    }
    let modseq = 0;
    if (groups.size > 0) {
      // One new modseq for the whole command (RFC 7162 section 3.1.3 allows sharing it).
      modseq = await nextModseq(tx, mailboxId);
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const g of groups.values()) {
        for (const ids of chunks(g.ids)) {
          await tx.update(m).set({ ...g.cols, keywords: g.keywords, modseq })
            .where(inList(m.id, ids));
          // One statement per chunk writes the chunk's `message.updated` events.
          await tx.run(sql`INSERT INTO events (account_id, type, mailbox_id, message_id, data)
            SELECT ${accountId}, 'message.updated', mailbox_id, id,
            json_object('uid', uid, 'modseq', modseq) FROM messages WHERE ${inList(m.id, ids)}`);
        }
        for (const id of g.ids) {
          const uid = byId.get(id)!.uid;
          after.set(uid, { ...after.get(uid)!, modseq });
        }
      }
    }
    const [box] = await tx.select({ h: schema.mailboxes.highestModseq }).from(schema.mailboxes)
      .where(eq(schema.mailboxes.id, mailboxId));
    return {
      updated: [...after.values()].sort((a, b) => a.uid - b.uid).map(toEntry),
      modified,
      highestModseq: box.h,
      changed: groups.size > 0,
    };
  });
  if (result.changed) deps.bus.notify(accountId);
  const { changed: _, ...out } = result;
  return out;
}

/** Removes the \Deleted messages (of the set, when given) for good. */
export async function expunge(
  deps: Deps,
  accountId: number,
  mailboxId: number,
  uids: string | undefined,
): Promise<ExpungeResult> {
  const result = await deps.store.write(async (tx) => {
    const rows = await rowsInSet(tx, accountId, mailboxId, uids, sql`${m.deleted} = 1`);
    await purgeMessages(tx, accountId, rows.map((r) => r.id));
    // Structures of blobs the purge removed go with them.
    const shas = [...new Set(rows.map((r) => r.blobSha256))];
    for (let i = 0; i < shas.length; i += CHUNK) {
      const part = shas.slice(i, i + CHUNK);
      await tx.run(
        sql`DELETE FROM mime_structures WHERE ${inList(schema.mimeStructures.sha256, part)}
        AND NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.sha256 = mime_structures.sha256)`,
      );
    }
    const [box] = await tx.select({ h: schema.mailboxes.highestModseq }).from(schema.mailboxes)
      .where(eq(schema.mailboxes.id, mailboxId));
    return { expunged: rows.map((r) => r.uid), highestModseq: box.h };
  });
  if (result.expunged.length > 0) deps.bus.notify(accountId);
  return result;
}

async function checkQuota(tx: Tx, accountId: number, bytes: number) {
  const [account] = await tx.select().from(schema.accounts).where(
    eq(schema.accounts.id, accountId),
  );
  if (account.quotaBytes > 0 && account.usedBytes + bytes > account.quotaBytes) {
    throw new AppError(507, "quota_exceeded", "the mailbox quota would be exceeded");
  }
}

/** COPY: new rows (same blob, flags, thread) with new UIDs in the target; the source stays. */
export async function copyMessages(
  deps: Deps,
  accountId: number,
  mailboxId: number,
  uids: string,
  targetId: number,
): Promise<TransferResult> {
  const result = await deps.store.write(async (tx) => {
    const target = await requireMailbox(tx, accountId, targetId);
    const rows = await rowsInSet(tx, accountId, mailboxId, uids);
    await checkQuota(tx, accountId, rows.reduce((n, r) => n + r.size, 0));
    const mapping: [number, number][] = [];
    for (const row of rows) {
      const { uid, modseq } = await allocateUid(tx, targetId);
      const inserted = await tx.run(sql`INSERT INTO messages (account_id, mailbox_id, uid, modseq,
        thread_id, blob_sha256, delivery_key, message_id_header, subject, from_address, from_name,
        to_json, cc_json, preview, sent_at, internal_date, size, has_attachments, seen, flagged,
        answered, draft, deleted, keywords, parsed)
        SELECT account_id, ${targetId}, ${uid}, ${modseq}, thread_id, blob_sha256, NULL,
        message_id_header, subject, from_address, from_name, to_json, cc_json, preview, sent_at,
        internal_date, size, has_attachments, seen, flagged, answered, draft, deleted, keywords,
        parsed FROM messages WHERE id = ${row.id} RETURNING id`);
      const newId = Number(inserted.rows[0].id);
      // The copy's FTS5 row comes with the indexer's next batch (services/search_index.ts).
      await tx.update(schema.threads).set({ messageCount: sql`${schema.threads.messageCount} + 1` })
        .where(eq(schema.threads.id, row.threadId));
      await tx.insert(schema.events).values({
        accountId,
        type: "message.created",
        mailboxId: targetId,
        messageId: newId,
        data: JSON.stringify({ uid, modseq, threadId: row.threadId }),
      });
      mapping.push([row.uid, uid]);
    }
    const bytes = rows.reduce((n, r) => n + r.size, 0);
    await tx.update(schema.accounts).set({
      usedBytes: sql`${schema.accounts.usedBytes} + ${bytes}`,
    })
      .where(eq(schema.accounts.id, accountId));
    return { uidValidity: target.uidValidity, mapping };
  });
  if (result.mapping.length > 0) deps.bus.notify(accountId);
  return result;
}

/** MOVE (RFC 6851): new UIDs in the target, the source UIDs expunged. */
export async function moveToMailbox(
  deps: Deps,
  accountId: number,
  mailboxId: number,
  uids: string,
  targetId: number,
): Promise<TransferResult> {
  const result = await deps.store.write(async (tx) => {
    const target = await requireMailbox(tx, accountId, targetId);
    const rows = await rowsInSet(tx, accountId, mailboxId, uids);
    const mapping: [number, number][] = [];
    // One message at a time in UID order, so new UIDs ascend with the source UIDs.
    for (const row of rows) {
      const [moved] = await moveMessages(tx, accountId, [row.id], targetId);
      if (moved) mapping.push([row.uid, moved.uid]);
    }
    return { uidValidity: target.uidValidity, mapping };
  });
  if (result.mapping.length > 0) deps.bus.notify(accountId);
  return result;
}

/** APPEND: stores the exact bytes with the given flags and internal date. */
export async function appendMessage(
  deps: Deps,
  accountId: number,
  mailboxId: number,
  raw: Uint8Array,
  opts: { flags: string[]; internalDate?: number },
): Promise<AppendResult> {
  if (raw.byteLength === 0) {
    throw new AppError(422, "validation_failed", "the message is empty", [
      { path: "body", message: "empty" },
    ]);
  }
  if (raw.byteLength > deps.config.maxMessageBytes) {
    throw new AppError(
      413,
      "message_too_large",
      `the message exceeds ${deps.config.maxMessageBytes} bytes`,
    );
  }
  const parsed = await deps.mime.parse(raw);
  const sha = await sha256Hex(raw);
  const { system, keywords } = splitFlags(opts.flags);
  const result = await deps.store.write(async (tx) => {
    const box = await requireMailbox(tx, accountId, mailboxId);
    await checkQuota(tx, accountId, raw.byteLength);
    await putBlob(tx, raw, sha);
    const saved = await storeMessage(tx, {
      accountId,
      mailboxId,
      blobSha256: sha,
      size: raw.byteLength,
      parsed: parsed as typeof parsed & Record<string, unknown>,
      flags: {
        seen: system.has("seen"),
        answered: system.has("answered"),
        flagged: system.has("flagged"),
        deleted: system.has("deleted"),
        draft: system.has("draft"),
        keywords: keywords.slice(0, MAX_KEYWORDS_PER_MESSAGE),
      },
      internalDate: opts.internalDate ?? deps.clock.now(),
    });
    return { uid: saved.uid, id: saved.id, uidValidity: box.uidValidity, modseq: saved.modseq };
  });
  deps.bus.notify(accountId);
  return result;
}
