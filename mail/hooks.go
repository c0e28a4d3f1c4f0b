package mail

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// defaultFlowTTL is the Manager's token lifetime when it has none set.
const defaultFlowTTL = time.Hour

// Hooks is the [gatehouse.Hooks] that mails the links of e-mail
// verification and password reset:
//
//	AfterRequestVerify    PublicURL + "/verify?token=" + token
//	AfterForgotPassword   PublicURL + "/reset-password?token=" + token
//
// The token is query-escaped, and a trailing slash of PublicURL is
// dropped. Links are built from PublicURL only, never from a request, so a
// forged Host header cannot send a user's token to another site. Other
// events do nothing (NopHooks); combine Hooks with others through
// gatehouse.MultiHooks.
//
// Put a [Queue] in Mailer, so the Manager's flows do not wait for the mail
// server.
type Hooks struct {
	gatehouse.NopHooks

	Mailer    gatehouse.Mailer // required
	Templates *Templates       // nil means the embedded defaults
	// PublicURL is the absolute http(s) URL the links start with, such as
	// "https://auth.example.com"; required.
	PublicURL string
	// VerifyTTL and ResetTTL are the tokens' lifetimes, which the mails
	// state: set them to the Manager's VerifyTTL and ResetTTL. 0 means
	// 1 hour, the Manager's default.
	VerifyTTL, ResetTTL time.Duration
}

// AfterRequestVerify mails u the verification link holding token.
func (h Hooks) AfterRequestVerify(ctx context.Context, u *gatehouse.User, token string) error {
	link, err := h.link("/verify", token)
	if err != nil {
		return err
	}
	m, err := h.Templates.Verify(u.Email, link, orDefault(h.VerifyTTL))
	if err != nil {
		return err
	}
	return h.send(ctx, m)
}

// AfterForgotPassword mails u the password reset link holding token.
func (h Hooks) AfterForgotPassword(ctx context.Context, u *gatehouse.User, token string) error {
	link, err := h.link("/reset-password", token)
	if err != nil {
		return err
	}
	m, err := h.Templates.Reset(u.Email, link, orDefault(h.ResetTTL))
	if err != nil {
		return err
	}
	return h.send(ctx, m)
}

func (h Hooks) send(ctx context.Context, m gatehouse.Message) error {
	if h.Mailer == nil {
		return errors.New("mail: Hooks.Mailer is not set")
	}
	return h.Mailer.Send(ctx, m)
}

// link returns PublicURL + path + "?token=" + the escaped token.
func (h Hooks) link(path, token string) (string, error) {
	u, err := url.Parse(h.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("mail: Hooks.PublicURL %q is not an absolute http(s) URL without query", h.PublicURL)
	}
	return strings.TrimRight(h.PublicURL, "/") + path + "?token=" + url.QueryEscape(token), nil
}

func orDefault(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return defaultFlowTTL
	}
	return ttl
}
