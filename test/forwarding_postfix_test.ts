/**
 * Forwarding that survives SPF, end to end against a real Postfix that checks SPF
 * (postfix-policyd-spf-python, rejecting on Fail), all on loopback with one fake DNS that
 * Postern's resolver and Postfix's policy daemon both ask (Postfix runs in a private mount
 * namespace whose /etc/resolv.conf names it):
 *
 *   legacy.test publishes `v=spf1 ip4:127.0.0.2 -all` (and DMARC p=reject); alice@legacy.test
 *   sends from 127.0.0.2 to fwd@postern.test, an alias of Postern's for bob@legacy.test and
 *   ghost@legacy.test (unknown at Postfix, which accepts and then bounces). Postern forwards
 *   from 127.0.0.1, which legacy.test's SPF does not allow.
 *
 * Shown: Postfix refuses the original sender from 127.0.0.1 (what forwarding without SRS sends);
 * Postern's copy has an SRS0 sender in postern.test (SPF: ip4:127.0.0.1), passes Postfix's check
 * and lands in Bob's maildir with Received-SPF: Pass; the ARC seal on the copy Bob received
 * verifies with dkimpy (an independent implementation) against the same zone; Postfix's bounce
 * for ghost goes to the SRS address, Postern's MX takes it, reverses it, and Alice at legacy.test
 * receives it with a null sender.
 */
import { createResolver } from "../bridge/dns/resolver.ts";
import { createMailauthThread } from "../hosts/process/mailauth_thread.ts";
import { ensureDkimKeys } from "../src/services/dkim_keys.ts";
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import { ADMIN, DOMAIN } from "./fixtures/app.ts";
import { python } from "./fixtures/bridge.ts";
import { HOSTNAME, startOutboundWorld, startWorldMx } from "./fixtures/outbound.ts";
import { assertPeers, peerTest, startPostfix } from "./fixtures/postfix.ts";

const peers = peerTest(["postfix", "python3", "dkimverify"]);
/** The fake DNS listens on port 53 of an address of its own (resolv.conf names no port). */
const DNS_HOST = "127.21.3.53";
const POLICYD = "/usr/bin/policyd-spf";

async function startZoneDns(zone: Record<string, Record<string, string[]>>, dir: string) {
  const file = `${dir}/zone.json`;
  await Deno.writeTextFile(file, JSON.stringify(zone));
  const child = new Deno.Command("/usr/bin/python3", {
    args: [
      new URL("./peers/fake-dns.py", import.meta.url).pathname,
      "--zone",
      file,
      "--host",
      DNS_HOST,
      "--port",
      "53",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  for (let seen = ""; !seen.includes("fake dns on");) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the fake DNS did not start");
    seen += value;
  }
  // Keep draining so the child never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done);
  })().catch(() => {});
  return {
    file,
    async stop() {
      child.kill();
      await child.status;
    },
  };
}

const ARC_VERIFY = `
import sys, json, re, dkim
zone = {k.lower().rstrip('.') + '.': v for k, v in json.load(open(sys.argv[1])).items()}
def dnsfunc(name, timeout=5):
    n = (name.decode() if isinstance(name, bytes) else name).lower().rstrip('.') + '.'
    txt = zone.get(n, {}).get('TXT', [])
    return txt[0].encode() if txt else None
msg = re.sub(rb'(?<!\\r)\\n', b'\\r\\n', open(sys.argv[2], 'rb').read())
cv, results, comment = dkim.arc_verify(msg, dnsfunc=dnsfunc)
print(json.dumps({'cv': cv.decode() if isinstance(cv, bytes) else str(cv), 'comment': str(comment)}))
`;

