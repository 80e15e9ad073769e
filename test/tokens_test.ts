import { SignJWT } from "jose";
import { assertEquals } from "./fixtures/assert.ts";
import { ALICE, createTestGateway, DOMAIN } from "./fixtures/app.ts";
import { TOKEN_AUDIENCE } from "../src/auth/tokens.ts";

async function forge(
  key: Uint8Array,
  claims: Record<string, unknown>,
  opts: { aud?: string; iss?: string; exp?: number } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(String(claims.sub ?? "2"))
    .setAudience(opts.aud ?? TOKEN_AUDIENCE)
    .setIssuer(opts.iss ?? DOMAIN)
    .setIssuedAt(now - 10)
    .setExpirationTime(opts.exp ?? now + 600)
    .sign(key);
}

Deno.test("expired, tampered, wrong-audience, wrong-issuer and foreign-key tokens are refused", async () => {
  const gw = await createTestGateway();
  const login = await (await gw.call("POST", "/v1/auth/login", { body: ALICE })).json();
  const good = login.accessToken as string;
  const [h, p, s] = good.split(".");
  const payload = JSON.parse(atob(p.replaceAll("-", "+").replaceAll("_", "/")));
  const otherSub = btoa(JSON.stringify({ ...payload, sub: "1" })).replaceAll("=", "").replaceAll(
    "+",
    "-",
  ).replaceAll("/", "_");
  const key = gw.deps.jwtKey;
  const sid = payload.sid;
  const cases: Record<string, string> = {
    tampered: `${h}.${otherSub}.${s}`,
    "bad signature": `${h}.${p}.${s.slice(0, -4)}AAAA`,
    expired: await forge(key, { sid, sub: payload.sub }, {
      exp: Math.floor(Date.now() / 1000) - 5,
    }),
    "wrong audience": await forge(key, { sid, sub: payload.sub }, { aud: "someone-else" }),
    "wrong issuer": await forge(key, { sid, sub: payload.sub }, { iss: "evil.example" }),
    "foreign key": await forge(new TextEncoder().encode("another-key-another-key-another-k"), {
      sid,
      sub: payload.sub,
    }),
    "unknown session": await forge(key, { sid: crypto.randomUUID(), sub: payload.sub }),
    "alg none": `${btoa('{"alg":"none"}').replaceAll("=", "")}.${p}.`,
    garbage: "not-a-token",
  };
  for (const [name, token] of Object.entries(cases)) {
    const res = await gw.call("GET", "/v1/auth/me", { token });
    assertEquals(res.status, 401, name);
    assertEquals(res.headers.get("content-type"), "application/problem+json", name);
    await res.body?.cancel();
  }
  const ok = await gw.call("GET", "/v1/auth/me", { token: good });
  assertEquals(ok.status, 200);
  await ok.body?.cancel();
  const none = await gw.call("GET", "/v1/auth/me");
  assertEquals(none.status, 401);
  await none.body?.cancel();
  gw.close();
});

Deno.test("refresh rotates: the new refresh token works once, the old one never again", async () => {
  const gw = await createTestGateway();
  const first = await (await gw.call("POST", "/v1/auth/login", { body: ALICE })).json();
  const second = await gw.call("POST", "/v1/auth/refresh", {
    body: { refreshToken: first.refreshToken },
  });
  assertEquals(second.status, 200);
  const pair = await second.json();
  const again = await gw.call("POST", "/v1/auth/refresh", {
    body: { refreshToken: first.refreshToken },
  });
  assertEquals(again.status, 401);
  await again.body?.cancel();
  const me = await gw.call("GET", "/v1/auth/me", { token: pair.accessToken });
  assertEquals(me.status, 200);
  await me.body?.cancel();
  gw.close();
});

Deno.test("health answers JSON and unknown routes are problem+json 404", async () => {
  const gw = await createTestGateway();
  const health = await gw.call("GET", "/health");
  assertEquals(health.status, 200);
  assertEquals((await health.json()).status, "ok");
  const missing = await gw.call("GET", "/v1/nope");
  assertEquals(missing.status, 404);
  assertEquals((await missing.json()).code, "not_found");
  gw.close();
});
