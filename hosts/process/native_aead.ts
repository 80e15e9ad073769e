/**
 * The process host's AES-256-GCM on the calling thread (src/crypt/native_aead.ts), for the key
 * vault: every sealed part of mail (raw message, parsed and preview columns, webhook payloads)
 * is opened and sealed without a Web Crypto async op. Measured per part (CPU µs of the process,
 * all threads, seal/open; bench/seal_parts.ts, best of 5 on a loaded 2-core machine):
 *
 *            1 KB        5 KB        64 KB        1 MiB
 *   Bun   Web Crypto   30/36       29/26       57/34        404/246
 *         node:crypto   2.3/1.7     4.1/3.2    23/9.6       463/84    (BoringSSL)
 *   Deno  Web Crypto   37/43       27/23      324/329      5649/2526
 *         libcrypto     3.6/3.0     5.8/10     23/21        743/454   (OpenSSL, FFI)
 *         node:crypto  15/20       47/36      335/378      6341/5510
 *
 * Deno's node:crypto and Web Crypto both run AES in software there (about 200 MB/s), so on Deno
 * the host calls OpenSSL's libcrypto (which Postfix and Dovecot link too) through FFI. Native is
 * cheaper or even at every size, 1 MiB included (Bun's seal of 1 MiB is even with Web Crypto, and
 * blocks the thread for well under a millisecond), so no size goes back to Web Crypto.
 *
 * Order: libcrypto through Deno's FFI; node:crypto on Bun; on Deno without FFI (no libcrypto, no
 * --allow-ffi) node:crypto only for parts of up to 4 KB, where it still beats Web Crypto's
 * hand-off, larger ones staying on Web Crypto.
 *
 * How a key's bytes are held: copied once into native memory and nowhere else — OpenSSL's
 * cipher contexts (initialised with the key, so each part sets only its nonce), or a node:crypto
 * KeyObject — never in a JavaScript buffer that could be read, logged or exported. The handle is
 * kept by the vault's cached DataKey and dies with it: the contexts are freed (OpenSSL cleanses
 * the key schedule) by a FinalizationRegistry once that DataKey is garbage, never earlier, so an
 * operation still holding an evicted key cannot meet a freed context.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from "node:crypto";
import type { NativeAead, NativeAeadKey } from "../../src/crypt/native_aead.ts";

const TAG = 16;
/** Deno's node:crypto takes parts up to this size; above it Deno's Web Crypto costs less. */
const DENO_NODE_CRYPTO_MAX = 4 * 1024;

/**
 * The host's native AES-256-GCM, or undefined when it has none (then Web Crypto serves): one per
 * process, loaded when this module is, since a loaded library stays for the process's life (every
 * vault shares it; opening it per vault would hold one more library handle each time).
 */
export function nativeAead(): NativeAead | undefined {
  return HOST_AEAD;
}

function loadNativeAead(): NativeAead | undefined {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (!deno) return nodeCryptoAead(Infinity);
  return libcryptoAead(deno) ?? nodeCryptoAead(DENO_NODE_CRYPTO_MAX);
}

/** node:crypto's AES-256-GCM; parts larger than `maxBytes` go to Web Crypto. */
export function nodeCryptoAead(maxBytes: number): NativeAead {
  return {
    importKey(raw) {
      const key: KeyObject = createSecretKey(raw);
      return {
        maxBytes,
        seal(nonce, plain, aad, out) {
          const cipher = createCipheriv("aes-256-gcm", key, nonce);
          cipher.setAAD(aad);
          const body = cipher.update(plain);
          cipher.final();
          out.set(body);
          out.set(cipher.getAuthTag(), body.byteLength);
        },
        open(nonce, sealed, aad) {
          const at = sealed.byteLength - TAG;
          const decipher = createDecipheriv("aes-256-gcm", key, nonce);
          decipher.setAAD(aad);
          decipher.setAuthTag(sealed.subarray(at));
          const plain = decipher.update(sealed.subarray(0, at));
          decipher.final(); // throws when the tag does not verify
          // A plain Uint8Array over the Buffer's bytes (no copy): callers see no Buffer API.
          return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
        },
      };
    },
  };
}

const EVP_CTRL_GCM_GET_TAG = 0x10;
const EVP_CTRL_GCM_SET_TAG = 0x11;

