package httpapi

import (
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse"
)

var (
	roleName       = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)
	permissionName = regexp.MustCompile(`^[a-z0-9_.*-]+(:[a-z0-9_.*-]+)*$`)
)

// roleJSON is a role on the wire.
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

// strings decodes a list of strings matching pattern; ok is false when the
// key is absent or null.
func (d *decoder) strings(key string, required bool, pattern *regexp.Regexp, what string) ([]string, bool) {
	if !d.present(key) {
		if required {
			d.errs = append(d.errs, missing("body", key)...)
		}
		return nil, false
	}
	var list []string
	if err := jsonUnmarshal(d.obj[key], &list); err != nil {
		d.fail("list_type", "Input should be a valid list of strings", rawInput(d.obj[key]), key)
		return nil, false
	}
	for i, s := range list {
		if !pattern.MatchString(s) || len(s) > 128 {
			d.errs = append(d.errs, fieldError{Type: "string_pattern_mismatch", Loc: []any{"body", key, i},
				Msg: "Value is not a valid " + what, Input: s})
			return nil, false
		}
	}
	return list, true
}

func (a *api) listRoles(w http.ResponseWriter, r *http.Request) {
	if _, err := a.authenticate(r, a.superuser()); err != nil {
		a.writeError(w, r, err)
		return
	}
	roles, err := a.Roles.ListRoles(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]roleJSON, 0, len(roles))
	for _, role := range roles {
		out = append(out, toRoleJSON(role))
	}
	writeJSON(w, http.StatusOK, out)
}

// createRole answers POST /roles: malformed JSON first, then who asks, then
// the fields, as every route does.
func (a *api) createRole(w http.ResponseWriter, r *http.Request) {
	_, obj, ok := a.readAuthed(w, r, a.superuser())
	if !ok {
		return
	}
	if obj.shapeErr != nil {
		a.writeError(w, r, obj.shapeErr)
		return
	}
	d := &decoder{obj: obj.fields}
	name, ok := d.str("name", true)
	if ok && !roleName.MatchString(name) {
		d.fail("string_pattern_mismatch", "String should match pattern '"+roleName.String()+"'", name, "name")
	}
	desc, _ := d.str("description", false)
	perms, _ := d.strings("permissions", false, permissionName, "permission")
	if !a.done(w, r, d) {
		return
	}
	role := gatehouse.Role{Name: name, Description: desc, Permissions: perms}
	if err := a.Roles.CreateRole(r.Context(), role); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
			err = &gatehouse.Error{Code: gatehouse.CodeRoleAlreadyExists}
		}
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toRoleJSON(role))
}

func (a *api) getRole(w http.ResponseWriter, r *http.Request) {
	if _, err := a.authenticate(r, a.superuser()); err != nil {
		a.writeError(w, r, err)
		return
	}
	role, err := a.Roles.FindRole(r.Context(), r.PathValue("name"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toRoleJSON(*role))
}

func (a *api) patchRole(w http.ResponseWriter, r *http.Request) {
	_, obj, ok := a.readAuthed(w, r, a.superuser())
	if !ok {
		return
	}
	if _, err := a.Roles.FindRole(r.Context(), r.PathValue("name")); err != nil {
		a.writeError(w, r, err)
		return
	}
	if obj.shapeErr != nil {
		a.writeError(w, r, obj.shapeErr)
		return
	}
	d := &decoder{obj: obj.fields}
	var upd gatehouse.RoleUpdate
	if desc, ok := d.str("description", false); ok {
		upd.Description = &desc
	}
	if perms, ok := d.strings("permissions", false, permissionName, "permission"); ok {
		upd.Permissions = &perms
	}
	if !a.done(w, r, d) {
		return
	}
	role, err := a.Roles.UpdateRole(r.Context(), r.PathValue("name"), upd)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toRoleJSON(*role))
}

func (a *api) deleteRole(w http.ResponseWriter, r *http.Request) {
	if _, err := a.authenticate(r, a.superuser()); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Roles.DeleteRole(r.Context(), r.PathValue("name")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// setUserRoles answers PUT /users/{id}/roles {"roles":[…]}: the user's
// roles become exactly these.
func (a *api) setUserRoles(w http.ResponseWriter, r *http.Request) {
	obj, err := a.readObject(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	auth, u, err := a.userByPathWithAuth(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if obj.shapeErr != nil {
		a.writeError(w, r, obj.shapeErr)
		return
	}
	d := &decoder{obj: obj.fields}
	names, _ := d.strings("roles", true, roleName, "role name")
	if !a.done(w, r, d) {
		return
	}
	if err := a.Roles.SetUserRoles(r.Context(), u.ID, names); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			err = &gatehouse.Error{Code: gatehouse.CodeRoleNotFound}
		}
		a.writeError(w, r, err)
		return
	}
	e := succeededEvent(gatehouse.AuditRolesChanged, u.ID, "roles", strings.Join(slices.Compact(slices.Sorted(slices.Values(names))), " "))
	e.ActorID = auth.User.ID
	a.record(r, e)
	a.writeUser(w, r, http.StatusOK, u)
}
