package cli

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/webhook"
)

// flowKeyInfo is the HKDF info of the key that signs the verification and
// reset tokens: a key of their own, derived from the secret, so that they
// never share one with the access tokens.
const flowKeyInfo = "gatehouse account tokens v1"

// flowSigner returns the signer of the account-flow tokens.
func flowSigner(secret string) (*jwt.Signer, error) {
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, flowKeyInfo, 32)
	if err != nil {
		return nil, err
	}
	return jwt.NewSigner(key)
}

// accountHooks are the server's hooks: the mails of the account flows and,
// when configured, the webhook. They deliver off the request path, so they
// must be closed to deliver what is still queued.
type accountHooks struct {
	gatehouse.Hooks
	closers   []func(context.Context) error
	closeOnce sync.Once
	closeErr  error
}

// newAccountHooks builds the mailer (SMTP, a directory or the log, behind
// a queue), the mail templates and the webhook. publicURL is the base of
// the links in the mails: configured, never taken from a request.
func newAccountHooks(c *config, publicURL string, log *slog.Logger) (*accountHooks, error) {
	var mailer gatehouse.Mailer
	switch {
	case c.SMTP != nil:
		mailer = c.SMTP
		log.Info("sending mails through SMTP", "server", redactSMTP(c.SMTPURL), "from", c.MailFrom)
	case c.MailDir != "":
		mailer = &mail.Dir{Path: c.MailDir, From: c.MailFrom}
		log.Info("writing mails into a directory instead of sending them", "dir", c.MailDir)
	default:
		mailer = mail.Log{Logger: log}
		log.Warn("no mail delivery configured: verification and password reset mails are only logged; set GATEHOUSE_SMTP_URL")
	}
	queue := mail.NewQueue(mailer, mail.QueueOptions{Logger: log})
	h := &accountHooks{closers: []func(context.Context) error{queue.Close}}
	hooks := gatehouse.MultiHooks{&mail.Hooks{
		Mailer:    queue,
		Templates: c.MailTemplates,
		PublicURL: publicURL,
		VerifyTTL: c.VerifyTokenTTL,
		ResetTTL:  c.ResetTokenTTL,
	}}

	if c.WebhookURL != "" {
		wh, err := webhook.New(webhook.Config{URL: c.WebhookURL, Secret: []byte(c.WebhookSecret), Logger: log})
		if err != nil {
			_ = h.Close(context.Background()) // nothing is queued yet
			return nil, fmt.Errorf("serve: %s: %w", describeSettings("webhook-url"), err)
		}
		h.closers = append(h.closers, wh.Close)
		hooks = append(hooks, wh)
		log.Info("posting account events to a webhook", "url", redactWebhook(c.WebhookURL))
	}
	h.Hooks = hooks
	return h, nil
}

// Close delivers what is queued, mails and webhooks at once, giving up
// (and dropping the rest, which is logged) when ctx ends. Only the first
// call does anything.
func (h *accountHooks) Close(ctx context.Context) error {
	h.closeOnce.Do(func() {
		errs := make([]error, len(h.closers))
		var wg sync.WaitGroup
		for i, c := range h.closers {
			wg.Go(func() { errs[i] = c(ctx) })
		}
		wg.Wait()
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}

// redactSMTP returns an SMTP URL fit for logs: scheme, host and port.
func redactSMTP(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a URL)"
	}
	return u.Scheme + "://" + u.Host
}

// redactWebhook returns a webhook URL fit for logs: its path and query may
// hold a token, so only scheme and host are kept.
func redactWebhook(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a URL)"
	}
	if u.Path != "" || u.RawQuery != "" {
		return u.Scheme + "://" + u.Host + "/..."
	}
	return u.Scheme + "://" + u.Host
}