/** EVP_{Encrypt,Decrypt}{Init_ex,Update,Final_ex}: the same signature each way. */
const INIT = {
  parameters: ["pointer", "pointer", "pointer", "buffer", "buffer"],
  result: "i32",
} as const;
const UPDATE = {
  parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
  result: "i32",
} as const;
const FINAL = { parameters: ["pointer", "buffer", "buffer"], result: "i32" } as const;

const LIBCRYPTO_SYMBOLS = {
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_aes_256_gcm: { parameters: [], result: "pointer" },
  EVP_EncryptInit_ex: INIT,
  EVP_DecryptInit_ex: INIT,
  EVP_EncryptUpdate: UPDATE,
  EVP_DecryptUpdate: UPDATE,
  EVP_EncryptFinal_ex: FINAL,
  EVP_DecryptFinal_ex: FINAL,
  EVP_CIPHER_CTX_ctrl: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
} as const;

const LIBCRYPTO_NAMES = ["libcrypto.so.3", "libcrypto.3.dylib", "libcrypto.so"];

/** OpenSSL 3's EVP AES-256-GCM through Deno's FFI; undefined when it cannot be loaded. */
function libcryptoAead(deno: typeof Deno): NativeAead | undefined {
  if (typeof deno.dlopen !== "function") return undefined;
  let lib: Deno.DynamicLibrary<typeof LIBCRYPTO_SYMBOLS>["symbols"] | undefined;
  for (const name of LIBCRYPTO_NAMES) {
    try {
      lib = deno.dlopen(name, LIBCRYPTO_SYMBOLS).symbols;
      break;
    } catch { /* not this name, or no FFI permission */ }
  }
  if (!lib) return undefined;
  const evp = lib;
  const cipher = evp.EVP_aes_256_gcm();
  const written = new Int32Array(1);
  /** Where a final call may write (GCM writes nothing there). */
  const scratch = new Uint8Array(TAG);
  const check = (ok: number, what: string) => {
    if (ok !== 1) throw new Error(`AES-GCM: ${what} failed`);
  };
  const contexts = new FinalizationRegistry<Deno.PointerValue[]>((held) => {
    for (const ctx of held) evp.EVP_CIPHER_CTX_free(ctx);
  });
  return {
    importKey(raw) {
      const enc = evp.EVP_CIPHER_CTX_new();
      const dec = evp.EVP_CIPHER_CTX_new();
      if (!enc || !dec) throw new Error("AES-GCM: no cipher context");
      check(evp.EVP_EncryptInit_ex(enc, cipher, null, raw, null), "key setup");
      check(evp.EVP_DecryptInit_ex(dec, cipher, null, raw, null), "key setup");
      const handle: NativeAeadKey = {
        maxBytes: Infinity,
        seal(nonce, plain, aad, out) {
          check(evp.EVP_EncryptInit_ex(enc, null, null, null, nonce), "nonce");
          check(evp.EVP_EncryptUpdate(enc, null, written, aad, aad.byteLength), "aad");
          // A zero-length update is skipped: OpenSSL reads a null input as "finish".
          if (plain.byteLength > 0) {
            check(evp.EVP_EncryptUpdate(enc, out, written, plain, plain.byteLength), "seal");
          }
          const tag = out.subarray(plain.byteLength);
          check(evp.EVP_EncryptFinal_ex(enc, scratch, written), "seal");
          check(evp.EVP_CIPHER_CTX_ctrl(enc, EVP_CTRL_GCM_GET_TAG, TAG, tag), "tag");
        },
        open(nonce, sealed, aad) {
          const at = sealed.byteLength - TAG;
          if (at < 0) throw new Error("AES-GCM: too short");
          const out = new Uint8Array(at);
          check(evp.EVP_DecryptInit_ex(dec, null, null, null, nonce), "nonce");
          check(evp.EVP_DecryptUpdate(dec, null, written, aad, aad.byteLength), "aad");
          if (at > 0) {
            check(evp.EVP_DecryptUpdate(dec, out, written, sealed.subarray(0, at), at), "open");
          }
          check(
            evp.EVP_CIPHER_CTX_ctrl(dec, EVP_CTRL_GCM_SET_TAG, TAG, sealed.subarray(at)),
            "tag",
          );
          // The final call checks the tag: anything but 1 is a part that does not verify.
          check(evp.EVP_DecryptFinal_ex(dec, scratch, written), "tag check");
          return out;
        },
      };
      contexts.register(handle, [enc, dec]);
      return handle;
    },
  };
}

const HOST_AEAD = loadNativeAead();
