// Package cli is the gatehouse command: it reads the configuration from
// flags and environment variables, wires the stores, hasher, strategies and
// transports together, and runs the server or one of the admin commands.
//
// cmd/gatehouse only calls Run. Settings follow one rule: flag
// --some-setting, environment variable GATEHOUSE_SOME_SETTING; the flag
// wins over the variable, the variable over the default.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/password"
)

// Run runs the gatehouse command with the given arguments (without the
// program name). It returns when the command is done or, for serve, when ctx
// is cancelled and the server has shut down. Errors are for the caller to
// print; ExitCode tells the exit status.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return run(ctx, args, stdin, stdout, stderr, options{Getenv: os.Getenv, Environ: os.Environ})
}

// options are knobs that only tests turn.
type options struct {
	// Getenv reads the environment; tests pass their own map so that they
	// never change the process environment.
	Getenv func(string) string
	// Environ lists the environment as KEY=VALUE, as os.Environ does, for
	// the settings whose names are not known in advance (the OAuth
	// providers' GATEHOUSE_OAUTH_<NAME>_* variables); their values are
	// read with Getenv. Nil: there are none.
	Environ func() []string
	// HashParams, when not zero, replaces the password hashing parameters
	// (tests use cheap ones).
	HashParams password.Params
	// Now, when set, is the clock of the signing keys: when 'keys' commands
	// create and retire them, and when a server drops retired ones.
	Now func() time.Time
	// KeyReloader, when set, is given the function that makes a serving
	// server reload its signing keys at once, as it otherwise does every
	// 30 seconds.
	KeyReloader func(reload func(context.Context) error)
}

func (o options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// UsageError is an error in how the command was called: an unknown command
// or flag, or a missing argument.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ExitCode returns the process exit status for an error Run returned: 0 for
// nil, 2 for a usage error, 1 for any other.
func ExitCode(err error) int {
	var u *UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &u):
		return 2
	}
	return 1
}

// A command is one subcommand.
type command struct {
	name string // as typed, e.g. "users create"
	// args are its positional arguments, as help shows them, e.g. "KID";
	// a last one ending in "..." or "...]" takes any number ("[ROLE...]").
	args     string
	summary  string
	settings []string
	// oauth: the command reads the GATEHOUSE_OAUTH_<NAME>_* variables.
	oauth bool
	// flags defines the command's own flags and returns what runs it.
	flags func(fs *flag.FlagSet) runFunc
}

type runFunc func(ctx context.Context, c *config, cio cmdIO) error

// noFlags is the flags of a command that has only settings.
func noFlags(run runFunc) func(*flag.FlagSet) runFunc {
	return func(*flag.FlagSet) runFunc { return run }
}

// cmdIO is what a command talks to.
type cmdIO struct {
	args           []string // the positional arguments, as many as command.args names
	stdin          io.Reader
	stdout, stderr io.Writer
	opts           options
}

var allSettings = func() []string {
	var names []string
	for _, s := range settings {
		names = append(names, s.flag)
	}
	return names
}()

var commands = []*command{
	{
		name:     "serve",
		summary:  "migrate the database, then serve the HTTP API",
		settings: allSettings,
		oauth:    true,
		flags:    noFlags(serve),
	},
	{
		name:     "migrate",
		summary:  "apply pending database migrations and exit",
		settings: []string{"database-url"},
		flags:    noFlags(migrate),
	},
	{
		name:     "users create",
		summary:  "create a user; the password is read from standard input (one line)",
		settings: []string{"database-url", "password-min-length"},
		flags:    usersCreateFlags,
	},
	{
		name:     "users roles",
		args:     "[ROLE...]",
		summary:  "give a user exactly these roles (none: take them all away); prints the user's id, e-mail and roles",
		settings: []string{"database-url"},
		flags:    usersRolesFlags,
	},
	{
		name:     "roles create",
		args:     "NAME",
		summary:  "create a role with the given permissions; prints it as JSON",
		settings: []string{"database-url"},
		flags:    rolesCreateFlags,
	},
	{
		name:     "roles list",
		summary:  "list the roles as JSON",
		settings: []string{"database-url"},
		flags:    noFlags(rolesList),
	},
	{
		name:     "keys list",
		summary:  "list the signing keys, newest first: kid, algorithm, created, state",
		settings: keysSettings,
		flags:    keysListFlags,
	},
	{
		name:     "keys rotate",
		summary:  "add a signing key, which servers sign with from their next key reload (within 30 s); prints its kid",
		settings: keysSettings,
		flags:    keysRotateFlags,
	},
	{
		name: "keys retire",
		args: "KID",
		summary: "stop signing with a key; it still verifies tokens until the access-token lifetime " +
			"(plus a minute) has passed, then servers drop it",
		settings: keysSettings,
		flags:    keysRetireFlags,
	},
}

