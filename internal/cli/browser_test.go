package cli_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The browser test's settings, from the environment.
const (
	// chromiumEnv names the Chromium binary to drive; unset, the test skips.
	chromiumEnv = "GATEHOUSE_TEST_CHROMIUM"
	// artifactsEnv names a directory for a screenshot of each step.
	artifactsEnv = "GATEHOUSE_TEST_ARTIFACTS"
	// readmeShotEnv asks for the README's screenshot of the login page.
	readmeShotEnv = "GATEHOUSE_UPDATE_README_SCREENSHOT"
)

// readmeShot is where the README's screenshot of the login page lives,
// relative to this package.
const readmeShot = "../../doc/login-page.png"

// newBrowser starts a headless Chromium of its own (fresh profile) for the
// test, with a 800x600 window.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exec := os.Getenv(chromiumEnv)
	if exec == "" {
		t.Skipf("set %s to a Chromium binary (such as /usr/bin/chromium) to run the browser test", chromiumEnv)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exec),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(800, 600),
	)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", exec, err)
	}
	return ctx
}

// screenshot saves the page as browser-NAME.png in the artifacts
// directory, when one is set.
func screenshot(t *testing.T, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		dir := os.Getenv(artifactsEnv)
		if dir == "" {
			return nil
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		png, err := chromedp.FullScreenshot(100)(ctx, target) // quality 100 is PNG
		if err != nil {
			return err
		}
		t.Logf("screenshot %s", name)
		return os.WriteFile(filepath.Join(dir, "browser-"+name+".png"), png, 0o644)
	})
}

// readmeScreenshot writes the README's picture of the login page, when
// asked to.
func readmeScreenshot() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		if os.Getenv(readmeShotEnv) == "" {
			return nil
		}
		png, err := chromedp.CaptureScreenshot()(ctx, target)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(readmeShot), 0o755); err != nil {
			return err
		}
		return os.WriteFile(readmeShot, png, 0o644)
	})
}

// browse runs actions in the browser, failing the test with the step's name.
func browse(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// read runs one action that returns a value.
func read[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("read %s: %v", what, err)
	}
	return v
}

// button finds a button by its text.
func button(text string) chromedp.Search { return chromedp.Search(`//button[text()="` + text + `"]`) }

// status finds the page's status message holding text.
func status(text string) chromedp.Search {
	return chromedp.Search(`//p[@role="status"][contains(., "` + text + `")]`)
}

// TestBrowserAccountPages drives the account pages in headless Chromium,
// without any script on the pages: register, confirm the e-mail from the
// mail's link, log in, make an API key and use it, log out everywhere;
// then the keyboard and an announced error on the login page.
func TestBrowserAccountPages(t *testing.T) {
	ctx := newBrowser(t)
	dbURL, _ := sqliteURL(t)
	dir := filepath.Join(t.TempDir(), "mails")
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_MAIL_DIR": dir},
		"--database-url", dbURL, "--cookie-secure=false")
	const email = "ann@example.com"
	loginTitle := chromedp.Search(`//h1[text()="Log in"]`)

	browse(t, ctx, "register",
		chromedp.Navigate(s.URL+"/register"),
		chromedp.WaitVisible(chromedp.ID("email")),
		screenshot(t, "1-register"),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.SendKeys(chromedp.ID("password-confirm"), testPassword),
		chromedp.Click(button("Create my account")),
		chromedp.WaitVisible(status("We sent you an e-mail")),
		screenshot(t, "2-registered"),
	)

	link := s.URL + "/verify?token=" + tokenFrom(t, readMail(t, waitMail(t, dir, 1)), s.URL+"/verify")
	browse(t, ctx, "verify",
		chromedp.Navigate(link),
		chromedp.WaitVisible(button("Confirm my e-mail")),
		screenshot(t, "3-verify"),
		chromedp.Click(button("Confirm my e-mail")),
		chromedp.WaitVisible(status("Your e-mail address is confirmed.")),
	)

	browse(t, ctx, "log in",
		chromedp.WaitVisible(loginTitle),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(button("Log in")),
		chromedp.WaitVisible(chromedp.ID("account-email")),
		screenshot(t, "4-account"),
	)
	if shown := read(t, ctx, "the e-mail", chromedp.Text(chromedp.ID("account-email"))); shown != email {
		t.Fatalf("the account page shows %q, want %s", shown, email)
	}

	browse(t, ctx, "create an API key",
		chromedp.SendKeys(chromedp.ID("key-name"), "browser test"),
		chromedp.Click(button("Create the key")),
		chromedp.WaitVisible(chromedp.ID("new-key")),
		screenshot(t, "5-api-key"),
	)
	key := read(t, ctx, "the key", chromedp.Value(chromedp.ID("new-key")))
	req, err := http.NewRequest("GET", s.URL+"/users/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /users/me with the new key: %d, want 200", resp.StatusCode)
	}
	browse(t, ctx, "reload the account page",
		chromedp.Navigate(s.URL+"/account"),
		chromedp.WaitVisible(chromedp.ID("account-email")),
	)
	if html := read(t, ctx, "the page", chromedp.OuterHTML(chromedp.CSS("html"))); !strings.Contains(html, "browser test") ||
		strings.Contains(html, key) {
		t.Errorf("the account page lists no key \"browser test\", or shows the key again")
	}

	browse(t, ctx, "log out everywhere",
		chromedp.Click(button("Log out everywhere")),
		chromedp.WaitVisible(status("logged out on every device")),
		screenshot(t, "6-logged-out"),
		chromedp.Navigate(s.URL+"/account"),
		chromedp.WaitVisible(loginTitle),
	)
	if loc, want := read(t, ctx, "the location", chromedp.Location()), s.URL+"/login?next=%2Faccount"; loc != want {
		t.Errorf("after logging out everywhere, /account leads to %s, want %s", loc, want)
	}

	// The first Tab of the login page reaches the e-mail field.
	browse(t, ctx, "keyboard",
		chromedp.Navigate(s.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("email")),
		readmeScreenshot(),
		screenshot(t, "7-login"),
		chromedp.KeyEvent(kb.Tab),
	)
	if focused := read(t, ctx, "the focus", chromedp.Evaluate[string](`document.activeElement.id`)); focused != "email" {
		t.Errorf("the first Tab focuses %q, want the e-mail field", focused)
	}

	// A wrong password is announced, and the focus moves to the message.
	browse(t, ctx, "wrong password",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), "not-the-password"),
		chromedp.Click(button("Log in")),
		chromedp.WaitVisible(chromedp.CSS(`[role="alert"]`)),
		screenshot(t, "8-wrong-password"),
	)
	alert := read(t, ctx, "the alert", chromedp.Text(chromedp.CSS(`[role="alert"]`)))
	role := read(t, ctx, "the focus", chromedp.Evaluate[string](`document.activeElement.getAttribute("role")`))
	if !strings.Contains(alert, "Wrong e-mail or password.") || role != "alert" {
		t.Errorf("wrong password: alert %q, focus on role %q; want the message, focused", alert, role)
	}
}
