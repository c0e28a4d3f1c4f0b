package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// checkSecret refuses to go on without a secret where none can be
// generated; cmd names the command for the error.
func checkSecret(c *config, cmd string) error {
	if c.Secret == "" && c.DB.Driver != "sqlite" {
		return errors.New(cmd + ": set GATEHOUSE_SECRET (or --secret) to at least 32 random bytes: " +
			"with PostgreSQL every instance must share it, so none can be generated")
	}
	return nil
}

// serverSecret returns the signing secret: the configured one or, with
// SQLite, the one kept next to the database in file, generated there
// (created) if it was missing. file is "" when the secret was configured.
func serverSecret(c *config) (secret, file string, created bool, err error) {
	if c.Secret != "" {
		return c.Secret, "", false, nil
	}
	if err := checkSecret(c, "gatehouse"); err != nil {
		return "", "", false, err
	}
	file = c.DB.Path + ".secret"
	secret, created, err = fileSecret(file)
	return secret, file, created, err
}

// fileSecret returns the signing secret kept in path, creating it first if
// it does not exist: 32 random bytes, base64url-encoded, in a file of mode
// 0600. Concurrent callers all end up with the same secret.
func fileSecret(path string) (secret string, created bool, err error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the path is the operator's own setting
	if err == nil {
		return checkFileSecret(path, b)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read secret file: %w", err)
	}

	var raw [32]byte
	rand.Read(raw[:]) // never fails: crypto/rand panics instead
	secret = base64.RawURLEncoding.EncodeToString(raw[:])

	// Write a temporary file, then link it into place: the link fails if
	// another process won the race, and nobody ever reads a half-written
	// secret.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gatehouse-secret-*")
	if err != nil {
		return "", false, fmt.Errorf("create secret file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil { // CreateTemp uses 0600; be explicit
		_ = tmp.Close() // the Chmod error is the one reported
		return "", false, fmt.Errorf("create secret file: %w", err)
	}
	_, err = tmp.WriteString(secret + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", false, fmt.Errorf("write secret file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			b, err := os.ReadFile(path) // #nosec G304 -- the path is the operator's own setting
			if err != nil {
				return "", false, fmt.Errorf("read secret file: %w", err)
			}
			return checkFileSecret(path, b)
		}
		return "", false, fmt.Errorf("create secret file: %w", err)
	}
	return secret, true, nil
}

func checkFileSecret(path string, b []byte) (string, bool, error) {
	secret := string(bytes.TrimSpace(b))
	if len(secret) < minSecretLen {
		return "", false, fmt.Errorf("secret file %s holds fewer than %d bytes; delete it to generate a new one, or set GATEHOUSE_SECRET", path, minSecretLen)
	}
	return secret, false, nil
}
