package cli

import (
	"context"
	"io"
)

// Options are the test-only knobs of run.
type Options = options

// RunWith is Run with test options.
func RunWith(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, opts Options) error {
	return run(ctx, args, stdin, stdout, stderr, opts)
}

// UnsealOAuthToken opens a provider token the server stored.
func UnsealOAuthToken(secret string, sealed []byte) ([]byte, error) {
	return unsealOAuthToken(secret, sealed)
}
