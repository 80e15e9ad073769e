/**
 * The shell's own routes: hashed static assets, `/` (to the webmail), and the sign-in page.
 * Pages of the webmail and the admin console mount beside these with the same `pageHeaders`.
 */
import { Hono } from "hono";
import { eq } from "drizzle-orm";
import type { Deps } from "../../deps.ts";
import { schema } from "../../store/store.ts";
import { assetRoutes, assetUrl } from "../asset_routes.ts";
import { pageHeaders } from "./headers.ts";
import { renderPage } from "./layout.tsx";
import { safeNext, SignInPage } from "./sign_in.tsx";

/**
 * The administrator's address while no one has ever signed in to this server (sessions are kept
 * until their account goes, so one row means someone has), else undefined.
 */
async function firstAdmin(deps: Deps): Promise<string | undefined> {
  const [someone] = await deps.store.db.select({ id: schema.sessions.id })
    .from(schema.sessions).limit(1);
  if (someone) return undefined;
  const [admin] = await deps.store.db.select({ address: schema.accounts.address })
    .from(schema.accounts).where(eq(schema.accounts.role, "admin"))
    .orderBy(schema.accounts.id).limit(1);
  return admin?.address;
}

export function shellRoutes(deps: Deps) {
  const app = new Hono();
  app.route("/", assetRoutes());
  app.get("/", (c) => c.redirect("/mail", 302));
  // Browsers ask for /favicon.ico on pages that name no icon (/docs, /openapi.json).
  app.get("/favicon.ico", (c) => c.redirect(assetUrl("icon.svg"), 301));
  app.use("/signin", pageHeaders());
  app.get("/signin", async (c) =>
    c.html(renderPage(
      <SignInPage
        next={safeNext(c.req.query("next"))}
        firstAdmin={await firstAdmin(deps)}
        cookiesRefused={c.req.query("cookies") === "refused"}
      />,
    )));
  return app;
}
