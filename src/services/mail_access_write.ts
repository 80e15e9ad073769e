/**
 * Changing one mailbox on UID sets, each a write job of one round trip (DESIGN.md): STORE
 * (RFC 3501 section 6.4.6; one new modseq per command and RFC 7162 section 3.1.3 UNCHANGEDSINCE),
 * EXPUNGE and UID EXPUNGE (RFC 3501 6.4.3, RFC 4315 2.1), COPY and MOVE with the UID mapping
 * RFC 4315 COPYUID needs (RFC 6851), and APPEND with flags and internal date (RFC 3501 6.3.11,
 * RFC 4315 APPENDUID; several at once, all or none, for MULTIAPPEND, RFC 3502).
 *
 * Each job reads the set first, then writes in one batch that re-checks what it read in SQL
 * (no row changed since: store/optimistic.ts), so UIDs and modseqs stay distinct and ascending
 * with any number of processes on the store: every UID and modseq comes from the mailbox row
 * inside the batch, never from a value this process read. A job whose reads went stale is read
 * and run again. Quota is checked before anything is written, and again by the write.
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
import type { Queryable, Statement } from "../store/store.ts";
import { assertStep, schema } from "../store/store.ts";
import { inJson, retryStale } from "../store/optimistic.ts";
import { requireMailbox } from "./mailboxes.ts";
import {
  copyJob,
  type FlagChange,
  flagJob,
  moveJob,
  purgeStatements,
  sealedStoreJob,
  storeMessageJob,
} from "./message_store.ts";
import { trainQueued } from "./spam_training.ts";
import { type BlobJob, blobJob } from "./blob_chunks.ts";
import { MAX_KEYWORDS_PER_MESSAGE } from "./messages.ts";
import { keywordsOf, rowsInSet, type SetRow, toEntry } from "./mail_access.ts";
import { recoveryOn } from "./recovery_sql.ts";

const m = schema.messages;

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

/** The mailbox's highest modseq now (RFC 7162 HIGHESTMODSEQ), as a job's last statement. */
const highestStep = (mailboxId: number): Statement => ({
  sql: "SELECT highest_modseq AS h FROM mailboxes WHERE id = ?",
  args: [mailboxId],
});

async function highestModseq(db: Queryable, mailboxId: number): Promise<number> {
  const [box] = await db.select({ h: schema.mailboxes.highestModseq }).from(schema.mailboxes)
    .where(eq(schema.mailboxes.id, mailboxId));
  return Number(box?.h ?? 0);
}

/** A row of the set as the job statements of message_store.ts take it. */
const inBox = (mailboxId: number) => (r: SetRow) => ({ ...r, mailboxId });

/**
 * STORE: the new flags of every row are computed from the rows read, then written in one job
 * that first checks none of them changed since (a concurrent STORE makes this one read again).
 */
export async function storeFlags(
  deps: Deps,
  accountId: number,
  mailboxId: number,
  req: StoreFlagsRequest,
): Promise<StoreFlagsResult> {
  const wanted = splitFlags(req.flags);
  const db = deps.store.db;
  const result = await retryStale(async () => {
    const rows = await rowsInSet(db, accountId, mailboxId, req.uids);
    const modified: number[] = [];
    const changes: FlagChange[] = [];
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
      changes.push({ id: row.id, mailboxId, uid: row.uid, modseq: row.modseq, ...cols, keywords });
      after.set(row.uid, { ...row, ...cols, keywords: kwJson });
    }
    let highest: number;
    if (changes.length > 0) {
      // One new modseq for the whole command (RFC 7162 section 3.1.3 allows sharing it).
      const job = flagJob(accountId, changes);
      const results = await deps.store.batch([...job.statements, highestStep(mailboxId)]);
      const modseq = job.decode(results).get(mailboxId)!;
      for (const c of changes) after.set(c.uid, { ...after.get(c.uid)!, modseq });
      highest = Number(results[results.length - 1].rows[0].h);
    } else {
      highest = await highestModseq(db, mailboxId);
    }
    return {
      updated: [...after.values()].sort((a, b) => a.uid - b.uid).map(toEntry),
      modified,
      highestModseq: highest,
      changed: changes.length > 0,
    };
  });
  if (result.changed) deps.bus.notify(accountId);
  const { changed: _, ...out } = result;
  return out;
}

