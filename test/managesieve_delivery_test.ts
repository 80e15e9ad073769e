/**
 * The whole path a filter editor sets up: a script uploaded and activated over ManageSieve
 * (Debian's sieve-connect, STARTTLS, PLAIN) then files a message that arrives over a real SMTP
 * socket on the MX, and mail it does not match stays in the Inbox; deactivating it over
 * ManageSieve stops the filing. The bridge reaches one test gateway for both protocols.
 */
import assert from "node:assert/strict";
import { ALICE, type TestGateway } from "./fixtures/app.ts";
import { python, startBridgeWorld } from "./fixtures/bridge.ts";
import { worldTls } from "./fixtures/imap_pop3.ts";
import {
  literal,
  plain,
  SieveClient,
  sieveConnect,
  startGatewaySieve,
} from "./fixtures/managesieve.ts";

const SMTP_SEND = `
import smtplib, sys
port, rcpt = int(sys.argv[1]), sys.argv[2]
with smtplib.SMTP("127.0.0.1", port, local_hostname="mx.remote.example") as s:
    for subject in sys.argv[3:]:
        msg = "From: billing@shop.example\\r\\nTo: %s\\r\\nSubject: %s\\r\\nMessage-ID: <%s@shop.example>\\r\\n\\r\\nhello\\r\\n" % (rcpt, subject, subject.replace(" ", "-"))
        s.sendmail("billing@shop.example", [rcpt], msg)
        print("sent", subject)
`;

/** Subjects per mailbox name, through the REST API as Alice. */
async function subjectsByMailbox(gw: TestGateway): Promise<Record<string, string[]>> {
  const token = await gw.login(ALICE);
  const boxes = (await (await gw.call("GET", "/v1/mailboxes", { token })).json()).items as {
    id: number;
    name: string;
  }[];
  const out: Record<string, string[]> = {};
  for (const box of boxes) {
    const res = await gw.call("GET", `/v1/messages?mailboxId=${box.id}`, { token });
    const items = (await res.json()).items as { subject: string }[];
    if (items.length) out[box.name] = items.map((m) => m.subject).sort();
  }
  return out;
}

const installed = await Deno.stat("/usr/bin/sieve-connect").then(() => true, () => false);

Deno.test({
  name:
    "issue21#2: ManageSieve: a script uploaded with sieve-connect files a message delivered over SMTP",
  ignore: !installed,
  fn: async () => {
    const world = await startBridgeWorld();
    const listener = await startGatewaySieve(world.gw, { tls: worldTls(world) });
    const dir = await Deno.makeTempDir({ prefix: "postern-sieve-e2e-" });
    try {
      const token = await world.gw.login(ALICE);
      const made = await world.gw.call("POST", "/v1/mailboxes", {
        token,
        body: { name: "Invoices" },
      });
      assert.equal(made.status, 201);
      await Deno.writeTextFile(
        `${dir}/invoices.sieve`,
        'require ["fileinto"];\nif header :contains "subject" "invoice" {\n' +
          '  fileinto "Invoices";\n  stop;\n}\n',
      );
      for (
        const args of [
          ["--upload", "--localsieve", `${dir}/invoices.sieve`, "--remotesieve", "invoices"],
          ["--activate", "--remotesieve", "invoices"],
        ]
      ) {
        const out = await sieveConnect({
          port: listener.port,
          user: ALICE.address,
          password: ALICE.password,
          caFile: world.certFile,
        }, args);
        assert.equal(out.code, 0, out.out);
      }

      const sent = await python(SMTP_SEND, [
        String(world.mxPort),
        ALICE.address,
        "Invoice 2026-12",
        "Lunch on Friday",
      ]);
      assert.equal(sent.trim().split("\n").length, 2, sent);
      const filed = await subjectsByMailbox(world.gw);
      assert.deepEqual(filed["Invoices"], ["Invoice 2026-12"]);
      assert.deepEqual(filed["INBOX"] ?? filed["Inbox"], ["Lunch on Friday"]);

      // Deactivated over ManageSieve (SETACTIVE ""): the next invoice stays in the Inbox.
      const c = await SieveClient.open(listener.port);
      await c.response();
      await c.startTls(world.certFile);
      assert.match(
        (await c.command(`AUTHENTICATE "PLAIN" ${literal(plain(ALICE.address, ALICE.password))}`))
          .status,
        /^OK/,
      );
      assert.equal((await c.command('SETACTIVE ""')).status, "OK");
      await c.command("LOGOUT");
      c.close();
      await python(SMTP_SEND, [String(world.mxPort), ALICE.address, "Invoice 2027-01"]);
      const after = await subjectsByMailbox(world.gw);
      assert.deepEqual(after["Invoices"], ["Invoice 2026-12"]);
      assert.deepEqual(after["INBOX"] ?? after["Inbox"], ["Invoice 2027-01", "Lunch on Friday"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await listener.close();
      await world.close();
    }
  },
});
