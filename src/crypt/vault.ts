/**
 * The key vault of one store: unwraps per-account data keys with the master key and hands out
 * imported, non-extractable Web Crypto keys (edge-safe: the same code runs on Deno, Bun and
 * workerd), and, where the host lends one (crypt/native_aead.ts), the same sealing key in its
 * native AES-GCM. See store/schema_crypt.ts for the two key levels and sealed_part.ts for the
 * format.
 *
 * Caches, and why they are safe across processes: keys by id never change (ids are not reused,
 * a re-wrap keeps the key's bytes), so a key cached by id is always right. Which key an account
 * seals new data under is cached for ACTIVE_TTL_MS only: after a rotation another process may
 * seal under the retired key for that long, which stays readable (its id is in the part) and is
 * what `rotate-data --reencrypt` re-seals.
 */
import { AppError } from "../errors.ts";
import { rawSql, type Store } from "../store/store.ts";
import type { DataKey } from "./sealed_part.ts";
import { bytesOf } from "../services/blob_chunks.ts";
import { TokenMac } from "./token_mac.ts";
import type { NativeAead } from "./native_aead.ts";

const encoder = new TextEncoder();
/** How long the key an account seals under is trusted without reading it again. */
const ACTIVE_TTL_MS = 30_000;
const KEK_CHECK = encoder.encode("postern kek check v1");
/**
 * Data keys kept imported at once (each ~2 KB: its Web Crypto key and two MAC pads), and
 * accounts whose sealing or token key is remembered: a server with more active accounts
 * unwraps a key again (one AES-GCM call) when one comes back.
 */
const KEYS_CACHED = 4096;
/** HKDF info of the spam filter's token key (crypt/spam_tokens.ts). */
const SPAM_INFO = "postern spam tokens v1";

/** The server's own data key (copies no account owns). */
export const SERVER_ACCOUNT = 0;

async function hkdf(secret: Uint8Array, salt: Uint8Array, info: string, usage: "kek") {
  const material = await crypto.subtle.importKey("raw", secret as BufferSource, "HKDF", false, [
    "deriveKey",
  ]);
  return await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: salt as BufferSource, info: encoder.encode(info) },
    material,
    { name: "AES-GCM", length: 256 },
    false,
    usage === "kek" ? ["encrypt", "decrypt"] : [],
  );
}

async function gcm(key: CryptoKey, data: Uint8Array, aad: string, open: boolean) {
  if (open) {
    return new Uint8Array(
      await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: data.subarray(0, 12) as BufferSource,
          additionalData: encoder.encode(aad),
        },
        key,
        data.subarray(12) as BufferSource,
      ),
    );
  }
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: encoder.encode(aad) },
    key,
    data as BufferSource,
  );
  const out = new Uint8Array(12 + sealed.byteLength);
  out.set(iv);
  out.set(new Uint8Array(sealed), 12);
  return out;
}

/**
 * Imports a data key's 32 bytes as its working keys; the bytes are not kept. The sealing key
 * stays a non-extractable Web Crypto key; the two MAC keys (search words, spam tokens) are kept
 * as TokenMac pads, which hash on the calling thread without an async op per word.
 *
 * With a host's native AES-GCM, the sealing key's 256 bits are derived as bits (what deriveKey
 * derives for an AES-GCM key of 256 bits, so the key is the same one), imported both into Web
 * Crypto (non-extractable, for parts the native one does not take) and into the native handle,
 * and zeroed: from then on only those two hold them, neither readable, logged or exported
 * (hosts/process/native_aead.ts says how its handle keeps them), and both live exactly as long
 * as this DataKey, the vault's cached entry (KEYS_CACHED, least recently used out).
 */
async function importDataKey(
  id: number,
  accountId: number,
  raw: Uint8Array,
  native: NativeAead | undefined,
): Promise<DataKey> {
  const material = await crypto.subtle.importKey("raw", raw as BufferSource, "HKDF", false, [
    "deriveKey",
    "deriveBits",
  ]);
  const params = (info: string) => ({
    name: "HKDF",
    hash: "SHA-256",
    salt: new Uint8Array(0),
    info: encoder.encode(info),
  });
  const bits = async (info: string) =>
    new Uint8Array(await crypto.subtle.deriveBits(params(info), material, 256));
  const mac = async (info: string) => {
    // The first 256 bits, as deriveKey gave the HMAC key of the same info before.
    const bytes = await bits(info);
    const out = new TokenMac(bytes);
    bytes.fill(0);
    return out;
  };
  const sealing = async () => {
    if (!native) {
      const aead = await crypto.subtle.deriveKey(
        params("postern seal v1"),
        material,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      );
      return { aead };
    }
    const bytes = await bits("postern seal v1");
    try {
      const aead = await crypto.subtle.importKey("raw", bytes as BufferSource, "AES-GCM", false, [
        "encrypt",
        "decrypt",
      ]);
      return { aead, native: native.importKey(bytes) };
    } finally {
      bytes.fill(0);
    }
  };
  const [{ aead, native: nativeKey }, search, spam] = await Promise.all([
    sealing(),
    mac("postern search v1"),
    mac(SPAM_INFO),
  ]);
  return { id, accountId, aead, native: nativeKey, search, spam };
}

