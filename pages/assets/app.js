// Gatehouse account pages (/verify, /reset-password): reads the token from
// the link's query string, posts it as JSON to the API and shows the answer
// in the page's live region. The server never puts the token in the HTML.
(function () {
  "use strict";

  var form = document.getElementById("flow");
  var status = document.getElementById("status");
  if (!form || !status) {
    return;
  }
  var fieldset = form.querySelector("fieldset");
  var flow = form.getAttribute("data-flow");
  var endpoint = form.getAttribute("data-endpoint");

  var token = new URLSearchParams(window.location.search).get("token");
  // Take the token out of the address bar and the history: it is kept
  // in memory until the form is sent.
  if (window.location.search && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", window.location.pathname);
  }

  var texts = {
    verify: {
      noToken: "This link has no verification token. Open the link from the mail exactly as it was sent.",
      sending: "Verifying your e-mail address…",
      done: "Thank you: your e-mail address is verified. You can close this page."
    },
    reset: {
      noToken: "This link has no reset token. Open the link from the mail exactly as it was sent.",
      sending: "Changing your password…",
      done: "Your password has been changed. You can now log in with your new password."
    }
  }[flow];

  var codes = {
    VERIFY_USER_BAD_TOKEN: "This verification link is not valid or has expired. Ask for a new verification mail and use its link.",
    VERIFY_USER_ALREADY_VERIFIED: "Your e-mail address is already verified. There is nothing more to do.",
    RESET_PASSWORD_BAD_TOKEN: "This password reset link is not valid, has expired or was already used. Ask for a new one.",
    RESET_PASSWORD_INVALID_PASSWORD: "This password cannot be used."
  };

  function show(text, kind) {
    status.textContent = text;
    status.className = kind || "";
  }

  // finish shows the final answer and removes the form: the link is used up.
  function finish(text, kind) {
    form.hidden = true;
    show(text, kind);
    status.setAttribute("tabindex", "-1");
    status.focus();
  }

  if (!texts) {
    return;
  }
  if (!token) {
    finish(texts.noToken, "error");
    return;
  }
  fieldset.disabled = false;

  var password = form.elements.namedItem("password");
  var confirm = form.elements.namedItem("password_confirm");

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = { token: token };
    if (flow === "reset") {
      password.removeAttribute("aria-invalid");
      confirm.removeAttribute("aria-invalid");
      if (password.value !== confirm.value) {
        confirm.setAttribute("aria-invalid", "true");
        show("The two passwords are not the same. Type the new password again in both fields.", "error");
        confirm.focus();
        return;
      }
      body.password = password.value;
    }
    fieldset.disabled = true;
    show(texts.sending, "");

    fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer"
    }).then(function (resp) {
      return resp.json().catch(function () {
        return null;
      }).then(function (data) {
        return { ok: resp.ok, status: resp.status, data: data };
      });
    }).then(function (r) {
      if (r.ok) {
        if (password) {
          password.value = "";
          confirm.value = "";
        }
        finish(texts.done, "success");
        return;
      }
      var detail = r.data && r.data.detail;
      var code = typeof detail === "string" ? detail : (detail && detail.code) || "";
      var reason = detail && typeof detail === "object" && typeof detail.reason === "string" ? detail.reason : "";
      switch (code) {
      case "VERIFY_USER_ALREADY_VERIFIED":
        finish(codes[code], "success");
        return;
      case "VERIFY_USER_BAD_TOKEN":
      case "RESET_PASSWORD_BAD_TOKEN":
        finish(codes[code], "error");
        return;
      case "RESET_PASSWORD_INVALID_PASSWORD":
        fieldset.disabled = false;
        password.setAttribute("aria-invalid", "true");
        show(codes[code] + (reason ? " " + reason : ""), "error");
        password.focus();
        return;
      }
      fieldset.disabled = false;
      if (r.status === 429) {
        show("Too many attempts. Wait a moment, then try again.", "error");
      } else {
        show("Something went wrong (error " + r.status + "). Try again in a moment.", "error");
      }
    }, function () {
      fieldset.disabled = false;
      show("Could not reach the server. Check your connection, then try again.", "error");
    });
  });
}());
