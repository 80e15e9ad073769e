/**
 * Issue 17 item 2 in the real runtime: test/fixtures/edge_crypto_worker.ts (importing src/crypto.ts
 * and src/auth/password.ts) is bundled with `deno bundle` and run in workerd through miniflare,
 * offline, with no compatibility flags (no nodejs_compat). This bundle imports no precompiled
 * WebAssembly (the Worker's own does: hosts/worker/precompiled_wasm.ts, tested in
 * test/worker_entry_test.ts), so workerd refuses all of hash-wasm, as it would a Worker bundled
 * without argon2.wasm and blake2b.wasm: this proves the fallbacks for that case — SHA-256 from
 * Web Crypto, new passwords as PBKDF2-SHA-256, argon2id hashes made by hash-wasm on Deno verified
 * in pure JS.
 *
 * Figures, not assertions: the workerd process's CPU time (utime+stime from /proc, Linux only)
 * and the wall time of each password operation are printed for the per-login budget.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { bundleWorker, Miniflare, type MiniflareLike, workerdCpuMs } from "./fixtures/workerd.ts";
import * as V from "./fixtures/edge_crypto.ts";
import { hashPassword, verifyPassword } from "../src/auth/password.ts";
import { buildWorker } from "../scripts/build_worker.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** POSTs `body` as JSON to the fixture Worker and returns its 200 answer. */
async function postJson(mf: MiniflareLike, path: string, body: unknown): Promise<Json> {
  const response = await mf.dispatchFetch(`http://worker${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = await response.json() as Json;
  assertEquals(response.status, 200, JSON.stringify(json));
  return json;
}

Deno.test({
  name: "issue17#2: in workerd (no nodejs_compat), SHA-256 and password hashing work",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const mf = new Miniflare({
      modules: true,
      script: await bundleWorker("test/fixtures/edge_crypto_worker.ts"),
      compatibilityDate: "2025-09-01",
      compatibilityFlags: [],
    });
    try {
      const post = (path: string, body: unknown) => postJson(mf, path, body);

      for (const [text, hex] of V.SHA256_VECTORS) {
        const got = await post("/sha256", { text });
        assertEquals(got.hex, hex);
        assert(got.wasmRefused, "workerd refused hash-wasm, so the digest came from Web Crypto");
      }
      const million = await mf.dispatchFetch("http://worker/sha256", {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: new Uint8Array(1_000_000).fill(0x61),
      });
      assertEquals((await million.json() as Json).hex, V.MILLION_A_SHA256);

      const figures: string[] = [];
      const timed = async (label: string, path: string, body: unknown): Promise<Json> => {
        const cpuBefore = workerdCpuMs();
        const wallBefore = performance.now();
        const got = await post(path, body);
        const wall = performance.now() - wallBefore;
        const cpuAfter = workerdCpuMs();
        const cpu = cpuBefore === undefined || cpuAfter === undefined
          ? "n/a"
          : `${cpuAfter - cpuBefore} ms`;
        figures.push(`${label}: workerd CPU ${cpu}, wall ${wall.toFixed(0)} ms`);
        return got;
      };

      const made = await timed("PBKDF2 hash (600k)", "/hash", { password: V.VECTOR_PASSWORD });
      assert(/^\$pbkdf2-sha256\$i=600000\$/.test(made.hash), made.hash);
      assert(
        (await timed("PBKDF2 verify", "/verify", {
          password: V.VECTOR_PASSWORD,
          hash: made.hash,
        })).ok,
      );
      assert(!(await post("/verify", { password: "wrong password!", hash: made.hash })).ok);
      assert((await post("/verify", { password: V.VECTOR_PASSWORD, hash: V.PBKDF2_VECTOR })).ok);

      // An argon2id login made on Deno by hash-wasm (a fresh one, and the stored vector).
      const fromDeno = await hashPassword("made on deno, verified at the edge");
      assert(fromDeno.startsWith("$argon2id$"));
      assert(
        (await timed("argon2id verify (pure JS)", "/verify", {
          password: "made on deno, verified at the edge",
          hash: fromDeno,
        })).ok,
      );
      assert(!(await post("/verify", { password: V.VECTOR_PASSWORD, hash: fromDeno })).ok);
      assert((await post("/verify", { password: V.VECTOR_PASSWORD, hash: V.ARGON2ID_VECTOR })).ok);
      assert(
        !(await post("/verify", {
          password: V.VECTOR_PASSWORD,
          hash: V.tampered(V.ARGON2ID_VECTOR),
        })).ok,
      );
      console.log(figures.join("\n"));
    } finally {
      await mf.dispose();
    }
  },
});

Deno.test({
  name: "issue17#2: in workerd with the precompiled argon2/blake2b modules, passwords are argon2id",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // Built as the Worker is (scripts/build_worker.ts), around the small fixture Worker.
    const out = await Deno.makeTempDir({ prefix: "postern-edge-argon2-" });
    const built = await buildWorker({ out, main: "test/fixtures/edge_crypto_worker.ts" });
    const mf = new Miniflare({
      modules: true,
      scriptPath: built.script,
      modulesRoot: built.dir,
      modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
      compatibilityDate: "2025-09-01",
      compatibilityFlags: [],
    });
    try {
      const post = (path: string, body: unknown) => postJson(mf, path, body);
      const cpu = async (label: string, n: number, op: () => Promise<void>) => {
        const before = workerdCpuMs();
        for (let i = 0; i < n; i++) await op();
        const after = workerdCpuMs();
        const per = before === undefined || after === undefined
          ? "n/a"
          : `${(after - before) / n} ms`;
        return `${label}: workerd CPU ${per} (n=${n})`;
      };

      // SHA-256's binary is not shipped: refused and answered by Web Crypto, argon2 unaffected.
      const digest = await post("/sha256", { text: "abc" });
      assertEquals(digest.hex, V.SHA256_VECTORS[1][1]);
      assertEquals([digest.wasmRefused, digest.argon2Refused], [true, false]);

      const made = await post("/hash", { password: V.VECTOR_PASSWORD });
      assertEquals(made.argon2Refused, false, "argon2 ran from the precompiled modules");
      assert(
        /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/.test(made.hash),
        made.hash,
      );
      assert(await verifyPassword(V.VECTOR_PASSWORD, made.hash), "workerd's hash verifies on Deno");
      assert(!await verifyPassword("wrong password!", made.hash));
      // And Deno's (hash-wasm) and hashlib's PBKDF2 verify in workerd; wrong passwords do not.
      assert((await post("/verify", { password: V.VECTOR_PASSWORD, hash: V.ARGON2ID_VECTOR })).ok);
      assert(!(await post("/verify", { password: "wrong password!", hash: V.ARGON2ID_VECTOR })).ok);
      assert((await post("/verify", { password: V.VECTOR_PASSWORD, hash: V.PBKDF2_VECTOR })).ok);
      assert(!(await post("/verify", { password: "wrong password!", hash: V.PBKDF2_VECTOR })).ok);

      // Figures, not assertions: a login's password check, alone.
      const figures = [
        await cpu("argon2id hash (precompiled WASM)", 10, async () => {
          await post("/hash", { password: V.VECTOR_PASSWORD });
        }),
        await cpu("argon2id verify (precompiled WASM)", 10, async () => {
          assert((await post("/verify", { password: V.VECTOR_PASSWORD, hash: made.hash })).ok);
        }),
        await cpu("PBKDF2 verify (600k, Web Crypto)", 10, async () => {
          assert(
            (await post("/verify", { password: V.VECTOR_PASSWORD, hash: V.PBKDF2_VECTOR })).ok,
          );
        }),
      ];
      console.log(figures.join("\n"));
    } finally {
      await mf.dispose();
      await Deno.remove(out, { recursive: true });
    }
  },
});
