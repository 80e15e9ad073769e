/**
 * Issue 15 #13: `postern serve` stopped by SIGTERM says goodbye on every open session before it
 * closes (SMTP 421 4.3.2, RFC 5321 section 3.8; IMAP BYE, RFC 3501 section 7.1.5; POP3 -ERR
 * with SYS/TEMP, RFC 3206), and a DATA transfer under way is read to its end and acknowledged
 * (250, the message stored) before its 421. A real process, real sockets, a real signal.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { freePort } from "./fixtures/postfix.ts";
import { LISTENERS_OFF } from "./fixtures/serve_env.ts";
import { openStore } from "../hosts/process/open_store.ts";
import { rawSql } from "../src/store/store.ts";
import { LineClient } from "./fixtures/line_client.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
for (const thread of [false, true]) {
  const where = thread ? " (bridge on a worker thread)" : "";
  Deno.test(`issue15#13: SIGTERM sends 421 / BYE / -ERR / ERROR to open sessions and finishes a DATA transfer${where}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "postern-shutdown-" });
    const http = freePort(), smtp = freePort(), imap = freePort(), pop3 = freePort();
    const sharp = freePort();
    const env = Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "serve", "--init-if-needed"],
      env: {
        ...env,
        ...LISTENERS_OFF,
        NO_COLOR: "1",
        POSTERN_LOG_LEVEL: "warn",
        POSTERN_SMTP_EARLY_TALKER_MS: "0",
        POSTERN_DATA_DIR: `${dir}/data`,
        POSTERN_ADMIN_PASSWORD: "admin-password-for-tests",
        POSTERN_HTTP_PORT: String(http),
        POSTERN_SMTP_PORT: String(smtp),
        POSTERN_IMAP_PORT: String(imap),
        POSTERN_POP3_PORT: String(pop3),
        POSTERN_SHARP_PORT: String(sharp),
        POSTERN_BRIDGE_THREAD: String(thread),
      },
      clearEnv: true,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const clients: LineClient[] = [];
    try {
      // A SHARP/1.3 client that has not spoken yet (there the client speaks first, so nothing
      // shows when the server took the connection: it connects first, before the others).
      const sh = await LineClient.open(sharp);
      clients.push(sh);
      // An SMTP session between commands, and one in the middle of DATA.
      const idle = await LineClient.open(smtp);
      clients.push(idle);
      await idle.until(/^220 /);
      await idle.write("EHLO idle.example\r\n");
      await idle.until(/^250 /);
      const data = await LineClient.open(smtp);
      clients.push(data);
      await data.until(/^220 /);
      for (
        const [cmd, re] of [
          ["EHLO data.example", /^250 /],
          ["MAIL FROM:<zed@remote.example>", /^250 /],
          ["RCPT TO:<admin@postern.localhost>", /^250 /],
          ["DATA", /^354 /],
        ] as const
      ) {
        await data.write(`${cmd}\r\n`);
        await data.until(re);
      }
      await data.write(
        "From: zed@remote.example\r\nTo: admin@postern.localhost\r\nSubject: sent during shutdown\r\n\r\nfirst half\r\n",
      );
      // An IMAP session after its greeting, a POP3 session after its greeting.
      const im = await LineClient.open(imap);
      clients.push(im);
      await im.until(/^\* OK/);
      await im.write("a1 NOOP\r\n");
      await im.until(/^a1 OK/);
      const pop = await LineClient.open(pop3);
      clients.push(pop);
      await pop.until(/^\+OK/);

      child.kill("SIGTERM");

      // Each idle session hears why it is being closed, then the close.
      assertEquals((await idle.rest()).at(-1)?.slice(0, 10), "421 4.3.2 ");
      assert((await im.rest()).some((l) => l.startsWith("* BYE")), "IMAP BYE");
      assert((await pop.rest()).some((l) => /^-ERR \[SYS\/TEMP\]/.test(l)), "POP3 -ERR");
      assert((await sh.rest()).some((l) => l.includes("Server shutting down")), "SHARP ERROR");
      // The transfer under way goes on: its end is acknowledged, then the 421.
      await data.write("second half\r\n.\r\n");
      const after = await data.rest();
      assertEquals(after.map((l) => l.slice(0, 3)), ["250", "421"], after.join(" | "));
      assert(after[1].startsWith("421 4.3.2"), after[1]);

      const status = await child.status;
      assert(status.success, `exit ${status.code}`);
      // Acknowledged means stored.
      const store = await openStore(`file:${dir}/data/postern.db`);
      try {
        const row = await rawSql(store.db).get<{ n: number }>(
          "SELECT count(*) AS n FROM messages WHERE subject = 'sent during shutdown'",
        );
        assertEquals(Number(row?.n), 1);
      } finally {
        store.close();
      }
    } finally {
      for (const c of clients) c.close();
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.stderr.cancel().catch(() => {});
      await child.status;
      await Deno.remove(dir, { recursive: true });
    }
  });
}
