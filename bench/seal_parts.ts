/**
 * CPU per sealed part (issue 20): µs of process CPU (all threads: Web Crypto works on others)
 * per `sealPart` / `openPart` of 1 KB, 5 KB, 64 KB and 1 MiB, through Web Crypto and through the
 * process host's native AES-GCM (hosts/process/native_aead.ts), best of 5 rounds. Runs on Deno
 * (`deno run -A bench/seal_parts.ts`) and Bun (`bun bench/seal_parts.ts`). Asserts nothing.
 */
import process from "node:process";
import { type DataKey, openPart, sealPart } from "../src/crypt/sealed_part.ts";
import { TokenMac } from "../src/crypt/token_mac.ts";
import type { NativeAead } from "../src/crypt/native_aead.ts";
import { nativeAead, nodeCryptoAead } from "../hosts/process/native_aead.ts";

const raw = crypto.getRandomValues(new Uint8Array(32));
const aead = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
const mac = new TokenMac(new Uint8Array(32));
const keyWith = (native: NativeAead | undefined): DataKey => ({
  id: 1,
  accountId: 1,
  aead,
  native: native?.importKey(raw),
  search: mac,
  spam: mac,
});
const deno = "Deno" in globalThis;
const ways: [string, DataKey][] = [
  ["web crypto", keyWith(undefined)],
  [deno ? "native (libcrypto FFI)" : "native (node:crypto)", keyWith(nativeAead())],
  ...(deno ? [["node:crypto", keyWith(nodeCryptoAead(Infinity))] as [string, DataKey]] : []),
];
const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
async function best(work: () => Promise<unknown>, n: number) {
  let out = Infinity;
  for (let round = 0; round < 5; round++) {
    const start = cpuUs();
    for (let i = 0; i < n; i++) await work();
    out = Math.min(out, (cpuUs() - start) / n);
  }
  return out.toFixed(1).padStart(8);
}

console.log(`${deno ? "Deno" : "Bun"}: µs CPU per part (seal / open), best of 5`);
for (const size of [1024, 5 * 1024, 64 * 1024, 1024 * 1024]) {
  const plain = new Uint8Array(size).fill(65);
  const n = size >= 1 << 20 ? 20 : size >= 1 << 16 ? 200 : 2000;
  const row: string[] = [];
  for (const [name, key] of ways) {
    const sealed = await sealPart(key, plain, "bench");
    const lookup = () => key;
    row.push(
      `${name} ${await best(() => sealPart(key, plain, "bench"), n)} /${await best(
        () => openPart(lookup, sealed, "bench"),
        n,
      )}`,
    );
  }
  console.log(`${String(size).padStart(8)} B: ${row.join("   ")}`);
}
