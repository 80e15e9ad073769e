/**
 * Encryption at rest (issue 21, item 6): mail that arrives by SMTP, is sent through the REST
 * API, appended over IMAP or saved as a draft leaves no plaintext of its body or attachments in
 * the database file or its WAL (scanned for unique marker words and their base64 forms), and
 * reads back byte-exact through IMAP (BODY[] and a partial), POP3 RETR and REST raw; search
 * still finds it. A wrong master key is named as such, tampered ciphertext is refused, rotation
 * re-wraps and re-seals, and plaintext from before encryption is sealed by `reencrypt`.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, BOB, createTestGateway, type TestGateway } from "./fixtures/app.ts";
import { startBridgeWorld } from "./fixtures/bridge.ts";
import { py, startGatewayImap, startGatewayPop3 } from "./fixtures/imap_pop3.ts";
import { rawSql, type Store } from "../src/store/store.ts";
import { openStore } from "../hosts/process/open_store.ts";
import { buildDeps } from "../hosts/process/deps_node.ts";
import { parseConfig } from "../src/config.ts";
import { silentLogger } from "../src/ports.ts";
import { getRaw } from "../src/services/messages.ts";
import { reencryptSlice, rotateDataKeys } from "../src/crypt/rotation.ts";
import { isSealed, openPart, sealedKeyId } from "../src/crypt/sealed_part.ts";
import { hashedBody } from "../src/crypt/search_tokens.ts";
import { bytesOf } from "../src/services/blob_chunks.ts";
import { foundIn, marker, mimeWith } from "./fixtures/at_rest.ts";
import { deliver } from "../src/services/delivery.ts";
import { pollInbound } from "../src/transactional/inbound_webhooks.ts";
import { moveMessage } from "../src/services/messages.ts";
import { parsedOfRow } from "../src/crypt/sealed_rows.ts";
import { tokenHasher } from "../src/crypt/spam_tokens.ts";
import { TokenMac } from "../src/crypt/token_mac.ts";
import { deleteAccount } from "../src/services/accounts.ts";
import { cliRun, initDataDir, messagesOf, seedAccount } from "./import_fixture.ts";

const dbFiles = (dir: string) => ["", "-wal", "-shm"].map((s) => `${dir}/postern.db${s}`);
const mime = (text: string, attachment: string, subject: string) =>
  mimeWith(ALICE.address, subject, text, attachment);

const SMTP_SEND = `
import smtplib, sys, base64
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="mx.remote.example") as s:
    s.sendmail("zed@remote.example", ["alice@postern.test"], base64.b64decode(sys.argv[2]))
print("SENT")
`;

const IMAP = `
import imaplib, sys, base64
port, user, password, append, word = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
m = imaplib.IMAP4("127.0.0.1", port)
m.login(user, password)
print("APPEND", m.append("INBOX", None, None, base64.b64decode(append))[0])
m.select("INBOX")
typ, data = m.uid("SEARCH", None, "BODY", word)
print("SEARCH", data[0].decode())
typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
for part in data:
    if isinstance(part, tuple):
        print("BODY", base64.b64encode(part[1]).decode())
typ, data = m.uid("FETCH", "1", "(BODY.PEEK[]<10.40>)")
print("PARTIAL", base64.b64encode(data[0][1]).decode())
m.logout()
`;

const POP3 = `
import poplib, sys, base64
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=20)
p.user(sys.argv[2]); p.pass_(sys.argv[3])
resp, lines, octets = p.retr(1)
print("RETR", base64.b64encode(b"\\r\\n".join(lines) + b"\\r\\n").decode())
p.quit()
`;

const b64 = (s: string) => btoa(s);
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const line = (out: string, prefix: string) =>
  out.split("\n").filter((l) => l.startsWith(prefix + " ")).map((l) => l.slice(prefix.length + 1));

async function rawOf(gw: TestGateway, token: string, id: number): Promise<string> {
  const res = await gw.call("GET", `/v1/messages/${id}/raw`, { token });
  assertEquals(res.status, 200);
  return text(new Uint8Array(await res.arrayBuffer()));
}

async function idsOf(gw: TestGateway, token: string): Promise<number[]> {
  const res = await gw.call("GET", "/v1/messages?limit=100", { token });
  return (await res.json()).items.map((m: { id: number }) => m.id);
}

async function search(gw: TestGateway, token: string, q: string): Promise<number[]> {
  const res = await gw.call("GET", `/v1/search?q=${encodeURIComponent(q)}`, { token });
  assertEquals(res.status, 200);
  return (await res.json()).items.map((m: { id: number }) => m.id);
}

Deno.test("issue21#6: the database file and WAL hold no plaintext of mail received by SMTP, sent by REST, appended by IMAP or drafted; all of it reads back byte-exact", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-crypt-" });
  const world = await startBridgeWorld({ storeUrl: `file:${dir}/postern.db` });
  const gw = world.gw;
  const imap = await startGatewayImap(gw);
  const pop3 = await startGatewayPop3(gw);
  const m = {
    smtpText: marker("smtptext"),
    smtpFile: marker("smtpfile"),
    restText: marker("resttext"),
    restFile: marker("restfile"),
    appendText: marker("appendtext"),
    draftText: marker("drafttext"),
    preview: marker("preview"),
  };
  const subject = marker("subject"); // header metadata: stays in clear, by design
  try {
    // Alice's webhook for received mail: its queued events carry the message's text.
    const hook = await gw.call("POST", "/v1/webhooks", {
      token: await gw.login(ALICE),
      body: { url: "https://hooks.example.com/postern", events: ["email.received"] },
    });
    assertEquals(hook.status, 201, await hook.clone().text());
    const hookId = (await hook.json()).webhook.id;
    // 1. SMTP (the bridge's MX) to Alice.
    const smtpRaw = mime(
      `${m.preview} first words\r\n${m.smtpText} body`,
      `${m.smtpFile}!`,
      subject,
    );
    assert((await py(SMTP_SEND, [String(world.mxPort), b64(smtpRaw)])).includes("SENT"));
    // 2. REST send from Alice to Bob, with an attachment.
    const alice = await gw.login(ALICE);
    const bob = await gw.login(BOB);
    const sent = await gw.call("POST", "/v1/emails", {
      token: alice,
      body: {
        from: ALICE.address,
        to: [BOB.address],
        subject: "rest",
        text: `Hello ${m.restText} there`,
        attachments: [{
          filename: "a.txt",
          contentType: "text/plain",
          content: b64(`${m.restFile}.`),
        }],
      },
    });
    assertEquals(sent.status, 201, await sent.clone().text());
    // 3. A draft.
    const draft = await gw.call("POST", "/v1/drafts", {
      token: alice,
      body: { from: ALICE.address, subject: "draft", text: `Draft ${m.draftText} words` },
    });
    assertEquals(draft.status, 201);
    const draftId = (await draft.json()).id;
    // 4. IMAP APPEND into Alice's inbox, then IMAP reads (SEARCH BODY finds a sealed body).
    const appendRaw = mime(`Appended ${m.appendText} text`, "x", "appended");
    const imapOut = await py(IMAP, [
      String(imap.port),
      ALICE.address,
      ALICE.password,
      b64(appendRaw),
      m.smtpText,
    ]);
    assertEquals(line(imapOut, "APPEND")[0], "OK");
    assertEquals(line(imapOut, "SEARCH")[0], "1", imapOut);
    const bodies = line(imapOut, "BODY").map((s) => text(unb64(s)));
    assertEquals(bodies.length, 2);
    assert(bodies[0].endsWith(smtpRaw), "IMAP BODY[] of the SMTP message");
    assertEquals(bodies[1], appendRaw, "IMAP BODY[] of the appended message");
    assertEquals(text(unb64(line(imapOut, "PARTIAL")[0])), bodies[0].slice(10, 50));
    // POP3 RETR and REST raw: the same bytes.
    const popOut = await py(POP3, [String(pop3.port), ALICE.address, ALICE.password]);
    assertEquals(text(unb64(line(popOut, "RETR")[0])), bodies[0]);
    const inbox = await idsOf(gw, alice);
    const rests = await Promise.all(inbox.map((id) => rawOf(gw, alice, id)));
    assert(rests.includes(bodies[0]) && rests.includes(appendRaw), "REST raw");
    const [bobMessage] = await idsOf(gw, bob);
    assert((await rawOf(gw, bob, bobMessage)).includes(b64(`${m.restFile}.`)), "Bob's copy");
    // JSON form, preview, draft and search, through the API.
    const smtpId = inbox[inbox.length - 1];
    const detail = await (await gw.call("GET", `/v1/messages/${smtpId}`, { token: alice })).json();
    assert(detail.text.includes(m.smtpText), "GET message opens the parsed form");
    const list = await (await gw.call("GET", "/v1/messages?limit=100", { token: alice })).json();
    assert(
      list.items.some((i: { preview: string }) => i.preview.startsWith(m.preview)),
      JSON.stringify(list.items.map((i: { preview: string }) => i.preview)),
    );
    await pollInbound(gw.deps);
    const logRes = await gw.call("GET", `/v1/webhooks/${hookId}/deliveries`, { token: alice });
    assertEquals(logRes.status, 200, await logRes.clone().text());
    const log = await logRes.json();
    assert(
      log.deliveries.some((d: { payload: { data: { text?: string } } }) =>
        d.payload.data.text?.includes(m.smtpText)
      ),
      "the queued email.received event opens with the message's text",
    );
    const read = await (await gw.call("GET", `/v1/drafts/${draftId}`, { token: alice })).json();
    assertEquals(read.draft.text, `Draft ${m.draftText} words`);
    assertEquals(await search(gw, alice, m.smtpText), [smtpId]);
    assertEquals(await search(gw, bob, m.restText), [bobMessage]);
    assertEquals(await search(gw, bob, m.smtpText), [], "another account's words find nothing");
    // The store says it sealed them: every blob's first part names a data key.
    const blobs = await rawSql(gw.deps.store.db).all<{ data: unknown }>("SELECT data FROM blobs");
    assert(blobs.length >= 4 && blobs.every((b) => isSealed(bytesOf(b.data))));
  } finally {
    await imap.close();
    await pop3.close();
    await world.close();
  }
  const all = Object.values(m);
  assertEquals(await foundIn(dbFiles(dir), all), [], "no plaintext in the database file or WAL");
  // The scan does see what is stored in clear: the subject (header metadata) is there.
  assertEquals(await foundIn(dbFiles(dir), [subject]), [subject]);
  await Deno.remove(dir, { recursive: true });
});

async function sendOne(gw: TestGateway, token: string, words: string) {
  const res = await gw.call("POST", "/v1/emails", {
    token,
    body: { from: ALICE.address, to: [BOB.address], subject: "s", text: words },
  });
  assertEquals(res.status, 201, await res.clone().text());
  return (await res.json()).id as number;
}

const blobRow = async (store: Store, messageId: number) =>
  (await rawSql(store.db).get<{ sha256: string; size: number; data: unknown }>(
    "SELECT b.sha256, b.size, b.data FROM blobs b JOIN messages m ON m.blob_sha256 = b.sha256 WHERE m.id = ?",
    [messageId],
  ))!;

Deno.test("issue21#6: tampered ciphertext is refused (AES-GCM tag), never returned as garbage", async () => {
  const gw = await createTestGateway();
  try {
    const alice = await gw.login(ALICE);
    const id = await sendOne(gw, alice, `tamper ${marker("t")}`);
    const row = await blobRow(gw.deps.store, id);
    const data = bytesOf(row.data).slice();
    data[60] ^= 1;
    await rawSql(gw.deps.store.db).run("UPDATE blobs SET data = ? WHERE sha256 = ?", [
      data,
      row.sha256,
    ]);
    // Streamed: the download fails rather than carry a byte of garbage.
    const res = await gw.call("GET", `/v1/messages/${id}/raw`, { token: alice });
    const body = await res.arrayBuffer().then(() => "read", (e) => String(e));
    assert(res.status === 500 || body !== "read", `${res.status} ${body}`);
    // The JSON form's raw read (attachments) answers with a problem.
    const att = await gw.call("GET", `/v1/messages/${id}/attachments/0`, { token: alice });
    assertEquals(att.status, 500);
    assertEquals((await att.json()).code, "internal");
    // A swapped preview (another message's sealed value) is refused the same way.
    await rawSql(gw.deps.store.db).run("UPDATE messages SET preview = ? WHERE id = ?", [
      (await rawSql(gw.deps.store.db).get<{ preview: string }>(
        "SELECT preview FROM messages WHERE account_id = (SELECT id FROM accounts WHERE address = ?)",
        [BOB.address],
      ))!.preview,
      id,
    ]);
    assertEquals((await gw.call("GET", "/v1/messages", { token: alice })).status, 500);
  } finally {
    gw.close();
  }
});

Deno.test("issue21#6: a wrong master key is named as such, never garbage", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-crypt-" });
  const url = `file:${dir}/postern.db`;
  const gw = await createTestGateway({}, url);
  const alice = await gw.login(ALICE);
  const id = await sendOne(gw, alice, `secret ${marker("w")}`);
  const accountId = Number(
    (await rawSql(gw.deps.store.db).get<{ id: number }>(
      "SELECT account_id AS id FROM messages WHERE id = ?",
      [id],
    ))!.id,
  );
  gw.close();
  const store = await openStore(url);
  try {
    const parsed = parseConfig({});
    if (!parsed.ok) throw new Error("config");
    await buildDeps(parsed.config, store, "another-master-key-0123456789abcdef", silentLogger);
    let error: Error | undefined;
    await getRaw(store.db, accountId, id).catch((e) => (error = e));
    assert(error && /master key does not open/.test(error.message), String(error));
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue21#6: rotate-data re-wraps every data key and gives new ones; reencrypt re-seals old mail, which still reads and is still found", async () => {
  const gw = await createTestGateway();
  const store = gw.deps.store;
  try {
    const alice = await gw.login(ALICE);
    const bob = await gw.login(BOB);
    const word = marker("old");
    const first = await sendOne(gw, alice, `before rotation ${word}`);
    const before = await rawOf(gw, alice, first);
    const oldKey = sealedKeyId(bytesOf((await blobRow(store, first)).data));
    const kekBefore = await rawSql(store.db).all<{ kek_version: number }>(
      "SELECT kek_version FROM crypt_keys",
    );
    const rotation = await rotateDataKeys(store);
    assertEquals(rotation.rewrapped, kekBefore.length);
    const versions = await rawSql(store.db).all<{ kek_version: number }>(
      "SELECT DISTINCT kek_version FROM crypt_keys",
    );
    assertEquals(versions.map((v) => Number(v.kek_version)), [rotation.kekVersion]);
    // New mail: a new key. Old mail: still readable under the retired one.
    const second = await sendOne(gw, alice, "after rotation");
    const newKey = sealedKeyId(bytesOf((await blobRow(store, second)).data));
    assert(newKey !== oldKey, "new mail is sealed under the new data key");
    assertEquals(await rawOf(gw, alice, first), before);
    // Re-encrypt in slices of one: the old blob and rows move to the active keys.
    let cursor;
    let slices = 0;
    do {
      const slice = await reencryptSlice(store, 1, cursor);
      cursor = slice.cursor;
      slices++;
    } while (cursor && slices < 50);
    assertEquals(cursor, undefined);
    const active = new Set((await rawSql(store.db).all<{ id: number }>(
      "SELECT id FROM crypt_keys WHERE retired_at IS NULL",
    )).map((r) => Number(r.id)));
    const blobs = await rawSql(store.db).all<{ data: unknown }>("SELECT data FROM blobs");
    assert(blobs.every((b) => active.has(sealedKeyId(bytesOf(b.data)))), "all under active keys");
    assertEquals(await rawOf(gw, alice, first), before);
    const [bobCopy] = await idsOf(gw, bob);
    assertEquals((await search(gw, bob, word)).length, 1, "still found after re-sealing");
    assert(bobCopy > 0);
  } finally {
    gw.close();
  }
});

Deno.test("issue21#6: mail stored with encryption off stays readable and `reencrypt` seals it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-crypt-" });
  const url = `file:${dir}/postern.db`;
  const plain = await createTestGateway({ encryptAtRest: false }, url);
  const alice = await plain.login(ALICE);
  const word = marker("legacy");
  const id = await sendOne(plain, alice, `old mail ${word}`);
  const before = await rawOf(plain, alice, id);
  plain.close();
  assertEquals(await foundIn(dbFiles(dir), [word]), [word], "stored in clear with encryption off");
  const gw = await createTestGateway({}, url, { seed: false });
  try {
    const token = await gw.login(ALICE);
    assertEquals(await rawOf(gw, token, id), before, "plain rows read as before");
    let cursor;
    do cursor = (await reencryptSlice(gw.deps.store, 100, cursor)).cursor; while (cursor);
    assertEquals(await rawOf(gw, token, id), before, "byte-exact once sealed");
    assertEquals(await search(gw, token, word), [id]);
    // Freed pages and old WAL frames still hold the plaintext until rewritten (README).
    await rawSql(gw.deps.store.db).run("VACUUM");
    await rawSql(gw.deps.store.db).run("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    gw.close();
  }
  assertEquals(await foundIn(dbFiles(dir), [word]), [], "sealed by reencrypt");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("issue21#6: `postern keys rotate-data --reencrypt` and `keys reencrypt` on an initialised data folder", async () => {
  const data = await initDataDir();
  try {
    const admin = "admin@postern.localhost";
    await seedAccount(data.dbUrl, admin, [
      {
        mailbox: "INBOX",
        raw: mimeWith(admin, "cli", `words ${marker("cli")}`, "x"),
        flags: [],
        date: "2026-01-02T03:04:05Z",
      },
    ]);
    const before = await messagesOf(data.dbUrl, admin);
    const rotated = await cliRun(["keys", "rotate-data", "--reencrypt", "--json"], data.env);
    assertEquals(rotated.code, 0, rotated.stderr);
    const out = JSON.parse(rotated.stdout);
    assertEquals(out.kekVersion, 2);
    assert(out.rewrapped >= 1 && out.newDataKeys >= 1, rotated.stdout);
    assertEquals(out.reencrypted.done, true);
    assert(out.reencrypted.blobs >= 1 && out.reencrypted.messages >= 1, rotated.stdout);
    const again = await cliRun(["keys", "reencrypt", "--vacuum", "--json"], data.env);
    assertEquals(again.code, 0, again.stderr);
    assertEquals(JSON.parse(again.stdout).blobs, 0, "nothing left under a retired key");
    assertEquals((await messagesOf(data.dbUrl, admin)).map((m) => m.raw), before.map((m) => m.raw));
    const help = await cliRun(["keys", "rotate-data", "--help"], data.env);
    assert(help.stdout.includes("re-wraps every account's data key"), help.stdout);
  } finally {
    await data.remove();
  }
});

Deno.test("issue21#6: search word hashes are the same bytes as before (Web Crypto HMAC under the HKDF key deriveKey gave), so existing indexes still match", async () => {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const material = await crypto.subtle.importKey("raw", raw, "HKDF", false, [
    "deriveKey",
    "deriveBits",
  ]);
  const params = {
    name: "HKDF",
    hash: "SHA-256",
    salt: new Uint8Array(0),
    info: new TextEncoder().encode("postern search v1"),
  };
  // What the index was written with before: a Web Crypto HMAC key of this HKDF info.
  const before = await crypto.subtle.deriveKey(
    params,
    material,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign"],
  );
  const now = new TokenMac(new Uint8Array(await crypto.subtle.deriveBits(params, material, 256)));
  for (const word of ["cafe", "creme", marker("w"), "ünïcödé"]) {
    const mac = await crypto.subtle.sign("HMAC", before, new TextEncoder().encode(word));
    const hex = [...new Uint8Array(mac).subarray(0, 10)]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    assertEquals(now.hex(word, 10), hex, word);
  }
  const gw = await createTestGateway();
  try {
    const key = await gw.deps.store.vault!.activeKey(0);
    assertEquals(hashedBody(key, "Café crème"), hashedBody(key, "cafe CREME"));
  } finally {
    gw.close();
  }
});

/** Trains ALICE's filter over the store's real doors: two deliveries, one moved into Junk. */
async function trainAlice(gw: TestGateway, spamWord: string, hamWord: string) {
  const inbound = (id: string, body: string) => ({
    raw: new TextEncoder().encode(
      `From: z@remote.example\r\nTo: ${ALICE.address}\r\nSubject: note\r\n` +
        `Message-ID: <${id}@remote.example>\r\n\r\n${body}\r\n`,
    ),
    mailFrom: "z@remote.example",
    recipients: [ALICE.address],
    source: "smtp" as const,
    authentication: { clientIp: "192.0.2.1", helo: "mail.remote.example" },
  });
  const [spam] = await deliver(gw.deps, inbound(crypto.randomUUID(), `buy ${spamWord} today`));
  const [ham] = await deliver(gw.deps, inbound(crypto.randomUUID(), `lunch ${hamWord} friday`));
  const junk = await rawSql(gw.deps.store.db).get<{ id: number }>(
    "SELECT id FROM mailboxes WHERE account_id = ? AND role = 'junk'",
    [spam.accountId!],
  );
  await moveMessage(gw.deps, spam.accountId!, spam.messageId!, Number(junk!.id));
  // Into Junk and back out: learned as ham (the tokens of both kinds are stored).
  await moveMessage(gw.deps, ham.accountId!, ham.messageId!, Number(junk!.id));
  const inbox = await rawSql(gw.deps.store.db).get<{ id: number }>(
    "SELECT id FROM mailboxes WHERE account_id = ? AND role = 'inbox'",
    [ham.accountId!],
  );
  await moveMessage(gw.deps, ham.accountId!, ham.messageId!, Number(inbox!.id));
  return spam.accountId!;
}

