/**
 * Password hashing. New hashes are argon2id (RFC 9106) over hash-wasm's binary, OWASP's minimum:
 * 19 MiB, 2 passes, 1 lane — on Deno, Bun and Node, which compile WebAssembly from bytes, and in a
 * Cloudflare Worker, whose bundle imports hash-wasm's argon2 and blake2b binaries precompiled
 * (hosts/worker/precompiled_wasm.ts; workerd refuses run-time compilation). Where WebAssembly is
 * still refused (a Worker bundled without those modules), new hashes are PBKDF2-HMAC-SHA-256
 * (RFC 8018 section 5.2) from Web Crypto at OWASP's 2023 count of 600,000 iterations, which the
 * runtime computes natively. Both are stored as PHC strings, so parameters can be raised later
 * and every host verifies both schemes:
 *
 *   $argon2id$v=19$m=19456,t=2,p=1$<b64 salt>$<b64 hash>
 *   $pbkdf2-sha256$i=600000$<b64 salt>$<b64 hash>
 *
 * (b64: standard alphabet, no padding, as the PHC string format says). An argon2id hash verifies
 * without WebAssembly too, through @noble/hashes' pure-JS argon2id, slower (hundreds of ms of
 * CPU) but correct, so accounts move between hosts without a password reset. A sign-in that
 * matches a hash of another scheme or weaker parameters replaces it (`upgradedHash`).
 */
import { argon2id as nobleArgon2id } from "@noble/hashes/argon2.js";
import { argon2id, argon2Verify } from "hash-wasm";
import { argon2idOver, type Argon2Keeping, type Argon2Params } from "./argon2_wasm.ts";
import { fromBase64, timingSafeEqualBytes, toBase64, wasmIsRefused, wasmOr } from "../crypto.ts";

const MEMORY_KIB = 19 * 1024;
const ITERATIONS = 2;
/** OWASP Password Storage Cheat Sheet (2023) for PBKDF2-HMAC-SHA-256. */
export const PBKDF2_ITERATIONS = 600_000;
const SALT_BYTES = 16;
/** The latch of src/crypto.ts's `wasmOr` for hash-wasm's argon2 (with its blake2b). */
const ARGON2 = "argon2";
/** What a hash made now starts with; anything else is upgraded at the next sign-in. */
const CURRENT_PREFIX = `$argon2id$v=19$m=${MEMORY_KIB},t=${ITERATIONS},p=1$`;
const HASH_BYTES = 32;

/** Bounds on parameters read back from stored hashes: a corrupt or hostile row must not pin the
 * CPU or exhaust a Worker's 128 MB. Well above what this module writes. */
const MAX_PBKDF2_ITERATIONS = 10_000_000;
const MAX_ARGON2_MEMORY_KIB = 64 * 1024;
const MAX_ARGON2_PASSES = 16;

const encoder = new TextEncoder();
const b64 = (bytes: Uint8Array) => toBase64(bytes).replace(/=+$/, "");

async function pbkdf2(
  password: string,
  salt: Uint8Array,
  iterations: number,
  length: number,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as BufferSource, iterations },
    key,
    length * 8,
  );
  return new Uint8Array(bits);
}

/** A new PBKDF2-HMAC-SHA-256 PHC string (the scheme for hosts without WebAssembly). */
export async function hashPasswordPbkdf2(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await pbkdf2(password, salt, PBKDF2_ITERATIONS, HASH_BYTES);
  return `$pbkdf2-sha256$i=${PBKDF2_ITERATIONS}$${b64(salt)}$${b64(hash)}`;
}

type KeptArgon2 = ReturnType<typeof argon2idOver>;

/** Where the kept instance's module comes from: the module itself (the Worker's entry imports it
 * precompiled) or a loader run once, at the first hash (the process host compiles hash-wasm's
 * binary from node_modules: hosts/process/argon2_module.ts). */
export type Argon2ModuleSource =
  | WebAssembly.Module
  | (() => Promise<WebAssembly.Module | undefined>);

let keptSource: Argon2ModuleSource | undefined;
/** argon2id on a kept instance of hash-wasm's argon2 binary (argon2_wasm.ts), on hosts that
 * gave the binary (`useArgon2Module`); undefined elsewhere, or when the loader found nothing,
 * and hash-wasm's wrapper runs it. */
let kept: Promise<KeptArgon2 | undefined> | undefined;
/** How long the host lets the kept instance live (`useArgon2Module`). */
let keptKeeping: Argon2Keeping = {};

/** Hashes and verifies argon2id with hash-wasm's argon2 binary, from `source`, on one kept
 * instance from now on in this isolate (same hashes as hash-wasm's wrapper, less CPU). Called
 * once by a host's entry: the Worker's (hosts/worker/precompiled_wasm.ts), the process's
 * (hosts/process/argon2_module.ts). */
export function useArgon2Module(source: Argon2ModuleSource, keeping: Argon2Keeping = {}): void {
  keptSource = source;
  keptKeeping = keeping;
  kept = undefined;
}

function keptArgon2(): Promise<KeptArgon2 | undefined> | undefined {
  const source = keptSource;
  if (!source) return undefined;
  // typeof, not instanceof: a module imported by workerd may come from another realm.
  if (typeof source !== "function") {
    return kept ??= Promise.resolve(argon2idOver(source as WebAssembly.Module, keptKeeping));
  }
  // A loader that fails leaves hashing to hash-wasm's wrapper: slower, never different.
  const load = source as () => Promise<WebAssembly.Module | undefined>;
  return kept ??= load().then(
    (module) => module && argon2idOver(module, keptKeeping),
    () => undefined,
  );
}

