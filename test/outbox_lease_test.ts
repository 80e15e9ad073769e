/**
 * Outbox leases with several bridges (issue 16 item 5): a worker renews the lease of the rows it
 * is still delivering, so a slow delivery never passes to another bridge (which would send the
 * message a second time), while a worker that dies stops renewing and its rows come back once
 * the lease lapses.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { startOutboundWorld } from "./fixtures/outbound.ts";

Deno.test("issue16#5: renewing extends only the rows still leased to the worker", async () => {
  const w = await startOutboundWorld();
  try {
    assertEquals((await w.send(["bob@remote.test", "carol@remote.test"])).status, 201);
    const call = async (path: string, body: unknown) => {
      const res = await w.gw.call("POST", path, { token: w.bridgeKey, body });
      assertEquals(res.status, 200, await res.clone().text());
      return await res.json();
    };
    const ids = (claim: { groups: { items: { id: number }[] }[] }) =>
      claim.groups.flatMap((g) => g.items.map((i) => i.id)).sort();
    const claimed = ids(
      await call("/v1/bridge/outbox/claim", { worker: "a", limit: 10, leaseSeconds: 30 }),
    );
    assertEquals(claimed.length, 2);
    // Twenty seconds on, "a" renews; forty seconds after its claim the rows are still its own.
    w.advance(20_000);
    const renewed = await call("/v1/bridge/outbox/renew", {
      worker: "a",
      ids: claimed,
      leaseSeconds: 30,
    });
    assertEquals(renewed.ids, claimed);
    w.advance(20_000);
    const b = await call("/v1/bridge/outbox/claim", { worker: "b", limit: 10, leaseSeconds: 30 });
    assertEquals(ids(b), [], "renewed: not handed to another worker");

    // "a" dies: nobody renews, the lease lapses, "b" takes over, and "a" can renew no more.
    w.advance(31_000);
    const takeover = await call("/v1/bridge/outbox/claim", {
      worker: "b",
      limit: 10,
      leaseSeconds: 30,
    });
    assertEquals(ids(takeover), claimed);
    const late = await call("/v1/bridge/outbox/renew", {
      worker: "a",
      ids: claimed,
      leaseSeconds: 30,
    });
    assertEquals(late.ids, [], "taken over: not renewed for the old holder");
  } finally {
    await w.close();
  }
});

Deno.test("issue16#5: a worker renews its lease while a delivery is slow, and the message goes out once", async () => {
  const w = await startOutboundWorld();
  try {
    assertEquals((await w.send(["bob@remote.test"])).status, 201);
    // The remote server hangs after DATA until released.
    let release = () => {};
    const hung = new Promise<void>((r) => (release = r));
    const deliver = w.sink.backend.deliver.bind(w.sink.backend);
    w.sink.backend.deliver = async (envelope, raw) => {
      await hung;
      return await deliver(envelope, raw);
    };
    const worker = w.worker({ leaseSeconds: 5 });
    const run = worker.runOnce();
    const lease = async () => (await w.rows())[0];
    let first: number | null = null;
    for (let i = 0; i < 200 && first === null; i++) {
      const row = await lease();
      if (row.state === "sending") first = row.leaseUntil;
      else await new Promise((r) => setTimeout(r, 20));
    }
    assert(first !== null, "claimed");
    let renewed = false;
    for (let i = 0; i < 400 && !renewed; i++) {
      renewed = ((await lease()).leaseUntil ?? 0) > first!;
      if (!renewed) await new Promise((r) => setTimeout(r, 25));
    }
    assert(renewed, "the lease was renewed while the delivery hung");
    release();
    assertEquals(await run, 1);
    const row = await lease();
    assertEquals(row.state, "sent");
    assertEquals(w.sink.backend.received.length, 1);
  } finally {
    await w.close();
  }
});
