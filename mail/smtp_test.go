package mail_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/mail"
)

const (
	testUser = "mailer"
	testPass = "s3cret p@ss:word"
	testFrom = "Gatehouse <noreply@example.com>"
)

func testMessage() gatehouse.Message {
	return gatehouse.Message{
		To:      "ada@example.com",
		Subject: "Vérifiez votre adresse",
		Text:    "Open this link:\n\nhttps://auth.example.com/verify?token=TOKEN-abc.def_ghi\n",
		HTML:    `<p><a href="https://auth.example.com/verify?token=TOKEN-abc.def_ghi">Verify</a></p>`,
	}
}

func credentials() string {
	return url.UserPassword(testUser, testPass).String() + "@"
}

func newSMTP(t *testing.T, rawURL string, roots *tls.Config) *mail.SMTP {
	t.Helper()
	s, err := mail.NewSMTP(rawURL, testFrom)
	if err != nil {
		t.Fatal(err)
	}
	s.TLSConfig = roots
	return s
}

// posing makes s reach addr whatever host its URL names, and records the
// address it asked for.
func posing(s *mail.SMTP, addr string, asked *string) {
	mail.SetDial(s, func(ctx context.Context, network, a string) (net.Conn, error) {
		*asked = a
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	})
}

func checkDelivered(t *testing.T, got received, wantUser string) {
	t.Helper()
	if got.from != "noreply@example.com" || len(got.to) != 1 || got.to[0] != "ada@example.com" {
		t.Errorf("envelope from %q to %q", got.from, got.to)
	}
	if got.user != wantUser {
		t.Errorf("authenticated as %q, want %q", got.user, wantUser)
	}
	p := parseMail(t, got.data)
	if p.subject != "Vérifiez votre adresse" {
		t.Errorf("Subject %q", p.subject)
	}
	if from := p.header.Get("From"); from != `"Gatehouse" <noreply@example.com>` {
		t.Errorf("From %q", from)
	}
	if !strings.Contains(p.text, "https://auth.example.com/verify?token=TOKEN-abc.def_ghi\r\n") { // decoded, with the CRLF of a mail
		t.Errorf("text part lacks the link:\n%s", p.text)
	}
	if !strings.Contains(p.html, `href="https://auth.example.com/verify?token=TOKEN-abc.def_ghi"`) {
		t.Errorf("HTML part lacks the link:\n%s", p.html)
	}
}

func TestSMTPStartTLS(t *testing.T) {
	cert := newCert(t)
	be := &backend{user: testUser, pass: testPass}
	addr := startServer(t, be, startTLS, cert.server, false) // AUTH only after TLS
	s := newSMTP(t, "smtp://"+credentials()+addr, &tls.Config{RootCAs: cert.roots})
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	got := be.only(t)
	if !got.tls {
		t.Error("mail did not come over TLS")
	}
	checkDelivered(t, got, testUser)
}

func TestSMTPStartTLSRemoteHost(t *testing.T) {
	// A host that is not loopback, with the default port, and a
	// certificate checked against its name.
	cert := newCert(t)
	be := &backend{user: testUser, pass: testPass}
	addr := startServer(t, be, startTLS, cert.server, false)
	s := newSMTP(t, "smtp://"+credentials()+"mail.example", &tls.Config{RootCAs: cert.roots})
	var asked string
	posing(s, addr, &asked)
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	if asked != "mail.example:587" {
		t.Errorf("dialled %q, want mail.example:587", asked)
	}
	checkDelivered(t, be.only(t), testUser)
}

func TestSMTPImplicitTLS(t *testing.T) {
	cert := newCert(t)
	be := &backend{user: testUser, pass: testPass}
	addr := startServer(t, be, implicitTLS, cert.server, false)
	s := newSMTP(t, "smtps://"+credentials()+addr, &tls.Config{RootCAs: cert.roots})
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	got := be.only(t)
	if !got.tls {
		t.Error("mail did not come over TLS")
	}
	checkDelivered(t, got, testUser)
}

func TestSMTPImplicitTLSDefaultPort(t *testing.T) {
	cert := newCert(t)
	be := &backend{}
	addr := startServer(t, be, implicitTLS, cert.server, false)
	s := newSMTP(t, "smtps://mail.example", &tls.Config{RootCAs: cert.roots})
	var asked string
	posing(s, addr, &asked)
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	if asked != "mail.example:465" {
		t.Errorf("dialled %q, want mail.example:465", asked)
	}
	checkDelivered(t, be.only(t), "")
}