async function hashPasswordArgon2id(password: string): Promise<string> {
  const run = await keptArgon2();
  if (run) {
    const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
    const params = { m: MEMORY_KIB, t: ITERATIONS, p: 1, dkLen: HASH_BYTES };
    const hash = await run(encoder.encode(password), salt, params);
    return `${CURRENT_PREFIX}${b64(salt)}$${b64(hash)}`;
  }
  return await argon2id({
    password,
    salt: crypto.getRandomValues(new Uint8Array(SALT_BYTES)),
    parallelism: 1,
    iterations: ITERATIONS,
    memorySize: MEMORY_KIB,
    hashLength: HASH_BYTES,
    outputType: "encoded",
  });
}

/** argon2id, or undefined where the runtime refuses hash-wasm's argon2 (latched per isolate). */
const argon2idOrNothing: (password: string) => Promise<string | undefined> = wasmOr(
  hashPasswordArgon2id,
  () => Promise.resolve(undefined),
  ARGON2,
);

/** argon2id where its WebAssembly runs, PBKDF2-HMAC-SHA-256 where the runtime refuses it. */
export async function hashPassword(password: string): Promise<string> {
  return await argon2idOrNothing(password) ?? await hashPasswordPbkdf2(password);
}

/**
 * The hash to store in place of `stored` after `password` matched it: argon2id at today's
 * parameters when `stored` is of another scheme (PBKDF2, made on a host without WebAssembly) or
 * weaker parameters, and this host runs argon2id; undefined when there is nothing to change or
 * this host would only make PBKDF2 again. Costs one argon2id hash, once per account.
 */
export async function upgradedHash(password: string, stored: string): Promise<string | undefined> {
  if (stored.startsWith(CURRENT_PREFIX) || wasmIsRefused(ARGON2)) return undefined;
  return await argon2idOrNothing(password);
}

/** `$pbkdf2-sha256$i=N$salt$hash`, checked against bounds before any work. */
async function verifyPbkdf2(password: string, phc: string): Promise<boolean> {
  const match = /^\$pbkdf2-sha256\$i=(\d{1,8})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(phc);
  if (!match) return false;
  const iterations = Number(match[1]);
  if (iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS) return false;
  const salt = fromBase64(match[2]);
  const expected = fromBase64(match[3]);
  if (salt.length < 8 || expected.length < 16 || expected.length > 64) return false;
  return timingSafeEqualBytes(await pbkdf2(password, salt, iterations, expected.length), expected);
}

/** `$argon2id$v=19$m=…,t=…,p=…$salt$hash`, checked against bounds before any work. */
function parseArgon2id(
  phc: string,
): { params: Argon2Params; salt: Uint8Array; expected: Uint8Array } | undefined {
  const match =
    /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/
      .exec(phc);
  if (!match) return undefined;
  const [m, t, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (m > MAX_ARGON2_MEMORY_KIB || t < 1 || t > MAX_ARGON2_PASSES || p < 1 || m < 8 * p) {
    return undefined;
  }
  const salt = fromBase64(match[4]);
  const expected = fromBase64(match[5]);
  if (salt.length < 8 || expected.length < 4 || expected.length > 64) return undefined;
  return { params: { m, t, p, dkLen: expected.length }, salt, expected };
}

/** argon2id in pure JS (@noble/hashes), for runtimes that refuse hash-wasm's WebAssembly. */
function argon2idMatchesJs(password: string, phc: string): boolean {
  const parsed = parseArgon2id(phc);
  if (!parsed) return false;
  const { params: { m, t, p, dkLen }, salt, expected } = parsed;
  // The synchronous form: the async one yields to the scheduler between slices, which only adds
  // wall time inside a request (a Worker's CPU limit counts the same work either way).
  const actual = nobleArgon2id(encoder.encode(password), salt, {
    t,
    m,
    p,
    dkLen,
    maxmem: (MAX_ARGON2_MEMORY_KIB + 1024) * 1024,
  });
  return timingSafeEqualBytes(actual, expected);
}

/** argon2id on the kept instance (see `useArgon2Module`). */
async function argon2idMatchesKept(
  run: KeptArgon2,
  password: string,
  phc: string,
): Promise<boolean> {
  const parsed = parseArgon2id(phc);
  if (!parsed) return false;
  const actual = await run(encoder.encode(password), parsed.salt, parsed.params);
  return timingSafeEqualBytes(actual, parsed.expected);
}

const verifyArgon2 = wasmOr(
  (password: string, phc: string) => argon2Verify({ password, hash: phc }),
  (password: string, phc: string) => Promise.resolve(argon2idMatchesJs(password, phc)),
  ARGON2,
);

/** Whether `password` matches the stored PHC string, whichever scheme made it. Malformed or
 * unknown hashes never match. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  try {
    if (hash.startsWith("$pbkdf2-sha256$")) return await verifyPbkdf2(password, hash);
    if (hash.startsWith("$argon2id$")) {
      const run = await keptArgon2();
      if (run) return await argon2idMatchesKept(run, password, hash);
    }
    if (hash.startsWith("$argon2")) return await verifyArgon2(password, hash);
  } catch {
    // A hash that does not parse (bad base64, parameters hash-wasm rejects) matches nothing.
  }
  return false;
}

/** A hash that no password matches, verified against when an account does not exist so that
 * timing does not reveal which addresses exist. Made by this host's own scheme, so it costs what
 * a real login costs here. */
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
