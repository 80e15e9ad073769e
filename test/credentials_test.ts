/**
 * A user's own credentials over HTTP: TOTP 2FA with recovery codes, app passwords (and the
 * bridge's `verifyAccountSecret`), API keys, password change and login throttling.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "./fixtures/assert.ts";
import {
  ADMIN,
  ALICE,
  BOB,
  createTestGateway,
  DOMAIN,
  expectProblem as problem,
  type TestGateway,
} from "./fixtures/app.ts";
import { currentTotp } from "../src/auth/totp.ts";
import { verifyAccountSecret } from "../src/auth/app_passwords.ts";
import { AppError } from "../src/errors.ts";
import { createDomain, findAccountByAddress, updateAccount } from "../src/services/accounts.ts";

async function harness() {
  const gw = await createTestGateway();
  const harnessed = { gw, call: gw.call, login: gw.login };
  return harnessed;
}

async function auditActions(gw: TestGateway): Promise<{ action: string; data: string }[]> {
  const rows = await gw.deps.store.client.execute("SELECT action, data FROM audit_log ORDER BY id");
  return rows.rows.map((r) => ({ action: String(r.action), data: String(r.data) }));
}

// --- TOTP ---

Deno.test("2FA: setup, enable, login with TOTP and a single-use recovery code, regenerate, disable", async () => {
  const { gw, call, login } = await harness();
  const token = await login(ALICE);

  // Enabling before setup is a conflict.
  await problem(
    await call("POST", "/v1/auth/2fa/enable", { token, body: { code: "123456" } }),
    409,
    "conflict",
  );

  const setup = await call("POST", "/v1/auth/2fa/setup", { token });
  assertEquals(setup.status, 200);
  const { secret, otpauthUrl } = await setup.json();
  assertMatch(secret, /^[A-Z2-7]{32}$/);
  assertMatch(otpauthUrl, /^otpauth:\/\/totp\/Postern:alice%40postern\.test\?.*secret=/);
  // Stored sealed, and 2FA is still off: a password alone still signs in.
  const stored = await gw.deps.store.client.execute(
    "SELECT totp_secret, totp_enabled FROM accounts WHERE address = 'alice@postern.test'",
  );
  assert(!String(stored.rows[0].totp_secret).includes(secret));
  assertEquals(Number(stored.rows[0].totp_enabled), 0);
  await login(ALICE);

  await problem(
    await call("POST", "/v1/auth/2fa/enable", { token, body: { code: "000000" } }),
    403,
    "invalid_totp",
  );
  await problem(
    await call("POST", "/v1/auth/2fa/enable", { token, body: {} }),
    422,
    "validation_failed",
  );
  const enable = await call("POST", "/v1/auth/2fa/enable", {
    token,
    body: { code: currentTotp(secret, Date.now()) },
  });
  assertEquals(enable.status, 200);
  const { recoveryCodes } = await enable.json();
  assertEquals(recoveryCodes.length, 10);
  assertEquals(new Set(recoveryCodes).size, 10);
  await problem(await call("POST", "/v1/auth/2fa/setup", { token }), 409, "conflict");

  const me = await call("GET", "/v1/auth/me", { token });
  assertEquals((await me.json()).totpEnabled, true);

  // Login now needs the second factor.
  await problem(await call("POST", "/v1/auth/login", { body: ALICE }), 401, "totp_required");
  await problem(
    await call("POST", "/v1/auth/login", { body: { ...ALICE, totp: "000000" } }),
    401,
    "invalid_totp",
  );
  await login({ ...ALICE, totp: currentTotp(secret, Date.now()) });
  // A recovery code works once.
  await login({ ...ALICE, recoveryCode: recoveryCodes[0].toUpperCase() });
  await problem(
    await call("POST", "/v1/auth/login", { body: { ...ALICE, recoveryCode: recoveryCodes[0] } }),
    401,
    "invalid_totp",
  );

  // Regenerating needs the password and retires the old codes.
  await problem(
    await call("POST", "/v1/auth/2fa/recovery-codes", {
      token,
      body: { password: "wrong-password" },
    }),
    403,
    "invalid_credentials",
  );
  const regen = await call("POST", "/v1/auth/2fa/recovery-codes", {
    token,
    body: { password: ALICE.password },
  });
  assertEquals(regen.status, 200);
  const fresh = (await regen.json()).recoveryCodes as string[];
  assertEquals(fresh.length, 10);
  assert(!fresh.includes(recoveryCodes[1]));
  await problem(
    await call("POST", "/v1/auth/login", { body: { ...ALICE, recoveryCode: recoveryCodes[1] } }),
    401,
    "invalid_totp",
  );

  // Wrong guesses count towards the login throttle; a successful sign-in clears the count.
  await login({ ...ALICE, totp: currentTotp(secret, Date.now()) });

  // Disabling needs the password and a code (TOTP or recovery).
  await problem(
    await call("POST", "/v1/auth/2fa/disable", {
      token,
      body: { password: ALICE.password, code: "000000" },
    }),
    403,
    "invalid_totp",
  );
  await problem(
    await call("POST", "/v1/auth/2fa/disable", {
      token,
      body: { password: "wrong-password", code: currentTotp(secret, Date.now()) },
    }),
    403,
    "invalid_credentials",
  );
  const disable = await call("POST", "/v1/auth/2fa/disable", {
    token,
    body: { password: ALICE.password, code: fresh[0] },
  });
  assertEquals(disable.status, 204);
  await login(ALICE);
  await problem(
    await call("POST", "/v1/auth/2fa/disable", {
      token,
      body: { password: ALICE.password, code: "123456" },
    }),
    409,
    "conflict",
  );

  const actions = await auditActions(gw);
  assertEquals(
    actions.map((a) => a.action),
    ["2fa.setup", "2fa.enable", "2fa.recovery_codes", "2fa.disable"],
  );
  const all = JSON.stringify(actions);
  assert(!all.includes(secret) && !all.includes(fresh[1]) && !all.includes(ALICE.password));
  gw.close();
});

Deno.test("2FA routes need a session: an API key is 403, no token is 401", async () => {
  const { gw, call, login } = await harness();
  const token = await login(ALICE);
  const created = await call("POST", "/v1/api-keys", {
    token,
    body: { name: "ci", scopes: ["read", "send"] },
  });
  const { key } = await created.json();
  await problem(await call("POST", "/v1/auth/2fa/setup", { token: key }), 403, "forbidden");
  await problem(await call("POST", "/v1/auth/2fa/setup", {}), 401, "unauthorized");
  await problem(
    await call("POST", "/v1/auth/password", {
      token: key,
      body: { currentPassword: ALICE.password, newPassword: "another-password-2" },
    }),
    403,
    "forbidden",
  );
  gw.close();
});

// --- App passwords ---

Deno.test("app passwords: shown once, listed without secret, deleted; only own ones", async () => {
  const { gw, call, login } = await harness();
  const token = await login(ALICE);
  const res = await call("POST", "/v1/auth/app-passwords", {
    token,
    body: { name: "Thunderbird" },
  });
  assertEquals(res.status, 201);
  const created = await res.json();
  assertMatch(created.password, /^[a-z]{4}-[a-z]{4}-[a-z]{4}-[a-z]{4}$/);
  assertEquals(created.name, "Thunderbird");

  const list = await (await call("GET", "/v1/auth/app-passwords", { token })).json();
  assertEquals(list.items.length, 1);
  assertEquals(Object.keys(list.items[0]).sort(), ["createdAt", "id", "lastUsedAt", "name"]);
  assert(!JSON.stringify(list).includes(created.password));
  const raw = await gw.deps.store.client.execute("SELECT password_hash FROM app_passwords");
  assertMatch(String(raw.rows[0].password_hash), /^\$argon2id\$/);

  const bobToken = await login(BOB);
  await problem(
    await call("DELETE", `/v1/auth/app-passwords/${created.id}`, { token: bobToken }),
    404,
    "not_found",
  );
  await problem(
    await call("POST", "/v1/auth/app-passwords", { token, body: { name: "" } }),
    422,
    "validation_failed",
  );
  await problem(
    await call("DELETE", "/v1/auth/app-passwords/abc", { token }),
    422,
    "validation_failed",
  );
  assertEquals(
    (await call("DELETE", `/v1/auth/app-passwords/${created.id}`, { token })).status,
    204,
  );
  assertEquals((await (await call("GET", "/v1/auth/app-passwords", { token })).json()).items, []);
  assertEquals(
    (await auditActions(gw)).map((a) => a.action),
    ["app_password.create", "app_password.delete"],
  );
  gw.close();
});

Deno.test("verifyAccountSecret: password only while 2FA is off; app passwords always", async () => {
  const { gw, call, login } = await harness();
  const token = await login(ALICE);
  const created =
    await (await call("POST", "/v1/auth/app-passwords", { token, body: { name: "phone" } }))
      .json();
  const app = created.password as string;

  assertEquals(
    (await verifyAccountSecret(gw.deps, ALICE.address, ALICE.password))?.address,
    ALICE.address,
  );
  assertEquals(await verifyAccountSecret(gw.deps, ALICE.address, "wrong-password"), undefined);
  assertEquals(
    await verifyAccountSecret(gw.deps, "nobody@postern.test", ALICE.password),
    undefined,
  );
  assertEquals(await verifyAccountSecret(gw.deps, BOB.address, app), undefined);
  // Spaces instead of dashes, upper case: still the same app password.
  const typed = app.replaceAll("-", " ").toUpperCase();
  assertEquals((await verifyAccountSecret(gw.deps, ALICE.address, typed))?.address, ALICE.address);
  const listed = (await (await call("GET", "/v1/auth/app-passwords", { token })).json()).items;
  assert(listed[0].lastUsedAt !== null, "lastUsedAt is set on use");

  // Turn 2FA on: the account password no longer opens IMAP/SMTP, app passwords still do.
  const { secret } = await (await call("POST", "/v1/auth/2fa/setup", { token })).json();
  assertEquals(
    (await call("POST", "/v1/auth/2fa/enable", {
      token,
      body: { code: currentTotp(secret, Date.now()) },
    }))
      .status,
    200,
  );
  assertEquals(await verifyAccountSecret(gw.deps, ALICE.address, ALICE.password), undefined);
  assertEquals((await verifyAccountSecret(gw.deps, ALICE.address, app))?.address, ALICE.address);

  // Deleted: no longer accepted.
  await call("DELETE", `/v1/auth/app-passwords/${created.id}`, { token });
  assertEquals(await verifyAccountSecret(gw.deps, ALICE.address, app), undefined);
  gw.close();
});

Deno.test("verifyAccountSecret shares login's throttle: delayed after 5 failures from one source", async () => {
  const { gw, call } = await harness();
  for (let i = 0; i < 5; i++) {
    assertEquals(
      await verifyAccountSecret(gw.deps, BOB.address, `wrong-${i}`, { ip: "192.0.2.10" }),
      undefined,
    );
  }
  const err = await assertRejects(
    () => verifyAccountSecret(gw.deps, BOB.address, BOB.password, { ip: "192.0.2.10" }),
    AppError,
  ) as AppError;
  assertEquals(err.status, 429);
  assert(Number(err.headers?.["Retry-After"]) > 0);
  // The delay is the one HTTP login from that source meets (the fixture's peer is 192.0.2.10).
  await problem(await call("POST", "/v1/auth/login", { body: BOB }), 429, "too_many_requests");
  // Another source is not held back.
  assert(await verifyAccountSecret(gw.deps, BOB.address, BOB.password, { ip: "192.0.2.11" }));
  gw.close();
});

// --- Login throttling (more in test/hostile/auth_test.ts) ---

Deno.test("login: 5 wrong passwords delay that source (429 + Retry-After), even with the right one", async () => {
  const { gw, call } = await harness();
  for (let i = 0; i < 5; i++) {
    const res = await call("POST", "/v1/auth/login", {
      body: { ...BOB, password: `wrong-${i}-xxxx` },
    });
    await problem(res, 401, "invalid_credentials");
  }
  const locked = await call("POST", "/v1/auth/login", { body: BOB });
  assertEquals(locked.status, 429);
  const retry = Number(locked.headers.get("retry-after"));
  assert(retry > 0 && retry <= gw.deps.config.loginMaxDelaySeconds, `Retry-After ${retry}`);
  assertEquals((await locked.json()).code, "too_many_requests");
  // Other accounts are not delayed by it (the source's own limit is higher).
  assertEquals((await call("POST", "/v1/auth/login", { body: ALICE })).status, 200);
  // Nor is the owner at another address.
  const elsewhere = await call("POST", "/v1/auth/login", {
    body: BOB,
    headers: { "x-postern-peer": "198.51.100.20" },
  });
  assertEquals(elsewhere.status, 200);
  gw.close();
});

// --- Password change ---

Deno.test("password change: checks the current one, ends sessions, new one signs in", async () => {
  const { gw, call, login } = await harness();
  const token = await login(ALICE);
  const next = "a-brand-new-password";
  const bad = await call("POST", "/v1/auth/password", {
    token,
    body: { currentPassword: 5, newPassword: "short" },
  });
  const body = await problem(bad, 422, "validation_failed");
  assertEquals(body.errors.map((e: { path: string }) => e.path).sort(), [
    "currentPassword",
    "newPassword",
  ]);
  await problem(
    await call("POST", "/v1/auth/password", {
      token,
      body: { currentPassword: "wrong-one!", newPassword: next },
    }),
    403,
    "invalid_credentials",
  );
  assertEquals(
    (await call("POST", "/v1/auth/password", {
      token,
      body: { currentPassword: ALICE.password, newPassword: next },
    }))
      .status,
    204,
  );
  await problem(await call("GET", "/v1/auth/me", { token }), 401, "token_invalid");
  await problem(await call("POST", "/v1/auth/login", { body: ALICE }), 401, "invalid_credentials");
  await login({ address: ALICE.address, password: next });
  const actions = await auditActions(gw);
  assertEquals(actions.map((a) => a.action), ["account.password_change"]);
  assert(!JSON.stringify(actions).includes(next));
  gw.close();
});

// --- API keys ---

Deno.test("API keys: created once, listed without the key, usable, revoked → 401", async () => {
  const { gw, call, login } = await harness();
  // A key restricted to a domain sends as any of its addresses: Alice administers hers.
  const alice = await findAccountByAddress(gw.deps.store.db, ALICE.address);
  await updateAccount(gw.deps.store, alice!.id, { adminDomains: [DOMAIN] });
  const token = await login(ALICE);
  const res = await call("POST", "/v1/api-keys", {
    token,
    body: { name: "newsletter", scopes: ["send", "read", "send"], domains: [DOMAIN.toUpperCase()] },
  });
  assertEquals(res.status, 201);
  const created = await res.json();
  assertMatch(created.key, /^pst_[A-Za-z0-9_-]{43}$/);
  assertEquals(created.prefix, created.key.slice(0, 12));
  assertEquals(created.scopes, ["send", "read"]);
  assertEquals(created.domains, [DOMAIN]);
  assertEquals(created.revokedAt, null);

  const stored = await gw.deps.store.client.execute("SELECT key_hash FROM api_keys");
  assertMatch(String(stored.rows[0].key_hash), /^[0-9a-f]{64}$/);
  assert(String(stored.rows[0].key_hash) !== created.key);

  const list = await (await call("GET", "/v1/api-keys", { token })).json();
  assertEquals(list.items.length, 1);
  assert(!JSON.stringify(list).includes(created.key), "listing never shows the key");
  assertEquals(list.items[0].key, undefined);

  const me = await call("GET", "/v1/auth/me", { token: created.key });
  assertEquals(me.status, 200);
  const meBody = await me.json();
  assertEquals([meBody.credential, meBody.address], ["api_key", ALICE.address]);
  // The key itself can list (read scope) but cannot mint or revoke keys.
  assertEquals((await call("GET", "/v1/api-keys", { token: created.key })).status, 200);
  await problem(
    await call("POST", "/v1/api-keys", {
      token: created.key,
      body: { name: "x", scopes: ["read"] },
    }),
    403,
    "forbidden",
  );
  await problem(
    await call("DELETE", `/v1/api-keys/${created.id}`, { token: created.key }),
    403,
    "forbidden",
  );

  // Someone else's key is not found.
  await problem(
    await call("DELETE", `/v1/api-keys/${created.id}`, { token: await login(BOB) }),
    404,
    "not_found",
  );
  assertEquals((await call("DELETE", `/v1/api-keys/${created.id}`, { token })).status, 204);
  await problem(await call("GET", "/v1/auth/me", { token: created.key }), 401, "unauthorized");
  const after = await (await call("GET", "/v1/api-keys", { token })).json();
  assert(after.items[0].revokedAt !== null);

  const actions = await auditActions(gw);
  assertEquals(actions.map((a) => a.action), ["api_key.create", "api_key.revoke"]);
  assert(!JSON.stringify(actions).includes(created.key));
  gw.close();
});

Deno.test("API keys: scopes and domains are checked; invalid fields are all listed", async () => {
  const { gw, call, login } = await harness();
  await createDomain(gw.deps.store, "other.test");
  const alice = await login(ALICE);
  await problem(
    await call("POST", "/v1/api-keys", { token: alice, body: { name: "a", scopes: ["admin"] } }),
    403,
    "forbidden",
  );
  await problem(
    await call("POST", "/v1/api-keys", {
      token: alice,
      body: { name: "a", scopes: ["send"], domains: ["other.test"] },
    }),
    403,
    "forbidden",
  );
  const notLocal = await problem(
    await call("POST", "/v1/api-keys", {
      token: alice,
      body: { name: "a", scopes: ["send"], domains: ["gmail.com"] },
    }),
    422,
    "validation_failed",
  );
  assertEquals(notLocal.errors, [{
    path: "domains.0",
    message: "gmail.com is not a local domain",
  }]);
  const bad = await problem(
    await call("POST", "/v1/api-keys", {
      token: alice,
      body: { name: "", scopes: ["root"], domains: "x" },
    }),
    422,
    "validation_failed",
  );
  assertEquals(
    bad.errors.map((e: { path: string }) => e.path).sort(),
    ["domains", "name", "scopes.0"],
  );
  await problem(
    await call("POST", "/v1/api-keys", { token: alice, body: { name: "a", scopes: [] } }),
    422,
    "validation_failed",
  );

  // Admins may create admin keys and restrict them to any local domain.
  const admin = await login(ADMIN);
  const res = await call("POST", "/v1/api-keys", {
    token: admin,
    body: { name: "ops", scopes: ["admin", "read"], domains: ["other.test", DOMAIN] },
  });
  assertEquals(res.status, 201);
  assertEquals((await res.json()).domains, ["other.test", DOMAIN]);
  gw.close();
});

Deno.test("the new routes are in /openapi.json", async () => {
  const { gw, call } = await harness();
  const spec = await (await call("GET", "/openapi.json")).json();
  for (
    const path of [
      "/v1/auth/2fa/setup",
      "/v1/auth/2fa/enable",
      "/v1/auth/2fa/disable",
      "/v1/auth/2fa/recovery-codes",
      "/v1/auth/app-passwords",
      "/v1/auth/app-passwords/{id}",
      "/v1/auth/password",
      "/v1/api-keys",
      "/v1/api-keys/{id}",
    ]
  ) {
    assert(spec.paths[path], `${path} is documented`);
  }
  assert(spec.paths["/v1/api-keys"].post.responses["201"]);
  gw.close();
});
