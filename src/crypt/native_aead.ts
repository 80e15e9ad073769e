/**
 * The port through which a host lends the vault an AES-256-GCM (NIST SP 800-38D) that runs on
 * the calling thread, natively: the process host's (hosts/process/native_aead.ts: OpenSSL's
 * libcrypto through FFI on Deno, node:crypto on Bun). Web Crypto stays the edge-safe default
 * (a Worker has no other): there every seal and open is an async op, a hand-off to another
 * thread and a promise per part, which cost more than the cipher for the parts mail is made of.
 * A native key computes the very same bytes (sealed_part.ts keeps the format: magic, key id,
 * nonce, ciphertext, tag, and the same additional data), so either opens what the other sealed.
 */

/** A host's native AES-256-GCM: makes a key's handle from its 32 bytes. */
export interface NativeAead {
  /**
   * The handle of one data key. The host holds the key's bytes its own way (copied out of
   * `raw`, which the caller zeroes afterwards), never where it can be read back, logged or
   * exported, for as long as the handle lives (the vault's cached DataKey).
   */
  importKey(raw: Uint8Array): NativeAeadKey;
}

export interface NativeAeadKey {
  /**
   * Parts of up to this many bytes go through this key; larger ones through Web Crypto, where
   * that measured cheaper for the host (Infinity: never).
   */
  readonly maxBytes: number;
  /** Writes ciphertext ‖ tag (16 bytes) of `plain` into `out` (plain.byteLength + 16 bytes). */
  seal(nonce: Uint8Array, plain: Uint8Array, aad: Uint8Array, out: Uint8Array): void;
  /** The plaintext of ciphertext ‖ tag; throws when the tag does not verify. */
  open(nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array;
}