const wrongMasterKey = (what: string) =>
  new AppError(
    500,
    "internal",
    `the master key does not open ${what}: this store's data keys were wrapped under another ` +
      "master key (every node of one store shares POSTERN_MASTER_KEY)",
  );

export class Vault {
  private readonly keks = new Map<number, Promise<CryptoKey>>();
  /** Data keys by id, least recently used first; `key` once loaded (for a lookup with no await). */
  private readonly keys = new Map<number, { promise: Promise<DataKey>; key?: DataKey }>();
  private readonly active = new Map<number, { key: Promise<DataKey>; until: number }>();
  private readonly first = new Map<number, { key: DataKey; until: number }>();

  /**
   * `sealNew`: whether new writes are sealed (config `encryptAtRest`); reads open sealed parts
   * either way, so turning it off never strands mail. `native`: the host's AES-GCM on the
   * calling thread (crypt/native_aead.ts), when it has one; Web Crypto otherwise.
   */
  constructor(
    private readonly store: Store,
    private readonly masterKey: string,
    readonly sealNew: boolean,
    private readonly native?: NativeAead,
  ) {}

  /** The KEK of `version`, checked against its sealed constant (a wrong master key says so). */
  kek(version: number): Promise<CryptoKey> {
    let kek = this.keks.get(version);
    if (!kek) {
      kek = this.loadKek(version);
      kek.catch(() => this.keks.delete(version));
      this.keks.set(version, kek);
    }
    return kek;
  }

  private async loadKek(version: number): Promise<CryptoKey> {
    const row = await rawSql(this.store.db).get<{ salt: unknown; check_value: unknown }>(
      "SELECT salt, check_value FROM crypt_keks WHERE version = ?",
      [version],
    );
    if (!row) {
      throw new AppError(500, "internal", `key-encryption key version ${version} is missing`);
    }
    const key = await hkdf(
      encoder.encode(this.masterKey),
      bytesOf(row.salt),
      "postern data keys v1",
      "kek",
    );
    const check = await gcm(key, bytesOf(row.check_value), `kek ${version}`, true)
      .catch(() => undefined);
    if (!check || check.join() !== KEK_CHECK.join()) throw wrongMasterKey(`KEK version ${version}`);
    return key;
  }

  /** The newest KEK version, made (version 1) when the store has none yet. */
  async currentKekVersion(): Promise<number> {
    const row = await rawSql(this.store.db).get<{ v: number | null }>(
      "SELECT max(version) AS v FROM crypt_keks",
    );
    if (row?.v != null) return Number(row.v);
    await this.store.batch([
      await this.newKekStatement(1, "WHERE NOT EXISTS (SELECT 1 FROM crypt_keks)"),
    ]);
    return await this.currentKekVersion();
  }

  /** The statement that adds KEK `version` (with a fresh salt and its check value). */
  async newKekStatement(version: number, guard = "") {
    const salt = crypto.getRandomValues(new Uint8Array(32));
    const key = await hkdf(encoder.encode(this.masterKey), salt, "postern data keys v1", "kek");
    const check = await gcm(key, KEK_CHECK, `kek ${version}`, false);
    return {
      sql:
        `INSERT INTO crypt_keks (version, salt, check_value, created_at) SELECT ?, ?, ?, ? ${guard}`,
      args: [version, salt, check, Date.now()],
    };
  }

  /** Wraps a data key's 32 bytes under KEK `version`, bound to its account. */
  async wrap(version: number, accountId: number, raw: Uint8Array): Promise<Uint8Array> {
    return await gcm(await this.kek(version), raw, `data key of ${accountId}`, false);
  }

  async unwrap(version: number, accountId: number, wrapped: Uint8Array): Promise<Uint8Array> {
    const kek = await this.kek(version);
    return await gcm(kek, wrapped, `data key of ${accountId}`, true).catch(() => {
      throw wrongMasterKey(`the data key of account ${accountId}`);
    });
  }

  /** The data key a sealed part names (the most recently used KEYS_CACHED kept imported). */
  keyById(id: number): Promise<DataKey> {
    return this.entry(id).promise;
  }

  /** Bound for passing as a KeyLookup: the key itself once loaded, else its promise. */
  readonly lookup = (id: number): DataKey | Promise<DataKey> => {
    const entry = this.entry(id);
    return entry.key ?? entry.promise;
  };

