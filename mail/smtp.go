package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
)

// The client side is net/smtp, on a connection we dial ourselves. net/smtp
// is frozen but complete for what a sender needs (EHLO, STARTTLS, AUTH,
// MAIL/RCPT/DATA with dot-stuffing, SMTPUTF8 and 8BITMIME when offered),
// and its PlainAuth refuses on its own to send a password unencrypted to
// anything but localhost: a second lock behind ours. What it lacks is
// contexts; the connection's deadline stands in for them (see
// SMTP.send), so a server that stops answering cannot hold a worker
// forever. A client of our own on net/textproto would only repeat it.

const (
	defaultTimeout   = 30 * time.Second
	defaultLocalName = "localhost"
)

// SMTP is a Mailer that sends each mail through an SMTP server, one
// connection per mail. Make it with [NewSMTP]; its exported fields may be
// changed before the first Send.
//
// Transport security is not optional:
//
//   - smtps:// speaks TLS from the first byte (implicit TLS, port 465).
//   - smtp:// (port 587) upgrades with STARTTLS whenever the server offers
//     it; a failed upgrade (such as an untrusted certificate) fails the
//     mail, it never falls back to plain text.
//   - Credentials are only ever sent over TLS, or in clear to a server
//     named localhost, 127.0.0.1 or ::1. An smtp:// URL with credentials
//     for any other host whose server offers no STARTTLS fails before AUTH.
//
// An smtp:// server that offers no STARTTLS only gets mail in clear when it
// is the local host, or when the URL says ?insecure_allow_plaintext=true (a
// relay on a trusted network): the mails carry verification and reset
// tokens, so clear text is never the silent default.
type SMTP struct {
	// TLSConfig configures TLS (both STARTTLS and smtps://), for example
	// RootCAs for a server with a private certificate. Nil means the
	// system roots. ServerName defaults to the URL's host.
	TLSConfig *tls.Config

	// Timeout bounds one mail's whole conversation, from dialling to the
	// server's answer to the message; a shorter deadline of the context
	// given to Send wins. Default 30 s.
	Timeout time.Duration

	// LocalName is the name sent with EHLO; default "localhost".
	LocalName string

	from        string
	addr        string // host:port
	host        string
	implicitTLS bool
	auth        smtp.Auth // nil without credentials
	insecure    bool      // ?insecure_skip_verify=true
	plaintext   bool      // ?insecure_allow_plaintext=true

	// dial connects to addr; nil means a net.Dialer. Tests point it
	// elsewhere to pose as another host.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// NewSMTP returns an SMTP mailer for the server at rawURL, sending as from
// (an address, optionally with a display name: "App <noreply@example.com>").
// The URL forms are:
//
//	smtp://[user:password@]host[:port]    STARTTLS, port 587 by default
//	smtps://[user:password@]host[:port]   implicit TLS, port 465 by default
//
// User and password are URL-escaped and authenticate with AUTH PLAIN. Two
// query parameters weaken the transport and say so: insecure_skip_verify=true
// accepts any certificate (tests only: anyone on the path can read the mails
// and the password), and insecure_allow_plaintext=true lets a remote relay
// that offers no STARTTLS get the mails in clear (never credentials). Errors never repeat the URL, which may hold a password.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error quotes the URL, password and all
		}
		return nil, fmt.Errorf("mail: invalid SMTP URL: %w", err)
	}
	s := &SMTP{from: from}
	var port string
	switch u.Scheme {
	case "smtp":
		port = "587"
	case "smtps":
		port, s.implicitTLS = "465", true
	default:
		return nil, fmt.Errorf("mail: SMTP URL scheme %q: want smtp or smtps", u.Scheme)
	}
	s.host = u.Hostname()
	if s.host == "" || u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return nil, errors.New("mail: invalid SMTP URL: want smtp[s]://[user:password@]host[:port]")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("mail: SMTP URL port %q is invalid", p)
		}
		port = p
	}
	s.addr = net.JoinHostPort(s.host, port)
	for k, v := range u.Query() {
		switch k {
		case "insecure_skip_verify":
			b, err := strconv.ParseBool(v[len(v)-1])
			if err != nil {
				return nil, fmt.Errorf("mail: SMTP URL: insecure_skip_verify=%q is not a boolean", v[len(v)-1])
			}
			s.insecure = b
		case "insecure_allow_plaintext":
			b, err := strconv.ParseBool(v[len(v)-1])
			if err != nil {
				return nil, fmt.Errorf("mail: SMTP URL: insecure_allow_plaintext=%q is not a boolean", v[len(v)-1])
			}
			s.plaintext = b
		default:
			return nil, fmt.Errorf("mail: SMTP URL: unknown parameter %q", k)
		}
	}
	if u.User != nil {
		pass, ok := u.User.Password()
		if u.User.Username() == "" || !ok || pass == "" {
			return nil, errors.New("mail: SMTP URL: credentials need both a user and a password")
		}
		s.auth = smtp.PlainAuth("", u.User.Username(), pass, s.host)
	}
	if _, err := parseAddress("From", from); err != nil {
		return nil, err
	}
	return s, nil
}

