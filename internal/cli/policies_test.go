package cli

import (
	"fmt"
	"strings"
	"testing"
)

func TestParsePolicies(t *testing.T) {
	text := "# comment\r\n" +
		"owner: resource.owner_id == user.id\r\n" +
		"\n" +
		"  # an indented comment is a comment too\n" +
		"editors:\n" +
		"    action == \"articles:write\" &&\n" +
		"\t\"editor\" in user.roles\n" +
		"colons: action == \"a:b:c\"\n"
	ps, err := parsePolicies("p.txt", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name())
	}
	if got := strings.Join(names, ","); got != "owner,editors,colons" {
		t.Errorf("policies %s, want owner,editors,colons", got)
	}

	for _, c := range []struct{ text, want string }{
		{"", "defines no policy"},
		{"# only\n", "defines no policy"},
		{"x: true\n  &&\n", `p.txt line 1: policy "x"`},
		{"x: 1\n", `p.txt line 1: policy "x": expression is of type int`},
		{"a.b: true\na.b: true\n", `policy "a.b" is already defined on line 1`},
		{"1a: true\n", `policy name "1a"`},
		{": true\n", `policy name ""`},
		{strings.Repeat("n", 65) + ": true\n", "policy name"},
		{"x: true\xff\n", "not UTF-8"},
		{"\ttrue\n", "line 1: an indented line"},
		{"ok: true\nbad\n", "line 2: want NAME: EXPRESSION"},
		{"ok: true\nlater:\n\n# none\n", `line 2: policy "later" has no expression`},
	} {
		_, err := parsePolicies("p.txt", []byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parsePolicies(%q) = %v, want an error with %q", c.text, err, c.want)
		}
	}
	var many strings.Builder
	for i := range maxPolicies + 1 {
		fmt.Fprintf(&many, "p%d: true\n", i)
	}
	if _, err := parsePolicies("p.txt", []byte(many.String())); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("%d policies: %v, want an error", maxPolicies+1, err)
	}
}

// FuzzParsePolicies checks that parsePolicies never panics and that the
// policies it accepts have unique, well-formed names.
func FuzzParsePolicies(f *testing.F) {
	for _, seed := range []string{
		"owner: resource.owner_id == user.id\n",
		"a:\n  true\n# c\nb: false",
		"a: true\na: true",
		"\ttrue",
		"x: 1 +",
		"x:: y",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := parsePolicies("f", []byte(s))
		if err != nil {
			return
		}
		seen := make(map[string]bool)
		for _, p := range ps {
			if !policyName.MatchString(p.Name()) || seen[p.Name()] {
				t.Fatalf("%q: accepted a bad or repeated name %q", s, p.Name())
			}
			seen[p.Name()] = true
		}
		if len(ps) == 0 {
			t.Fatalf("%q: accepted with no policy", s)
		}
	})
}
