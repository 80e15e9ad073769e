/**
 * Issue 17 item 2 on a host where WebAssembly compiles (Deno, Bun): SHA-256 and new argon2id
 * hashes stay on hash-wasm (the fast path), and the PBKDF2 scheme that Workers write verifies here
 * too, so an account made at the edge logs in on `postern serve`. The same checks with
 * WebAssembly refused are in edge_crypto_refused_test.ts; in real workerd, edge_crypto_workerd_test.ts.
 */
import { assert, assertEquals, assertRejects } from "./fixtures/assert.ts";
import * as V from "./fixtures/edge_crypto.ts";
import { sha256Hex, wasmIsRefused, wasmOr } from "../src/crypto.ts";
import { hashPassword, hashPasswordPbkdf2, verifyPassword } from "../src/auth/password.ts";

Deno.test("issue17#2: sha256Hex gives FIPS 180-4's digests through hash-wasm", async () => {
  for (const [text, hex] of V.SHA256_VECTORS) {
    assertEquals(await sha256Hex(text), hex);
    assertEquals(await sha256Hex(new TextEncoder().encode(text)), hex);
  }
  assertEquals(await sha256Hex(new Uint8Array(1_000_000).fill(0x61)), V.MILLION_A_SHA256);
  assert(!wasmIsRefused(), "WebAssembly compiles on this host, so no fallback was taken");
});

Deno.test("issue17#2: wasmOr passes errors other than a refusal through and keeps WASM", async () => {
  let fallbacks = 0;
  const f = wasmOr(
    (n: number) => n < 0 ? Promise.reject(new TypeError("negative")) : Promise.resolve(n * 2),
    () => Promise.resolve(++fallbacks),
  );
  await assertRejects(() => f(-1), TypeError, "negative");
  assertEquals(await f(2), 4);
  assertEquals(fallbacks, 0);
  assert(!wasmIsRefused());
});

Deno.test("issue17#2: new password hashes are argon2id where WebAssembly compiles", async () => {
  const hash = await hashPassword(V.VECTOR_PASSWORD);
  assert(hash.startsWith("$argon2id$v=19$m=19456,t=2,p=1$"), hash);
  assert(await verifyPassword(V.VECTOR_PASSWORD, hash));
  assert(!await verifyPassword(V.VECTOR_PASSWORD + "!", hash));
  assert(!await verifyPassword(V.VECTOR_PASSWORD, V.tampered(hash)));
  assert(await verifyPassword(V.VECTOR_PASSWORD, V.ARGON2ID_VECTOR), "a stored argon2id login");
});

Deno.test("issue17#2: PBKDF2-SHA-256 hashes (Python's and a Worker's) verify on Deno", async () => {
  assert(await verifyPassword(V.VECTOR_PASSWORD, V.PBKDF2_VECTOR), "hashlib's PBKDF2 string");
  assert(!await verifyPassword("correct horse battery stapl", V.PBKDF2_VECTOR));
  assert(!await verifyPassword(V.VECTOR_PASSWORD, V.tampered(V.PBKDF2_VECTOR)));
  const made = await hashPasswordPbkdf2("another long password");
  assert(/^\$pbkdf2-sha256\$i=600000\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/.test(made), made);
  assert(await verifyPassword("another long password", made));
  assert(!await verifyPassword("another long passwore", made));
  // Two hashes of one password differ (a fresh salt each time).
  assert(made !== await hashPasswordPbkdf2("another long password"));
});

Deno.test("issue17#2: malformed, out-of-bounds and unknown hashes match nothing", async () => {
  for (const hash of V.BAD_HASHES) {
    assertEquals(await verifyPassword(V.VECTOR_PASSWORD, hash), false, hash);
  }
});
