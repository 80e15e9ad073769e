/**
 * hash-wasm's argon2 binary for the process host (Deno, Bun), compiled once, at the first
 * password hash, and handed to the password port (`useArgon2Module`), which then drives one kept
 * instance of it (src/auth/argon2_wasm.ts) instead of hash-wasm's `argon2id()`. hash-wasm's
 * wrapper instantiates the binary anew for every hash, growing and faulting in a fresh 19 MiB
 * memory and two BLAKE2b instances each time: 57-62 ms of CPU per argon2id in Deno against
 * 37-42 ms on the kept instance (issue 17). The Worker gets the same binary precompiled
 * (hosts/worker/precompiled_wasm.ts); here the bytes come from hash-wasm's installed ES build,
 * the bytes hash-wasm itself compiles, so hashes are the same whichever path made them.
 *
 * hash-wasm ships its binaries only as base64 strings inside its JavaScript
 * (`var name$k = "argon2"; var data$k = "<base64>";`), not as .wasm files, so the file is read
 * and that string decoded; the text (about 1 MB) is dropped once the module is compiled. Where
 * the file is not there (a compiled binary, a trimmed install) or does not parse, the loader
 * answers undefined and hashing stays on hash-wasm's wrapper: slower, never different.
 */
import { readFile } from "node:fs/promises";
import { clearTimeout, setTimeout } from "node:timers";
import { fileURLToPath } from "node:url";
import { useArgon2Module } from "../../src/auth/password.ts";
import { memoryReleased } from "./memory_trim.ts";
import { fromBase64 } from "../../src/crypto.ts";

/** hash-wasm's ES build: the file Deno, Bun and the Worker's bundler all take. */
export const HASH_WASM_ESM = new URL(
  "../../node_modules/hash-wasm/dist/index.esm.js",
  import.meta.url,
);

/** The binary named `name` (argon2, blake2b, sha256, …) in hash-wasm's ES build `file`. */
export async function hashWasmBinary(name: string, file: URL = HASH_WASM_ESM): Promise<Uint8Array> {
  const source = await readFile(fileURLToPath(file), "utf8");
  const id = new RegExp(`^var name(\\$\\w*)? = "${name}";$`, "m").exec(source);
  if (!id) throw new Error(`${file.pathname} has no WebAssembly binary named ${name}`);
  const data = new RegExp(
    `^var data${(id[1] ?? "").replace("$", "\\$")} = "([A-Za-z0-9+/=]+)";$`,
    "m",
  ).exec(source);
  if (!data) throw new Error(`${file.pathname}: no data for the binary named ${name}`);
  return fromBase64(data[1]);
}

/** hash-wasm's argon2 binary compiled, or undefined where it cannot be read or compiled. */
export async function compileArgon2(
  file: URL = HASH_WASM_ESM,
): Promise<WebAssembly.Module | undefined> {
  try {
    return await WebAssembly.compile(await hashWasmBinary("argon2", file) as BufferSource);
  } catch {
    return undefined;
  }
}

/**
 * Hashing idle this long gives the kept instance's 19 MiB back (issue 20's idle memory: a server
 * that hashed the admin's password at start would otherwise hold them for good); the next hash
 * makes a new instance in about a millisecond.
 */
const ARGON2_IDLE_MS = 10_000;

let idleTimer: ReturnType<typeof setTimeout> | undefined;

/** Drops the instance ARGON2_IDLE_MS after the last hash, without keeping the process alive. */
function releaseWhenIdle(drop: () => void): void {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    drop();
    memoryReleased();
  }, ARGON2_IDLE_MS).unref();
}

/** Hands the password port a loader of hash-wasm's argon2 binary, run at the first hash (a CLI
 * command that never hashes never reads the file). Called once by the process's entry. */
export function useHashWasmArgon2(file: URL = HASH_WASM_ESM): void {
  useArgon2Module(() => compileArgon2(file), { releaseWhenIdle });
}
