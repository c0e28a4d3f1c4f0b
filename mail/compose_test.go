package mail_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/mail"
)

var testNow = time.Date(2025, 3, 14, 15, 9, 26, 0, time.FixedZone("CET", 3600))

func TestCompose(t *testing.T) {
	m := testMessage()
	raw, err := mail.Compose(testFrom, m, testNow)
	if err != nil {
		t.Fatal(err)
	}
	p := parseMail(t, raw)
	if got := p.header.Get("Date"); got != "Fri, 14 Mar 2025 15:09:26 +0100" {
		t.Errorf("Date %q", got)
	}
	if got := p.header.Get("To"); got != "<ada@example.com>" {
		t.Errorf("To %q", got)
	}
	if got := p.header.Get("Mime-Version"); got != "1.0" {
		t.Errorf("MIME-Version %q", got)
	}
	id := p.header.Get("Message-Id")
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	raw2, err := mail.Compose(testFrom, m, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if id2 := parseMail(t, raw2).header.Get("Message-Id"); id2 == id {
		t.Errorf("two messages share Message-ID %s", id)
	}
	if p.text != strings.ReplaceAll(m.Text, "\n", "\r\n") || p.html != m.HTML {
		t.Errorf("parts changed:\n%q\n%q", p.text, p.html)
	}
}

func TestComposeTextOnly(t *testing.T) {
	m := testMessage()
	m.HTML = ""
	raw, err := mail.Compose("noreply@example.com", m, testNow)
	if err != nil {
		t.Fatal(err)
	}
	p := parseMail(t, raw)
	if ct := p.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if !strings.Contains(p.text, "token=TOKEN-abc.def_ghi\r\n") {
		t.Errorf("text %q", p.text)
	}
}

func TestComposeEncodesNonASCII(t *testing.T) {
	m := testMessage()
	m.Subject = strings.Repeat("Réinitialisez votre mot de passe — ", 4) + "✓"
	m.Text = "Grüße, " + strings.Repeat("ünïcödé ", 30) + "\n"
	raw, err := mail.Compose("Équipe Gatehouse <noreply@example.com>", m, testNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		for _, r := range line {
			if r > 0x7e {
				t.Fatalf("raw non-ASCII in %q", line)
			}
		}
	}
	if !bytes.Contains(raw, []byte(" =?utf-8?q?R=C3=A9initialisez")) {
		t.Errorf("Subject not encoded:\n%s", raw)
	}
	p := parseMail(t, raw) // also checks that every line fits in 78 characters
	if p.subject != m.Subject {
		t.Errorf("Subject decodes to %q, want %q", p.subject, m.Subject)
	}
	if p.text != strings.ReplaceAll(m.Text, "\n", "\r\n") {
		t.Errorf("text decodes to %q", p.text)
	}
	if from := p.header.Get("From"); !strings.HasPrefix(from, "=?utf-8?") {
		t.Errorf("From %q", from)
	}
}

func TestComposeRefusesHeaderInjection(t *testing.T) {
	good := testMessage()
	for _, tt := range []struct {
		name string
		from string
		m    func(*gatehouse.Message)
	}{
		{"To CRLF", testFrom, func(m *gatehouse.Message) { m.To = "ada@example.com\r\nBcc: eve@example.com" }},
		{"To LF", testFrom, func(m *gatehouse.Message) { m.To = "ada@example.com\nBcc: eve@example.com" }},
		{"To CR", testFrom, func(m *gatehouse.Message) { m.To = "ada@example.com\rBcc: eve@example.com" }},
		{"To list", testFrom, func(m *gatehouse.Message) { m.To = "ada@example.com, eve@example.com" }},
		{"To empty", testFrom, func(m *gatehouse.Message) { m.To = "" }},
		{"Subject CRLF", testFrom, func(m *gatehouse.Message) { m.Subject = "Hello\r\nBcc: eve@example.com" }},
		{"Subject LF", testFrom, func(m *gatehouse.Message) { m.Subject = "Hello\nContent-Type: text/html" }},
		{"Subject NUL", testFrom, func(m *gatehouse.Message) { m.Subject = "Hello\x00" }},
		{"From CRLF", "noreply@example.com\r\nBcc: eve@example.com", func(*gatehouse.Message) {}},
		{"From empty", "", func(*gatehouse.Message) {}},
	} {
		m := good
		tt.m(&m)
		if raw, err := mail.Compose(tt.from, m, testNow); err == nil {
			t.Errorf("%s: composed\n%s", tt.name, raw)
		}
	}
}
