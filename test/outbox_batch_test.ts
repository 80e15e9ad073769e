/**
 * The outbox's batch reads and results (src/services/outbox_batch.ts, issue 20's federation
 * batches) on each store engine (`storeTest`: the embedded file, remote libSQL over Hrana/HTTP
 * and WebSocket, Cloudflare D1 in workerd) between two gateways on one database: the held
 * rows' bytes in one read, their `sent` results in one round trip, and a row whose lease
 * another gateway took undoing the whole job, so nothing is recorded twice.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE } from "./fixtures/app.ts";
import { storeTest } from "./fixtures/store.ts";
import { pair } from "./fixtures/gateway_pair.ts";
import { claimOutbox } from "../src/services/outbox_delivery.ts";
import { readLeasedRaws, recordSentMany } from "../src/services/outbox_batch.ts";

storeTest(
  "issue20#f-batch: a batch's bytes are one read and its results one round trip; a lost lease undoes the job",
  async (engine) => {
    const p = await pair(engine);
    const token = await p.gw.login(ALICE);
    for (const subject of ["one", "two", "three"]) {
      const res = await p.gw.call("POST", "/v1/emails", {
        token,
        body: { from: ALICE.address, to: ["carol@remote.test"], subject, text: subject },
      });
      assertEquals(res.status, 201);
      await res.body?.cancel();
    }
    const [group] = (await claimOutbox(p.a, { worker: "w1", limit: 10, leaseSeconds: 60 })).groups;
    const ids = group.items.map((i) => i.id);
    assertEquals(ids.length, 3);
    const raws = await readLeasedRaws(p.a, ids, "w1");
    assertEquals([...raws.keys()].sort(), [...ids].sort());
    for (const [i, subject] of ["one", "two", "three"].entries()) {
      assert(new TextDecoder().decode(raws.get(ids[i])).includes(`Subject: ${subject}`));
    }
    // w1's lease on the third row lapses; w2 (the other gateway) takes it over.
    await p.sql.run("UPDATE outbox SET lease_until = 1 WHERE id = ?", [ids[2]]);
    await claimOutbox(p.b, { worker: "w2", limit: 10, leaseSeconds: 60 });
    assertEquals([...(await readLeasedRaws(p.a, ids, "w1")).keys()].sort(), ids.slice(0, 2).sort());
    const entry = (id: number) => ({ id, remoteMta: "remote.test", message: "ok", also: [] });
    assertEquals(await recordSentMany(p.a, "w1", ids.map(entry)), undefined);
    p.jobs.length = 0;
    const rows = await recordSentMany(p.a, "w1", ids.slice(0, 2).map(entry));
    assertEquals(rows?.map((r) => [r.id, r.state]), [[ids[0], "sent"], [ids[1], "sent"]]);
    assertEquals(p.jobs.map((j) => j.roundTrips), [1]);
    const states = await p.sql.all<{ state: string; lease_owner: string | null }>(
      "SELECT state, lease_owner FROM outbox ORDER BY id",
    );
    assertEquals(states.map((s) => [s.state, s.lease_owner]), [
      ["sent", null],
      ["sent", null],
      ["sending", "w2"],
    ]);
    const events = await p.sql.all<{ n: number }>(
      "SELECT count(*) AS n FROM events WHERE type = 'outbox.sent'",
    );
    assertEquals(Number(events[0].n), 2);
    p.close();
  },
);
