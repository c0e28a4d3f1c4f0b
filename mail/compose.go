package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// errInvalidMessage marks errors of a message that can never be sent, so
// that the Queue does not retry it.
var errInvalidMessage = errors.New("invalid message")

// Compose returns m as an RFC 5322 message from from (an address, with or
// without a display name) dated now. The message has the headers From,
// To, Subject, Date, Message-ID and MIME-Version; its body is
// multipart/alternative with m.Text as text/plain and m.HTML as text/html,
// both UTF-8 and quoted-printable, or m.Text alone when m.HTML is empty.
// Lines end in CRLF.
//
// Header values are checked, not cleaned: a From, To or Subject holding a
// line break or another control character (an attempt to add headers, such
// as "a@example.com\r\nBcc: victim@example.com") is an error, as are
// addresses net/mail cannot parse. A non-ASCII subject or display name is
// encoded as RFC 2047 encoded-words.
func Compose(from string, m gatehouse.Message, now time.Time) ([]byte, error) {
	msg, _, _, err := compose(from, m, now)
	return msg, err
}

// compose is Compose that also returns the envelope addresses.
func compose(from string, m gatehouse.Message, now time.Time) (msg []byte, envFrom, envTo string, err error) {
	fromAddr, err := parseAddress("From", from)
	if err != nil {
		return nil, "", "", err
	}
	toAddr, err := parseAddress("To", m.To)
	if err != nil {
		return nil, "", "", err
	}
	if err := checkHeader("Subject", m.Subject); err != nil {
		return nil, "", "", err
	}

	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(fold(name, value)) }
	header("From", fromAddr.String())
	header("To", toAddr.String())
	header("Subject", encodeHeader(m.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", messageID(fromAddr.Address))
	header("MIME-Version", "1.0")

	if m.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, m.Text); err != nil {
			return nil, "", "", err
		}
		return b.Bytes(), fromAddr.Address, toAddr.Address, nil
	}

	mw := multipart.NewWriter(&b)
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	// Alternatives go from the plainest to the richest (RFC 2046 §5.1.4).
	for _, p := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, "", "", err
		}
		if err := writeQP(w, p.body); err != nil {
			return nil, "", "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", "", err
	}
	return b.Bytes(), fromAddr.Address, toAddr.Address, nil
}

// parseAddress checks a header value and parses it as one address.
func parseAddress(name, value string) (*mail.Address, error) {
	if err := checkHeader(name, value); err != nil {
		return nil, err
	}
	a, err := mail.ParseAddress(value)
	if err != nil {
		return nil, fmt.Errorf("mail: %s %q: %w: %w", name, value, errInvalidMessage, err)
	}
	return a, nil
}

// checkHeader refuses a header value with a line break or another ASCII
// control character (tab aside): one could start a new header.
func checkHeader(name, value string) error {
	for _, r := range value {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return fmt.Errorf("mail: %s contains a line break or control character: %w", name, errInvalidMessage)
		}
	}
	return nil
}

// encodeHeader encodes a non-ASCII value as Q encoded-words (RFC 2047),
// each at most 75 characters and separated by spaces. ASCII values are
// kept as they are.
func encodeHeader(s string) string {
	return mime.QEncoding.Encode("utf-8", s)
}

// maxLine is the line length RFC 5322 §2.1.1 asks for (without CRLF).
const maxLine = 78

// fold returns the header line "name: value\r\n", folded (RFC 5322
// §2.2.3) before spaces of value wherever a line would pass maxLine. A
// longer run without spaces stays on one line; a line is never made of
// white space only.
func fold(name, value string) string {
	var b strings.Builder
	b.WriteString(name + ":")
	n := b.Len()
	for _, word := range strings.Split(value, " ") {
		if word != "" && n+1+len(word) > maxLine && n > 0 {
			b.WriteString("\r\n")
			n = 0
		}
		b.WriteString(" " + word)
		n += 1 + len(word)
	}
	b.WriteString("\r\n")
	return b.String()
}

// messageID returns a unique Message-ID in the sender's domain.
func messageID(from string) string {
	domain := "localhost"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i < len(from)-1 {
		domain = from[i+1:]
	}
	var rnd [16]byte
	rand.Read(rnd[:])
	return "<" + hex.EncodeToString(rnd[:]) + "@" + domain + ">"
}

// writeQP writes s quoted-printable, with CRLF line breaks.
func writeQP(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(s)); err != nil {
		return err
	}
	return qp.Close()
}