const SEND = `
import smtplib, sys, json
port, src, helo, sender, rcpt = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
msg = sys.stdin.read() if False else sys.argv[6]
s = smtplib.SMTP('127.0.0.1', int(port), local_hostname=helo, source_address=(src, 0))
try:
    refused = s.sendmail(sender, rcpt.split(','), msg.encode())
    print(json.dumps({'ok': True, 'refused': {k: [v[0], v[1].decode()] for k, v in refused.items()}}))
except smtplib.SMTPRecipientsRefused as e:
    print(json.dumps({'ok': False, 'refused': {k: [v[0], v[1].decode()] for k, v in e.recipients.items()}}))
s.quit()
`;

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  log: () => Promise<string>,
) {
  for (let i = 0; i < 300; i++) {
    const found = await probe();
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}\n${await log()}`);
}

Deno.test({
  name:
    "issue21#3: a forwarded message passes Postfix's SPF check by SRS, its ARC seal verifies, and the bounce reaches the original sender",
  ignore: peers.ignore,
  fn: async () => {
    assertPeers(peers.missing);
    assert((await Deno.stat(POLICYD).catch(() => undefined)) !== undefined, "policyd-spf missing");
    const dir = await Deno.makeTempDir({ prefix: "postern-fwd-" });
    await Deno.chmod(dir, 0o755);
    const world = await startOutboundWorld();
    const keys = await ensureDkimKeys(
      world.gw.deps.store,
      world.gw.deps.secrets,
      DOMAIN,
      Date.now(),
    );
    const zone: Record<string, Record<string, string[]>> = {
      "legacy.test": { MX: ["10 mx.legacy.test."], TXT: ["v=spf1 ip4:127.0.0.2 -all"] },
      "_dmarc.legacy.test": { TXT: ["v=DMARC1; p=reject"] },
      // Legacy's MX sends its bounces from 127.0.0.1 under its HELO name.
      "mx.legacy.test": { A: ["127.0.0.1"], TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
      [DOMAIN]: { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
    };
    for (const k of keys!.keys) {
      const type = k.algorithm === "rsa-sha256" ? "rsa" : "ed25519";
      zone[`${k.selector}._domainkey.${DOMAIN}`] = {
        TXT: [`v=DKIM1; k=${type}; p=${k.publicKey}`],
      };
    }
    const dns = await startZoneDns(zone, dir);
    const resolver = createResolver({ servers: [`${DNS_HOST}:53`], timeoutMs: 2000, tries: 2 });
    const thread = createMailauthThread(resolver);
    await Deno.writeTextFile(`${dir}/resolv.conf`, `nameserver ${DNS_HOST}\n`);
    // Reject on SPF Fail (TestOnly = 1 is the rejecting mode) and check loopback clients too.
    await Deno.writeTextFile(
      `${dir}/policyd-spf.conf`,
      "debugLevel = 1\nTestOnly = 1\nHELO_reject = Fail\nMail_From_reject = Fail\n" +
        "PermError_reject = False\nTempError_Defer = False\nskip_addresses = 192.0.2.255/32\n",
    );
    const mx = await startWorldMx(world, resolver);
    const postfix = await startPostfix({
      edgePort: mx.port,
      relayDomains: [DOMAIN],
      relayTls: "none",
      legacyUsers: ["alice", "bob"],
      resolvConf: `${dir}/resolv.conf`,
      extraMainCf: "smtpd_reject_unlisted_recipient = no\n" +
        "smtpd_recipient_restrictions = reject_unauth_destination, " +
        "check_policy_service unix:private/policyd-spf\npolicyd-spf_time_limit = 3600\n",
      extraMasterCf: `policyd-spf unix - n n - 0 spawn user=policyd-spf argv=${POLICYD} ` +
        `${dir}/policyd-spf.conf\n`,
    });
    const worker = world.worker({
      port: postfix.port,
      resolver,
      arcSeal: (...args) => thread.arcSeal(...args),
    });
    const log = async () => `postfix log:\n${await postfix.log()}`;
    try {
      const admin = await world.gw.login(ADMIN);
      const alias = await world.gw.call("POST", "/v1/admin/aliases", {
        token: admin,
        body: { address: `fwd@${DOMAIN}`, targets: ["bob@legacy.test", "ghost@legacy.test"] },
      });
      assertEquals(alias.status, 201, await alias.clone().text());
      const message = "From: Alice <alice@legacy.test>\r\nTo: fwd@postern.test\r\n" +
        "Subject: via the forwarder\r\nMessage-ID: <fwd-e2e@legacy.test>\r\n" +
        "Date: Mon, 07 Dec 2026 12:00:00 +0000\r\n\r\nForward me, please.\r\n";

      // What a forwarder without SRS would send: the original sender from 127.0.0.1 is refused.
      const naive = JSON.parse(
        await python(SEND, [
          String(postfix.port),
          "127.0.0.1",
          HOSTNAME,
          "alice@legacy.test",
          "bob@legacy.test",
          message,
        ], "/usr/bin/python3"),
      );
      assertEquals(naive.ok, false, JSON.stringify(naive));
      const [code, text] = naive.refused["bob@legacy.test"];
      assertEquals(code, 550, text);
      assertMatch(text, /SPF/);

      // The original, from the IP legacy.test's SPF allows, to Postern's alias.
      const sent = JSON.parse(
        await python(SEND, [
          String(mx.port),
          "127.0.0.2",
          "out.legacy.test",
          "alice@legacy.test",
          `fwd@${DOMAIN}`,
          message,
        ], "/usr/bin/python3"),
      );
      assertEquals(sent, { ok: true, refused: {} });
      const rows = await world.rows();
      assertEquals(rows.map((r) => r.rcptTo).sort(), ["bob@legacy.test", "ghost@legacy.test"]);
      assertMatch(
        rows[0].mailFrom,
        /^SRS0=[A-Z2-7]{6}=[A-Z2-7]{2}=legacy\.test=alice@postern\.test$/,
      );

      assertEquals(await worker.runOnce(), 2);
      const states = await world.rows();
      assertEquals(states.map((r) => r.state), ["sent", "sent"], JSON.stringify(states));
      const [copy] = await waitFor("Bob's copy", async () => {
        const got = await postfix.maildir("bob");
        return got.length ? got : undefined;
      }, log);
      assertMatch(
        copy,
        /^Received-SPF: Pass \(mailfrom\) identity=mailfrom;[^]*envelope-from="?SRS0=/im,
      );
      assertMatch(copy, /^ARC-Seal: i=1; a=rsa-sha256;[^]*cv=none/m);
      assertMatch(copy, /^ARC-Authentication-Results: i=1; mail\.postern\.test;[^]*spf=pass/m);
      assertMatch(copy, /dkim=none;\r?\n dmarc=pass header\.from=legacy\.test/);
      await Deno.writeTextFile(`${dir}/copy.eml`, copy);
      const arc = JSON.parse(
        await python(ARC_VERIFY, [dns.file, `${dir}/copy.eml`], "/usr/bin/python3"),
      );
      assertEquals(arc.cv, "pass", arc.comment);

      // Postfix bounces ghost to the SRS address; Postern's MX takes it and queues it onwards.
      const back = await waitFor("the bounce at Postern", async () => {
        const all = await world.rows();
        return all.find((r) => r.rcptTo === "alice@legacy.test");
      }, log);
      assertEquals(back.mailFrom, "", "a bounce keeps its null sender");
      assertEquals(await worker.runOnce(), 1);
      const [bounce] = await waitFor("the bounce in Alice's maildir", async () => {
        const got = await postfix.maildir("alice");
        return got.length ? got : undefined;
      }, log);
      assertMatch(bounce, /^Return-Path: <>/m);
      assertMatch(bounce, /ghost@legacy\.test/);
      assertMatch(bounce, /Subject: via the forwarder/);
    } catch (e) {
      console.error(await log());
      throw e;
    } finally {
      await postfix.stop();
      await mx.close();
      thread.close();
      await world.close();
      await dns.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
