/**
 * The page shell every gateway page renders into: landmarks (header, nav, main), a skip link,
 * the viewport for phones, the shared stylesheet and script from /assets (hashed URLs, no inline
 * code, so the strict CSP of headers.ts holds), and the CSRF token for the session script.
 */
import type { Child } from "hono/jsx";
import { assetUrl } from "../asset_routes.ts";

export interface LayoutProps {
  title: string;
  /** The page's own scripts and styles (asset names), after shell.js/shell.css. */
  scripts?: string[];
  styles?: string[];
  /** The CSRF token of session.ts; empty on signed-out pages. */
  csrf?: string;
  /** `data-page` on <body>, for the page script to find its role. */
  page: string;
  /** Header content beside the product name (e.g. the account menu). */
  header?: Child;
  children?: Child;
}

export function Layout(props: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <meta name="postern-csrf" content={props.csrf ?? ""} />
        <title>{props.title}</title>
        <link rel="icon" href={assetUrl("icon.svg")} type="image/svg+xml" />
        <link rel="stylesheet" href={assetUrl("shell.css")} />
        {(props.styles ?? []).map((s) => <link key={s} rel="stylesheet" href={assetUrl(s)} />)}
        <script src={assetUrl("shell.js")} defer></script>
        {(props.scripts ?? []).map((s) => <script key={s} src={assetUrl(s)} defer></script>)}
      </head>
      <body data-page={props.page}>
        <a class="skip" href="#main">Skip to content</a>
        <header class="topbar" role="banner">
          <a class="brand" href="/">Postern</a>
          {props.header}
        </header>
        {props.children}
      </body>
    </html>
  );
}

/** Renders a page to a full HTML document string. */
export function renderPage(node: unknown): string {
  return "<!doctype html>" + String(node);
}
