package password

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password/blocklist"
	"github.com/gatehouse/gatehouse/password/internal/fold"
)

// Defaults of Policy's limits.
const (
	// defaultMinLength is NIST SP 800-63B's floor when a second factor
	// exists.
	defaultMinLength = 8
	// defaultMaxLength is ASVS 4's upper bound (2.1.2), twice the 64
	// characters NIST asks every verifier to accept.
	defaultMaxLength = 128
)

// minLocalPart is the shortest e-mail local part the e-mail rule looks for
// at all, and fullLocalPart the shortest that may not appear anywhere in a
// password. Local parts of one or two characters ("jo") are in too many
// good passwords to mean anything. Three-letter ones ("art", "dan") are
// inside many ordinary words ("start", "abundant"), so they only count when
// the rest of the password is shorter than MinLength ("art2024!"). From
// four characters on ("alice"), a password containing the local part is one
// an attacker who knows the address tries early.
const (
	minLocalPart  = 3
	fullLocalPart = 4
)

// Policy decides whether a password is acceptable, in this order:
//
//  1. at most MaxBytes bytes as received. This is checked first, before
//     the password is even normalized, so a huge one costs nothing; the
//     Hasher has the same cap, checked before hashing;
//  2. valid UTF-8;
//  3. at least MinLength and at most MaxLength code points after NFKC
//     normalization. Every code point counts as one, so an emoji is one
//     character and "é" is one whether typed precomposed or with a
//     combining accent;
//  4. no control characters (Unicode category Cc: U+0000–U+001F, U+007F,
//     U+0080–U+009F). Every printable character and the space are allowed,
//     as NIST asks; controls, tab and newline included, cannot be typed into
//     a password field, usually come from a bad paste, and NUL truncates the
//     password in C-based bcrypt;
//  5. not on the blocklist of common passwords (package blocklist), ignoring
//     case, unless SkipBlocklist;
//  6. not based on the user's e-mail, ignoring case: a password containing
//     the whole e-mail is rejected (the rule FastAPI Users documents), and
//     so is one containing its local part (without a "+tag"), if that is
//     four characters or more; a three-character local part only when the
//     password without it would be shorter than MinLength ("bob2024!");
//  7. not based on ServiceName, ignoring case: the name itself, or the name
//     with fewer than MinLength other characters ("Gatehouse2024"). Names
//     under three characters are ignored, like short local parts;
//  8. each of Rules, in order; the first error is returned.
//
// There are no composition rules (ASVS 6.2.5, NIST). Rejections are
// gatehouse.InvalidPassword errors whose reason is shown to the client. The
// zero Policy is ready to use.
type Policy struct {
	// MinLength is the shortest password in code points after NFKC; zero
	// means 8, NIST SP 800-63B's floor when a second factor exists; use 15
	// when the password is the only factor.
	MinLength int
	// MaxLength is the longest password in code points after NFKC; zero
	// means 128.
	MaxLength int
	// MaxBytes is the longest password in bytes as received; zero means
	// 1024. Keep it at or below the Hasher's MaxBytes.
	MaxBytes int
	// ServiceName is the name users know the service by ("Gatehouse",
	// "Acme Books"); passwords based on it are rejected. Empty means no
	// such rule.
	ServiceName string
	// SkipBlocklist turns off the blocklist of common passwords. It exists
	// for tests that want short, memorable passwords; a deployment should
	// not set it.
	SkipBlocklist bool
	// Rules are further checks run after the built-in ones, such as a
	// breached-password lookup. They receive the password as given, not
	// normalized.
	Rules []gatehouse.PasswordValidator
}

var _ gatehouse.PasswordValidator = Policy{}

// ValidatePassword checks password for u, which may be nil or have no
// e-mail yet.
func (p Policy) ValidatePassword(ctx context.Context, password string, u *gatehouse.User) error {
	maxBytes := positiveOr(p.MaxBytes, defaultMaxBytes)
	if len(password) > maxBytes {
		return tooLong(maxBytes)
	}
	if !utf8.ValidString(password) {
		return gatehouse.InvalidPassword("Password should be valid UTF-8")
	}
	minLength := positiveOr(p.MinLength, defaultMinLength)
	maxLength := positiveOr(p.MaxLength, defaultMaxLength)
	nfkc := norm.NFKC.String(password)
	switch n := utf8.RuneCountInString(nfkc); {
	case n < minLength:
		return gatehouse.InvalidPassword(fmt.Sprintf("Password should be at least %d characters", minLength))
	case n > maxLength:
		return gatehouse.InvalidPassword(fmt.Sprintf("Password should be at most %d characters", maxLength))
	}
	if strings.ContainsFunc(nfkc, unicode.IsControl) {
		return gatehouse.InvalidPassword("Password should not contain control characters")
	}
	if !p.SkipBlocklist && blocklist.Contains(nfkc) {
		return gatehouse.InvalidPassword("Password is too common")
	}
	folded := fold.String(nfkc)
	if u != nil && u.Email != "" {
		if reason := emailReason(folded, u.Email, minLength); reason != "" {
			return gatehouse.InvalidPassword(reason)
		}
	}
	if p.ServiceName != "" {
		name := fold.String(p.ServiceName)
		if utf8.RuneCountInString(name) >= minLocalPart && strings.Contains(folded, name) && runesWithout(folded, name) < minLength {
			return gatehouse.InvalidPassword("Password should not be based on the service name")
		}
	}
	for _, r := range p.Rules {
		if err := r.ValidatePassword(ctx, password, u); err != nil {
			return err
		}
	}
	return nil
}

// emailReason returns why pw (folded) is too close to email, or "".
func emailReason(pw, email string, minLength int) string {
	email = fold.String(email)
	if strings.Contains(pw, email) {
		return "Password should not contain e-mail"
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	local := email[:at]
	// alice+shop@example.com is alice's address too.
	if plus := strings.IndexByte(local, '+'); plus > 0 {
		local = local[:plus]
	}
	n := utf8.RuneCountInString(local)
	if n < minLocalPart || !strings.Contains(pw, local) {
		return ""
	}
	if n >= fullLocalPart || runesWithout(pw, local) < minLength {
		return "Password should not be based on e-mail"
	}
	return ""
}

// runesWithout counts the code points of s once every sub is removed.
func runesWithout(s, sub string) int {
	return utf8.RuneCountInString(strings.ReplaceAll(s, sub, ""))
}

func positiveOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}
