/**
 * The webmail's pages: `/mail` (the app, and its folder, search and message paths, so links survive a reload) and
 * `/mail/frame/{token}`, the sandboxed document a message's HTML body is shown in (frame.ts).
 */
import { type Context, Hono } from "hono";
import type { Deps } from "../../deps.ts";
import { pageHeaders } from "../shell/headers.ts";
import { renderPage } from "../shell/layout.tsx";
import { csrfTokenOf } from "../shell/session.ts";
import { messageFrame } from "./frame.ts";
import { MailPage } from "./page.tsx";

/** The app's own paths only: `/mail/config-v1.1.xml` and the like belong to other routes. */
const PAGES = [
  "/mail",
  "/mail/search",
  "/mail/:mailbox{[0-9]+}",
  "/mail/:mailbox{[0-9]+|search}/:message{[0-9]+}",
];

export function mailPages(deps: Deps) {
  const app = new Hono();
  app.get("/mail/frame/:token", (c) => messageFrame(deps, c.req.param("token")));
  // Attachment previews are blob: URLs the script makes from authenticated downloads.
  const headers = pageHeaders({ img: ["blob:"], frame: ["blob:"] });
  const page = (c: Context) => c.html(renderPage(<MailPage csrf={csrfTokenOf(c)} />));
  for (const path of PAGES) app.get(path, headers, page);
  return app;
}
