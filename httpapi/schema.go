package httpapi

import (
	"bytes"
	"encoding/json"

	"github.com/gatehouse/gatehouse"
)

// userRead is the UserRead schema: id, email, is_active, is_superuser,
// is_verified, then the custom fields in declared order. It never holds a
// password hash.
type userRead struct {
	u      *gatehouse.User
	fields []gatehouse.Field
}

func (a *api) read(u *gatehouse.User) userRead { return userRead{u, a.Fields} }

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
