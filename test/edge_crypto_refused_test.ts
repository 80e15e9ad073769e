/**
 * Issue 17 item 2 with WebAssembly refused, as workerd refuses it: before anything in this file
 * hashes, WebAssembly.compile and WebAssembly.instantiate throw the CompileError workerd throws
 * ("Wasm code generation disallowed by embedder"). Each test file runs in its own isolate, so the
 * refusal (and the fallback it latches) stays in this file. SHA-256 must give the same digests
 * from Web Crypto, new passwords must be PBKDF2, and stored argon2id hashes made by hash-wasm must
 * still verify through the pure-JS argon2id.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import * as V from "./fixtures/edge_crypto.ts";
import { sha256Hex, wasmIsRefused } from "../src/crypto.ts";
import { hashPassword, verifyPassword } from "../src/auth/password.ts";

let refusals = 0;
const refuse = () => {
  refusals++;
  throw new WebAssembly.CompileError(
    "WebAssembly.compile(): Wasm code generation disallowed by embedder",
  );
};
Object.assign(WebAssembly, { compile: refuse, instantiate: refuse });
let refusalsAfterArgon2 = 0;

Deno.test("issue17#2: with WebAssembly refused, sha256Hex falls back to Web Crypto", async () => {
  assert(!wasmIsRefused(), "nothing has tried WebAssembly yet");
  for (const [text, hex] of V.SHA256_VECTORS) {
    assertEquals(await sha256Hex(text), hex);
    assertEquals(await sha256Hex(new TextEncoder().encode(text)), hex);
  }
  assertEquals(await sha256Hex(new Uint8Array(1_000_000).fill(0x61)), V.MILLION_A_SHA256);
  assert(wasmIsRefused(), "the refusal is latched for the isolate");
  assertEquals(refusals, 1, "WebAssembly was tried once, not on every call");
});

Deno.test("issue17#2: with WebAssembly refused, new hashes are PBKDF2-SHA-256 at 600,000", async () => {
  const hash = await hashPassword(V.VECTOR_PASSWORD);
  assert(/^\$pbkdf2-sha256\$i=600000\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/.test(hash), hash);
  assert(await verifyPassword(V.VECTOR_PASSWORD, hash));
  assert(!await verifyPassword(V.VECTOR_PASSWORD + " ", hash));
  assert(!await verifyPassword(V.VECTOR_PASSWORD, V.tampered(hash)));
  assert(await verifyPassword(V.VECTOR_PASSWORD, V.PBKDF2_VECTOR), "hashlib's PBKDF2 string");
  assert(wasmIsRefused("argon2"), "argon2 has a latch of its own, now set");
  refusalsAfterArgon2 = refusals;
});

Deno.test("issue17#2: with WebAssembly refused, hash-wasm's argon2id hashes verify in pure JS", async () => {
  assert(await verifyPassword(V.VECTOR_PASSWORD, V.ARGON2ID_VECTOR));
  assert(!await verifyPassword("correct horse battery stapler", V.ARGON2ID_VECTOR));
  assert(!await verifyPassword(V.VECTOR_PASSWORD, V.tampered(V.ARGON2ID_VECTOR)));
  for (const hash of V.BAD_HASHES) {
    assertEquals(await verifyPassword(V.VECTOR_PASSWORD, hash), false, hash);
  }
  assertEquals(
    refusals,
    refusalsAfterArgon2,
    "argon2's latch holds: hash-wasm was not tried again",
  );
});
