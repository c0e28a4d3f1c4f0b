// Command gatehouse is the Gatehouse server and its admin commands.
//
//	gatehouse serve                 migrate the database, then serve the HTTP API
//	gatehouse migrate               apply pending migrations
//	gatehouse users create --email  create a user (password on standard input)
//	gatehouse keys list             list the signing keys (EdDSA, ES256, RS256)
//	gatehouse keys rotate           add a signing key; running servers pick it up
//	gatehouse keys retire KID       stop signing with a key; it verifies until its tokens expired
//
// Run 'gatehouse --help' for every setting. With no configuration, serve
// keeps its data in gatehouse.db (SQLite) in the working directory.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatehouse/gatehouse/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(cli.ExitCode(err))
	}
}
