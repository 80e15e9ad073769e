/**
 * The spam filter's tokens at rest: `spam_tokens` counts, per account, the words, header names
 * and link hosts of the mail it learned (src/spam/tokenize.ts), so in clear it would be a word
 * list of every user's mail. With encryption at rest each token is stored as a keyed hash
 * instead: `#` and the first 80 bits of HMAC-SHA-256 under the account's token key (crypt/
 * vault.ts `tokenKey`, derived from its first data key), in hex. The classifier only ever asks
 * "what are the counts of this message's tokens", which the hashes answer as well as the words:
 * training and scoring hash the same tokens the same way, so its figures do not change (80 bits
 * make a collision among an account's at most millions of tokens about 2^-40 likely). A plain
 * token never begins with `#` (tokenize.ts: words begin with a letter or digit, the rest with a
 * `prefix:`), so the two kinds tell apart in SQL.
 *
 * What a hash still tells someone holding the database but not the master key: how many
 * distinct tokens an account learned and their counts; not which. Someone with the master key
 * can test guessed words (as with the search index's word hashes, search_tokens.ts).
 *
 * Stores written before (plaintext tokens) are rewritten, not dropped: each plaintext row is
 * hashed and its counts added to the hashed row, so a trained filter stays trained. That runs
 * in bounded slices within `postern keys reencrypt` (rotation.ts), the pass that seals what was
 * stored before encryption was turned on.
 */
import { assertStep, isFailedAssertion, rawSql, type Store } from "../store/store.ts";
import type { Queryable } from "../store/store.ts";
import { vaultOf } from "../store/store.ts";

/** How long the set of accounts with plaintext tokens is trusted without reading it again. */
const PLAIN_TTL_MS = 5 * 60_000;
const plainAccounts = new WeakMap<object, { accounts: Promise<Set<number>>; until: number }>();

/**
 * The accounts whose counts still include plaintext tokens (trained before encryption, not yet
 * rewritten): their scoring reads both forms. One index probe per trained account (a plain
 * token sorts after `#`: it begins with a letter or digit), cached for PLAIN_TTL_MS.
 */
export function accountsWithPlainTokens(db: Queryable): Promise<Set<number>> {
  const now = Date.now();
  const cached = plainAccounts.get(db);
  if (cached && cached.until > now) return cached.accounts;
  const accounts = rawSql(db).all<{ account_id: number }>(
    "SELECT account_id FROM spam_stats s WHERE EXISTS (SELECT 1 FROM spam_tokens t " +
      "WHERE t.account_id = s.account_id AND t.token > '$')",
  ).then((rows) => new Set(rows.map((r) => Number(r.account_id))));
  accounts.catch(() => plainAccounts.delete(db));
  plainAccounts.set(db, { accounts, until: now + PLAIN_TTL_MS });
  return accounts;
}

/** Hex digits of a hashed token (80 bits). */
const HASH_BYTES = 10;

/**
 * How `accountId`'s tokens are stored: hashed under its token key when it has one (or new
 * writes are sealed and one is made), else as they are (encryption at rest never turned on).
 */
export async function tokenHasher(
  db: Queryable,
  accountId: number,
): Promise<(token: string) => string> {
  const vault = vaultOf(db);
  const key = vault && await vault.tokenKey(accountId, vault.sealNew);
  if (!key) return (token) => token;
  return (token) => "#" + key.spam.hex(token, HASH_BYTES);
}

/**
 * One bounded slice of the upgrade: up to `limit` plaintext token rows hashed, their counts
 * merged into the hashed rows and the plaintext rows deleted, in one write job per account
 * guarded by the rows still being there (two passes never add a count twice). Returns how many
 * rows it rewrote; 0 when none are left.
 */
export async function hashPlainTokens(store: Store, limit: number): Promise<number> {
  if (!store.vault?.sealNew) return 0;
  const rows = await rawSql(store.db).all<
    { account_id: number; token: string; spam: number; ham: number }
  >(
    "SELECT account_id, token, spam, ham FROM spam_tokens WHERE token NOT LIKE '#%' " +
      "ORDER BY account_id, token LIMIT ?",
    [limit],
  );
  const byAccount = new Map<number, typeof rows>();
  for (const r of rows) {
    const id = Number(r.account_id);
    byAccount.set(id, [...byAccount.get(id) ?? [], r]);
  }
  let done = 0;
  for (const [accountId, list] of byAccount) {
    const hash = await tokenHasher(store.db, accountId);
    const plain = JSON.stringify(list.map((r) => r.token));
    const hashed = new Map<string, [number, number]>();
    for (const r of list) {
      const h = hash(r.token);
      const sum = hashed.get(h) ?? [0, 0];
      sum[0] += Number(r.spam);
      sum[1] += Number(r.ham);
      hashed.set(h, sum);
    }
    try {
      await store.batch([
        assertStep(
          "(SELECT count(*) FROM spam_tokens WHERE account_id = ? AND token IN " +
            "(SELECT value FROM json_each(?))) = ?",
          [accountId, plain, list.length],
        ),
        {
          sql: `INSERT INTO spam_tokens (account_id, token, spam, ham)
            SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]'),
              json_extract(value, '$[2]') FROM json_each(?2) WHERE true
            ON CONFLICT(account_id, token) DO UPDATE SET
              spam = spam_tokens.spam + excluded.spam, ham = spam_tokens.ham + excluded.ham`,
          args: [accountId, JSON.stringify([...hashed].map(([t, [s, h]]) => [t, s, h]))],
        },
        {
          sql: "DELETE FROM spam_tokens WHERE account_id = ? AND token IN " +
            "(SELECT value FROM json_each(?))",
          args: [accountId, plain],
        },
      ]);
      done += list.length;
    } catch (e) {
      if (!isFailedAssertion(e)) throw e; // another pass took them: the next slice goes on
    }
  }
  return done;
}
