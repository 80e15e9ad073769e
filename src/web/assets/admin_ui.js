// The admin console's building blocks (used by admin.js and admin_stats.js): the status line,
// tables (in a region that scrolls sideways), keyset-paged tables with "Load more", buttons that
// report failures, pass/fail badges that say it in words, and form submission. Text only, through
// Postern.h: nothing from the API ever becomes markup.
(function () {
  "use strict";
  const h = Postern.h;
  const $ = function (id) {
    return document.getElementById(id);
  };

  function say(text) {
    $("admin-status").textContent = text;
  }

  function when(iso) {
    return iso ? iso.replace("T", " ").slice(0, 16) : "—";
  }

  function bytes(n) {
    if (!n) return "0";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }

  // A table with column headers; `rows` are arrays of cells (text or nodes). It sits in a
  // focusable region that scrolls sideways on a narrow screen, instead of the whole page.
  function table(label, headers, rows, empty) {
    if (rows.length === 0) return h("p", { class: "muted" }, empty || "Nothing here yet.");
    return h(
      "div",
      { class: "scroll", role: "region", "aria-label": label + " (table)", tabindex: "0" },
      grid(label, headers, rows),
    );
  }

  function grid(label, headers, rows) {
    return h(
      "table",
      { class: "data", "aria-label": label },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          headers.map(function (x) {
            return h("th", { scope: "col" }, x);
          }),
        ),
      ),
      h(
        "tbody",
        null,
        rows.map(function (r) {
          return h(
            "tr",
            null,
            r.map(function (c) {
              return h("td", null, c);
            }),
          );
        }),
      ),
    );
  }

  // A table filled a page at a time from a keyset-paged API answer ({ items, nextCursor }):
  // "Load more" appends the next page's rows. spec: { label, headers, empty, fetch(cursor),
  // rows(items) }.
  async function paged(box, spec, cursor) {
    const page = await spec.fetch(cursor);
    const rows = spec.rows(page.items);
    if (cursor) {
      const body = box.querySelector("tbody");
      rows.forEach(function (r) {
        body.appendChild(h(
          "tr",
          null,
          r.map(function (c) {
            return h("td", null, c);
          }),
        ));
      });
      box.querySelector(".more")?.remove();
    } else {
      box.replaceChildren(table(spec.label, spec.headers, rows, spec.empty));
    }
    if (page.nextCursor) {
      box.appendChild(h(
        "p",
        { class: "more" },
        button("Load more", function () {
          return paged(box, spec, page.nextCursor);
        }, { aria: "Load more: " + spec.label }),
      ));
    }
  }

  function button(label, run, opts) {
    opts = opts || {};
    return h("button", {
      type: "button",
      class: opts.danger ? "danger" : undefined,
      "aria-label": opts.aria,
      onclick: async function (e) {
        const b = e.currentTarget;
        b.disabled = true;
        try {
          await run();
        } catch (err) {
          failed(err);
        } finally {
          b.disabled = false;
        }
      },
    }, label);
  }

  function failed(err) {
    say(err && err.message ? "Error: " + err.message : "Error");
    Postern.toast(err && err.message ? err.message : "The request failed.");
  }

  function badge(pass, text) {
    return h("span", { class: "badge " + (pass ? "pass" : "fail") }, (pass ? "✓ " : "✗ ") + text);
  }

  // Submits a form through `run(data)`; the form's fields are read by name.
  function onSubmit(form, run) {
    if (!form) return;
    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      const submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      try {
        await run(new FormData(form));
      } catch (err) {
        failed(err);
      } finally {
        submit.disabled = false;
      }
    });
  }

  Postern.ui = {
    $: $,
    say: say,
    when: when,
    bytes: bytes,
    table: table,
    paged: paged,
    button: button,
    failed: failed,
    badge: badge,
    onSubmit: onSubmit,
  };
})();
