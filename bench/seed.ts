/**
 * Seeds one account with many messages straight into the store (bulk SQL in large transactions),
 * shaped like real deliveries: a blob each, a row with UID/modseq, a thread, and an FTS row. Only
 * setup for the list/search benchmark; the delivery path itself is measured through the API.
 */
import { openStore } from "../hosts/process/open_store.ts";
import { Vault } from "../src/crypt/vault.ts";
import { sealBlobParts } from "../src/crypt/sealed_blob.ts";
import { sealRowTexts } from "../src/crypt/sealed_rows.ts";
import { hashedBody } from "../src/crypt/search_tokens.ts";

/**
 * The key vault of the data folder beside a `file:` database, so seeded mail is sealed at rest as
 * the server's own is by default (src/crypt/); undefined without a master key file there.
 */
async function seedVault(dbUrl: string, store: Awaited<ReturnType<typeof openStore>>) {
  if (!dbUrl.startsWith("file:") || Deno.env.get("POSTERN_ENCRYPT_AT_REST") === "false") return;
  const keyFile = dbUrl.slice(5).replace(/[^/]*$/, "master.key");
  const key = await Deno.readTextFile(keyFile).catch(() => undefined);
  if (!key) return undefined;
  const vault = new Vault(store, key.trim(), true);
  store.useVault(vault);
  return vault;
}

const WORDS = [
  "quarterly",
  "invoice",
  "meeting",
  "holiday",
  "report",
  "budget",
  "release",
  "server",
  "garden",
  "concert",
  "travel",
  "review",
  "contract",
  "lunch",
  "project",
  "update",
  "security",
  "backup",
  "design",
  "launch",
];
const NAMES = [
  "Ada",
  "Grace",
  "Linus",
  "Ken",
  "Barbara",
  "Dennis",
  "Margaret",
  "Alan",
  "Radia",
  "Tim",
];

function pick<T>(list: T[], i: number, salt: number): T {
  return list[(i * 2654435761 + salt) % list.length >>> 0];
}

export async function seedMessages(dbUrl: string, address: string, count: number): Promise<void> {
  const store = await openStore(dbUrl);
  const c = store.client;
  const vault = await seedVault(dbUrl, store);
  const account = await c.execute({
    sql: "SELECT id FROM accounts WHERE address_key = ?",
    args: [address.toLowerCase()],
  });
  const accountId = Number(account.rows[0].id);
  const inbox = await c.execute({
    sql: "SELECT id FROM mailboxes WHERE account_id = ? AND role = 'inbox'",
    args: [accountId],
  });
  const mailboxId = Number(inbox.rows[0].id);
  const start = Date.now() - count * 60_000;
  const BATCH = 2000;
  let used = 0;
  for (let base = 0; base < count; base += BATCH) {
    const statements = [];
    for (let i = base; i < Math.min(count, base + BATCH); i++) {
      const subject = `${pick(WORDS, i, 1)} ${pick(WORDS, i, 7)} ${i}`;
      const fromName = pick(NAMES, i, 3);
      const from = `${fromName.toLowerCase()}@example.org`;
      const body = `Hello,\r\n\r\nabout the ${pick(WORDS, i, 11)} and the ${pick(WORDS, i, 13)}: ` +
        `message number ${i}.\r\n` + "Lorem ipsum dolor sit amet. ".repeat(60);
      const raw = `From: ${fromName} <${from}>\r\nTo: ${address}\r\nSubject: ${subject}\r\n` +
        `Message-ID: <seed-${i}@example.org>\r\nDate: ${
          new Date(start + i * 60_000).toUTCString()
        }\r\n` +
        `Content-Type: text/plain; charset=utf-8\r\n\r\n${body}\r\n`;
      const sha = `seed${String(i).padStart(60, "0")}`;
      const at = start + i * 60_000;
      used += raw.length;
      const parsed = JSON.stringify({
        messageId: `<seed-${i}@example.org>`,
        references: [],
        subject,
        from: { name: fromName, address: from },
        to: [{ name: "", address }],
        cc: [],
        replyTo: [],
        date: at,
        headers: [],
        text: body,
        attachments: [],
      });
      const bytes = new TextEncoder().encode(raw);
      const key = vault && await vault.activeKey(accountId);
      const sealed = key &&
        await sealRowTexts(store, accountId, {}, parsed, body.slice(0, 200));
      statements.push(
        {
          sql: "INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?)",
          args: [sha, raw.length, key ? (await sealBlobParts(key, bytes, sha))[0] : bytes],
        },
        {
          sql:
            "INSERT INTO threads (account_id, subject, message_count, last_date) VALUES (?, ?, 1, ?)",
          args: [accountId, subject, at],
        },
        {
          sql:
            `INSERT INTO messages (account_id, mailbox_id, uid, modseq, thread_id, blob_sha256, message_id_header,
            subject, from_address, from_name, to_json, preview, sent_at, internal_date, size, has_attachments, seen, parsed)
            VALUES (?, ?, ?, ?, last_insert_rowid(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          args: [
            accountId,
            mailboxId,
            i + 1,
            i + 2,
            sha,
            `<seed-${i}@example.org>`,
            subject,
            from,
            fromName,
            JSON.stringify([{ name: "", address }]),
            sealed ? sealed.preview : body.slice(0, 200),
            at,
            at,
            raw.length,
            i % 10 === 0 ? 1 : 0,
            i % 3 === 0 ? 1 : 0,
            sealed ? sealed.parsed : parsed,
          ],
        },
        {
          sql:
            "INSERT INTO messages_fts (rowid, subject, from_text, to_text, body) VALUES (last_insert_rowid(), ?, ?, ?, ?)",
          args: [subject, `${fromName} ${from}`, address, key ? await hashedBody(key, body) : body],
        },
      );
    }
    await c.batch(statements, "write");
  }
  await c.execute({
    sql: "UPDATE mailboxes SET uid_next = ?, highest_modseq = ? WHERE id = ?",
    args: [count + 1, count + 2, mailboxId],
  });
  await c.execute({
    sql: "UPDATE accounts SET used_bytes = used_bytes + ?, quota_bytes = 0 WHERE id = ?",
    args: [used, accountId],
  });
  // The FTS rows are written above; move the indexer's watermark past them, or the server's
  // indexer would index the same rowids again (issue 15 #14).
  await c.execute(
    "UPDATE search_index_state SET indexed_through = max(indexed_through, (SELECT max(id) FROM messages)) WHERE id = 1",
  );
  await c.execute("PRAGMA optimize");
  store.close();
}
