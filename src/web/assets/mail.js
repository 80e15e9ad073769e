// The webmail (src/web/mail/page.tsx): folders, a keyset-paged message list with threads,
// the reader (HTML in a sandboxed frame from POST /v1/messages/{id}/view), search, compose with
// self-saving drafts, move/flag/delete with undo, keyboard shortcuts and live updates from
// GET /v1/events. Every call goes to the /v1 JSON API through Postern.api (shell.js); message
// data is only ever inserted as text (Postern.h), never as HTML.
(function () {
  "use strict";
  const { api, h, toast } = globalThis.Postern;
  const $ = (id) => document.getElementById(id);
  const PAGE = 50;
  // The Inbox's id from the last visit, so its first page can load before the folder list does.
  const INBOX_HINT = "postern.inbox";
  const ROLE_ORDER = ["inbox", "drafts", "sent", "archive", "junk", "trash"];

  const state = {
    me: null,
    identities: [],
    mailboxes: [],
    mailboxId: null,
    search: null, // the search text when the list shows results
    items: [], // summaries in list order
    cursor: null,
    loading: false,
    selected: -1,
    open: null, // the open message's detail
    lastUndo: null,
  };

  // ---------------------------------------------------------------------------------------------
  // Formatting

  const fmtDate = (iso) => {
    const d = new Date(iso);
    const now = new Date();
    if (d.toDateString() === now.toDateString()) {
      return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }
    if (d.getFullYear() === now.getFullYear()) {
      return d.toLocaleDateString([], { month: "short", day: "numeric" });
    }
    return d.toLocaleDateString();
  };
  const who = (a) => (a ? a.name || a.address : "(unknown sender)");
  const full = (a) => (a.name ? `${a.name} <${a.address}>` : a.address);
  const fmtSize = (n) =>
    n < 1024
      ? `${n} B`
      : n < 1048576
      ? `${Math.round(n / 1024)} KB`
      : `${(n / 1048576).toFixed(1)} MB`;
  const mailbox = (id) => state.mailboxes.find((m) => m.id === id);
  const byRole = (role) => state.mailboxes.find((m) => m.role === role);

  // ---------------------------------------------------------------------------------------------
  // Folders

  async function loadMailboxes() {
    const { items } = await api("GET", "/v1/mailboxes");
    items.sort((a, b) => {
      const ra = a.role ? ROLE_ORDER.indexOf(a.role) : 99;
      const rb = b.role ? ROLE_ORDER.indexOf(b.role) : 99;
      return ra - rb || a.name.localeCompare(b.name);
    });
    state.mailboxes = items;
    const inbox = items.find((m) => m.role === "inbox");
    if (inbox) localStorage.setItem(INBOX_HINT, String(inbox.id));
    renderFolders();
  }

  function renderFolders() {
    $("folder-list").replaceChildren(...state.mailboxes.map((m) => {
      const unread = m.counts.unread;
      return h(
        "li",
        null,
        h(
          "a",
          {
            href: `/mail/${m.id}`,
            "aria-current": !state.search && m.id === state.mailboxId ? "page" : false,
            "aria-label": unread ? `${m.name}, ${unread} unread` : m.name,
            dataset: { mailbox: m.id },
            onclick: (e) => {
              e.preventDefault();
              go(`/mail/${m.id}`);
            },
          },
          h("span", { class: "name" }, m.name),
          unread ? h("span", { class: "badge", "aria-hidden": "true" }, unread) : null,
        ),
      );
    }));
    $("a-move").replaceChildren(
      h("option", { value: "" }, "Move to…"),
      ...state.mailboxes.map((m) => h("option", { value: m.id }, m.name)),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // The message list: keyset pages (`nextCursor`), never offsets, so page 2,000 of a 100,000-
  // message mailbox costs what page 1 does.

  function listPath(cursor) {
    const p = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) p.set("cursor", cursor);
    if (state.search !== null) {
      p.set("q", state.search);
      return `/v1/search?${p}`;
    }
    p.set("mailboxId", String(state.mailboxId));
    return `/v1/messages?${p}`;
  }

  const listKey = () => (state.search !== null ? `q:${state.search}` : `m:${state.mailboxId}`);

  async function loadList(reset) {
    if (state.loading) return;
    state.loading = true;
    try {
      const page = await api("GET", listPath(reset ? null : state.cursor));
      if (reset) {
        state.items = [];
        state.selected = -1;
      }
      state.items.push(...page.items);
      state.cursor = page.nextCursor;
      if (reset) state.listKey = listKey();
      renderList();
    } finally {
      state.loading = false;
    }
  }

  // Threads: consecutive messages of one conversation collapse into their newest, with a count.
  function visibleRows() {
    if (!$("threaded").checked || state.search !== null) {
      return state.items.map((m) => ({ m, count: 1 }));
    }
    const seen = new Map();
    const rows = [];
    for (const m of state.items) {
      const row = seen.get(m.threadId);
      if (row) {
        row.count++;
        if (!m.flags.seen) row.unread = true;
        continue;
      }
      const fresh = { m, count: 1, unread: !m.flags.seen };
      seen.set(m.threadId, fresh);
      rows.push(fresh);
    }
    return rows;
  }

  // One row's element; rows are keyed by what they show, so a re-render (a new page, a flag
  // change, a live update) rebuilds only the rows that changed and appends a page in place.
  const rowKey = (row, sent) =>
    [row.m.id, row.count, row.unread ?? !row.m.flags.seen, row.m.flags.flagged, sent].join(":");

  function rowElement(row, key, sent) {
    const m = row.m;
    const unread = row.unread ?? !m.flags.seen;
    return h(
      "li",
      {
        role: "option",
        id: `msg-${m.id}`,
        class: `row${unread ? " unread" : ""}`,
        dataset: { id: m.id, key },
        onclick: (e) => select(Number(e.currentTarget.dataset.index), true),
      },
      h("span", { class: "from" }, who(sent ? m.to[0] : m.from)),
      row.count > 1
        ? h("span", { class: "count", "aria-label": `${row.count} messages` }, row.count)
        : null,
      h("span", { class: "subject" }, m.subject || "(no subject)"),
      h("span", { class: "preview" }, m.preview),
      h(
        "span",
        { class: "meta" },
        m.flags.flagged ? h("span", { class: "flag", "aria-label": "flagged" }, "★") : null,
        m.hasAttachments
          ? h("span", { class: "clip", "aria-label": "has attachments" }, "📎")
          : null,
        h("time", { datetime: m.receivedAt }, fmtDate(m.receivedAt)),
      ),
      unread ? h("span", { class: "visually-hidden" }, "unread") : null,
    );
  }

  function renderList() {
    const rows = visibleRows();
    state.rows = rows;
    const list = $("messages");
    const sent = state.mailboxId !== null && state.mailboxId === byRole("sent")?.id;
    const existing = new Map([...list.children].map((li) => [li.dataset.key, li]));
    const nodes = rows.map((row, i) => {
      const key = rowKey(row, sent);
      const li = existing.get(key) ?? rowElement(row, key, sent);
      existing.delete(key);
      li.dataset.index = String(i);
      li.setAttribute("aria-selected", i === state.selected ? "true" : "false");
      return li;
    });
    const current = list.children;
    let same = 0;
    while (same < current.length && same < nodes.length && current[same] === nodes[same]) same++;
    if (same === current.length) list.append(...nodes.slice(same));
    else list.replaceChildren(...nodes);
    $("more").hidden = !state.cursor;
    $("list-empty").hidden = rows.length > 0;
    $("list-title").textContent = state.search !== null
      ? `Search: ${state.search}`
      : mailbox(state.mailboxId)?.name ?? "Mail";
  }

  // "Load more" loads itself when it scrolls into view (and stays a button for keyboards).
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && state.cursor) loadList(false);
  }).observe($("more"));
  $("more").addEventListener("click", () => loadList(false));
  $("threaded").addEventListener("change", renderList);

  function select(i, open) {
    const rows = state.rows || [];
    if (i < 0 || i >= rows.length) return;
    state.selected = i;
    for (const li of $("messages").children) {
      li.setAttribute("aria-selected", li.dataset.index === String(i) ? "true" : "false");
    }
    const li = $("messages").children[i];
    li?.scrollIntoView({ block: "nearest" });
    if (li) $("messages").setAttribute("aria-activedescendant", li.id);
    if (open) openMessage(rows[i].m.id, true);
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  async function openMessage(id, push) {
    const summary = state.items.find((m) => m.id === id);
    if (summary && mailbox(summary.mailboxId)?.role === "drafts") return openDraft(id);
    if (push) history.pushState(null, "", `/mail/${state.mailboxId ?? "search"}/${id}`);
    const started = performance.now();
    const detail = await api("GET", `/v1/messages/${id}`);
    state.open = detail;
    renderMessage(detail, started);
    $("reader").dataset.empty = "false";
    setView("read");
    if (!detail.flags.seen) {
      await api("PATCH", `/v1/messages/${id}`, { flags: { seen: true } });
      detail.flags.seen = true;
      patchItem(id, { seen: true });
      refreshCounts();
    }
  }

  function patchItem(id, flags) {
    const m = state.items.find((x) => x.id === id);
    if (m) Object.assign(m.flags, flags);
    renderList();
  }

  async function frameFor(detail, images) {
    const view = await api("POST", `/v1/messages/${detail.id}/view?images=${images}`);
    if (!view.url) return null;
    const frame = h("iframe", {
      class: "body-frame",
      title: "Message body",
      // No allow-scripts and no allow-same-origin: the body is inert and has an opaque origin.
      sandbox: "allow-popups allow-popups-to-escape-sandbox",
      referrerpolicy: "no-referrer",
      src: view.url,
    });
    return { frame, remoteImages: view.remoteImages };
  }

  async function renderMessage(d, started) {
    const box = $("message");
    const addrs = (label, list) =>
      list.length
        ? h(
          "div",
          { class: "addr" },
          h("span", { class: "label" }, label),
          list.map(full).join(", "),
        )
        : null;
    const body = h("div", { class: "body" });
    box.replaceChildren(
      h("h2", { id: "message-subject", tabindex: "-1" }, d.subject || "(no subject)"),
      h(
        "div",
        { class: "headers" },
        addrs("From", d.from ? [d.from] : []),
        addrs("To", d.to),
        addrs("Cc", d.cc),
        h(
          "div",
          { class: "addr" },
          h("span", { class: "label" }, "Date"),
          new Date(d.sentAt).toLocaleString(),
        ),
      ),
      spamVerdict(d),
      threadLinks(d),
      body,
      attachmentList(d) ?? "",
    );
    $("a-flag").textContent = d.flags.flagged ? "Unflag" : "Flag";
    $("a-junk").textContent = inJunk(d) ? "Not junk" : "Junk";
    $("a-move").value = "";
    if (d.html !== null) {
      const view = await frameFor(d, false);
      if (state.open !== d) return;
      if (view.remoteImages) {
        const banner = h(
          "p",
          { class: "banner", role: "note" },
          "Remote images are blocked to protect your privacy. ",
          h("button", {
            type: "button",
            id: "load-images",
            onclick: async () => {
              const shown = await frameFor(d, true);
              view.frame.replaceWith(shown.frame);
              view.frame = shown.frame;
              banner.remove();
            },
          }, "Load images"),
        );
        body.append(banner);
      }
      body.append(view.frame);
    } else {
      body.append(h("pre", { class: "text" }, d.text ?? ""));
    }
    // Time to open a message (request to body shown), for bench/web_mail.ts.
    if (started !== undefined) performance.measure("postern-open", { start: started });
    $("message-subject").focus({ preventScroll: true });
  }

  function threadLinks(d) {
    const box = h("nav", { class: "thread", "aria-label": "Conversation", hidden: true });
    api("GET", `/v1/threads/${d.threadId}`).then((t) => {
      if (t.messages.length < 2 || state.open !== d) return;
      box.replaceChildren(
        h("h3", null, `Conversation (${t.messages.length})`),
        h(
          "ol",
          null,
          t.messages.map((m) =>
            h(
              "li",
              null,
              m.id === d.id
                ? h(
                  "strong",
                  { "aria-current": "true" },
                  `${who(m.from)} · ${fmtDate(m.receivedAt)}`,
                )
                : h("a", {
                  href: `/mail/${m.mailboxId}/${m.id}`,
                  onclick: (e) => {
                    e.preventDefault();
                    openMessage(m.id, true);
                  },
                }, `${who(m.from)} · ${fmtDate(m.receivedAt)} · ${m.preview.slice(0, 80)}`),
            )
          ),
        ),
      );
      box.hidden = false;
    }).catch(() => {});
    return box;
  }

  // Attachments download through the API (bearer), then the browser saves the blob.
  const PREVIEW_IMAGE = /^image\/(png|jpeg|gif|webp)$/;
  async function attachmentBlob(d, a) {
    const res = await api("GET", `/v1/messages/${d.id}/attachments/${a.index}`, undefined, {
      raw: true,
    });
    return await res.blob();
  }

  function attachmentList(d) {
    if (!d.attachments.length) return null;
    return h(
      "section",
      { class: "attachments", "aria-label": "Attachments" },
      h("h3", null, `Attachments (${d.attachments.length})`),
      h(
        "ul",
        null,
        d.attachments.map((a) => {
          const preview = h("div", { class: "preview-box" });
          const type = a.contentType.toLowerCase();
          const canPreview = PREVIEW_IMAGE.test(type) || type === "text/plain";
          return h(
            "li",
            null,
            h(
              "span",
              { class: "file" },
              a.filename || "attachment",
              " ",
              h("span", { class: "muted" }, `${type}, ${fmtSize(a.size)}`),
            ),
            h("button", {
              type: "button",
              "aria-label": `Download ${a.filename}`,
              onclick: async () => {
                const blob = await attachmentBlob(d, a);
                const url = URL.createObjectURL(blob);
                const link = h("a", { href: url, download: a.filename || "attachment" });
                document.body.append(link);
                link.click();
                link.remove();
                setTimeout(() => URL.revokeObjectURL(url), 10_000);
              },
            }, "Download"),
            canPreview
              ? h("button", {
                type: "button",
                "aria-label": `Preview ${a.filename}`,
                onclick: async () => {
                  const blob = await attachmentBlob(d, a);
                  if (type === "text/plain") {
                    preview.replaceChildren(h("pre", { class: "text" }, await blob.text()));
                  } else {
                    const typed = new Blob([blob], { type });
                    preview.replaceChildren(
                      h("img", { src: URL.createObjectURL(typed), alt: a.filename }),
                    );
                  }
                },
              }, "Preview")
              : null,
            preview,
          );
        }),
      ),
    );
  }

  // Issue 21 item 1: the spam verdict recorded at delivery, as a badge that opens to its rules.
  function spamVerdict(d) {
    const v = d.spam;
    if (!v) return null;
    const label = v.spam ? "Spam" : "Not spam";
    return h(
      "details",
      { class: "spam-verdict" + (v.spam ? " is-spam" : "") },
      h(
        "summary",
        null,
        h("span", { class: "badge" }, label),
        ` score ${v.score.toFixed(1)} (Junk at ${v.required})`,
      ),
      h(
        "ul",
        { "aria-label": "Spam rules that fired" },
        v.tests.map((t) =>
          h(
            "li",
            null,
            h("code", null, t.name),
            ` ${t.score > 0 ? "+" : ""}${t.score.toFixed(1)}`,
            t.detail ? ` — ${t.detail}` : "",
          )
        ),
        v.bayes !== undefined
          ? h("li", null, `Your filter's spam probability: ${Math.round(v.bayes * 100)}%`)
          : null,
        v.tests.length || v.bayes !== undefined ? null : h("li", null, "No spam rules fired."),
      ),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Actions with undo

  function afterRemove(id) {
    const index = state.items.findIndex((m) => m.id === id);
    if (index >= 0) state.items.splice(index, 1);
    renderList();
    if (state.open?.id === id) {
      state.open = null;
      const next = Math.min(state.selected, (state.rows?.length ?? 0) - 1);
      if (next >= 0 && globalThis.innerWidth > 720) select(next, true);
      else setView("list");
    }
  }

  function offerUndo(text, undo) {
    state.lastUndo = undo;
    toast(text, {
      label: "Undo",
      run: async () => {
        state.lastUndo = null;
        await undo();
        await Promise.all([loadList(true), refreshCounts()]);
        toast("Undone");
      },
    });
  }

  async function moveTo(d, target) {
    const from = d.mailboxId;
    await api("POST", `/v1/messages/${d.id}/move`, { mailboxId: target });
    afterRemove(d.id);
    refreshCounts();
    offerUndo(
      `Moved to ${mailbox(target)?.name ?? "folder"}`,
      () => api("POST", `/v1/messages/${d.id}/move`, { mailboxId: from }),
    );
  }

  async function remove(d) {
    const from = d.mailboxId;
    const result = await api("DELETE", `/v1/messages/${d.id}`);
    afterRemove(d.id);
    refreshCounts();
    if (result.result === "trashed") {
      offerUndo(
        "Moved to Trash",
        () => api("POST", `/v1/messages/${d.id}/move`, { mailboxId: from }),
      );
    } else {
      toast("Deleted permanently");
    }
  }

  async function setFlag(d, flag, value) {
    await api("PATCH", `/v1/messages/${d.id}`, { flags: { [flag]: value } });
    d.flags[flag] = value;
    patchItem(d.id, { [flag]: value });
    if (state.open === d) renderMessage(d);
    refreshCounts();
    offerUndo(
      flag === "flagged"
        ? (value ? "Flagged" : "Unflagged")
        : value
        ? "Marked read"
        : "Marked unread",
      async () => {
        await api("PATCH", `/v1/messages/${d.id}`, { flags: { [flag]: !value } });
      },
    );
  }

  // Moving into and out of Junk is what trains the server's classifier (issue 21 item 1).
  const inJunk = (d) => mailbox(d.mailboxId)?.role === "junk";
  async function junk(d) {
    const target = inJunk(d) ? byRole("inbox") : byRole("junk");
    if (target) await moveTo(d, target.id);
  }

  const current = () => state.open;
  const guard = (fn) => async (...args) => {
    try {
      await fn(...args);
    } catch (e) {
      toast(e.message || "Something went wrong");
    }
  };
  $("a-delete").addEventListener("click", guard(() => current() && remove(current())));
  $("a-archive").addEventListener("click", guard(() => archive()));
  $("a-junk").addEventListener("click", guard(() => current() && junk(current())));
  $("a-flag").addEventListener(
    "click",
    guard(() => current() && setFlag(current(), "flagged", !current().flags.flagged)),
  );
  $("a-unread").addEventListener(
    "click",
    guard(async () => {
      if (!current()) return;
      await setFlag(current(), "seen", false);
      setView("list");
    }),
  );
  $("a-move").addEventListener(
    "change",
    guard(async (e) => {
      const target = Number(e.target.value);
      if (current() && target && target !== current().mailboxId) await moveTo(current(), target);
    }),
  );
  $("a-reply").addEventListener("click", () => current() && compose(replyOf(current(), false)));
  $("a-reply-all").addEventListener("click", () => current() && compose(replyOf(current(), true)));
  $("a-forward").addEventListener(
    "click",
    guard(async () => current() && compose(await forwardOf(current()))),
  );
  $("back").addEventListener("click", () => setView("list"));
  $("show-folders").addEventListener(
    "click",
    () => setView($("mail").dataset.view === "folders" ? "list" : "folders"),
  );

  async function archive() {
    const d = current();
    if (!d) return;
    const target = byRole("archive");
    if (!target) return toast("There is no Archive folder");
    if (d.mailboxId !== target.id) await moveTo(d, target.id);
  }

  // ---------------------------------------------------------------------------------------------
  // Compose, reply, forward; drafts save themselves (POST then PUT /v1/drafts, which answers a
  // new id each time) a moment after the last change, one save at a time.

  const composer = {
    draftId: null,
    attachments: [], // { filename, contentType, content (base64), size }
    replyHeaders: {},
    saving: Promise.resolve(),
    dirty: false,
    timer: null,
  };

  const splitAddresses = (text) => text.split(/[,;]\s*/).map((s) => s.trim()).filter(Boolean);
  const quote = (text) => (text ?? "").split("\n").map((l) => `> ${l}`).join("\n");
  const own = () => new Set(state.identities.map((i) => i.address.toLowerCase()));

  function replyOf(d, all) {
    const to = d.replyTo.length ? d.replyTo : d.from ? [d.from] : [];
    const mine = own();
    const cc = all
      ? [...d.to, ...d.cc].filter((a) =>
        !mine.has(a.address.toLowerCase()) && !to.some((t) => t.address === a.address)
      )
      : [];
    return {
      to: to.map(full).join(", "),
      cc: cc.map(full).join(", "),
      subject: /^re:/i.test(d.subject) ? d.subject : `Re: ${d.subject}`,
      text: `\n\nOn ${new Date(d.sentAt).toLocaleString()}, ${
        d.from ? full(d.from) : "someone"
      } wrote:\n${quote(d.text)}`,
      inReplyTo: d.messageIdHeader ?? undefined,
      references: d.messageIdHeader ? [...d.references, d.messageIdHeader].slice(-50) : undefined,
      from: pickFrom(d),
    };
  }

  async function forwardOf(d) {
    const attachments = [];
    for (const a of d.attachments) {
      const blob = await attachmentBlob(d, a);
      attachments.push({
        filename: a.filename || "attachment",
        contentType: a.contentType,
        content: await base64(blob),
        size: a.size,
      });
    }
    const head = [
      "---------- Forwarded message ----------",
      `From: ${d.from ? full(d.from) : ""}`,
      `Date: ${new Date(d.sentAt).toLocaleString()}`,
      `Subject: ${d.subject}`,
      `To: ${d.to.map(full).join(", ")}`,
    ].join("\n");
    return {
      subject: /^fwd?:/i.test(d.subject) ? d.subject : `Fwd: ${d.subject}`,
      text: `\n\n${head}\n\n${d.text ?? ""}`,
      attachments,
      from: pickFrom(d),
    };
  }

  // Answer from the identity the message was sent to, when it was one of ours.
  function pickFrom(d) {
    const mine = own();
    const hit = [...d.to, ...d.cc].find((a) => mine.has(a.address.toLowerCase()));
    return hit ? hit.address : undefined;
  }

  function base64(blob) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  }

  function renderChips() {
    $("c-attachments").replaceChildren(...composer.attachments.map((a, i) =>
      h(
        "li",
        null,
        `${a.filename} (${fmtSize(a.size)}) `,
        h("button", {
          type: "button",
          "aria-label": `Remove ${a.filename}`,
          onclick: () => {
            composer.attachments.splice(i, 1);
            renderChips();
            changed();
          },
        }, "×"),
      )
    ));
  }

  function compose(init) {
    init = init || {};
    const form = $("compose-form");
    composer.draftId = init.draftId ?? null;
    composer.attachments = init.attachments ?? [];
    composer.replyHeaders = { inReplyTo: init.inReplyTo, references: init.references };
    composer.dirty = false;
    form.from.replaceChildren(
      ...state.identities.map((i) => h("option", { value: i.address }, full(i))),
    );
    form.from.value = init.from && state.identities.some((i) => i.address === init.from)
      ? init.from
      : state.identities[0]?.address ?? "";
    form.to.value = init.to ?? "";
    form.cc.value = init.cc ?? "";
    form.subject.value = init.subject ?? "";
    form.body.value = init.text ?? "";
    form.files.value = "";
    $("compose-error").hidden = true;
    $("draft-state").textContent = composer.draftId ? "Draft" : "";
    $("composer-title").textContent = init.subject ? init.subject : "New message";
    renderChips();
    $("composer").showModal();
    (form.to.value ? form.body : form.to).focus();
    if (form.body === document.activeElement) form.body.setSelectionRange(0, 0);
  }

  function draftBody() {
    const form = $("compose-form");
    const identity = state.identities.find((i) => i.address === form.from.value) ??
      state.identities[0];
    return {
      from: identity.name ? { name: identity.name, address: identity.address } : identity.address,
      to: splitAddresses(form.to.value),
      cc: splitAddresses(form.cc.value),
      subject: form.subject.value.replace(/[\r\n]+/g, " "),
      text: form.body.value,
      attachments: composer.attachments.map(({ filename, contentType, content }) => ({
        filename,
        contentType,
        content,
      })),
      ...(composer.replyHeaders.inReplyTo ? { inReplyTo: composer.replyHeaders.inReplyTo } : {}),
      ...(composer.replyHeaders.references ? { references: composer.replyHeaders.references } : {}),
    };
  }

  function save() {
    composer.saving = composer.saving.catch(() => {}).then(async () => {
      if (!composer.dirty) return;
      composer.dirty = false;
      $("draft-state").textContent = "Saving…";
      const body = draftBody();
      const saved = composer.draftId
        ? await api("PUT", `/v1/drafts/${composer.draftId}`, body)
        : await api("POST", "/v1/drafts", body);
      composer.draftId = saved.id;
      $("draft-state").textContent = `Draft saved ${
        new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
      }`;
    }).catch((e) => {
      composer.dirty = true;
      $("draft-state").textContent = `Not saved: ${e.message}`;
    });
    return composer.saving;
  }

  function changed() {
    composer.dirty = true;
    clearTimeout(composer.timer);
    composer.timer = setTimeout(save, 1200);
  }

  // Leaving the tab (or closing it) saves at once rather than after the pause.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden" && composer.dirty) {
      clearTimeout(composer.timer);
      save();
    }
  });

  $("compose-form").addEventListener("input", (e) => {
    if (e.target.name !== "files") changed();
  });
  $("c-files").addEventListener(
    "change",
    guard(async (e) => {
      for (const file of e.target.files) {
        composer.attachments.push({
          filename: file.name,
          contentType: /^[\w.+-]+\/[\w.+-]+$/.test(file.type)
            ? file.type
            : "application/octet-stream",
          content: await base64(file),
          size: file.size,
        });
      }
      e.target.value = "";
      renderChips();
      changed();
    }),
  );

  async function closeComposer() {
    clearTimeout(composer.timer);
    if (composer.dirty) await save();
    $("composer").close();
    if (composer.draftId) refreshCounts();
  }
  $("compose-close").addEventListener("click", guard(closeComposer));
  $("composer").addEventListener("cancel", (e) => {
    e.preventDefault();
    guard(closeComposer)();
  });

  $("compose-form").addEventListener(
    "submit",
    guard(async (e) => {
      e.preventDefault();
      const error = $("compose-error");
      error.hidden = true;
      const body = draftBody();
      if (!body.to.length && !body.cc.length) {
        error.textContent = "Add at least one recipient.";
        error.hidden = false;
        return;
      }
      $("c-send").disabled = true;
      try {
        clearTimeout(composer.timer);
        composer.dirty = true;
        await save();
        if (composer.dirty) throw new Error($("draft-state").textContent);
        const sent = await api("POST", `/v1/drafts/${composer.draftId}/send`);
        const refused = sent.recipients.filter((r) =>
          r.status === "rejected" || r.status === "suppressed"
        );
        composer.draftId = null;
        $("composer").close();
        toast(
          refused.length
            ? `Sent, but not to ${refused.map((r) => r.address).join(", ")}`
            : "Message sent",
        );
        refreshCounts();
        if (
          mailbox(state.mailboxId)?.role === "drafts" || mailbox(state.mailboxId)?.role === "sent"
        ) loadList(true);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      } finally {
        $("c-send").disabled = false;
      }
    }),
  );

  $("c-discard").addEventListener(
    "click",
    guard(async () => {
      clearTimeout(composer.timer);
      await composer.saving;
      if (composer.draftId) await api("DELETE", `/v1/drafts/${composer.draftId}`);
      composer.draftId = null;
      composer.dirty = false;
      $("composer").close();
      toast("Draft discarded");
      refreshCounts();
      if (mailbox(state.mailboxId)?.role === "drafts") loadList(true);
    }),
  );

  async function openDraft(id) {
    const { draft } = await api("GET", `/v1/drafts/${id}`);
    const addr = (list) =>
      (list || []).map((a) => (typeof a === "string" ? a : full(a))).join(", ");
    compose({
      draftId: id,
      from: typeof draft.from === "string" ? draft.from : draft.from.address,
      to: addr(draft.to),
      cc: addr(draft.cc),
      subject: draft.subject,
      text: draft.text ?? "",
      attachments: (draft.attachments || []).map((a) => ({
        ...a,
        size: Math.floor(a.content.length * 3 / 4),
      })),
      inReplyTo: draft.inReplyTo,
      references: draft.references,
    });
  }

  $("compose").addEventListener("click", () => compose());

  // ---------------------------------------------------------------------------------------------
  // Navigation: /mail/{mailboxId}[/{messageId}] and /mail/search?q=…

  function setView(view) {
    $("mail").dataset.view = view;
    if (view !== "read") $("reader").dataset.empty = state.open ? "false" : "true";
  }

  async function go(path, replace) {
    if (replace) history.replaceState(null, "", path);
    else history.pushState(null, "", path);
    state.listKey = null; // a click on a folder or a search always asks again
    await route();
  }

  async function route() {
    const url = new URL(location.href);
    const parts = url.pathname.split("/").filter(Boolean); // ["mail", id?, messageId?]
    if (parts[1] === "search") {
      state.search = url.searchParams.get("q") ?? "";
      state.mailboxId = null;
      $("q").value = state.search;
    } else {
      state.search = null;
      const id = Number(parts[1]);
      state.mailboxId = mailbox(id) ? id : (byRole("inbox") ?? state.mailboxes[0]).id;
    }
    renderFolders();
    state.open = null;
    $("message").replaceChildren(h("p", { class: "muted" }, "Select a message to read it."));
    setView("list");
    // The list may already be there (loaded early at start, or coming back from a message).
    if (state.listKey === listKey()) renderList();
    else await loadList(true);
    const messageId = Number(parts[2]);
    if (messageId) {
      const i = (state.rows || []).findIndex((r) => r.m.id === messageId);
      if (i >= 0) select(i, false);
      await openMessage(messageId, false);
    }
  }
  addEventListener("popstate", guard(route));

  $("search").addEventListener(
    "submit",
    guard(async (e) => {
      e.preventDefault();
      const q = $("q").value.trim();
      if (q) await go(`/mail/search?q=${encodeURIComponent(q)}`);
      else await go(`/mail/${byRole("inbox").id}`);
    }),
  );

  // ---------------------------------------------------------------------------------------------
  // Keyboard: j/k next/previous, Enter open, r reply, a reply all, f forward, c compose,
  // / search, e archive, # delete, s flag, u back to the list, z undo.

  document.addEventListener(
    "keydown",
    guard(async (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const t = e.target;
      if (t.closest("input, textarea, select, [contenteditable], dialog[open]")) {
        if (e.key === "Escape" && t.id === "q") t.blur();
        return;
      }
      const d = current();
      switch (e.key) {
        case "j":
          return select(Math.min(state.selected + 1, (state.rows?.length ?? 1) - 1), true);
        case "k":
          return select(Math.max(state.selected - 1, 0), true);
        case "ArrowDown":
        case "ArrowUp":
          // A focused listbox moves its selection with the arrows (WAI-ARIA listbox pattern).
          if (t.id !== "messages") return;
          e.preventDefault();
          return select(
            Math.max(
              0,
              Math.min(
                state.selected + (e.key === "ArrowDown" ? 1 : -1),
                (state.rows?.length ?? 1) - 1,
              ),
            ),
            false,
          );
        case "Enter":
          if (state.selected >= 0 && (t.id === "messages" || !d)) {
            return select(state.selected, true);
          }
          return;
        case "c":
          e.preventDefault();
          return compose();
        case "/":
          e.preventDefault();
          return $("q").focus();
        case "r":
          if (d) compose(replyOf(d, false));
          return;
        case "a":
          if (d) compose(replyOf(d, true));
          return;
        case "f":
          if (d) compose(await forwardOf(d));
          return;
        case "e":
          return archive();
        case "#":
          if (d) await remove(d);
          return;
        case "!":
          if (d) await junk(d);
          return;
        case "s":
          if (d) await setFlag(d, "flagged", !d.flags.flagged);
          return;
        case "u":
        case "Escape":
          return setView("list");
        case "z":
          if (state.lastUndo) {
            const undo = state.lastUndo;
            state.lastUndo = null;
            await undo();
            await Promise.all([loadList(true), refreshCounts()]);
            toast("Undone");
          }
          return;
      }
    }),
  );

  // ---------------------------------------------------------------------------------------------
  // Live updates: GET /v1/events read as a stream (EventSource cannot send a bearer token);
  // any change reloads the counts and merges the list's first page, debounced.

  // Counts are asked for after every change; calls that overlap share one request and one more.
  let countsBusy = null;
  let countsAgain = false;
  function refreshCounts() {
    if (countsBusy) {
      countsAgain = true;
      return countsBusy;
    }
    countsBusy = (async () => {
      do {
        countsAgain = false;
        await loadMailboxes();
      } while (countsAgain);
    })().finally(() => {
      countsBusy = null;
    });
    return countsBusy;
  }

  async function mergeFirstPage() {
    if (state.loading) return;
    const page = await api("GET", listPath(null));
    const known = new Map(state.items.map((m) => [m.id, m]));
    const fresh = page.items.filter((m) => !known.has(m.id));
    for (const m of page.items) if (known.has(m.id)) Object.assign(known.get(m.id), m);
    // Messages gone from the first page's range (moved or deleted elsewhere) leave the list.
    const oldest = page.items.length ? page.items[page.items.length - 1] : null;
    const ids = new Set(page.items.map((m) => m.id));
    const openId = state.open?.id;
    const complete = !page.nextCursor;
    state.items = [
      ...fresh,
      ...state.items.filter((m) =>
        ids.has(m.id) || (!complete && oldest !== null && m.receivedAt < oldest.receivedAt)
      ),
    ];
    const selectedId = state.rows?.[state.selected]?.m.id;
    state.rows = visibleRows();
    state.selected = selectedId ? state.rows.findIndex((r) => r.m.id === selectedId) : -1;
    renderList();
    if (openId && !state.items.some((m) => m.id === openId) && state.search === null) {
      setView("list");
    }
  }

  let liveTimer = null;
  function changedElsewhere() {
    clearTimeout(liveTimer);
    liveTimer = setTimeout(
      guard(async () => {
        await refreshCounts();
        await mergeFirstPage();
      }),
      250,
    );
  }

  async function listen() {
    let since = null;
    for (;;) {
      try {
        // A fresh stream starts with new changes only: whatever changed between loading the
        // list and the stream's start is caught by one refresh when it says it is ready.
        const fresh = since === null;
        const path = fresh ? "/v1/events" : `/v1/events?since=${since}`;
        const res = await api("GET", path, undefined, {
          raw: true,
          headers: { accept: "text/event-stream" },
        });
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            let event = "message";
            let data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("event:")) event = line.slice(6).trim();
              else if (line.startsWith("id:")) since = Number(line.slice(3).trim());
              else if (line.startsWith("data:")) data += line.slice(5).trim();
            }
            if (event === "ready") {
              // Resume from here after a reconnect, and catch up once on a fresh stream.
              const cursor = Number(JSON.parse(data || "{}").since);
              if (since === null && Number.isFinite(cursor)) since = cursor;
              if (fresh) changedElsewhere();
            } else if (!block.startsWith(":")) changedElsewhere();
          }
        }
      } catch (_) {
        // Signed out, offline or a restart: try again shortly (the api() call redirects to
        // sign-in when the session is gone).
      }
      await new Promise((r) => setTimeout(r, 3000));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Settings: identities, two-factor sign-in, app passwords, sign out everywhere.

  async function renderSettings() {
    $("identities").replaceChildren(
      ...state.identities.map((i) =>
        h(
          "li",
          null,
          full(i),
          " ",
          h("span", { class: "muted" }, i.kind === "account" ? "(account)" : "(alias)"),
        )
      ),
    );
    const me = await api("GET", "/v1/auth/me");
    const twofa = $("twofa");
    if (me.totpEnabled) {
      const form = h(
        "form",
        { class: "inline" },
        h("p", null, "Two-factor sign-in is on."),
        h("label", { for: "tf-pw" }, "Password"),
        h("input", {
          id: "tf-pw",
          type: "password",
          autocomplete: "current-password",
          required: true,
        }),
        h("label", { for: "tf-code" }, "Code or recovery code"),
        h("input", { id: "tf-code", autocomplete: "one-time-code", required: true }),
        h("button", { type: "submit", class: "danger" }, "Turn off two-factor sign-in"),
      );
      form.addEventListener(
        "submit",
        guard(async (e) => {
          e.preventDefault();
          await api("POST", "/v1/auth/2fa/disable", {
            password: $("tf-pw").value,
            code: $("tf-code").value.trim(),
          });
          toast("Two-factor sign-in is off");
          renderSettings();
        }),
      );
      twofa.replaceChildren(form);
    } else {
      twofa.replaceChildren(
        h("p", null, "Two-factor sign-in is off."),
        h("button", {
          type: "button",
          onclick: guard(async () => {
            // The QR encoder (qr_code.js, a hashed asset the page names) is fetched only now,
            // beside the set-up call, so it weighs nothing on the webmail's first load. If it
            // cannot load, the key is still there to type.
            const [setup, qr] = await Promise.all([
              api("POST", "/v1/auth/2fa/setup"),
              import(twofa.dataset.qrScript).catch(() => null),
            ]);
            const form = h(
              "form",
              { class: "inline" },
              h(
                "p",
                null,
                qr
                  ? "Scan this code with your authenticator app, or type the key into it; then " +
                    "enter the code it shows."
                  : "Add this key to your authenticator app, then enter the code it shows.",
              ),
              h(
                "div",
                { class: "totp-key" },
                qr && qr.qrSvg(setup.otpauthUrl, "QR code for your authenticator app"),
                h(
                  "div",
                  null,
                  h("p", null, "Key: ", h("code", { id: "totp-secret" }, setup.secret)),
                  h("p", { class: "muted small otpauth" }, setup.otpauthUrl),
                ),
              ),
              h("label", { for: "tf-enable" }, "Six-digit code"),
              h("input", {
                id: "tf-enable",
                inputmode: "numeric",
                autocomplete: "one-time-code",
                required: true,
              }),
              h("button", { type: "submit", class: "primary" }, "Turn on"),
            );
            form.addEventListener(
              "submit",
              guard(async (e) => {
                e.preventDefault();
                const { recoveryCodes } = await api("POST", "/v1/auth/2fa/enable", {
                  code: $("tf-enable").value.trim(),
                });
                twofa.replaceChildren(
                  h(
                    "p",
                    null,
                    "Two-factor sign-in is on. Keep these recovery codes somewhere safe; each works once:",
                  ),
                  h(
                    "ul",
                    { class: "codes" },
                    recoveryCodes.map((c) => h("li", null, h("code", null, c))),
                  ),
                );
              }),
            );
            twofa.replaceChildren(form);
          }),
        }, "Set up two-factor sign-in"),
      );
    }
    await Promise.all([renderAppPasswords(), renderMailSettings()]);
  }

  // Vacation, filters, forwarding, spam thresholds, folder clean-up and deleted mail live in
  // mail_settings.js, imported only when Settings opens: none of it weighs on the first load.
  async function renderMailSettings() {
    const mod = await import($("settings").dataset.rulesScript);
    await mod.renderMailSettings({
      mailboxes: () => state.mailboxes,
      guard,
      refresh: () => Promise.all([loadMailboxes(), loadList(true), refreshCounts()]),
    });
  }

  async function renderAppPasswords() {
    const { items } = await api("GET", "/v1/auth/app-passwords");
    $("app-passwords").replaceChildren(...items.map((p) =>
      h(
        "li",
        null,
        p.name,
        " ",
        h(
          "span",
          { class: "muted" },
          p.lastUsedAt ? `used ${fmtDate(p.lastUsedAt)}` : "never used",
        ),
        " ",
        h("button", {
          type: "button",
          class: "danger",
          "aria-label": `Revoke ${p.name}`,
          onclick: guard(async () => {
            await api("DELETE", `/v1/auth/app-passwords/${p.id}`);
            await renderAppPasswords();
          }),
        }, "Revoke"),
      )
    ));
  }

  $("app-password-form").addEventListener(
    "submit",
    guard(async (e) => {
      e.preventDefault();
      const created = await api("POST", "/v1/auth/app-passwords", {
        name: $("ap-name").value.trim(),
      });
      $("ap-name").value = "";
      const shown = $("ap-new");
      shown.replaceChildren(
        `New app password for ${created.name}: `,
        h("code", null, created.password),
      );
      shown.hidden = false;
      await renderAppPasswords();
    }),
  );
  $("open-settings").addEventListener(
    "click",
    guard(async () => {
      $("settings").showModal();
      await renderSettings();
    }),
  );
  $("settings-close").addEventListener("click", () => $("settings").close());

  // ---------------------------------------------------------------------------------------------
  // Start

  guard(async () => {
    // The list's first page does not wait for the folder list when the mailbox is known (from
    // the URL or the last visit); route() checks the guess once the folders are in.
    const first = location.pathname.split("/")[2];
    const guess = first === "search"
      ? 0
      : Number(first) || Number(localStorage.getItem(INBOX_HINT));
    const early = guess > 0
      ? (state.mailboxId = guess,
        loadList(true).catch(() => {
          state.listKey = null;
        }))
      : null;
    const [me, identities] = await Promise.all([
      api("GET", "/v1/auth/me"),
      api("GET", "/v1/identities"),
      loadMailboxes(),
    ]);
    await early;
    state.me = me;
    state.identities = identities.items;
    $("me").textContent = me.address;
    // The console's page answers 403 to anyone else; only those it serves see the way there.
    $("admin-link").hidden = me.role !== "admin" && !(me.adminDomains || []).length;
    await route();
    performance.mark("postern-ready"); // time to interactive, for bench/web_mail.ts
    document.body.dataset.ready = "";
    listen();
  })();
})();
