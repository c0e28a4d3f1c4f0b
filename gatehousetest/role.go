package gatehousetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// TestRoleStore checks that a gatehouse.RoleStore behaves as documented:
//
//   - roles come back as created, their permissions in the order given;
//     nil permissions come back as an empty, non-nil slice;
//   - ListRoles and UserRoles sort by name, byte by byte (as Go's
//     sort.Strings), whatever the database's collation;
//   - UpdateRole changes only the fields it is given, and a pointer to an
//     empty (or nil) list clears the permissions;
//   - DeleteRole takes the role from its users, and a role created again
//     under the name is not given back to them;
//   - SetUserRoles replaces the user's roles; a name given twice counts
//     once; an unknown role is CodeNotFound and changes nothing; an empty
//     list clears; concurrent calls for one user leave exactly one call's
//     roles;
//   - deleting a user deletes its roles;
//   - CodeConflict for a name in use, CodeNotFound for an unknown role or
//     user.
//
// open must return a new, empty store and the user store its roles refer
// to. Role names are taken as given: the store does not check their
// syntax.
func TestRoleStore(t *testing.T, open func(t *testing.T) (gatehouse.UserStore, gatehouse.RoleStore)) {
	tests := []struct {
		name string
		run  func(t *testing.T, users gatehouse.UserStore, s gatehouse.RoleStore)
	}{
		{"CreateFind", testRoleCreateFind},
		{"NilPermissions", testRoleNilPermissions},
		{"Conflict", testRoleConflict},
		{"NotFound", testRoleNotFound},
		{"List", testRoleList},
		{"Update", testRoleUpdate},
		{"Delete", testRoleDelete},
		{"SetUserRoles", testSetUserRoles},
		{"SetUserRolesUnknownRole", testSetUserRolesUnknownRole},
		{"SetUserRolesUnknownUser", testSetUserRolesUnknownUser},
		{"SetUserRolesEmpty", testSetUserRolesEmpty},
		{"UserDeleted", testRolesUserDeleted},
		{"ConcurrentSetUserRoles", testConcurrentSetUserRoles},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			users, roles := open(t)
			tt.run(t, users, roles)
		})
	}
}

func createRole(t *testing.T, s gatehouse.RoleStore, r gatehouse.Role) {
	t.Helper()
	if err := s.CreateRole(t.Context(), r); err != nil {
		t.Fatalf("CreateRole(%q): %v", r.Name, err)
	}
}

func findRole(t *testing.T, s gatehouse.RoleStore, name string) *gatehouse.Role {
	t.Helper()
	r, err := s.FindRole(t.Context(), name)
	if err != nil {
		t.Fatalf("FindRole(%q): %v", name, err)
	}
	return r
}

// sameRole compares roles field by field; nil and empty permissions
// differ, as a store must never give back nil.
func sameRole(got, want gatehouse.Role) bool {
	return got.Name == want.Name && got.Description == want.Description &&
		got.Permissions != nil && slices.Equal(got.Permissions, want.Permissions)
}

func fmtRoles(roles []gatehouse.Role) string {
	var b strings.Builder
	for _, r := range roles {
		fmt.Fprintf(&b, "\t%q %q %#v\n", r.Name, r.Description, r.Permissions)
	}
	return b.String()
}

func wantRole(t *testing.T, s gatehouse.RoleStore, want gatehouse.Role) {
	t.Helper()
	if got := findRole(t, s, want.Name); !sameRole(*got, want) {
		t.Errorf("FindRole(%q) =\n%swant\n%s", want.Name, fmtRoles([]gatehouse.Role{*got}), fmtRoles([]gatehouse.Role{want}))
	}
}

func wantRoleList(t *testing.T, what string, got []gatehouse.Role, err error, want ...gatehouse.Role) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = sameRole(got[i], want[i])
	}
	if !ok {
		t.Errorf("%s =\n%swant\n%s", what, fmtRoles(got), fmtRoles(want))
	}
}

func wantUserRoles(t *testing.T, s gatehouse.RoleStore, user gatehouse.ID, want ...gatehouse.Role) {
	t.Helper()
	got, err := s.UserRoles(t.Context(), user)
	wantRoleList(t, "UserRoles", got, err, want...)
}

func setUserRoles(t *testing.T, s gatehouse.RoleStore, user gatehouse.ID, names ...string) {
	t.Helper()
	if err := s.SetUserRoles(t.Context(), user, names); err != nil {
		t.Fatalf("SetUserRoles(%q): %v", names, err)
	}
}

