/**
 * Shared by the import/export tests: a `postern` subprocess on a temporary, initialised data
 * folder, and the stored messages of an account read straight from its database.
 */
import { Vault } from "../src/crypt/vault.ts";
import { blobBytes } from "../src/services/blob_chunks.ts";
import { and, eq } from "drizzle-orm";
import { openStore } from "../hosts/process/open_store.ts";
import { flagColumns, flagsOf } from "../src/services/mail_access.ts";
import { schema } from "../src/store/store.ts";
import { LISTENERS_OFF } from "./fixtures/serve_env.ts";

const ROOT = new URL("../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cliRun(args: string[], env: Record<string, string>): Promise<CliResult> {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: ROOT.pathname,
    env: { ...base, NO_COLOR: "1", ...LISTENERS_OFF, ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

export interface DataDir {
  dir: string;
  env: Record<string, string>;
  dbUrl: string;
  remove(): Promise<void>;
}

/** `postern init` on a fresh folder (domain postern.localhost, admin@postern.localhost). */
export async function initDataDir(): Promise<DataDir> {
  const dir = await Deno.makeTempDir({ prefix: "postern-import-" });
  const env = { POSTERN_DATA_DIR: `${dir}/data`, POSTERN_ADMIN_PASSWORD: "admin-password-import" };
  const r = await cliRun(["init"], env);
  if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`);
  return {
    dir,
    env,
    dbUrl: `file:${dir}/data/postern.db`,
    remove: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

export interface StoredMsg {
  mailbox: string;
  mailboxRole: string | null;
  uid: number;
  sha: string;
  size: number;
  flags: string[];
  internalDate: number;
  raw: Uint8Array;
}

/**
 * The master key of the data folder a `file:` database lies in (`postern init` made it): what
 * opens the mail it seals at rest (src/crypt/).
 */
async function dataDirKey(dbUrl: string): Promise<string> {
  return (await Deno.readTextFile(dbUrl.slice(5).replace(/[^/]*$/, "master.key"))).trim();
}

/** Every message of the account, with its bytes, in mailbox then UID order. */
export async function messagesOf(dbUrl: string, address: string): Promise<StoredMsg[]> {
  const store = await openStore(dbUrl);
  store.useVault(new Vault(store, await dataDirKey(dbUrl), true));
  try {
    const [account] = await store.db.select().from(schema.accounts)
      .where(eq(schema.accounts.address, address));
    const m = schema.messages;
    const rows = await store.db.select({
      mailbox: schema.mailboxes.name,
      role: schema.mailboxes.role,
      uid: m.uid,
      sha: m.blobSha256,
      size: m.size,
      internalDate: m.internalDate,
      ...flagColumns,
      data: schema.blobs.data,
    }).from(m)
      .innerJoin(schema.mailboxes, eq(schema.mailboxes.id, m.mailboxId))
      .innerJoin(schema.blobs, eq(schema.blobs.sha256, m.blobSha256))
      .where(and(eq(m.accountId, account.id)))
      .orderBy(schema.mailboxes.name, m.uid);
    return await Promise.all(rows.map(async (r) => ({
      mailbox: r.mailbox,
      mailboxRole: r.role,
      uid: r.uid,
      sha: r.sha,
      size: r.size,
      flags: flagsOf(r).sort(),
      internalDate: r.internalDate,
      raw: await blobBytes(store.db, { sha256: r.sha, size: r.size, data: r.data }),
    })));
  } finally {
    store.close();
  }
}

export interface SeedMessage {
  mailbox: string;
  raw: string | Uint8Array;
  flags: string[];
  /** Whole seconds, as every format keeps them. */
  date: string;
}

/** Stores messages into an account's mailboxes (created when missing) in-process. */
export async function seedAccount(dbUrl: string, address: string, messages: SeedMessage[]) {
  const { buildDeps } = await import("../hosts/process/deps_node.ts");
  const { parseConfig } = await import("../src/config.ts");
  const { silentLogger } = await import("../src/ports.ts");
  const { AccountTarget } = await import("../cli/mailstore/target.ts");
  const parsed = parseConfig({});
  if (!parsed.ok) throw new Error(parsed.problems.join("; "));
  const store = await openStore(dbUrl);
  try {
    const deps = await buildDeps(
      parsed.config,
      store,
      await dataDirKey(dbUrl),
      silentLogger,
    );
    const target = await AccountTarget.open(deps, address);
    for (const m of messages) {
      const id = await target.mailbox(m.mailbox, m.mailbox === "INBOX" ? "inbox" : undefined);
      await target.append(id, {
        raw: typeof m.raw === "string" ? new TextEncoder().encode(m.raw) : m.raw,
        flags: m.flags,
        internalDate: Date.parse(m.date),
      });
    }
  } finally {
    store.close();
  }
}

/** Messages covering what the formats must carry: From-lines, LF-only, 8-bit, keywords. */
export function sampleMessages(): SeedMessage[] {
  const crlf = (s: string) => s.replace(/\n/g, "\r\n");
  const eightBit = new Uint8Array([
    ...new TextEncoder().encode(
      crlf(
        "From: j@example.org\nSubject: 8bit\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr",
      ),
    ),
    0xc3,
    0xbc,
    0xc3,
    0x9f,
    0x65,
    0x0d,
    0x0a,
  ]);
  return [
    {
      mailbox: "INBOX",
      raw: crlf(
        "From: a@example.org\nTo: admin@postern.localhost\nSubject: plain\nMessage-ID: <p1@example.org>\n\nhello\n",
      ),
      flags: ["\\Seen"],
      date: "2024-01-01T10:00:05Z",
    },
    {
      mailbox: "INBOX",
      raw: crlf(
        "From: b@example.org\nSubject: quoting\n\nFrom the start of a line\n>From already quoted\n>>From twice\n\nFrom after a blank line\nFrom\n",
      ),
      flags: ["\\Flagged", "\\Answered", "$Work"],
      date: "2024-01-02T11:30:00Z",
    },
    {
      mailbox: "INBOX",
      raw: "From: c@example.org\nSubject: bare LF endings\n\nline one\nline two\n",
      flags: [],
      date: "2024-01-03T00:00:01Z",
    },
    {
      mailbox: "INBOX",
      raw: eightBit,
      flags: ["\\Seen", "\\Deleted"],
      date: "2024-01-04T09:45:05Z",
    },
    {
      mailbox: "Sent",
      raw: crlf("From: admin@postern.localhost\nTo: x@example.org\nSubject: sent one\n\nbye\n"),
      flags: ["\\Seen"],
      date: "2024-02-01T12:00:00Z",
    },
    {
      mailbox: "Drafts",
      raw: crlf("From: admin@postern.localhost\nSubject: draft\n\nunfinished\n"),
      flags: ["\\Draft", "\\Seen"],
      date: "2024-02-02T12:00:00Z",
    },
    {
      mailbox: "Projects/2024",
      raw: crlf(
        `From: d@example.org\nSubject: nested\nContent-Type: multipart/mixed; boundary="zz"\n\n--zz\nContent-Type: text/plain\n\npart\n--zz--\n`,
      ),
      flags: ["$Label1", "Custom"],
      date: "2024-03-01T08:00:00Z",
    },
    {
      mailbox: "Projects/v1.2",
      raw: crlf("From: e@example.org\nSubject: dotted folder name\n\nx\n"),
      flags: ["\\Seen"],
      date: "2024-03-02T08:00:00Z",
    },
  ];
}
