import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, createTestGateway } from "./fixtures/app.ts";
import { forgetVerifiedSecrets, secretMemory } from "../src/auth/verified_secrets.ts";
import { schema } from "../src/store/store.ts";
import { eq } from "drizzle-orm";

/** A fresh gateway (nothing remembered) and an API key with the bridge scope. */
async function gatewayWithBridgeKey() {
  forgetVerifiedSecrets();
  const gw = await createTestGateway();
  const admin = await gw.login(ADMIN);
  const keyRes = await gw.call("POST", "/v1/api-keys", {
    token: admin,
    body: { name: "bridge", scopes: ["bridge"] },
  });
  return { gw, key: (await keyRes.json()).key as string };
}

/** `/v1/bridge/auth` as the POP3 listener calls it. */
const bridgeAuth = (
  gw: Awaited<ReturnType<typeof createTestGateway>>,
  key: string,
  secret: string,
  session?: boolean,
) =>
  gw.call("POST", "/v1/bridge/auth", {
    token: key,
    body: { username: ALICE.address, secret, protocol: "pop3", clientIp: "192.0.2.9", session },
  });

Deno.test("issue20: a verified secret is remembered per stored hash, for that secret only, until it expires", async () => {
  forgetVerifiedSecrets();
  const now = 1_000_000;
  const hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";
  const right = await secretMemory("right-secret", now);
  assertEquals(right.verified(hash), false);
  right.remember(hash);
  assert((await secretMemory("right-secret", now + 1000)).verified(hash));
  // Another secret, or the same secret against another stored hash (a changed password): no.
  assertEquals((await secretMemory("wrong-secret", now + 1000)).verified(hash), false);
  assertEquals((await secretMemory("right-secret", now)).verified(hash + "x"), false);
  // Fifteen minutes later the argon2id check runs again.
  assertEquals((await secretMemory("right-secret", now + 15 * 60_000)).verified(hash), false);
  forgetVerifiedSecrets();
});

Deno.test("issue20: /v1/bridge/auth after a remembered success still refuses wrong, changed, deleted and 2FA-bound secrets", async () => {
  const { gw, key } = await gatewayWithBridgeKey();
  const auth = async (secret: string) => {
    const res = await bridgeAuth(gw, key, secret);
    await res.body?.cancel();
    return res.status;
  };
  assertEquals(await auth(ALICE.password), 200);
  assertEquals(await auth(ALICE.password), 200); // remembered
  assertEquals(await auth("not-alices-password"), 401);

  // A password change: the old one stops working at once, the new one works.
  const session = await gw.login(ALICE);
  const changed = await gw.call("POST", "/v1/auth/password", {
    token: session,
    body: { currentPassword: ALICE.password, newPassword: "alice-new-password-2" },
  });
  assertEquals(changed.status, 204, await changed.clone().text());
  assertEquals(await auth(ALICE.password), 401);
  assertEquals(await auth("alice-new-password-2"), 200);

  // An app password, remembered, then deleted: refused.
  const session2 = await gw.login({ address: ALICE.address, password: "alice-new-password-2" });
  const created = await gw.call("POST", "/v1/auth/app-passwords", {
    token: session2,
    body: { name: "phone" },
  });
  assertEquals(created.status, 201, await created.clone().text());
  const app = await created.json();
  assertEquals(await auth(app.password), 200);
  assertEquals(await auth(app.password), 200);
  const deleted = await gw.call("DELETE", `/v1/auth/app-passwords/${app.id}`, {
    token: session2,
  });
  await deleted.body?.cancel();
  assert(deleted.ok, `delete: ${deleted.status}`);
  assertEquals(await auth(app.password), 401);

  // 2FA turned on: the account password no longer counts, remembered or not.
  assertEquals(await auth("alice-new-password-2"), 200);
  await gw.deps.store.db.update(schema.accounts).set({ totpEnabled: true })
    .where(eq(schema.accounts.address, ALICE.address));
  assertEquals(await auth("alice-new-password-2"), 401);

  // A disabled account: refused although its password was remembered.
  await gw.deps.store.db.update(schema.accounts).set({ totpEnabled: false, disabled: true })
    .where(eq(schema.accounts.address, ALICE.address));
  assertEquals(await auth("alice-new-password-2"), 401);
  forgetVerifiedSecrets();
});

Deno.test("issue20#1: a bridge login opens its session in the credential check's own write job", async () => {
  const { gw, key } = await gatewayWithBridgeKey();
  const sessions = async () =>
    (await gw.deps.store.db.select().from(schema.sessions)).filter((s) =>
      s.userAgent === "bridge:pop3"
    ).length;
  const login = async (session: boolean) => {
    const before = gw.deps.store.roundTrips;
    const res = await bridgeAuth(gw, key, ALICE.password, session);
    assertEquals(res.status, 200);
    return { trips: gw.deps.store.roundTrips - before, body: await res.json() };
  };
  await login(false); // the argon2id run, remembered from now on
  // The fewest of a few logins: the throttle now and then prunes its table in a write of its own.
  const fewest = async (session: boolean) => {
    const runs = [];
    for (let i = 0; i < 4; i++) runs.push(await login(session));
    return { trips: Math.min(...runs.map((r) => r.trips)), body: runs[0].body };
  };
  const bare = await fewest(false);
  const withSession = await fewest(true);
  // The session row costs no round trip (and no durable write) of its own: it goes in the job
  // that gives the throttle's charge back.
  assertEquals(withSession.trips, bare.trips);
  assertEquals(await sessions(), 4);
  const body = withSession.body;
  // The session is real: its token reads the account's maildrop.
  const drop = await gw.call("GET", "/v1/mail-access/maildrop", { token: body.accessToken });
  assertEquals(drop.status, 200);
  await drop.body?.cancel();
  // A wrong secret opens no session.
  const wrong = await bridgeAuth(gw, key, "not-it-at-all");
  assertEquals(wrong.status, 401);
  await wrong.body?.cancel();
  assertEquals(await sessions(), 4);
  forgetVerifiedSecrets();
});
