// Package mail delivers Gatehouse's e-mails: the links of e-mail
// verification and password reset.
//
// The pieces fit together like this:
//
//   - [Hooks] implements [gatehouse.Hooks]. When the Manager starts a
//     verification or a reset, it builds the link from the configured
//     public URL (never from the request's Host header), renders the mail
//     with [Templates] and hands it to a [gatehouse.Mailer].
//   - [Templates] renders a text and an HTML part from text/template and
//     html/template files: embedded defaults, each replaceable by a file of
//     the same name in a directory ([LoadTemplates]).
//   - [Compose] turns a [gatehouse.Message] into an RFC 5322 message
//     (multipart/alternative, UTF-8, quoted-printable), refusing header
//     values that would inject headers.
//   - Mailers: [SMTP] sends through a mail server (STARTTLS or implicit
//     TLS), [Dir] writes one .eml file per mail (development, tests), and
//     [Log] only logs who would have got which subject.
//   - [Queue] is a Mailer in front of another one: Send only enqueues and
//     returns at once, and workers deliver with retries.
//
// # Why a queue
//
// Put a [Queue] in front of [SMTP]. A request that mails something (forgot
// password, request verification) must not wait for the mail server: a slow
// or failing server would then slow down or fail exactly the requests for
// e-mails that exist, and the difference in response time would tell an
// attacker which addresses have accounts. With the queue, such a request
// costs the same whatever the e-mail, and a mail server that is down
// delays mails (retried with exponential backoff) instead of failing
// requests. A full queue refuses at once rather than block.
//
// # Secrets
//
// The mails carry tokens that are as good as a password for a while.
// Nothing here logs a message body or puts it in an error: [Log] and
// [Queue] log the recipient and the subject only. [SMTP] refuses to send
// credentials unencrypted to anything but the local host, and its errors
// never repeat the URL's password.
package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse"
)

var (
	_ gatehouse.Mailer = Log{}
	_ gatehouse.Mailer = (*Dir)(nil)
	_ gatehouse.Mailer = (*SMTP)(nil)
	_ gatehouse.Mailer = (*Queue)(nil)
	_ gatehouse.Hooks  = Hooks{}
)

// Log is a Mailer that delivers nothing: it logs the recipient and the
// subject of each mail, never its body, which holds a token. It is the
// server's mailer when neither SMTP nor a mail directory is configured.
type Log struct {
	Logger *slog.Logger // default slog.Default()
}

// Send logs m's recipient and subject at level Info.
func (l Log) Send(ctx context.Context, m gatehouse.Message) error {
	logger := l.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.InfoContext(ctx, "mail: not sent, no mail delivery configured", "to", m.To, "subject", m.Subject)
	return nil
}

// defaultFrom is the sender of Dir when its From is empty.
const defaultFrom = "gatehouse@localhost"

// Dir is a Mailer that writes each mail as one RFC 5322 file (as [Compose]
// makes it) into a directory, named "<UTC time>-<random>.eml" so that names
// are unique and sort by time. A file is written to a temporary name and
// renamed, so a reader never sees half a mail; it is readable by its owner
// only (0600), since it holds a token. Dir creates the directory (0700)
// when it does not exist.
type Dir struct {
	Path string           // the directory; required
	From string           // sender; default "gatehouse@localhost"
	Now  func() time.Time // clock of the Date header and file name; default time.Now
}

// Send writes m into d.Path.
func (d *Dir) Send(ctx context.Context, m gatehouse.Message) error {
	if d.Path == "" {
		return fmt.Errorf("mail: Dir.Path is not set")
	}
	from := d.From
	if from == "" {
		from = defaultFrom
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	t := now()
	msg, err := Compose(from, m, t)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return fmt.Errorf("mail: dir: %w", err)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	name := t.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(rnd[:]) + ".eml"
	if err := writeFileAtomic(filepath.Join(d.Path, name), msg); err != nil {
		return fmt.Errorf("mail: dir: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file beside path (created
// 0600 by os.CreateTemp), syncs it and renames it to path.
func writeFileAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*.eml")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// Best-effort cleanup: err, already set, is what the caller needs.
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
