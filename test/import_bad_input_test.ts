/**
 * Bad input to `postern import`: truncated mbox files, Maildirs with junk in them, wrong usage.
 * Every problem is listed with its file, the exit code is 1 (2 for usage), and nothing at all is
 * imported — not even the good files beside the bad one.
 */
import { assertEquals, assertMatch } from "./fixtures/assert.ts";
import {
  cliRun,
  type DataDir,
  initDataDir,
  messagesOf,
  sampleMessages,
  seedAccount,
} from "./import_fixture.ts";

const ADMIN = "admin@postern.localhost";
const BOB = "bob@postern.localhost";

async function exported(format: "mbox" | "maildir"): Promise<{ data: DataDir; root: string }> {
  const data = await initDataDir();
  await seedAccount(data.dbUrl, ADMIN, sampleMessages());
  const add = await cliRun(["account", "add", BOB, "--password", "bob-password-123"], data.env);
  assertEquals(add.code, 0, add.stderr);
  const out = `${data.dir}/out`;
  const r = await cliRun(
    ["export", "--account", ADMIN, "--format", format, "--out", out],
    data.env,
  );
  assertEquals(r.code, 0, r.stderr);
  return { data, root: `${out}/${ADMIN}` };
}

async function bobMessageCount(data: DataDir): Promise<number> {
  return (await messagesOf(data.dbUrl, BOB)).length;
}

Deno.test("truncated mbox files: clear errors, nothing imported", async () => {
  const { data, root } = await exported("mbox");
  try {
    // Cut mid-line at the end of INBOX, and at a line boundary inside a multipart message.
    const inbox = await Deno.readFile(`${root}/INBOX.mbox`);
    await Deno.writeFile(`${root}/INBOX.mbox`, inbox.subarray(0, inbox.length - 9));
    const nested = new TextDecoder().decode(await Deno.readFile(`${root}/Projects/2024.mbox`));
    await Deno.writeTextFile(
      `${root}/Projects/2024.mbox`,
      nested.slice(0, nested.indexOf("--zz--")),
    );
    const r = await cliRun(["import", "mbox", root, "--account", BOB], data.env);
    assertEquals(r.code, 1, r.stdout);
    assertMatch(r.stderr, /nothing imported: 2 problems/);
    assertMatch(r.stderr, /INBOX\.mbox: truncated \(the file ends in the middle of a line\)/);
    assertMatch(r.stderr, /2024\.mbox: message 1 .*closing MIME boundary is missing \(truncated\)/);
    assertEquals(await bobMessageCount(data), 0);

    // Not an mbox at all.
    await Deno.writeTextFile(`${data.dir}/plain.mbox`, "Subject: hi\n\nbody\n");
    const p = await cliRun(
      ["import", "mbox", `${data.dir}/plain.mbox`, "--account", BOB],
      data.env,
    );
    assertEquals(p.code, 1);
    assertMatch(p.stderr, /not an mbox file/);
    assertEquals(await bobMessageCount(data), 0);
  } finally {
    await data.remove();
  }
});

Deno.test("Maildir with junk files: every one listed, nothing imported", async () => {
  const { data, root } = await exported("maildir");
  try {
    await Deno.writeTextFile(`${root}/notes.txt`, "not mail");
    await Deno.mkdir(`${root}/cur/stray-dir`);
    await Deno.writeFile(`${root}/new/1700000000.empty.host`, new Uint8Array());
    const binary = crypto.getRandomValues(new Uint8Array(300));
    binary[0] = 0; // never a header field name
    await Deno.writeFile(`${root}/.Sent/cur/1700000001.bin.host:2,S`, binary);
    await Deno.mkdir(`${root}/.Broken`);
    const r = await cliRun(["import", "maildir", root, "--account", BOB], data.env);
    assertEquals(r.code, 1, r.stdout);
    assertMatch(r.stderr, /nothing imported: 5 problems/);
    assertMatch(r.stderr, /notes\.txt: unexpected file in the Maildir root/);
    assertMatch(r.stderr, /cur\/stray-dir: not a message file \(a directory\)/);
    assertMatch(r.stderr, /1700000000\.empty\.host: empty file/);
    assertMatch(r.stderr, /1700000001\.bin\.host:2,S: not a message/);
    assertMatch(r.stderr, /\.Broken: a folder without cur\//);
    assertEquals(await bobMessageCount(data), 0);

    const notMaildir = await cliRun(["import", "maildir", data.dir, "--account", BOB], data.env);
    assertEquals(notMaildir.code, 1);
    assertMatch(notMaildir.stderr, /not a Maildir \(no cur\/ folder\)/);
  } finally {
    await data.remove();
  }
});

Deno.test("usage errors exit 2: password in the URL, missing options, unknown source", async () => {
  const data = await initDataDir();
  try {
    const cases: [string[], RegExp][] = [
      [
        ["import", "imap://alice:secret@127.0.0.1", "--account", ADMIN],
        /do not put the password in the URL/,
      ],
      [
        ["import", "imap://alice@127.0.0.1", "--account", ADMIN, "--insecure"],
        /no source password/,
      ],
      [["import", "imap://alice@127.0.0.1", "--tls", "--insecure"], /at most one of/],
      [["import", "pop3://x@y"], /import what\?/],
      [["import", "mbox", "x.mbox"], /--account is required/],
      [["import", "maildir", "dir"], /either --account ADDRESS or --all/],
      [["export", "--account", ADMIN, "--out", "x"], /--format must be mbox or maildir/],
      [["export", "--format", "mbox", "--out", "x"], /either --account ADDRESS or --all/],
    ];
    for (const [args, message] of cases) {
      const r = await cliRun(args, data.env);
      assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assertMatch(r.stderr, message);
    }
  } finally {
    await data.remove();
  }
});
