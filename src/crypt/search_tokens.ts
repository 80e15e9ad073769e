/**
 * Full-text search over sealed bodies: the FTS5 index (services/search_index.ts) must not hold a
 * body's words, so a sealed message's `body` column holds keyed hashes of them instead — each
 * distinct word, normalised the way FTS5's `unicode61 remove_diacritics 2` tokenizer folds it
 * (lower case, diacritics dropped, split at anything not a letter or digit), as HMAC-SHA-256 under
 * the account's data key, cut to 80 bits and written as hex, one FTS5 token each. A query word
 * is hashed the same way under each of the account's keys (a rotation leaves older messages
 * indexed under a retired key) and matched as a whole token.
 *
 * What search loses on sealed bodies: prefix matches (`word*`) and phrases (word order is not
 * kept), and substring matches for IMAP SEARCH BODY/TEXT, which then match whole words. Subject
 * and addresses are indexed in clear as before, with all of FTS5's matching.
 */
import { type Queryable, rawSql, vaultOf } from "../store/store.ts";
import type { DataKey } from "./sealed_part.ts";

/** Distinct words of one body that are indexed (a bound on HMAC calls per message). */
const MAX_WORDS = 20_000;

/** The FTS5-normalised words of `text`, distinct, in order of first appearance. */
export function normalWords(text: string, max = MAX_WORDS): string[] {
  const seen = new Set<string>();
  const folded = text.normalize("NFKD").replace(/\p{M}+/gu, "").toLowerCase();
  for (const word of folded.split(/[^\p{L}\p{N}]+/u)) {
    if (word === "" || seen.has(word)) continue;
    seen.add(word);
    if (seen.size >= max) break;
  }
  return [...seen];
}

/** A word's index token: `h` and 80 bits of HMAC-SHA-256 under the key's search MAC. */
const hashWord = (key: DataKey, word: string) => "h" + key.search.hex(word, 10);

/** What a sealed body indexes: its words' keyed hashes, space separated. */
export function hashedBody(key: DataKey, text: string): string {
  return normalWords(text).map((w) => hashWord(key, w)).join(" ");
}

/**
 * For each word of `texts`, its hashes under every data key of `accountId` (none when the store
 * has no vault or the account no key: nothing of it was sealed).
 */
export async function wordHashes(
  db: Queryable,
  accountId: number,
  texts: string[],
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const vault = vaultOf(db);
  if (!vault) return out;
  const ids = await rawSql(db).all<{ id: number }>(
    "SELECT id FROM crypt_keys WHERE account_id = ?",
    [accountId],
  );
  if (ids.length === 0) return out;
  const keys = await Promise.all(ids.map((r) => vault.keyById(Number(r.id))));
  for (const word of normalWords(texts.join(" "), 1_000)) {
    out.set(word, keys.map((k) => hashWord(k, word)));
  }
  return out;
}

/**
 * The FTS5 expression that finds `text`'s words in sealed bodies (every word, each by any of its
 * hashes), or undefined when it has no word or there are no hashes.
 */
export function hashedMatch(text: string, hashes: Map<string, string[]>): string | undefined {
  const words = normalWords(text, 1_000);
  if (words.length === 0) return undefined;
  const parts: string[] = [];
  for (const w of words) {
    const list = hashes.get(w);
    if (!list || list.length === 0) return undefined;
    parts.push(`(${list.map((h) => `"${h}"`).join(" OR ")})`);
  }
  return parts.join(" AND ");
}
