package cli

import (
	"context"
	"fmt"
)

// migrate applies pending migrations and prints their names.
func migrate(ctx context.Context, c *config, cio cmdIO) error {
	db, err := openDatabase(ctx, c.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) == 0 {
		fmt.Fprintln(cio.stdout, "up to date")
		return nil
	}
	for _, name := range applied {
		fmt.Fprintln(cio.stdout, name)
	}
	return nil
}
