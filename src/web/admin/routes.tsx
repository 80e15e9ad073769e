/**
 * `/admin`: the admin console's page for an administrator or a domain administrator
 * (access.ts), a redirect to sign-in when no one is signed in, and 403 for anyone else. Served
 * with the shell's page headers (strict CSP, no-store).
 */
import { Hono } from "hono";
import type { Deps } from "../../deps.ts";
import { pageHeaders } from "../shell/headers.ts";
import { renderPage } from "../shell/layout.tsx";
import { csrfTokenOf } from "../shell/session.ts";
import { consoleAccess } from "./access.ts";
import { AdminPage, RefusedPage } from "./page.tsx";

export function adminPageRoutes(deps: Deps) {
  const app = new Hono();
  app.use("/admin", pageHeaders());
  app.get("/admin/", (c) => c.redirect("/admin", 301));
  app.get("/admin", async (c) => {
    const access = await consoleAccess(deps, c);
    if (access.kind === "signed_out") return c.redirect("/signin?next=%2Fadmin", 302);
    if (access.kind === "refused") {
      return c.html(renderPage(<RefusedPage address={access.address} />), 403);
    }
    return c.html(
      renderPage(
        <AdminPage csrf={csrfTokenOf(c)} address={access.address} site={access.kind === "site"} />,
      ),
    );
  });
  return app;
}