func TestSMTPUntrustedCertificate(t *testing.T) {
	cert := newCert(t)
	for _, mode := range []tlsMode{startTLS, implicitTLS} {
		be := &backend{user: testUser, pass: testPass}
		addr := startServer(t, be, mode, cert.server, false)
		scheme := map[tlsMode]string{startTLS: "smtp", implicitTLS: "smtps"}[mode]

		// The system roots do not know the certificate: no fallback to
		// plain text, no AUTH, no mail.
		s := newSMTP(t, scheme+"://"+credentials()+addr, nil)
		err := s.Send(context.Background(), testMessage())
		var uerr x509UnknownAuthority
		if err == nil || !errors.As(err, &uerr) {
			t.Errorf("%s: err = %v, want an unknown authority error", scheme, err)
		}
		if n := be.authAttempts(); n != 0 || len(be.received()) != 0 {
			t.Errorf("%s: %d AUTH attempts, %d mails after a failed handshake", scheme, n, len(be.received()))
		}

		// Unless told to skip verification (tests only).
		s = newSMTP(t, scheme+"://"+credentials()+addr+"?insecure_skip_verify=true", nil)
		if err := s.Send(context.Background(), testMessage()); err != nil {
			t.Errorf("%s with insecure_skip_verify: %v", scheme, err)
		}
		checkDelivered(t, be.only(t), testUser)
	}
}

func TestSMTPRefusesCleartextCredentials(t *testing.T) {
	// A server without TLS that would take AUTH in clear.
	be := &backend{user: testUser, pass: testPass}
	addr := startServer(t, be, plainText, nil, true)

	s := newSMTP(t, "smtp://"+credentials()+"mail.example:25", nil)
	var asked string
	posing(s, addr, &asked)
	err := s.Send(context.Background(), testMessage())
	if err == nil || !strings.Contains(err.Error(), "refusing to send credentials unencrypted") {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if strings.Contains(err.Error(), testPass) {
		t.Errorf("error shows the password: %v", err)
	}
	if n := be.authAttempts(); n != 0 || len(be.received()) != 0 {
		t.Errorf("%d AUTH attempts, %d mails", n, len(be.received()))
	}

	// On the local host, credentials in clear are allowed (a local MTA).
	s = newSMTP(t, "smtp://"+credentials()+addr, nil)
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, be.only(t), testUser)
}

func TestSMTPRelayWithoutCredentials(t *testing.T) {
	// No credentials and no STARTTLS offered: a remote relay gets the mail
	// in clear only when the URL says so.
	be := &backend{}
	addr := startServer(t, be, plainText, nil, false)
	s := newSMTP(t, "smtp://relay.internal:25", nil)
	var asked string
	posing(s, addr, &asked)
	if err := s.Send(context.Background(), testMessage()); err == nil || !strings.Contains(err.Error(), "unencrypted") {
		t.Fatalf("plain text to a remote relay: %v", err)
	}
	s = newSMTP(t, "smtp://relay.internal:25?insecure_allow_plaintext=true", nil)
	posing(s, addr, &asked)
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, be.only(t), "")
}

func TestSMTPCredentialsWithoutAUTH(t *testing.T) {
	cert := newCert(t)
	be := &backend{} // offers no AUTH
	addr := startServer(t, be, startTLS, cert.server, false)
	s := newSMTP(t, "smtp://"+credentials()+addr, &tls.Config{RootCAs: cert.roots})
	if err := s.Send(context.Background(), testMessage()); err == nil || !strings.Contains(err.Error(), "no AUTH") {
		t.Fatalf("err = %v", err)
	}
}

func TestCheckCleartext(t *testing.T) {
	for _, tt := range []struct {
		host                   string
		starttls, creds, plain bool
		ok                     bool
	}{
		{"mail.example", true, true, false, true},
		{"mail.example", false, false, false, false}, // tokens in clear to a remote host
		{"mail.example", false, false, true, true},   // ... unless the URL says so
		{"mail.example", false, true, false, false},
		{"mail.example", false, true, true, false}, // never credentials in clear
		{"10.0.0.1", false, true, false, false},
		{"127.0.0.2", false, true, false, false}, // net/smtp would refuse it too
		{"localhost", false, true, false, true},
		{"127.0.0.1", false, false, false, true},
		{"::1", false, true, false, true},
	} {
		err := mail.CheckCleartext(tt.host, tt.starttls, tt.creds, tt.plain)
		if (err == nil) != tt.ok {
			t.Errorf("CheckCleartext(%q, starttls %v, creds %v, plain %v) = %v", tt.host, tt.starttls, tt.creds, tt.plain, err)
		}
	}
}

