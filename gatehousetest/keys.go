package gatehousetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestKeyStore checks that a gatehouse.KeyStore returns its keys newest
// first with their bytes and times intact, retires keys, and answers
// CodeConflict for a duplicate id and CodeNotFound for retiring an unknown
// one.
//
// open must return a new, empty store.
func TestKeyStore(t *testing.T, open func(t *testing.T) gatehouse.KeyStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, s gatehouse.KeyStore)
	}{
		{"Empty", testKeysEmpty},
		{"NewestFirst", testKeysNewestFirst},
		{"Retire", testKeysRetire},
		{"DuplicateID", testKeysDuplicateID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, open(t))
		})
	}
}

var keyBase = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func addKey(t *testing.T, s gatehouse.KeyStore, k gatehouse.SigningKey) {
	t.Helper()
	if err := s.AddSigningKey(t.Context(), k); err != nil {
		t.Fatalf("AddSigningKey(%q): %v", k.ID, err)
	}
}

func signingKeys(t *testing.T, s gatehouse.KeyStore) []gatehouse.SigningKey {
	t.Helper()
	keys, err := s.SigningKeys(t.Context())
	if err != nil {
		t.Fatalf("SigningKeys: %v", err)
	}
	return keys
}

func sameKey(got, want gatehouse.SigningKey) bool {
	retiredOK := got.RetiredAt.IsZero() && want.RetiredAt.IsZero() ||
		!want.RetiredAt.IsZero() && sameTime(got.RetiredAt, want.RetiredAt)
	return got.ID == want.ID && got.Algorithm == want.Algorithm && bytes.Equal(got.Private, want.Private) &&
		sameTime(got.CreatedAt, want.CreatedAt) && retiredOK
}

func wantKeys(t *testing.T, s gatehouse.KeyStore, want ...gatehouse.SigningKey) {
	t.Helper()
	got := signingKeys(t, s)
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = sameKey(got[i], want[i])
	}
	if !ok {
		t.Errorf("SigningKeys =\n%s\nwant\n%s", fmtKeys(got), fmtKeys(want))
	}
}

func fmtKeys(keys []gatehouse.SigningKey) string {
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, "\t%s %s %x created %v retired %v\n", k.ID, k.Algorithm, k.Private, k.CreatedAt, k.RetiredAt)
	}
	return b.String()
}

func testKeysEmpty(t *testing.T, s gatehouse.KeyStore) {
	if keys := signingKeys(t, s); len(keys) != 0 {
		t.Errorf("SigningKeys of an empty store = %v", keys)
	}
	wantCode(t, "RetireSigningKey of an unknown key", s.RetireSigningKey(t.Context(), "nope", keyBase), gatehouse.CodeNotFound)
}

func testKeysNewestFirst(t *testing.T, s gatehouse.KeyStore) {
	k1 := gatehouse.SigningKey{ID: "kid-1", Algorithm: "EdDSA", Private: []byte{0, 1, 2, 0xff, 0}, CreatedAt: keyBase}
	k2 := gatehouse.SigningKey{ID: "kid-2", Algorithm: "ES256", Private: []byte("sealed-2"), CreatedAt: keyBase.Add(time.Hour)}
	// Times are kept to the microsecond, in UTC.
	k3 := gatehouse.SigningKey{ID: "kid-3", Algorithm: "RS256", Private: bytes.Repeat([]byte{0xa5}, 2500),
		CreatedAt: keyBase.Add(2*time.Hour + 123456789).In(time.FixedZone("UTC+9", 9*60*60))}
	k0 := gatehouse.SigningKey{ID: "kid-0", Algorithm: "EdDSA", Private: []byte("sealed-0"),
		CreatedAt: keyBase.Add(-time.Hour), RetiredAt: keyBase}
	for _, k := range []gatehouse.SigningKey{k2, k0, k3, k1} {
		addKey(t, s, k)
	}
	wantKeys(t, s, k3, k2, k1, k0)
}

func testKeysRetire(t *testing.T, s gatehouse.KeyStore) {
	k1 := gatehouse.SigningKey{ID: "kid-1", Algorithm: "EdDSA", Private: []byte("one"), CreatedAt: keyBase}
	k2 := gatehouse.SigningKey{ID: "kid-2", Algorithm: "EdDSA", Private: []byte("two"), CreatedAt: keyBase.Add(time.Hour)}
	addKey(t, s, k1)
	addKey(t, s, k2)
	k1.RetiredAt = keyBase.Add(90 * time.Minute)
	if err := s.RetireSigningKey(t.Context(), k1.ID, k1.RetiredAt); err != nil {
		t.Fatalf("RetireSigningKey: %v", err)
	}
	wantKeys(t, s, k2, k1)
	wantCode(t, "RetireSigningKey of an unknown key", s.RetireSigningKey(t.Context(), "kid-3", keyBase), gatehouse.CodeNotFound)
}

func testKeysDuplicateID(t *testing.T, s gatehouse.KeyStore) {
	k := gatehouse.SigningKey{ID: "kid-1", Algorithm: "EdDSA", Private: []byte("one"), CreatedAt: keyBase}
	addKey(t, s, k)
	dup := gatehouse.SigningKey{ID: "kid-1", Algorithm: "ES256", Private: []byte("other"), CreatedAt: keyBase.Add(time.Hour)}
	wantCode(t, "AddSigningKey of an existing id", s.AddSigningKey(t.Context(), dup), gatehouse.CodeConflict)
	wantKeys(t, s, k)
}
