import { assert, assertEquals, assertMatch } from "../../test/fixtures/assert.ts";
import { MAX_AGE_DAYS, srsForward, srsKey, srsReverse, stampFresh, stampOf } from "./srs.ts";

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 7, 12);
const key = await srsKey(new TextEncoder().encode("k".repeat(32)));
const other = await srsKey(new TextEncoder().encode("x".repeat(32)));

Deno.test("issue21#3: SRS0 forward and reverse (the libsrs2 layout)", async () => {
  const srs = await srsForward(key, "Alice@Example.COM", "fwd.test", NOW);
  assertMatch(srs, /^SRS0=[A-Z2-7]{6}=[A-Z2-7]{2}=Example\.COM=Alice@fwd\.test$/);
  assertEquals(await srsReverse(key, srs, NOW), { ok: true, address: "Alice@Example.COM" });
  // A local part holding "=" survives the round trip.
  const odd = await srsForward(key, "a=b@example.com", "fwd.test", NOW);
  assertEquals(await srsReverse(key, odd, NOW), { ok: true, address: "a=b@example.com" });
});

Deno.test("issue21#3: SRS hash is checked case-insensitively, and forged or foreign hashes fail", async () => {
  const srs = await srsForward(key, "alice@example.com", "fwd.test", NOW);
  assertEquals((await srsReverse(key, srs.toLowerCase(), NOW)).ok, true);
  assertEquals(await srsReverse(other, srs, NOW), { ok: false, reason: "bad_hash" });
  const tampered = srs.replace("=alice@", "=mallory@");
  assertEquals(await srsReverse(key, tampered, NOW), { ok: false, reason: "bad_hash" });
  assertEquals(await srsReverse(key, "bob@fwd.test", NOW), { ok: false, reason: "not_srs" });
  assertEquals(await srsReverse(key, "SRS0=abc@fwd.test", NOW), {
    ok: false,
    reason: "malformed",
  });
});

Deno.test("issue21#3: SRS addresses expire after 21 days, across the stamp's wrap", async () => {
  const srs = await srsForward(key, "alice@example.com", "fwd.test", NOW);
  assertEquals((await srsReverse(key, srs, NOW + MAX_AGE_DAYS * DAY)).ok, true);
  assertEquals(await srsReverse(key, srs, NOW + (MAX_AGE_DAYS + 1) * DAY), {
    ok: false,
    reason: "expired",
  });
  // Day 1023 → day 0 of the next period: one day old, not 1023.
  const lastDay = 1023 * DAY;
  assert(stampFresh(stampOf(lastDay), lastDay + DAY));
  assertEquals(stampOf(0), "AA");
  assertEquals(stampOf(lastDay), "77");
});

Deno.test("issue21#3: SRS1 when forwarding an SRS address again, reversing to the first hop", async () => {
  const first = await srsForward(key, "alice@example.com", "hop1.test", NOW);
  const second = await srsForward(key, first, "hop2.test", NOW);
  assertMatch(
    second,
    /^SRS1=[A-Z2-7]{6}=hop1\.test==[A-Z2-7]{6}=[A-Z2-7]{2}=example\.com=alice@hop2\.test$/,
  );
  // A third hop keeps the first hop's part as it is, with a hash of its own.
  const third = await srsForward(key, second, "hop3.test", NOW);
  assertMatch(third, /^SRS1=[A-Z2-7]{6}=hop1\.test==.*@hop3\.test$/);
  const back = await srsReverse(key, second, NOW);
  assertEquals(back, { ok: true, address: first });
  assertEquals(await srsReverse(key, first, NOW), { ok: true, address: "alice@example.com" });
  assertEquals((await srsReverse(other, second, NOW)).ok, false);
});
