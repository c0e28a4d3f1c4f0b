package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"

	"github.com/gatehouse/gatehouse"
)

//go:embed templates/*.txt templates/*.html
var embedded embed.FS

const defaultAppName = "Gatehouse"

// templateData is what every template gets.
type templateData struct {
	Link      string // the link holding the token
	Email     string // the recipient
	AppName   string // Templates.AppName
	ExpiresIn string // the link's lifetime in words: "1 hour", "30 minutes"
}

// kind is one mail: its text and HTML templates.
type kind struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// Templates renders the mails of e-mail verification and password reset.
// Each mail has two templates, named
//
//	verify.txt, verify.html    e-mail verification
//	reset.txt,  reset.html     password reset
//
// The .txt files are text/template templates and make the text/plain
// part; the .html files are html/template templates, which escape what
// they insert, and make the text/html part. A .txt file defines the
// subject as a template named "subject" ({{define "subject"}}…{{end}});
// without one, the default's is used. Whitespace in the subject, line
// breaks included, is collapsed to single spaces. An .html file that
// renders only whitespace leaves the mail text-only.
//
// Every template gets the fields
//
//	.Link       the link holding the token
//	.Email      the recipient's address
//	.AppName    Templates.AppName
//	.ExpiresIn  the link's lifetime in words, such as "1 hour"
//
// The zero value renders the embedded defaults.
type Templates struct {
	// AppName names the application in the mails; default "Gatehouse".
	AppName string

	verify, reset kind
}

var defaults = sync.OnceValues(func() (*Templates, error) { return LoadTemplates("") })

// LoadTemplates returns the embedded default templates, each replaced by
// the file of the same name in dir when there is one (other files are
// ignored). dir "" means the defaults only. Every template is parsed and
// tried on sample data here, so a broken one is an error now rather than
// at the first mail.
func LoadTemplates(dir string) (*Templates, error) {
	var fsys fs.FS
	if dir != "" {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("mail: templates: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("mail: templates: %s is not a directory", dir)
		}
		fsys = os.DirFS(dir)
	}
	t := &Templates{AppName: defaultAppName}
	var err error
	if t.verify, err = loadKind(fsys, "verify"); err != nil {
		return nil, err
	}
	if t.reset, err = loadKind(fsys, "reset"); err != nil {
		return nil, err
	}
	return t, nil
}

func loadKind(fsys fs.FS, name string) (kind, error) {
	var k kind
	defText, err := parseText(name+".txt", embedded, "templates/"+name+".txt")
	if err != nil {
		return k, err
	}
	k.text = defText
	if fsys != nil {
		text, err := parseText(name+".txt", fsys, name+".txt")
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return k, err
		default:
			if text.Lookup("subject") == nil {
				if _, err := text.AddParseTree("subject", defText.Lookup("subject").Tree); err != nil {
					return k, fmt.Errorf("mail: template %s.txt: %w", name, err)
				}
			}
			k.text = text
		}
	}
	k.html, err = parseHTML(name+".html", embedded, "templates/"+name+".html")
	if err != nil {
		return k, err
	}
	if fsys != nil {
		html, err := parseHTML(name+".html", fsys, name+".html")
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return k, err
		default:
			k.html = html
		}
	}
	// Try them, so that a reference to a field that does not exist fails
	// now.
	sample := templateData{Link: "https://example.com/" + name + "?token=t", Email: "user@example.com", AppName: defaultAppName, ExpiresIn: "1 hour"}
	if _, err := k.render("", sample); err != nil {
		return k, err
	}
	return k, nil
}

func parseText(name string, fsys fs.FS, path string) (*texttemplate.Template, error) {
	b, err := fs.ReadFile(fsys, path)
	if err != nil {
		return nil, fmt.Errorf("mail: template %s: %w", name, err)
	}
	t, err := texttemplate.New(name).Option("missingkey=error").Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("mail: template %s: %w", name, err)
	}
	return t, nil
}

func parseHTML(name string, fsys fs.FS, path string) (*htmltemplate.Template, error) {
	b, err := fs.ReadFile(fsys, path)
	if err != nil {
		return nil, fmt.Errorf("mail: template %s: %w", name, err)
	}
	t, err := htmltemplate.New(name).Option("missingkey=error").Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("mail: template %s: %w", name, err)
	}
	return t, nil
}

// render makes the mail to d.Email.
func (k kind) render(to string, d templateData) (gatehouse.Message, error) {
	var subject, text, html bytes.Buffer
	if err := k.text.ExecuteTemplate(&subject, "subject", d); err != nil {
		return gatehouse.Message{}, fmt.Errorf("mail: template subject: %w", err)
	}
	if err := k.text.Execute(&text, d); err != nil {
		return gatehouse.Message{}, fmt.Errorf("mail: template: %w", err)
	}
	if err := k.html.Execute(&html, d); err != nil {
		return gatehouse.Message{}, fmt.Errorf("mail: template: %w", err)
	}
	m := gatehouse.Message{
		To:      to,
		Subject: strings.Join(strings.Fields(subject.String()), " "),
		Text:    text.String(),
	}
	if strings.TrimSpace(html.String()) != "" {
		m.HTML = html.String()
	}
	return m, nil
}

// Verify renders the e-mail verification mail to to, holding link, which
// expires after ttl.
func (t *Templates) Verify(to, link string, ttl time.Duration) (gatehouse.Message, error) {
	k, app, err := t.kind(func(t *Templates) kind { return t.verify })
	if err != nil {
		return gatehouse.Message{}, err
	}
	return k.render(to, templateData{Link: link, Email: to, AppName: app, ExpiresIn: expiresIn(ttl)})
}

// Reset renders the password reset mail to to, holding link, which expires
// after ttl.
func (t *Templates) Reset(to, link string, ttl time.Duration) (gatehouse.Message, error) {
	k, app, err := t.kind(func(t *Templates) kind { return t.reset })
	if err != nil {
		return gatehouse.Message{}, err
	}
	return k.render(to, templateData{Link: link, Email: to, AppName: app, ExpiresIn: expiresIn(ttl)})
}

// kind picks a mail's templates, the defaults' for a zero Templates.
func (t *Templates) kind(pick func(*Templates) kind) (kind, string, error) {
	app := defaultAppName
	if t != nil && t.AppName != "" {
		app = t.AppName
	}
	if t != nil && t.verify.text != nil {
		return pick(t), app, nil
	}
	d, err := defaults()
	if err != nil {
		return kind{}, "", err
	}
	return pick(d), app, nil
}

// expiresIn says d in words, in the largest unit that divides it, else in
// whole minutes (rounded down, so a mail never promises more time).
func expiresIn(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d >= day && d%day == 0:
		return plural(int64(d/day), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int64(d/time.Minute), "minute")
	default:
		return plural(max(int64(d/time.Second), 0), "second")
	}
}

func plural(n int64, unit string) string {
	s := strconv.FormatInt(n, 10) + " " + unit
	if n != 1 {
		s += "s"
	}
	return s
}
