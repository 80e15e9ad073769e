/**
 * The sign-in page: address and password, then (when the account answers `totp_required`) a
 * one-time code or a recovery code. The form posts nothing itself; signin.js sends it to
 * `POST /v1/auth/web/login` (session.ts) and goes on to `next` (a local path only).
 */
import { Layout } from "./layout.tsx";

/** A `next` target that stays on this site: a path, never `//host` or a scheme. */
export function safeNext(next: string | undefined, fallback = "/mail"): string {
  return next && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) ? next : fallback;
}

/**
 * A server nobody has signed in to yet: the administrator's address, and where its password is
 * (init prints it once and keeps it in the data folder), so the first visitor of a fresh
 * `postern serve` can sign in without reading anything else. Gone after the first sign-in.
 */
function FirstSignIn(props: { admin: string }) {
  return (
    <div id="first-signin" class="note" role="note">
      <p>
        <strong>New server.</strong> Sign in as the administrator, <code>{props.admin}</code>.
      </p>
      <p>
        Its password was printed when the server was set up, and is kept in{" "}
        <code>admin.password</code> in the data folder (<code>data/admin.password</code>{" "}
        by default) unless <code>POSTERN_ADMIN_PASSWORD</code>{" "}
        chose it. This note goes away after the first sign-in.
      </p>
    </div>
  );
}

/** The browser dropped the session cookie right after a sign-in the server accepted. */
function CookiesRefused() {
  return (
    <div id="cookies-refused" class="error" role="alert">
      <p>
        You were signed in, but this browser did not keep the session cookie. Session cookies are
        {" "}
        <code>Secure</code>: open Postern over HTTPS, or as <code>http://127.0.0.1</code> or{" "}
        <code>http://localhost</code> on the machine it runs on.
      </p>
    </div>
  );
}

export function SignInPage(
  props: { next: string; firstAdmin?: string; cookiesRefused?: boolean },
) {
  return (
    <Layout title="Sign in · Postern" page="signin" scripts={["signin.js"]}>
      <main id="main" class="signin">
        <form id="signin" class="card" method="post" action="#" data-next={props.next} novalidate>
          <h1>Sign in</h1>
          {props.cookiesRefused ? <CookiesRefused /> : null}
          {props.firstAdmin ? <FirstSignIn admin={props.firstAdmin} /> : null}
          <p id="signin-error" class="error" role="alert" aria-live="assertive" hidden></p>
          <div id="step-password">
            <label for="address">Email address</label>
            <input id="address" name="address" type="email" autocomplete="username" required />
            <label for="password">Password</label>
            <input
              id="password"
              name="password"
              type="password"
              autocomplete="current-password"
              required
            />
          </div>
          <div id="step-totp" hidden>
            <p>This account uses two-factor sign-in.</p>
            <label for="totp">Six-digit code from your authenticator</label>
            <input
              id="totp"
              name="totp"
              inputmode="numeric"
              autocomplete="one-time-code"
              pattern="[0-9]{6}"
              maxlength={6}
            />
            <details>
              <summary>Use a recovery code instead</summary>
              <label for="recovery">Recovery code</label>
              <input id="recovery" name="recoveryCode" autocomplete="off" />
            </details>
          </div>
          <button type="submit" class="primary">Sign in</button>
        </form>
      </main>
    </Layout>
  );
}
