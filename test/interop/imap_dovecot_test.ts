/**
 * The same scripted IMAP session against Dovecot 2.3 and against Postern (the bridge's IMAP
 * server on the gateway), both seeded identically by test/peers/seed-imap.py, with the
 * responses compared structurally: FETCH data item by item (ENVELOPE, BODYSTRUCTURE, BODY,
 * every BODY[section] form, sizes, dates, flags), SEARCH results, EXISTS/EXPUNGE, and for
 * status responses the status and response code (human-readable text and UIDVALIDITY values
 * differ by design and are not compared).
 */
import { assert, assertEquals } from "../fixtures/assert.ts";
import { ALICE } from "../fixtures/app.ts";
import { startBridgeWorld } from "../fixtures/bridge.ts";
import { DOVECOT, seedOverImap, startDovecot } from "../fixtures/dovecot.ts";
import { startGatewayImap } from "../fixtures/imap_pop3.ts";
import { peerTest } from "../fixtures/postfix.ts";
import { parseResponses, type Response, type Value } from "./imap_responses.ts";

const SCRIPT = [
  "SELECT INBOX",
  "FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)",
  "FETCH 1:* BODYSTRUCTURE",
  "FETCH 1:* BODY",
  "FETCH 1:* BODY.PEEK[]",
  "FETCH 1:* (BODY.PEEK[HEADER] BODY.PEEK[TEXT])",
  "FETCH 1:* BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]",
  "FETCH 1:* BODY.PEEK[HEADER.FIELDS.NOT (FROM SUBJECT DATE)]",
  "FETCH 1 (BODY.PEEK[1] BODY.PEEK[1.MIME])",
  "FETCH 2:3 (BODY.PEEK[1] BODY.PEEK[2] BODY.PEEK[1.MIME] BODY.PEEK[2.MIME])",
  "FETCH 3 (BODY.PEEK[3] BODY.PEEK[3]<2.10> BODY.PEEK[]<0.20> BODY.PEEK[]<5000.10>)",
  "FETCH 5 (BODY.PEEK[2] BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] BODY.PEEK[2.1] BODY.PEEK[2.MIME])",
  "FETCH 5 (BODY.PEEK[2.HEADER.FIELDS (SUBJECT)] BODY.PEEK[1.TEXT])",
  "FETCH 1:2 (RFC822.HEADER RFC822.SIZE)",
  "UID FETCH 2:4 (FLAGS)",
  "SEARCH ALL",
  "SEARCH SEEN",
  "SEARCH UNSEEN",
  "SEARCH FLAGGED",
  "SEARCH ANSWERED",
  "SEARCH KEYWORD $Forwarded",
  "SEARCH SUBJECT plain",
  "SEARCH FROM carol",
  "SEARCH TO alice",
  "SEARCH BODY quokka",
  "SEARCH TEXT quokka",
  "SEARCH LARGER 600",
  "SEARCH SMALLER 600",
  "SEARCH SINCE 03-Jan-2024",
  "SEARCH BEFORE 03-Jan-2024",
  "SEARCH ON 04-Jan-2024",
  "SEARCH OR SEEN FLAGGED",
  "SEARCH NOT SEEN",
  "SEARCH 2:4 NOT ANSWERED",
  "UID SEARCH UID 2:4",
  "SEARCH HEADER Message-ID seed-05",
  "SEARCH CHARSET UTF-8 ALL",
  "SEARCH CHARSET UTF-8 SUBJECT {6+}\r\nGrüße",
  "SEARCH CHARSET UTF-8 FROM {6+}\r\nJürgen",
  "FETCH 1:* BODY.PEEK[HEADER.FIELDS (X-NONE)]",
  "STORE 1 +FLAGS (\\Flagged $Work)",
  "STORE 1 -FLAGS (\\Seen)",
  "STORE 2 FLAGS (\\Draft)",
  "UID STORE 3 +FLAGS.SILENT (\\Deleted)",
  "FETCH 1:* FLAGS",
  "FETCH 9 FLAGS",
  "FETCH 1 (FLAGS",
  "FOO",
  "UID FOO 1",
  "COPY 1:2 Trash",
  "COPY 1 NoSuchBox",
  "EXPUNGE",
  "FETCH 1:* (UID FLAGS)",
  "APPEND INBOX (\\Seen $Late) {26+}\r\nSubject: late\r\n\r\nlate body\r\n",
  "FETCH 5 (UID FLAGS RFC822.SIZE BODY[])",
  "UID MOVE 1 Trash",
  "UID STORE 2 +FLAGS.SILENT (\\Deleted)",
  "UID EXPUNGE 2",
  "FETCH 1:* (UID FLAGS BODYSTRUCTURE)",
  "STATUS Trash (MESSAGES UNSEEN)",
  "EXAMINE INBOX",
  "STORE 1 +FLAGS (\\Seen)",
  "FETCH 1 BODY[1]",
  "FETCH 1 FLAGS",
  "CLOSE",
  "LOGOUT",
];

