import { assert, assertEquals } from "../../test/fixtures/assert.ts";
import type { Deps } from "../deps.ts";
import { newEmailId, parseVerp, signLink, verifyLink, verpAddress } from "./signing.ts";

const deps = { jwtKey: new Uint8Array(32).fill(7) } as Deps;
const other = { jwtKey: new Uint8Array(32).fill(8) } as Deps;

Deno.test("signing: links verify only unchanged and under the same key", async () => {
  const token = await signLink(deps, { k: "c", e: "em_1", u: "https://a.example/" });
  assertEquals(await verifyLink(deps, token), { k: "c", e: "em_1", u: "https://a.example/" });
  assertEquals(await verifyLink(other, token), undefined);
  const [payload, sig] = token.split(".");
  assertEquals(await verifyLink(deps, `${payload}x.${sig}`), undefined);
  assertEquals(await verifyLink(deps, `${payload}.${sig}.x`), undefined);
  assertEquals(await verifyLink(deps, "garbage"), undefined);
});

Deno.test("signing: VERP return paths round-trip, case-insensitively, and refuse forgeries", async () => {
  const id = newEmailId();
  assert(/^em_[0-9a-f]{24}$/.test(id));
  const address = await verpAddress(deps, id, "example.com");
  assertEquals(await parseVerp(deps, address), id);
  assertEquals(await parseVerp(deps, address.toUpperCase()), id, "MTAs may change case");
  assertEquals(await parseVerp(other, address), undefined);
  assertEquals(await parseVerp(deps, address.replace(id, newEmailId())), undefined);
  assertEquals(await parseVerp(deps, "bounces@example.com"), undefined);
});

Deno.test("email ids grow with time (index locality) and still differ within a millisecond", () => {
  const t = Date.UTC(2026, 10, 29);
  const a = newEmailId(t), b = newEmailId(t), c = newEmailId(t + 1);
  assert(/^em_[0-9a-f]{24}$/.test(a) && /^em_[0-9a-f]{24}$/.test(c));
  assert(a !== b, "48 random bits tell ids of the same millisecond apart");
  assert(a.slice(0, 15) === b.slice(0, 15) && a < c && b < c, "later ids sort after earlier ones");
});
