// The webmail's mail settings (issue 21), an ES module mail.js imports only when Settings opens,
// so the first load of /mail does not carry it: the vacation reply (PUT /v1/sieve/vacation),
// filters as the JSON rules of PUT /v1/sieve/rules (conditions and actions, added, edited,
// reordered and deleted here, saved as one list), forwarding (PUT /v1/account/forwarding), the
// account's spam thresholds (PUT /v1/spam/settings), each folder's retention (PATCH
// /v1/mailboxes/{id}) and the deleted messages that can still be restored (GET /v1/recovery,
// POST /v1/recovery/{id}/restore). Only the public /v1 API; text only, through Postern.h. A
// refused save shows the API's problem+json messages next to the fields they name.
const { api, h, toast } = globalThis.Postern;
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// Fields and the API's field errors

let uid = 0;

/** A labelled control; `path` is the API's name for it (problem+json `errors[].path`). */
function field(label, control, path) {
  const id = control.id || (control.id = `ms-${++uid}`);
  const error = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  if (path) control.dataset.path = path;
  control.setAttribute("aria-describedby", error.id);
  const kind = control.type === "checkbox" ? "check" : "field";
  return kind === "check"
    ? h("div", { class: "field check" }, control, h("label", { for: id }, label), error)
    : h("div", { class: "field" }, h("label", { for: id }, label), control, error);
}

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((p) => {
    p.hidden = true;
    p.textContent = "";
  });
  form.querySelectorAll("[aria-invalid]").forEach((c) => c.removeAttribute("aria-invalid"));
}

/**
 * Puts each `errors[]` message of a problem+json answer beside the control whose `data-path` is
 * its path (or the nearest one above it), the rest in the form's own alert line.
 */
function showErrors(form, err) {
  const rest = [];
  const list = err && err.body && Array.isArray(err.body.errors) ? err.body.errors : [];
  for (const e of list) {
    let path = String(e.path || "");
    let control = null;
    while (path && !(control = form.querySelector(`[data-path="${CSS.escape(path)}"]`))) {
      path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
    }
    if (!control) {
      rest.push(e.path ? `${e.path}: ${e.message}` : e.message);
      continue;
    }
    const box = $(`${control.id}-error`);
    box.textContent = box.textContent ? `${box.textContent}; ${e.message}` : e.message;
    box.hidden = false;
    control.setAttribute("aria-invalid", "true");
  }
  const alert = form.querySelector(".form-error");
  alert.textContent = list.length && !rest.length
    ? (err.message || "Please correct the marked fields.")
    : [err && err.message, ...rest].filter(Boolean).join(" — ");
  alert.hidden = false;
  const first = form.querySelector("[aria-invalid]");
  if (first) first.focus();
}