// roleUser creates a user for the role tests.
func roleUser(t *testing.T, users gatehouse.UserStore, email string) gatehouse.ID {
	t.Helper()
	return create(t, users, &gatehouse.User{Email: email}).ID
}

// Roles the tests share; each test creates those it uses.
var (
	roleAdmin  = gatehouse.Role{Name: "admin", Description: "Everything", Permissions: []string{"users:delete", "articles:delete", "articles:write", "articles:read"}}
	roleEditor = gatehouse.Role{Name: "editor", Description: "Writes articles", Permissions: []string{"articles:write", "articles:read"}}
	roleViewer = gatehouse.Role{Name: "viewer", Permissions: []string{"articles:read"}}
)

func testRoleCreateFind(t *testing.T, _ gatehouse.UserStore, s gatehouse.RoleStore) {
	createRole(t, s, roleEditor)
	wantRole(t, s, roleEditor)
	// Permissions in the order given, not sorted.
	odd := gatehouse.Role{Name: "odd ñame/ü", Description: "ünïcode — and\nnewline",
		Permissions: []string{"z:z", "a:a", "m:*", "ä:ö"}}
	createRole(t, s, odd)
	wantRole(t, s, odd)
	empty := gatehouse.Role{Name: "empty", Permissions: []string{}}
	createRole(t, s, empty)
	wantRole(t, s, empty)
}

func testRoleNilPermissions(t *testing.T, _ gatehouse.UserStore, s gatehouse.RoleStore) {
	createRole(t, s, gatehouse.Role{Name: "none"})
	wantRole(t, s, gatehouse.Role{Name: "none", Permissions: []string{}})
}

func testRoleConflict(t *testing.T, _ gatehouse.UserStore, s gatehouse.RoleStore) {
	createRole(t, s, roleEditor)
	err := s.CreateRole(t.Context(), gatehouse.Role{Name: roleEditor.Name, Description: "other", Permissions: []string{"x"}})
	wantCode(t, "CreateRole of a name in use", err, gatehouse.CodeConflict)
	wantRole(t, s, roleEditor)
	// Names are compared exactly: another case is another role.
	createRole(t, s, gatehouse.Role{Name: "Editor"})
}

func testRoleNotFound(t *testing.T, _ gatehouse.UserStore, s gatehouse.RoleStore) {
	createRole(t, s, roleEditor)
	ctx := t.Context()
	_, err := s.FindRole(ctx, "nope")
	wantCode(t, "FindRole of an unknown role", err, gatehouse.CodeNotFound)
	_, err = s.FindRole(ctx, "EDITOR")
	wantCode(t, "FindRole in another case", err, gatehouse.CodeNotFound)
	desc := "x"
	_, err = s.UpdateRole(ctx, "nope", gatehouse.RoleUpdate{Description: &desc})
	wantCode(t, "UpdateRole of an unknown role", err, gatehouse.CodeNotFound)
	wantCode(t, "DeleteRole of an unknown role", s.DeleteRole(ctx, "nope"), gatehouse.CodeNotFound)
	wantRole(t, s, roleEditor)
}

func testRoleList(t *testing.T, _ gatehouse.UserStore, s gatehouse.RoleStore) {
	got, err := s.ListRoles(t.Context())
	wantRoleList(t, "ListRoles of an empty store", got, err)
	upper := gatehouse.Role{Name: "Zeta", Permissions: []string{}}
	under := gatehouse.Role{Name: "_ops", Description: "ops", Permissions: []string{"ops:*"}}
	for _, r := range []gatehouse.Role{roleViewer, upper, roleAdmin, under, roleEditor} {
		createRole(t, s, r)
	}
	// Byte order: upper case, then '_', then lower case.
	got, err = s.ListRoles(t.Context())
	wantRoleList(t, "ListRoles", got, err, upper, under, roleAdmin, roleEditor, roleViewer)
}

