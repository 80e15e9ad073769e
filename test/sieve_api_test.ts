/**
 * The Sieve scripts REST contract (`/v1/sieve/*`, issue 21 item 2) as the ManageSieve server
 * and people call it: capabilities, create/replace, the 422 with every problem's line and
 * column, size and count quotas, rename, delete (never the active script), the one active
 * script, and account isolation. Credentials: a session, the bridge's mail session (after
 * `/v1/bridge/auth`) and API keys by scope.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, BOB, createTestGateway, expectJson, expectProblem } from "./fixtures/app.ts";

const FILTER = `require ["fileinto"];
if header :contains "subject" "[list]" {
  fileinto "Lists";
}
`;

async function world(overrides = {}) {
  const gw = await createTestGateway(overrides);
  const alice = await gw.login(ALICE);
  const bob = await gw.login(BOB);
  const admin = await gw.login(ADMIN);
  const json = (method: string, path: string, token: string, body?: unknown, status = 200) =>
    expectJson(gw, method, path, token, body, status);
  return { gw, alice, bob, admin, json, [Symbol.dispose]: () => gw.close() };
}

Deno.test("issue21#2: sieve capabilities list the extensions and limits", async () => {
  using w = await world();
  const caps = await w.json("GET", "/v1/sieve/capabilities", w.alice);
  for (const ext of ["fileinto", "vacation", "imap4flags", "variables", "relational", "body"]) {
    assert(caps.extensions.includes(ext), ext);
  }
  assertEquals(caps.maxScriptBytes, w.gw.deps.config.sieveMaxScriptBytes);
  assertEquals(typeof caps.maxRedirects, "number");
  assertEquals(typeof caps.maxScripts, "number");
  await expectProblem(await w.gw.call("GET", "/v1/sieve/capabilities"), 401, "unauthorized");
});

Deno.test("issue21#2: sieve scripts are stored, listed, read, replaced and activated", async () => {
  using w = await world();
  assertEquals(await w.json("GET", "/v1/sieve/scripts", w.alice), { scripts: [] });
  const put = await w.json("PUT", "/v1/sieve/scripts/lists", w.alice, { script: FILTER });
  assertEquals(put.name, "lists");
  assertEquals(put.active, false);
  assertEquals(put.sizeBytes, new TextEncoder().encode(FILTER).length);
  assert(!Number.isNaN(Date.parse(put.updatedAt)));
  const got = await w.json("GET", "/v1/sieve/scripts/lists", w.alice);
  assertEquals(got, { name: "lists", active: false, script: FILTER });

  const replaced = FILTER.replace("[list]", "[news]");
  await w.json("PUT", "/v1/sieve/scripts/lists", w.alice, { script: replaced });
  assertEquals((await w.json("GET", "/v1/sieve/scripts/lists", w.alice)).script, replaced);

  // A name with a slash and non-ASCII letters, percent-encoded in the path.
  const odd = "Büro/urlaub";
  await w.json("PUT", `/v1/sieve/scripts/${encodeURIComponent(odd)}`, w.alice, { script: "keep;" });
  assertEquals(await w.json("PUT", "/v1/sieve/active", w.alice, { name: "lists" }), {
    active: "lists",
  });
  let list = (await w.json("GET", "/v1/sieve/scripts", w.alice)).scripts;
  assertEquals(list.map((s: { name: string; active: boolean }) => [s.name, s.active]), [
    [odd, false],
    ["lists", true],
  ]);
  // Activating another deactivates the first: one active script per account.
  await w.json("PUT", "/v1/sieve/active", w.alice, { name: odd });
  list = (await w.json("GET", "/v1/sieve/scripts", w.alice)).scripts;
  assertEquals(
    list.filter((s: { active: boolean }) => s.active).map((s: { name: string }) => s.name),
    [odd],
  );
  await w.json("PUT", "/v1/sieve/active", w.alice, { name: null });
  list = (await w.json("GET", "/v1/sieve/scripts", w.alice)).scripts;
  assertEquals(list.some((s: { active: boolean }) => s.active), false);
  await expectProblem(
    await w.gw.call("PUT", "/v1/sieve/active", { token: w.alice, body: { name: "nope" } }),
    404,
    "sieve_script_not_found",
  );
});

Deno.test("issue21#2: a bad sieve script is refused with every problem's line and column", async () => {
  using w = await world();
  const script =
    `require "fileinto";\nif header :contains "subject" {\n  fileinto "x";\n}\nbogus;\n`;
  const res = await w.gw.call("PUT", "/v1/sieve/scripts/bad", { token: w.alice, body: { script } });
  const problem = await expectProblem(res, 422, "sieve_invalid");
  assertEquals(problem.errors[0].line, 2);
  assertEquals(problem.errors[0].column, 4);
  assert(/header/.test(problem.errors[0].reason), problem.errors[0].reason);
  assertEquals(problem.errors[1].line, 5);
  assert(/unknown command "bogus"/.test(problem.errors[1].reason));
  // Nothing was stored.
  assertEquals((await w.json("GET", "/v1/sieve/scripts", w.alice)).scripts, []);
  // A syntax error: its place.
  const syntax = await expectProblem(
    await w.gw.call("POST", "/v1/sieve/check", {
      token: w.alice,
      body: { script: "keep;\nif true {\n  discard\n}\n" },
    }),
    422,
    "sieve_invalid",
  );
  assertEquals([syntax.errors[0].line, syntax.errors[0].column], [4, 1]);
  // An extension used without require.
  const unrequired = await expectProblem(
    await w.gw.call("POST", "/v1/sieve/check", {
      token: w.alice,
      body: { script: 'fileinto "a";' },
    }),
    422,
    "sieve_invalid",
  );
  assert(/require "fileinto"/.test(unrequired.errors[0].reason));
  // FILTER files into "Lists", which Alice does not have yet: valid, with a warning.
  const warned = await w.json("POST", "/v1/sieve/check", w.alice, { script: FILTER });
  assertEquals(warned.ok, true);
  assertEquals(warned.warnings.length, 1);
  assert(/line 3: there is no mailbox "Lists"/.test(warned.warnings[0]), warned.warnings[0]);
  await w.json("POST", "/v1/mailboxes", w.alice, { name: "Lists" }, 201);
  assertEquals(
    await w.json("POST", "/v1/sieve/check", w.alice, { script: FILTER }),
    { ok: true, warnings: [] },
  );
});

Deno.test("issue21#2: sieve quotas refuse a script too large or one script too many", async () => {
  using w = await world({ sieveMaxScriptBytes: 1024, sieveMaxScripts: 2 });
  const big = `# ${"x".repeat(1100)}\nkeep;\n`;
  const size = await expectProblem(
    await w.gw.call("PUT", "/v1/sieve/scripts/big", { token: w.alice, body: { script: big } }),
    413,
    "sieve_quota",
  );
  assertEquals(size.limit, "size");
  await w.json("PUT", "/v1/sieve/scripts/one", w.alice, { script: "keep;" });
  await w.json("PUT", "/v1/sieve/scripts/two", w.alice, { script: "keep;" });
  const count = await expectProblem(
    await w.gw.call("PUT", "/v1/sieve/scripts/three", {
      token: w.alice,
      body: { script: "keep;" },
    }),
    413,
    "sieve_quota",
  );
  assertEquals(count.limit, "count");
  // Replacing one of the two is no new script.
  await w.json("PUT", "/v1/sieve/scripts/two", w.alice, { script: "discard;" });
  // Bob's count is his own.
  await w.json("PUT", "/v1/sieve/scripts/three", w.bob, { script: "keep;" });
});

Deno.test("issue21#2: sieve rename and delete follow RFC 5804 (taken names, the active script)", async () => {
  using w = await world();
  await w.json("PUT", "/v1/sieve/scripts/a", w.alice, { script: "keep;" });
  await w.json("PUT", "/v1/sieve/scripts/b", w.alice, { script: "keep;" });
  await w.json("PUT", "/v1/sieve/active", w.alice, { name: "a" });
  await expectProblem(
    await w.gw.call("POST", "/v1/sieve/scripts/a/rename", {
      token: w.alice,
      body: { newName: "b" },
    }),
    409,
    "sieve_name_taken",
  );
  await expectProblem(
    await w.gw.call("POST", "/v1/sieve/scripts/zz/rename", {
      token: w.alice,
      body: { newName: "y" },
    }),
    404,
    "sieve_script_not_found",
  );
  // The active script stays active under its new name.
  assertEquals(
    await w.json("POST", "/v1/sieve/scripts/a/rename", w.alice, { newName: "main" }),
    { name: "main", active: true },
  );
  await expectProblem(
    await w.gw.call("DELETE", "/v1/sieve/scripts/main", { token: w.alice }),
    409,
    "sieve_script_active",
  );
  assertEquals((await w.gw.call("DELETE", "/v1/sieve/scripts/b", { token: w.alice })).status, 204);
  await expectProblem(
    await w.gw.call("DELETE", "/v1/sieve/scripts/b", { token: w.alice }),
    404,
    "sieve_script_not_found",
  );
  await expectProblem(
    await w.gw.call("GET", "/v1/sieve/scripts/b", { token: w.alice }),
    404,
    "sieve_script_not_found",
  );
  // RFC 5804 section 1.6: control characters and over-long names are refused.
  for (const bad of ["a\u0007b", "x".repeat(129), "e\u0301"]) {
    await expectProblem(
      await w.gw.call("PUT", `/v1/sieve/scripts/${encodeURIComponent(bad)}`, {
        token: w.alice,
        body: { script: "keep;" },
      }),
      400,
      "sieve_bad_name",
    );
  }
});

Deno.test("issue21#2: sieve scripts are isolated per account", async () => {
  using w = await world();
  await w.json("PUT", "/v1/sieve/scripts/secret", w.alice, { script: "# alice zanzibar\nkeep;" });
  await w.json("PUT", "/v1/sieve/active", w.alice, { name: "secret" });
  assertEquals((await w.json("GET", "/v1/sieve/scripts", w.bob)).scripts, []);
  for (
    const [method, path, body] of [
      ["GET", "/v1/sieve/scripts/secret", undefined],
      ["DELETE", "/v1/sieve/scripts/secret", undefined],
      ["POST", "/v1/sieve/scripts/secret/rename", { newName: "mine" }],
      ["PUT", "/v1/sieve/active", { name: "secret" }],
    ] as const
  ) {
    const res = await w.gw.call(method, path, { token: w.bob, body });
    const text = await res.text();
    assertEquals(res.status, 404, `${method} ${path}: ${text}`);
    assert(!/zanzibar/.test(text));
  }
  // Bob's script of the same name is his own; Alice's stays active and unchanged.
  await w.json("PUT", "/v1/sieve/scripts/secret", w.bob, { script: "discard;" });
  await w.json("PUT", "/v1/sieve/active", w.bob, { name: "secret" });
  const alice = await w.json("GET", "/v1/sieve/scripts/secret", w.alice);
  assertEquals(alice, { name: "secret", active: true, script: "# alice zanzibar\nkeep;" });
});

Deno.test("issue21#2: sieve routes take the bridge's mail session and API keys by scope", async () => {
  using w = await world();
  const bridgeKey = (await w.json("POST", "/v1/api-keys", w.admin, {
    name: "bridge",
    scopes: ["bridge"],
  }, 201)).key;
  const login = await w.json("POST", "/v1/bridge/auth", bridgeKey, {
    username: ALICE.address,
    secret: ALICE.password,
    protocol: "imap",
    clientIp: "192.0.2.7",
  });
  await w.json("PUT", "/v1/sieve/scripts/from-bridge", login.accessToken, { script: "keep;" });
  assertEquals(
    (await w.json("GET", "/v1/sieve/scripts", w.alice)).scripts.map((s: { name: string }) =>
      s.name
    ),
    ["from-bridge"],
  );
  const readKey = (await w.json("POST", "/v1/api-keys", w.alice, {
    name: "ro",
    scopes: ["read"],
  }, 201)).key;
  assertEquals((await w.json("GET", "/v1/sieve/scripts", readKey)).scripts.length, 1);
  await expectProblem(
    await w.gw.call("PUT", "/v1/sieve/scripts/x", { token: readKey, body: { script: "keep;" } }),
    403,
    "insufficient_scope",
  );
  const sendKey = (await w.json("POST", "/v1/api-keys", w.alice, {
    name: "rw",
    scopes: ["read", "send"],
  }, 201)).key;
  await w.json("PUT", "/v1/sieve/scripts/x", sendKey, { script: "keep;" });
  // The bridge key itself is no account credential for these routes.
  await expectProblem(
    await w.gw.call("GET", "/v1/sieve/scripts", { token: bridgeKey }),
    403,
    "insufficient_scope",
  );
});
