import { assertEquals } from "../../test/fixtures/assert.ts";
import type { OutboxGroup, OutboxItem } from "../../schemas/bridge_outbox.ts";
import { spreadOverLanes } from "./lanes.ts";

let nextId = 1;
const item = (domain: string, blob: string, rcpt = `u${nextId}@${domain}`): OutboxItem => ({
  id: nextId++,
  mailFrom: "app@postern.localhost",
  rcptTo: rcpt,
  domain,
  attempts: 0,
  blobSha256: blob,
  size: 100,
  messageId: null,
  expiresAt: "2026-12-04T00:00:00Z",
});
const group = (domain: string, items: OutboxItem[]): OutboxGroup => ({ domain, items });

Deno.test("lanes: one busy domain is spread over the connections, whole messages per part", () => {
  const items = Array.from({ length: 40 }, (_, i) => item("big.example", `blob${i}`));
  // A message to two recipients of the domain stays in one part (one transaction).
  items.push(item("big.example", "blob7"));
  const parts = spreadOverLanes([group("big.example", items)], 4);
  assertEquals(parts.length, 4);
  assertEquals(parts.map((p) => p.domain), Array(4).fill("big.example"));
  assertEquals(
    parts.flatMap((p) => p.items).map((i) => i.id).sort((a, b) => a - b),
    items.map((i) => i.id),
  );
  const holding = parts.filter((p) => p.items.some((i) => i.blobSha256 === "blob7"));
  assertEquals(holding.length, 1);
  assertEquals(holding[0].items.filter((i) => i.blobSha256 === "blob7").length, 2);
});

Deno.test("lanes: small groups and enough domains are left as they are", () => {
  const few = group("small.example", [item("small.example", "a"), item("small.example", "b")]);
  assertEquals(spreadOverLanes([few], 4), [few]);
  const many = ["a", "b", "c", "d"].map((d) => group(`${d}.example`, [item(`${d}.example`, d)]));
  assertEquals(spreadOverLanes(many, 4), many);
  // 12 items make 2 parts of at least 5, not 4 parts of 3.
  const twelve = group(
    "mid.example",
    Array.from({ length: 12 }, (_, i) => item("mid.example", `m${i}`)),
  );
  assertEquals(spreadOverLanes([twelve], 4).map((p) => p.items.length), [6, 6]);
});
