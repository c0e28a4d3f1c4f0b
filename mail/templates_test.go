package mail_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/mail"
)

const testLink = "https://auth.example.com/verify?token=abc.def-ghi_jkl"

func TestTemplatesDefaults(t *testing.T) {
	tpl, err := mail.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	m, err := tpl.Verify("ada@example.com", testLink, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if m.To != "ada@example.com" || m.Subject != "Verify your e-mail address for Gatehouse" {
		t.Errorf("To %q, Subject %q", m.To, m.Subject)
	}
	for _, want := range []string{"\n" + testLink + "\n", "ada@example.com", "expires in 2 hours"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	for _, want := range []string{`<a href="` + testLink + `">`, "expires in 2 hours"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, m.HTML)
		}
	}

	tpl.AppName = "Acme"
	link := "https://auth.example.com/reset-password?token=r&x=1"
	m, err = tpl.Reset("ada@example.com", link, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Reset your Acme password" {
		t.Errorf("Subject %q", m.Subject)
	}
	if !strings.Contains(m.Text, "\n"+link+"\n") || !strings.Contains(m.Text, "30 minutes") {
		t.Errorf("text:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, `href="https://auth.example.com/reset-password?token=r&amp;x=1"`) {
		t.Errorf("HTML does not escape the link:\n%s", m.HTML)
	}
}

func TestTemplatesZeroValue(t *testing.T) {
	for _, tpl := range []*mail.Templates{nil, {}} {
		m, err := tpl.Reset("ada@example.com", testLink, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != "Reset your Gatehouse password" || !strings.Contains(m.Text, testLink) || m.HTML == "" {
			t.Errorf("%+v", m)
		}
	}
}

func TestTemplatesEscapeHTML(t *testing.T) {
	tpl, err := mail.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	tpl.AppName = `Acme <b>&</b>`
	evil := `"><script>alert(1)</script>@example.com`
	m, err := tpl.Verify(evil, `javascript:alert(1)`, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<b>") {
		t.Errorf("HTML not escaped:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;@example.com") {
		t.Errorf("HTML lacks the escaped address:\n%s", m.HTML)
	}
	if strings.Contains(m.HTML, `href="javascript:`) {
		t.Errorf("HTML links to javascript:\n%s", m.HTML)
	}
	// The text part is plain text: nothing to escape, and nothing escaped.
	if !strings.Contains(m.Text, evil) {
		t.Errorf("text:\n%s", m.Text)
	}
}

func TestTemplatesSubjectIsOneLine(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "verify.txt", "{{define \"subject\"}}\n  Hello\n  {{.Email}}\n{{end}}Body {{.Link}}\n")
	tpl, err := mail.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tpl.Verify("a@example.com\r\nBcc: eve@example.com", testLink, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Hello a@example.com Bcc: eve@example.com" {
		t.Errorf("Subject %q", m.Subject)
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTemplatesOverride(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "verify.txt", "Custom: {{.Link}} ({{.ExpiresIn}}, {{.AppName}}, {{.Email}})\n") // no subject
	write(t, dir, "reset.txt", `{{define "subject"}}Custom reset{{end}}Reset: {{.Link}}`)
	write(t, dir, "reset.html", "  \n") // text-only
	write(t, dir, "unrelated.txt", "{{ broken")
	tpl, err := mail.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tpl.Verify("ada@example.com", testLink, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if m.Text != "Custom: "+testLink+" (1 day, Gatehouse, ada@example.com)\n" {
		t.Errorf("text %q", m.Text)
	}
	if m.Subject != "Verify your e-mail address for Gatehouse" {
		t.Errorf("subject %q, want the default's", m.Subject)
	}
	if !strings.Contains(m.HTML, "<!DOCTYPE html>") {
		t.Errorf("HTML is not the default's:\n%s", m.HTML)
	}
	m, err = tpl.Reset("ada@example.com", testLink, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if m != (gatehouse.Message{To: "ada@example.com", Subject: "Custom reset", Text: "Reset: " + testLink}) {
		t.Errorf("%+v", m)
	}
}

func TestLoadTemplatesErrors(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"text syntax":   {"verify.txt": "{{.Link"},
		"html syntax":   {"reset.html": "{{if}}"},
		"unknown field": {"reset.txt": "{{.Token}}"},
		"html field":    {"verify.html": "<a href={{.Link}}>{{.Password}}</a>"},
		"subject field": {"verify.txt": `{{define "subject"}}{{.Nope}}{{end}}`},
		"a directory":   {"verify.txt/x": ""},
	} {
		dir := t.TempDir()
		for f, content := range files {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o700); err != nil {
				t.Fatal(err)
			}
			write(t, dir, f, content)
		}
		if _, err := mail.LoadTemplates(dir); err == nil {
			t.Errorf("%s: LoadTemplates succeeded", name)
		}
	}
	if _, err := mail.LoadTemplates(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing directory: LoadTemplates succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	write(t, filepath.Dir(file), "file", "")
	if _, err := mail.LoadTemplates(file); err == nil {
		t.Error("a file: LoadTemplates succeeded")
	}
}

func TestExpiresIn(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour:                       "1 hour",
		3 * time.Hour:                   "3 hours",
		24 * time.Hour:                  "1 day",
		72 * time.Hour:                  "3 days",
		25 * time.Hour:                  "25 hours",
		90 * time.Minute:                "90 minutes",
		time.Minute:                     "1 minute",
		15*time.Minute + 59*time.Second: "15 minutes",
		45 * time.Second:                "45 seconds",
		time.Second:                     "1 second",
		0:                               "0 seconds",
	} {
		if got := mail.ExpiresIn(d); got != want {
			t.Errorf("ExpiresIn(%v) = %q, want %q", d, got, want)
		}
	}
}
