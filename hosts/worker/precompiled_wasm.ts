/**
 * hash-wasm's argon2id in a Worker. workerd refuses to compile WebAssembly from bytes at run time
 * ("Wasm code generation disallowed by embedder"), which is how hash-wasm loads its binaries
 * (`WebAssembly.compile(bytes)`, then `WebAssembly.instantiate(module, imports)`). It does accept
 * WebAssembly modules the Worker imports statically (wrangler's `CompiledWasm` rule): those are
 * compiled by the platform when the Worker is uploaded and arrive as `WebAssembly.Module`s.
 *
 * scripts/build_worker.ts writes hash-wasm's argon2 and blake2b binaries beside the bundle as
 * `argon2.wasm` and `blake2b.wasm`, and makes the entry import them and hand them here with each
 * binary's length and SHA-256. `usePrecompiledWasm` then answers `WebAssembly.compile(bytes)` for
 * exactly those bytes with the module compiled from them, so hash-wasm runs unchanged and hashes
 * exactly as it does on Deno. Password hashing itself skips hash-wasm's wrapper and drives the
 * argon2 module directly (`useArgon2Module`), which yields the same hashes for less CPU.
 *
 * Why this is safe: nothing is ever compiled here. A request is answered only when its bytes are
 * the very bytes a precompiled module was made from (same length, same SHA-256), so the answer is
 * what compiling them would have produced; any other bytes are refused with the CompileError
 * workerd itself throws, which src/crypto.ts's `wasmOr` takes as "no WebAssembly for this one"
 * (hash-wasm's SHA-256, say, then comes from Web Crypto as before). Without the modules (a bundle
 * built some other way) nothing is installed and password hashing stays on PBKDF2.
 */
import { useArgon2Module } from "../../src/auth/password.ts";
import { refuseWasm, SHA256_WASM, toHex } from "../../src/crypto.ts";

/** One statically imported module and the identity of the bytes it was compiled from. */
export interface PrecompiledWasm {
  /** Informational (argon2, blake2b): named in logs and errors. */
  name: string;
  module: WebAssembly.Module;
  /** Length of the binary in bytes. */
  bytes: number;
  /** SHA-256 of the binary, lowercase hex. */
  sha256: string;
}

type Compile = (bytes: BufferSource) => Promise<WebAssembly.Module>;

function viewOf(source: BufferSource): Uint8Array {
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
}

/**
 * A `WebAssembly.compile` that answers only for the given binaries. The length is compared first,
 * so bytes of any other size are refused without hashing them.
 */
export function precompiledCompile(known: readonly PrecompiledWasm[]): Compile {
  return async (source: BufferSource) => {
    const view = viewOf(source);
    const candidates = known.filter((entry) => entry.bytes === view.byteLength);
    if (candidates.length > 0) {
      const digest = toHex(await crypto.subtle.digest("SHA-256", view as BufferSource));
      const found = candidates.find((entry) => entry.sha256 === digest);
      if (found) return found.module;
    }
    // The message workerd gives for run-time compilation, so callers treat both alike.
    throw new WebAssembly.CompileError(
      `Wasm code generation disallowed by embedder: ${view.byteLength} bytes are none of the ` +
        `precompiled modules (${known.map((entry) => entry.name).join(", ")})`,
    );
  };
}

/** Installs `precompiledCompile(known)` as this isolate's `WebAssembly.compile`, and hands the
 * argon2 module to the password port, which hashes on one kept instance of it (src/auth/
 * argon2_wasm.ts: a login then reuses the 19 MiB it fills instead of growing a new memory).
 * Called once by the Worker's entry, before any request (so before any hashing). */
export function usePrecompiledWasm(known: readonly PrecompiledWasm[]): void {
  if (typeof WebAssembly === "undefined" || known.length === 0) return;
  (WebAssembly as { compile: Compile }).compile = precompiledCompile(known);
  const argon2 = known.find((entry) => entry.name === "argon2");
  if (argon2) useArgon2Module(argon2.module);
  // Not shipped, so refused: SHA-256 comes from Web Crypto from the first call on, without
  // decoding hash-wasm's binary in every new isolate first (a few ms of its cold start).
  if (!known.some((entry) => entry.name === SHA256_WASM)) refuseWasm(SHA256_WASM);
}
