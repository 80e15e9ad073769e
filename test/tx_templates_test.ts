/**
 * Templates through the API: versions, list, preview with HTML escaping (html only), a 422
 * naming every missing variable, sending with `template` + `variables`, delete.
 */
import { parsedOfRow } from "../src/crypt/sealed_rows.ts";
import { eq } from "drizzle-orm";
import { schema } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, BOB, createTestGateway, expectProblem } from "./fixtures/app.ts";

Deno.test("templates: versions, preview escapes html only, missing variables named, send renders", async () => {
  const gw = await createTestGateway();
  try {
    const token = await gw.login(ALICE);
    const v1 = await gw.call("POST", "/v1/templates", {
      token,
      body: { name: "welcome", subject: "Hi {{name}}", text: "Hello {{name}}", html: "<p>v1</p>" },
    });
    assertEquals(v1.status, 201, await v1.clone().text());
    assertEquals((await v1.json()).version, 1);
    const v2 = await gw.call("POST", "/v1/templates", {
      token,
      body: {
        name: "welcome",
        subject: "Welcome, {{name}}",
        text: "Hello {{name}}, your code is {{code}}.",
        html: "<p>Hello {{name}}</p><p>{{{signature}}}</p>",
      },
    });
    assertEquals((await v2.json()).version, 2);
    const bad = await gw.call("POST", "/v1/templates", {
      token,
      body: { name: "broken", subject: "x", text: "{{#open}} never closed" },
    });
    await expectProblem(bad, 422, "validation_failed");

    const list = await (await gw.call("GET", "/v1/templates", { token })).json();
    assertEquals(
      list.templates.map((t: { name: string; version: number }) => [t.name, t.version]),
      [
        ["welcome", 2],
      ],
    );
    const versions = await (await gw.call("GET", "/v1/templates/welcome/versions", { token }))
      .json();
    assertEquals(versions.versions.map((t: { version: number }) => t.version), [2, 1]);
    const old = await (await gw.call("GET", "/v1/templates/welcome?version=1", { token })).json();
    assertEquals(old.subject, "Hi {{name}}");
    const other = await gw.call("GET", "/v1/templates/welcome", { token: await gw.login(BOB) });
    assertEquals(other.status, 404, "templates are per account");

    const preview = await gw.call("POST", "/v1/templates/welcome/preview", {
      token,
      body: { variables: { name: "<Ann & Co>", code: "42", signature: "<b>Team</b>" } },
    });
    assertEquals(await preview.json(), {
      subject: "Welcome, <Ann & Co>",
      text: "Hello <Ann & Co>, your code is 42.",
      html: "<p>Hello &lt;Ann &amp; Co&gt;</p><p><b>Team</b></p>",
    });
    const missing = await gw.call("POST", "/v1/templates/welcome/preview", {
      token,
      body: { variables: { name: "Ann" } },
    });
    const problem = await expectProblem(missing, 422, "validation_failed");
    assertEquals(problem.errors.map((e: { path: string }) => e.path).sort(), [
      "variables.code",
      "variables.signature",
    ]);
    assert(problem.detail.includes("code") && problem.detail.includes("signature"));

    const sent = await gw.call("POST", "/v1/emails", {
      token,
      body: {
        from: ALICE.address,
        to: [BOB.address],
        template: { name: "welcome" },
        variables: { name: "Bob", code: "7", signature: "—A" },
      },
    });
    assertEquals(sent.status, 201, await sent.clone().text());
    const inbox = await gw.deps.store.db.select().from(schema.messages)
      .where(eq(schema.messages.subject, "Welcome, Bob"));
    assertEquals(inbox.length, 2, "Bob's copy and Alice's Sent copy");
    const parsed = await parsedOfRow<{ text: string }>(
      gw.deps.store.db,
      inbox[0].accountId,
      inbox[0].parsed,
    );
    assertEquals(parsed.text.trim(), "Hello Bob, your code is 7.");
    const notSent = await gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: [BOB.address], template: { name: "welcome" } },
    });
    await expectProblem(notSent, 422, "validation_failed");
    const noTemplate = await gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: [BOB.address], template: { name: "nope" } },
    });
    await expectProblem(noTemplate, 404, "not_found");

    assertEquals((await gw.call("DELETE", "/v1/templates/welcome", { token })).status, 204);
    assertEquals((await gw.call("GET", "/v1/templates/welcome", { token })).status, 404);
  } finally {
    gw.close();
  }
});