/** The Bayes rule a new message with `word` gets for ALICE. */
async function bayesOf(gw: TestGateway, word: string): Promise<string | undefined> {
  const [r] = await deliver(gw.deps, {
    raw: new TextEncoder().encode(
      `From: z@remote.example\r\nTo: ${ALICE.address}\r\nSubject: note\r\n` +
        `Message-ID: <${crypto.randomUUID()}@remote.example>\r\n\r\nbuy ${word} today\r\n`,
    ),
    mailFrom: "z@remote.example",
    recipients: [ALICE.address],
    source: "smtp",
    authentication: { clientIp: "192.0.2.1", helo: "mail.remote.example" },
  });
  const row = await rawSql(gw.deps.store.db).get<{ parsed: string }>(
    "SELECT parsed FROM messages WHERE id = ?",
    [r.messageId!],
  );
  const parsed = await parsedOfRow<{ spam?: { tests: { name: string }[] } }>(
    gw.deps.store.db,
    r.accountId!,
    row!.parsed,
  );
  return parsed.spam?.tests.map((t) => t.name).find((n) => n.startsWith("BAYES_"));
}

const SPAMMY = ["BAYES_95", "BAYES_99", "BAYES_999"];
const SPAM_CONFIG = { spamTrustedNetworks: "", spamBayesMinMessages: 1 };

