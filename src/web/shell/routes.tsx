/**
 * The shell's own routes: hashed static assets, `/` (to the webmail), and the sign-in page.
 * Pages of the webmail and the admin console mount beside these with the same `pageHeaders`.
 */
import { Hono } from "hono";
import { assetRoutes } from "../asset_routes.ts";
import { pageHeaders } from "./headers.ts";
import { renderPage } from "./layout.tsx";
import { safeNext, SignInPage } from "./sign_in.tsx";

export function shellRoutes() {
  const app = new Hono();
  app.route("/", assetRoutes());
  app.get("/", (c) => c.redirect("/mail", 302));
  app.use("/signin", pageHeaders());
  app.get(
    "/signin",
    (c) => c.html(renderPage(<SignInPage next={safeNext(c.req.query("next"))} />)),
  );
  return app;
}
