package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse"
)

// keysSettings are the settings of the 'keys' commands: the server's
// database and secret, the algorithm it signs with, and the token lifetime
// that decides how long a retired key still verifies.
var keysSettings = []string{"database-url", "secret", "jwt-algorithm", "access-token-ttl"}

// openMigrated opens and migrates the database for an admin command, whose
// changes to users and roles running servers hear of at once.
func openMigrated(ctx context.Context, c *config) (*database, error) {
	db, err := openDatabase(ctx, c.DB)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		_ = db.Close() // the Migrate error is the one reported
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return publishing(db), nil
}

// keyJSON is a key as 'keys list --json' prints it: never its private part.
type keyJSON struct {
	Kid       string     `json:"kid"`
	Algorithm string     `json:"algorithm"`
	CreatedAt time.Time  `json:"created_at"`
	State     string     `json:"state"` // "active" or "retired"
	RetiredAt *time.Time `json:"retired_at"`
}

func keysListFlags(fs *flag.FlagSet) runFunc {
	asJSON := fs.Bool("json", false, "print a JSON array of {kid, algorithm, created_at, state, retired_at}")
	return func(ctx context.Context, c *config, cio cmdIO) error {
		db, err := openMigrated(ctx, c)
		if err != nil {
			return err
		}
		defer db.Close()
		keys, err := db.Keys.SigningKeys(ctx) // newest first
		if err != nil {
			return fmt.Errorf("keys list: %w", err)
		}
		if *asJSON {
			out := make([]keyJSON, 0, len(keys))
			for _, k := range keys {
				j := keyJSON{Kid: k.ID, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt.UTC(), State: "active"}
				if !k.RetiredAt.IsZero() {
					at := k.RetiredAt.UTC()
					j.State, j.RetiredAt = "retired", &at
				}
				out = append(out, j)
			}
			enc := json.NewEncoder(cio.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		tw := tabwriter.NewWriter(cio.stdout, 0, 0, 2, ' ', 0)
		for _, k := range keys {
			state := "active"
			if !k.RetiredAt.IsZero() {
				state = "retired at " + formatTime(k.RetiredAt)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, formatTime(k.CreatedAt), state)
		}
		return tw.Flush()
	}
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func keysRotateFlags(fs *flag.FlagSet) runFunc {
	algorithm := fs.String("algorithm", "", "`ALG` of the new key: EdDSA, ES256 or RS256 (default: --jwt-algorithm)")
	return func(ctx context.Context, c *config, cio cmdIO) error {
		alg := *algorithm
		if alg == "" {
			alg = c.JWTAlgorithm
		}
		switch alg {
		case "EdDSA", "ES256", "RS256":
		case "HS256":
			err := fmt.Errorf("keys rotate: HS256 keys are the secret; rotate GATEHOUSE_SECRET instead")
			if *algorithm != "" {
				return &UsageError{Err: err}
			}
			return err
		default:
			return usageErrorf("keys rotate: unknown --algorithm %q; want EdDSA, ES256 or RS256", alg)
		}
		if err := checkSecret(c, "keys rotate"); err != nil {
			return err
		}
		db, err := openMigrated(ctx, c)
		if err != nil {
			return err
		}
		defer db.Close()
		secret, _, _, err := serverSecret(c)
		if err != nil {
			return err
		}
		stored, err := db.Keys.SigningKeys(ctx)
		if err != nil {
			return fmt.Errorf("keys rotate: %w", err)
		}
		// A key sealed under another secret than the servers' would stop
		// them signing: the secret must open the keys in use.
		for _, k := range stored {
			if k.RetiredAt.IsZero() {
				if _, err := unseal(secret, k.ID, k.Private); err != nil {
					return fmt.Errorf("keys rotate: the secret does not open active key %s (%v); "+
						"give this command the servers' GATEHOUSE_SECRET", k.ID, err)
				}
			}
		}
		// The new key must be the newest even if this host's clock is
		// behind the one that made the last key.
		now := cio.opts.now().UTC().Truncate(time.Microsecond)
		for _, k := range stored {
			if !now.After(k.CreatedAt) {
				now = k.CreatedAt.Add(time.Microsecond)
			}
		}
		for attempt := 0; ; attempt++ {
			if attempt == 3 {
				return fmt.Errorf("keys rotate: cannot store a new %s key: its key ids are taken", alg)
			}
			kid, err := newKeyID(secret, alg, countKeys(stored, alg)+attempt)
			if err != nil {
				return err
			}
			added, err := addKey(ctx, db.Keys, alg, kid, secret, now)
			if err != nil {
				return fmt.Errorf("keys rotate: %w", err)
			}
			if added {
				fmt.Fprintln(cio.stdout, kid)
				fmt.Fprintf(cio.stderr, "added %s key %s; servers publish it at their next key reload (within %s) and sign with it from %s\n",
					alg, kid, keyReloadInterval, now.Add(keyActivationDelay).UTC().Format(time.RFC3339))
				return nil
			}
		}
	}
}

func keysRetireFlags(fs *flag.FlagSet) runFunc {
	force := fs.Bool("force", false, "retire even the only active key of --jwt-algorithm (servers then generate a new one)")
	return func(ctx context.Context, c *config, cio cmdIO) error {
		kid := cio.args[0]
		db, err := openMigrated(ctx, c)
		if err != nil {
			return err
		}
		defer db.Close()
		stored, err := db.Keys.SigningKeys(ctx)
		if err != nil {
			return fmt.Errorf("keys retire: %w", err)
		}
		var key *gatehouse.SigningKey
		active := 0 // other active keys of the configured algorithm
		for i, k := range stored {
			switch {
			case k.ID == kid:
				key = &stored[i]
			case k.Algorithm == c.JWTAlgorithm && k.RetiredAt.IsZero():
				active++
			}
		}
		switch {
		case key == nil:
			return fmt.Errorf("keys retire: no key %q; 'gatehouse keys list' shows the keys", kid)
		case !key.RetiredAt.IsZero():
			fmt.Fprintf(cio.stdout, "%s was already retired at %s\n", kid, formatTime(key.RetiredAt))
			return nil
		case key.Algorithm == c.JWTAlgorithm && active == 0 && !*force:
			return fmt.Errorf("keys retire: %s is the only active %s key, and %s signs with it; "+
				"run 'gatehouse keys rotate' first, or add --force to have the servers generate a new key",
				kid, key.Algorithm, describeSettings("jwt-algorithm"))
		}
		now := cio.opts.now()
		if err := db.Keys.RetireSigningKey(ctx, kid, now); err != nil {
			return fmt.Errorf("keys retire: %w", err)
		}
		fmt.Fprintf(cio.stdout, "retired %s; it verifies tokens until %s, then servers drop it\n",
			kid, formatTime(now.Add(c.AccessTokenTTL+retiredKeySlack)))
		return nil
	}
}