/** A form whose submit runs `save()`; errors go beside the fields, success to `done`. */
function settingsForm(parts, save, label) {
  const alert = h("p", { class: "form-error error", role: "alert", hidden: true });
  const status = h("span", { class: "muted", role: "status" });
  const form = h(
    "form",
    { class: "settings-form", novalidate: true },
    parts,
    alert,
    h("div", { class: "form-actions" }, h("button", { type: "submit" }, label), " ", status),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    alert.hidden = true;
    status.textContent = "";
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const text = await save();
      status.textContent = text;
      toast(text);
    } catch (err) {
      showErrors(form, err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

const input = (attrs) => h("input", attrs);
const select = (attrs, options, value) => {
  const s = h(
    "select",
    attrs,
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)),
  );
  s.value = value;
  return s;
};

// datetime-local has no zone: the page shows local time and the API gets ISO 8601 in UTC.
const toLocal = (iso) => {
  if (!iso) return "";
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};
const fromLocal = (v) => (v ? new Date(v).toISOString() : null);

// ---------------------------------------------------------------------------------------------
// Vacation reply

async function renderVacation() {
  const v = await api("GET", "/v1/sieve/vacation");
  const enabled = input({ type: "checkbox", id: "vac-enabled", checked: v.enabled });
  const subject = input({ id: "vac-subject", value: v.subject ?? "", maxlength: 500 });
  const body = h("textarea", { id: "vac-body", rows: 4, maxlength: 20000 }, v.body);
  const from = input({ id: "vac-from", type: "datetime-local", value: toLocal(v.from) });
  const until = input({ id: "vac-until", type: "datetime-local", value: toLocal(v.until) });
  const days = input({ id: "vac-days", type: "number", min: 1, max: 365, value: v.days });
  const addresses = input({ id: "vac-addresses", value: (v.addresses ?? []).join(", ") });
  $("vacation").replaceChildren(settingsForm(
    [
      field("Send an automatic reply", enabled, "enabled"),
      field("Subject (empty: “Auto:” and the original subject)", subject, "subject"),
      field("Reply text", body, "body"),
      h(
        "div",
        { class: "row" },
        field("From (optional)", from, "from"),
        field("Until (optional)", until, "until"),
      ),
      field("Answer each sender at most once every (days)", days, "days"),
      field("Other addresses of mine (comma-separated, optional)", addresses, "addresses"),
    ],
    async () => {
      const saved = await api("PUT", "/v1/sieve/vacation", {
        enabled: enabled.checked,
        ...(subject.value.trim() ? { subject: subject.value.trim() } : {}),
        body: body.value,
        from: fromLocal(from.value),
        until: fromLocal(until.value),
        days: Number(days.value),
        addresses: addresses.value.split(/[\s,]+/).filter(Boolean),
      });
      return saved.enabled ? "Vacation reply on" : "Vacation reply off";
    },
    "Save vacation reply",
  ));
}

// ---------------------------------------------------------------------------------------------
// Filters: the rules of /v1/sieve/rules, edited in place and saved as one ordered list

const FIELDS = [
  ["from", "From"],
  ["to", "To or Cc"],
  ["subject", "Subject"],
  ["header", "Header field"],
  ["size", "Size (bytes)"],
  ["spam", "Spam verdict"],
];
const TEXT_OPS = [
  ["contains", "contains"],
  ["not_contains", "does not contain"],
  ["is", "is"],
  ["not_is", "is not"],
  ["matches", "matches (* and ?)"],
];
const OPS = {
  from: TEXT_OPS,
  to: TEXT_OPS,
  subject: TEXT_OPS,
  header: [...TEXT_OPS, ["exists", "exists"]],
  size: [["over", "is over"], ["under", "is under"]],
  spam: [["is", "is flagged as spam"], ["over", "score is over"], ["under", "score is under"]],
};
const ACTIONS = [
  ["fileinto", "Move to folder"],
  ["redirect", "Forward to"],
  ["flag", "Set flag"],
  ["discard", "Delete silently"],
  ["reject", "Refuse with a reason"],
  ["stop", "Stop filtering"],
];
const FLAGS = [["\\Seen", "Read"], ["\\Flagged", "Flagged"]];

function blankRule() {
  return {
    name: "",
    enabled: true,
    match: "all",
    conditions: [{ field: "from", op: "contains", value: "" }],
    actions: [{ type: "fileinto", mailbox: "" }],
  };
}

function conditionRow(ctx, rule, i, j) {
  const c = rule.conditions[j];
  const path = `rules.${i}.conditions.${j}`;
  const n = `rule ${i + 1} condition ${j + 1}`;
  const fieldSel = select(
    { "aria-label": `Field, ${n}`, "data-path": `${path}.field` },
    FIELDS,
    c.field,
  );
  fieldSel.addEventListener("change", () => {
    c.field = fieldSel.value;
    if (!OPS[c.field].some(([op]) => op === c.op)) c.op = OPS[c.field][0][0];
    if (c.field === "size" || c.field === "spam") c.value = c.op === "is" ? undefined : 0;
    else if (typeof c.value !== "string") c.value = "";
    ctx.draw();
  });
  const opSel = select({ "aria-label": `Comparison, ${n}` }, OPS[c.field], c.op);
  opSel.addEventListener("change", () => {
    c.op = opSel.value;
    ctx.draw();
  });
  const parts = [field("Field", fieldSel, `${path}.field`)];
  if (c.field === "header") {
    const header = input({ "aria-label": `Header name, ${n}`, value: c.header ?? "" });
    header.addEventListener("input", () => (c.header = header.value.trim()));
    parts.push(field("Header name", header, `${path}.header`));
  }
  parts.push(field("Comparison", opSel, `${path}.op`));
  const numeric = c.op === "over" || c.op === "under";
  if (c.op !== "exists" && !(c.field === "spam" && c.op === "is")) {
    const value = input({
      "aria-label": `Value, ${n}`,
      type: numeric ? "number" : "text",
      value: c.value ?? "",
    });
    value.addEventListener("input", () => {
      c.value = numeric ? (value.value === "" ? undefined : Number(value.value)) : value.value;
    });
    parts.push(field("Value", value, `${path}.value`));
  }
  parts.push(h("button", {
    type: "button",
    class: "danger",
    "aria-label": `Remove ${n}`,
    onclick: () => {
      rule.conditions.splice(j, 1);
      ctx.draw();
    },
  }, "Remove"));
  return h("li", { class: "rule-line" }, parts);
}

function actionRow(ctx, rule, i, j) {
  const a = rule.actions[j];
  const path = `rules.${i}.actions.${j}`;
  const n = `rule ${i + 1} action ${j + 1}`;
  const typeSel = select({ "aria-label": `Action, ${n}` }, ACTIONS, a.type);
  typeSel.addEventListener("change", () => {
    const t = typeSel.value;
    rule.actions[j] = t === "fileinto"
      ? { type: t, mailbox: "" }
      : t === "redirect"
      ? { type: t, address: "", copy: false }
      : t === "flag"
      ? { type: t, flag: "\\Seen" }
      : t === "reject"
      ? { type: t, reason: "" }
      : { type: t };
    ctx.draw();
  });
  const parts = [field("Action", typeSel, `${path}.type`)];
  if (a.type === "fileinto") {
    const names = ctx.mailboxes().map((m) => [m.name, m.name]);
    const box = select(
      { "aria-label": `Folder, ${n}` },
      [["", "Choose a folder"], ...names],
      a.mailbox,
    );
    box.addEventListener("change", () => (a.mailbox = box.value));
    parts.push(field("Folder", box, `${path}.mailbox`));
  } else if (a.type === "redirect") {
    const to = input({ type: "email", "aria-label": `Forward to, ${n}`, value: a.address });
    to.addEventListener("input", () => (a.address = to.value.trim()));
    const copy = input({ type: "checkbox", "aria-label": `Keep a copy, ${n}`, checked: !!a.copy });
    copy.addEventListener("change", () => (a.copy = copy.checked));
    parts.push(field("Address", to, `${path}.address`), field("Keep a copy", copy, `${path}.copy`));
  } else if (a.type === "flag") {
    const flag = select({ "aria-label": `Flag, ${n}` }, FLAGS, a.flag);
    flag.addEventListener("change", () => (a.flag = flag.value));
    parts.push(field("Flag", flag, `${path}.flag`));
  } else if (a.type === "reject") {
    const reason = input({ "aria-label": `Reason, ${n}`, value: a.reason });
    reason.addEventListener("input", () => (a.reason = reason.value));
    parts.push(field("Reason", reason, `${path}.reason`));
  }
  parts.push(h("button", {
    type: "button",
    class: "danger",
    "aria-label": `Remove ${n}`,
    onclick: () => {
      rule.actions.splice(j, 1);
      ctx.draw();
    },
  }, "Remove"));
  return h("li", { class: "rule-line" }, parts);
}

function ruleBox(ctx, rules, i) {
  const rule = rules[i];
  const title = rule.name || `Rule ${i + 1}`;
  const name = input({ value: rule.name ?? "", maxlength: 200 });
  name.addEventListener("input", () => (rule.name = name.value));
  const on = input({ type: "checkbox", checked: rule.enabled !== false });
  on.addEventListener("change", () => (rule.enabled = on.checked));
  const match = select(
    {},
    [["all", "all conditions hold"], ["any", "any condition holds"]],
    rule.match,
  );
  match.addEventListener("change", () => (rule.match = match.value));
  const move = (to) => () => {
    rules.splice(to, 0, rules.splice(i, 1)[0]);
    ctx.draw();
  };
  const tool = (label, aria, run, disabled) =>
    h(
      "button",
      { type: "button", "aria-label": `${aria} ${title}`, onclick: run, disabled },
      label,
    );
  return h(
    "li",
    { class: "rule", "data-rule": i },
    h(
      "fieldset",
      null,
      h("legend", null, title),
      h(
        "div",
        { class: "row" },
        field("Name", name, `rules.${i}.name`),
        field("On", on, `rules.${i}.enabled`),
        field("Applies when", match, `rules.${i}.match`),
      ),
      h("p", { class: "muted small" }, "Conditions (none: every message)"),
      h(
        "ul",
        { class: "rule-lines", "data-path": `rules.${i}.conditions`, id: `rule-${i}-conditions` },
        rule.conditions.map((_, j) => conditionRow(ctx, rule, i, j)),
      ),
      h("p", { class: "field-error", id: `rule-${i}-conditions-error`, hidden: true }),
      h("button", {
        type: "button",
        onclick: () => {
          rule.conditions.push({ field: "subject", op: "contains", value: "" });
          ctx.draw();
        },
      }, "Add condition"),
      h("p", { class: "muted small" }, "Then"),
      h(
        "ul",
        { class: "rule-lines", "data-path": `rules.${i}.actions`, id: `rule-${i}-actions` },
        rule.actions.map((_, j) => actionRow(ctx, rule, i, j)),
      ),
      h("p", { class: "field-error", id: `rule-${i}-actions-error`, hidden: true }),
      h("button", {
        type: "button",
        onclick: () => {
          rule.actions.push({ type: "stop" });
          ctx.draw();
        },
      }, "Add action"),
      h(
        "div",
        { class: "rule-tools" },
        tool("Move up", "Move up", move(i - 1), i === 0),
        tool("Move down", "Move down", move(i + 1), i === rules.length - 1),
        h("button", {
          type: "button",
          class: "danger",
          "aria-label": `Delete ${title}`,
          onclick: () => {
            rules.splice(i, 1);
            ctx.draw();
          },
        }, "Delete rule"),
      ),
    ),
  );
}

/** What the API takes: empty optional fields left out, numbers as numbers. */
function cleanRules(rules) {
  return rules.map((r) => ({
    ...(r.name ? { name: r.name } : {}),
    enabled: r.enabled !== false,
    match: r.match || "all",
    conditions: r.conditions.map((c) => {
      const out = { field: c.field, op: c.op };
      if (c.field === "header") out.header = c.header ?? "";
      const valued = c.op !== "exists" && !(c.field === "spam" && c.op === "is");
      if (valued && c.value !== undefined) out.value = c.value;
      return out;
    }),
    actions: r.actions.map((a) =>
      a.type === "redirect" && !a.copy ? { type: a.type, address: a.address } : a
    ),
  }));
}

async function renderFilters(ctx) {
  const { rules } = await api("GET", "/v1/sieve/rules");
  const list = h("ol", { class: "rules", id: "rule-list" });
  const inner = {
    ...ctx,
    draw() {
      list.replaceChildren(...rules.map((_, i) => ruleBox(inner, rules, i)));
      if (!rules.length) list.append(h("li", { class: "muted" }, "No filters yet."));
    },
  };
  inner.draw();
  $("filters").replaceChildren(settingsForm(
    [
      list,
      h("button", {
        type: "button",
        id: "add-rule",
        onclick: () => {
          rules.push(blankRule());
          inner.draw();
          list.lastElementChild.querySelector("input")?.focus();
        },
      }, "Add filter"),
    ],
    async () => {
      const saved = await api("PUT", "/v1/sieve/rules", { rules: cleanRules(rules) });
      rules.splice(0, rules.length, ...saved.rules);
      inner.draw();
      return `Filters saved (${saved.rules.length})`;
    },
    "Save filters",
  ));
}

// ---------------------------------------------------------------------------------------------
// Forwarding

async function renderForwarding() {
  const f = await api("GET", "/v1/account/forwarding");
  const targets = h(
    "textarea",
    { id: "fwd-targets", rows: 2, placeholder: "one address a line" },
    f.targets.join("\n"),
  );
  const keep = input({ type: "checkbox", id: "fwd-keep", checked: f.keepCopy });
  $("forwarding").replaceChildren(settingsForm(
    [
      field("Forward my mail to (one address a line; empty: off)", targets, "targets"),
      field("Keep a copy here", keep, "keepCopy"),
    ],
    async () => {
      const list = targets.value.split(/[\s,]+/).filter(Boolean);
      // errors[].path names an entry (targets.1): each line is its own control for that.
      targets.dataset.path = "targets";
      const saved = await api("PUT", "/v1/account/forwarding", {
        targets: list,
        keepCopy: keep.checked,
      });
      targets.value = saved.targets.join("\n");
      return saved.targets.length ? `Forwarding to ${saved.targets.join(", ")}` : "Forwarding off";
    },
    "Save forwarding",
  ));
}

// ---------------------------------------------------------------------------------------------
// Spam thresholds

async function renderSpam() {
  const s = await api("GET", "/v1/spam/settings");
  const num = (id, v) => input({ id, type: "number", step: "0.5", value: v ?? "" });
  const junk = num("spam-junk", s.own.junkScore);
  const reject = num("spam-reject", s.own.rejectScore);
  const enabled = select(
    { id: "spam-enabled" },
    [["", "As my domain does"], ["true", "On"], ["false", "Off"]],
    s.own.enabled === null ? "" : String(s.own.enabled),
  );
  const effective = h("p", { class: "muted", id: "spam-effective" });
  const show = (e) =>
    effective.textContent = `In force: ${e.enabled ? "on" : "off"}, Junk at ${e.junkScore}, ` +
      `refused at ${e.rejectScore}. Empty fields follow your domain's settings.`;
  show(s.effective);
  $("spam").replaceChildren(settingsForm(
    [
      effective,
      field("Spam filtering", enabled, "enabled"),
      h(
        "div",
        { class: "row" },
        field("Move to Junk from score", junk, "junkScore"),
        field("Refuse from score", reject, "rejectScore"),
      ),
    ],
    async () => {
      const n = (c) => (c.value === "" ? null : Number(c.value));
      const saved = await api("PUT", "/v1/spam/settings", {
        enabled: enabled.value === "" ? null : enabled.value === "true",
        junkScore: n(junk),
        rejectScore: n(reject),
      });
      show(saved.effective);
      return "Spam settings saved";
    },
    "Save spam settings",
  ));
}

// ---------------------------------------------------------------------------------------------
// Folder retention and deleted messages

function renderRetention(ctx) {
  const rows = ctx.mailboxes().map((m) => {
    const days = input({
      type: "number",
      min: 1,
      max: 36500,
      value: m.retentionDays ?? "",
      placeholder: "keep",
      id: `ret-${m.id}`,
    });
    return settingsForm(
      [field(`${m.name}: delete after (days; empty: keep)`, days, "retentionDays")],
      async () => {
        const saved = await api("PATCH", `/v1/mailboxes/${m.id}`, {
          retentionDays: days.value === "" ? null : Number(days.value),
        });
        m.retentionDays = saved.retentionDays;
        return saved.retentionDays === null
          ? `${m.name}: kept`
          : `${m.name}: deleted after ${saved.retentionDays} days`;
      },
      `Save ${m.name}`,
    );
  });
  $("retention").replaceChildren(h("div", { class: "retention" }, rows));
}

async function renderDeleted(ctx, cursor) {
  const page = await api(
    "GET",
    `/v1/recovery?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
  );
  const box = $("deleted");
  let list = box.querySelector("ul.deleted");
  if (!cursor || !list) {
    list = h("ul", { class: "deleted", "aria-label": "Deleted messages" });
    box.replaceChildren(list);
  }
  box.querySelector(".more")?.remove();
  for (const m of page.items) {
    const label = m.subject || "(no subject)";
    list.append(h(
      "li",
      { "data-recovery": m.id },
      h("span", { class: "subject" }, label),
      " ",
      h(
        "span",
        { class: "muted" },
        `from ${m.from || "(unknown)"}, in ${m.mailboxName}, deleted ` +
          `${new Date(m.deletedAt).toLocaleString()}; restorable until ` +
          `${new Date(m.expiresAt).toLocaleDateString()}`,
      ),
      " ",
      h("button", {
        type: "button",
        "aria-label": `Restore ${label}`,
        onclick: ctx.guard(async (e) => {
          const li = e.currentTarget.closest("li");
          await api("POST", `/v1/recovery/${m.id}/restore`);
          const list = li.parentElement;
          li.remove();
          if (!list.children.length) {
            list.replaceWith(h("p", { class: "muted" }, "Nothing deleted."));
          }
          toast(`Restored to ${m.mailboxId === null ? "Inbox" : m.mailboxName}`);
          await ctx.refresh();
        }),
      }, "Restore"),
    ));
  }
  if (!list.children.length) box.replaceChildren(h("p", { class: "muted" }, "Nothing deleted."));
  if (page.nextCursor) {
    box.append(h(
      "p",
      { class: "more" },
      h("button", {
        type: "button",
        onclick: ctx.guard(() => renderDeleted(ctx, page.nextCursor)),
      }, "Load more deleted messages"),
    ));
  }
}

/** Fills the settings dialog's issue 21 sections; each one fails on its own. */
export async function renderMailSettings(ctx) {
  const part = async (id, run) => {
    try {
      await run();
    } catch (err) {
      $(id).replaceChildren(
        h("p", { class: "error", role: "alert" }, err && err.message ? err.message : "Failed"),
      );
    }
  };
  await Promise.all([
    part("vacation", renderVacation),
    part("filters", () => renderFilters(ctx)),
    part("forwarding", renderForwarding),
    part("spam", renderSpam),
    part("retention", () => renderRetention(ctx)),
    part("deleted", () => renderDeleted(ctx)),
  ]);
}
