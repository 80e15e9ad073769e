/**
 * The format of one sealed part (a blob row's data, a blob chunk, a segment of an object, a
 * sealed text column): AES-256-GCM (NIST SP 800-38D), one operation per part, on the calling
 * thread where the host lent a native AES-GCM (native_aead.ts), else through Web Crypto.
 *
 *   magic "\0PSEAL1\0" (8) ‖ key id (4, big-endian) ‖ nonce (12) ‖ ciphertext ‖ tag (16)
 *
 * The key id names the data key (store/schema_crypt.ts), so a part opens with no other row read;
 * the additional data binds each part to its place (`blob <sha256>/<seq>`, a column and row), so
 * a part copied to another place, or a chunk swapped with another, fails its tag like tampering
 * does. A part that does not begin with the magic is plaintext from before encryption (or with
 * it turned off) and is read as it is. Nonces are random (96 bits): a data key seals far fewer
 * than 2^32 parts before rotation, the bound SP 800-38D sets for random nonces.
 */
import { fromBase64, toBase64 } from "../crypto.ts";
import { AppError } from "../errors.ts";
import type { TokenMac } from "./token_mac.ts";
import type { NativeAeadKey } from "./native_aead.ts";

export const MAGIC = new Uint8Array([0, 0x50, 0x53, 0x45, 0x41, 0x4c, 0x31, 0]);
const HEADER = MAGIC.length + 4 + 12;
/** Bytes a sealed part adds to its plaintext. */
export const SEAL_OVERHEAD = HEADER + 16;
/** The magic as an SQL blob literal, for SQL that must tell sealed rows from plain ones. */
export const MAGIC_SQL = "x'00505345414c3100'";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A data key ready for use: imported non-extractable, named by its id. */
export interface DataKey {
  id: number;
  accountId: number;
  /** AES-256-GCM: seals parts. */
  aead: CryptoKey;
  /** The same key in the host's native AES-GCM, when it has one: no async op per part. */
  native?: NativeAeadKey;
  /** HMAC-SHA-256 of search words (crypt/search_tokens.ts), synchronous. */
  search: TokenMac;
  /** HMAC-SHA-256 of the spam filter's tokens (crypt/spam_tokens.ts), synchronous. */
  spam: TokenMac;
}

/**
 * Finds a data key by the id a sealed part names (src/crypt/vault.ts): the key itself when it
 * is loaded already, so a part can open with no await.
 */
export type KeyLookup = (id: number) => DataKey | Promise<DataKey>;

export function isSealed(bytes: Uint8Array): boolean {
  if (bytes.byteLength < SEAL_OVERHEAD) return false;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return false;
  return true;
}

/** The key id a sealed part names. */
export function sealedKeyId(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset + MAGIC.length, 4).getUint32(0);
}

const nativeFits = (key: DataKey, plainBytes: number) =>
  key.native !== undefined && plainBytes <= key.native.maxBytes;

/**
 * Seals `plain` under `key`, bound to `place`: on this thread when the key has a native AES-GCM
 * for its size (the promise is then resolved already), else through Web Crypto.
 */
export function sealPart(key: DataKey, plain: Uint8Array, place: string): Promise<Uint8Array> {
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  if (!nativeFits(key, plain.byteLength)) return sealWeb(key, plain, place, nonce);
  const out = withHeader(key, nonce, plain.byteLength + 16);
  key.native!.seal(nonce, plain, encoder.encode(place), out.subarray(HEADER));
  return Promise.resolve(out);
}

/** A part of `sealedBytes` after its header, with the header written. */
function withHeader(key: DataKey, nonce: Uint8Array, sealedBytes: number) {
  const out = new Uint8Array(HEADER + sealedBytes);
  out.set(MAGIC);
  new DataView(out.buffer).setUint32(MAGIC.length, key.id);
  out.set(nonce, MAGIC.length + 4);
  return out;
}

async function sealWeb(key: DataKey, plain: Uint8Array, place: string, nonce: Uint8Array) {
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce as BufferSource, additionalData: encoder.encode(place) },
      key.aead,
      plain as BufferSource,
    ),
  );
  const out = withHeader(key, nonce, sealed.byteLength);
  out.set(sealed, HEADER);
  return out;
}

const doesNotVerify = (place: string) =>
  new AppError(
    500,
    "internal",
    `${place}: the sealed data does not verify (AES-GCM tag): it was altered or moved`,
  );

/**
 * The plaintext of a part: itself when it is not sealed, else opened with the key it names.
 * A tag that does not verify (the bytes were changed, or moved from another place) is an
 * error, never garbage.
 */
export async function openPart(
  keys: KeyLookup | undefined,
  bytes: Uint8Array,
  place: string,
): Promise<Uint8Array> {
  return await openPartNow(keys, bytes, place);
}

/**
 * `openPart` for the hot readers (IMAP and POP3 bodies): the plaintext itself when the part
 * opens on this thread (not sealed, or its key loaded and native for its size), a promise
 * otherwise, so a page of messages costs no promise per message. Throws (or rejects) as
 * `openPart` does.
 */
export function openPartNow(
  keys: KeyLookup | undefined,
  bytes: Uint8Array,
  place: string,
): Uint8Array | Promise<Uint8Array> {
  if (!isSealed(bytes)) return bytes;
  if (!keys) {
    throw new AppError(500, "internal", `${place} is encrypted but this store has no key vault`);
  }
  const key = keys(sealedKeyId(bytes));
  return key instanceof Promise
    ? key.then((loaded) => openWith(loaded, bytes, place))
    : openWith(key, bytes, place);
}

function openWith(key: DataKey, bytes: Uint8Array, place: string) {
  const nonce = bytes.subarray(MAGIC.length + 4, HEADER);
  if (!nativeFits(key, bytes.byteLength - SEAL_OVERHEAD)) return openWeb(key, bytes, place, nonce);
  try {
    return key.native!.open(nonce, bytes.subarray(HEADER), encoder.encode(place));
  } catch {
    throw doesNotVerify(place);
  }
}

async function openWeb(key: DataKey, bytes: Uint8Array, place: string, nonce: Uint8Array) {
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: nonce as BufferSource, additionalData: encoder.encode(place) },
        key.aead,
        bytes.subarray(HEADER) as BufferSource,
      ),
    );
  } catch {
    throw doesNotVerify(place);
  }
}

/**
 * Sealed text columns: "\u0001s1:" + base64 of the sealed part (valid UTF-8 for SQLite TEXT; not
 * NUL, which the drivers cut strings at). A plain preview never begins with it: message_store.ts
 * drops control characters from previews.
 */
const TEXT_PREFIX = "\u0001s1:";

export const isSealedText = (value: string) => value.startsWith(TEXT_PREFIX);

export async function sealText(key: DataKey, plain: string, place: string): Promise<string> {
  const sealed = await sealPart(key, encoder.encode(plain), place);
  return TEXT_PREFIX + toBase64(sealed);
}

export async function openText(
  keys: KeyLookup | undefined,
  value: string,
  place: string,
): Promise<string> {
  if (!isSealedText(value)) return value;
  const bytes = fromBase64(value.slice(TEXT_PREFIX.length));
  return decoder.decode(await openPartNow(keys, bytes, place));
}
