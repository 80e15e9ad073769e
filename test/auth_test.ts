import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, createTestGateway } from "./fixtures/app.ts";

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