// groups are the first words of commands that have subcommands.
var groups = []string{"users", "roles", "keys"}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, opts options) error {
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 {
		rootHelp(stderr)
		return usageErrorf("no command given")
	}
	if isHelp(args[0]) {
		rootHelp(stderr)
		return nil
	}
	// Find the command whose words the arguments start with.
	var cmd *command
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			cmd = c
		}
	}
	if cmd == nil {
		if slices.Contains(groups, args[0]) {
			subs := groupHelp(stderr, args[0])
			if len(args) > 1 && isHelp(args[1]) {
				return nil
			}
			if len(args) > 1 {
				return usageErrorf("%s: unknown subcommand %q; want one of: %s", args[0], args[1], strings.Join(subs, ", "))
			}
			return usageErrorf("%s: want a subcommand: %s", args[0], strings.Join(subs, ", "))
		}
		return usageErrorf("unknown command %q; run 'gatehouse --help'", args[0])
	}
	args = args[len(strings.Fields(cmd.name)):]

	fs := flag.NewFlagSet("gatehouse "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; help is printed below
	fs.Usage = func() {}
	resolve := settingFlags(fs, cmd.settings)
	exec := cmd.flags(fs)
	// Flags may come before and after positional arguments: parse up to
	// the next positional argument, take it, and go on after it.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				commandHelp(stderr, cmd, fs)
				return nil
			}
			return usageErrorf("%s: %v (see 'gatehouse %s --help')", cmd.name, err, cmd.name)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...) // after "--", no more flags
			break
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
	want := strings.Fields(cmd.args)
	variadic := len(want) > 0 && (strings.HasSuffix(want[len(want)-1], "...") || strings.HasSuffix(want[len(want)-1], "...]"))
	if variadic {
		want = want[:len(want)-1]
	}
	switch {
	case len(positional) > len(want) && !variadic:
		return usageErrorf("%s: unexpected argument %q (see 'gatehouse %s --help')", cmd.name, positional[len(want)], cmd.name)
	case len(positional) < len(want):
		return usageErrorf("%s: missing %s (see 'gatehouse %s --help')", cmd.name, want[len(positional)], cmd.name)
	}
	c, err := resolve(opts.Getenv)
	if err != nil {
		return err
	}
	if cmd.oauth {
		if c.OAuth, err = parseOAuth(opts.Getenv, opts.Environ, c.Backends); err != nil {
			return err
		}
	}
	return exec(ctx, c, cmdIO{args: positional, stdin: stdin, stdout: stdout, stderr: stderr, opts: opts})
}

func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

func rootHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: gatehouse <command> [flags]

Gatehouse is an authentication server with the HTTP API of FastAPI Users.

Commands:
`)
	width := 0
	for _, c := range commands {
		width = max(width, len(strings.TrimSpace(c.name+" "+c.args)))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	fmt.Fprint(w, `
Run 'gatehouse <command> --help' for the flags a command takes.

Settings (flags go after the command; every flag can instead be set by its
environment variable, and the flag wins):
`)
	printSettings(w, allSettings)
	printOAuthHelp(w)
	for _, c := range commands {
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags(fs)
		if len(ownFlags(fs, allSettings)) > 0 {
			fmt.Fprintf(w, "\nFlags of '%s' (no environment variables):\n", c.name)
			printOwnFlags(w, fs)
		}
	}
}

// groupHelp lists the subcommands of group and returns their names.
func groupHelp(w io.Writer, group string) []string {
	fmt.Fprintf(w, "Usage: gatehouse %s <command> [flags]\n\nCommands:\n", group)
	var subs []string
	width := 0
	for _, c := range commands {
		if sub, ok := strings.CutPrefix(c.name, group+" "); ok {
			width = max(width, len(strings.TrimSpace(sub+" "+c.args)))
		}
	}
	for _, c := range commands {
		if sub, ok := strings.CutPrefix(c.name, group+" "); ok {
			fmt.Fprintf(w, "  %-*s  %s\n", width, strings.TrimSpace(sub+" "+c.args), c.summary)
			subs = append(subs, sub)
		}
	}
	return subs
}

func commandHelp(w io.Writer, cmd *command, fs *flag.FlagSet) {
	usage := cmd.name + " [flags]"
	if cmd.args != "" {
		usage += " " + cmd.args
	}
	fmt.Fprintf(w, "Usage: gatehouse %s\n\n%s.\n", usage, strings.ToUpper(cmd.summary[:1])+cmd.summary[1:])
	if own := ownFlags(fs, cmd.settings); len(own) > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		printOwnFlags(w, fs)
	}
	fmt.Fprint(w, "\nSettings (flag, environment variable, default; the flag wins):\n")
	printSettings(w, cmd.settings)
	if cmd.oauth {
		printOAuthHelp(w)
	}
}

// ownFlags returns the flags of fs that are not settings.
func ownFlags(fs *flag.FlagSet, settingNames []string) []*flag.Flag {
	isSetting := make(map[string]bool)
	for _, n := range settingNames {
		isSetting[n] = true
	}
	var own []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !isSetting[f.Name] {
			own = append(own, f)
		}
	})
	return own
}

func printOwnFlags(w io.Writer, fs *flag.FlagSet) {
	var lefts, usages []string
	width := 17
	for _, f := range ownFlags(fs, allSettings) {
		name, usage := flag.UnquoteUsage(f)
		left := "--" + f.Name
		if name != "" {
			left += " " + name
		}
		lefts, usages = append(lefts, left), append(usages, usage)
		width = max(width, len(left))
	}
	for i, left := range lefts {
		fmt.Fprintf(w, "  %-*s  %s\n", width, left, usages[i])
	}
}
