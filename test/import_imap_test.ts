/**
 * `postern import imap://…` against a private Dovecot seeded over IMAP with several folders
 * (special-use Sent and Junk, a hierarchy, a name with a space), flags, keywords, fixed internal
 * dates and a 20 MiB attachment. The first run is cut off abruptly after a few messages are
 * stored (before their progress is recorded, like a kill), the second resumes: every source
 * message is then in Postern exactly once, with its bytes (SHA-256), flags and internal date.
 * A second import into another account is killed with SIGKILL part-way and resumed the same way.
 * Also --dry-run (counts, nothing written), a wrong source password (a clear error), and
 * Dovecot's Maildir files on disk through `import maildir` (the same messages as over IMAP).
 */
import { ImapFlow } from "imapflow";
import { Buffer } from "node:buffer";
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import { dovecotAvailable, seedOverImap, startDovecot } from "./fixtures/dovecot.ts";
import { cliRun, initDataDir, messagesOf } from "./import_fixture.ts";

const ACCOUNT = "admin@postern.localhost";
const BOB = "bob@postern.localhost";

async function hex(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as BufferSource);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A message with a 20 MiB base64 attachment (about 27 MiB on the wire). */
function bigMessage(): Uint8Array {
  const data = new Uint8Array(20 << 20);
  for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  const b64 = Buffer.from(data).toString("base64");
  const lines = b64.match(/.{1,76}/g)!.join("\r\n");
  return new TextEncoder().encode(
    "From: Alice <alice@legacy.test>\r\nTo: bob@legacy.test\r\nSubject: big one\r\n" +
      "Message-ID: <big-1@legacy.test>\r\nMIME-Version: 1.0\r\n" +
      'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n' +
      "see attachment\r\n--b1\r\nContent-Type: application/octet-stream\r\n" +
      'Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="big.bin"\r\n\r\n' +
      lines + "\r\n--b1--\r\n",
  );
}

const small = (n: number, folder: string) =>
  new TextEncoder().encode(
    `From: carol@legacy.test\r\nTo: alice@legacy.test\r\nSubject: ${folder} ${n}\r\n` +
      `Message-ID: <m${n}-${
        folder.replace(/\W/g, "")
      }@legacy.test>\r\n\r\nbody ${n}\r\nFrom here on\r\n`,
  );

interface SourceMsg {
  folder: string;
  specialUse?: string;
  sha: string;
  flags: string[];
  date: number;
}

async function seed(port: number): Promise<SourceMsg[]> {
  await seedOverImap(port, "alice", "alicepw"); // INBOX: the shared seed messages
  const c = new ImapFlow({
    host: "127.0.0.1",
    port,
    secure: false,
    auth: { user: "alice", pass: "alicepw" },
    logger: false,
  });
  await c.connect();
  try {
    for (const f of ["Projects", "Projects/2024", "Old mail"]) await c.mailboxCreate(f);
    const when = (d: number) => new Date(Date.UTC(2023, 5, d, 8, 30, 15));
    await c.append("Projects/2024", bigMessage(), ["\\Seen", "$Work"], when(1));
    for (let i = 0; i < 4; i++) {
      await c.append("Projects/2024", small(i, "p"), i % 2 ? ["\\Flagged"] : [], when(2 + i));
      await c.append("Sent", small(i, "sent"), ["\\Seen"], when(10 + i));
      await c.append(
        "Old mail",
        small(i, "old"),
        ["\\Seen", "\\Answered", "$Label1"],
        when(20 + i),
      );
    }
    await c.append("Junk", small(9, "junk"), [], when(28));
    // Read everything back as the source sees it.
    const out: SourceMsg[] = [];
    for (const f of await c.list()) {
      const lock = await c.getMailboxLock(f.path, { readOnly: true });
      try {
        if (!c.mailbox || c.mailbox.exists === 0) continue;
        for await (const m of c.fetch("1:*", { source: true, flags: true, internalDate: true })) {
          out.push({
            folder: f.path,
            specialUse: f.specialUse,
            sha: await hex(new Uint8Array(m.source!)),
            flags: [...m.flags!].filter((x) => x !== "\\Recent").sort(),
            date: new Date(m.internalDate!).getTime(),
          });
        }
      } finally {
        lock.release();
      }
    }
    return out;
  } finally {
    await c.logout();
  }
}

