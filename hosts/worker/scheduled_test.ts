/**
 * The Worker's cron run against gateways on Deno (test/fixtures/federation.ts): each slice takes
 * at most its count, none starts after the deadline, and what is left waits for the next run.
 */
import { assertEquals } from "../../test/fixtures/assert.ts";
import { startFederation } from "../../test/fixtures/federation.ts";
import { DEFAULT_LIMITS, runScheduled } from "./scheduled.ts";

Deno.test("issue17#1: scheduled() works in bounded slices and leaves the rest queued", async () => {
  const fed = await startFederation(["a.test", "b.test"]);
  try {
    const [a, b] = fed.peers;
    for (let i = 0; i < 3; i++) {
      const res = await a.call("POST", "/v1/emails", {
        as: "alice",
        body: { from: "alice@a.test", to: ["bob@b.test"], subject: `slice ${i}`, text: "hi" },
      });
      assertEquals(res.status, 201, await res.text());
    }
    const one = { ...DEFAULT_LIMITS, federationRows: 1, federationConcurrency: 1 };
    // Minute 1: no retention slice; one federated recipient only.
    let report = await runScheduled(a.deps, 60_000, one);
    assertEquals(report.federation, { claimed: 1, sent: 1, deferred: 0, failed: 0 });
    assertEquals([report.failed, report.skipped, report.purgedKeys], [[], [], undefined]);
    // Past its deadline a run starts nothing.
    report = await runScheduled(a.deps, 60_000, { ...one, deadlineMs: -1 });
    assertEquals(report.skipped, [
      "federation",
      "inbound-webhooks",
      "webhooks",
      "search",
      "reports",
    ]);
    assertEquals(report.federation, undefined);
    // Minute 10: the rest, and the retention slice.
    report = await runScheduled(a.deps, 600_000);
    assertEquals(report.federation?.sent, 2);
    assertEquals(report.purgedKeys, 0);
    const inbox = await (await b.call("GET", "/v1/messages?limit=10", { as: "bob" })).json();
    assertEquals(inbox.items.map((m: { subject: string }) => m.subject).sort(), [
      "slice 0",
      "slice 1",
      "slice 2",
    ]);
  } finally {
    await fed.close();
  }
});