  private entry(id: number) {
    let entry = this.keys.get(id);
    if (entry) {
      // Least recently used first: a hit moves to the end (Map keeps insertion order).
      this.keys.delete(id);
      this.keys.set(id, entry);
      return entry;
    }
    const promise = this.loadKey(id);
    const made: { promise: Promise<DataKey>; key?: DataKey } = { promise };
    promise.then((key) => made.key = key, () => {
      if (this.keys.get(id) === made) this.keys.delete(id);
    });
    entry = made;
    this.keys.set(id, entry);
    if (this.keys.size > KEYS_CACHED) this.keys.delete(this.keys.keys().next().value!);
    return entry;
  }

  private async loadKey(id: number): Promise<DataKey> {
    const row = await rawSql(this.store.db).get<
      { account_id: number; kek_version: number; wrapped: unknown }
    >("SELECT account_id, kek_version, wrapped FROM crypt_keys WHERE id = ?", [id]);
    if (!row) {
      throw new AppError(
        500,
        "internal",
        `data key ${id} is missing: the data it sealed cannot be read`,
      );
    }
    const accountId = Number(row.account_id);
    const raw = await this.unwrap(Number(row.kek_version), accountId, bytesOf(row.wrapped));
    const key = await importDataKey(id, accountId, raw, this.native);
    raw.fill(0);
    return key;
  }

  /** The key new data of `accountId` is sealed under; made on first use. */
  activeKey(accountId: number): Promise<DataKey> {
    const now = Date.now();
    const cached = this.active.get(accountId);
    if (cached && cached.until > now) return cached.key;
    const key = this.loadActive(accountId);
    key.catch(() => this.active.delete(accountId));
    if (this.active.size >= KEYS_CACHED) this.active.clear();
    this.active.set(accountId, { key, until: now + ACTIVE_TTL_MS });
    return key;
  }

  /**
   * The key whose `spam` MAC hashes `accountId`'s spam filter tokens (crypt/spam_tokens.ts):
   * its first data key, which a rotation retires but never drops (a keyed hash cannot be
   * re-keyed without the words it hides), so the learned counts stay findable. Made (as the
   * active key) when the account has none and `create`; undefined otherwise.
   */
  async tokenKey(accountId: number, create: boolean): Promise<DataKey | undefined> {
    const now = Date.now();
    const cached = this.first.get(accountId);
    if (cached && cached.until > now) return cached.key;
    const first = () =>
      rawSql(this.store.db).get<{ id: number | null }>(
        "SELECT min(id) AS id FROM crypt_keys WHERE account_id = ? AND account_deleted_at IS NULL",
        [accountId],
      );
    let row = await first();
    if (row?.id == null) {
      if (!create) return undefined;
      await this.activeKey(accountId);
      row = await first();
      if (row?.id == null) throw new AppError(500, "internal", `no data key for ${accountId}`);
    }
    const key = await this.keyById(Number(row.id));
    // Bounded: a key is ~1 KB of state; an account's first key id changes only if it is deleted.
    if (this.first.size >= KEYS_CACHED) this.first.clear();
    this.first.set(accountId, { key, until: now + ACTIVE_TTL_MS });
    return key;
  }

  /** Forgets which keys accounts seal under (after a rotation in this process). */
  forgetActive(): void {
    this.active.clear();
  }

  private async loadActive(accountId: number): Promise<DataKey> {
    const current = () =>
      rawSql(this.store.db).get<{ id: number }>(
        "SELECT id FROM crypt_keys WHERE account_id = ? AND retired_at IS NULL ORDER BY id DESC LIMIT 1",
        [accountId],
      );
    let row = await current();
    if (!row) {
      // One statement guarded in SQL: two processes making the first key meet in the store.
      await this.store.batch([await this.newKeyStatement(accountId, true)]);
      row = await current();
      if (!row) throw new AppError(500, "internal", `no data key for account ${accountId}`);
    }
    return await this.keyById(Number(row.id));
  }

  /** The statement that adds a fresh data key for `accountId` (only when it has none active). */
  async newKeyStatement(accountId: number, onlyIfNone: boolean) {
    const version = await this.currentKekVersion();
    const raw = crypto.getRandomValues(new Uint8Array(32));
    const wrapped = await this.wrap(version, accountId, raw);
    raw.fill(0);
    return {
      sql: `INSERT INTO crypt_keys (account_id, kek_version, wrapped, created_at)
        SELECT ?1, ?2, ?3, ?4 ${
        onlyIfNone
          ? "WHERE NOT EXISTS (SELECT 1 FROM crypt_keys WHERE account_id = ?1 AND retired_at IS NULL)"
          : ""
      }`,
      args: [accountId, version, wrapped, Date.now()],
    };
  }
}
