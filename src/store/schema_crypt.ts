/**
 * Tables of encryption at rest (src/crypt/): the key-encryption keys and the per-account data
 * keys that seal message bodies, attachments, parsed bodies, previews and drafts.
 *
 * Why two levels: the master key never touches a body. Each account has a random data key
 * (`crypt_keys`), stored only wrapped (AES-256-GCM) by a key-encryption key derived from the
 * master key with HKDF and a per-version random salt (`crypt_keks`). Rotation makes a new KEK
 * version and re-wraps every data key under it (a few hundred bytes per account, whatever the
 * mail), and retires the accounts' data keys for new ones; bodies sealed under a retired key stay
 * readable, and `postern keys rotate-data --reencrypt` re-seals them in bounded slices.
 * Deleting an account destroys its keys (crypto-shredding: `account_deleted_at`).
 */
import { index, integer, sqliteTable } from "drizzle-orm/sqlite-core";
import { blob } from "drizzle-orm/sqlite-core";

/** A key-encryption key version: HKDF(master key, salt, "postern data keys v1"). */
export const cryptKeks = sqliteTable("crypt_keks", {
  version: integer("version").primaryKey(),
  salt: blob("salt", { mode: "buffer" }).notNull(),
  /** A constant sealed under this KEK: a wrong master key is named as such, never garbage. */
  check: blob("check_value", { mode: "buffer" }).notNull(),
  createdAt: integer("created_at").notNull(),
});

/**
 * A data key. `account_id` 0 is the server's own (copies no account owns: a forwarded message
 * queued for a remote recipient). At most one row per account has `retired_at` NULL: the key
 * new writes seal under; ids are never reused, so a key id in a sealed part names one key.
 */
export const cryptKeys = sqliteTable("crypt_keys", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id").notNull(),
  kekVersion: integer("kek_version").notNull(),
  /** The 32 random bytes of the key, AES-256-GCM sealed under the KEK: nonce ‖ ciphertext. */
  wrapped: blob("wrapped", { mode: "buffer" }).notNull(),
  createdAt: integer("created_at").notNull(),
  retiredAt: integer("retired_at"),
  /**
   * When its account was deleted (services/accounts.ts): the key is retired then and destroyed
   * (crypto-shredding, crypt/rotation.ts) by the first complete `keys reencrypt` pass begun
   * after this time, once that pass has re-sealed what other accounts still share under it.
   */
  accountDeletedAt: integer("account_deleted_at"),
}, (t) => [index("crypt_keys_account").on(t.accountId, t.retiredAt)]);