func testRoleUpdate(t *testing.T, _ gatehouse.UserStore, s gatehouse.RoleStore) {
	ctx := t.Context()
	createRole(t, s, roleEditor)
	want := roleEditor
	check := func(what string, upd gatehouse.RoleUpdate) {
		t.Helper()
		got, err := s.UpdateRole(ctx, want.Name, upd)
		if err != nil {
			t.Fatalf("UpdateRole (%s): %v", what, err)
		}
		if !sameRole(*got, want) {
			t.Errorf("UpdateRole (%s) returned\n%swant\n%s", what, fmtRoles([]gatehouse.Role{*got}), fmtRoles([]gatehouse.Role{want}))
		}
		wantRole(t, s, want)
	}

	check("nothing", gatehouse.RoleUpdate{})
	desc := "Writes and edits articles"
	want.Description = desc
	check("description only", gatehouse.RoleUpdate{Description: &desc})
	perms := []string{"articles:write", "articles:publish", "articles:read"}
	want.Permissions = perms
	check("permissions only", gatehouse.RoleUpdate{Permissions: &perms})
	blank := ""
	want.Description = blank
	check("empty description", gatehouse.RoleUpdate{Description: &blank})
	empty := []string{}
	want.Permissions = []string{}
	check("empty permissions", gatehouse.RoleUpdate{Permissions: &empty})
	perms = []string{"a"}
	want.Permissions = perms
	check("permissions again", gatehouse.RoleUpdate{Permissions: &perms})
	var none []string
	want.Permissions = []string{}
	check("nil permissions", gatehouse.RoleUpdate{Permissions: &none})
	desc, perms = "both", []string{"b", "a"}
	want.Description, want.Permissions = desc, perms
	check("both", gatehouse.RoleUpdate{Description: &desc, Permissions: &perms})
}

func testRoleDelete(t *testing.T, users gatehouse.UserStore, s gatehouse.RoleStore) {
	ctx := t.Context()
	for _, r := range []gatehouse.Role{roleAdmin, roleEditor, roleViewer} {
		createRole(t, s, r)
	}
	alice, bob := roleUser(t, users, "alice@example.com"), roleUser(t, users, "bob@example.com")
	setUserRoles(t, s, alice, "editor", "viewer")
	setUserRoles(t, s, bob, "editor", "admin")

	if err := s.DeleteRole(ctx, "editor"); err != nil {
		t.Fatalf("DeleteRole: %v", err)
	}
	_, err := s.FindRole(ctx, "editor")
	wantCode(t, "FindRole after DeleteRole", err, gatehouse.CodeNotFound)
	wantCode(t, "DeleteRole again", s.DeleteRole(ctx, "editor"), gatehouse.CodeNotFound)
	wantUserRoles(t, s, alice, roleViewer)
	wantUserRoles(t, s, bob, roleAdmin)
	got, err := s.ListRoles(ctx)
	wantRoleList(t, "ListRoles after DeleteRole", got, err, roleAdmin, roleViewer)

	// A new role of the same name starts with no users.
	createRole(t, s, roleEditor)
	wantUserRoles(t, s, alice, roleViewer)
	wantUserRoles(t, s, bob, roleAdmin)
}

func testSetUserRoles(t *testing.T, users gatehouse.UserStore, s gatehouse.RoleStore) {
	for _, r := range []gatehouse.Role{roleAdmin, roleEditor, roleViewer} {
		createRole(t, s, r)
	}
	alice, bob := roleUser(t, users, "alice@example.com"), roleUser(t, users, "bob@example.com")
	wantUserRoles(t, s, alice)

	setUserRoles(t, s, alice, "viewer", "editor")
	wantUserRoles(t, s, alice, roleEditor, roleViewer) // by name
	wantUserRoles(t, s, bob)

	// Replaces, not adds.
	setUserRoles(t, s, alice, "admin")
	wantUserRoles(t, s, alice, roleAdmin)

	// A name given twice counts once.
	setUserRoles(t, s, alice, "viewer", "admin", "viewer")
	wantUserRoles(t, s, alice, roleAdmin, roleViewer)

	setUserRoles(t, s, bob, "editor")
	wantUserRoles(t, s, bob, roleEditor)
	wantUserRoles(t, s, alice, roleAdmin, roleViewer)

	// UserRoles gives the roles as they are now.
	desc, perms := "Reads", []string{"articles:read", "reports:read"}
	if _, err := s.UpdateRole(t.Context(), "viewer", gatehouse.RoleUpdate{Description: &desc, Permissions: &perms}); err != nil {
		t.Fatal(err)
	}
	viewer := gatehouse.Role{Name: "viewer", Description: desc, Permissions: perms}
	wantUserRoles(t, s, alice, roleAdmin, viewer)
}

func testSetUserRolesUnknownRole(t *testing.T, users gatehouse.UserStore, s gatehouse.RoleStore) {
	createRole(t, s, roleEditor)
	createRole(t, s, roleViewer)
	alice := roleUser(t, users, "alice@example.com")
	setUserRoles(t, s, alice, "viewer")
	for _, names := range [][]string{{"nope"}, {"editor", "nope"}, {"nope", "editor"}, {"Editor"}} {
		err := s.SetUserRoles(t.Context(), alice, names)
		wantCode(t, fmt.Sprintf("SetUserRoles(%q)", names), err, gatehouse.CodeNotFound)
		wantUserRoles(t, s, alice, roleViewer)
	}
}

