package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/gatehouse/gatehouse"
)

// userRead is the UserRead schema: id, email, is_active, is_superuser,
// is_verified, then the custom fields in declared order. It never holds a
// password hash.
type userRead struct {
	u      *gatehouse.User
	fields []gatehouse.Field
	// With RBAC on, roles and permissions follow the custom fields.
	rbac         bool
	roles, perms []string
}

// userRead builds u's UserRead; with RBAC on it looks up u's roles.
func (a *api) userRead(ctx context.Context, u *gatehouse.User) (userRead, error) {
	ur := userRead{u: u, fields: a.Fields}
	if a.Roles == nil {
		return ur, nil
	}
	roles, err := a.Roles.UserRoles(ctx, u.ID)
	if err != nil {
		return ur, err
	}
	ur.rbac = true
	ur.roles, ur.perms = roleNames(roles), rolePermissions(roles)
	return ur, nil
}

// writeUser answers with u as UserRead.
func (a *api) writeUser(w http.ResponseWriter, r *http.Request, status int, u *gatehouse.User) {
	ur, err := a.userRead(r.Context(), u)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, status, ur)
}

func roleNames(roles []gatehouse.Role) []string {
	names := make([]string, 0, len(roles))
	for _, r := range roles {
		names = append(names, r.Name)
	}
	return names
}

// rolePermissions is the sorted union of the roles' permissions.
func rolePermissions(roles []gatehouse.Role) []string {
	var perms []string
	for _, r := range roles {
		perms = append(perms, r.Permissions...)
	}
	slices.Sort(perms)
	return slices.Compact(perms)
}

func (ur userRead) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"id":"`)
	b.WriteString(ur.u.ID.String())
	b.WriteString(`","email":`)
	if err := appendJSON(&b, ur.u.Email); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		v    bool
	}{{"is_active", ur.u.IsActive}, {"is_superuser", ur.u.IsSuperuser}, {"is_verified", ur.u.IsVerified}} {
		b.WriteString(`,"` + f.name + `":`)
		if f.v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	}
	for _, f := range ur.fields {
		b.WriteString(`,"` + f.Name + `":`) // names are checked by New: no escaping needed
		if err := appendJSON(&b, ur.u.Fields[f.Name]); err != nil {
			return nil, err
		}
	}
	if ur.rbac {
		for _, list := range []struct {
			name  string
			items []string
		}{{"roles", ur.roles}, {"permissions", ur.perms}} {
			b.WriteString(`,"` + list.name + `":`)
			if list.items == nil {
				list.items = []string{}
			}
			if err := appendJSON(&b, list.items); err != nil {
				return nil, err
			}
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func appendJSON(b *bytes.Buffer, v any) error {
	enc, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b.Write(enc)
	return nil
}

// userPage is the body of GET /users.
type userPage struct {
	Items []userRead `json:"items"`
	Total int        `json:"total"`
}
