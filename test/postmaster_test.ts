/**
 * RFC 5321 section 4.5.1: every domain the server takes mail for has a postmaster, matched
 * without regard to case, and a bare `<Postmaster>` recipient must be accepted. With no account
 * or alias of that name, the mail goes to the configured postmaster account (`postmasterAccount`,
 * default: the first admin account), over SMTP, HTTP sends and federation alike.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, createTestGateway, DOMAIN, type TestGateway } from "./fixtures/app.ts";
import { startBridgeWorld } from "./fixtures/bridge.ts";
import { deliver } from "../src/services/delivery.ts";
import { rawSql } from "../src/store/store.ts";

const enc = new TextEncoder();

async function inbox(gw: TestGateway, address: string): Promise<string[]> {
  const rows = await rawSql(gw.deps.store.db).all<{ subject: string }>(
    `SELECT m.subject FROM messages m JOIN accounts a ON a.id = m.account_id
     JOIN mailboxes b ON b.id = m.mailbox_id
     WHERE a.address = ? AND b.role = 'inbox' ORDER BY m.id`,
    [address],
  );
  return rows.map((r) => r.subject);
}

const mail = (subject: string, to: string) =>
  enc.encode(
    `From: Peer <abuse@remote.example>\r\nTo: ${to}\r\nSubject: ${subject}\r\n` +
      `Message-ID: <${crypto.randomUUID()}@remote.example>\r\n\r\nreport\r\n`,
  );

Deno.test("issue15#10: postmaster@ a local domain, any case, reaches the first admin over every transport", async () => {
  const gw = await createTestGateway();
  try {
    // Federation and SHARP hand mail to the same pipeline.
    for (const [source, to] of [["federation", `postmaster@${DOMAIN}`], ["sharp", `PostMaster@${DOMAIN}`]] as const) {
      const [r] = await deliver(gw.deps, {
        raw: mail(`via ${source}`, to),
        mailFrom: "abuse@remote.example",
        recipients: [to],
        source,
      });
      assertEquals(r.status, "delivered", JSON.stringify(r));
    }
    // An HTTP send from a local user.
    const token = await gw.login(ALICE);
    const res = await gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: [`POSTMASTER@${DOMAIN}`], subject: "via http", text: "hi" },
    });
    assertEquals(res.status, 201, await res.clone().text());
    await res.body?.cancel();
    assertEquals(await inbox(gw, ADMIN.address), ["via federation", "via sharp", "via http"]);
    // Other unknown names are still refused.
    const [r] = await deliver(gw.deps, {
      raw: mail("x", `nobody@${DOMAIN}`),
      mailFrom: "",
      recipients: [`nobody@${DOMAIN}`],
      source: "smtp",
    });
    assertEquals(r.status, "rejected");
  } finally {
    gw.close();
  }
});

Deno.test("issue15#10: postmasterAccount picks the account that gets postmaster mail", async () => {
  const gw = await createTestGateway({ postmasterAccount: ALICE.address });
  try {
    const [r] = await deliver(gw.deps, {
      raw: mail("to alice", `postmaster@${DOMAIN}`),
      mailFrom: "",
      recipients: [`postmaster@${DOMAIN}`],
      source: "smtp",
    });
    assertEquals(r.status, "delivered");
    assertEquals(await inbox(gw, ALICE.address), ["to alice"]);
    assertEquals(await inbox(gw, ADMIN.address), []);
  } finally {
    gw.close();
  }
});

/** A minimal SMTP client: sends a line, returns the reply's last line. */
async function smtp(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let buf = "";
  const dec = new TextDecoder();
  const reply = async () => {
    for (;;) {
      const m = /(^|\n)(\d{3}) [^\n]*\n/.exec(buf);
      if (m) {
        const end = m.index + m[0].length;
        const text = buf.slice(0, end);
        buf = buf.slice(end);
        return text.trim().split("\n").at(-1)!.replace(/\r$/, "");
      }
      const chunk = new Uint8Array(4096);
      const n = await conn.read(chunk);
      if (n === null) throw new Error(`EOF after ${buf}`);
      buf += dec.decode(chunk.subarray(0, n));
    }
  };
  return {
    reply,
    async cmd(line: string) {
      await conn.write(enc.encode(`${line}\r\n`));
      return await reply();
    },
    close: () => conn.close(),
  };
}

Deno.test("issue15#10: SMTP RCPT TO:<postmaster> (no domain) and <POSTMASTER@domain> are accepted and delivered", async () => {
  const world = await startBridgeWorld({ config: { hostname: "mx.postern.test" } });
  const c = await smtp(world.mxPort);
  try {
    assert((await c.reply()).startsWith("220"));
    assert((await c.cmd("EHLO peer.remote.example")).startsWith("250"));
    assert((await c.cmd("MAIL FROM:<abuse@remote.example>")).startsWith("250"));
    assertEquals((await c.cmd("RCPT TO:<postmaster>")).slice(0, 3), "250");
    assertEquals((await c.cmd(`RCPT TO:<POSTMASTER@${DOMAIN}>`)).slice(0, 3), "250");
    assertEquals((await c.cmd(`RCPT TO:<nobody@${DOMAIN}>`)).slice(0, 3), "550");
    assert((await c.cmd("DATA")).startsWith("354"));
    assertEquals(
      (await c.cmd(
        "From: <abuse@remote.example>\r\nSubject: over smtp\r\nMessage-ID: <pm1@remote.example>\r\n\r\nreport\r\n.",
      )).slice(0, 3),
      "250",
    );
    await c.cmd("QUIT");
    // Both recipients are the same account: stored once.
    assertEquals(await inbox(world.gw, ADMIN.address), ["over smtp"]);
  } finally {
    c.close();
    await world.close();
  }
});
