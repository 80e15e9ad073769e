/**
 * First-start setup for the edge entries (src/services/bootstrap.ts): the domain and admin are
 * made once, a second run (another isolate, a restart) changes nothing and keeps a password the
 * admin changed since, two starts at once make one of each, and what would hand the store to
 * someone else or strand its sealed keys is refused with 409 before anything is written.
 */
import { SecretBox } from "../src/crypto.ts";
import { AppError } from "../src/errors.ts";
import { createAccount } from "../src/services/accounts.ts";
import { alreadySetUp, bootstrapInstance } from "../src/services/bootstrap.ts";
import { MIGRATIONS } from "../src/store/migrations/index.ts";
import { rawSql } from "../src/store/store.ts";
import { createTestGateway } from "./fixtures/app.ts";
import { assert, assertEquals, assertRejects } from "./fixtures/assert.ts";
import { cliRun } from "./import_fixture.ts";

const INPUT = {
  domain: "edge.test",
  adminAddress: "boss@edge.test",
  adminPassword: "first-start-password-1",
};

Deno.test("issue17#3: bootstrap makes the domain and admin once; again, or twice at once, changes nothing", async () => {
  const gw = await createTestGateway({}, undefined, { seed: false });
  try {
    const [a, b] = await Promise.all([
      bootstrapInstance(gw.deps, INPUT),
      bootstrapInstance(gw.deps, INPUT),
    ]);
    assertEquals(Number(a.domainCreated) + Number(b.domainCreated), 1, "one domain");
    assertEquals(Number(a.adminCreated) + Number(b.adminCreated), 1, "one admin");
    const token = await gw.login({ address: INPUT.adminAddress, password: INPUT.adminPassword });
    assert(token);
    const keys = await rawSql(gw.deps.store.db).all("SELECT id FROM dkim_keys");
    assert(keys.length > 0, "the domain's DKIM keys were made, sealed with the master key");

    // The admin changes the password; the next start keeps it.
    const changed = await gw.call("POST", "/v1/auth/password", {
      token,
      body: { currentPassword: INPUT.adminPassword, newPassword: "changed-by-the-admin-2" },
    });
    assert(changed.status < 300, await changed.text());
    const again = await bootstrapInstance(gw.deps, INPUT);
    assertEquals(again, {
      domain: "edge.test",
      admin: "boss@edge.test",
      domainCreated: false,
      adminCreated: false,
      passwordReset: false,
    });
    await gw.login({ address: INPUT.adminAddress, password: "changed-by-the-admin-2" });
  } finally {
    gw.close();
  }
});

Deno.test("issue17#3: bootstrap refuses another admin, a user's address and a master key that does not fit", async () => {
  const gw = await createTestGateway({}, undefined, { seed: false });
  try {
    await bootstrapInstance(gw.deps, INPUT);
    const conflict = async (run: () => Promise<unknown>, text: RegExp) => {
      const e = await assertRejects(run, AppError);
      assertEquals((e as AppError).status, 409);
      assert(text.test((e as AppError).message), (e as AppError).message);
    };
    await conflict(
      () => bootstrapInstance(gw.deps, { ...INPUT, adminAddress: "other@edge.test" }),
      /already initialised differently: boss@edge\.test/,
    );
    await createAccount(gw.deps.store, { address: "user@edge.test", password: "user-pass-123" }, {
      quotaBytes: 0,
      nowMs: Date.now(),
    });
    await conflict(
      () => bootstrapInstance(gw.deps, { ...INPUT, adminAddress: "user@edge.test" }),
      /not an admin account/,
    );
    const wrongKey = await SecretBox.fromMasterKey("another-master-key-0123456789abcdef0123");
    await conflict(
      () => bootstrapInstance({ ...gw.deps, secrets: wrongKey }, INPUT),
      /master key does not open/,
    );
    const admins = await rawSql(gw.deps.store.db).all(
      "SELECT address FROM accounts WHERE role = 'admin'",
    );
    assertEquals(admins.length, 1, "nothing was written by a refused start");
    // No password and no admin yet: said, not guessed.
    const fresh = await createTestGateway({}, undefined, { seed: false });
    try {
      const e = await assertRejects(
        () => bootstrapInstance(fresh.deps, { ...INPUT, adminPassword: undefined }),
        AppError,
      );
      assert(/POSTERN_ADMIN_PASSWORD/.test((e as AppError).message));
    } finally {
      fresh.close();
    }
  } finally {
    gw.close();
  }
});

