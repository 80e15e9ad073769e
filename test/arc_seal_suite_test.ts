/**
 * ARC sealing (issue 21 item 3) over every message of the ValiMail ARC suite
 * (test/data/arc/arc-draft-validation-tests.yml; its signing half is not kept here, and its
 * fixed-signature format is one implementations may differ from, SUITE-README.md): each message
 * goes through what a forwarded copy goes through — our inbound verdict
 * (authenticateInbound), the seal request the gateway derives from it (sealRequest: the
 * ARC-Authentication-Results payload and cv), the bridge's sealer (arcSealHeaders, mailauth) —
 * and the sealed message is then validated by dkimpy, an independent implementation, against the
 * suite's keys plus ours. A new set on a chain we found valid (or absent) must validate as pass
 * at the next hop; on a chain we found failed, the set says cv=fail (dkimpy: fail) or, when the
 * newest seal already says cv=fail, no set is added (RFC 8617 section 5.1 step 2).
 */
import { generateKeyPairSync } from "node:crypto";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { PYTHON } from "./fixtures/auth_spf_suite.ts";
import { startFakeDns, type Zone } from "./fixtures/fake_dns.ts";
import { createResolver } from "../bridge/dns/resolver.ts";
import { authenticateInbound, verdictJson } from "../bridge/smtp/inbound_auth.ts";
import { arcSealHeaders } from "../bridge/smtp_out/arc_seal.ts";
import { sealRequest } from "../src/forwarding/forward.ts";

const SUITE = new URL("./data/arc/arc-draft-validation-tests.yml", import.meta.url);

interface ArcDoc {
  tests?: Record<string, { message: string; cv?: unknown }>;
  "txt-records"?: Record<string, string>;
}

async function runPython(script: string, input: string): Promise<string> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", script, decodeURIComponent(SUITE.pathname)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

const LOAD = `import sys, json, yaml
json.dump([d for d in yaml.safe_load_all(open(sys.argv[1], encoding='utf-8')) if d], sys.stdout)`;

/** dkimpy's arc_verify per case, each with its zone (TXT by name): cv per case. */
const VERIFY = `import sys, json, dkim
out = {}
for case in json.load(sys.stdin):
    zone = {k.lower().rstrip('.'): v for k, v in case['zone'].items()}
    def dnsfunc(name, timeout=5, zone=zone):
        v = zone.get((name.decode() if isinstance(name, bytes) else name).lower().rstrip('.'))
        return v.encode() if v is not None else None
    try:
        cv, _, why = dkim.arc_verify(case['message'].encode(), dnsfunc=dnsfunc)
        out[case['name']] = [cv.decode() if isinstance(cv, bytes) else str(cv), str(why)]
    except Exception as e:
        out[case['name']] = ['error', str(e)]
json.dump(out, sys.stdout)`;

const chunks = (value: string) => value.match(/[\s\S]{1,255}/g) ?? [""];

Deno.test("issue21#3: sealing every ARC suite message: dkimpy validates each new set at the next hop", async () => {
  const docs = JSON.parse(await runPython(LOAD, "")) as ArcDoc[];
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const spki = publicKey.export({ type: "spki", format: "der" }).toString("base64");
  const ours = { "seal._domainkey.forwarder.test": `v=DKIM1; k=rsa; p=${spki}` };
  const keys = {
    domain: "forwarder.test",
    keys: [{ selector: "seal", algorithm: "rsa-sha256" as const, privateKeyPem: pem }],
  };
  const dns = await startFakeDns({});
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 2000, tries: 1 });
  const sealed: { name: string; zone: Record<string, string>; message: string; cv: string }[] = [];
  const refused: Record<string, string> = {};
  let cases = 0;
  try {
    for (const doc of docs) {
      const txt = { ...doc["txt-records"] ?? {}, ...ours };
      const zone: Zone = {};
      for (const [name, value] of Object.entries(txt)) {
        zone[name.replace(/\.$/, "")] = { TXT: [chunks(String(value))] };
      }
      for (const key of Object.keys(dns.zone)) delete dns.zone[key];
      Object.assign(dns.zone, zone);
      for (const [name, t] of Object.entries(doc.tests ?? {})) {
        cases++;
        const text = String(t.message ?? "").replace(/\r\n/g, "\n").replace(/\n/g, "\r\n");
        const message = new TextEncoder().encode(text);
        const verdict = await authenticateInbound(
          { clientIp: "192.0.2.1", helo: "mx.example.org", mailFrom: "", message },
          { resolver, hostname: "mx.forwarder.test" },
        );
        const request = sealRequest(verdictJson(verdict), "mx.forwarder.test")!;
        const outcome = await arcSealHeaders(
          message,
          { domain: "forwarder.test", ...request },
          keys,
        );
        if ("refused" in outcome) {
          refused[name] = `${request.cv}: ${outcome.refused}`;
          continue;
        }
        sealed.push({ name, zone: txt, message: outcome.headers + text, cv: request.cv });
      }
    }
  } finally {
    await dns.close();
  }
  assertEquals(cases, 171, `only ${cases} ARC cases were read`);
  const verdicts = JSON.parse(await runPython(VERIFY, JSON.stringify(sealed))) as Record<
    string,
    [string, string]
  >;
  const wrong: Record<string, string> = {};
  for (const s of sealed) {
    const [raw, why] = verdicts[s.name];
    // dkimpy reports a chain whose newest seal says cv=fail as ended (cv None, "reported
    // failure, the chain is terminated"): that is the fail the next hop must see.
    const cv = raw === "None" && /reported failure/.test(why) ? "fail" : raw;
    const want = s.cv === "fail" ? "fail" : "pass";
    if (cv !== want) wrong[s.name] = `sealed cv=${s.cv}; dkimpy: ${cv} (${why})`;
  }
  const passing = sealed.filter((s) => s.cv !== "fail").length;
  console.log(
    `${cases} ARC cases: ${sealed.length} sealed (${passing} on a valid or no chain), ` +
      `${Object.keys(refused).length} refused: ${JSON.stringify(refused)}`,
  );
  assertEquals(wrong, {}, "every new set validates at the next hop as its cv says");
  // Unsealed only: a chain whose newest seal says cv=fail, or a message without a From field
  // (the suite's empty messages), which no DKIM-style signature can cover (RFC 6376 5.4).
  for (const [name, why] of Object.entries(refused)) {
    assert(
      (why.startsWith("fail: ") && /has cv=fail/.test(why)) || /no From header/.test(why),
      `${name}: ${why}`,
    );
  }
  assertEquals(Object.keys(refused).length, 4, JSON.stringify(refused));
  assert(passing >= 50, `only ${passing} messages sealed on a passing chain`);
});
