/**
 * Moving out and back in: `postern export` of an account as mbox and as Maildir++, then
 * `postern import` of the files into another account (and, with --all, into another server):
 * the same mailboxes, the same bytes, flags and internal dates. The samples carry the hard cases:
 * body lines starting with "From " and ">From " (mboxrd quoting), bare-LF line endings, 8-bit
 * text, keywords, \Deleted and \Draft, a nested mailbox and a mailbox name with a dot.
 */
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import {
  cliRun,
  type DataDir,
  initDataDir,
  messagesOf,
  sampleMessages,
  seedAccount,
  type StoredMsg,
} from "./import_fixture.ts";

const ADMIN = "admin@postern.localhost";
const BOB = "bob@postern.localhost";

const view = (list: StoredMsg[]) =>
  list.map((m) => JSON.stringify([m.mailbox, m.sha, m.flags, m.internalDate])).sort();

async function addAccount(data: DataDir, address: string) {
  const r = await cliRun(["account", "add", address, "--password", "bob-password-123"], data.env);
  assertEquals(r.code, 0, r.stderr);
}

async function seeded(): Promise<DataDir> {
  const data = await initDataDir();
  await seedAccount(data.dbUrl, ADMIN, sampleMessages());
  await addAccount(data, BOB);
  return data;
}

for (const format of ["mbox", "maildir"] as const) {
  Deno.test(`export ${format} → import into another account: same bytes, flags, dates`, async () => {
    const data = await seeded();
    try {
      const out = `${data.dir}/out-${format}`;
      const exp = await cliRun(
        ["export", "--account", ADMIN, "--format", format, "--out", out],
        data.env,
      );
      assertEquals(exp.code, 0, exp.stderr);
      assertMatch(exp.stdout, /exported 8 messages/);
      const root = `${out}/${ADMIN}`;
      const args = format === "mbox"
        ? ["import", "mbox", root, "--account", BOB]
        : ["import", "maildir", root, "--account", BOB];
      const imp = await cliRun(args, data.env);
      assertEquals(imp.code, 0, imp.stderr);
      assertMatch(imp.stdout, /imported 8 messages/);

      const source = await messagesOf(data.dbUrl, ADMIN);
      const copy = await messagesOf(data.dbUrl, BOB);
      assertEquals(source.length, 8);
      assertEquals(view(copy), view(source));
      // In the same order: UIDs follow the exported order, although appends overlap.
      assertEquals(copy.map((m) => [m.mailbox, m.sha]), source.map((m) => [m.mailbox, m.sha]));
      // Byte for byte, not only by digest.
      for (const m of source) {
        const twin = copy.find((c) => c.sha === m.sha)!;
        assertEquals(twin.raw, m.raw);
      }
      // Sent and Drafts went to Bob's special-use mailboxes, not new ones.
      assert(
        copy.filter((m) => m.mailbox === "Sent" || m.mailbox === "Drafts")
          .every((m) => m.mailboxRole !== null),
      );

      // Importing the same files again adds nothing.
      const again = await cliRun(args, data.env);
      assertEquals(again.code, 0, again.stderr);
      assertMatch(again.stdout, /imported 0 messages .*\(8 were already there\)/);
      assertEquals((await messagesOf(data.dbUrl, BOB)).length, 8);
    } finally {
      await data.remove();
    }
  });
}

Deno.test("export --all maildir → import maildir --all on another server", async () => {
  const data = await seeded();
  const other = await initDataDir();
  try {
    await seedAccount(data.dbUrl, BOB, sampleMessages().slice(0, 3));
    const out = `${data.dir}/all`;
    const exp = await cliRun(["export", "--all", "--format", "maildir", "--out", out], data.env);
    assertEquals(exp.code, 0, exp.stderr);
    // Mbox layout on disk for the record: the maildir one is checked by reading it back.
    const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assertEquals(names, [ADMIN, BOB]);
    const dotted = [...Deno.readDirSync(`${out}/${ADMIN}`)].map((e) => e.name);
    assert(dotted.includes(".Projects.v1%2E2"), dotted.join(" "));
    await addAccount(other, BOB);
    const imp = await cliRun(["import", "maildir", out, "--all"], other.env);
    assertEquals(imp.code, 0, imp.stderr);
    for (const who of [ADMIN, BOB]) {
      assertEquals(
        view(await messagesOf(other.dbUrl, who)),
        view(await messagesOf(data.dbUrl, who)),
      );
    }
  } finally {
    await data.remove();
    await other.remove();
  }
});