Deno.test("issue21#6: the spam filter's learned tokens are keyed hashes: no word of a trained message is in the database file, and Bayes still scores", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-crypt-" });
  const gw = await createTestGateway(SPAM_CONFIG, `file:${dir}/postern.db`);
  const spamWord = marker("sp"), hamWord = marker("hm");
  try {
    const account = await trainAlice(gw, spamWord, hamWord);
    const rows = await rawSql(gw.deps.store.db).all<{ token: string; spam: number }>(
      "SELECT token, spam FROM spam_tokens WHERE account_id = ?",
      [account],
    );
    assert(rows.length > 4, "tokens learned");
    assert(rows.every((r) => /^#[0-9a-f]{20}$/.test(r.token)), "each a keyed hash");
    const hash = await tokenHasher(gw.deps.store.db, account);
    assertEquals(Number(rows.find((r) => r.token === hash(spamWord))?.spam), 1);
    // The learned counts still decide: the spam word scores high for the account that learned it.
    assert(SPAMMY.includes(await bayesOf(gw, spamWord) ?? ""), "scored as spam");
    await rawSql(gw.deps.store.db).run("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    gw.close();
  }
  assertEquals(await foundIn(dbFiles(dir), [spamWord, hamWord]), [], "no token in clear");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("issue21#6: a filter trained before encryption keeps scoring, and `reencrypt` rewrites its plaintext tokens as hashes with their counts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-crypt-" });
  const url = `file:${dir}/postern.db`;
  const spamWord = marker("os"), hamWord = marker("oh");
  const plain = await createTestGateway({ ...SPAM_CONFIG, encryptAtRest: false }, url);
  const account = await trainAlice(plain, spamWord, hamWord);
  const count = async (gw: TestGateway, where: string) =>
    Number(
      (await rawSql(gw.deps.store.db).get<{ n: number }>(
        `SELECT count(*) AS n FROM spam_tokens WHERE account_id = ? AND ${where}`,
        [account],
      ))!.n,
    );
  const learned = await count(plain, "true");
  const trained = await bayesOf(plain, spamWord);
  assert(SPAMMY.includes(trained ?? ""), "scored as spam before the upgrade");
  assertEquals(await count(plain, "token NOT LIKE '#%'"), learned, "stored as words when off");
  plain.close();
  const gw = await createTestGateway(SPAM_CONFIG, url, { seed: false });
  try {
    // Upgraded but not yet rewritten: the plaintext counts still score.
    assertEquals(await bayesOf(gw, spamWord), trained);
    let cursor, tokens = 0;
    do {
      const slice = await reencryptSlice(gw.deps.store, 7, cursor);
      tokens += slice.tokens;
      cursor = slice.cursor;
    } while (cursor);
    assertEquals(tokens, learned, "every plaintext token rewritten once");
    assertEquals(await count(gw, "token NOT LIKE '#%'"), 0);
    assertEquals(await count(gw, "true"), learned, "one hashed row per token");
    const hash = await tokenHasher(gw.deps.store.db, account);
    const row = await rawSql(gw.deps.store.db).get<{ spam: number; ham: number }>(
      "SELECT spam, ham FROM spam_tokens WHERE account_id = ? AND token = ?",
      [account, hash(hamWord)],
    );
    assertEquals([Number(row!.spam), Number(row!.ham)], [0, 1], "counts kept");
    assertEquals(await bayesOf(gw, spamWord), trained, "still trained, the same verdict");
    await rawSql(gw.deps.store.db).run("VACUUM");
    await rawSql(gw.deps.store.db).run("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    gw.close();
  }
  assertEquals(await foundIn(dbFiles(dir), [spamWord, hamWord]), []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("issue21#6: the spam token MAC is standard HMAC-SHA-256 (node:crypto gives the same bytes) at every length", async () => {
  const { createHmac } = await import("node:crypto");
  const key = crypto.getRandomValues(new Uint8Array(32));
  const mac = new TokenMac(key);
  for (let n = 0; n < 200; n++) {
    const text = Array.from({ length: n }, (_, i) => (i % 11 === 3 ? "é€" : "abcdefgh"[i % 8]))
      .join("");
    const want = createHmac("sha256", key).update(text).digest("hex");
    assertEquals(mac.hex(text, 32), want, `${n} characters`);
    assertEquals(mac.hex(text, 10), want.slice(0, 20));
  }
});

Deno.test("issue21#6: deleting an account destroys its data keys (crypto-shredding) once a reencrypt pass has re-sealed the mail other accounts share with it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-crypt-" });
  const url = `file:${dir}/postern.db`;
  const gw = await createTestGateway(SPAM_CONFIG, url);
  let saved: Uint8Array, aliceId: number, bobMessage: number, raw: string;
  try {
    const alice = await gw.login(ALICE), bob = await gw.login(BOB);
    aliceId = await trainAlice(gw, marker("a"), marker("b"));
    await sendOne(gw, alice, `shared ${marker("shared")}`);
    [bobMessage] = await idsOf(gw, bob);
    raw = await rawOf(gw, bob, bobMessage);
    const row = await blobRow(gw.deps.store, bobMessage);
    saved = bytesOf(row.data).slice();
    const owner = (await gw.deps.store.vault!.keyById(sealedKeyId(saved))).accountId;
    assertEquals(owner, aliceId, "the sent message's one blob is sealed under the sender's key");
    await deleteAccount(gw.deps.store, aliceId);
    const sql = rawSql(gw.deps.store.db);
    const keys = await sql.all<{ retired_at: number | null; account_deleted_at: number | null }>(
      "SELECT retired_at, account_deleted_at FROM crypt_keys WHERE account_id = ?",
      [aliceId],
    );
    assert(keys.length > 0 && keys.every((k) => k.retired_at && k.account_deleted_at));
    for (const table of ["spam_tokens", "spam_stats", "spam_learned"]) {
      const n = await sql.get<{ n: number }>(
        `SELECT count(*) AS n FROM ${table} WHERE account_id = ?`,
        [aliceId],
      );
      assertEquals(Number(n!.n), 0, `${table} of the deleted account`);
    }
    assertEquals(await rawOf(gw, bob, bobMessage), raw, "Bob's copy still reads");
    let cursor;
    do cursor = (await reencryptSlice(gw.deps.store, 3, cursor)).cursor; while (cursor);
    const left = await sql.get<{ n: number }>(
      "SELECT count(*) AS n FROM crypt_keys WHERE account_id = ?",
      [aliceId],
    );
    assertEquals(Number(left!.n), 0, "the deleted account's keys are destroyed");
    assertEquals(await rawOf(gw, bob, bobMessage), raw, "re-sealed under a living key first");
  } finally {
    gw.close();
  }
  // A fresh process (no key cached): what the deleted key sealed no longer opens.
  const after = await createTestGateway({}, url, { seed: false });
  try {
    const bob = await after.login(BOB);
    assertEquals(await rawOf(after, bob, bobMessage), raw);
    const row = await blobRow(after.deps.store, bobMessage);
    assert(sealedKeyId(bytesOf(row.data)) !== sealedKeyId(saved));
    const error = await openPart(after.deps.store.vault!.lookup, saved, `blob ${row.sha256}/0`)
      .then(() => undefined, (e) => String(e));
    assert(error?.includes("is missing"), error);
  } finally {
    after.close();
  }
  await Deno.remove(dir, { recursive: true });
});
