/**
 * Small Web Crypto helpers shared by the gateway: hashing, random tokens, constant-time
 * comparison and AES-GCM sealing of secrets with the master key. Web APIs only.
 *
 * hash-wasm compiles its WebAssembly from bytes at run time, which workerd (Cloudflare Workers)
 * refuses ("Wasm code generation disallowed by embedder") except for the binaries the Worker
 * imports precompiled (hosts/worker/precompiled_wasm.ts: argon2 and blake2b). `wasmOr` runs the
 * WASM path until the runtime refuses that binary once, then the Web Crypto (or pure-JS) path for
 * the life of the isolate.
 */
import { sha256 } from "hash-wasm";

const encoder = new TextEncoder();

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (const b of view) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Standard base64 (RFC 4648 section 4), in chunks so large inputs do not overflow the stack. */
export function toBase64(bytes: Uint8Array | ArrayBuffer): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  // ES2026's encoder, where the runtime has it (Deno, Bun, workerd): no binary string between.
  const native = (view as { toBase64?: () => string }).toBase64;
  if (native) return native.call(view);
  let binary = "";
  for (let i = 0; i < view.length; i += 0x8000) {
    binary += String.fromCharCode(...view.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The runtime's own base64 decoder (ES2026; Deno, workerd), where it has one. */
const nativeFromBase64 = (Uint8Array as { fromBase64?: (text: string) => Uint8Array })
  .fromBase64;

/** Standard base64, padded or not (PHC strings leave the padding out). Throws on bad input. */
export function fromBase64(text: string): Uint8Array {
  // The native decoder makes no string per octet (a 4 KB federated message: 21.5 → 7.5 µs);
  // what it refuses (say a lone "=" of padding) goes through atob as before.
  if (nativeFromBase64) {
    try {
      return nativeFromBase64.call(Uint8Array, text);
    } catch { /* atob below takes it, or throws */ }
  }
  const binary = atob(text + "=".repeat((4 - (text.length % 4)) % 4));
  // A loop, not Uint8Array.from(binary, mapFn): that gathers every value in a JavaScript list
  // first, 4 to 8 times the bytes (an 18 MB attachment sent from a 128 MB Worker; issue 17).
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function fromBase64Url(text: string): Uint8Array {
  return fromBase64(text.replaceAll("-", "+").replaceAll("_", "/"));
}

/**
 * Digests of byte arrays computed off the event loop (hosts/process/mime_thread.ts: the MIME worker hashes
 * each message it composes or parses), so the delivery path does not hash the same bytes again.
 * Only for bytes that never change afterwards, as a message's raw form never does.
 */
const knownDigests = new WeakMap<Uint8Array, string>();

export function rememberSha256(bytes: Uint8Array, hex: string): void {
  knownDigests.set(bytes, hex);
}

export const knownSha256 = (bytes: Uint8Array): string | undefined => knownDigests.get(bytes);

/** The hash-wasm binaries this isolate refused to compile; once refused, always refused. */
const refused = new Set<string>();

/** Whether this isolate refused `binary` (any binary, without one); once true, it stays true. */
export const wasmIsRefused = (binary?: string): boolean =>
  binary === undefined ? refused.size > 0 : refused.has(binary);

/**
 * Latches `binary` as refused before any try: for a host that knows the runtime will refuse it
 * (a Worker refuses every binary it does not import precompiled), which spares each new isolate
 * decoding the binary from base64 to be told so.
 */
export function refuseWasm(binary: string): void {
  refused.add(binary);
}

/** A refusal to compile or run WebAssembly at all, as opposed to an error about the input: V8's
 * CompileError from an embedder that forbids code generation, or hash-wasm's own "not supported". */
function isWasmRefusal(error: unknown): boolean {
  if (typeof WebAssembly !== "undefined" && error instanceof WebAssembly.CompileError) return true;
  const message = error instanceof Error ? error.message : String(error);
  return /wasm code generation|webassembly is not supported/i.test(message);
}

/**
 * `wasm` until the runtime refuses WebAssembly for `binary`, then `fallback` for the life of the
 * isolate. One latch per binary, not one for the runtime: a Worker refuses hash-wasm's SHA-256
 * but runs its argon2id from the modules it imports precompiled. Calls naming the same binary
 * share the latch. Other errors from `wasm` pass through unchanged.
 */
export function wasmOr<A extends unknown[], R>(
  wasm: (...args: A) => Promise<R>,
  fallback: (...args: A) => Promise<R>,
  binary = "hash-wasm",
): (...args: A) => Promise<R> {
  return async (...args: A) => {
    if (!refused.has(binary)) {
      try {
        return await wasm(...args);
      } catch (error) {
        if (!isWasmRefusal(error)) throw error;
        refused.add(binary);
      }
    }
    return await fallback(...args);
  };
}

/** The latch of hash-wasm's SHA-256 binary. */
export const SHA256_WASM = "sha256";

const sha256Digest = wasmOr(
  (data: string | Uint8Array) => sha256(data),
  async (data: string | Uint8Array) =>
    toHex(
      await crypto.subtle.digest(
        "SHA-256",
        (typeof data === "string" ? encoder.encode(data) : data) as BufferSource,
      ),
    ),
  SHA256_WASM,
);

/** A synchronous SHA-256 (hex of the UTF-8 or raw bytes) the host's runtime has built in. */
export type NativeSha256 = (data: string | Uint8Array) => string;
let nativeSha256: NativeSha256 | undefined;

/**
 * Lets a host hand in its runtime's native SHA-256 (hosts/process: node:crypto, which uses the
 * CPU's SHA instructions): 4 µs for a 5 KB message where hash-wasm takes 18 µs, and a delivery
 * hashes a message twice (its bytes, and those after the trace fields for its key). The edge
 * hosts have none and keep the portable path.
 */
export function useNativeSha256(digest: NativeSha256): void {
  nativeSha256 = digest;
}

/** SHA-256 as hex: the host's native digest where it gave one; else hash-wasm's WebAssembly
 * SHA-256, which costs far less per call than an async `crypto.subtle.digest` round trip
 * (measured on Deno), as this sits on every delivery's hot path; where WebAssembly is refused
 * (workerd) the same digest comes from Web Crypto. */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  if (typeof data !== "string") {
    const known = knownSha256(data);
    if (known) return known;
  }
  if (nativeSha256) return nativeSha256(data);
  return await sha256Digest(data);
}

export function randomToken(bytes = 32): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

const purposeKeys = new WeakMap<Uint8Array, Map<string, Promise<Uint8Array>>>();

/**
 * HMAC-SHA-256(base, label): a secret of its own for one purpose, derived from a key derived
 * from the master key (the JWT key), so that one purpose's tokens never verify as another's.
 * Remembered per base key and label.
 */
export function purposeSecret(base: Uint8Array, label: string): Promise<Uint8Array> {
  let byLabel = purposeKeys.get(base);
  if (!byLabel) purposeKeys.set(base, byLabel = new Map());
  let secret = byLabel.get(label);
  if (!secret) {
    secret = (async () => {
      const key = await crypto.subtle.importKey(
        "raw",
        base as BufferSource,
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      return new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(label)));
    })();
    byLabel.set(label, secret);
  }
  return secret;
}

/** Compares two strings in time that depends only on their length. */
export function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** Compares two byte arrays in time that depends only on their length. */
export function timingSafeEqualBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Seals secrets (TOTP seeds, private keys) with AES-256-GCM under a key derived from the master key. */
export class SecretBox {
  private constructor(private readonly key: CryptoKey) {}

  static async fromMasterKey(
    masterKey: string,
    purpose = "postern secrets v1",
  ): Promise<SecretBox> {
    const material = await crypto.subtle.importKey(
      "raw",
      encoder.encode(masterKey),
      "HKDF",
      false,
      [
        "deriveKey",
      ],
    );
    const key = await crypto.subtle.deriveKey(
      { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: encoder.encode(purpose) },
      material,
      { name: "AES-GCM", length: 256 },
      false,
      ["encrypt", "decrypt"],
    );
    return new SecretBox(key);
  }

  async seal(plain: string): Promise<string> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv },
      this.key,
      encoder.encode(plain),
    );
    return `v1.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(sealed))}`;
  }

  async open(sealed: string): Promise<string> {
    const [version, iv, data] = sealed.split(".");
    if (version !== "v1" || !iv || !data) throw new Error("unknown sealed secret format");
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: fromBase64Url(iv) as BufferSource },
      this.key,
      fromBase64Url(data) as BufferSource,
    );
    return new TextDecoder().decode(plain);
  }
}
