/**
 * A local domain created through the admin API (`POST /v1/admin/domains`) has its federation
 * signing key (Ed25519) from the moment it exists, made in the same transaction as its DKIM
 * keys; the published JWKS then carries that very key, and nothing is generated on first use.
 * (`postern init` and `postern domain add`: test/federation_cli_test.ts.)
 */
import { eq } from "drizzle-orm";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, createTestGateway } from "./fixtures/app.ts";
import { publishedJwks } from "../src/federation/keys.ts";
import { findDomain } from "../src/services/accounts.ts";
import { schema } from "../src/store/store.ts";

Deno.test("admin API: a created domain has its federation key at once, and publishes it", async () => {
  const gw = await createTestGateway();
  try {
    const admin = await gw.login(ADMIN);
    const res = await gw.call("POST", "/v1/admin/domains", {
      token: admin,
      body: { name: "Fresh.Example" },
    });
    assertEquals(res.status, 201);
    const domain = await findDomain(gw.deps.store.db, "fresh.example");
    assert(domain, "the domain exists");
    const keysOf = () =>
      gw.deps.store.db.select().from(schema.federationKeys)
        .where(eq(schema.federationKeys.domainId, domain.id));
    const rows = await keysOf();
    assertEquals(rows.map((r) => [r.retiredAt, r.expiresAt]), [[null, null]]);
    const publicJwk = JSON.parse(rows[0].publicJwk);
    assertEquals([publicJwk.kty, publicJwk.crv, publicJwk.kid], ["OKP", "Ed25519", rows[0].kid]);
    assert(!("d" in publicJwk), "the public JWK has no private part");

    // What /.well-known/sharp/jwks serves (this test gateway has no federation ports).
    const jwks = await publishedJwks(gw.deps, "fresh.example");
    assertEquals(jwks.keys.map((k) => k.kid), [rows[0].kid]);
    assertEquals((await keysOf()).length, 1, "no second key made on first use");
  } finally {
    gw.close();
  }
});
