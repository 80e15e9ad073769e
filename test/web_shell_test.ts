/**
 * The web shell over HTTP (no browser): the page headers (strict CSP, nosniff, framing), hashed
 * assets, and the browser session contract of src/web/shell/session.ts — the refresh token only
 * in an HttpOnly cookie, refresh refused without the CSRF header or from another site, sign-out
 * and "sign out everywhere". The same flows in a real browser are in web_mail_test.ts.
 */
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import { ALICE, createTestGateway, expectProblem } from "./fixtures/app.ts";

const ORIGIN = "http://localhost";
const sameOrigin = { origin: ORIGIN, "sec-fetch-site": "same-origin" };

function cookiesOf(res: Response): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const eq = pair.indexOf("=");
    out.set(pair.slice(0, eq), line);
  }
  return out;
}

const valueOf = (line: string) => line.split(";")[0].split("=").slice(1).join("=");

Deno.test("issue18#4: pages carry a strict CSP and assets are hashed and cached", async () => {
  const gw = await createTestGateway();
  try {
    const res = await gw.app.request("/signin?next=//evil.example/x");
    assertEquals(res.status, 200);
    const csp = res.headers.get("content-security-policy")!;
    assertMatch(csp, /default-src 'none'/);
    assertMatch(csp, /script-src 'self'(;|$)/);
    assertMatch(csp, /style-src 'self'(;|$)/);
    assertMatch(csp, /frame-ancestors 'none'/);
    assert(!csp.includes("unsafe-inline") && !csp.includes("unsafe-eval"), csp);
    assertEquals(res.headers.get("x-content-type-options"), "nosniff");
    assertEquals(res.headers.get("referrer-policy"), "no-referrer");
    const html = await res.text();
    // No inline script or style: every <script> has a src, no style attributes or blocks.
    assert(!/<script(?![^>]*\bsrc=)[^>]*>/.test(html), "inline script");
    assert(!/<style|\sstyle=/.test(html), "inline style");
    // An open redirect through `next` is refused: only local paths.
    assertMatch(html, /data-next="\/mail"/);

    const src = html.match(/src="(\/assets\/shell\.[0-9a-f]{12}\.js)"/)![1];
    const asset = await gw.app.request(src);
    assertEquals(asset.status, 200);
    assertEquals(asset.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assertMatch(asset.headers.get("content-type")!, /^text\/javascript/);
    assertEquals(
      (await gw.app.request(src, { headers: { "if-none-match": asset.headers.get("etag")! } }))
        .status,
      304,
    );
    assertEquals((await gw.app.request("/assets/shell.000000000000.js")).status, 404);
    // gzip when the browser takes it: the same text in fewer bytes.
    const zipped = await gw.app.request(src, { headers: { "accept-encoding": "gzip" } });
    assertEquals(zipped.headers.get("content-encoding"), "gzip");
    const gz = new Uint8Array(await zipped.arrayBuffer());
    const plain = await (await gw.app.request(src)).text();
    assert(gz.byteLength < plain.length / 2, `${gz.byteLength} of ${plain.length}`);
    const unzipped = new Response(
      new Blob([gz]).stream().pipeThrough(
        new DecompressionStream("gzip"),
      ),
    );
    assertEquals(await unzipped.text(), plain);
    // Pages that name no icon (/docs) get the same one, not a 404, for /favicon.ico.
    const favicon = await gw.app.request("/favicon.ico");
    assertEquals(favicon.status, 301);
    assertMatch(favicon.headers.get("location")!, /^\/assets\/icon\.[0-9a-f]{12}\.svg$/);
    assertEquals((await gw.app.request(favicon.headers.get("location")!)).status, 200);
  } finally {
    gw.close();
  }
});

Deno.test("issue18#4: browser session: HttpOnly cookies, CSRF-checked refresh, sign out everywhere", async () => {
  const gw = await createTestGateway();
  try {
    const post = (path: string, headers: Record<string, string>, body?: unknown) =>
      gw.app.request(`${ORIGIN}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });

    // Another site's page cannot sign in on the user's behalf (login CSRF).
    await expectProblem(
      await post("/v1/auth/web/login", {
        origin: "https://evil.example",
        "sec-fetch-site": "cross-site",
      }, ALICE),
      403,
      "cross_site",
    );
    const login = await post("/v1/auth/web/login", sameOrigin, ALICE);
    assertEquals(login.status, 200);
    const body = await login.json();
    assertEquals(body.refreshToken, undefined);
    assertMatch(body.accessToken, /^ey/);
    const cookies = cookiesOf(login);
    const rt = cookies.get("__Host-postern-rt")!;
    const csrf = cookies.get("__Host-postern-csrf")!;
    for (const line of [rt, csrf]) {
      assertMatch(line, /; Path=\/;/);
      assertMatch(line, /; HttpOnly/);
      assertMatch(line, /; Secure/);
      assertMatch(line, /; SameSite=Strict/);
      assert(!/Domain=/i.test(line));
    }
    assertEquals(valueOf(csrf), body.csrfToken);
    const cookie = `__Host-postern-rt=${valueOf(rt)}; __Host-postern-csrf=${valueOf(csrf)}`;

    // The access token works on the JSON API like any other.
    const me = await gw.call("GET", "/v1/auth/me", { token: body.accessToken });
    assertEquals(me.status, 200);

    // Refresh: refused without the CSRF header, with a wrong one, and from another site.
    await expectProblem(
      await post("/v1/auth/web/refresh", { ...sameOrigin, cookie }),
      403,
      "csrf_failed",
    );
    await expectProblem(
      await post("/v1/auth/web/refresh", {
        ...sameOrigin,
        cookie,
        "x-postern-csrf": "x".repeat(32),
      }),
      403,
      "csrf_failed",
    );
    await expectProblem(
      await post("/v1/auth/web/refresh", {
        cookie,
        "x-postern-csrf": body.csrfToken,
        origin: "https://evil.example",
      }),
      403,
      "cross_site",
    );
    // No cookie: not signed in.
    await expectProblem(
      await post("/v1/auth/web/refresh", {
        ...sameOrigin,
        cookie: `__Host-postern-csrf=${body.csrfToken}`,
        "x-postern-csrf": body.csrfToken,
      }),
      401,
      "token_invalid",
    );
    const refreshed = await post("/v1/auth/web/refresh", {
      ...sameOrigin,
      cookie,
      "x-postern-csrf": body.csrfToken,
    });
    assertEquals(refreshed.status, 200);
    const rotated = valueOf(cookiesOf(refreshed).get("__Host-postern-rt")!);
    assert(rotated !== valueOf(rt), "the refresh token rotates");
    // The old refresh cookie is spent.
    await expectProblem(
      await post("/v1/auth/web/refresh", {
        ...sameOrigin,
        cookie,
        "x-postern-csrf": body.csrfToken,
      }),
      401,
      "token_invalid",
    );
    const access = (await refreshed.json()).accessToken;

    // A second session (another device), then "sign out everywhere" from this one.
    const other = await gw.login(ALICE);
    const ended = await gw.call("DELETE", "/v1/auth/sessions", { token: access });
    assertEquals(ended.status, 200);
    assert((await ended.json()).ended >= 2);
    assertEquals((await gw.call("GET", "/v1/auth/me", { token: other })).status, 401);
    assertEquals((await gw.call("GET", "/v1/auth/me", { token: access })).status, 401);
    const newCookie = `__Host-postern-rt=${rotated}; __Host-postern-csrf=${body.csrfToken}`;
    await expectProblem(
      await post("/v1/auth/web/refresh", {
        ...sameOrigin,
        cookie: newCookie,
        "x-postern-csrf": body.csrfToken,
      }),
      401,
      "token_invalid",
    );
  } finally {
    gw.close();
  }
});

Deno.test("issue18#4: web sign-out (CSRF + cookie, no bearer) ends the session and clears both cookies", async () => {
  const gw = await createTestGateway();
  try {
    const login = await gw.app.request(`${ORIGIN}/v1/auth/web/login`, {
      method: "POST",
      headers: { "content-type": "application/json", ...sameOrigin },
      body: JSON.stringify(ALICE),
    });
    const { accessToken, csrfToken } = await login.json();
    const rt = valueOf(cookiesOf(login).get("__Host-postern-rt")!);
    // The cookies alone, no bearer token: a page whose access token has expired can sign out.
    const cookie = `__Host-postern-rt=${rt}; __Host-postern-csrf=${csrfToken}`;
    const headers = { ...sameOrigin, cookie };
    await expectProblem(
      await gw.app.request(`${ORIGIN}/v1/auth/web/logout`, { method: "POST", headers }),
      403,
      "csrf_failed",
    );
    const out = await gw.app.request(`${ORIGIN}/v1/auth/web/logout`, {
      method: "POST",
      headers: { ...headers, "x-postern-csrf": csrfToken },
    });
    assertEquals(out.status, 204);
    const cleared = cookiesOf(out);
    assertMatch(cleared.get("__Host-postern-rt")!, /Max-Age=0/);
    assertMatch(cleared.get("__Host-postern-csrf")!, /Max-Age=0/);
    assertEquals((await gw.call("GET", "/v1/auth/me", { token: accessToken })).status, 401);
    // The refresh token is spent too.
    await expectProblem(
      await gw.app.request(`${ORIGIN}/v1/auth/web/refresh`, {
        method: "POST",
        headers: { ...headers, "x-postern-csrf": csrfToken },
      }),
      401,
      "token_invalid",
    );
  } finally {
    gw.close();
  }
});

Deno.test("issue18 done-means: a server nobody signed in to yet says at /signin who the admin is and where its password is; the note goes after the first sign-in", async () => {
  const gw = await createTestGateway();
  try {
    const fresh = await (await gw.app.request("/signin")).text();
    assertMatch(fresh, /id="first-signin"/);
    assertMatch(fresh, /<code>admin@postern\.test<\/code>/);
    assertMatch(fresh, /data\/admin\.password/);
    await gw.login(ALICE);
    const after = await (await gw.app.request("/signin")).text();
    assert(!after.includes("first-signin"), "the note is gone");
    assert(!after.includes("admin@postern.test"), "the admin's address is not shown any more");
  } finally {
    gw.close();
  }
});
