/**
 * JMAP Mailbox methods (RFC 8621 section 2) through the real app: roles, counts, rights,
 * create, rename, move and destroy through the mailbox service.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { boxes, byRole, jmapWorld, type Json } from "./fixtures/jmap.ts";
import { seedMessage } from "./fixtures/mail.ts";

Deno.test("issue19#2: Mailbox/get gives roles, counts and rights; Mailbox/set renames, moves, destroys", async () => {
  await using w = await jmapWorld();
  const first = await seedMessage(w.gw, { subject: "one" });
  await seedMessage(w.gw, { subject: "Re: one", inReplyTo: undefined });
  let list = await boxes(w);
  const inbox = byRole(list, "inbox");
  assertEquals(inbox.name, "INBOX");
  assertEquals(inbox.parentId, null);
  assertEquals([inbox.totalEmails, inbox.unreadEmails], [2, 2]);
  assertEquals(inbox.totalThreads >= 1, true);
  assertEquals(inbox.myRights.mayDelete, false);
  for (const role of ["sent", "drafts", "trash", "junk"]) assert(byRole(list, role), role);

  const [, created] = await w.one(["Mailbox/set", {
    accountId: w.aliceAccount,
    create: { a: { name: "Work" }, b: { name: "Old" } },
  }, "s"]);
  const work = created.created.a.id;
  const old = created.created.b.id;
  assertEquals(created.created.a.totalEmails, 0);
  assert(created.newState !== created.oldState);

  // Rename and move below another mailbox in one update; the REST API sees the new path.
  const [, upd] = await w.one(["Mailbox/set", {
    accountId: w.aliceAccount,
    update: { [old]: { name: "Archive2024", parentId: work } },
  }, "u"]);
  assertEquals(upd.updated, { [old]: null });
  const rest = await w.json("GET", "/v1/mailboxes", { token: w.alice });
  assert(rest.items.some((m: Json) => m.name === "Work/Archive2024"));

  // Section 2.5: a mailbox with a child refuses destroy; a special-use one is forbidden.
  const [, refused] = await w.one(["Mailbox/set", {
    accountId: w.aliceAccount,
    destroy: [work, inbox.id],
    update: { [inbox.id]: { name: "Elsewhere" } },
  }, "d"]);
  assertEquals(refused.notDestroyed[work].type, "mailboxHasChild");
  assertEquals(refused.notDestroyed[inbox.id].type, "forbidden");
  assertEquals(refused.notUpdated[inbox.id].type, "forbidden");

  // A mailbox with mail: mailboxHasEmail unless onDestroyRemoveEmails.
  await w.one(["Email/set", {
    accountId: w.aliceAccount,
    update: { [`e${first.id}`]: { mailboxIds: { [old]: true } } },
  }, "mv"]);
  const [, hasMail] = await w.one([
    "Mailbox/set",
    { accountId: w.aliceAccount, destroy: [old] },
    "d",
  ]);
  assertEquals(hasMail.notDestroyed[old].type, "mailboxHasEmail");
  const [, gone] = await w.one(["Mailbox/set", {
    accountId: w.aliceAccount,
    destroy: [old],
    onDestroyRemoveEmails: true,
  }, "d"]);
  assertEquals(gone.destroyed, [old]);
  list = await boxes(w);
  assertEquals(list.some((m) => m.id === old), false);
  const [, email] = await w.one([
    "Email/get",
    { accountId: w.aliceAccount, ids: [`e${first.id}`] },
    "g",
  ]);
  assertEquals(email.notFound, [`e${first.id}`]);

  // Role and server-set properties cannot be written.
  const [, bad] = await w.one(["Mailbox/set", {
    accountId: w.aliceAccount,
    create: {
      r: { name: "X", role: "inbox" },
      t: { name: "Y", totalEmails: 5 },
      s: { name: "a/b" },
    },
  }, "c"]);
  assertEquals(bad.notCreated.r.type, "invalidProperties");
  assertEquals(bad.notCreated.t.properties, ["totalEmails"]);
  assertEquals(bad.notCreated.s.type, "invalidProperties");
});