Deno.test("issue17#4: postern init takes its domain and admin from POSTERN_DOMAIN and POSTERN_ADMIN_ADDRESS, as the edge entries do", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-init-env-" });
  try {
    const env = {
      POSTERN_DATA_DIR: dir,
      POSTERN_DOMAIN: "env.test",
      POSTERN_ADMIN_ADDRESS: "chief@env.test",
      POSTERN_ADMIN_PASSWORD: "chief-password-123",
    };
    const first = await cliRun(["init", "--json"], env);
    assertEquals(first.code, 0, first.stderr);
    const result = JSON.parse(first.stdout);
    assertEquals([result.domain, result.admin, result.adminCreated], [
      "env.test",
      "chief@env.test",
      true,
    ]);
    assert(!first.stderr.includes("unknown setting"), first.stderr);
    const again = await cliRun(["init", "--json"], env);
    assertEquals(again.code, 0, again.stderr);
    assertEquals(JSON.parse(again.stdout).unchanged, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue17 (cold start): one query tells a set-up store from one that needs the full path", async () => {
  const gw = await createTestGateway({}, undefined, { seed: false });
  try {
    // Migrated but no domain or admin yet: the full path must run.
    assertEquals(await alreadySetUp(gw.deps, INPUT, MIGRATIONS), false, "not bootstrapped");
    await bootstrapInstance(gw.deps, INPUT);
    assertEquals(await alreadySetUp(gw.deps, INPUT, MIGRATIONS), true, "set up");
    // Each doubt sends the caller down the full path, which applies, makes or refuses.
    const last = MIGRATIONS[MIGRATIONS.length - 1];
    const edited = [...MIGRATIONS.slice(0, -1), { ...last, statements: [...last.statements, ""] }];
    assertEquals(await alreadySetUp(gw.deps, INPUT, edited), false, "an edited migration");
    const newer = [...MIGRATIONS, { tag: "9999_next", statements: ["SELECT 1"] }];
    assertEquals(await alreadySetUp(gw.deps, INPUT, newer), false, "a pending migration");
    const wrongKey = await SecretBox.fromMasterKey("another-master-key-0123456789abcdef0123");
    assertEquals(
      await alreadySetUp({ ...gw.deps, secrets: wrongKey }, INPUT, MIGRATIONS),
      false,
      "a master key that does not open the store",
    );
    for (
      const input of [
        { ...INPUT, domain: "other.test", adminAddress: "boss@other.test" },
        { ...INPUT, adminAddress: "nobody@edge.test" },
        { ...INPUT, resetAdminPassword: true },
      ]
    ) {
      assertEquals(await alreadySetUp(gw.deps, input, MIGRATIONS), false, JSON.stringify(input));
    }
    await createAccount(gw.deps.store, { address: "user@edge.test", password: "user-pass-123" }, {
      quotaBytes: 0,
      nowMs: Date.now(),
    });
    assertEquals(
      await alreadySetUp(gw.deps, { ...INPUT, adminAddress: "USER@edge.test" }, MIGRATIONS),
      false,
      "a user account is no admin",
    );
    await rawSql(gw.deps.store.db).run("DROP TABLE postern_migrations");
    assertEquals(await alreadySetUp(gw.deps, INPUT, MIGRATIONS), false, "no bookkeeping table");
  } finally {
    gw.close();
  }
});
