import { assertEquals } from "../../test/fixtures/assert.ts";
import type { MimeStructure } from "../../schemas/mime_structure.ts";
import { StructureCache } from "./structure_cache.ts";

const s = (n: number) => ({ n }) as unknown as MimeStructure;

Deno.test("StructureCache: entries are per account, mailbox and UIDVALIDITY", () => {
  const cache = new StructureCache(10);
  cache.mailbox("a@x", 1, 7).set(5, s(1));
  assertEquals(cache.mailbox("a@x", 1, 7).get(5), s(1));
  assertEquals(cache.mailbox("b@x", 1, 7).get(5), undefined);
  assertEquals(cache.mailbox("a@x", 2, 7).get(5), undefined);
  assertEquals(cache.mailbox("a@x", 1, 8).get(5), undefined);
  cache.mailbox("a@x", 1, 7).set(5, s(2)); // replacing is not a second entry
  assertEquals(cache.size, 1);
});

Deno.test("StructureCache: past the bound the least recently used mailbox goes whole", () => {
  const cache = new StructureCache(4);
  const one = cache.mailbox("a@x", 1, 1);
  one.set(1, s(1));
  one.set(2, s(2));
  const two = cache.mailbox("a@x", 2, 1);
  two.set(1, s(3));
  two.set(2, s(4));
  cache.mailbox("a@x", 1, 1); // mailbox 1 used again: mailbox 2 is now the oldest
  cache.mailbox("a@x", 3, 1).set(1, s(5));
  assertEquals(cache.size, 3);
  assertEquals(cache.mailbox("a@x", 1, 1).get(2), s(2));
  assertEquals(cache.mailbox("a@x", 2, 1).get(1), undefined);
  // A handle to an evicted mailbox stores into a fresh one, counted again.
  two.set(3, s(6));
  two.set(4, s(7)); // five entries: mailbox 3, now the oldest, goes
  assertEquals(cache.size, 4);
  assertEquals(cache.mailbox("a@x", 2, 1).get(3), s(6));
  assertEquals(cache.mailbox("a@x", 3, 1).get(1), undefined);
  assertEquals(cache.mailbox("a@x", 1, 1).get(1), s(1));
});

Deno.test("StructureCache: one mailbox over the bound drops its oldest entries", () => {
  const cache = new StructureCache(3);
  const box = cache.mailbox("a@x", 1, 1);
  for (let uid = 1; uid <= 5; uid++) box.set(uid, s(uid));
  assertEquals(cache.size, 3);
  assertEquals(box.get(2), undefined);
  assertEquals(box.get(3), s(3));
  assertEquals(box.get(5), s(5));
});
