/**
 * The admin console's page (`/admin`): the shell's layout with a section per task — domains and
 * their DNS checks, accounts and aliases, the outbound queue, suppressions, API keys, webhooks,
 * the audit log and statistics. The server renders the landmarks, headings and labelled forms;
 * admin.js fills them from the JSON API (the same routes any client uses), with the building
 * blocks of admin_ui.js, and admin_stats.js draws the charts (admin_charts.js). A domain
 * administrator gets the same page without the server-wide parts.
 */
import { Layout } from "../shell/layout.tsx";

export const SECTIONS = [
  ["domains", "Domains"],
  ["accounts", "Accounts"],
  ["queue", "Queue"],
  ["suppressions", "Suppressions"],
  ["keys", "API keys"],
  ["webhooks", "Webhooks"],
  ["audit", "Audit log"],
  ["stats", "Statistics"],
  ["reports", "Reports"],
] as const;

const SITE_ONLY = new Set(["audit"]);

function Field(
  props: {
    id: string;
    label: string;
    type?: string;
    required?: boolean;
    hint?: string;
    autocomplete?: string;
  },
) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        name={props.id.split("-").pop()}
        type={props.type ?? "text"}
        required={props.required}
        autocomplete={props.autocomplete}
        aria-describedby={props.hint ? `${props.id}-hint` : undefined}
      />
      {props.hint ? <small id={`${props.id}-hint`}>{props.hint}</small> : null}
    </div>
  );
}

