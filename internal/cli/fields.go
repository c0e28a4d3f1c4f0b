package cli

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse"
)

// maxUserFields bounds --user-fields; an account is not a spreadsheet.
const maxUserFields = 64

// fieldName and reservedFields are httpapi's rules for custom field names
// (httpapi.New checks them again): a lower-case identifier that is not a
// name of the wire schema.
var (
	fieldName      = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	reservedFields = []string{
		"id", "email", "password", "hashed_password", "is_active", "is_superuser", "is_verified",
		"oauth_accounts", "roles", "permissions", "created_at", "updated_at",
	}
)

type fieldKind struct {
	name string
	typ  gatehouse.FieldType
}

// fieldTypes are the type names of --user-fields, in the order help lists
// them.
var fieldTypes = []fieldKind{
	{"string", gatehouse.FieldString},
	{"int", gatehouse.FieldInteger},
	{"number", gatehouse.FieldNumber},
	{"bool", gatehouse.FieldBoolean},
	{"time", gatehouse.FieldTime},
}

func fieldTypeNames() string {
	names := make([]string, len(fieldTypes))
	for i, t := range fieldTypes {
		names[i] = t.name
	}
	return strings.Join(names, ", ")
}

// parseUserFields parses --user-fields: a comma list of name:type or
// name:type:required. A field that is not required may be null, which it
// is until set.
func parseUserFields(s string) ([]gatehouse.Field, error) {
	if s == "" {
		return nil, nil
	}
	entries := strings.Split(s, ",")
	if len(entries) > maxUserFields {
		return nil, fmt.Errorf("%d fields; at most %d are allowed", len(entries), maxUserFields)
	}
	var fields []gatehouse.Field
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			return nil, fmt.Errorf("entry %d is empty", i+1)
		}
		parts := strings.Split(e, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, fmt.Errorf("entry %d %q: want name:type or name:type:required", i+1, e)
		}
		name := parts[0]
		switch {
		case !fieldName.MatchString(name):
			return nil, fmt.Errorf("entry %d %q: a field name is a lower-case letter, then up to 62 lower-case letters, digits or _", i+1, e)
		case slices.Contains(reservedFields, name):
			return nil, fmt.Errorf("entry %d %q: %s is a built-in field of the user", i+1, e, name)
		case slices.ContainsFunc(fields, func(f gatehouse.Field) bool { return f.Name == name }):
			return nil, fmt.Errorf("entry %d %q: field %s is declared twice", i+1, e, name)
		}
		k := slices.IndexFunc(fieldTypes, func(t fieldKind) bool { return t.name == parts[1] })
		if k < 0 {
			return nil, fmt.Errorf("field %s: unknown type %q; types: %s", name, parts[1], fieldTypeNames())
		}
		required := len(parts) == 3
		if required && parts[2] != "required" {
			return nil, fmt.Errorf("field %s: want \"required\" after the type, got %q", name, parts[2])
		}
		fields = append(fields, gatehouse.Field{
			Name:     name,
			Type:     fieldTypes[k].typ,
			Required: required,
			Nullable: !required,
		})
	}
	return fields, nil
}

// formatUserFields writes fields as --user-fields takes them.
func formatUserFields(fields []gatehouse.Field) string {
	entries := make([]string, len(fields))
	for i, f := range fields {
		entries[i] = f.Name + ":" + fieldTypeName(f.Type)
		if f.Required {
			entries[i] += ":required"
		}
	}
	return strings.Join(entries, ",")
}

func fieldTypeName(t gatehouse.FieldType) string {
	for _, ft := range fieldTypes {
		if ft.typ == t {
			return ft.name
		}
	}
	return fmt.Sprintf("FieldType(%d)", int(t))
}
