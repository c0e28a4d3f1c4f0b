package pages_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/gatehouse/gatehouse"
)

// recordViolations runs in each page before its own script and keeps the
// Content-Security-Policy violations, which the browser may report only
// as events.
const recordViolations = `window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile + ":" + e.lineNumber);
});`

// withoutJSONHelpers removes what recent browsers have and older ones do
// not, so that passkey.js converts the options and the answer by hand.
const withoutJSONHelpers = `delete PublicKeyCredential.parseCreationOptionsFromJSON;
delete PublicKeyCredential.parseRequestOptionsFromJSON;
delete PublicKeyCredential.prototype.toJSON;`

// chromium starts a headless Chromium with a virtual authenticator (a
// platform one that holds passkeys and verifies its user), and returns
// its context and its authenticator.
func chromium(t *testing.T, path, prelude string) (context.Context, webauthn.AuthenticatorID, func() []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(ctx)
	t.Cleanup(cancelCtx)

	// Errors and warnings of the console include the browser's own CSP
	// reports ("Refused to ..."), failed loads and uncaught exceptions.
	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ex := ev.ExceptionDetails.Exception; ex != nil {
				msg += " " + ex.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == "error" || ev.Type == "warning" {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				msg = "console." + string(ev.Type) + ": " + strings.Join(args, " ")
			}
		case *log.EventEntryAdded:
			// A page answered with a 4xx (a form the test gets wrong on
			// purpose) is no problem of the page.
			if (ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning) && ev.Entry.Source != log.EntrySourceNetwork {
				msg = "log " + string(ev.Entry.Source) + ": " + ev.Entry.Text + " " + ev.Entry.URL
			}
		}
		if msg != "" {
			mu.Lock()
			problems = append(problems, msg)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	auth, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: recordViolations + prelude}); err != nil {
		t.Fatal(err)
	}
	return ctx, auth.AuthenticatorID, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), problems...)
	}
}

