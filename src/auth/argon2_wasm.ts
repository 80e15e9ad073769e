/**
 * argon2id (RFC 9106) over hash-wasm's argon2 WebAssembly binary, driven here instead of through
 * hash-wasm's `argon2id()`, with one instance (and its 19 MiB of linear memory) per isolate reused
 * by every hash. hash-wasm instantiates the module anew on each call, so each login grew a fresh
 * WebAssembly memory of m KiB and faulted in every page of it (about 8 ms of the 60 ms a login
 * cost in workerd, issue 17), plus two more instances for BLAKE2b.
 *
 * The binary does only the memory-filling passes (RFC 9106 section 3.2 steps 3 to 6, in
 * `Hash_Calculate`); H0 and the variable-length hash H' (section 3.2 steps 1, 2 and 7, section
 * 3.3) are BLAKE2b from @noble/hashes here, as hash-wasm computes them around the same call. The
 * binary's first pass XORs each new block into what the memory held (it relied on fresh, zeroed
 * memory), so the blocks are zeroed before every use of the kept instance.
 *
 * Hashing is synchronous once the instance exists: nothing else in the isolate can run between
 * writing the first blocks and reading the last, so the shared memory needs no lock.
 */
import { blake2b } from "@noble/hashes/blake2.js";

/** RFC 9106 section 3.1: version 0x13, type 2 (argon2id). */
const VERSION = 0x13;
const ARGON2ID = 2;
const BLOCK = 1024;
/** Memory kept between hashes at most: a larger (rare, legacy) hash drops its instance after. */
const KEEP_KIB = 32 * 1024;

export interface Argon2Params {
  /** Memory in KiB. */
  m: number;
  /** Passes. */
  t: number;
  /** Lanes. */
  p: number;
  /** Tag length in bytes. */
  dkLen: number;
}

interface Argon2Exports {
  memory: WebAssembly.Memory;
  Hash_GetBuffer(): number;
  Hash_SetMemorySize(bytes: number): number;
  Hash_Calculate(length: number, memoryKib: number): void;
}

const le32 = (n: number) => {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, true);
  return out;
};

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) out.set(part, at), at += part.length;
  return out;
}

/** H' of RFC 9106 section 3.3: BLAKE2b stretched to `length` bytes. */
function hashPrime(input: Uint8Array, length: number): Uint8Array {
  const first = concat([le32(length), input]);
  if (length <= 64) return blake2b(first, { dkLen: length });
  const out = new Uint8Array(length);
  const r = Math.ceil(length / 32) - 2;
  let v = blake2b(first, { dkLen: 64 });
  out.set(v.subarray(0, 32), 0);
  for (let i = 1; i < r; i++) {
    v = blake2b(v, { dkLen: 64 });
    out.set(v.subarray(0, 32), i * 32);
  }
  out.set(blake2b(v, { dkLen: length - 32 * r }), r * 32);
  return out;
}

/** How long the kept instance lives: a host with idle memory to give back says when. */
export interface Argon2Keeping {
  /**
   * Called after every hash with a function that drops the instance (its 19 MiB go with it and
   * the next hash makes a new one, about 1 ms): the process host calls it once hashing has been
   * idle a while (hosts/process/argon2_module.ts). Without it the instance lives as long as the
   * isolate, as in the Worker.
   */
  releaseWhenIdle?: (drop: () => void) => void;
}

/**
 * An argon2id function over `module` (hash-wasm's argon2 binary, compiled or imported
 * precompiled). The instance is made at the first call and kept (see `Argon2Keeping`).
 */
export function argon2idOver(module: WebAssembly.Module, keeping: Argon2Keeping = {}) {
  let instance: Promise<Argon2Exports> | undefined;
  const drop = () => {
    instance = undefined;
  };
  const exportsOf = () =>
    instance ??= WebAssembly.instantiate(module, {}).then((made) =>
      made.exports as unknown as Argon2Exports
    );

  return async (
    password: Uint8Array,
    salt: Uint8Array,
    { m, t, p, dkLen }: Argon2Params,
  ): Promise<Uint8Array> => {
    const wasm = await exportsOf();
    try {
      return fill(wasm, password, salt, { m, t, p, dkLen });
    } finally {
      // A legacy hash with much memory must not pin it for the isolate's life.
      if (m > KEEP_KIB) drop();
      else keeping.releaseWhenIdle?.(drop);
    }
  };
}

/** Steps 1 to 7 of RFC 9106 section 3.2 on the kept instance; synchronous throughout. */
function fill(
  wasm: Argon2Exports,
  password: Uint8Array,
  salt: Uint8Array,
  { m, t, p, dkLen }: Argon2Params,
): Uint8Array {
  if (p < 1 || t < 1 || m < 8 * p || dkLen < 4) throw new Error("argon2: bad parameters");
  const base = wasm.Hash_GetBuffer();
  // Blocks plus one block after them for the parameters the binary reads back. It returns -1
  // when the memory is already larger (its size check wraps around), which is fine.
  wasm.Hash_SetMemorySize(m * BLOCK + BLOCK);
  const memory = new Uint8Array(wasm.memory.buffer);
  if (memory.length < base + m * BLOCK + BLOCK) throw new Error("argon2: memory not granted");
  // Step 1: H0 over the parameters, the password, the salt, no secret and no associated data.
  const params = concat([le32(p), le32(dkLen), le32(m), le32(t), le32(VERSION), le32(ARGON2ID)]);
  const h0 = blake2b(
    concat([
      params,
      le32(password.length),
      password,
      le32(salt.length),
      salt,
      le32(0),
      le32(0),
    ]),
    { dkLen: 64 },
  );
  memory.fill(0, base, base + m * BLOCK);
  memory.set(params, base + m * BLOCK);
  // Step 3: the first two blocks of every lane. The lane length is m rounded down to 4p segments.
  const laneBlocks = Math.floor(m / (4 * p)) * 4;
  for (let lane = 0; lane < p; lane++) {
    for (let j = 0; j < 2; j++) {
      const block = hashPrime(concat([h0, le32(j), le32(lane)]), BLOCK);
      memory.set(block, base + (lane * laneBlocks + j) * BLOCK);
    }
  }
  // Steps 4 to 6 in WebAssembly: the passes, then the XOR of the lanes' last blocks into block 0.
  wasm.Hash_Calculate(0, m);
  // Step 7: the tag from the final block (the binary's memory may have moved: read it anew).
  const final = new Uint8Array(wasm.memory.buffer, base, BLOCK).slice();
  return hashPrime(final, dkLen);
}
