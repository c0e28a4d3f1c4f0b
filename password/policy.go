package password

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse/gatehouse"
)

// defaultMinLength is the shortest password, in code points, that Policy
// accepts when its MinLength is zero.
const defaultMinLength = 8

// minLocalPart is the shortest e-mail local part the e-mail rule looks for:
// shorter ones ("a", "jo") are in too many good passwords to mean anything.
const minLocalPart = 3

// Policy decides whether a password is acceptable, in this order:
//
//  1. at most MaxBytes bytes, checked first and before anything else is done
//     with the password, so a huge one costs nothing;
//  2. valid UTF-8;
//  3. at least MinLength code points after NFC normalization. Every code
//     point counts as one, so an emoji is one character and "é" is one
//     whether typed precomposed or with a combining accent;
//  4. no control characters (Unicode category Cc: U+0000–U+001F, U+007F,
//     U+0080–U+009F). Every printable character and the space are allowed,
//     as NIST asks; controls, tab and newline included, cannot be typed into
//     a password field, usually come from a bad paste, and NUL truncates the
//     password in C-based bcrypt;
//  5. not based on the user's e-mail, ignoring case: a password containing
//     the whole e-mail is rejected (the rule FastAPI Users documents), and so
//     is one that, with the e-mail's local part removed, would be shorter
//     than MinLength ("alice2024!" for alice@example.com). Long passphrases
//     that merely contain the local part are fine;
//  6. each of Rules, in order; the first error is returned.
//
// There are no composition rules (ASVS 6.2.5, NIST). Rejections are
// gatehouse.InvalidPassword errors whose reason is shown to the client. The
// zero Policy is ready to use.
type Policy struct {
	// MinLength is the shortest password in code points after NFC; zero
	// means 8, NIST SP 800-63B's floor when a second factor exists; use 15
	// when the password is the only factor.
	MinLength int
	// MaxBytes is the longest password in bytes as received; zero means
	// 1024. Keep it at or below the Hasher's MaxBytes.
	MaxBytes int
	// Rules are further checks run after the built-in ones, such as a
	// blocklist of common passwords or a breached-password lookup. They
	// receive the password as given, not normalized.
	Rules []gatehouse.PasswordValidator
}

var _ gatehouse.PasswordValidator = Policy{}

// ValidatePassword checks password for u, which may be nil or have no
// e-mail yet.
func (p Policy) ValidatePassword(ctx context.Context, password string, u *gatehouse.User) error {
	maxBytes := p.MaxBytes
	if maxBytes <= 0 {
		maxBytes = defaultMaxBytes
	}
	if len(password) > maxBytes {
		return tooLong(maxBytes)
	}
	if !utf8.ValidString(password) {
		return gatehouse.InvalidPassword("Password should be valid UTF-8")
	}
	minLength := p.MinLength
	if minLength <= 0 {
		minLength = defaultMinLength
	}
	nfc := norm.NFC.String(password)
	if utf8.RuneCountInString(nfc) < minLength {
		return gatehouse.InvalidPassword(fmt.Sprintf("Password should be at least %d characters", minLength))
	}
	if strings.ContainsFunc(nfc, unicode.IsControl) {
		return gatehouse.InvalidPassword("Password should not contain control characters")
	}
	if u != nil && u.Email != "" {
		if reason := emailReason(nfc, u.Email, minLength); reason != "" {
			return gatehouse.InvalidPassword(reason)
		}
	}
	for _, r := range p.Rules {
		if err := r.ValidatePassword(ctx, password, u); err != nil {
			return err
		}
	}
	return nil
}

// emailReason returns why pw (in NFC) is too close to email, or "".
func emailReason(pw, email string, minLength int) string {
	pw = strings.ToLower(pw)
	email = strings.ToLower(norm.NFC.String(email))
	if strings.Contains(pw, email) {
		return "Password should not contain e-mail"
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	local := email[:at]
	if utf8.RuneCountInString(local) < minLocalPart || !strings.Contains(pw, local) {
		return ""
	}
	if utf8.RuneCountInString(strings.ReplaceAll(pw, local, "")) < minLength {
		return "Password should not be based on e-mail"
	}
	return ""
}
