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

export function SignInPage(props: { next: string }) {
  return (
    <Layout title="Sign in · Postern" page="signin" scripts={["signin.js"]}>
      <main id="main" class="signin">
        <form id="signin" class="card" method="post" action="#" data-next={props.next} novalidate>
          <h1>Sign in</h1>
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
