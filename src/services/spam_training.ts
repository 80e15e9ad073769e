/**
 * Training each account's Bayesian classifier by what its user does: a message moved (or
 * copied) into Junk is learned as spam, one moved out of Junk (not into Trash) as ham. IMAP
 * MOVE/COPY, the REST API and JMAP all reach the same move and copy jobs (message_store.ts);
 * each job queues its messages here with one statement whose SQL compares the two mailboxes'
 * roles, so no door can forget. The queue is learned by a bounded follow-up job
 * (`trainQueued`): the messages' tokens (src/spam/tokenize.ts) added to the account's counts,
 * a message learned the other way before unlearned first (SpamAssassin's `sa-learn` does the
 * same), a message learned the same way skipped. With encryption at rest the tokens are stored
 * as keyed hashes, never as the words (crypt/spam_tokens.ts).
 *
 * Why a follow-up job and not the move itself: tokenizing needs the message's text, which the
 * move job never reads; and a move must stay one round trip. The follow-up runs right after the
 * move (same request) and from the scheduled work; two gateways draining the same rows cannot
 * learn twice: its first step checks the rows are still queued, in the same batch that deletes
 * them.
 */
import { parsedOfRow } from "../crypt/sealed_rows.ts";
import { tokenHasher } from "../crypt/spam_tokens.ts";
import type { ParsedMail } from "../../schemas/mail.ts";
import type { Deps } from "../deps.ts";
import { assertStep, isFailedAssertion, rawSql, type Statement } from "../store/store.ts";
import { tokenize } from "../spam/tokenize.ts";

/** Queued messages learned per follow-up job. */
const BATCH = 20;

const JUNK = "coalesce((SELECT role FROM mailboxes WHERE id = ?2), '') = 'junk'";
const TO_JUNK = "coalesce((SELECT role FROM mailboxes WHERE id = ?3), '') = 'junk'";
const TO_TRASH = "coalesce((SELECT role FROM mailboxes WHERE id = ?3), '') = 'trash'";

/**
 * The statement a move or copy job adds: queues the messages `?4` (JSON ids, kept by a move) of
 * mailbox `source` for training when they cross the Junk boundary towards `target`.
 */
export function junkTrainingStatement(
  accountId: number,
  source: number,
  target: number,
  idsJson: string,
): Statement {
  return {
    sql: `INSERT INTO spam_training (account_id, message_id, label)
      SELECT ?1, value, CASE WHEN ${TO_JUNK} THEN 'spam' ELSE 'ham' END FROM json_each(?4)
      WHERE (${JUNK}) <> (${TO_JUNK}) AND NOT (${TO_TRASH})`,
    args: [accountId, source, target, idsJson],
  };
}

interface QueuedRow {
  id: number;
  label: string;
  blob_sha256: string | null;
  parsed: string | null;
  learned: string | null;
}

/**
 * Learns what is queued for `accountId` (a bounded number of messages per job); the number of
 * queue rows it took. Errors are logged, never thrown: a move has already succeeded.
 */
export async function trainQueued(deps: Deps, accountId: number): Promise<number> {
  try {
    return await trainBatch(deps, accountId);
  } catch (e) {
    deps.logger.log("warn", "spam.training_failed", { accountId, error: String(e) });
    return 0;
  }
}

async function trainBatch(deps: Deps, accountId: number): Promise<number> {
  const rows = await rawSql(deps.store.db).all<QueuedRow>(
    `SELECT t.id, t.label, m.blob_sha256, m.parsed, l.label AS learned
      FROM spam_training t
      LEFT JOIN messages m ON m.id = t.message_id AND m.account_id = t.account_id
      LEFT JOIN spam_learned l ON l.account_id = t.account_id AND l.blob_sha256 = m.blob_sha256
      WHERE t.account_id = ? ORDER BY t.id LIMIT ${BATCH}`,
    [accountId],
  );
  if (rows.length === 0) return 0;
  // Stored as keyed hashes under encryption at rest (crypt/spam_tokens.ts).
  const hash = await tokenHasher(deps.store.db, accountId);
  const deltas = new Map<string, [number, number]>();
  let dSpam = 0, dHam = 0;
  const learned = new Map<string, string>();
  for (const r of rows) {
    const label = r.label === "spam" ? "spam" : "ham";
    if (!r.blob_sha256 || !r.parsed) continue; // gone since
    const before = learned.get(r.blob_sha256) ?? r.learned;
    if (before === label) continue;
    let mail: ParsedMail;
    try {
      mail = await parsedOfRow<ParsedMail>(deps.store.db, accountId, r.parsed); // sealed at rest
    } catch {
      continue;
    }
    const sign = (l: string, n: number) => (l === "spam" ? [n, 0] : [0, n]);
    const add = sign(label, 1);
    const remove = before ? sign(before, -1) : [0, 0];
    for (const word of tokenize(mail)) {
      const token = hash(word);
      const d = deltas.get(token) ?? [0, 0];
      d[0] += add[0] + remove[0];
      d[1] += add[1] + remove[1];
      deltas.set(token, d);
    }
    dSpam += add[0] + remove[0];
    dHam += add[1] + remove[1];
    learned.set(r.blob_sha256, label);
  }
  const ids = JSON.stringify(rows.map((r) => Number(r.id)));
  const tokens = JSON.stringify(
    [...deltas].filter(([, d]) => d[0] || d[1]).map(([t, d]) => [t, ...d]),
  );
  const statements: Statement[] = [
    // Another gateway learned these meanwhile: stop (the batch undoes everything).
    assertStep(
      "(SELECT count(*) FROM spam_training WHERE id IN (SELECT value FROM json_each(?))) = ?",
      [ids, rows.length],
    ),
    {
      sql: `INSERT INTO spam_tokens (account_id, token, spam, ham)
        SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]'),
          json_extract(value, '$[2]') FROM json_each(?2) WHERE true
        ON CONFLICT(account_id, token) DO UPDATE SET
          spam = max(0, spam_tokens.spam + excluded.spam),
          ham = max(0, spam_tokens.ham + excluded.ham)`,
      args: [accountId, tokens],
    },
    // A token new to the account with a negative delta (unlearning what was never counted).
    {
      sql: `DELETE FROM spam_tokens WHERE account_id = ?1 AND (spam < 0 OR ham < 0 OR
          (spam = 0 AND ham = 0))
        AND token IN (SELECT json_extract(value, '$[0]') FROM json_each(?2))`,
      args: [accountId, tokens],
    },
    {
      sql: `INSERT INTO spam_stats (account_id, nspam, nham) VALUES (?1, max(0, ?2), max(0, ?3))
        ON CONFLICT(account_id) DO UPDATE SET nspam = max(0, spam_stats.nspam + ?2),
          nham = max(0, spam_stats.nham + ?3)`,
      args: [accountId, dSpam, dHam],
    },
    {
      sql: `INSERT INTO spam_learned (account_id, blob_sha256, label)
        SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?2)
        WHERE true ON CONFLICT(account_id, blob_sha256) DO UPDATE SET label = excluded.label`,
      args: [accountId, JSON.stringify([...learned])],
    },
    { sql: "DELETE FROM spam_training WHERE id IN (SELECT value FROM json_each(?))", args: [ids] },
  ];
  try {
    await deps.store.batch(statements);
  } catch (e) {
    if (isFailedAssertion(e)) return 0;
    throw e;
  }
  return rows.length;
}