func TestSMTPErrors(t *testing.T) {
	cert := newCert(t)
	for _, tt := range []struct {
		name     string
		be       *backend
		user     string
		wantCode int
	}{
		{"bad credentials", &backend{user: testUser, pass: "other"}, credentials(), 535},
		{"RCPT 450", &backend{rcptErr: &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy"}}, "", 450},
		{"RCPT 550", &backend{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}, "", 550},
		{"DATA 451", &backend{dataErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}}, "", 451},
		{"DATA 554", &backend{dataErr: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "rejected"}}, "", 554},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := startServer(t, tt.be, startTLS, cert.server, false)
			s := newSMTP(t, "smtp://"+tt.user+addr, &tls.Config{RootCAs: cert.roots})
			err := s.Send(context.Background(), testMessage())
			var te *textproto.Error
			if !errors.As(err, &te) || te.Code != tt.wantCode {
				t.Fatalf("err = %v, want SMTP code %d", err, tt.wantCode)
			}
			if strings.Contains(err.Error(), testPass) {
				t.Errorf("error shows the password: %v", err)
			}
			if n := len(tt.be.received()); n != 0 {
				t.Errorf("server kept %d mails", n)
			}
		})
	}
}

func TestSMTPServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := newSMTP(t, "smtp://"+addr, nil)
	if err := s.Send(context.Background(), testMessage()); err == nil {
		t.Fatal("sent to a closed port")
	}
}

// hungServer accepts connections and never says a word; it reports each
// one on the returned channel.
func hungServer(t *testing.T) (string, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 10)
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed at cleanup
			}
			held = append(held, c)
			select {
			case conns <- c:
			default:
			}
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), conns
}

func TestSMTPHungServer(t *testing.T) {
	addr, conns := hungServer(t)

	t.Run("Timeout", func(t *testing.T) {
		s := newSMTP(t, "smtp://"+addr, nil)
		s.Timeout = 50 * time.Millisecond
		if err := s.Send(context.Background(), testMessage()); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want a deadline error", err)
		}
	})
	t.Run("ContextDeadline", func(t *testing.T) {
		s := newSMTP(t, "smtp://"+addr, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := s.Send(ctx, testMessage()); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want a deadline error", err)
		}
	})
	t.Run("Cancel", func(t *testing.T) {
		for len(conns) > 0 {
			<-conns
		}
		s := newSMTP(t, "smtp://"+addr, nil)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-conns // connected, waiting for the greeting
			cancel()
		}()
		if err := s.Send(ctx, testMessage()); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestNewSMTP(t *testing.T) {
	for _, tt := range []struct{ url, from string }{
		{"http://mail.example", testFrom},
		{"smtp://", testFrom},
		{"smtp:mail.example", testFrom},
		{"smtp://mail.example/path", testFrom},
		{"smtp://mail.example#frag", testFrom},
		{"smtp://mail.example:0", testFrom},
		{"smtp://mail.example:99999", testFrom},
		{"smtp://user@mail.example", testFrom},
		{"smtp://user:@mail.example", testFrom},
		{"smtp://:pass@mail.example", testFrom},
		{"smtp://mail.example?starttls=no", testFrom},
		{"smtp://mail.example?insecure_skip_verify=maybe", testFrom},
		{"smtp://mail.example", "not an address"},
		{"smtp://mail.example", "a@example.com\r\nBcc: b@example.com"},
	} {
		if _, err := mail.NewSMTP(tt.url, tt.from); err == nil {
			t.Errorf("NewSMTP(%q, %q) succeeded", tt.url, tt.from)
		}
	}
	// Errors never repeat the password.
	for _, u := range []string{"smtp://u:hunter2hunter2@mail.example:bad", "smtp://u:hunter2hunter2@mail.example/x", "ftp://u:hunter2hunter2@mail.example"} {
		_, err := mail.NewSMTP(u, testFrom)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NewSMTP(%q) = %v", u, err)
		}
	}
	for _, u := range []string{"smtp://mail.example", "smtps://u:p@mail.example:2465/", "smtp://[::1]:25?insecure_skip_verify=false"} {
		if _, err := mail.NewSMTP(u, testFrom); err != nil {
			t.Errorf("NewSMTP(%q): %v", u, err)
		}
	}
}
