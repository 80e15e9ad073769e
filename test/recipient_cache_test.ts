/**
 * The delivery path's memories (store/read_cache.ts): the RCPT check's "served here"
 * (services/delivery.ts servesRecipient) is reused, every change to who is served here empties it
 * at once, the counter bumps of a delivery do not, and a "no" is never remembered; the Inbox and
 * Junk ids a delivery writes to are remembered the same way.
 */
import { assertEquals } from "./fixtures/assert.ts";
import { ALICE, createTestGateway, DOMAIN } from "./fixtures/app.ts";
import {
  createAccount,
  findAccountByAddress,
  findDomain,
  updateAccount,
} from "../src/services/accounts.ts";
import { createAlias, deleteAlias, setCatchAll } from "../src/services/aliases.ts";
import { deliver, servesRecipient } from "../src/services/delivery.ts";
import { rawSql, schema } from "../src/store/store.ts";

type Gateway = Awaited<ReturnType<typeof createTestGateway>>;

/** True when the cache answers for `address` without asking the database. */
const remembered = async (gw: Gateway, address: string) =>
  await gw.deps.store.caches.recipients.get(address, () => Promise.resolve(false), () => false);

/** Delivers a small message to Alice as MX mail would arrive; returns her result. */
async function deliverToAlice(gw: Gateway, subject: string, mailboxRole?: "inbox" | "junk") {
  const raw = new TextEncoder().encode(`From: <a@x.example>\r\nSubject: ${subject}\r\n\r\nhi\r\n`);
  const [result] = await deliver(gw.deps, {
    raw,
    mailFrom: "a@x.example",
    recipients: [ALICE.address],
    source: "smtp",
    mailboxRole,
  });
  return result;
}

Deno.test("servesRecipient: a yes is remembered through deliveries, a change to accounts ends it", async () => {
  const gw = await createTestGateway();
  try {
    const db = gw.deps.store.db;
    assertEquals(await servesRecipient(db, ALICE.address), true);
    assertEquals(await remembered(gw, ALICE.address), true);
    assertEquals((await deliverToAlice(gw, "q")).status, "delivered");
    assertEquals(await remembered(gw, ALICE.address), true, "the quota bump keeps it");

    const alice = (await findAccountByAddress(db, ALICE.address))!;
    await updateAccount(gw.deps.store, alice.id, { disabled: true });
    assertEquals(await remembered(gw, ALICE.address), false, "disabling empties it");
    assertEquals(await servesRecipient(db, ALICE.address), false);
    await updateAccount(gw.deps.store, alice.id, { disabled: false });
    assertEquals(await servesRecipient(db, ALICE.address), true);

    // A transaction that writes accounts and rolls back: what was read meanwhile is dropped.
    await gw.deps.store.write(async (tx) => {
      await tx.update(schema.accounts).set({ displayName: "x" });
      assertEquals(await servesRecipient(tx, ALICE.address), true);
      throw new Error("roll back");
    }).catch(() => {});
    assertEquals(await remembered(gw, ALICE.address), false);
  } finally {
    gw.close();
  }
});

Deno.test("servesRecipient: a no is asked again; aliases and catch-alls count at once", async () => {
  const gw = await createTestGateway();
  try {
    const db = gw.deps.store.db;
    const carol = `carol@${DOMAIN}`;
    assertEquals(await servesRecipient(db, carol), false);
    assertEquals(await remembered(gw, carol), false, "a no is not kept");
    await createAccount(gw.deps.store, { address: carol, password: "carol-password-1" }, {
      quotaBytes: 0,
      nowMs: Date.now(),
    });
    assertEquals(await servesRecipient(db, carol), true);

    const sales = `sales@${DOMAIN}`;
    assertEquals(await servesRecipient(db, sales), false);
    const alias = await createAlias(gw.deps.store, { address: sales, targets: [ALICE.address] });
    assertEquals(await servesRecipient(db, sales), true);
    await deleteAlias(gw.deps.store, alias.id);
    assertEquals(await servesRecipient(db, sales), false, "the alias is gone at once");

    const anyone = `nobody-${crypto.randomUUID()}@${DOMAIN}`;
    const domain = (await findDomain(db, DOMAIN))!;
    await setCatchAll(gw.deps.store, domain.id, ALICE.address);
    assertEquals(await servesRecipient(db, anyone), true);
    await setCatchAll(gw.deps.store, domain.id, null);
    assertEquals(await servesRecipient(db, anyone), false, "the catch-all is gone at once");
  } finally {
    gw.close();
  }
});

Deno.test("the delivery target's mailbox id is remembered through deliveries, not past a change", async () => {
  const gw = await createTestGateway();
  try {
    const db = gw.deps.store.db;
    const alice = (await findAccountByAddress(db, ALICE.address))!;
    const send = async (subject: string, mailboxRole: "inbox" | "junk") => {
      const r = await deliverToAlice(gw, subject, mailboxRole);
      const row = await rawSql(db).get<{ role: string | null }>(
        "SELECT role FROM mailboxes WHERE id = (SELECT mailbox_id FROM messages WHERE id = ?)",
        [r.messageId!],
      );
      return row?.role;
    };
    const key = `${alice.id} junk`;
    const cached = () =>
      gw.deps.store.caches.mailboxes.get(key, () => Promise.resolve(null), () => false);
    assertEquals(await send("one", "junk"), "junk");
    const junkId = await cached();
    assertEquals(typeof junkId, "number", "remembered");
    assertEquals(await send("two", "junk"), "junk");
    assertEquals(await cached(), junkId, "UID and quota bumps keep it");

    // Junk loses its role (no route does that; a database edit could): the next delivery reads
    // the change, and falls back to the Inbox.
    await gw.deps.store.write((tx) =>
      rawSql(tx).run("UPDATE mailboxes SET role = NULL WHERE id = ?", [junkId])
    );
    assertEquals(await cached(), null, "a write to mailboxes empties it");
    assertEquals(await send("three", "junk"), "inbox");
  } finally {
    gw.close();
  }
});
