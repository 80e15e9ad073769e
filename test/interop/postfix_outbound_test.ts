/**
 * Postfix receives Postern's outbound mail: a message sent through POST /v1/emails to a
 * legacy.test user leaves through the outbox worker (MX from a test DNS, STARTTLS to Postfix's
 * self-signed smtpd, DKIM-signed) and lands in the user's Maildir under Postfix.
 */
import { assert, assertEquals } from "../fixtures/assert.ts";
import { startOutboundWorld } from "../fixtures/outbound.ts";
import { assertPeers, peerTest, startPostfix } from "../fixtures/postfix.ts";

const peers = peerTest(["postfix", "dkimverify", "opendkim"]);
const DKIM_CHECK = new URL("../peers/dkim-check.py", import.meta.url).pathname;

Deno.test({
  name: "interop: Postern's outbound mail reaches a Postfix mailbox over STARTTLS, DKIM-signed",
  ignore: peers.ignore,
  fn: async () => {
    assertPeers(peers.missing);
    const postfix = await startPostfix({ legacyUsers: ["bob"] });
    const world = await startOutboundWorld({
      zone: {
        "legacy.test": { MX: ["10 mx.legacy.test"] },
        "mx.legacy.test": { A: ["127.0.0.1"] },
      },
    });
    try {
      const res = await world.send(["bob@legacy.test"], "Hello Postfix");
      assertEquals(res.status, 201, await res.clone().text());
      assertEquals(await world.worker({ port: postfix.port }).runOnce(), 1);
      assertEquals((await world.rows()).map((r) => r.state), ["sent"]);

      let mail: string[] = [];
      for (let i = 0; i < 100 && mail.length === 0; i++) {
        mail = await postfix.maildir("bob");
        if (mail.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      assertEquals(mail.length, 1, `bob's Maildir\n${await postfix.log()}`);
      const message = mail[0];
      assert(/^Subject: Hello Postfix/m.test(message), message.slice(0, 500));
      assert(/^DKIM-Signature: .*a=rsa-sha256/ms.test(message), "an RSA DKIM signature");
      assert(/^DKIM-Signature: .*a=ed25519-sha256/ms.test(message), "an Ed25519 DKIM signature");
      // Postfix's own trace field records the TLS session (RFC 3848: ESMTPS).
      assert(
        /^Received: from mail\.postern\.test[\s\S]*?with ESMTPS/m.test(message),
        message.slice(0, 800),
      );

      // Independent verifiers of both signatures, as Postfix stored the message: dkimpy, and
      // libopendkim's opendkim-testmsg, each against the keys our test DNS publishes.
      const dir = await Deno.makeTempDir({ prefix: "postern-dkim-" });
      const zone = Object.fromEntries(
        Object.entries(world.dns.zone).filter(([name]) => name.includes("._domainkey.")),
      );
      await Deno.writeTextFile(`${dir}/zone.json`, JSON.stringify(zone));
      await Deno.writeTextFile(`${dir}/msg.eml`, message.replace(/\r?\n/g, "\r\n"));
      const out = await new Deno.Command("/usr/bin/python3", {
        args: [DKIM_CHECK, "verify", `${dir}/msg.eml`, "--zone", `${dir}/zone.json`, "--opendkim"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const report = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      await Deno.remove(dir, { recursive: true });
      assert(/signature 0: pass/.test(report) && /signature 1: pass/.test(report), report);
      assert(/opendkim-testmsg: pass/.test(report), report);
      assertEquals(out.code, 0, report);
    } catch (e) {
      console.error(`postfix log:\n${await postfix.log()}`);
      throw e;
    } finally {
      await world.close();
      await postfix.stop();
    }
  },
});
