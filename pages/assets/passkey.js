// Passkeys for the Gatehouse account pages.
//
// The pages work without this file: passwords and codes are plain forms.
// Where the browser has passkeys (WebAuthn), this script shows the forms
// marked data-passkey, which are hidden otherwise, and drives them:
//
//   data-passkey="create"  add a passkey (the account page, or a login's
//                          setup of its second factor, in place of an app)
//   data-passkey="get"     log in with one, alone or as a second step
//
// On submit it posts the form's CSRF token (and mfa_token, if any) to the
// form's data-begin address, which answers the WebAuthn options (and a
// state); it hands them to navigator.credentials, puts the browser's
// answer into the form's hidden credential (and state) fields, and
// submits the form for real: the server answers with a page, as for any
// form. It runs under the pages' Content Security Policy: no inline code,
// no eval, requests to its own origin only.
(function () {
  "use strict";

  var pkc = window.PublicKeyCredential;
  if (!pkc || !navigator.credentials || !window.fetch) {
    return; // the fallback texts stay, the forms stay hidden
  }

  // --- base64url <-> ArrayBuffer, for browsers without the JSON helpers

  function toBuffer(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toBase64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function copy(o) {
    var out = {};
    for (var k in o) {
      if (Object.prototype.hasOwnProperty.call(o, k)) {
        out[k] = o[k];
      }
    }
    return out;
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      var c = copy(d);
      c.id = toBuffer(d.id);
      return c;
    });
  }

  function creationOptions(json) {
    if (typeof pkc.parseCreationOptionsFromJSON === "function") {
      return pkc.parseCreationOptionsFromJSON(json);
    }
    var o = copy(json);
    o.challenge = toBuffer(json.challenge);
    o.user = copy(json.user);
    o.user.id = toBuffer(json.user.id);
    if (json.excludeCredentials) {
      o.excludeCredentials = descriptors(json.excludeCredentials);
    }
    return o;
  }

  function requestOptions(json) {
    if (typeof pkc.parseRequestOptionsFromJSON === "function") {
      return pkc.parseRequestOptionsFromJSON(json);
    }
    var o = copy(json);
    o.challenge = toBuffer(json.challenge);
    if (json.allowCredentials) {
      o.allowCredentials = descriptors(json.allowCredentials);
    }
    return o;
  }

  // credentialJSON is the browser's answer as the server reads it: what
  // PublicKeyCredential.toJSON gives, built by hand where it is missing.
  function credentialJSON(cred) {
    if (typeof cred.toJSON === "function") {
      return cred.toJSON();
    }
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      response: { clientDataJSON: toBase64url(r.clientDataJSON) },
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
    if (cred.authenticatorAttachment) {
      out.authenticatorAttachment = cred.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toBase64url(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toBase64url(r.authenticatorData);
      out.response.signature = toBase64url(r.signature);
      if (r.userHandle) {
        out.response.userHandle = toBase64url(r.userHandle);
      }
    }
    return out;
  }

  // --- the forms

  var generic = "Something went wrong. Reload the page and try again.";

  // message is what a person reads for a failed ceremony.
  function message(err) {
    switch (err && err.name) {
      case "NotAllowedError":
        return "No passkey was used: it was cancelled, or it took too long. Try again.";
      case "InvalidStateError":
        return "This device or key already holds a passkey of your account.";
      case "SecurityError":
        return "Passkeys do not work on this address of the site.";
      case "ServerMessage":
        return err.message;
    }
    return generic;
  }

  function serverError(text) {
    var e = new Error(text || generic);
    e.name = "ServerMessage";
    return e;
  }

  // begin fetches the options of the form's ceremony.
  function begin(form) {
    var body = new URLSearchParams();
    ["csrf_token", "mfa_token"].forEach(function (name) {
      var field = form.elements.namedItem(name);
      if (field) {
        body.set(name, field.value);
      }
    });
    return fetch(form.getAttribute("data-begin"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (res) {
      return res.json().then(
        function (j) {
          if (!res.ok || !j.options || !j.options.publicKey) {
            throw serverError(j.error);
          }
          return j;
        },
        function () {
          // Not JSON: the page's CSRF token is no longer good (403).
          throw serverError(res.status === 403 ? "This page has expired. Reload it and try again." : generic);
        }
      );
    });
  }

  function enhance(form) {
    var kind = form.getAttribute("data-passkey");
    var status = form.querySelector("[data-passkey-error]");
    var button = form.querySelector("button[type=submit]");
    var busy = false;

    function fail(text) {
      busy = false;
      button.disabled = false;
      if (status) {
        status.textContent = text;
        status.hidden = false;
      }
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (busy) {
        return;
      }
      busy = true;
      button.disabled = true;
      if (status) {
        status.hidden = true;
        status.textContent = "";
      }
      begin(form)
        .then(function (c) {
          var asked = kind === "create" ?
            navigator.credentials.create({ publicKey: creationOptions(c.options.publicKey) }) :
            navigator.credentials.get({ publicKey: requestOptions(c.options.publicKey) });
          return asked.then(function (cred) {
            if (!cred) {
              throw new DOMException("no credential", "NotAllowedError");
            }
            var state = form.elements.namedItem("state");
            if (state) {
              state.value = c.state || "";
            }
            form.elements.namedItem("credential").value = JSON.stringify(credentialJSON(cred));
            // submit() fires no submit event: this handler does not run again.
            form.submit();
          });
        })
        .catch(function (err) {
          fail(message(err));
        });
    });
    form.hidden = false;
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-passkey]"), enhance);
    Array.prototype.forEach.call(document.querySelectorAll("[data-passkey-fallback]"), function (el) {
      el.hidden = true;
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