// Send composes m (see [Compose]) and delivers it. An error the server
// answered with wraps a *textproto.Error carrying its reply code; a 5xx
// code is permanent and a [Queue] does not retry it.
func (s *SMTP) Send(ctx context.Context, m gatehouse.Message) error {
	now := time.Now()
	msg, from, to, err := compose(s.from, m, now)
	if err != nil {
		return err
	}
	if err := s.send(ctx, from, to, msg); err != nil {
		return fmt.Errorf("mail: smtp %s: %w", s.addr, err)
	}
	return nil
}

func (s *SMTP) send(ctx context.Context, from, to string, msg []byte) (err error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		// A deadline or cancellation shows as an i/o error; say why. The
		// connection's deadline may pass a moment before the context's.
		switch {
		case err == nil:
		case ctx.Err() != nil:
			err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
		case errors.Is(err, os.ErrDeadlineExceeded):
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
	}()

	dial := s.dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", s.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// net/smtp knows no contexts: the deadline bounds every read and
	// write, and cancelling the context moves it to the past, which fails
	// the read or write in progress at once.
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	// Should this fail, the deadline set above still ends the exchange.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	cfg := s.tlsConfig()
	if s.implicitTLS {
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return err
	}
	defer c.Close()
	localName := s.LocalName
	if localName == "" {
		localName = defaultLocalName
	}
	if err := c.Hello(localName); err != nil {
		return err
	}
	if !s.implicitTLS {
		offered, _ := c.Extension("STARTTLS")
		if err := checkCleartext(s.host, offered, s.auth != nil, s.plaintext); err != nil {
			return err
		}
		if offered {
			if err := c.StartTLS(cfg); err != nil {
				return fmt.Errorf("starttls: %w", err)
			}
		}
	}
	if s.auth != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the server offers no AUTH, but the URL has credentials")
		}
		if err := c.Auth(s.auth); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil { // the server's answer to the message
		return fmt.Errorf("data: %w", err)
	}
	_ = c.Quit() // the mail is accepted; a failed goodbye changes nothing
	return nil
}

// tlsConfig returns the TLS configuration of one connection.
func (s *SMTP) tlsConfig() *tls.Config {
	var cfg *tls.Config
	if s.TLSConfig != nil {
		cfg = s.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if s.insecure {
		// #nosec G402 -- only when the operator asks for it in the SMTP URL
		// with ?insecure_skip_verify=true (documented on NewSMTP).
		cfg.InsecureSkipVerify = true
	}
	return cfg
}

// checkCleartext decides, on a plain smtp:// connection, whether the
// conversation may go on: STARTTLS, when offered, is always used. Without
// it only the local host is talked to in clear, since the mails carry
// verification and reset tokens; a relay elsewhere needs
// ?insecure_allow_plaintext=true, and never gets credentials in clear.
func checkCleartext(host string, starttlsOffered, hasAuth, allowPlaintext bool) error {
	switch {
	case starttlsOffered, isLoopback(host):
		return nil
	case hasAuth:
		return fmt.Errorf("refusing to send credentials unencrypted: %s offers no STARTTLS (use smtps:// or a server that offers STARTTLS)", host)
	case allowPlaintext:
		return nil
	}
	return fmt.Errorf("refusing to send mail unencrypted: %s offers no STARTTLS (use smtps://, or add ?insecure_allow_plaintext=true for a trusted relay)", host)
}

// isLoopback reports whether host names the local host, with exactly the
// names net/smtp's PlainAuth accepts without TLS.
func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
