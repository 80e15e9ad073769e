/**
 * hosts/worker/precompiled_wasm.ts on Deno, with the binaries the Worker build ships: the shim
 * answers exactly those bytes with their module and refuses every other byte string as workerd
 * refuses run-time compilation, and with it installed (and compilation otherwise refused, as in
 * workerd) hash-wasm's argon2id runs unchanged while its SHA-256 falls back to Web Crypto.
 * Each test file runs in its own isolate, so replacing WebAssembly.compile stays in this file.
 */
import { assert, assertEquals, assertMatch } from "../../test/fixtures/assert.ts";
import * as V from "../../test/fixtures/edge_crypto.ts";
import { hashWasmBinary, WORKER_WASM } from "../../scripts/build_worker.ts";
import { sha256Hex, toHex, wasmIsRefused } from "../../src/crypto.ts";
import { hashPassword, upgradedHash, verifyPassword } from "../../src/auth/password.ts";
import {
  precompiledCompile,
  type PrecompiledWasm,
  usePrecompiledWasm,
} from "./precompiled_wasm.ts";

const realCompile = WebAssembly.compile;

async function shipped(): Promise<{ known: PrecompiledWasm[]; bytes: Uint8Array[] }> {
  const known: PrecompiledWasm[] = [];
  const bytes: Uint8Array[] = [];
  for (const name of WORKER_WASM) {
    const binary = await hashWasmBinary(name);
    bytes.push(binary);
    known.push({
      name,
      module: await realCompile(binary as BufferSource),
      bytes: binary.byteLength,
      sha256: toHex(await crypto.subtle.digest("SHA-256", binary as BufferSource)),
    });
  }
  return { known, bytes };
}

async function refusal(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert(error instanceof WebAssembly.CompileError, String(error));
    return error;
  }
  throw new Error("the bytes were answered, not refused");
}

Deno.test("issue17#2: the precompiled-WASM shim answers only the shipped binaries", async () => {
  const { known, bytes } = await shipped();
  const compile = precompiledCompile(known);
  for (const [i, binary] of bytes.entries()) {
    assert(await compile(binary as BufferSource) === known[i].module, known[i].name);
    assert(await compile(binary.slice().buffer) === known[i].module, "as an ArrayBuffer");
    // The same bytes inside a larger buffer (a view with an offset) are the same binary.
    const padded = new Uint8Array(binary.byteLength + 8);
    padded.set(binary, 4);
    const view = padded.subarray(4, 4 + binary.byteLength);
    assert(await compile(view as BufferSource) === known[i].module, "a view with an offset");
  }
  // Same length, one byte changed: refused (the digest, not only the length, decides).
  const altered = bytes[0].slice();
  altered[altered.length - 1] ^= 1;
  const error = await refusal(compile(altered as BufferSource));
  assertMatch(error.message, /Wasm code generation disallowed by embedder/);
  assertMatch(error.message, /argon2, blake2b/);
  // Another real module (an empty one) and arbitrary bytes: refused, never compiled.
  await refusal(compile(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]) as BufferSource));
  await refusal(compile(bytes[0].subarray(0, 100) as BufferSource));
  await refusal(compile(new Uint8Array(0) as BufferSource));
});

Deno.test("issue17#2: with the shim installed and compilation refused, argon2id runs, SHA-256 falls back", async () => {
  const { known } = await shipped();
  usePrecompiledWasm(known);
  assert(WebAssembly.compile !== realCompile, "installed");
  const hash = await hashPassword(V.VECTOR_PASSWORD);
  assertMatch(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert(await verifyPassword(V.VECTOR_PASSWORD, hash));
  assert(await verifyPassword(V.VECTOR_PASSWORD, V.ARGON2ID_VECTOR), "hash-wasm's stored vector");
  assert(!await verifyPassword("wrong password!", V.ARGON2ID_VECTOR));
  // A PBKDF2 hash matched at sign-in is upgraded; a current argon2id one is left alone.
  const upgraded = await upgradedHash(V.VECTOR_PASSWORD, V.PBKDF2_VECTOR);
  assert(upgraded && await verifyPassword(V.VECTOR_PASSWORD, upgraded), upgraded);
  assertEquals(await upgradedHash(V.VECTOR_PASSWORD, hash), undefined);
  // SHA-256's binary is not shipped: refused, and the digest comes from Web Crypto.
  for (const [text, hex] of V.SHA256_VECTORS) assertEquals(await sha256Hex(text), hex);
  assertEquals([wasmIsRefused("sha256"), wasmIsRefused("argon2")], [true, false]);
});
