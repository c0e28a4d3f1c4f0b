package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
)

// maxPasswordLine bounds how much of standard input is read as the
// password; the policy rejects anything near it anyway.
const maxPasswordLine = 4096

func usersCreateFlags(fs *flag.FlagSet) runFunc {
	email := fs.String("email", "", "the new user's e-mail `ADDRESS` (required)")
	superuser := fs.Bool("superuser", false, "make the user a superuser")
	verified := fs.Bool("verified", false, "mark the e-mail as verified")
	inactive := fs.Bool("inactive", false, "create the user inactive (cannot log in)")
	var roles stringList
	fs.Var(&roles, "role", "give the user this `ROLE`, which must exist; repeat it for more")
	return func(ctx context.Context, c *config, cio cmdIO) error {
		if *email == "" {
			return usageErrorf("users create: --email is required")
		}
		names := sortedSet(roles)
		if err := checkRoleNames(names); err != nil {
			return usageErrorf("users create: %v", err)
		}
		u := &gatehouse.User{
			Email:       *email,
			IsActive:    !*inactive,
			IsSuperuser: *superuser,
			IsVerified:  *verified,
		}
		return usersCreate(ctx, c, cio, u, names)
	}
}

// usersCreate creates u with the password read from standard input and
// gives it the roles, which must exist; a user is created with all of
// them or not at all.
func usersCreate(ctx context.Context, c *config, cio cmdIO, u *gatehouse.User, roles []string) error {
	if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email {
		return fmt.Errorf("users create: %q is not an e-mail address", u.Email)
	}
	pw, err := readPassword(cio.stdin)
	if err != nil {
		return fmt.Errorf("users create: %w", err)
	}
	policy := &password.Policy{MinLength: c.PasswordMinLength, ServiceName: serviceName}
	if err := policy.ValidatePassword(ctx, pw, u); err != nil {
		if reason := gatehouse.ErrorReason(err); reason != "" {
			return fmt.Errorf("users create: password rejected: %s", reason)
		}
		return fmt.Errorf("users create: %w", err)
	}

	db, err := openMigrated(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := checkRolesExist(ctx, db, roles); err != nil {
		return fmt.Errorf("users create: %w", err)
	}
	hasher := &password.Hasher{Params: cio.opts.HashParams}
	if u.HashedPassword, err = hasher.Hash(ctx, pw); err != nil {
		return fmt.Errorf("users create: %w", err)
	}
	if err := db.Users.CreateUser(ctx, u); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
			return fmt.Errorf("users create: a user with e-mail %s already exists", u.Email)
		}
		return fmt.Errorf("users create: %w", err)
	}
	if len(roles) > 0 {
		if err := db.Roles.SetUserRoles(ctx, u.ID, roles); err != nil {
			// A role went away since it was checked: take the user back.
			if derr := db.Users.DeleteUser(context.WithoutCancel(ctx), u.ID); derr != nil {
				return fmt.Errorf("users create: give the roles: %w (and the user %s created without them could not be deleted: %v)", err, u.Email, derr)
			}
			return fmt.Errorf("users create: give the roles: %w", err)
		}
	}
	out := struct {
		ID          gatehouse.ID `json:"id"`
		Email       string       `json:"email"`
		IsActive    bool         `json:"is_active"`
		IsSuperuser bool         `json:"is_superuser"`
		IsVerified  bool         `json:"is_verified"`
		Roles       []string     `json:"roles"`
	}{u.ID, u.Email, u.IsActive, u.IsSuperuser, u.IsVerified, roles}
	return json.NewEncoder(cio.stdout).Encode(out)
}

// readPassword reads one line, without its line ending.
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("no password on standard input")
	}
	line, err := bufio.NewReaderSize(io.LimitReader(r, maxPasswordLine), maxPasswordLine).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	if errors.Is(err, io.EOF) && len(line) == maxPasswordLine {
		return "", errors.New("password line too long")
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password on standard input (give it as one line)")
	}
	return line, nil
}
