/**
 * The JSON API the webmail added, over HTTP: `POST /v1/messages/{id}/view` (a short-lived,
 * account-bound URL whose document carries its own sandboxing CSP) and `GET /v1/identities`
 * (the From addresses sending accepts). Isolation, scopes and tampering included.
 */
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import { ADMIN, ALICE, BOB, DOMAIN, expectProblem } from "./fixtures/app.ts";
import { mailWorld, seedMessage } from "./fixtures/mail.ts";
import { deliver } from "../src/services/delivery.ts";

Deno.test("issue18#1: message view URL: sandboxed CSP, images only on request, yours only", async () => {
  await using w = await mailWorld();
  const html = '<p style="color:red">Hi</p><img src="https://tracker.example/p.gif">';
  const { id } = await seedMessage(w.gw, { subject: "HTML", html });
  const { id: plain } = await seedMessage(w.gw, { subject: "Plain", text: "just text" });

  const view = await w.json("POST", `/v1/messages/${id}/view`, { token: w.alice });
  assertMatch(view.url, /^\/mail\/frame\/[\w-]+\.[\w-]+\.[\w-]+$/);
  assertEquals(view.remoteImages, true);
  assert(view.expiresIn > 0 && view.expiresIn <= 600);

  const doc = await w.gw.app.request(view.url);
  assertEquals(doc.status, 200);
  const csp = doc.headers.get("content-security-policy")!;
  assertMatch(csp, /(^|; )sandbox allow-popups allow-popups-to-escape-sandbox(;|$)/);
  assert(!csp.includes("allow-scripts") && !csp.includes("allow-same-origin"), csp);
  assertMatch(csp, /img-src data:(;|$)/);
  assertMatch(csp, /frame-ancestors 'self'/);
  assertEquals(doc.headers.get("referrer-policy"), "no-referrer");
  assertMatch(await doc.text(), /<p style="color:red">Hi<\/p>/);

  const withImages = await w.json("POST", `/v1/messages/${id}/view?images=true`, {
    token: w.alice,
  });
  const docImages = await w.gw.app.request(withImages.url);
  assertMatch(docImages.headers.get("content-security-policy")!, /img-src data: https: http:/);

  // A plain-text message has no HTML document.
  const none = await w.json("POST", `/v1/messages/${plain}/view`, { token: w.alice });
  assertEquals([none.url, none.remoteImages], [null, false]);

  // Bob cannot mint a view of Alice's message; a tampered token shows nothing.
  await expectProblem(
    await w.call("POST", `/v1/messages/${id}/view`, { token: w.bob }),
    404,
    "not_found",
  );
  await expectProblem(await w.call("POST", `/v1/messages/${id}/view`), 401, "unauthorized");
  const [head, payload, sig] = view.url.slice("/mail/frame/".length).split(".");
  const forged = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/")));
  forged.img = true;
  const forgedPayload = btoa(JSON.stringify(forged)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
  const tampered = await w.gw.app.request(`/mail/frame/${head}.${forgedPayload}.${sig}`);
  assertEquals(tampered.status, 404);
  assert(!(await tampered.text()).includes("color:red"));
});

Deno.test("issue18#1: identities: own address first, then aliases that deliver to the account", async () => {
  await using w = await mailWorld();
  const admin = await w.gw.login(ADMIN);
  for (
    const [address, targets] of [
      [`sales@${DOMAIN}`, [ALICE.address]],
      [`team@${DOMAIN}`, [BOB.address, ALICE.address.toUpperCase()]],
      // An address that merely contains Alice's as a substring is not hers.
      [`other@${DOMAIN}`, [`x${ALICE.address}`]],
    ] as const
  ) {
    const res = await w.call("POST", "/v1/admin/aliases", {
      token: admin,
      body: { address, targets },
    });
    assertEquals(res.status, 201, await res.text());
  }
  const mine = await w.json("GET", "/v1/identities", { token: w.alice });
  assertEquals(mine.items.map((i: { address: string; kind: string }) => [i.address, i.kind]), [
    [ALICE.address, "account"],
    [`sales@${DOMAIN}`, "alias"],
    [`team@${DOMAIN}`, "alias"],
  ]);
  const bobs = await w.json("GET", "/v1/identities", { token: w.bob });
  assertEquals(bobs.items.map((i: { address: string }) => i.address), [
    BOB.address,
    `team@${DOMAIN}`,
  ]);
  // Every identity listed is accepted as From.
  for (const identity of mine.items) {
    const sent = await w.call("POST", "/v1/emails", {
      token: w.alice,
      body: { from: identity.address, to: [BOB.address], subject: "hi", text: "hi" },
    });
    assertEquals(sent.status, 201, await sent.text());
  }
  await expectProblem(await w.call("GET", "/v1/identities"), 401, "unauthorized");
});

Deno.test("issue18#1: the message view embeds cid: inline images (RFC 2392) as data: URLs", async () => {
  await using w = await mailWorld();
  const png =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==";
  const raw = new TextEncoder().encode([
    "From: Carol <carol@example.org>",
    `To: ${ALICE.address}`,
    "Subject: Logo",
    "Message-ID: <cid-test@example.org>",
    "MIME-Version: 1.0",
    'Content-Type: multipart/related; boundary="b1"',
    "",
    "--b1",
    "Content-Type: text/html; charset=utf-8",
    "",
    '<p>Our logo: <img id="logo" src="cid:logo@example.org"> and <img src="cid:missing@x"></p>',
    "--b1",
    "Content-Type: image/png",
    "Content-Transfer-Encoding: base64",
    "Content-ID: <logo@example.org>",
    "Content-Disposition: inline",
    "",
    png,
    "--b1--",
    "",
  ].join("\r\n"));
  const [first] = await deliver(w.gw.deps, {
    raw,
    mailFrom: "carol@example.org",
    recipients: [ALICE.address],
    source: "api",
  });
  const view = await w.json("POST", `/v1/messages/${first.messageId}/view`, { token: w.alice });
  const doc = await (await w.gw.app.request(view.url)).text();
  assert(doc.includes(`src="data:image/png;base64,${png}"`), doc);
  // An unknown part stays a cid: URL, which the frame's CSP does not load.
  assert(doc.includes('src="cid:missing@x"'));
  assertEquals(view.remoteImages, false);
});
