/**
 * Administration over HTTP: who may use it, domains with catch-alls, accounts with pagination,
 * aliases, and the audit log every change writes.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { expectProblem as problem } from "./fixtures/app.ts";
import { ADMIN, ALICE, BOB, createTestGateway, DOMAIN } from "./fixtures/app.ts";

async function harness() {
  const gw = await createTestGateway();
  const harnessed = { gw, call: gw.call, login: gw.login };
  return { ...harnessed, admin: await gw.login(ADMIN) };
}

const paths = (body: { errors: { path: string }[] }) => body.errors.map((e) => e.path).sort();

const ADMIN_GETS = [
  "/v1/admin/domains",
  "/v1/admin/accounts",
  "/v1/admin/aliases",
  "/v1/admin/audit",
];

Deno.test("admin routes: 401 without a token, 403 for users and non-admin keys", async () => {
  const { gw, call, login, admin } = await harness();
  const alice = await login(ALICE);
  const readKey = (await (await call("POST", "/v1/api-keys", {
    token: admin,
    body: { name: "ro", scopes: ["read"] },
  })).json()).key;
  for (const path of ADMIN_GETS) {
    await problem(await call("GET", path), 401, "unauthorized");
    await problem(await call("GET", path, { token: alice }), 403, "insufficient_scope");
    await problem(await call("GET", path, { token: readKey }), 403, "insufficient_scope");
    assertEquals((await call("GET", path, { token: admin })).status, 200, path);
  }
  await problem(
    await call("POST", "/v1/admin/domains", { token: alice, body: { name: "evil.test" } }),
    403,
    "insufficient_scope",
  );
  await problem(
    await call("DELETE", "/v1/admin/accounts/1", { token: readKey }),
    403,
    "insufficient_scope",
  );
  gw.close();
});

Deno.test("admin API key works until revoked (then 401); demoted owner loses it (403)", async () => {
  const { gw, call, admin } = await harness();
  const created = await (await call("POST", "/v1/api-keys", {
    token: admin,
    body: { name: "ops", scopes: ["admin"] },
  })).json();
  const res = await call("POST", "/v1/admin/domains", {
    token: created.key,
    body: { name: "ops.test" },
  });
  assertEquals(res.status, 201);
  // An admin key cannot mint further keys.
  await problem(
    await call("POST", "/v1/api-keys", {
      token: created.key,
      body: { name: "x", scopes: ["admin"] },
    }),
    403,
    "forbidden",
  );
  assertEquals((await call("DELETE", `/v1/api-keys/${created.id}`, { token: admin })).status, 204);
  await problem(
    await call("GET", "/v1/admin/domains", { token: created.key }),
    401,
    "unauthorized",
  );

  // A key with the admin scope whose account is no longer admin is refused.
  const second = await (await call("POST", "/v1/admin/accounts", {
    token: admin,
    body: { address: `ops@${DOMAIN}`, password: "ops-password-1", role: "admin" },
  })).json();
  const opsToken = (await (await call("POST", "/v1/auth/login", {
    body: { address: `ops@${DOMAIN}`, password: "ops-password-1" },
  })).json()).accessToken;
  const opsKey = (await (await call("POST", "/v1/api-keys", {
    token: opsToken,
    body: { name: "k", scopes: ["admin"] },
  })).json()).key;
  assertEquals((await call("GET", "/v1/admin/domains", { token: opsKey })).status, 200);
  await call("PATCH", `/v1/admin/accounts/${second.id}`, { token: admin, body: { role: "user" } });
  await problem(await call("GET", "/v1/admin/domains", { token: opsKey }), 403, "forbidden");
  gw.close();
});

Deno.test("domains: create, duplicate 409, invalid 422, catch-all, delete only when empty", async () => {
  const { gw, call, admin } = await harness();
  const res = await call("POST", "/v1/admin/domains", {
    token: admin,
    body: { name: "Example.TEST" },
  });
  assertEquals(res.status, 201);
  const domain = await res.json();
  assertEquals([domain.name, domain.catchAllAddress], ["example.test", null]);
  await problem(
    await call("POST", "/v1/admin/domains", { token: admin, body: { name: "example.test" } }),
    409,
    "already_exists",
  );
  const bad = await problem(
    await call("POST", "/v1/admin/domains", { token: admin, body: { name: "no_dots" } }),
    422,
    "validation_failed",
  );
  assertEquals(paths(bad), ["name"]);
  const list = await (await call("GET", "/v1/admin/domains", { token: admin })).json();
  assertEquals(list.items.map((d: { name: string }) => d.name), ["example.test", DOMAIN]);

  // Catch-all: a local account, or null.
  const home = list.items.find((d: { name: string }) => d.name === DOMAIN);
  const set = await call("PATCH", `/v1/admin/domains/${home.id}`, {
    token: admin,
    body: { catchAllAddress: ALICE.address.toUpperCase().replace("@", "#") },
  });
  assertEquals(set.status, 200);
  assertEquals((await set.json()).catchAllAddress, ALICE.address);
  const unknown = await problem(
    await call("PATCH", `/v1/admin/domains/${home.id}`, {
      token: admin,
      body: { catchAllAddress: "ghost@example.test" },
    }),
    422,
    "validation_failed",
  );
  assertEquals(paths(unknown), ["catchAllAddress"]);
  await problem(
    await call("PATCH", `/v1/admin/domains/9999`, {
      token: admin,
      body: { catchAllAddress: null },
    }),
    404,
    "not_found",
  );
  const cleared = await call("PATCH", `/v1/admin/domains/${home.id}`, {
    token: admin,
    body: { catchAllAddress: null },
  });
  assertEquals((await cleared.json()).catchAllAddress, null);

  // A domain with accounts (or aliases) stays.
  await problem(
    await call("DELETE", `/v1/admin/domains/${home.id}`, { token: admin }),
    409,
    "conflict",
  );
  const alias = await (await call("POST", "/v1/admin/aliases", {
    token: admin,
    body: { address: "info@example.test", targets: [ALICE.address] },
  })).json();
  await problem(
    await call("DELETE", `/v1/admin/domains/${domain.id}`, { token: admin }),
    409,
    "conflict",
  );
  await call("DELETE", `/v1/admin/aliases/${alias.id}`, { token: admin });
  assertEquals(
    (await call("DELETE", `/v1/admin/domains/${domain.id}`, { token: admin })).status,
    204,
  );
  await problem(
    await call("DELETE", `/v1/admin/domains/${domain.id}`, { token: admin }),
    404,
    "not_found",
  );
  gw.close();
});

Deno.test("accounts: create, every invalid field listed, duplicate 409, page through", async () => {
  const { gw, call, admin } = await harness();
  const bad = await problem(
    await call("POST", "/v1/admin/accounts", {
      token: admin,
      body: { address: "not an address", password: "short", role: "root", quotaBytes: -1 },
    }),
    422,
    "validation_failed",
  );
  assertEquals(paths(bad), ["address", "password", "quotaBytes", "role"]);
  await problem(
    await call("POST", "/v1/admin/accounts", {
      token: admin,
      body: { address: "carol@nowhere.test", password: "carol-password-1" },
    }),
    422,
    "validation_failed",
  );
  await problem(
    await call("POST", "/v1/admin/accounts", {
      token: admin,
      body: { address: ALICE.address.toUpperCase(), password: "carol-password-1" },
    }),
    409,
    "already_exists",
  );

  const res = await call("POST", "/v1/admin/accounts", {
    token: admin,
    body: {
      address: `carol@${DOMAIN}`,
      password: "carol-password-1",
      displayName: "Carol",
      quotaBytes: 1000,
    },
  });
  assertEquals(res.status, 201);
  const carol = await res.json();
  assertEquals(
    [carol.address, carol.displayName, carol.role, carol.quotaBytes, carol.disabled],
    [`carol@${DOMAIN}`, "Carol", "user", 1000, false],
  );
  for (const secretField of ["passwordHash", "totpSecret", "recoveryCodes"]) {
    assertEquals(carol[secretField], undefined);
  }
  await call("POST", "/v1/admin/accounts", {
    token: admin,
    body: { address: `dave@${DOMAIN}`, password: "dave-password-1" },
  });

  // Five accounts, two per page.
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const q: string = cursor ? `&cursor=${cursor}` : "";
    const page = await (await call("GET", `/v1/admin/accounts?limit=2${q}`, { token: admin }))
      .json();
    assert(page.items.length <= 2);
    seen.push(...page.items.map((a: { address: string }) => a.address));
    for (const a of page.items) assertEquals(a.passwordHash, undefined);
    cursor = page.nextCursor;
    pages++;
  } while (cursor && pages < 10);
  assertEquals(pages, 3);
  assertEquals(seen, [
    ADMIN.address,
    ALICE.address,
    BOB.address,
    `carol@${DOMAIN}`,
    `dave@${DOMAIN}`,
  ]);
  const badPage = await problem(
    await call("GET", "/v1/admin/accounts?limit=0&cursor=abc", { token: admin }),
    422,
    "validation_failed",
  );
  assertEquals(paths(badPage), ["query.cursor", "query.limit"]);
  gw.close();
});

Deno.test("accounts: get, patch (profile, password, disable), self-protection, delete", async () => {
  const { gw, call, login, admin } = await harness();
  const list = await (await call("GET", "/v1/admin/accounts", { token: admin })).json();
  const bob = list.items.find((a: { address: string }) => a.address === BOB.address);
  const me = list.items.find((a: { address: string }) => a.address === ADMIN.address);
  assertEquals(
    (await (await call("GET", `/v1/admin/accounts/${bob.id}`, { token: admin })).json()).address,
    BOB.address,
  );
  await problem(await call("GET", "/v1/admin/accounts/9999", { token: admin }), 404, "not_found");
  await problem(
    await call("GET", "/v1/admin/accounts/x", { token: admin }),
    422,
    "validation_failed",
  );

  const bobToken = await login(BOB);
  const patched = await call("PATCH", `/v1/admin/accounts/${bob.id}`, {
    token: admin,
    body: { displayName: "Robert", quotaBytes: 0, password: "bobs-new-password" },
  });
  assertEquals(patched.status, 200);
  const body = await patched.json();
  assertEquals([body.displayName, body.quotaBytes], ["Robert", 0]);
  // The new password ends Bob's sessions and replaces the old one.
  await problem(await call("GET", "/v1/auth/me", { token: bobToken }), 401, "token_invalid");
  await problem(await call("POST", "/v1/auth/login", { body: BOB }), 401, "invalid_credentials");
  const fresh = await login({ address: BOB.address, password: "bobs-new-password" });

  const invalid = await problem(
    await call("PATCH", `/v1/admin/accounts/${bob.id}`, {
      token: admin,
      body: { role: "god", disabled: "yes", password: "short" },
    }),
    422,
    "validation_failed",
  );
  assertEquals(paths(invalid), ["disabled", "password", "role"]);

  // Disabled: sessions end and sign-in fails.
  const disabled = await call("PATCH", `/v1/admin/accounts/${bob.id}`, {
    token: admin,
    body: { disabled: true },
  });
  assertEquals((await disabled.json()).disabled, true);
  await problem(await call("GET", "/v1/auth/me", { token: fresh }), 401, "token_invalid");
  await problem(
    await call("POST", "/v1/auth/login", {
      body: { address: BOB.address, password: "bobs-new-password" },
    }),
    401,
    "invalid_credentials",
  );

  // An admin cannot lock themselves out.
  await problem(
    await call("PATCH", `/v1/admin/accounts/${me.id}`, { token: admin, body: { role: "user" } }),
    409,
    "conflict",
  );
  await problem(
    await call("DELETE", `/v1/admin/accounts/${me.id}`, { token: admin }),
    409,
    "conflict",
  );

  assertEquals(
    (await call("DELETE", `/v1/admin/accounts/${bob.id}`, { token: admin })).status,
    204,
  );
  await problem(
    await call("GET", `/v1/admin/accounts/${bob.id}`, { token: admin }),
    404,
    "not_found",
  );
  await problem(
    await call("DELETE", `/v1/admin/accounts/${bob.id}`, { token: admin }),
    404,
    "not_found",
  );
  gw.close();
});

Deno.test("aliases: local domain only, no collision with accounts, targets validated", async () => {
  const { gw, call, admin } = await harness();
  const res = await call("POST", "/v1/admin/aliases", {
    token: admin,
    body: {
      address: `Sales#${DOMAIN}`,
      targets: [ALICE.address, "partner@example.org", ALICE.address],
    },
  });
  assertEquals(res.status, 201);
  const alias = await res.json();
  assertEquals([alias.address, alias.targets], [`Sales@${DOMAIN}`, [
    ALICE.address,
    "partner@example.org",
  ]]);
  await problem(
    await call("POST", "/v1/admin/aliases", {
      token: admin,
      body: { address: `sales@${DOMAIN}`, targets: [BOB.address] },
    }),
    409,
    "already_exists",
  );
  await problem(
    await call("POST", "/v1/admin/aliases", {
      token: admin,
      body: { address: BOB.address, targets: [ALICE.address] },
    }),
    409,
    "already_exists",
  );
  // An account cannot take an alias's address either.
  await problem(
    await call("POST", "/v1/admin/accounts", {
      token: admin,
      body: { address: `sales@${DOMAIN}`, password: "sales-password-1" },
    }),
    409,
    "already_exists",
  );
  const remote = await problem(
    await call("POST", "/v1/admin/aliases", {
      token: admin,
      body: { address: "x@example.org", targets: [ALICE.address] },
    }),
    422,
    "validation_failed",
  );
  assertEquals(paths(remote), ["address"]);
  const badTargets = await problem(
    await call("POST", "/v1/admin/aliases", {
      token: admin,
      body: { address: `loop@${DOMAIN}`, targets: [ALICE.address, "nope", `loop@${DOMAIN}`] },
    }),
    422,
    "validation_failed",
  );
  assertEquals(paths(badTargets), ["targets.1", "targets.2"]);
  const empty = await problem(
    await call("POST", "/v1/admin/aliases", {
      token: admin,
      body: { address: "bad", targets: [] },
    }),
    422,
    "validation_failed",
  );
  assertEquals(paths(empty), ["targets"]);

  const list = await (await call("GET", "/v1/admin/aliases", { token: admin })).json();
  assertEquals(list.items.map((a: { id: number }) => a.id), [alias.id]);
  assertEquals(
    (await call("DELETE", `/v1/admin/aliases/${alias.id}`, { token: admin })).status,
    204,
  );
  await problem(
    await call("DELETE", `/v1/admin/aliases/${alias.id}`, { token: admin }),
    404,
    "not_found",
  );
  gw.close();
});

Deno.test("audit log: every admin change, newest first, paged, without secrets", async () => {
  const { gw, call, admin } = await harness();
  const domain =
    await (await call("POST", "/v1/admin/domains", { token: admin, body: { name: "audit.test" } }))
      .json();
  const account = await (await call("POST", "/v1/admin/accounts", {
    token: admin,
    body: { address: "eve@audit.test", password: "eve-secret-password" },
  })).json();
  await call("PATCH", `/v1/admin/accounts/${account.id}`, {
    token: admin,
    body: { password: "eve-other-password", quotaBytes: 5 },
  });
  const alias = await (await call("POST", "/v1/admin/aliases", {
    token: admin,
    body: { address: "hi@audit.test", targets: ["eve@audit.test"] },
  })).json();
  await call("PATCH", `/v1/admin/domains/${domain.id}`, {
    token: admin,
    body: { catchAllAddress: "eve@audit.test" },
  });
  await call("DELETE", `/v1/admin/aliases/${alias.id}`, { token: admin });
  await call("DELETE", `/v1/admin/accounts/${account.id}`, { token: admin });
  await call("DELETE", `/v1/admin/domains/${domain.id}`, { token: admin });

  const first = await (await call("GET", "/v1/admin/audit?limit=5", { token: admin })).json();
  assertEquals(first.items.length, 5);
  assert(first.nextCursor);
  const rest = await (await call("GET", `/v1/admin/audit?limit=5&cursor=${first.nextCursor}`, {
    token: admin,
  }))
    .json();
  assertEquals(rest.nextCursor, null);
  const entries = [...first.items, ...rest.items];
  assertEquals(entries.map((e: { action: string }) => e.action), [
    "domain.delete",
    "account.delete",
    "alias.delete",
    "domain.catch_all",
    "alias.create",
    "account.update",
    "account.create",
    "domain.create",
  ]);
  const me = await (await call("GET", "/v1/auth/me", { token: admin })).json();
  for (const e of entries) {
    assertEquals([e.actorAccountId, e.ip], [me.id, "192.0.2.10"]);
  }
  assertEquals(entries[5].data, { quotaBytes: 5, passwordChanged: true });
  assertEquals(entries[7].target, "domain:audit.test");
  const text = JSON.stringify(entries);
  assert(!text.includes("eve-secret-password") && !text.includes("eve-other-password"));
  gw.close();
});

Deno.test("the admin routes are in /openapi.json", async () => {
  const { gw, call } = await harness();
  const spec = await (await call("GET", "/openapi.json")).json();
  for (
    const path of [
      "/v1/admin/domains",
      "/v1/admin/domains/{id}",
      "/v1/admin/accounts",
      "/v1/admin/accounts/{id}",
      "/v1/admin/aliases",
      "/v1/admin/aliases/{id}",
      "/v1/admin/audit",
    ]
  ) {
    assert(spec.paths[path], `${path} is documented`);
  }
  assert(
    spec.paths["/v1/admin/accounts"].get.parameters.some((p: { name: string }) =>
      p.name === "cursor"
    ),
  );
  gw.close();
});
