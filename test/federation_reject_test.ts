/**
 * The receiving side's checks over real HTTPS between two loopback gateways: each forged or
 * broken delivery is refused with its documented code (docs/federation.md, "Errors") and stores
 * nothing; a replayed request is refused the second time; proof-of-work is demanded from an
 * unknown sender and minted by a real sender.
 */
import { eq } from "drizzle-orm";
import { calculateJwkThumbprint, CompactSign, exportJWK, generateKeyPair, importJWK } from "jose";
import { ENVELOPE_TYP, type EnvelopeClaims } from "../schemas/federation.ts";
import { toBase64Url } from "../src/crypto.ts";
import { checkPow, contentDigest, signClaims } from "../src/federation/envelope.ts";
import {
  publishedJwks,
  rotateFederationKey,
  type SigningKey,
  signingKey,
} from "../src/federation/keys.ts";
import { runFederationOnce } from "../src/federation/worker.ts";
import { forgetPeer, JWKS_REFRESH_COOLDOWN_MS } from "../src/federation/discovery.ts";
import { schema } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { type Peer, startFederation } from "./fixtures/federation.ts";

const CRLF = "\r\n";

function message(from: string, to: string, id: string): Uint8Array {
  return new TextEncoder().encode([
    `From: ${from}`,
    `To: ${to}`,
    "Subject: forged?",
    `Message-ID: <${id}>`,
    "Date: Sun, 29 Nov 2026 04:00:00 +0000",
    "",
    "hello",
    "",
  ].join(CRLF));
}

interface Draft {
  claims: EnvelopeClaims;
  raw: Uint8Array;
  key: SigningKey;
  proofOfWork?: { counter: string };
}

/** A correct delivery from alice@<from> to bob@<to>, for a test to break one thing in. */
async function draft(from: Peer, to: Peer, id = crypto.randomUUID()): Promise<Draft> {
  const raw = message(`alice@${from.domain}`, `bob@${to.domain}`, `${id}@${from.domain}`);
  const now = Math.floor(Date.now() / 1000);
  return {
    raw,
    key: (await signingKey(from.deps, from.domain))!,
    claims: {
      iss: from.domain,
      aud: to.domain,
      from: `alice@${from.domain}`,
      recipients: [`bob@${to.domain}`],
      messageId: (await from.deps.mime.parse(raw)).messageId ?? "",
      digest: await contentDigest(raw),
      iat: now,
      exp: now + 600,
      nonce: toBase64Url(crypto.getRandomValues(new Uint8Array(16))),
    },
  };
}

async function post(from: Peer, to: Peer, d: Draft, envelope?: string) {
  let bin = "";
  for (const b of d.raw) bin += String.fromCharCode(b);
  const res = await from.deps.federation!.fetch(
    new Request(`https://127.0.0.1:${to.port}/v1/federation/deliver`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        envelope: envelope ?? await signClaims(d.claims, ENVELOPE_TYP, d.key),
        content: btoa(bin),
        ...(d.proofOfWork ? { proofOfWork: d.proofOfWork } : {}),
      }),
    }),
    { allowPrivate: true, httpsOnly: true },
  );
  return { status: res.status, body: await res.json() };
}

async function bobCount(peer: Peer): Promise<number> {
  const [bob] = await peer.deps.store.db.select().from(schema.accounts)
    .where(eq(schema.accounts.address, `bob@${peer.domain}`));
  return (await peer.deps.store.db.select().from(schema.messages)
    .where(eq(schema.messages.accountId, bob.id))).length;
}

async function freshKey(kid?: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair("Ed25519");
  const key = privateKey as unknown as CryptoKey;
  return { kid: kid ?? await calculateJwkThumbprint(await exportJWK(publicKey)), key };
}

