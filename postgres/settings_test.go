package postgres_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/postgres/postgrestest"
)

func TestSettingStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestSettingStore(t, func(t *testing.T) gatehouse.SettingStore {
		return postgres.NewSettingStore(postgrestest.New(t))
	})
}

func TestNonceStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestNonceStore(t, func(t *testing.T, now func() time.Time) gatehousetest.NonceStores {
		db := postgrestest.New(t)
		db.Now = now
		s := postgres.NewNonceStore(db)
		return gatehousetest.NonceStores{Nonces: s, Sweep: s.Sweep}
	})
}

// The store keeps a nonce used past its until, until Sweep deletes it.
func TestNonceStoreKeepsExpired(t *testing.T) {
	t.Parallel()
	s := postgres.NewNonceStore(postgrestest.New(t))
	past := time.Now().Add(-time.Hour)
	if err := s.UseNonce(t.Context(), "n", past); err != nil {
		t.Fatalf("UseNonce with until passed: %v", err)
	}
	if err := s.UseNonce(t.Context(), "n", time.Now().Add(time.Hour)); gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
		t.Errorf("UseNonce of an expired, unswept nonce: %v, want %q", err, gatehouse.CodeConflict)
	}
}

// On a closed pool every call is CodeUnavailable, so a server shutting
// down answers 503.
func TestSettingsNoncesUnavailable(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	settings, nonces := postgres.NewSettingStore(db), postgres.NewNonceStore(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	calls := []struct {
		name string
		call func() error
	}{
		{"Setting", func() error { _, err := settings.Setting(ctx, "k"); return err }},
		{"SetSetting", func() error { return settings.SetSetting(ctx, "k", "v") }},
		{"UseNonce", func() error { return nonces.UseNonce(ctx, "n", time.Now().Add(time.Hour)) }},
		{"Sweep", func() error { _, err := nonces.Sweep(ctx); return err }},
	}
	for _, c := range calls {
		if err := c.call(); gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
			t.Errorf("%s on a closed DB: %v, want %q", c.name, err, gatehouse.CodeUnavailable)
		}
	}
}