/**
 * Removes the \Deleted messages (of the set, when given) for good: one job for any number of
 * them, stopped (and read again) when one of them changed since it was read.
 */
export async function expunge(
  deps: Deps,
  accountId: number,
  mailboxId: number,
  uids: string | undefined,
): Promise<ExpungeResult> {
  const db = deps.store.db;
  const result = await retryStale(async () => {
    const rows = await rowsInSet(db, accountId, mailboxId, uids, sql`${m.deleted} = 1`);
    if (rows.length === 0) {
      return { expunged: [], highestModseq: await highestModseq(db, mailboxId) };
    }
    const results = await deps.store.batch([
      ...purgeStatements(accountId, rows.map(inBox(mailboxId)), {
        recover: recoveryOn(deps.config),
      }),
      {
        // Structures of blobs the purge removed go with them.
        sql: `DELETE FROM mime_structures WHERE sha256 ${inJson("?1")}
          AND NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.sha256 = mime_structures.sha256)`,
        args: [JSON.stringify([...new Set(rows.map((r) => r.blobSha256))])],
      },
      highestStep(mailboxId),
    ]);
    return {
      expunged: rows.map((r) => r.uid),
      highestModseq: Number(results[results.length - 1].rows[0].h),
    };
  });
  if (result.expunged.length > 0) deps.bus.notify(accountId);
  return result;
}

const quotaExceeded = () =>
  new AppError(507, "quota_exceeded", "the mailbox quota would be exceeded");

