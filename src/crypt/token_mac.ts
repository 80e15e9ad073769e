/**
 * HMAC-SHA-256 (RFC 2104, FIPS 180-4) of many short strings under one key, synchronous and in
 * plain JavaScript, for the spam filter's keyed token hashes (crypt/spam_tokens.ts). The key's
 * inner and outer pads are compressed once, so a token of up to 55 UTF-8 bytes costs two
 * SHA-256 block compressions and no allocation besides its output, and recent results are
 * remembered (a plaintext word and its MAC held in memory only, as the message itself is).
 *
 * Why not Web Crypto or node:crypto: a message offers the classifier up to 600 tokens and each
 * call there is an object and (Web Crypto) an async op: measured on Deno 2.9 here, 600 tokens
 * took 4–20 ms through node:crypto's createHmac and 8–21 ms through crypto.subtle.sign, against
 * well under a millisecond this way; @noble/hashes' HMAC (a dependency already) needs a state
 * clone per call and measured 3–5 µs per token against 1–1.5 µs here. The output is the standard
 * HMAC's (the test checks it against node:crypto), so any host computes the same hashes.
 */

const K = new Int32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);
const IV = new Int32Array([
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
]);

const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));

/** Compresses the 64-byte block at `block[at…]` into `state` (8 words). `w`: scratch of 64. */
function compress(state: Int32Array, block: Uint8Array, at: number, w: Int32Array) {
  for (let i = 0; i < 16; i++, at += 4) {
    w[i] = (block[at] << 24) | (block[at + 1] << 16) | (block[at + 2] << 8) | block[at + 3];
  }
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15], b = w[i - 2];
    const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
    const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  let a = state[0], b = state[1], c = state[2], d = state[3];
  let e = state[4], f = state[5], g = state[6], h = state[7];
  for (let i = 0; i < 64; i++) {
    const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] +
      w[i]) | 0;
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0] + a) | 0;
  state[1] = (state[1] + b) | 0;
  state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0;
  state[4] = (state[4] + e) | 0;
  state[5] = (state[5] + f) | 0;
  state[6] = (state[6] + g) | 0;
  state[7] = (state[7] + h) | 0;
}

const encoder = new TextEncoder();
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * Hex MACs already computed, across all keys: mail repeats its words (a 5 KB message has a few
 * hundred distinct ones, mostly common), so most words of a new message were hashed under the
 * same key a moment ago. Bounded: emptied when it reaches CACHED entries (about 6 MB).
 */
const CACHED = 50_000;
const cache = new Map<string, string>();
let nextId = 0;

/** HMAC-SHA-256 under one key, for many short inputs. */
export class TokenMac {
  /** Names this key in the shared cache (never the key's bytes). */
  private readonly id = (nextId++).toString(36) + ":";
  private readonly inner = new Int32Array(8);
  private readonly outer = new Int32Array(8);
  private readonly state = new Int32Array(8);
  private readonly w = new Int32Array(64);
  private block = new Uint8Array(128);

  /** `key`: at most 64 bytes (a 32-byte derived key here); copied into the pads. */
  constructor(key: Uint8Array) {
    if (key.byteLength > 64) throw new Error("TokenMac: keys longer than a block are not used");
    const pad = new Uint8Array(64);
    for (const [state, x] of [[this.inner, 0x36], [this.outer, 0x5c]] as const) {
      pad.fill(x);
      for (let i = 0; i < key.byteLength; i++) pad[i] = key[i] ^ x;
      state.set(IV);
      compress(state, pad, 0, this.w);
    }
    pad.fill(0);
  }

  /** The MAC's 32 bytes as 8 big-endian words in `this.state`. */
  private run(data: Uint8Array, length: number) {
    const { state, w } = this;
    // Inner hash: the key's pad (already compressed), then the data, padded (FIPS 180-4 5.1.1).
    state.set(this.inner);
    const blocks = Math.floor((length + 8) / 64) + 1;
    if (this.block.byteLength < blocks * 64) {
      const grown = new Uint8Array(blocks * 64);
      grown.set(data.subarray(0, length));
      this.block = grown;
      data = grown;
    }
    const block = this.block;
    if (data !== block) block.set(data.subarray(0, length));
    block.fill(0, length, blocks * 64);
    block[length] = 0x80;
    const bits = (length + 64) * 8;
    const end = blocks * 64;
    block[end - 4] = bits >>> 24;
    block[end - 3] = (bits >>> 16) & 0xff;
    block[end - 2] = (bits >>> 8) & 0xff;
    block[end - 1] = bits & 0xff;
    block[end - 5] = Math.floor(bits / 2 ** 32) & 0xff;
    for (let at = 0; at < end; at += 64) compress(state, block, at, w);
    // Outer hash: its pad, then the inner digest (32 bytes) in one padded block.
    for (let i = 0; i < 8; i++) {
      const v = state[i];
      block[i * 4] = v >>> 24;
      block[i * 4 + 1] = (v >>> 16) & 0xff;
      block[i * 4 + 2] = (v >>> 8) & 0xff;
      block[i * 4 + 3] = v & 0xff;
    }
    block.fill(0, 32, 64);
    block[32] = 0x80;
    block[62] = 0x03; // (64 + 32) * 8 = 768 bits
    state.set(this.outer);
    compress(state, block, 0, w);
  }

  /** The full 32-byte MAC of `data`. */
  mac(data: Uint8Array): Uint8Array {
    this.run(data, data.byteLength);
    const out = new Uint8Array(32);
    for (let i = 0; i < 8; i++) {
      new DataView(out.buffer).setInt32(i * 4, this.state[i]);
    }
    return out;
  }

  /**
   * The first `bytes` (at most 32) of the MAC of `text`'s UTF-8, in lower-case hex, from the
   * shared cache when it was computed lately.
   */
  hex(text: string, bytes: number): string {
    const name = this.id + bytes + ":" + text;
    const hit = cache.get(name);
    if (hit !== undefined) return hit;
    const out = this.compute(text, bytes);
    if (cache.size >= CACHED) cache.clear();
    cache.set(name, out);
    return out;
  }

  private compute(text: string, bytes: number): string {
    // Encoded straight into the block when it fits (a UTF-8 byte per UTF-16 unit at most 3).
    let length: number;
    let data: Uint8Array = this.block;
    if (text.length * 3 <= this.block.byteLength - 9) {
      length = encoder.encodeInto(text, this.block).written;
    } else {
      data = encoder.encode(text);
      length = data.byteLength;
    }
    this.run(data, length);
    let out = "";
    for (let i = 0; i < bytes; i++) out += HEX[(this.state[i >> 2] >>> (24 - 8 * (i & 3))) & 0xff];
    return out;
  }
}
