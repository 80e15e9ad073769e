/**
 * Issue 20: the process host seals and opens parts with a native AES-256-GCM on the calling
 * thread (hosts/process/native_aead.ts: OpenSSL through FFI on Deno, node:crypto on Bun), the
 * Worker with Web Crypto. The sealed format is one: a part sealed by any of them opens with any
 * other, under keys the vaults unwrapped from the same store, and a changed byte or another
 * place is refused by each.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { createTestGateway, TEST_MASTER_KEY } from "./fixtures/app.ts";
import { Vault } from "../src/crypt/vault.ts";
import { isSealed, openPart, openPartNow, sealPart } from "../src/crypt/sealed_part.ts";
import type { NativeAead } from "../src/crypt/native_aead.ts";
import { nativeAead, nodeCryptoAead } from "../hosts/process/native_aead.ts";

/** Sizes around what mail is made of, an empty part and one past Deno's node:crypto limit. */
const SIZES = [0, 1, 1024, 5 * 1024, 64 * 1024 + 7, 1024 * 1024 - 64];

Deno.test("issue20: parts sealed by Web Crypto, libcrypto and node:crypto open with each other", async () => {
  const gw = await createTestGateway();
  try {
    const store = gw.deps.store;
    const host = nativeAead();
    assert(host, "the process host has a native AES-GCM");
    const vaults: [string, NativeAead | undefined][] = [
      ["web crypto", undefined],
      ["host native", host],
      ["node:crypto", nodeCryptoAead(Infinity)],
      ["node:crypto to 4 KB", nodeCryptoAead(4 * 1024)],
    ];
    const opened = vaults.map(([name, native]) => {
      const vault = new Vault(store, TEST_MASTER_KEY, true, native);
      return { name, native, vault };
    });
    // The same account's key through each vault: one key, four implementations.
    const keys = await Promise.all(opened.map((v) => v.vault.activeKey(7)));
    assertEquals(new Set(keys.map((k) => k.id)).size, 1);
    for (const [i, key] of keys.entries()) {
      assertEquals(key.native !== undefined, opened[i].native !== undefined, opened[i].name);
    }
    for (const size of SIZES) {
      const plain = crypto.getRandomValues(new Uint8Array(Math.min(size, 65536)));
      const whole = new Uint8Array(size);
      for (let at = 0; at < size; at += plain.byteLength) {
        whole.set(plain.subarray(0, size - at), at);
      }
      for (const [s, sealer] of keys.entries()) {
        const sealed = await sealPart(sealer, whole, `blob test/${size}`);
        assert(isSealed(sealed));
        assertEquals(sealed.byteLength, size + 40);
        for (const reader of opened) {
          const what = `${size} B sealed by ${opened[s].name}, opened by ${reader.name}`;
          const back = await openPart(reader.vault.lookup, sealed, `blob test/${size}`);
          assertEquals(back.byteLength, size, what);
          assert(back.every((b, i) => b === whole[i]), what);
          // Tampered (the last ciphertext or tag byte) or moved to another place: refused.
          const changed = sealed.slice();
          changed[changed.byteLength - 1 - (size % 17)] ^= 1;
          for (
            const [bytes, place] of [
              [changed, `blob test/${size}`],
              [sealed, `blob test/${size}x`],
            ] as const
          ) {
            const refused = await openPart(reader.vault.lookup, bytes, place).then(
              () => undefined,
              (e: Error) => e.message,
            );
            assert(refused?.includes("does not verify"), `${what}: ${refused}`);
          }
        }
      }
    }
    // With its key loaded and native, a part opens with no promise (the IMAP/POP3 fast path).
    const native = opened[1];
    const small = await sealPart(keys[0], new TextEncoder().encode("hello"), "p");
    const now = openPartNow(native.vault.lookup, small, "p");
    assert(now instanceof Uint8Array, "opened on this thread");
    assertEquals(new TextDecoder().decode(now), "hello");
    const web = openPartNow(opened[0].vault.lookup, small, "p");
    assert(web instanceof Promise, "Web Crypto opens asynchronously");
    assertEquals(new TextDecoder().decode(await web), "hello");
  } finally {
    gw.close();
  }
});
