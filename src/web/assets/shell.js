// Postern page shell, client side: the session contract of src/web/shell/session.ts.
// Access tokens live in this closure only; the refresh token stays in its HttpOnly cookie.
// `Postern.api()` calls the /v1 JSON API with a bearer token, refreshing it on demand.
// `Postern.h()` builds DOM nodes from text (never HTML), so message data cannot become markup.
(function () {
  "use strict";
  const meta = document.querySelector('meta[name="postern-csrf"]');
  let csrf = meta ? meta.getAttribute("content") : "";
  let access = null;
  let expiresAt = 0;
  let refreshing = null;
  // Straight after a sign-in the server accepted (signin.js leaves the time), a page without
  // the cookie means the browser refused it: Secure cookies need HTTPS, or http://localhost /
  // 127.0.0.1. The sign-in page then says so instead of asking again and again.
  const cookieDropped = !csrf &&
    Date.now() - Number(sessionStorage.getItem("postern.signin")) < 60000;
  sessionStorage.removeItem("postern.signin");

  function ApiError(status, body) {
    this.name = "ApiError";
    this.status = status;
    this.code = (body && body.code) || "http_" + status;
    this.message = (body && (body.detail || body.title)) || "request failed (" + status + ")";
    this.body = body;
  }
  ApiError.prototype = Object.create(Error.prototype);

  async function problemOf(res) {
    try {
      return await res.json();
    } catch (_) {
      return null;
    }
  }

  function signInUrl() {
    return "/signin?next=" + encodeURIComponent(location.pathname + location.search);
  }

  function accept(body) {
    access = body.accessToken;
    expiresAt = Date.now() + Math.max(5, body.expiresIn - 30) * 1000;
    if (body.csrfToken) csrf = body.csrfToken;
    return access;
  }

  async function refreshOnce() {
    const res = await fetch("/v1/auth/web/refresh", {
      method: "POST",
      headers: { "x-postern-csrf": csrf || "" },
      credentials: "same-origin",
    });
    if (!res.ok) throw new ApiError(res.status, await problemOf(res));
    return accept(await res.json());
  }

  // Two tabs may refresh at once with the same cookie; the loser's token was just rotated by
  // the winner, so one retry (with the cookie the winner set) settles it.
  function refresh() {
    if (!refreshing) {
      refreshing = refreshOnce().catch(function (e) {
        if (e.status !== 401) throw e;
        return new Promise(function (r) {
          setTimeout(r, 300);
        }).then(refreshOnce);
      }).finally(function () {
        refreshing = null;
      });
    }
    return refreshing;
  }

  async function token() {
    if (access && Date.now() < expiresAt) return access;
    // No CSRF token in the page: it was rendered without the session cookies, so nobody is
    // signed in here and a refresh could only be refused.
    if (!csrf) {
      location.assign(signInUrl() + (cookieDropped ? "&cookies=refused" : ""));
      throw new ApiError(401, { code: "signed_out", detail: "not signed in" });
    }
    try {
      return await refresh();
    } catch (e) {
      if (e.status === 401 || e.status === 403) location.assign(signInUrl());
      throw e;
    }
  }

  // opts: { raw: true } answers the Response; { signal } aborts; body may be FormData/Blob.
  async function api(method, path, body, opts) {
    opts = opts || {};
    for (let attempt = 0; attempt < 2; attempt++) {
      const headers = { authorization: "Bearer " + await token() };
      let payload = body;
      if (body !== undefined && !(body instanceof FormData) && !(body instanceof Blob)) {
        headers["content-type"] = "application/json";
        payload = JSON.stringify(body);
      }
      if (opts.headers) Object.assign(headers, opts.headers);
      const res = await fetch(path, {
        method: method,
        headers: headers,
        body: payload,
        signal: opts.signal,
      });
      if (res.status === 401 && attempt === 0) {
        access = null;
        continue;
      }
      if (!res.ok) throw new ApiError(res.status, await problemOf(res));
      if (opts.raw) return res;
      if (res.status === 204) return null;
      return (res.headers.get("content-type") || "").includes("json") ? res.json() : res.text();
    }
  }

  // Sign-out needs only the CSRF token (the cookie names the session), so it works after the
  // access token expired or "sign out everywhere" ended the session.
  async function endCookieSession() {
    await fetch("/v1/auth/web/logout", {
      method: "POST",
      headers: { "x-postern-csrf": csrf || "" },
      credentials: "same-origin",
    }).catch(function () {});
    access = null;
  }

  async function signOut() {
    await endCookieSession();
    location.assign("/signin");
  }

  async function signOutEverywhere() {
    await api("DELETE", "/v1/auth/sessions");
    await endCookieSession();
    location.assign("/signin");
  }

  // h("a", { href: "/x", class: "y", onclick: fn }, "text", node, [more]) — text is text.
  function h(tag, attrs) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      const v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k.slice(0, 2) === "on" && typeof v === "function") node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : String(v));
    });
    (function add(list) {
      list.forEach(function (c) {
        if (c === undefined || c === null || c === false) return;
        if (Array.isArray(c)) add(c);
        else node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
      });
    })(Array.prototype.slice.call(arguments, 2));
    return node;
  }

  // A short status line with an optional action (e.g. "Undo"), announced to screen readers.
  let toastTimer = null;
  function toast(text, action) {
    let box = document.getElementById("toast");
    if (!box) {
      box = h("div", { id: "toast", role: "status", "aria-live": "polite" });
      document.body.appendChild(box);
    }
    box.replaceChildren(h("span", null, text));
    if (action) {
      box.appendChild(h("button", {
        type: "button",
        onclick: function () {
          box.hidden = true;
          action.run();
        },
      }, action.label));
    }
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () {
      box.hidden = true;
    }, action ? 8000 : 4000);
  }

  globalThis.Postern = {
    api: api,
    token: token,
    csrf: function () {
      return csrf;
    },
    signOut: signOut,
    signOutEverywhere: signOutEverywhere,
    h: h,
    toast: toast,
    ApiError: ApiError,
  };

  document.addEventListener("click", function (e) {
    const target = e.target.closest && e.target.closest("[data-action]");
    if (!target) return;
    if (target.dataset.action === "sign-out") signOut();
    else if (target.dataset.action === "sign-out-everywhere") signOutEverywhere();
  });
})();
