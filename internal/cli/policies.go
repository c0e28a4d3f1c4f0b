package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/authz"
)

// Limits of a --policies file: it is configuration, written by hand.
const (
	maxPoliciesFile = 1 << 20
	maxPolicies     = 1000
)

// policyName is what a policy may be called: it shows in the reasons of
// POST /authorize and in logs.
var policyName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)

// loadPolicies reads and compiles the --policies file, so that a policy
// that does not compile stops the server at start. The format is
//
//	# a comment
//	NAME: EXPRESSION
//	NAME:
//	    EXPRESSION, continued on indented lines
//
// one policy per line, NAME a word of letters, digits, _, . and -, unique
// in the file, and EXPRESSION a CEL expression over user, action,
// resource and request that yields a bool. Lines that start with a space
// or a tab continue the policy above; blank lines and lines whose first
// non-blank character is # are ignored. Errors name the file, the line and
// the policy.
func loadPolicies(path string) (authz.CELPolicies, error) {
	f, err := os.Open(path) // #nosec G304 -- the path is the operator's own setting
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPoliciesFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxPoliciesFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxPoliciesFile)
	}
	return parsePolicies(path, data)
}

// policySource is one policy of a file, before it is compiled.
type policySource struct {
	name string
	line int // where its NAME: is
	expr strings.Builder
}

// parsePolicies parses and compiles the text of a policies file; path is
// only for the errors.
func parsePolicies(path string, data []byte) (authz.CELPolicies, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%s is not UTF-8 text", path)
	}
	var srcs []*policySource
	seen := make(map[string]int) // name → line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxPoliciesFile+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case line[0] == ' ' || line[0] == '\t':
			if len(srcs) == 0 {
				return nil, fmt.Errorf("%s line %d: an indented line continues a policy, but no policy starts above it", path, n)
			}
			b := &srcs[len(srcs)-1].expr
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(trimmed)
			continue
		}
		name, expr, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s line %d: want NAME: EXPRESSION", path, n)
		case !policyName.MatchString(name):
			return nil, fmt.Errorf("%s line %d: policy name %q: want a letter or _ and up to 63 letters, digits, _, . or -", path, n, name)
		case seen[name] != 0:
			return nil, fmt.Errorf("%s line %d: policy %q is already defined on line %d", path, n, name, seen[name])
		case len(srcs) == maxPolicies:
			return nil, fmt.Errorf("%s: more than %d policies", path, maxPolicies)
		}
		seen[name] = n
		src := &policySource{name: name, line: n}
		src.expr.WriteString(strings.TrimSpace(expr))
		srcs = append(srcs, src)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("%s defines no policy; want lines of NAME: EXPRESSION", path)
	}
	policies := make(authz.CELPolicies, 0, len(srcs))
	for _, src := range srcs {
		expr := src.expr.String()
		if expr == "" {
			return nil, fmt.Errorf("%s line %d: policy %q has no expression", path, src.line, src.name)
		}
		p, err := authz.CompileCEL(src.name, expr)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: policy %q: %w", path, src.line, src.name, unnamed(err, src.name))
		}
		policies = append(policies, p)
	}
	return policies, nil
}

// unnamed drops the policy's name from the front of a CompileCEL error
// when it is there, as the caller names it already.
func unnamed(err error, name string) error {
	if rest, ok := strings.CutPrefix(err.Error(), "authz: CEL policy "+strconv.Quote(name)+": "); ok {
		return errors.New(rest)
	}
	return err
}