// TestPasskeysInBrowser runs passkey.js in a real Chromium, whose virtual
// authenticator makes and uses the passkey: added on the account page,
// then logging in alone, then as the second step after the password; then
// a user who must add a second factor adds a passkey on the setup page of
// the login, in place of an app. It runs with the browser's JSON helpers,
// and without them.
func TestPasskeysInBrowser(t *testing.T) {
	path := os.Getenv("GATEHOUSE_TEST_CHROMIUM")
	if path == "" {
		t.Skip("set GATEHOUSE_TEST_CHROMIUM to a Chromium binary to use passkeys in a browser")
	}
	for _, tc := range []struct {
		name, prelude string
		helpers       bool // the browser has toJSON and the parse*FromJSON helpers
	}{
		{"JSON helpers", "", true},
		{"by hand", withoutJSONHelpers, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// WebAuthn needs a secure context: http://localhost is one.
			s := newSite(t, options{mfa: true, sessions: true, plainHTTP: true})
			s.register("ivy@example.com")
			ctx, auth, problems := chromium(t, path, tc.prelude)
			step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
				t.Helper()
				if err := chromedp.Do(ctx, actions...); err != nil {
					html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
					t.Fatalf("%s: %v\nconsole: %q\npage: %s", what, err, problems(), html)
				}
			}
			text := func(sel string) string {
				t.Helper()
				v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
				if err != nil {
					t.Fatalf("text of %s: %v", sel, err)
				}
				return strings.TrimSpace(v)
			}
			wantLocation := func(want string) {
				t.Helper()
				loc, err := chromedp.Run(ctx, chromedp.Location())
				if err != nil || loc != s.URL+want {
					t.Errorf("at %q (%v), want %q", loc, err, s.URL+want)
				}
			}
			passwordLogin := []chromedp.Action[chromedp.Void]{
				chromedp.SendKeys(chromedp.ID("email"), "ivy@example.com"),
				chromedp.SendKeys(chromedp.ID("password"), pw),
				chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
			}

			// The script shows the passkey button, which is hidden without it.
			step("open the login page", chromedp.Navigate(s.URL+"/login"), chromedp.WaitVisible(chromedp.ID("passkey-login")))
			helpers, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof PublicKeyCredential.prototype.toJSON === "function" && `+
				`typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function"`))
			if err != nil || helpers != tc.helpers {
				t.Fatalf("the browser has the JSON helpers: %v (%v), want %v", helpers, err, tc.helpers)
			}
			step("log in with the password", append(passwordLogin, chromedp.WaitVisible(chromedp.ID("account-email")))...)
			step("add a passkey",
				chromedp.WaitVisible(chromedp.ID("passkey-add")),
				chromedp.SendKeys(chromedp.ID("passkey-name"), "This browser"),
				chromedp.Click(chromedp.CSS(`#passkey-add button[type=submit]`)),
				chromedp.WaitVisible(chromedp.ID("new-codes-title")))
			if got := text("#new-codes-title"); got != "Your passkey was added: save your recovery codes" {
				t.Errorf("after adding a passkey the page says %q", got)
			}
			if got := text("#passkeys-title + p + table tbody td"); got != "This browser" {
				t.Errorf("the passkey listed is %q, want “This browser”", got)
			}
			codes, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("ul.codes li").length`))
			if err != nil || codes != 10 {
				t.Errorf("%d recovery codes shown (%v), want 10", codes, err)
			}
			fallback, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("[data-passkey-fallback]").hidden`))
			if err != nil || !fallback {
				t.Errorf("the text for browsers without passkeys shows (%v)", err)
			}
			creds, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: auth})
			if err != nil || len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential {
				t.Fatalf("the authenticator holds %v (%v), want one passkey", creds.Credentials, err)
			}

			step("log out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("passkey-login")))
			wantLocation("/login?notice=logged-out")
			step("log in with the passkey alone",
				chromedp.Click(chromedp.CSS(`#passkey-login button[type=submit]`)),
				chromedp.WaitVisible(chromedp.ID("account-email")))
			if got := text("#account-email"); got != "ivy@example.com" {
				t.Errorf("logged in as %q", got)
			}
			wantLocation("/account")

			step("log out again", chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("passkey-login")))
			step("log in with the password, then the passkey",
				append(passwordLogin,
					chromedp.WaitVisible(chromedp.ID("passkey-step")),
					chromedp.Click(chromedp.CSS(`#passkey-step button[type=submit]`)),
					chromedp.WaitVisible(chromedp.ID("account-email")))...)
			wantLocation("/account")
			if got := text("#passkeys-title + p + table tbody td:nth-child(3)"); got == "Never" {
				t.Error("the passkey's last use is not shown")
			}

			// A passkey the site does not know: the authenticator has none
			// left, and the login page says so.
			if _, err := chromedp.Call(ctx, webauthn.ClearCredentials, webauthn.ClearCredentialsParams{AuthenticatorID: auth}); err != nil {
				t.Fatal(err)
			}
			step("log out a third time", chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("passkey-login")))
			step("log in without a passkey",
				chromedp.Click(chromedp.CSS(`#passkey-login button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`#passkey-login [data-passkey-error]`)))
			if got := text(`#passkey-login [data-passkey-error]`); !strings.HasPrefix(got, "No passkey was used") {
				t.Errorf("without a passkey, the login page says %q", got)
			}

			// A user who must set up a second factor adds a passkey in place
			// of an app, on the setup page of the login.
			s.register("jay@example.com")
			s.require(gatehouse.MFARequiredEveryone)
			step("log in as a user who must add a second factor",
				chromedp.Navigate(s.URL+"/login"),
				chromedp.WaitVisible(chromedp.ID("passkey-login")),
				chromedp.SendKeys(chromedp.ID("email"), "jay@example.com"),
				chromedp.SendKeys(chromedp.ID("password"), pw),
				chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
				chromedp.WaitVisible(chromedp.ID("setup-passkey")))
			if got := text("h1"); got != "Set up two-step verification" {
				t.Errorf("after the password, the page is %q", got)
			}
			wantLocation("/login")
			step("add a passkey in place of an app",
				chromedp.SendKeys(chromedp.ID("passkey-name"), "Setup key"),
				chromedp.Click(chromedp.CSS(`#setup-passkey button[type=submit]`)),
				chromedp.WaitVisible(chromedp.ID("new-codes-title")))
			if got := text("#new-codes-title"); got != "Your passkey was added: save your recovery codes" {
				t.Errorf("after adding a passkey the setup page says %q", got)
			}
			codes, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("ul.codes li").length`))
			if err != nil || codes != 10 {
				t.Errorf("%d recovery codes shown (%v), want 10", codes, err)
			}
			creds, err = chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: auth})
			if err != nil || len(creds.Credentials) != 1 {
				t.Fatalf("the authenticator holds %v (%v), want jay's passkey", creds.Credentials, err)
			}
			step("continue",
				chromedp.Click(chromedp.CSS(`form[action="/login/mfa/setup"] button[type=submit]`)),
				chromedp.WaitVisible(chromedp.ID("account-email")))
			if got := text("#account-email"); got != "jay@example.com" {
				t.Errorf("logged in as %q", got)
			}
			wantLocation("/account")
			if got := text("#passkeys-title + p + table tbody td"); got != "Setup key" {
				t.Errorf("the passkey listed is %q, want “Setup key”", got)
			}

			violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__violations`))
			if err != nil {
				t.Fatal(err)
			}
			if len(violations) > 0 {
				t.Errorf("CSP violations: %q", violations)
			}
			if p := problems(); len(p) > 0 {
				t.Errorf("console reported problems:\n%s", strings.Join(p, "\n"))
			}
		})
	}
}
