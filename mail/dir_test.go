package mail_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/mail"
)

func TestDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox") // Dir creates it
	d := &mail.Dir{Path: path, From: testFrom, Now: func() time.Time { return testNow }}
	for range 3 { // same clock: the names must still differ
		if err := d.Send(context.Background(), testMessage()); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("directory mode %v, want 0700", perm)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d files, want 3 (no temporary leftovers): %v", len(entries), entries)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "20250314T140926.000000000Z-") || !strings.HasSuffix(e.Name(), ".eml") {
			t.Errorf("file name %q", e.Name())
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s: mode %v, want 0600", e.Name(), perm)
		}
		raw, err := os.ReadFile(filepath.Join(path, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		p := parseMail(t, raw)
		if p.header.Get("To") != "<ada@example.com>" || p.subject != "Vérifiez votre adresse" || p.header.Get("Date") != "Fri, 14 Mar 2025 15:09:26 +0100" {
			t.Errorf("%s: To %q, Subject %q, Date %q", e.Name(), p.header.Get("To"), p.subject, p.header.Get("Date"))
		}
		if !strings.Contains(p.text, "https://auth.example.com/verify?token=TOKEN-abc.def_ghi") {
			t.Errorf("%s: text part lacks the link", e.Name())
		}
	}
}

func TestDirDefaults(t *testing.T) {
	path := t.TempDir()
	if err := (&mail.Dir{Path: path}).Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(path)
	if len(entries) != 1 {
		t.Fatalf("%d files", len(entries))
	}
	raw, _ := os.ReadFile(filepath.Join(path, entries[0].Name()))
	if from := parseMail(t, raw).header.Get("From"); from != "<gatehouse@localhost>" {
		t.Errorf("From %q", from)
	}
}

func TestDirRefusesInvalid(t *testing.T) {
	path := t.TempDir()
	m := testMessage()
	m.To = "ada@example.com\r\nBcc: eve@example.com"
	if err := (&mail.Dir{Path: path}).Send(context.Background(), m); err == nil {
		t.Fatal("wrote an injected header")
	}
	if entries, _ := os.ReadDir(path); len(entries) != 0 {
		t.Errorf("files left: %v", entries)
	}
	if err := (&mail.Dir{}).Send(context.Background(), testMessage()); err == nil {
		t.Error("Dir without Path sent")
	}
}

func TestLog(t *testing.T) {
	logger, logs := newLogger()
	if err := (mail.Log{Logger: logger}).Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "to=ada@example.com") || !strings.Contains(out, `subject="Vérifiez votre adresse"`) {
		t.Errorf("log lacks recipient or subject:\n%s", out)
	}
	if strings.Contains(out, "TOKEN") || strings.Contains(out, "https://") {
		t.Errorf("log holds the body:\n%s", out)
	}
}
