import { assert, assertEquals } from "./fixtures/assert.ts";
import { eq } from "drizzle-orm";
import { ALICE, createTestGateway } from "./fixtures/app.ts";
import { schema } from "../src/store/store.ts";
import { hashPasswordPbkdf2, verifyPassword } from "../src/auth/password.ts";

Deno.test("login returns tokens that open /v1/auth/me; logout ends them", async () => {
  const gw = await createTestGateway();
  const res = await gw.call("POST", "/v1/auth/login", { body: ALICE });
  assertEquals(res.status, 200);
  const tokens = await res.json();
  assert(tokens.accessToken && tokens.refreshToken);
  const me = await gw.call("GET", "/v1/auth/me", { token: tokens.accessToken });
  assertEquals(me.status, 200);
  assertEquals((await me.json()).address, ALICE.address);
  assertEquals(
    (await gw.call("POST", "/v1/auth/logout", { token: tokens.accessToken })).status,
    204,
  );
  const after = await gw.call("GET", "/v1/auth/me", { token: tokens.accessToken });
  assertEquals(after.status, 401);
  assertEquals((await after.json()).code, "token_invalid");
  gw.close();
});

Deno.test("a wrong password is 401 problem+json", async () => {
  const gw = await createTestGateway();
  const res = await gw.call("POST", "/v1/auth/login", {
    body: { ...ALICE, password: "nope-nope-nope" },
  });
  assertEquals(res.status, 401);
  assertEquals(res.headers.get("content-type"), "application/problem+json");
  assertEquals((await res.json()).code, "invalid_credentials");
  gw.close();
});

Deno.test("issue17#2: a PBKDF2 password hash becomes argon2id at the next sign-in (Deno)", async () => {
  const gw = await createTestGateway();
  const stored = async () =>
    (await gw.deps.store.db.select({ hash: schema.accounts.passwordHash }).from(schema.accounts)
      .where(eq(schema.accounts.address, ALICE.address)))[0].hash;
  const pbkdf2 = await hashPasswordPbkdf2(ALICE.password);
  await gw.deps.store.db.update(schema.accounts).set({ passwordHash: pbkdf2 })
    .where(eq(schema.accounts.address, ALICE.address));
  // A wrong password changes nothing.
  const wrong = await gw.call("POST", "/v1/auth/login", {
    body: { ...ALICE, password: "nope-nope-nope" },
  });
  assertEquals(wrong.status, 401);
  await wrong.body?.cancel();
  assertEquals(await stored(), pbkdf2);
  const ok = await gw.call("POST", "/v1/auth/login", { body: ALICE });
  assertEquals(ok.status, 200);
  await ok.body?.cancel();
  const upgraded = await stored();
  assert(upgraded.startsWith("$argon2id$v=19$m=19456,t=2,p=1$"), upgraded);
  assert(await verifyPassword(ALICE.password, upgraded));
  const again = await gw.call("POST", "/v1/auth/login", { body: ALICE });
  assertEquals(again.status, 200);
  await again.body?.cancel();
  assertEquals(await stored(), upgraded, "an argon2id hash at today's parameters stays");
  gw.close();
});
