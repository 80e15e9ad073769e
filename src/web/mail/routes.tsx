/**
 * The webmail's pages: `/mail` (the app, any sub-path so links survive a reload) and
 * `/mail/frame/{token}`, the sandboxed document a message's HTML body is shown in (frame.ts).
 */
import { type Context, Hono } from "hono";
import type { Deps } from "../../deps.ts";
import { pageHeaders } from "../shell/headers.ts";
import { renderPage } from "../shell/layout.tsx";
import { csrfTokenOf } from "../shell/session.ts";
import { messageFrame } from "./frame.ts";
import { MailPage } from "./page.tsx";

export function mailPages(deps: Deps) {
  const app = new Hono();
  app.get("/mail/frame/:token", (c) => messageFrame(deps, c.req.param("token")));
  // Attachment previews are blob: URLs the script makes from authenticated downloads.
  app.use("/mail/*", pageHeaders({ img: ["blob:"], frame: ["blob:"] }));
  const page = (c: Context) => c.html(renderPage(<MailPage csrf={csrfTokenOf(c)} />));
  app.get("/mail", page);
  app.get("/mail/*", page);
  return app;
}
