package password_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
)

func TestPolicy(t *testing.T) {
	t.Parallel()
	alice := &gatehouse.User{Email: "Alice.Liddell@Example.com"}
	tests := []struct {
		name     string
		policy   password.Policy
		password string
		user     *gatehouse.User
		reason   string // "" means accepted
	}{
		{"8 ascii", password.Policy{}, "gh7#kq2p", nil, ""},
		{"7 ascii", password.Policy{}, "abcdefg", nil, "Password should be at least 8 characters"},
		{"empty", password.Policy{}, "", nil, "Password should be at least 8 characters"},
		{"8 emoji (32 bytes)", password.Policy{}, strings.Repeat("🐈", 8), nil, ""},
		{"7 emoji (28 bytes)", password.Policy{}, strings.Repeat("🐈", 7), nil, "Password should be at least 8 characters"},
		// "é" is one code point once composed, however it was typed.
		{"NFD counted after NFKC, enough", password.Policy{MinLength: 5}, "cafe\u0301!", nil, ""},
		{"NFD counted after NFKC, short", password.Policy{MinLength: 6}, "cafe\u0301!", nil, "Password should be at least 6 characters"},
		// The ligature "ﬁ" is "fi", two characters, after NFKC.
		{"ligature counted after NFKC", password.Policy{MinLength: 8, SkipBlocklist: true}, "ﬁﬁﬁﬁ", nil, ""},
		{"min 15", password.Policy{MinLength: 15}, "fourteen chars", nil, "Password should be at least 15 characters"},
		{"no composition rules", password.Policy{}, "correct horse battery staple", nil, ""},
		{"64 characters", password.Policy{}, strings.Repeat("passphrase ", 6)[:64], nil, ""},
		{"128 characters", password.Policy{}, strings.Repeat("passphrase ", 12)[:128], nil, ""},
		{"all spaces", password.Policy{}, "        ", nil, ""},
		{"non-Latin", password.Policy{}, "пароль-надёжный", nil, ""},
		{"129 characters", password.Policy{}, strings.Repeat("passphrase ", 12)[:129], nil, "Password should be at most 128 characters"},
		{"129 emoji", password.Policy{}, strings.Repeat("🐈", 129), nil, "Password should be at most 128 characters"},
		{"custom max length", password.Policy{MaxLength: 20}, "twenty-one characters", nil, "Password should be at most 20 characters"},
		{"1024 bytes", password.Policy{MaxLength: 1024}, strings.Repeat("a", 1024), nil, ""},
		{"1025 bytes", password.Policy{}, strings.Repeat("a", 1025), nil, "Password should be at most 1024 bytes"},
		{"1 MiB", password.Policy{}, strings.Repeat("a", 1<<20), nil, "Password should be at most 1024 bytes"},
		{"custom max", password.Policy{MaxBytes: 16}, strings.Repeat("é", 9), nil, "Password should be at most 16 bytes"},
		{"invalid UTF-8", password.Policy{}, "abcdefgh\xff", nil, "Password should be valid UTF-8"},
		{"NUL", password.Policy{}, "abcd\x00efgh", nil, "Password should not contain control characters"},
		{"tab", password.Policy{}, "abcd\tefgh", nil, "Password should not contain control characters"},
		{"newline", password.Policy{}, "abcdefgh\n", nil, "Password should not contain control characters"},
		{"DEL", password.Policy{}, "abcd\x7fefgh", nil, "Password should not contain control characters"},
		{"C1 NEL", password.Policy{}, "abcd\u0085efgh", nil, "Password should not contain control characters"},
		{"no-break space is printable", password.Policy{}, "abcd\u00a0efgh", nil, ""},
		{"e-mail", password.Policy{}, "alice.liddell@example.com", alice, "Password should not contain e-mail"},
		{"e-mail other case", password.Policy{}, "ALICE.LIDDELL@EXAMPLE.COM", alice, "Password should not contain e-mail"},
		{"contains e-mail", password.Policy{}, "my alice.liddell@example.com password", alice, "Password should not contain e-mail"},
		{"local part", password.Policy{}, "Alice.Liddell", alice, "Password should not be based on e-mail"},
		{"local part + short suffix", password.Policy{}, "alice.liddell2024", alice, "Password should not be based on e-mail"},
		{"local part twice", password.Policy{}, "alice.liddellalice.liddell!", alice, "Password should not be based on e-mail"},
		{"local part in a passphrase", password.Policy{}, "alice.liddell went down the rabbit hole", alice, "Password should not be based on e-mail"},
		{"local part fullwidth", password.Policy{}, "ａｌｉｃｅ.ｌｉｄｄｅｌｌ rabbit", alice, "Password should not be based on e-mail"},
		{"local part without +tag", password.Policy{}, "alice in wonderland 1865", &gatehouse.User{Email: "alice+shop@example.com"}, "Password should not be based on e-mail"},
		{"4-char local part anywhere", password.Policy{}, "a remarkable passphrase", &gatehouse.User{Email: "Mark@example.com"}, "Password should not be based on e-mail"},
		{"3-char local part + short suffix", password.Policy{}, "Bob2024!", &gatehouse.User{Email: "bob@example.com"}, "Password should not be based on e-mail"},
		{"3-char local part inside words", password.Policy{}, "kebob is my favourite food", &gatehouse.User{Email: "bob@example.com"}, ""},
		{"short local part ignored", password.Policy{}, "jo jo jo jo", &gatehouse.User{Email: "jo@example.com"}, ""},
		{"no user", password.Policy{}, "alice.liddell@example.com", nil, ""},
		{"user without e-mail", password.Policy{}, "gh7#kq2p", &gatehouse.User{}, ""},
		{"common", password.Policy{}, "password", nil, "Password is too common"},
		{"common, other case", password.Policy{}, "PassWord1234", nil, "Password is too common"},
		{"common, fullwidth", password.Policy{}, "ｑｗｅｒｔｙｕｉｏｐ１２", nil, "Password is too common"},
		{"common, length checked first", password.Policy{}, "123456", nil, "Password should be at least 8 characters"},
		{"common, blocklist skipped", password.Policy{SkipBlocklist: true}, "password", nil, ""},
		{"common beats e-mail", password.Policy{}, "password", &gatehouse.User{Email: "password@example.com"}, "Password is too common"},
		{"service name", password.Policy{ServiceName: "Gatehouse"}, "gatehouse", nil, "Password should not be based on the service name"},
		{"service name + short suffix", password.Policy{ServiceName: "Gatehouse"}, "GATEHOUSE2024!", nil, "Password should not be based on the service name"},
		{"service name in a passphrase", password.Policy{ServiceName: "Gatehouse"}, "the gatehouse keeps the keys", nil, ""},
		{"no service name", password.Policy{}, "gatehouse", nil, ""},
		{"short service name ignored", password.Policy{ServiceName: "GH"}, "gh7#kq2p", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.policy.ValidatePassword(context.Background(), tt.password, tt.user)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("ValidatePassword = %v, want nil", err)
				}
				return
			}
			if gatehouse.ErrorCode(err) != gatehouse.CodeInvalidPassword || gatehouse.ErrorReason(err) != tt.reason {
				t.Fatalf("ValidatePassword = %v, want InvalidPassword(%q)", err, tt.reason)
			}
		})
	}
}