async function connect(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let buffer = new Uint8Array();
  const read = async () => {
    const chunk = new Uint8Array(65536);
    const n = await conn.read(chunk);
    if (n === null) return false;
    const joined = new Uint8Array(buffer.length + n);
    joined.set(buffer);
    joined.set(chunk.subarray(0, n), buffer.length);
    buffer = joined;
    return true;
  };
  const dec = new TextDecoder();
  /** Reads until the tagged response of `tag` has arrived. */
  const until = async (tag: string) => {
    for (;;) {
      const text = dec.decode(buffer);
      if (text.endsWith("\r\n") && (text.startsWith(`${tag} `) || text.includes(`\r\n${tag} `))) {
        const out = buffer;
        buffer = new Uint8Array();
        return out;
      }
      if (!await read()) return buffer;
    }
  };
  await until("*"); // greeting
  return {
    async command(tag: string, text: string): Promise<Response[]> {
      await conn.write(new TextEncoder().encode(`${tag} ${text}\r\n`));
      return parseResponses(await until(tag));
    },
    close: () => conn.close(),
  };
}

/** The comparable content of one command's responses. */
function normalise(responses: Response[]): unknown[] {
  const out: unknown[] = [];
  for (const r of responses) {
    const [first, second] = r.values;
    if (r.tag !== "*") {
      const code = String(second);
      out.push([
        "tagged",
        first,
        ["READ-ONLY", "READ-WRITE", "TRYCREATE"].includes(code) ? code : "",
      ]);
      continue;
    }
    if (second === "FETCH") {
      const items = r.values[2] as Value[];
      const map: Record<string, unknown> = {};
      for (let k = 0; k < items.length; k += 2) {
        map[String(items[k]).toUpperCase()] = canon(items[k + 1]);
      }
      out.push(["FETCH", first, map]);
    } else if (first === "SEARCH") out.push(r.values);
    else if (second === "EXISTS" || second === "EXPUNGE") out.push(r.values);
    else if (first === "STATUS") out.push(["STATUS", r.values[2]]);
    // FLAGS: Dovecot keeps listing a keyword once used in the mailbox, Postern lists those in
    // use; keywords are compared through FETCH FLAGS instead.
    else if (first === "FLAGS") {
      out.push(["FLAGS", (r.values[1] as string[]).filter((f) => f.startsWith("\\")).sort()]);
    }
    // Other untagged data (CAPABILITY, OK [UIDVALIDITY …], RECENT) differs by design.
  }
  return out;
}

/**
 * Flags as a sorted set without \Recent, which Postern does not keep (IMAP4rev2, RFC 9051,
 * dropped it); everything else as is.
 */
function canon(v: Value): unknown {
  if (Array.isArray(v) && v.every((x) => typeof x === "string" && /^\\?[\w$]+$/.test(x))) {
    return v.filter((f) => f !== "\\Recent").sort();
  }
  return v;
}

/**
 * Intended differences, by command: STORE in a mailbox opened with EXAMINE is refused with
 * NO [READ-ONLY] by Postern (RFC 3501 section 6.3.2: no changes are permitted) where Dovecot
 * answers OK and changes nothing.
 */
const INTENDED: Record<string, { dovecot: unknown[]; postern: unknown[] }> = {
  "STORE 1 +FLAGS (\\Seen)": {
    dovecot: [["tagged", "OK", ""]],
    postern: [["tagged", "NO", "READ-ONLY"]],
  },
};

const peers = peerTest(["python3"]);
const noDovecot = (() => {
  try {
    Deno.statSync(DOVECOT);
    return Deno.uid() !== 0;
  } catch {
    return true;
  }
})();

Deno.test({
  name: "the same IMAP session on Dovecot and on Postern gives the same structures",
  ignore: peers.ignore || (noDovecot && !Deno.env.get("CI")),
  async fn() {
    const dovecot = await startDovecot();
    const world = await startBridgeWorld();
    const imap = await startGatewayImap(world.gw);
    try {
      await seedOverImap(dovecot.imapPort, "alice", "alicepw");
      await seedOverImap(imap.port, ALICE.address, ALICE.password);
      const d = await connect(dovecot.imapPort);
      const p = await connect(imap.port);
      await d.command("l", "LOGIN alice alicepw");
      await p.command("l", `LOGIN ${ALICE.address} ${ALICE.password}`);
      const differences: string[] = [];
      for (const [n, cmd] of SCRIPT.entries()) {
        const tag = `c${n}`;
        const a = normalise(await d.command(tag, cmd));
        const b = normalise(await p.command(tag, cmd));
        try {
          const intended = INTENDED[cmd];
          if (intended && n > SCRIPT.indexOf("EXAMINE INBOX")) {
            assertEquals([a, b], [intended.dovecot, intended.postern]);
          } else assertEquals(b, a);
        } catch {
          differences.push(
            `${cmd}\n  dovecot: ${JSON.stringify(a)}\n  postern: ${JSON.stringify(b)}`,
          );
        }
      }
      d.close();
      p.close();
      assert(differences.length === 0, differences.join("\n\n"));
    } finally {
      await imap.close();
      await world.close();
      await dovecot.stop();
    }
  },
});
