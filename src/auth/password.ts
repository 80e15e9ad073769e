/**
 * Password hashing with argon2id (RFC 9106) through hash-wasm (WebAssembly, edge-safe). Stored as
 * PHC strings so parameters can be raised later; OWASP's minimum: 19 MiB, 2 passes, 1 lane.
 */
import { argon2id, argon2Verify } from "hash-wasm";

const MEMORY_KIB = 19 * 1024;
const ITERATIONS = 2;

export async function hashPassword(password: string): Promise<string> {
  return await argon2id({
    password,
    salt: crypto.getRandomValues(new Uint8Array(16)),
    parallelism: 1,
    iterations: ITERATIONS,
    memorySize: MEMORY_KIB,
    hashLength: 32,
    outputType: "encoded",
  });
}

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (!hash.startsWith("$argon2")) return false;
  try {
    return await argon2Verify({ password, hash });
  } catch {
    return false;
  }
}

/** A hash that no password matches, verified against when an account does not exist so that
 * timing does not reveal which addresses exist. */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  return decoy ??= hashPassword(crypto.randomUUID());
}

/** Rules for new passwords: long enough, not absurdly long (argon2 input is bounded). */
export function passwordProblem(password: string): string | undefined {
  if (password.length < 10) return "the password must have at least 10 characters";
  if (password.length > 1024) return "the password must have at most 1024 characters";
  return undefined;
}
