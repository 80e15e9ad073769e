/**
 * The API reference in a real browser (issue 18 item 3): Debian's chromium, driven by
 * playwright-core, opens `/docs` on a gateway listening on a real socket. Scalar must render the
 * operations and the webhook payloads from `/openapi.json`, every request must stay on the
 * gateway's origin (off-origin ones are refused and recorded), and the page's strict
 * Content-Security-Policy must not block anything the renderer does.
 */
import { chromium } from "playwright-core";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { createTestGateway } from "./fixtures/app.ts";
import { CHROMIUM, NO_BROWSER } from "./fixtures/browser.ts";

Deno.test({
  name: "issue18#3: /docs renders operations and webhooks in chromium, same-origin, no CSP report",
  ignore: NO_BROWSER,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const gw = await createTestGateway();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      gw.app.fetch,
    );
    const origin = `http://127.0.0.1:${server.addr.port}`;
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox"],
    });
    try {
      const context = await browser.newContext();
      const offOrigin: string[] = [];
      await context.route("**/*", (route) => {
        const url = route.request().url();
        if (url.startsWith(`${origin}/`) || /^(data|blob):/.test(url)) return route.continue();
        offOrigin.push(url);
        return route.abort();
      });
      const page = await context.newPage();
      const violations: string[] = [];
      page.on("console", (m) => {
        if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text());
      });
      // Runs before the page's scripts (injected by the browser, not subject to the CSP).
      await page.addInitScript({
        content: `document.addEventListener("securitypolicyviolation", (e) => {
          (globalThis.__csp ??= []).push([e.violatedDirective, e.blockedURI, e.sourceFile].join(" "));
        });`,
      });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));

      const res = await page.goto(`${origin}/docs`);
      assertEquals(res?.status(), 200);
      const csp = res!.headers()["content-security-policy"];
      assert(csp.includes("script-src 'self'") && !/unsafe-eval/.test(csp), csp);

      // The sidebar lists every tag; opening one shows its operations by summary.
      const sidebar = page.locator(".t-doc__sidebar, aside, nav").first();
      await page.getByText("Postern API", { exact: true }).first().waitFor({ timeout: 60_000 });
      await page.getByRole("button", { name: "Open Group - send" }).click();
      await page.getByText("Send a message", { exact: true }).first().waitFor();
      await page.getByRole("button", { name: "Open Group - Webhooks" }).click();
      await sidebar.getByText("email.delivered", { exact: true }).first().waitFor();
      // Opening the event shows its signed headers, its operationId and how to acknowledge it.
      await sidebar.getByText("email.delivered", { exact: true }).first().click();
      await page.getByText("webhook-signature", { exact: true }).first().waitFor();
      await page.getByText("onEmailDelivered", { exact: true }).first().waitFor();
      await page.getByText("Any 2xx acknowledges the event").first().waitFor();
      const body = await page.locator("body").innerText();
      for (const text of ["POST", "/v1/emails", "Send up to 500 messages", "email.received"]) {
        assert(body.includes(text), `the reference shows ${text}`);
      }
      const reported = await page.evaluate(() =>
        (globalThis as unknown as { __csp?: string[] }).__csp ?? []
      );
      // zod 4 (inside Scalar) probes once whether eval is allowed (`Function("")` in a try) and
      // takes its interpreter when it is not: that refusal is the CSP working, not a breakage.
      const probe = /^script-src eval \S+\/docs\/assets\/scalar\.[0-9a-f]{16}\.js$/;
      assert(reported.length <= 1 && reported.every((r: string) => probe.test(r)), reported.join());
      assertEquals(violations.filter((v) => !/eval/i.test(v)), [], "CSP violations");
      assertEquals(offOrigin, [], "requests that left the gateway's origin");
      assertEquals(errors, [], "script errors on the page");
      // Beside the web pages' screenshots (test/fixtures/browser.ts on the web-mail branch keeps
      // them in the same folder, which CI keeps as an artifact).
      const shots = Deno.env.get("POSTERN_SCREENSHOTS") ??
        decodeURIComponent(new URL("./artifacts/screenshots/", import.meta.url).pathname);
      await Deno.mkdir(shots, { recursive: true });
      await page.screenshot({ path: `${shots.replace(/\/$/, "")}/docs.png` });
      await context.close();
    } finally {
      await browser.close();
      await server.shutdown();
      gw.close();
    }
  },
});