/** The early answer to a write that cannot fit (the job checks again in SQL when it runs). */
async function checkQuota(db: Queryable, accountId: number, bytes: number) {
  const [account] = await db.select({
    quotaBytes: schema.accounts.quotaBytes,
    usedBytes: schema.accounts.usedBytes,
  }).from(schema.accounts).where(eq(schema.accounts.id, accountId));
  if (account.quotaBytes > 0 && account.usedBytes + bytes > account.quotaBytes) {
    throw quotaExceeded();
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
  const db = deps.store.db;
  const result = await retryStale(async () => {
    const [target, rows] = await Promise.all([
      requireMailbox(db, accountId, targetId),
      rowsInSet(db, accountId, mailboxId, uids),
    ]);
    await checkQuota(db, accountId, rows.reduce((n, r) => n + r.size, 0));
    const job = copyJob(accountId, mailboxId, rows.map(inBox(mailboxId)), targetId);
    if (job.statements.length === 0) return { uidValidity: target.uidValidity, mapping: [] };
    const mapping = job.decode(await deps.store.batch(job.statements));
    // The quota filled between the read and the write: nothing was copied.
    if (!mapping) throw quotaExceeded();
    return { uidValidity: target.uidValidity, mapping };
  });
  if (result.mapping.length > 0) {
    deps.bus.notify(accountId);
    await trainQueued(deps, accountId); // a copy into Junk (issue 21 item 1)
  }
  return result;
}

/** MOVE (RFC 6851): new UIDs in the target (ascending with the old), the source UIDs expunged. */
export async function moveToMailbox(
  deps: Deps,
  accountId: number,
  mailboxId: number,
  uids: string,
  targetId: number,
): Promise<TransferResult> {
  const db = deps.store.db;
  const result = await retryStale(async () => {
    const [target, rows] = await Promise.all([
      requireMailbox(db, accountId, targetId),
      rowsInSet(db, accountId, mailboxId, uids),
    ]);
    const job = moveJob(accountId, rows.map(inBox(mailboxId)), targetId);
    const moved = job.decode(
      job.statements.length === 0 ? [] : await deps.store.batch(job.statements),
    );
    const mapping: [number, number][] = rows.map((r, i) => [r.uid, moved[i].uid]);
    return { uidValidity: target.uidValidity, mapping };
  });
  if (result.mapping.length > 0) {
    deps.bus.notify(accountId);
    await trainQueued(deps, accountId); // into or out of Junk (issue 21 item 1)
  }
  return result;
}

/** One message of an APPEND: its exact bytes, flags and internal date. */
export interface AppendInput {
  raw: Uint8Array;
  flags: string[];
  internalDate?: number;
}

/** APPEND: stores the exact bytes with the given flags and internal date. */
export async function appendMessage(
  deps: Deps,
  accountId: number,
  mailboxId: number,
  raw: Uint8Array,
  opts: { flags: string[]; internalDate?: number },
): Promise<AppendResult> {
  const [result] = await appendMessages(deps, accountId, mailboxId, [{ raw, ...opts }]);
  return result;
}

/**
 * APPEND of one message or several (MULTIAPPEND, RFC 3502 section 3: all or none): one job that
 * stores every message with the mailbox's next UIDs, in order. Each message's store steps are
 * guarded in SQL by quota and mailbox; a step after each checks its row went in, so a message
 * refused when the job runs (the quota filled, the mailbox went, since the reads) undoes the
 * whole job, blobs included, and the reads run again to say why.
 */
export async function appendMessages(
  deps: Deps,
  accountId: number,
  mailboxId: number,
  items: AppendInput[],
): Promise<AppendResult[]> {
  let total = 0;
  for (const { raw } of items) {
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
    total += raw.byteLength;
  }
  const prepared = await Promise.all(items.map(async (item) => ({
    ...item,
    parsed: await deps.mime.parse(item.raw),
    sha: await sha256Hex(item.raw),
    ...splitFlags(item.flags),
  })));
  const db = deps.store.db;
  const results = await retryStale(async () => {
    const [box] = await Promise.all([
      requireMailbox(db, accountId, mailboxId),
      checkQuota(db, accountId, total),
    ]);
    const statements: Statement[] = [];
    const jobs: { at: number; decode: ReturnType<typeof storeMessageJob>["decode"] }[] = [];
    // One after another: a large message's chunks are written ahead on D1, one at a time.
    const blobs: BlobJob[] = [];
    for (const p of prepared) blobs.push(await blobJob(deps.store, p.raw, p.sha, accountId));
    const discard = () => Promise.all(blobs.map((b) => b.discard().catch(() => {})));
    for (const [i, p] of prepared.entries()) {
      statements.push(...blobs[i].statements);
      const job = await sealedStoreJob(deps.store, {
        accountId,
        mailboxId,
        blobSha256: p.sha,
        size: p.raw.byteLength,
        parsed: p.parsed as typeof p.parsed & Record<string, unknown>,
        flags: {
          seen: p.system.has("seen"),
          answered: p.system.has("answered"),
          flagged: p.system.has("flagged"),
          deleted: p.system.has("deleted"),
          draft: p.system.has("draft"),
          keywords: p.keywords.slice(0, MAX_KEYWORDS_PER_MESSAGE),
        },
        internalDate: p.internalDate ?? deps.clock.now(),
        quotaGuard: true,
      });
      jobs.push({ at: statements.length, decode: job.decode });
      // The job's last write is the UID bump, made only when its row went in.
      statements.push(...job.statements, assertStep("changes() = 1"));
    }
    const out = await deps.store.batch(statements).catch(async (e) => {
      await discard();
      throw e;
    });
    return jobs.map(({ at, decode }) => {
      const saved = decode(out, at);
      if ("refused" in saved) throw new Error("a refused append was kept"); // asserted above
      return { uid: saved.uid, id: saved.id, uidValidity: box.uidValidity, modseq: saved.modseq };
    });
  });
  deps.bus.notify(accountId);
  return results;
}