func TestPolicyRules(t *testing.T) {
	t.Parallel()
	var calls []string
	rule := func(name string, err error) gatehouse.PasswordValidator {
		return gatehouse.PasswordValidatorFunc(func(ctx context.Context, pw string, u *gatehouse.User) error {
			calls = append(calls, name)
			return err
		})
	}
	boom := errors.New("blocklist unavailable")
	p := password.Policy{Rules: []gatehouse.PasswordValidator{
		rule("first", nil),
		rule("blocklist", gatehouse.InvalidPassword("Password is too common")),
		rule("never", boom),
	}}

	err := p.ValidatePassword(context.Background(), "correct horse battery staple", nil)
	if gatehouse.ErrorReason(err) != "Password is too common" {
		t.Errorf("ValidatePassword = %v, want the blocklist's rejection", err)
	}
	if strings.Join(calls, ",") != "first,blocklist" {
		t.Errorf("rules called: %v, want first,blocklist", calls)
	}

	// Built-in rejections come first; rules are not consulted.
	for _, pw := range []string{"short", "password1234"} {
		calls = nil
		if err := p.ValidatePassword(context.Background(), pw, nil); gatehouse.ErrorCode(err) != gatehouse.CodeInvalidPassword {
			t.Errorf("ValidatePassword(%q) = %v", pw, err)
		}
		if len(calls) != 0 {
			t.Errorf("rules called after a built-in rejection of %q: %v", pw, calls)
		}
	}

	// A rule's own failure is returned as is.
	calls = nil
	p.Rules = []gatehouse.PasswordValidator{rule("never", boom)}
	if err := p.ValidatePassword(context.Background(), "correct horse battery staple", nil); !errors.Is(err, boom) {
		t.Errorf("ValidatePassword = %v, want %v", err, boom)
	}
}

// TestPolicyManager checks the Policy through the Manager, which turns its
// rejection into the route's code and keeps the reason.
func TestPolicyManager(t *testing.T) {
	t.Parallel()
	m := &gatehouse.Manager{Hasher: &password.Hasher{Params: cheap}, Passwords: password.Policy{}}
	_, err := m.Register(context.Background(), gatehouse.UserCreate{Email: "bob@example.com", Password: "short"})
	if gatehouse.ErrorCode(err) != gatehouse.CodeRegisterInvalidPassword || gatehouse.ErrorReason(err) != "Password should be at least 8 characters" {
		t.Errorf("Register = %v", err)
	}
}

// TestPolicyHuge is checklist item 3 for the policy: a 1 MiB password is
// refused by its size alone, before normalization or any lookup.
func TestPolicyHuge(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{strings.Repeat("a", 1<<20), strings.Repeat("\ufdfa", 1<<18)} {
		start := time.Now()
		err := password.Policy{}.ValidatePassword(context.Background(), pw, &gatehouse.User{Email: "alice@example.com"})
		if gatehouse.ErrorReason(err) != "Password should be at most 1024 bytes" {
			t.Errorf("ValidatePassword(%d bytes) = %v", len(pw), err)
		}
		if d := time.Since(start); d > 10*time.Millisecond {
			t.Errorf("rejecting %d bytes took %v", len(pw), d)
		}
	}
}