export function AdminPage(props: { csrf: string; address: string; site: boolean }) {
  const sections = SECTIONS.filter(([id]) => props.site || !SITE_ONLY.has(id));
  return (
    <Layout
      title="Admin · Postern"
      page="admin"
      csrf={props.csrf}
      scripts={[
        "admin_charts.js",
        "admin_ui.js",
        "admin_stats.js",
        "admin_reports.js",
        "admin.js",
      ]}
      styles={["admin.css"]}
      header={
        <>
          <span class="spacer"></span>
          <a class="button" href="/mail">Mail</a>
          <a class="button" href="/docs">API reference</a>
          <span class="who">{props.address}</span>
          <button type="button" data-action="sign-out">Sign out</button>
        </>
      }
    >
      <div class="admin" data-scope={props.site ? "site" : "domain"}>
        <nav class="admin-nav" aria-label="Admin sections">
          <ul>
            {sections.map(([id, label]) => (
              <li key={id}>
                <a href={`#${id}`} data-section={id}>{label}</a>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabindex={-1}>
          <p id="admin-status" class="status" role="status" aria-live="polite"></p>

          <section id="domains" aria-labelledby="domains-h" hidden>
            <h1 id="domains-h">Domains</h1>
            {props.site
              ? (
                <form id="domain-form" class="inline-form">
                  <Field id="domain-name" label="New domain" required />
                  <button type="submit" class="primary">Add domain</button>
                </form>
              )
              : null}
            <div id="domain-list"></div>
            <div id="domain-detail"></div>
          </section>

          <section id="accounts" aria-labelledby="accounts-h" hidden>
            <h1 id="accounts-h">Accounts</h1>
            <form id="account-form" class="inline-form">
              <Field
                id="account-address"
                label="Address"
                type="email"
                required
                autocomplete="off"
              />
              <Field
                id="account-password"
                label="Password"
                type="password"
                required
                autocomplete="new-password"
                hint="10 characters at least."
              />
              <Field id="account-quota" label="Quota (MB, 0 = none)" type="number" />
              <button type="submit" class="primary">Create account</button>
            </form>
            <div id="account-list"></div>
            <h2>Aliases</h2>
            <form id="alias-form" class="inline-form">
              <Field id="alias-address" label="Alias address" required />
              <Field id="alias-targets" label="Forward to (comma-separated)" required />
              <button type="submit">Create alias</button>
            </form>
            <div id="alias-list"></div>
          </section>

          <section id="queue" aria-labelledby="queue-h" hidden>
            <h1 id="queue-h">Outbound queue</h1>
            <form id="queue-filter" class="inline-form" role="search">
              <div class="field">
                <label for="queue-state">State</label>
                <select id="queue-state" name="state">
                  <option value="">any</option>
                  {["queued", "deferred", "sending", "sent", "bounced", "failed", "cancelled"]
                    .map((s) => <option key={s} value={s}>{s}</option>)}
                </select>
              </div>
              <Field id="queue-recipient" label="Recipient" />
              <Field id="queue-domain" label="Recipient domain" />
              <button type="submit">Filter</button>
            </form>
            <div id="queue-list"></div>
          </section>

          <section id="suppressions" aria-labelledby="suppressions-h" hidden>
            <h1 id="suppressions-h">Suppressions</h1>
            <form id="suppression-filter" class="inline-form">
              <div class="field">
                <label for="suppression-domain">Domain</label>
                <select id="suppression-domain" name="domain"></select>
              </div>
            </form>
            <div id="suppression-list"></div>
          </section>

          <section id="keys" aria-labelledby="keys-h" hidden>
            <h1 id="keys-h">API keys</h1>
            <p class="muted">Your own keys. A new key's secret is shown once.</p>
            <form id="key-form" class="inline-form">
              <Field id="key-name" label="Key name" required />
              <fieldset>
                <legend>Scopes</legend>
                {["send", "read", "admin"].map((s) => (
                  <label key={s} class="check">
                    <input type="checkbox" name="scopes" value={s} checked={s === "send"} /> {s}
                  </label>
                ))}
              </fieldset>
              <button type="submit" class="primary">Create key</button>
            </form>
            <div id="key-secret" role="alert"></div>
            <div id="key-list"></div>
          </section>

          <section id="webhooks" aria-labelledby="webhooks-h" hidden>
            <h1 id="webhooks-h">Webhooks</h1>
            <p class="muted">Your own endpoints, each with its delivery log.</p>
            <form id="webhook-form" class="inline-form">
              <Field id="webhook-url" label="Endpoint URL" type="url" required />
              <Field
                id="webhook-events"
                label="Events (comma-separated)"
                hint="Empty: every event, e.g. email.delivered, email.bounced, email.received."
              />
              <button type="submit" class="primary">Add endpoint</button>
            </form>
            <div id="webhook-secret" role="alert"></div>
            <div id="webhook-list"></div>
            <div id="webhook-deliveries"></div>
          </section>

          {props.site
            ? (
              <section id="audit" aria-labelledby="audit-h" hidden>
                <h1 id="audit-h">Audit log</h1>
                <div id="audit-list"></div>
              </section>
            )
            : null}

          <section id="stats" aria-labelledby="stats-h" hidden>
            <h1 id="stats-h">Statistics</h1>
            <div id="stats-charts"></div>
          </section>

          <section id="reports" aria-labelledby="reports-h" hidden>
            <h1 id="reports-h">Reports</h1>
            <p class="muted">
              DMARC aggregate and TLS reports other mail servers sent about your domains.
            </p>
            <form id="report-form" class="inline-form">
              <div class="field">
                <label for="report-kind">Kind</label>
                <select id="report-kind" name="kind">
                  <option value="dmarc">DMARC (RFC 7489)</option>
                  <option value="tls">TLS (RFC 8460)</option>
                </select>
              </div>
              <div class="field">
                <label for="report-domain">Domain</label>
                <select id="report-domain" name="domain"></select>
              </div>
              <button type="submit">Show reports</button>
            </form>
            <div id="report-list"></div>
          </section>
        </main>
      </div>
    </Layout>
  );
}

export function RefusedPage(props: { address: string }) {
  return (
    <Layout title="Not allowed · Postern" page="admin-refused">
      <main id="main" class="signin">
        <div class="card">
          <h1>Administrators only</h1>
          <p>
            {props.address}{" "}
            is signed in, but the admin console is for administrators and domain administrators.
          </p>
          <p>
            <a href="/mail">Go to your mail</a>
          </p>
        </div>
      </main>
    </Layout>
  );
}
