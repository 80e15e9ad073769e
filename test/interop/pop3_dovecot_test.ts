/**
 * The same scripted POP3 session against Dovecot and against Postern, both seeded with the
 * shared seed messages (test/data/seed, same bytes, flags and dates), compared
 * structurally: every command's +OK/-ERR, STAT and LIST figures, UIDL's UID half (Dovecot and
 * Postern both use `%08Xu%08Xv`), and RETR/TOP bodies byte for byte.
 */
import { assert, assertEquals } from "../fixtures/assert.ts";
import { ALICE, createTestGateway } from "../fixtures/app.ts";
import { dovecotAvailable, SEED_DIR, seedOverImap, startDovecot } from "../fixtures/dovecot.ts";
import { bridgeKey } from "../fixtures/bridge.ts";
import { startGatewayPop3 } from "../fixtures/imap_pop3.ts";
import { MailClient } from "../../bridge/mail_client.ts";
import { type Pop3Reply, pop3Script } from "./pop3_script.ts";

const available = await dovecotAvailable({ pop3: true });

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** The seed files with MANIFEST flags and dates, CRLF line ends as seed-imap.py sends them. */
async function seeds() {
  const manifest = await Deno.readTextFile(`${SEED_DIR}/MANIFEST`);
  const out: { file: string; raw: Uint8Array; flags: string[]; internalDate: number }[] = [];
  for (const line of manifest.split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    const parts = line.trim().split(/\s+/);
    const [day, mon, year] = parts[parts.length - 3].split("-");
    const [h, mi, s] = parts[parts.length - 2].split(":").map(Number);
    const text = await Deno.readTextFile(`${SEED_DIR}/${parts[0]}`);
    out.push({
      file: parts[0],
      raw: new TextEncoder().encode(text.replace(/\r\n/g, "\n").replace(/\n/g, "\r\n")),
      flags: parts.slice(1, -3).filter((f) => f !== "-"),
      internalDate: Date.UTC(+year, MONTHS.indexOf(mon), +day, h, mi, s),
    });
  }
  return out;
}

const script = (user: string, password: string) => [
  "STAT",
  "CAPA",
  `USER ${user}`,
  `PASS ${password}`,
  "STAT",
  "LIST",
  "LIST 3",
  "LIST 9",
  "UIDL",
  "UIDL 2",
  "RETR 1",
  "RETR 2",
  "RETR 3",
  "RETR 4",
  "RETR 5",
  "TOP 3 0",
  "TOP 2 4",
  "RETR 6",
  "DELE 1",
  "DELE 1",
  "RETR 1",
  "STAT",
  "RSET",
  "STAT",
  "NOOP",
  "XYZZY",
  "QUIT",
];

Deno.test({
  name: "POP3 interop: Postern answers the same script as Dovecot, bodies byte for byte",
  ignore: !available,
  async fn() {
    const messages = await seeds();
    assertEquals(messages.length, 5);
    const dovecot = await startDovecot();
    const gw = await createTestGateway();
    let pop3: { port: number; close(): Promise<void> } | undefined;
    try {
      await seedOverImap(
        dovecot.imapPort,
        "alice",
        "alicepw",
        messages.map((m) => SEED_DIR + m.file),
      );

      const key = await bridgeKey(gw);
      const fetcher = (r: Request) => gw.app.fetch(r);
      const client = await MailClient.login({
        baseUrl: "http://gw.internal",
        bridgeKey: key,
        username: ALICE.address,
        secret: ALICE.password,
        clientIp: "127.0.0.1",
        protocol: "imap",
        fetcher,
      });
      const inbox = (await client!.mailboxes()).find((b) => b.role === "inbox")!.id;
      for (const m of messages) {
        await client!.append(inbox, m.raw, { flags: m.flags, internalDate: m.internalDate });
      }
      await client!.close();
      pop3 = await startGatewayPop3(gw, { key });

      const theirs = await pop3Script(dovecot.pop3Port, script("alice", "alicepw"));
      const ours = await pop3Script(pop3.port, script(ALICE.address, ALICE.password));
      assertEquals(ours.length, theirs.length);
      const ok = (r: Pop3Reply) => r.status.split(" ")[0];
      const dec = (b?: Uint8Array) => b === undefined ? undefined : new TextDecoder().decode(b);
      for (let i = 0; i < ours.length; i++) {
        const [o, t] = [ours[i], theirs[i]];
        const what = `${t.command || "greeting"}: Dovecot "${t.status}", Postern "${o.status}"`;
        assertEquals(ok(o), ok(t), what);
        const verb = t.command.split(" ")[0];
        if (ok(t) !== "+OK") continue;
        if (verb === "STAT" || (verb === "LIST" && t.command.includes(" "))) {
          assertEquals(o.status, t.status, what);
        }
        if (verb === "LIST" && !t.command.includes(" ")) assertEquals(dec(o.body), dec(t.body));
        if (verb === "UIDL") {
          // Same format, and the UID half agrees; the UIDVALIDITY half is each server's own.
          const uids = (r: Pop3Reply) =>
            (r.body ? dec(r.body)!.trim().split("\r\n") : [r.status.slice(4)])
              .map((l) => l.split(" ")[0] + " " + l.split(" ")[1].slice(0, 8));
          const shape = (r: Pop3Reply) => (dec(r.body) ?? r.status).replace(/[0-9a-f]{16}/g, "U");
          assertEquals(shape(o), shape(t), what);
          assertEquals(uids(o), uids(t), what);
        }
        if (verb === "RETR" || verb === "TOP") {
          assertEquals(dec(o.body), dec(t.body), what);
          assertEquals([...o.body!], [...t.body!], what);
        }
        if (verb === "CAPA") {
          const caps = (r: Pop3Reply) => new Set(dec(r.body)!.trim().split("\r\n"));
          for (const c of ["TOP", "UIDL", "RESP-CODES", "PIPELINING", "USER"]) {
            assert(caps(o).has(c) && caps(t).has(c), `${c} in both CAPA lists`);
          }
        }
      }
      // RETR 1 is the seed's first message exactly.
      const retr1 = ours.find((r) => r.command === "RETR 1")!;
      assertEquals([...retr1.body!], [...messages[0].raw]);
    } finally {
      await pop3?.close();
      gw.close();
      await dovecot.stop();
    }
  },
});
