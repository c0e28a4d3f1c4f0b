package mail_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/gatehouse/gatehouse"
)

// testCert is a self-signed certificate for localhost, 127.0.0.1 and
// mail.example, and a pool that trusts it.
type testCert struct {
	server *tls.Config
	roots  *x509.CertPool
}

func newCert(t *testing.T) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gatehouse test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              []string{"localhost", "mail.example"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return testCert{
		server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}},
		roots:  roots,
	}
}

// received is one mail a test server accepted.
type received struct {
	from string
	to   []string
	data []byte
	user string // who authenticated, "" for nobody
	tls  bool   // whether the mail came over TLS
}

// backend is a go-smtp backend that records what it gets. With user set it
// offers AUTH PLAIN and requires it; rcptErr and dataErr fail RCPT and DATA.
type backend struct {
	user, pass       string
	rcptErr, dataErr error

	mu    sync.Mutex
	mails []received
	auths int // AUTH attempts
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{b: b, c: c}, nil
}

func (b *backend) received() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.mails...)
}

func (b *backend) authAttempts() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.auths
}

// only returns the one mail the server got.
func (b *backend) only(t *testing.T) received {
	t.Helper()
	got := b.received()
	if len(got) != 1 {
		t.Fatalf("server got %d mails, want 1", len(got))
	}
	return got[0]
}

type session struct {
	b   *backend
	c   *smtp.Conn
	cur received
}

func (s *session) AuthMechanisms() []string {
	if s.b.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		s.b.mu.Lock()
		s.b.auths++
		s.b.mu.Unlock()
		if username != s.b.user || password != s.b.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.cur.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.user != "" && s.cur.user == "" {
		return smtp.ErrAuthRequired
	}
	_, s.cur.tls = s.c.TLSConnectionState()
	s.cur.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.rcptErr != nil {
		return s.b.rcptErr
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.b.dataErr != nil {
		return s.b.dataErr
	}
	s.cur.data = data
	s.b.mu.Lock()
	s.b.mails = append(s.b.mails, s.cur)
	s.b.mu.Unlock()
	s.cur = received{user: s.cur.user}
	return nil
}

func (s *session) Reset()        { s.cur = received{user: s.cur.user} }
func (s *session) Logout() error { return nil }

type tlsMode int

const (
	plainText   tlsMode = iota // no TLS at all
	startTLS                   // STARTTLS offered
	implicitTLS                // TLS from the first byte
)

// startServer runs an SMTP server for be on 127.0.0.1 and returns its
// address. cert may be nil for plainText. insecureAuth lets it take AUTH
// without TLS.
func startServer(t *testing.T, be *backend, mode tlsMode, cert *tls.Config, insecureAuth bool) string {
	t.Helper()
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.AllowInsecureAuth = insecureAuth
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case startTLS:
		s.TLSConfig = cert
	case implicitTLS:
		ln = tls.NewListener(ln, cert)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

// parsedMail is a message taken apart.
type parsedMail struct {
	header  mail.Header
	subject string // decoded
	text    string
	html    string // "" when the message has no HTML part
}

// parseMail parses raw with net/mail and mime/multipart, checking the
// structure Compose promises.
func parseMail(t *testing.T, raw []byte) parsedMail {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("message has a bare LF")
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line longer than 78 characters: %q", line)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail: %v\n%s", err, raw)
	}
	p := parsedMail{header: msg.Header}
	for _, h := range []string{"From", "To", "Subject", "Date", "Message-Id", "Mime-Version"} {
		if msg.Header.Get(h) == "" {
			t.Errorf("header %s missing", h)
		}
	}
	if p.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("Subject: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	switch mt {
	case "text/plain":
		p.text = readQP(t, msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		return p
	case "multipart/alternative":
	default:
		t.Fatalf("Content-Type %q", mt)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct := part.Header.Get("Content-Type")
		types = append(types, ct)
		b, err := io.ReadAll(part) // quoted-printable is decoded by NextPart
		if err != nil {
			t.Fatal(err)
		}
		switch ct {
		case "text/plain; charset=utf-8":
			p.text = string(b)
		case "text/html; charset=utf-8":
			p.html = string(b)
		}
	}
	if len(types) != 2 || types[0] != "text/plain; charset=utf-8" || types[1] != "text/html; charset=utf-8" {
		t.Errorf("parts %q, want text/plain then text/html, UTF-8", types)
	}
	return p
}

func readQP(t *testing.T, cte string, r io.Reader) string {
	t.Helper()
	if cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding %q", cte)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(r))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mailerFunc is a Mailer made of a function.
type mailerFunc func(context.Context, gatehouse.Message) error

func (f mailerFunc) Send(ctx context.Context, m gatehouse.Message) error { return f(ctx, m) }

// recorder is a Mailer that keeps what it is sent.
type recorder struct {
	mu   sync.Mutex
	sent []gatehouse.Message
}

func (r *recorder) Send(_ context.Context, m gatehouse.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return nil
}

func (r *recorder) messages() []gatehouse.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]gatehouse.Message(nil), r.sent...)
}

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// recv takes one value from ch, failing the test if none comes (a hang,
// not a timing assumption: the limit is far beyond any real wait).
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}

// x509UnknownAuthority is what a handshake with an untrusted certificate
// fails with.
type x509UnknownAuthority = x509.UnknownAuthorityError
