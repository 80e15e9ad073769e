// The admin console's issue 21 parts: the Reports section (DMARC aggregate and TLS reports other
// servers sent about our domains, GET /v1/admin/reports/{dmarc,tls}, one domain at a time, each
// report opening to its rows) and a domain's spam thresholds in the domain view
// (GET/PUT /v1/domains/{domain}/spam), whose refusals show the API's message by the field.
(function () {
  "use strict";
  const api = Postern.api, h = Postern.h, ui = Postern.ui;
  const $ = ui.$, say = ui.say, when = ui.when, table = ui.table;
  const enc = encodeURIComponent;

  // --- Reports ---

  function dmarcDetail(r) {
    const p = r.data.policy || {};
    return h(
      "details",
      null,
      h("summary", null, "Rows of the report from " + r.orgName + " (" + r.reportId + ")"),
      h(
        "p",
        { class: "muted" },
        "Published policy: p=" + p.p + ", sp=" + p.sp + ", adkim=" + p.adkim + ", aspf=" +
          p.aspf + ", pct=" + p.pct,
      ),
      table(
        "Rows of " + r.reportId,
        ["Source IP", "Messages", "Header From", "Disposition", "DKIM", "SPF", "Results"],
        (r.data.rows || []).map(function (row) {
          return [
            row.sourceIp,
            String(row.count),
            row.headerFrom,
            row.disposition,
            ui.badge(row.dkim === "pass", row.dkim),
            ui.badge(row.spf === "pass", row.spf),
            (row.dkimResults || []).map(function (d) {
              return "dkim " + d.domain + (d.selector ? "/" + d.selector : "") + " " + d.result;
            }).concat((row.spfResults || []).map(function (s) {
              return "spf " + s.domain + " " + s.result;
            })).join("; "),
          ];
        }),
      ),
    );
  }

  function tlsDetail(r) {
    return h(
      "details",
      null,
      h("summary", null, "Policies of the report from " + r.orgName + " (" + r.reportId + ")"),
      table(
        "Policies of " + r.reportId,
        ["Policy", "MX hosts", "Successful", "Failed", "Failures"],
        (r.data.policies || []).map(function (p) {
          return [
            p.policyType,
            (p.mxHost || []).join(", ") || "—",
            String(p.successful),
            String(p.failed),
            (p.failureDetails || []).map(function (d) {
              return d.resultType + " × " + d.count +
                (d.receivingMx ? " (" + d.receivingMx + ")" : "");
            }).join("; ") || "—",
          ];
        }),
      ),
    );
  }

  async function showReports() {
    const kind = $("report-kind").value, domain = $("report-domain").value;
    const label = kind === "tls" ? "TLS reports" : "DMARC reports";
    const list = await api(
      "GET",
      "/v1/admin/reports/" + kind + (domain ? "?domain=" + enc(domain) : ""),
    );
    const box = $("report-list");
    box.replaceChildren(
      h("h2", null, label + (domain ? " about " + domain : "")),
      table(
        label,
        [
          "Domain",
          "From",
          "Interval",
          kind === "tls" ? "Sessions" : "Messages",
          "Failed",
          "Received",
        ],
        list.items.map(function (r) {
          return [
            r.domain,
            r.orgName,
            when(r.begin) + " – " + when(r.end),
            String(r.total),
            ui.badge(r.failed === 0, String(r.failed)),
            when(r.receivedAt),
          ];
        }),
        "No " + label + " received yet.",
      ),
      h(
        "div",
        { class: "report-details" },
        list.items.map(function (r) {
          return kind === "tls" ? tlsDetail(r) : dmarcDetail(r);
        }),
      ),
    );
    say(list.items.length + " " + label);
  }

  async function loadReports() {
    const select = $("report-domain");
    if (!select.options.length) {
      const domains = await api("GET", "/v1/domains");
      select.replaceChildren(
        h("option", { value: "" }, "All my domains"),
        domains.items.map(function (d) {
          return h("option", { value: d.name }, d.name);
        }),
      );
    }
    await showReports();
  }

  ui.onSubmit($("report-form"), showReports);

  // --- A domain's spam thresholds ---

  // The form beside a domain's DNS view. A field left empty inherits the server's setting.
  async function domainSpam(name) {
    const s = await api("GET", "/v1/domains/" + enc(name) + "/spam");
    const fields = [
      ["enabled", "Spam filtering", null],
      ["junkScore", "Move to Junk from score", "number"],
      ["rejectScore", "Refuse at DATA from score", "number"],
    ];
    const errors = {};
    const controls = {};
    const parts = fields.map(function (f) {
      const id = "dspam-" + f[0];
      errors[f[0]] = h("small", { id: id + "-error", class: "field-error", role: "alert" });
      controls[f[0]] = f[2]
        ? h("input", {
          id: id,
          type: "number",
          step: "0.5",
          value: s.own[f[0]] === null ? "" : String(s.own[f[0]]),
          "aria-describedby": id + "-error",
        })
        : h(
          "select",
          { id: id, "aria-describedby": id + "-error" },
          [["", "Server default"], ["true", "On"], ["false", "Off"]].map(function (o) {
            return h("option", {
              value: o[0],
              selected: String(s.own.enabled === null ? "" : s.own.enabled) === o[0],
            }, o[1]);
          }),
        );
      return h(
        "div",
        { class: "field" },
        h("label", { for: id }, f[1]),
        controls[f[0]],
        errors[f[0]],
      );
    });
    const effective = h("p", { class: "muted", id: "dspam-effective" });
    const show = function (e) {
      effective.textContent = "In force for " + name + ": " + (e.enabled ? "on" : "off") +
        ", Junk at " + e.junkScore + ", refused at " + e.rejectScore +
        " (accounts may set their own).";
    };
    show(s.effective);
    const form = h(
      "form",
      { class: "inline-form", id: "domain-spam-form", novalidate: true },
      parts,
      h("button", { type: "submit" }, "Save spam thresholds"),
    );
    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      Object.keys(errors).forEach(function (k) {
        errors[k].textContent = "";
        controls[k].removeAttribute("aria-invalid");
      });
      const num = function (c) {
        return c.value === "" ? null : Number(c.value);
      };
      try {
        const saved = await api("PUT", "/v1/domains/" + enc(name) + "/spam", {
          enabled: controls.enabled.value === "" ? null : controls.enabled.value === "true",
          junkScore: num(controls.junkScore),
          rejectScore: num(controls.rejectScore),
        });
        show(saved.effective);
        say("Saved the spam thresholds of " + name);
      } catch (err) {
        const list = (err.body && err.body.errors) || [];
        let placed = false;
        list.forEach(function (x) {
          const key = String(x.path || "").split(".")[0];
          if (errors[key]) {
            errors[key].textContent = x.message;
            controls[key].setAttribute("aria-invalid", "true");
            placed = true;
          }
        });
        if (!placed) errors.rejectScore.textContent = err.message;
        ui.failed(err);
      }
    });
    return h(
      "section",
      { "aria-labelledby": "domain-spam-h" },
      h("h2", { id: "domain-spam-h" }, "Spam thresholds of " + name),
      effective,
      form,
    );
  }

  Postern.adminReports = loadReports;
  Postern.adminDomainSpam = domainSpam;
})();