/** Messages recorded as done in the account's resume state (0 before the first one). */
async function progressOf(dataDir: string, account: string): Promise<number> {
  let n = 0;
  for (const e of Deno.readDirSync(`${dataDir}/import`)) {
    if (!e.name.endsWith(".json")) continue;
    try {
      const state = JSON.parse(await Deno.readTextFile(`${dataDir}/import/${e.name}`));
      if (state.account !== account) continue;
      for (const f of Object.values(state.folders) as { imported: number }[]) n += f.imported;
    } catch { /* being replaced */ }
  }
  return n;
}

/** Runs the CLI and SIGKILLs it as soon as `ready()` holds (polled). */
async function killWhen(
  args: string[],
  env: Record<string, string>,
  ready: () => Promise<boolean>,
) {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../main.ts", import.meta.url).pathname, ...args],
    env: { ...base, ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let done = false;
  child.status.then(() => done = true);
  while (!done && !await ready().catch(() => false)) await new Promise((r) => setTimeout(r, 5));
  if (!done) child.kill("SIGKILL");
  return await child.status;
}

const available = await dovecotAvailable();

Deno.test({
  name: "import from Dovecot: interrupted, resumed, every message once with flags, dates, bytes",
  ignore: !available,
  async fn() {
    const dovecot = await startDovecot();
    const data = await initDataDir();
    try {
      const source = await seed(dovecot.imapPort);
      assertEquals(source.length, 5 + 1 + 4 * 3 + 1);
      const url = `imap://alice@127.0.0.1:${dovecot.imapPort}`;
      // The 20 MiB attachment makes a 27 MiB message: above the default 25 MiB limit.
      const env = {
        ...data.env,
        POSTERN_IMPORT_PASSWORD: "alicepw",
        POSTERN_MAX_MESSAGE_BYTES: "41943040",
      };

      // Dry run: folders and counts, nothing stored.
      const dry = await cliRun(
        ["import", url, "--insecure", "--account", ACCOUNT, "--dry-run"],
        env,
      );
      assertEquals(dry.code, 0, dry.stderr);
      assertMatch(dry.stdout, /Projects\/2024/);
      assertMatch(dry.stdout, new RegExp(`${source.length} messages .* would be imported`));
      assertEquals((await messagesOf(data.dbUrl, ACCOUNT)).length, 0);

      // A wrong password is a clear error.
      const bad = await cliRun(["import", url, "--insecure", "--account", ACCOUNT], {
        ...env,
        POSTERN_IMPORT_PASSWORD: "wrong",
      });
      assertEquals(bad.code, 1);
      assertMatch(bad.stderr, /authentication failed/);

      // Cut off abruptly once 7 messages are stored, before the 7th is recorded as done (the
      // appends in flight with it may have been committed too).
      const cut = await cliRun(["import", url, "--insecure", "--account", ACCOUNT], {
        ...env,
        POSTERN_IMPORT_TEST_CRASH_AFTER: "7",
      });
      assertEquals(cut.code, 137, cut.stderr);
      const partial = (await messagesOf(data.dbUrl, ACCOUNT)).length;
      assert(partial >= 7 && partial < source.length, `${partial} stored`);

      // Resumed after what the state file recorded; those stored but not recorded yet are
      // found in the store and not stored again.
      const recorded = await progressOf(data.env.POSTERN_DATA_DIR, ACCOUNT);
      assert(recorded < 7, `${recorded} recorded`);
      const rest = await cliRun(["import", url, "--insecure", "--account", ACCOUNT], env);
      assertEquals(rest.code, 0, rest.stderr);
      // Progress lines on stderr: counts, bytes, rate and ETA.
      const left = source.length - recorded;
      assertMatch(
        rest.stderr,
        new RegExp(
          `${left}/${left} messages, .*/s, .* msg/s, ETA .*, ${partial - recorded} already`,
        ),
      );
      assertMatch(rest.stdout, new RegExp(`imported ${source.length - partial} messages`));

      const stored = await messagesOf(data.dbUrl, ACCOUNT);
      assertEquals(stored.length, source.length);
      const expectBox = (m: SourceMsg) =>
        m.specialUse === "\\Sent" ? "Sent" : m.specialUse === "\\Junk" ? "Junk" : m.folder;
      const key = (box: string, sha: string, flags: string[], date: number) =>
        JSON.stringify([box, sha, [...flags].sort(), date]);
      assertEquals(
        stored.map((s) => key(s.mailbox, s.sha, s.flags, s.internalDate)).sort(),
        source.map((m) => key(expectBox(m), m.sha, m.flags, m.date)).sort(),
      );
      // The 20 MiB message arrived byte-exact (its SHA-256 is among the keys above).
      assert(stored.some((s) => s.size > 20 << 20));
      // The hierarchy was created, and Sent/Junk were mapped to the account's own mailboxes.
      const boxes = new Set(stored.map((s) => s.mailbox));
      for (const b of ["INBOX", "Projects/2024", "Old mail", "Sent", "Junk"]) {
        assert(boxes.has(b), b);
      }
      assert(stored.every((s) => s.mailboxRole !== null || !["Sent", "Junk"].includes(s.mailbox)));

      // Dovecot's own Maildir files on disk, imported with `import maildir`, give the same
      // mailboxes, bytes (its bare-LF files back in the CRLF form it served), flags and dates.
      const add = await cliRun(["account", "add", BOB, "--password", "bob-password-123"], env);
      assertEquals(add.code, 0, add.stderr);
      const md = await cliRun(["import", "maildir", dovecot.aliceMaildir, "--account", BOB], env);
      assertEquals(md.code, 0, md.stderr);
      const viaMaildir = await messagesOf(data.dbUrl, BOB);
      const view = (l: typeof stored) =>
        l.map((s) => key(s.mailbox, s.sha, s.flags, s.internalDate)).sort();
      assertEquals(view(viaMaildir), view(stored));

      // A real kill (SIGKILL, mid-transaction or mid-fetch) of an import into a third account,
      // once its progress file shows 9 messages done; the next run completes it, no duplicates.
      const CAROL = "carol@postern.localhost";
      const addCarol = await cliRun(
        ["account", "add", CAROL, "--password", "carol-password-12"],
        env,
      );
      assertEquals(addCarol.code, 0, addCarol.stderr);
      const killed = await killWhen(
        ["import", url, "--insecure", "--account", CAROL],
        env,
        async () => (await progressOf(data.env.POSTERN_DATA_DIR, CAROL)) >= 9,
      );
      assertEquals(killed.signal, "SIGKILL");
      const carolPartial = (await messagesOf(data.dbUrl, CAROL)).length;
      assert(carolPartial >= 9 && carolPartial < source.length, `${carolPartial} stored`);
      const carolRest = await cliRun(["import", url, "--insecure", "--account", CAROL], env);
      assertEquals(carolRest.code, 0, carolRest.stderr);
      assertEquals(view(await messagesOf(data.dbUrl, CAROL)), view(stored));

      // --limit stops cleanly after N stored messages.
      const DAVE = "dave@postern.localhost";
      const addDave = await cliRun(["account", "add", DAVE, "--password", "dave-password-12"], env);
      assertEquals(addDave.code, 0, addDave.stderr);
      const limited = await cliRun(
        ["import", url, "--insecure", "--account", DAVE, "--limit", "3"],
        env,
      );
      assertEquals(limited.code, 0, limited.stderr);
      assertMatch(limited.stdout, /stopped after 3 messages \(--limit\)/);
      assertEquals((await messagesOf(data.dbUrl, DAVE)).length, 3);
      assertEquals(await progressOf(data.env.POSTERN_DATA_DIR, DAVE), 3);

      // A third run finds nothing new.
      const again = await cliRun(["import", url, "--insecure", "--account", ACCOUNT], env);
      assertEquals(again.code, 0, again.stderr);
      assertMatch(again.stdout, /imported 0 messages/);
      assertEquals((await messagesOf(data.dbUrl, ACCOUNT)).length, source.length);
    } finally {
      await data.remove();
      await dovecot.stop();
    }
  },
});