Deno.test("federation: forged and broken deliveries are refused with their codes", async () => {
  const fed = await startFederation(["alpha.test", "beta.test", "gamma.test"]);
  try {
    const [alpha, beta] = fed.peers;
    const ok = await post(alpha, beta, await draft(alpha, beta));
    assertEquals(ok.status, 200, JSON.stringify(ok.body));
    assertEquals(ok.body.results, [{ recipient: "bob@beta.test", status: "accepted" }]);

    const cases: [string, number, string, (d: Draft) => Promise<string | void> | void][] = [
      ["tampered content", 422, "digest_mismatch", (d) => {
        d.raw = new TextEncoder().encode(new TextDecoder().decode(d.raw).replace("hello", "HELLO"));
      }],
      ["wrong key under the right kid", 401, "bad_signature", async (d) => {
        d.key = await freshKey(d.key.kid);
      }],
      ["unknown key id", 401, "unknown_key", async (d) => {
        d.key = await freshKey();
      }],
      ["expired envelope", 401, "stale_envelope", (d) => {
        d.claims.iat -= 7200;
        d.claims.exp = d.claims.iat + 600;
      }],
      ["misaligned From header", 403, "misaligned_from", (d) => {
        d.raw = message("mallory@gamma.test", "bob@beta.test", "m1@gamma.test");
        return contentDigest(d.raw).then((digest) => {
          d.claims.digest = digest;
          d.claims.messageId = "<m1@gamma.test>";
        });
      }],
      ["envelope sender outside the signing domain", 403, "misaligned_from", (d) => {
        d.claims.from = "alice@gamma.test";
      }],
      ["recipient outside the audience", 421, "wrong_audience", (d) => {
        d.claims.recipients = ["bob@gamma.test"];
      }],
      ["not canonical JSON", 401, "bad_signature", async (d) => {
        const header = { alg: "EdDSA", kid: d.key.kid, typ: ENVELOPE_TYP };
        const enc = (o: unknown) =>
          toBase64Url(new TextEncoder().encode(JSON.stringify(o, null, 1)));
        const input = `${enc(header)}.${enc(d.claims)}`;
        const sig = await crypto.subtle.sign("Ed25519", d.key.key, new TextEncoder().encode(input));
        return `${input}.${toBase64Url(new Uint8Array(sig))}`;
      }],
      ["a signature one bit off", 401, "bad_signature", async (d) => {
        const jws = await signClaims(d.claims, ENVELOPE_TYP, d.key);
        const last = jws.at(-2) === "A" ? "B" : "A";
        return `${jws.slice(0, -2)}${last}${jws.at(-1)}`;
      }],
      ["a critical header extension", 400, "bad_envelope", async (d) => {
        const header = { alg: "EdDSA", kid: d.key.kid, typ: ENVELOPE_TYP, crit: ["x"], x: 1 };
        const enc = (o: unknown) => toBase64Url(new TextEncoder().encode(JSON.stringify(o)));
        const input = `${enc(header)}.${enc(d.claims)}`;
        const sig = await crypto.subtle.sign("Ed25519", d.key.key, new TextEncoder().encode(input));
        return `${input}.${toBase64Url(new Uint8Array(sig))}`;
      }],
    ];
    for (const [name, status, code, breakIt] of cases) {
      const d = await draft(alpha, beta);
      const envelope = await breakIt(d);
      const res = await post(alpha, beta, d, envelope || undefined);
      assertEquals({ name, status: res.status, code: res.body.code }, { name, status, code });
    }

    // An envelope from another JWS implementation (jose) over the same canonical bytes verifies.
    const other = await draft(alpha, beta);
    const canonical = new TextEncoder().encode(
      JSON.stringify(
        Object.fromEntries(Object.entries(other.claims).sort(([a], [b]) => a < b ? -1 : 1)),
      ),
    );
    const byJose = await new CompactSign(canonical)
      .setProtectedHeader({ typ: ENVELOPE_TYP, alg: "EdDSA", kid: other.key.kid })
      .sign(other.key.key);
    const accepted = await post(alpha, beta, other, byJose);
    assertEquals(accepted.status, 200, JSON.stringify(accepted.body));

    const replayed = await draft(alpha, beta);
    const envelope = await signClaims(replayed.claims, ENVELOPE_TYP, replayed.key);
    assertEquals((await post(alpha, beta, replayed, envelope)).status, 200);
    const again = await post(alpha, beta, replayed, envelope);
    assertEquals({ status: again.status, code: again.body.code }, {
      status: 409,
      code: "replayed_nonce",
    });
    // Only the three good deliveries were stored.
    assertEquals(await bobCount(beta), 3);
  } finally {
    await fed.close();
  }
});

Deno.test("federation: proof-of-work from unknown senders, minted by a real sender", async () => {
  const fed = await startFederation(
    ["alpha.test", "beta.test"],
    (domain) => domain === "beta.test" ? { federationPowBits: 8 } : {},
  );
  try {
    const [alpha, beta] = fed.peers;
    const missing = await post(alpha, beta, await draft(alpha, beta));
    assertEquals([missing.status, missing.body.code], [402, "pow_required"]);
    const bad = await draft(alpha, beta);
    let counter = 0;
    while (
      await checkPow(8, bad.claims.aud, bad.claims.digest, bad.claims.nonce, String(counter))
    ) {
      counter++;
    }
    bad.proofOfWork = { counter: String(counter) };
    const refused = await post(alpha, beta, bad);
    assertEquals([refused.status, refused.body.code], [402, "bad_pow"]);
    assertEquals(await bobCount(beta), 0);

    const sent = await alpha.call("POST", "/v1/emails", {
      as: "alice",
      body: { from: "alice@alpha.test", to: ["bob@beta.test"], subject: "stamped", text: "x" },
    });
    assertEquals(sent.status, 201);
    assertEquals((await runFederationOnce(alpha.deps, "w")).sent, 1);
    const [bob] = await beta.deps.store.db.select().from(schema.accounts)
      .where(eq(schema.accounts.address, "bob@beta.test"));
    const [stored] = await beta.deps.store.db.select().from(schema.messages)
      .where(eq(schema.messages.accountId, bob.id));
    assertEquals(JSON.parse(stored.parsed).authentication.federation.proofOfWork, 8);
    // Now known: the next delivery needs no stamp.
    const known = await post(alpha, beta, await draft(alpha, beta));
    assert(known.status === 200, JSON.stringify(known.body));
  } finally {
    await fed.close();
  }
});

