package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse"
)

// roleName and permissionName are httpapi's rules for role and permission
// names (the HTTP routes check them again), so that what the commands
// create the routes can name.
var (
	roleName       = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)
	permissionName = regexp.MustCompile(`^[a-z0-9_.*-]+(:[a-z0-9_.*-]+)*$`)
)

const maxPermissionLen = 128

// stringList is a flag that may be given many times.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func checkRoleNames(names []string) error {
	for _, n := range names {
		if !roleName.MatchString(n) {
			return fmt.Errorf("role name %q: want a lower-case letter, then up to 63 of a-z, 0-9, _, . and -", n)
		}
	}
	return nil
}

// sortedSet returns names sorted, without duplicates, never nil.
func sortedSet(names []string) []string {
	out := slices.Compact(slices.Sorted(slices.Values(names)))
	if out == nil {
		out = []string{}
	}
	return out
}

// roleJSON is a role as the commands print it, as the /roles routes do.
type roleJSON struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
}

func toRoleJSON(r gatehouse.Role) roleJSON {
	if r.Permissions == nil {
		r.Permissions = []string{}
	}
	return roleJSON{r.Name, r.Description, r.Permissions}
}

func rolesCreateFlags(fs *flag.FlagSet) runFunc {
	desc := fs.String("description", "", "a `TEXT` saying what the role is for")
	var perms stringList
	fs.Var(&perms, "permission", "a `PERMISSION` of the role, such as articles:write; repeat it for more")
	return func(ctx context.Context, c *config, cio cmdIO) error {
		name := cio.args[0]
		if err := checkRoleNames([]string{name}); err != nil {
			return usageErrorf("roles create: %v", err)
		}
		for _, p := range perms {
			if !permissionName.MatchString(p) || len(p) > maxPermissionLen {
				return usageErrorf("roles create: permission %q: want words of a-z, 0-9, _, ., * and - joined by colons, such as articles:write", p)
			}
		}
		db, err := openMigrated(ctx, c)
		if err != nil {
			return err
		}
		defer db.Close()
		role := gatehouse.Role{Name: name, Description: *desc, Permissions: sortedSet(perms)}
		if err := db.Roles.CreateRole(ctx, role); err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
				return fmt.Errorf("roles create: a role named %s already exists", name)
			}
			return fmt.Errorf("roles create: %w", err)
		}
		return json.NewEncoder(cio.stdout).Encode(toRoleJSON(role))
	}
}

func rolesList(ctx context.Context, c *config, cio cmdIO) error {
	db, err := openMigrated(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	roles, err := db.Roles.ListRoles(ctx)
	if err != nil {
		return fmt.Errorf("roles list: %w", err)
	}
	out := make([]roleJSON, 0, len(roles))
	for _, r := range roles {
		out = append(out, toRoleJSON(r))
	}
	return json.NewEncoder(cio.stdout).Encode(out)
}

// usersRolesFlags is 'users roles --email E [ROLE...]': the user's roles
// become exactly these (none clears them).
func usersRolesFlags(fs *flag.FlagSet) runFunc {
	email := fs.String("email", "", "the user's e-mail `ADDRESS` (required)")
	return func(ctx context.Context, c *config, cio cmdIO) error {
		if *email == "" {
			return usageErrorf("users roles: --email is required")
		}
		names := sortedSet(cio.args)
		if err := checkRoleNames(names); err != nil {
			return usageErrorf("users roles: %v", err)
		}
		db, err := openMigrated(ctx, c)
		if err != nil {
			return err
		}
		defer db.Close()
		u, err := db.Users.FindUserByEmail(ctx, *email)
		if err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
				return fmt.Errorf("users roles: no user with e-mail %s", *email)
			}
			return fmt.Errorf("users roles: %w", err)
		}
		if err := setRoles(ctx, db, u.ID, names); err != nil {
			return fmt.Errorf("users roles: %w", err)
		}
		return json.NewEncoder(cio.stdout).Encode(struct {
			ID    gatehouse.ID `json:"id"`
			Email string       `json:"email"`
			Roles []string     `json:"roles"`
		}{u.ID, u.Email, names})
	}
}

// checkRolesExist tells which of names is not a role, so that a command
// fails before it changes anything.
func checkRolesExist(ctx context.Context, db *database, names []string) error {
	for _, n := range names {
		if _, err := db.Roles.FindRole(ctx, n); err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
				return fmt.Errorf("no role named %s; create it first ('gatehouse roles create %s')", n, n)
			}
			return err
		}
	}
	return nil
}

// setRoles gives a user exactly these roles, naming an unknown one.
func setRoles(ctx context.Context, db *database, id gatehouse.ID, names []string) error {
	if err := checkRolesExist(ctx, db, names); err != nil {
		return err
	}
	return db.Roles.SetUserRoles(ctx, id, names)
}
