// The sign-in form (src/web/shell/sign_in.tsx): POST /v1/auth/web/login, asking for the second
// factor when the account answers `totp_required`, then on to the form's `data-next` path.
(function () {
  "use strict";
  const form = document.getElementById("signin");
  const error = document.getElementById("signin-error");
  const totpStep = document.getElementById("step-totp");

  function show(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    show("");
    const body = {
      address: form.address.value.trim(),
      password: form.password.value,
    };
    if (!body.address || !body.password) return show("Enter your address and password.");
    if (!totpStep.hidden) {
      if (form.recoveryCode.value.trim()) body.recoveryCode = form.recoveryCode.value.trim();
      else body.totp = form.totp.value.trim();
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const res = await fetch("/v1/auth/web/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
      if (res.ok) {
        // The next page checks that the browser kept the session cookie (shell.js).
        sessionStorage.setItem("postern.signin", String(Date.now()));
        location.assign(form.dataset.next || "/mail");
        return;
      }
      const problem = await res.json().catch(function () {
        return {};
      });
      if (problem.code === "totp_required") {
        totpStep.hidden = false;
        form.totp.focus();
        return;
      }
      show(problem.detail || "Sign-in failed.");
      (problem.code === "invalid_totp" ? form.totp : form.password).focus();
    } catch (_) {
      show("The server cannot be reached.");
    } finally {
      button.disabled = false;
    }
  });
  form.address.focus();
})();
