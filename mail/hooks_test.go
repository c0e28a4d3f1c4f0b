package mail_test

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/mail"
)

// A token with every character that needs escaping in a query.
const hookToken = "eyJ.a+b/c=d&e%f g#h"

func TestHooks(t *testing.T) {
	u := &gatehouse.User{ID: gatehouse.NewID(), Email: "ada@example.com"}
	for _, tt := range []struct {
		name      string
		publicURL string
		call      func(mail.Hooks) error
		wantLink  string
		subject   string
		expires   string
	}{
		{"verify", "https://auth.example.com",
			func(h mail.Hooks) error { return h.AfterRequestVerify(context.Background(), u, hookToken) },
			"https://auth.example.com/verify?token=" + url.QueryEscape(hookToken), "Verify your e-mail address for Gatehouse", "2 hours"},
		{"verify trailing slash", "https://auth.example.com/",
			func(h mail.Hooks) error { return h.AfterRequestVerify(context.Background(), u, hookToken) },
			"https://auth.example.com/verify?token=" + url.QueryEscape(hookToken), "Verify your e-mail address for Gatehouse", "2 hours"},
		{"reset", "http://127.0.0.1:8000",
			func(h mail.Hooks) error { return h.AfterForgotPassword(context.Background(), u, hookToken) },
			"http://127.0.0.1:8000/reset-password?token=" + url.QueryEscape(hookToken), "Reset your Gatehouse password", "1 hour"},
		{"reset under a path", "https://example.com/auth//",
			func(h mail.Hooks) error { return h.AfterForgotPassword(context.Background(), u, hookToken) },
			"https://example.com/auth/reset-password?token=" + url.QueryEscape(hookToken), "Reset your Gatehouse password", "1 hour"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			h := mail.Hooks{Mailer: rec, PublicURL: tt.publicURL, VerifyTTL: 2 * time.Hour}
			if err := tt.call(h); err != nil {
				t.Fatal(err)
			}
			sent := rec.messages()
			if len(sent) != 1 {
				t.Fatalf("%d mails", len(sent))
			}
			m := sent[0]
			if m.To != u.Email || m.Subject != tt.subject {
				t.Errorf("To %q, Subject %q", m.To, m.Subject)
			}
			if !strings.Contains(m.Text, tt.expires) {
				t.Errorf("text does not say %q:\n%s", tt.expires, m.Text)
			}
			// The mail as it goes out: the link in the text part gives back
			// the token.
			raw, err := mail.Compose("noreply@example.com", m, testNow)
			if err != nil {
				t.Fatal(err)
			}
			text := parseMail(t, raw).text
			link := regexp.MustCompile(`https?://\S+`).FindString(text)
			if link != tt.wantLink {
				t.Fatalf("link %q, want %q", link, tt.wantLink)
			}
			l, err := url.Parse(link)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Query().Get("token"); got != hookToken {
				t.Errorf("token %q, want %q", got, hookToken)
			}
		})
	}
}

func TestHooksErrors(t *testing.T) {
	u := &gatehouse.User{Email: "ada@example.com"}
	ctx := context.Background()
	for _, publicURL := range []string{"", "auth.example.com", "/relative", "ftp://example.com", "https://example.com/?a=b", "https://"} {
		rec := &recorder{}
		h := mail.Hooks{Mailer: rec, PublicURL: publicURL}
		if err := h.AfterRequestVerify(ctx, u, "t"); err == nil {
			t.Errorf("PublicURL %q: no error", publicURL)
		}
		if err := h.AfterForgotPassword(ctx, u, "t"); err == nil {
			t.Errorf("PublicURL %q: no error", publicURL)
		}
		if n := len(rec.messages()); n != 0 {
			t.Errorf("PublicURL %q: %d mails", publicURL, n)
		}
	}
	if err := (mail.Hooks{PublicURL: "https://auth.example.com"}).AfterRequestVerify(ctx, u, "t"); err == nil {
		t.Error("no Mailer: no error")
	}
	failing := mailerFunc(func(context.Context, gatehouse.Message) error { return errors.New("down") })
	if err := (mail.Hooks{Mailer: failing, PublicURL: "https://auth.example.com"}).AfterForgotPassword(ctx, u, "t"); err == nil {
		t.Error("a failing Mailer's error is lost")
	}
}

func TestHooksOtherEvents(t *testing.T) {
	rec := &recorder{}
	var hooks gatehouse.Hooks = gatehouse.MultiHooks{&mail.Hooks{Mailer: rec, PublicURL: "https://auth.example.com"}}
	u := &gatehouse.User{Email: "ada@example.com"}
	ctx := context.Background()
	for _, err := range []error{
		hooks.AfterRegister(ctx, u), hooks.AfterLogin(ctx, u), hooks.AfterUpdate(ctx, u, []string{"email"}),
		hooks.AfterVerify(ctx, u), hooks.AfterResetPassword(ctx, u), hooks.BeforeDelete(ctx, u), hooks.AfterDelete(ctx, u),
	} {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(rec.messages()); n != 0 {
		t.Errorf("%d mails", n)
	}
	if err := hooks.AfterRequestVerify(ctx, u, "t"); err != nil || len(rec.messages()) != 1 {
		t.Errorf("through MultiHooks: %v, %d mails", err, len(rec.messages()))
	}
}