Deno.test("federation: key rotation without a failed delivery; expired keys vanish", async () => {
  const fed = await startFederation(["alpha.test", "beta.test"]);
  try {
    const [alpha, beta] = fed.peers;
    const mail = async (subject: string) => {
      const res = await alpha.call("POST", "/v1/emails", {
        as: "alice",
        body: { from: "alice@alpha.test", to: ["bob@beta.test"], subject, text: "x" },
      });
      assertEquals(res.status, 201);
      return await runFederationOnce(alpha.deps, "w");
    };
    const once = { claimed: 1, sent: 1, deferred: 0, failed: 0 };
    // Both clocks move on between steps, past the JWKS refresh cooldown.
    let offset = 0;
    for (const p of fed.peers) p.deps.clock = { now: () => Date.now() + offset };
    const later = () => offset += JWKS_REFRESH_COOLDOWN_MS + 1;
    assertEquals(await mail("before"), once);
    const oldKid = (await signingKey(alpha.deps, "alpha.test"))!.kid;
    // Beta has alpha's JWKS cached; alpha's new key makes beta fetch it again (unknown kid).
    later();
    const rotated = (await rotateFederationKey(alpha.deps, "alpha.test"))!;
    assert(rotated.kid !== oldKid);
    assertEquals(rotated.retired.map((r) => r.kid), [oldKid]);
    const kids = (await publishedJwks(alpha.deps, "alpha.test")).keys.map((k) => k.kid);
    assertEquals(kids, [rotated.kid, oldKid]);
    assertEquals(await mail("after sender rotation"), once);
    // The receiver's rotation: its receipts are signed by a key alpha has not seen yet.
    later();
    await rotateFederationKey(beta.deps, "beta.test");
    assertEquals(await mail("after receiver rotation"), once);
    // An envelope signed moments before the rotation still verifies during the overlap.
    const inFlight = await draft(alpha, beta);
    inFlight.key = { kid: oldKid, key: await oldKey(alpha, oldKid) };
    assertEquals((await post(alpha, beta, inFlight)).status, 200);

    // Without overlap the retired key leaves the JWKS at once, and with it its signatures.
    const current = (await signingKey(alpha.deps, "alpha.test"))!;
    await rotateFederationKey(alpha.deps, "alpha.test", 0);
    const after = (await publishedJwks(alpha.deps, "alpha.test")).keys.map((k) => k.kid);
    assert(!after.includes(current.kid), "the expired key is no longer published");
    // Receivers honour a cached JWKS until its ttl; once beta's cache lapses the key is gone.
    forgetPeer(beta.deps, "alpha.test");
    const stale = await draft(alpha, beta);
    stale.key = current;
    const refused = await post(alpha, beta, stale);
    assertEquals([refused.status, refused.body.code], [401, "unknown_key"]);
    assertEquals(await bobCount(beta), 4);
  } finally {
    await fed.close();
  }
});

/** A retired key's private half, opened from the store. */
async function oldKey(peer: Peer, kid: string): Promise<CryptoKey> {
  const [row] = await peer.deps.store.db.select().from(schema.federationKeys)
    .where(eq(schema.federationKeys.kid, kid));
  return await importJWK(
    JSON.parse(await peer.deps.secrets.open(row.privateJwk)),
    "EdDSA",
  ) as CryptoKey;
}

Deno.test("federation: each sender domain is rate-limited per minute", async () => {
  const fed = await startFederation(
    ["alpha.test", "beta.test", "gamma.test"],
    (domain) => domain === "beta.test" ? { federationRatePerMinute: 2 } : {},
  );
  try {
    const [alpha, beta, gamma] = fed.peers;
    assertEquals((await post(alpha, beta, await draft(alpha, beta))).status, 200);
    assertEquals((await post(alpha, beta, await draft(alpha, beta))).status, 200);
    const third = await post(alpha, beta, await draft(alpha, beta));
    assertEquals([third.status, third.body.code], [429, "rate_limited"]);
    // Another sender domain has its own budget.
    assertEquals((await post(gamma, beta, await draft(gamma, beta))).status, 200);
    assertEquals(await bobCount(beta), 3);
  } finally {
    await fed.close();
  }
});
