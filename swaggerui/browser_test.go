package swaggerui_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse/gatehouse/swaggerui"
)

const testSpec = `{
  "openapi": "3.1.0",
  "info": {"title": "Browser test API", "version": "1.0.0"},
  "paths": {
    "/users/me": {
      "get": {
        "summary": "The current user",
        "responses": {
          "200": {
            "description": "OK",
            "content": {"application/json": {"schema": {
              "type": "object",
              "properties": {"id": {"type": "string", "format": "uuid"}, "email": {"type": "string", "format": "email"}}
            }}}
          }
        }
      }
    }
  }
}`

// recordViolations runs in the page before its own scripts and keeps every
// Content-Security-Policy violation, including those the browser reports
// only as events (an eval attempt caught by the page's code).
const recordViolations = `window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile + ":" + e.lineNumber);
});`

// TestBrowser loads /docs in a real Chromium and waits until Swagger UI has
// rendered the spec's operation, under the handler's strict policy.
func TestBrowser(t *testing.T) {
	chromium := os.Getenv("GATEHOUSE_TEST_CHROMIUM")
	if chromium == "" {
		t.Skip("set GATEHOUSE_TEST_CHROMIUM to a Chromium binary to render /docs in a browser")
	}
	mux := mount(swaggerui.Handler(swaggerui.Config{Title: "Browser test"}))
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, testSpec)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ctx, cancel = chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancel()
	ctx, cancel = chromedp.NewContext(ctx)
	defer cancel()

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
			if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
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

	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recordViolations}); err != nil {
		t.Fatal(err)
	}
	opPath := `.opblock-summary-path[data-path="/users/me"]`
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(srv.URL+"/docs"),
		chromedp.WaitVisible(chromedp.CSS(opPath)),
	); err != nil {
		t.Fatalf("Swagger UI did not render the operation: %v (console: %q)", err, problems)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.opblock.opblock-get `+opPath)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "/users/me") {
		t.Errorf("operation path shows %q", text)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".info .title")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(title, "Browser test API") {
		t.Errorf("spec title shows %q", title)
	}
	// Expanding the operation renders its example response through the
	// syntax highlighter, which styles its tokens.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(opPath)),
		chromedp.WaitVisible(chromedp.CSS(".opblock-body .responses-wrapper .microlight")),
	); err != nil {
		t.Fatalf("expanding the operation: %v (console: %q)", err, problems)
	}
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__violations`))
	if err != nil {
		t.Fatal(err)
	}
	if len(violations) > 0 {
		t.Errorf("CSP violations: %q", violations)
	}

	if dir := os.Getenv("GATEHOUSE_TEST_ARTIFACTS"); dir != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "swaggerui.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("console reported problems:\n%s", strings.Join(problems, "\n"))
	}
}