func testSetUserRolesUnknownUser(t *testing.T, _ gatehouse.UserStore, s gatehouse.RoleStore) {
	createRole(t, s, roleEditor)
	nobody := gatehouse.NewID()
	wantCode(t, "SetUserRoles of an unknown user", s.SetUserRoles(t.Context(), nobody, []string{"editor"}), gatehouse.CodeNotFound)
	wantCode(t, "SetUserRoles of an unknown user, no roles", s.SetUserRoles(t.Context(), nobody, nil), gatehouse.CodeNotFound)
}

func testSetUserRolesEmpty(t *testing.T, users gatehouse.UserStore, s gatehouse.RoleStore) {
	createRole(t, s, roleEditor)
	createRole(t, s, roleViewer)
	alice := roleUser(t, users, "alice@example.com")
	setUserRoles(t, s, alice, "editor", "viewer")
	setUserRoles(t, s, alice)
	wantUserRoles(t, s, alice)
	setUserRoles(t, s, alice, "editor")
	if err := s.SetUserRoles(t.Context(), alice, []string{}); err != nil {
		t.Fatalf("SetUserRoles([]): %v", err)
	}
	wantUserRoles(t, s, alice)
	// The roles themselves stay.
	wantRole(t, s, roleEditor)
}

func testRolesUserDeleted(t *testing.T, users gatehouse.UserStore, s gatehouse.RoleStore) {
	ctx := t.Context()
	createRole(t, s, roleEditor)
	createRole(t, s, roleViewer)
	alice, bob := roleUser(t, users, "alice@example.com"), roleUser(t, users, "bob@example.com")
	setUserRoles(t, s, alice, "editor", "viewer")
	setUserRoles(t, s, bob, "viewer")
	if err := users.DeleteUser(ctx, alice); err != nil {
		t.Fatalf("DeleteUser of a user with roles: %v", err)
	}
	wantCode(t, "SetUserRoles of a deleted user", s.SetUserRoles(ctx, alice, []string{"viewer"}), gatehouse.CodeNotFound)
	// A user created again under the id starts with no roles.
	create(t, users, &gatehouse.User{ID: alice, Email: "alice2@example.com"})
	wantUserRoles(t, s, alice)
	wantUserRoles(t, s, bob, roleViewer)
	wantRole(t, s, roleEditor)
	if err := s.DeleteRole(ctx, "editor"); err != nil {
		t.Errorf("DeleteRole after its user was deleted: %v", err)
	}
}

func testConcurrentSetUserRoles(t *testing.T, users gatehouse.UserStore, s gatehouse.RoleStore) {
	const nRoles, n = 6, 24
	all := make([]gatehouse.Role, nRoles)
	for i := range all {
		all[i] = gatehouse.Role{Name: fmt.Sprintf("role-%d", i), Permissions: []string{fmt.Sprintf("p:%d", i)}}
		createRole(t, s, all[i])
	}
	// Call i gives three consecutive roles starting at i mod nRoles.
	set := func(i int) []gatehouse.Role {
		var rs []gatehouse.Role
		for j := range 3 {
			rs = append(rs, all[(i+j)%nRoles])
		}
		slices.SortFunc(rs, func(a, b gatehouse.Role) int { return strings.Compare(a.Name, b.Name) })
		return rs
	}
	alice, bob := roleUser(t, users, "alice@example.com"), roleUser(t, users, "bob@example.com")
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			user := alice
			if i%4 == 3 {
				user = bob
			}
			var names []string
			for _, r := range set(i) {
				names = append(names, r.Name)
			}
			if err := s.SetUserRoles(t.Context(), user, names); err != nil {
				t.Errorf("SetUserRoles #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	for _, user := range []gatehouse.ID{alice, bob} {
		got, err := s.UserRoles(t.Context(), user)
		if err != nil {
			t.Fatalf("UserRoles: %v", err)
		}
		ok := false
		for i := range n {
			want := set(i)
			if len(got) == len(want) && !ok {
				ok = true
				for j := range got {
					ok = ok && sameRole(got[j], want[j])
				}
			}
		}
		if !ok {
			t.Errorf("after concurrent SetUserRoles calls, UserRoles =\n%swant the roles of one call", fmtRoles(got))
		}
	}
}
