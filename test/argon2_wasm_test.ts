/**
 * src/auth/argon2_wasm.ts: argon2id driven over hash-wasm's argon2 binary on one kept instance
 * yields exactly what hash-wasm's own `argon2id()` yields, for OWASP's parameters and for odd
 * ones (several lanes, memory not a multiple of the segments, tags longer than one BLAKE2b
 * output), in any order of sizes on the same instance (the binary's first pass XORs into the
 * memory, so a reused instance must be wiped); and through the password port (`useArgon2Module`,
 * as the Worker's entry calls it) new hashes verify by hash-wasm and @noble/hashes, and hashes
 * made before by hash-wasm keep verifying.
 */
import { argon2id, argon2Verify } from "hash-wasm";
import { argon2id as nobleArgon2id } from "@noble/hashes/argon2.js";
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import * as V from "./fixtures/edge_crypto.ts";
import { hashWasmBinary } from "../scripts/build_worker.ts";
import { compileArgon2, useHashWasmArgon2 } from "../hosts/process/argon2_module.ts";
import { argon2idOver } from "../src/auth/argon2_wasm.ts";
import { hashPassword, useArgon2Module, verifyPassword } from "../src/auth/password.ts";
import { fromBase64, toHex } from "../src/crypto.ts";

const argon2Module = async () =>
  await WebAssembly.compile(await hashWasmBinary("argon2") as BufferSource);

Deno.test("issue17 (login CPU): the kept argon2id instance hashes as hash-wasm does", async () => {
  const run = argon2idOver(await argon2Module());
  const encoder = new TextEncoder();
  // Large, small, odd, large again: every case on the same instance and its memory.
  const cases = [
    [19456, 2, 1, 32],
    [64, 3, 2, 16],
    [100, 1, 4, 100],
    [8, 1, 1, 4],
    [1000, 2, 3, 64],
    [65, 2, 1, 65],
    [19456, 2, 1, 32],
  ];
  for (const [m, t, p, dkLen] of cases) {
    const password = encoder.encode(`password for m=${m}`);
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const ours = toHex(await run(password, salt, { m, t, p, dkLen }));
    const theirs = await argon2id({
      password,
      salt,
      memorySize: m,
      iterations: t,
      parallelism: p,
      hashLength: dkLen,
      outputType: "hex",
    });
    assertEquals(ours, theirs, `m=${m} t=${t} p=${p} T=${dkLen}`);
  }
});

Deno.test("issue17 (login CPU): the password port on the kept instance keeps old hashes verifying", async () => {
  useArgon2Module(await argon2Module());
  const hash = await hashPassword(V.VECTOR_PASSWORD);
  assertMatch(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert(await verifyPassword(V.VECTOR_PASSWORD, hash));
  assert(!await verifyPassword("wrong password!", hash));
  // What the kept instance wrote, hash-wasm and the pure-JS argon2id both accept.
  assert(await argon2Verify({ password: V.VECTOR_PASSWORD, hash }));
  const [, , , , salt, tag] = hash.split("$");
  const js = nobleArgon2id(new TextEncoder().encode(V.VECTOR_PASSWORD), fromBase64(salt), {
    t: 2,
    m: 19456,
    p: 1,
    dkLen: 32,
  });
  assertEquals(toHex(js), toHex(fromBase64(tag)));
  // A hash hash-wasm made earlier (and one of other parameters) still verifies.
  assert(await verifyPassword(V.VECTOR_PASSWORD, V.ARGON2ID_VECTOR), "the stored vector");
  const older = await argon2id({
    password: V.VECTOR_PASSWORD,
    salt: crypto.getRandomValues(new Uint8Array(16)),
    memorySize: 4096,
    iterations: 3,
    parallelism: 2,
    hashLength: 32,
    outputType: "encoded",
  });
  assert(await verifyPassword(V.VECTOR_PASSWORD, older), older);
  assert(!await verifyPassword("wrong password!", older));
  // Parameters past the bounds are refused before any work, as on the other paths.
  assert(!await verifyPassword(V.VECTOR_PASSWORD, older.replace("m=4096", "m=9999999")));
});

Deno.test("issue17 (login CPU): the process host compiles hash-wasm's argon2 binary lazily for the kept instance", async () => {
  // No file: the loader answers nothing, and hashing stays on hash-wasm's wrapper (same hashes).
  const missing = new URL("file:///nonexistent/hash-wasm/index.esm.js");
  assertEquals(await compileArgon2(missing), undefined);
  useHashWasmArgon2(missing);
  const fallback = await hashPassword(V.VECTOR_PASSWORD);
  assert(await argon2Verify({ password: V.VECTOR_PASSWORD, hash: fallback }));
  assert(await verifyPassword(V.VECTOR_PASSWORD, V.ARGON2ID_VECTOR));
  // The installed hash-wasm: the module the process's entry hands over, the bytes hash-wasm has.
  const module = await compileArgon2();
  assert(module, "hash-wasm's argon2 binary compiles from node_modules");
  assert(WebAssembly.Module.exports(module).some((e) => e.name === "Hash_Calculate"));
  useHashWasmArgon2();
  const hash = await hashPassword(V.VECTOR_PASSWORD);
  assertMatch(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert(await argon2Verify({ password: V.VECTOR_PASSWORD, hash }), "hash-wasm accepts it");
  assert(await verifyPassword(V.VECTOR_PASSWORD, hash));
  assert(await verifyPassword(V.VECTOR_PASSWORD, fallback), "a hash from the wrapper verifies");
  assert(await verifyPassword(V.VECTOR_PASSWORD, V.ARGON2ID_VECTOR), "the stored vector");
  assert(!await verifyPassword("wrong password!", hash));
});

Deno.test("issue20 (idle memory): the kept instance is given back when the host says hashing went idle, and the next hash makes a new one", async () => {
  const drops: (() => void)[] = [];
  const run = argon2idOver(await argon2Module(), { releaseWhenIdle: (drop) => drops.push(drop) });
  const params = { m: 64, t: 2, p: 1, dkLen: 32 };
  const salt = new Uint8Array(16).fill(7);
  const password = new TextEncoder().encode("correct horse");
  const first = toHex(await run(password, salt, params));
  assertEquals(drops.length, 1, "every hash tells the host it may drop the instance");
  drops[0]();
  const second = toHex(await run(password, salt, params));
  assertEquals(second, first, "a new instance hashes the same");
  const theirs = await argon2id({
    password,
    salt,
    memorySize: 64,
    iterations: 2,
    parallelism: 1,
    hashLength: 32,
    outputType: "hex",
  });
  assertEquals(second, theirs);
});
