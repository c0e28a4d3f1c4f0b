package gatehouse

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
)

// ID identifies a user. It is a random (version 4) UUID.
type ID [16]byte

// NewID returns a new random ID.
func NewID() ID {
	var id ID
	rand.Read(id[:]) // never returns an error: crypto/rand panics instead
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

var errBadID = errors.New("gatehouse: malformed id")

// ParseID parses a UUID in its canonical 36-character form or as 32 hex
// digits, in either case.
func ParseID(s string) (ID, error) {
	var id ID
	var digits [32]byte
	switch len(s) {
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return id, errBadID
		}
		copy(digits[0:8], s[0:8])
		copy(digits[8:12], s[9:13])
		copy(digits[12:16], s[14:18])
		copy(digits[16:20], s[19:23])
		copy(digits[20:32], s[24:36])
	case 32:
		copy(digits[:], s)
	default:
		return id, errBadID
	}
	if _, err := hex.Decode(id[:], digits[:]); err != nil {
		return ID{}, errBadID
	}
	return id, nil
}

// String returns the canonical lower-case form, 8-4-4-4-12.
func (id ID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
	return string(b[:])
}

// IsZero reports whether id is the zero ID, which no user has.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
