/**
 * Issue 16 item 2: no cross-request state that writes depend on. An isolate (workerd, Deno
 * Deploy) may build its `Store` per request; nothing a write decides may then rest on the
 * queue or lock of one `Store`. Here every request gets a fresh `Store` over remote libSQL (and
 * fresh deps and app around it, as an isolate's request would), and 20 requests run at once:
 * sends through the HTTP API (some with an Idempotency-Key) and IMAP APPENDs (one of them a
 * MULTIAPPEND) into one mailbox. All succeed, nothing is lost or stored twice, and the UIDs of
 * the mailbox stay distinct and consecutive.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, BOB, createTestGateway } from "./fixtures/app.ts";
import { ENGINE_NAMES, remoteDatabaseUrl } from "./fixtures/store.ts";
import { openStore } from "../hosts/process/open_store.ts";
import { buildDeps } from "../hosts/process/deps_node.ts";
import { createApp } from "../src/app.ts";
import type { Deps } from "../src/deps.ts";
import { silentLogger } from "../src/ports.ts";
import { rawSql } from "../src/store/store.ts";
import { appendMessages } from "../src/services/mail_access_write.ts";
import { mailboxByRole } from "../src/services/mailboxes.ts";

const MASTER_KEY = "test-master-key-0123456789abcdef0123";
const enc = new TextEncoder();
const mail = (id: string) =>
  enc.encode(
    `From: a@remote.example\r\nTo: ${ALICE.address}\r\nSubject: append ${id}\r\n` +
      `Message-ID: <${id}@remote.example>\r\n\r\nhello\r\n`,
  );

for (const engine of ["remote", "remote-ws"] as const) {
  Deno.test(
    `issue16#2: a fresh Store per request: 20 concurrent sends and appends, none lost or doubled [${
      ENGINE_NAMES[engine]
    }]`,
    async () => {
      const url = remoteDatabaseUrl(engine === "remote-ws");
      const gw = await createTestGateway({}, url);
      const token = await gw.login(ALICE);
      const sql = rawSql(gw.deps.store.db);
      const alice = Number(
        (await sql.get<{ id: number }>("SELECT id FROM accounts WHERE address = ?", [
          ALICE.address,
        ]))!
          .id,
      );
      const inbox = (await mailboxByRole(gw.deps.store.db, alice, "inbox"))!.id;
      /** What an isolate does per request: a Store of its own, deps and app around it. */
      const request = async <T>(
        fn: (deps: Deps, app: ReturnType<typeof createApp>) => Promise<T>,
      ) => {
        const store = await openStore(url, { migrate: false });
        try {
          const deps = await buildDeps(gw.deps.config, store, MASTER_KEY, silentLogger);
          return await fn(deps, createApp(deps));
        } finally {
          store.close();
        }
      };
      const send = (i: number) =>
        request(async (_deps, app) => {
          const headers: Record<string, string> = {
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
            "x-postern-peer": "192.0.2.10",
          };
          if (i % 2 === 0) headers["idempotency-key"] = `send-${i}`;
          const res = await app.request("/v1/emails", {
            method: "POST",
            headers,
            body: JSON.stringify({
              from: ALICE.address,
              to: [BOB.address],
              subject: `send ${i}`,
              text: "t",
            }),
          });
          return { status: res.status, body: await res.json() };
        });
      const append = (i: number) =>
        request((deps) =>
          appendMessages(
            deps,
            alice,
            inbox,
            // One MULTIAPPEND of two among them: both or neither.
            (i === 10 ? [`a${i}`, `a${i}b`] : [`a${i}`]).map((id) => ({
              raw: mail(id),
              flags: [],
            })),
          )
        );
      const outcomes = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => i < 10 ? send(i) : append(i)),
      );
      const failed = outcomes.filter((o) => o.status === "rejected") as PromiseRejectedResult[];
      assertEquals(failed.map((f) => String(f.reason)), []);
      const sends = outcomes.slice(0, 10).map((o) =>
        (o as PromiseFulfilledResult<{ status: number; body: { id: number } }>).value
      );
      assertEquals(sends.map((s) => s.status), Array(10).fill(201), JSON.stringify(sends));

      // Every send once: a copy in Bob's inbox and one in Alice's Sent, each subject once.
      const subjects = async (address: string, role: string) =>
        (await sql.all<{ subject: string }>(
          `SELECT subject FROM messages WHERE mailbox_id = (SELECT m.id FROM mailboxes m
           JOIN accounts a ON a.id = m.account_id WHERE a.address = ? AND m.role = ?)
         ORDER BY subject`,
          [address, role],
        )).map((r) => r.subject);
      const sent = Array.from({ length: 10 }, (_, i) => `send ${i}`).sort();
      assertEquals(await subjects(BOB.address, "inbox"), sent);
      assertEquals(await subjects(ALICE.address, "sent"), sent);
      // Every append once, in one mailbox with distinct consecutive UIDs.
      const uids = (await sql.all<{ uid: number }>(
        "SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid",
        [inbox],
      )).map((r) => Number(r.uid));
      assertEquals(uids, Array.from({ length: 11 }, (_, i) => i + 1));
      const box = (await sql.get<{ uid_next: number; highest: number; top: number }>(
        `SELECT uid_next, highest_modseq AS highest,
         (SELECT max(modseq) FROM messages WHERE mailbox_id = ?1) AS top
       FROM mailboxes WHERE id = ?1`,
        [inbox],
      ))!;
      assertEquals(Number(box.uid_next), 12);
      assert(Number(box.highest) >= Number(box.top));

      // A replayed send (another fresh Store) answers the first response and stores nothing.
      const again = await send(0);
      assertEquals(again.body, sends[0].body);
      assertEquals((await subjects(BOB.address, "inbox")).length, 10);
      gw.close();
    },
  );
}
