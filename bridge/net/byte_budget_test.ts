import assert from "node:assert/strict";
import { ByteBudget } from "./byte_budget.ts";

const MiB = 1024 * 1024;

Deno.test("issue15#7: a spent budget refuses a new message, in total and per IP", () => {
  const budget = new ByteBudget({ total: 3 * MiB, perIp: 2 * MiB });
  const a1 = budget.open("192.0.2.1");
  const a2 = budget.open("192.0.2.1");
  assert.ok(a1 && a2);
  assert.equal(budget.open("192.0.2.1"), undefined, "the IP's share is spent");
  const b1 = budget.open("192.0.2.2");
  assert.ok(b1, "another IP still gets in");
  assert.equal(budget.open("192.0.2.3"), undefined, "the total is spent");
  a1.release();
  a1.release(); // idempotent
  assert.ok(budget.open("192.0.2.3"), "a released share is free again");
  assert.equal(budget.used, 3 * MiB);
});

Deno.test("issue15#7: growth waits for a release, then is granted", async () => {
  const budget = new ByteBudget({ total: 30 * MiB, perIp: 30 * MiB });
  const first = budget.open("192.0.2.1")!;
  const second = budget.open("192.0.2.1")!;
  assert.equal(await first.grow(20 * MiB), true, "granted at once: it fits");
  let granted: boolean | undefined;
  const waiting = second.grow(20 * MiB).then((g) => (granted = g));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(granted, undefined, "20 + 20 MiB do not fit in 30: the second waits");
  first.release();
  await waiting;
  assert.equal(granted, true);
  assert.equal(second.held, 20 * MiB);
  second.release();
  assert.equal(budget.used, 0);
});

Deno.test("issue15#7: one message is always let grow, so waiting messages cannot deadlock", async () => {
  // Three first shares fill the budget; none could grow if the count alone decided.
  const budget = new ByteBudget({ total: 3 * MiB, perIp: 3 * MiB });
  const holds = [0, 1, 2].map(() => budget.open("192.0.2.1")!);
  assert.equal(await holds[0].grow(10 * MiB), true, "nothing has grown yet: granted");
  let second: boolean | undefined;
  const pending = holds[1].grow(10 * MiB).then((g) => (second = g));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(second, undefined);
  holds[0].release();
  await pending;
  assert.equal(second, true);
  for (const h of holds) h.release();
  assert.equal(budget.used, 0);
});

Deno.test("issue15#7: growth that waits too long is refused", async () => {
  const budget = new ByteBudget({ total: 4 * MiB, perIp: 4 * MiB, waitMs: 20 });
  const a = budget.open("192.0.2.1")!;
  const b = budget.open("192.0.2.1")!;
  assert.equal(await a.grow(3 * MiB), true);
  assert.equal(await b.grow(3 * MiB), false);
  a.release();
  b.release();
  assert.equal(budget.used, 0);
});
