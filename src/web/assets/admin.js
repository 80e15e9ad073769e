// The admin console (src/web/admin/page.tsx), client side: every section is filled from the
// public JSON API with the page's bearer token (Postern.api, shell.js) — the same routes, scopes
// and problem+json errors as any other client; nothing here is a private back door. DOM is
// built with Postern.h (text, never HTML), so names, addresses and reasons cannot become markup.
(function () {
  "use strict";
  const api = Postern.api, h = Postern.h, ui = Postern.ui;
  const $ = ui.$, say = ui.say, when = ui.when, bytes = ui.bytes, table = ui.table;
  const paged = ui.paged, button = ui.button, failed = ui.failed, badge = ui.badge;
  const onSubmit = ui.onSubmit;
  const site = document.querySelector(".admin").dataset.scope === "site";
  const enc = encodeURIComponent;
  const me = document.querySelector(".topbar .who").textContent;

  // --- Domains ---

  async function loadDomains() {
    const list = await api("GET", "/v1/domains");
    $("domain-list").replaceChildren(table(
      "Domains",
      ["Domain", "Accounts", "Catch-all", "Added", ""],
      list.items.map(function (d) {
        return [
          d.name,
          String(d.accounts),
          d.catchAllAddress || "—",
          when(d.createdAt),
          button("Check DNS", function () {
            return showDomain(d.name);
          }, { aria: "Check DNS of " + d.name }),
        ];
      }),
    ));
    fillDomainSelect(list.items);
  }

  async function showDomain(name) {
    const box = $("domain-detail");
    box.replaceChildren(h("p", { class: "muted" }, "Checking the DNS of " + name + "…"));
    const d = await api("GET", "/v1/domains/" + enc(name));
    const check = d.check;
    const byName = new Map();
    (check ? check.checks : []).forEach(function (c) {
      byName.set(c.record.name + " " + c.record.type + " " + c.record.value, c);
    });
    box.replaceChildren(
      h("h2", { id: "domain-detail-h", tabindex: "-1" }, "DNS of " + d.name),
      check
        ? h(
          "p",
          { class: "verdict" },
          badge(check.verified, check.verified ? "Mail records in place" : "Needs attention"),
          " checked " + when(check.checkedAt),
        )
        : h("p", { class: "muted" }, "No live check here (the server has no DNS resolver)."),
      check && check.warnings.length
        ? h(
          "ul",
          { class: "warnings", "aria-label": "Warnings" },
          check.warnings.map(function (w) {
            return h("li", null, w);
          }),
        )
        : null,
      table(
        "Records of " + d.name,
        ["Check", "Name", "Type", "Value to publish", "Result", "Found"],
        d.records.map(function (r) {
          const c = byName.get(r.name + " " + r.type + " " + r.value);
          return [
            c ? c.kind.toUpperCase() + (c.required ? " (required)" : "") : "",
            r.name,
            r.type,
            h("code", { class: "value" }, r.value),
            c ? badge(c.pass, c.pass ? "Pass" : c.status) : "—",
            c && c.found.length ? h("code", { class: "value" }, c.found.join(" | ")) : "—",
          ];
        }),
      ),
      h(
        "details",
        null,
        h("summary", null, "MTA-STS policy to serve"),
        h("pre", null, d.mtaStsPolicy),
      ),
      // Issue 21: the domain's spam thresholds (admin_reports.js).
      await Postern.adminDomainSpam(d.name).catch(function (err) {
        return h("p", { class: "error" }, "Spam thresholds: " + err.message);
      }),
    );
    $("domain-detail-h").focus();
    say("Checked " + d.name);
  }

  onSubmit($("domain-form"), async function (data) {
    const d = await api("POST", "/v1/domains", { name: String(data.get("name")).trim() });
    $("domain-form").reset();
    await loadDomains();
    say("Added " + d.name);
    await showDomain(d.name);
  });

  // --- Accounts and aliases ---

  async function patchAccount(a, body, done) {
    await api("PATCH", "/v1/admin/accounts/" + a.id, body);
    await loadAccounts();
    say(done);
    Postern.toast(done);
  }

  function accountActions(a) {
    const quota = h("input", {
      type: "number",
      min: "0",
      id: "quota-" + a.id,
      value: String(Math.round(a.quotaBytes / 1048576)),
    });
    const password = h("input", {
      type: "password",
      id: "password-" + a.id,
      minlength: "10",
      autocomplete: "new-password",
    });
    return h(
      "div",
      { class: "actions" },
      // The API refuses to disable the signed-in account (409): no button for it.
      a.address === me ? null : button(a.disabled ? "Enable" : "Disable", function () {
        return patchAccount(
          a,
          { disabled: !a.disabled },
          (a.disabled ? "Enabled " : "Disabled ") + a.address,
        );
      }, { aria: (a.disabled ? "Enable " : "Disable ") + a.address }),
      h(
        "details",
        null,
        h("summary", null, "Quota / password"),
        h("label", { for: "quota-" + a.id }, "Quota (MB, 0 = none)"),
        quota,
        button("Set quota", function () {
          return patchAccount(
            a,
            { quotaBytes: Number(quota.value) * 1048576 },
            "Quota of " + a.address + " set",
          );
        }, { aria: "Set quota of " + a.address }),
        h("label", { for: "password-" + a.id }, "New password"),
        password,
        button("Reset password", function () {
          return patchAccount(
            a,
            { password: password.value },
            "Password of " + a.address + " reset",
          );
        }, { aria: "Reset password of " + a.address }),
      ),
    );
  }

  async function loadAccounts() {
    const aliases = await api("GET", "/v1/admin/aliases");
    await paged($("account-list"), {
      label: "Accounts",
      headers: ["Address", "Role", "Quota", "Used", "State", "Actions"],
      fetch: function (cursor) {
        return api("GET", "/v1/admin/accounts?limit=100" + (cursor ? "&cursor=" + cursor : ""));
      },
      rows: function (items) {
        return items.map(function (a) {
          return [
            a.address,
            a.role + (a.adminDomains.length ? " (admin of " + a.adminDomains.join(", ") + ")" : ""),
            a.quotaBytes ? bytes(a.quotaBytes) : "none",
            bytes(a.usedBytes),
            a.disabled ? "disabled" : "active",
            accountActions(a),
          ];
        });
      },
    });
    $("alias-list").replaceChildren(
      table(
        "Aliases",
        ["Alias", "Forwards to", ""],
        aliases.items.map(function (a) {
          return [
            a.address,
            a.targets.join(", "),
            button("Delete", async function () {
              await api("DELETE", "/v1/admin/aliases/" + a.id);
              await loadAccounts();
              say("Deleted alias " + a.address);
            }, { danger: true, aria: "Delete alias " + a.address }),
          ];
        }),
      ),
    );
  }

  onSubmit($("account-form"), async function (data) {
    const body = {
      address: String(data.get("address")).trim(),
      password: String(data.get("password")),
    };
    const quota = String(data.get("quota") || "").trim();
    if (quota) body.quotaBytes = Number(quota) * 1048576;
    const a = await api("POST", "/v1/admin/accounts", body);
    $("account-form").reset();
    await loadAccounts();
    say("Created " + a.address);
    Postern.toast("Created " + a.address);
  });

  onSubmit($("alias-form"), async function (data) {
    const targets = String(data.get("targets")).split(",").map(function (t) {
      return t.trim();
    }).filter(Boolean);
    const a = await api("POST", "/v1/admin/aliases", {
      address: String(data.get("address")).trim(),
      targets: targets,
    });
    $("alias-form").reset();
    await loadAccounts();
    say("Created alias " + a.address);
  });

  // --- Queue ---

  function queueQuery(cursor) {
    const f = new FormData($("queue-filter"));
    const q = new URLSearchParams({ limit: "50" });
    ["state", "recipient", "domain"].forEach(function (k) {
      const v = String(f.get(k) || "").trim();
      if (v) q.set(k, v);
    });
    if (cursor) q.set("cursor", cursor);
    return "/v1/queue?" + q;
  }

  async function queueAct(e, verb) {
    const done = await api("POST", "/v1/queue/" + e.id + "/" + verb);
    const text = verb === "retry"
      ? "Entry " + done.id + " to " + done.recipient + " is due now"
      : "Entry " + done.id + " to " + done.recipient + " cancelled";
    await loadQueue();
    say(text);
    Postern.toast(text);
  }

  function queueRows(items) {
    return items.map(function (e) {
      const waiting = e.state === "queued" || e.state === "deferred";
      return [
        String(e.id),
        h("span", { class: "state state-" + e.state }, e.state),
        e.recipient,
        e.mailFrom || "<>",
        String(e.attempts),
        when(e.nextAttemptAt),
        e.lastError || "—",
        waiting
          ? h(
            "div",
            { class: "actions" },
            button("Retry now", function () {
              return queueAct(e, "retry");
            }, { aria: "Retry entry " + e.id + " now" }),
            button("Cancel", function () {
              return queueAct(e, "cancel");
            }, { danger: true, aria: "Cancel entry " + e.id }),
          )
          : "",
      ];
    });
  }

  const QUEUE_HEAD = [
    "ID",
    "State",
    "Recipient",
    "From",
    "Attempts",
    "Next attempt",
    "Last failure",
    "",
  ];

  function loadQueue() {
    return paged($("queue-list"), {
      label: "Queue",
      headers: QUEUE_HEAD,
      empty: "The queue holds nothing that matches.",
      fetch: function (cursor) {
        return api("GET", queueQuery(cursor));
      },
      rows: queueRows,
    });
  }

  $("queue-filter").addEventListener("submit", function (e) {
    e.preventDefault();
    loadQueue().catch(failed);
  });

  // --- Suppressions ---

  function fillDomainSelect(domains) {
    const select = $("suppression-domain");
    const current = select.value;
    select.replaceChildren.apply(
      select,
      domains.map(function (d) {
        return h("option", { value: d.name, selected: d.name === current }, d.name);
      }),
    );
  }

  async function loadSuppressions() {
    if ($("suppression-domain").options.length === 0) {
      fillDomainSelect((await api("GET", "/v1/domains")).items);
    }
    const domain = $("suppression-domain").value;
    if (!domain) return;
    const list = await api("GET", "/v1/domains/" + enc(domain) + "/suppressions?limit=500");
    $("suppression-list").replaceChildren(table(
      "Suppressions of " + domain,
      ["Address", "Reason", "Code", "Detail", "Since", ""],
      list.suppressions.map(function (s) {
        return [
          s.address,
          s.reason,
          s.code || "—",
          s.detail || "—",
          when(s.createdAt),
          button("Lift", async function () {
            await api("DELETE", "/v1/domains/" + enc(domain) + "/suppressions/" + enc(s.address));
            await loadSuppressions();
            say("Lifted the suppression of " + s.address);
            Postern.toast("Lifted " + s.address);
          }, { aria: "Lift the suppression of " + s.address }),
        ];
      }),
      "No suppressed addresses for " + domain + ".",
    ));
  }

  $("suppression-domain").addEventListener("change", function () {
    loadSuppressions().catch(failed);
  });

  // --- API keys ---

  async function loadKeys() {
    const list = await api("GET", "/v1/api-keys");
    $("key-list").replaceChildren(
      table(
        "API keys",
        ["Name", "Key", "Scopes", "Last used", "State", ""],
        list.items.map(function (k) {
          return [
            k.name,
            h("code", null, k.prefix + "…"),
            k.scopes.join(", "),
            when(k.lastUsedAt),
            k.revokedAt ? "revoked " + when(k.revokedAt) : "active",
            k.revokedAt ? "" : button("Revoke", async function () {
              await api("DELETE", "/v1/api-keys/" + k.id);
              $("key-secret").replaceChildren();
              await loadKeys();
              say("Revoked key " + k.name);
              Postern.toast("Revoked " + k.name);
            }, { danger: true, aria: "Revoke key " + k.name }),
          ];
        }),
      ),
    );
  }

  onSubmit($("key-form"), async function (data) {
    const k = await api("POST", "/v1/api-keys", {
      name: String(data.get("name")).trim(),
      scopes: data.getAll("scopes").map(String),
    });
    $("key-form").reset();
    $("key-secret").replaceChildren(
      h(
        "div",
        { class: "card secret" },
        h("p", null, "Copy the key “" + k.name + "” now: it is not shown again."),
        h("code", { id: "new-key" }, k.key),
      ),
    );
    await loadKeys();
    say("Created key " + k.name);
  });

  // --- Webhooks ---

  async function showDeliveries(hook) {
    const list = await api("GET", "/v1/webhooks/" + hook.id + "/deliveries?limit=100");
    $("webhook-deliveries").replaceChildren(
      h("h2", null, "Deliveries to " + hook.url),
      table(
        "Deliveries",
        ["Event", "Type", "State", "Attempts", "Last answer", "Last error", "Created", ""],
        list.deliveries.map(function (d) {
          return [
            h("code", null, d.eventId),
            d.eventType,
            d.state,
            String(d.attempts),
            d.lastStatus === null ? "—" : String(d.lastStatus),
            d.lastError || "—",
            when(d.createdAt),
            button("Replay", async function () {
              await api("POST", "/v1/webhooks/" + hook.id + "/deliveries/" + d.id + "/replay");
              await showDeliveries(hook);
              say("Delivery " + d.eventId + " queued again");
            }, { aria: "Replay delivery " + d.eventId }),
          ];
        }),
        "No deliveries yet.",
      ),
    );
  }

  async function loadWebhooks() {
    const list = await api("GET", "/v1/webhooks");
    $("webhook-list").replaceChildren(table(
      "Webhooks",
      ["Endpoint", "Events", "State", ""],
      list.webhooks.map(function (w) {
        return [
          w.url,
          w.events.length ? w.events.join(", ") : "all",
          w.active ? "active" : "off",
          h(
            "div",
            { class: "actions" },
            button("Delivery log", function () {
              return showDeliveries(w);
            }, { aria: "Delivery log of " + w.url }),
            button("Remove", async function () {
              await api("DELETE", "/v1/webhooks/" + w.id);
              $("webhook-deliveries").replaceChildren();
              await loadWebhooks();
              say("Removed the endpoint " + w.url);
            }, { danger: true, aria: "Remove the endpoint " + w.url }),
          ),
        ];
      }),
      "No webhook endpoints yet.",
    ));
  }

  onSubmit($("webhook-form"), async function (data) {
    const events = String(data.get("events") || "").split(",").map(function (e) {
      return e.trim();
    }).filter(Boolean);
    const made = await api("POST", "/v1/webhooks", {
      url: String(data.get("url")).trim(),
      events: events,
    });
    $("webhook-form").reset();
    $("webhook-secret").replaceChildren(h(
      "div",
      { class: "card secret" },
      h(
        "p",
        null,
        "Copy the signing secret of " + made.webhook.url + " now: it is not shown again.",
      ),
      h("code", { id: "new-webhook-secret" }, made.secret),
    ));
    await loadWebhooks();
    say("Added the endpoint " + made.webhook.url);
  });

  // --- Audit log ---

  function loadAudit() {
    return paged($("audit-list"), {
      label: "Audit log",
      headers: ["When", "Actor", "Action", "Target", "Details", "From"],
      fetch: function (cursor) {
        return api("GET", "/v1/admin/audit?limit=100" + (cursor ? "&cursor=" + cursor : ""));
      },
      rows: function (items) {
        return items.map(function (a) {
          return [
            when(a.createdAt),
            a.actorAccountId === null ? "system" : "#" + a.actorAccountId,
            a.action,
            a.target,
            h("code", null, JSON.stringify(a.data)),
            a.ip || "—",
          ];
        });
      },
    });
  }

  // --- Sections ---

  const LOADERS = {
    domains: loadDomains,
    accounts: loadAccounts,
    queue: loadQueue,
    suppressions: loadSuppressions,
    keys: loadKeys,
    webhooks: loadWebhooks,
    audit: loadAudit,
    stats: Postern.adminStats,
    reports: Postern.adminReports,
  };

  // `moved`: the user picked another section, so focus goes to its heading (screen readers
  // announce where they are; keyboard users continue from there). Not on the first load.
  async function show(moved) {
    let id = location.hash.slice(1);
    if (!LOADERS[id] || !$(id) || (id === "audit" && !site)) id = "domains";
    document.querySelectorAll("main > section").forEach(function (s) {
      s.hidden = s.id !== id;
    });
    document.querySelectorAll(".admin-nav a").forEach(function (a) {
      if (a.dataset.section === id) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
    say("");
    delete document.body.dataset.ready;
    try {
      await LOADERS[id]();
    } catch (err) {
      failed(err);
    }
    document.body.dataset.ready = id;
    if (moved === true) {
      const heading = $(id).querySelector("h1");
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  }

  addEventListener("hashchange", function () {
    show(true);
  });
  show(false);
})();
