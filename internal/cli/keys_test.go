package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

const secret = "0123456789abcdef0123456789abcdef"

func TestSeal(t *testing.T) {
	plain := []byte("private key bytes")
	sealed, err := seal(secret, "kid1", plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed key contains the plain key")
	}
	got, err := unseal(secret, "kid1", sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("unseal = %q, %v", got, err)
	}
	again, _ := seal(secret, "kid1", plain)
	if bytes.Equal(again, sealed) {
		t.Error("two seals are equal: nonce reused")
	}
	if _, err := unseal(secret, "kid2", sealed); err == nil {
		t.Error("unsealed under another kid")
	}
	if _, err := unseal(secret+"x", "kid1", sealed); err == nil {
		t.Error("unsealed under another secret")
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 1
		if _, err := unseal(secret, "kid1", bad); err == nil {
			t.Fatalf("unsealed with byte %d flipped", i)
		}
	}
	if _, err := unseal(secret, "kid1", sealed[:5]); err == nil {
		t.Error("unsealed a truncated key")
	}
}

// memKeys is a KeyStore in memory.
type memKeys struct {
	mu   sync.Mutex
	keys []gatehouse.SigningKey
}

func (m *memKeys) SigningKeys(context.Context) ([]gatehouse.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]gatehouse.SigningKey, len(m.keys))
	for i, k := range m.keys { // newest first
		out[len(m.keys)-1-i] = k
	}
	return out, nil
}

func (m *memKeys) AddSigningKey(_ context.Context, k gatehouse.SigningKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.keys {
		if o.ID == k.ID {
			return &gatehouse.Error{Code: gatehouse.CodeConflict}
		}
	}
	m.keys = append(m.keys, k)
	return nil
}

func (m *memKeys) RetireSigningKey(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.keys {
		if m.keys[i].ID == id {
			m.keys[i].RetiredAt = at
		}
	}
	return nil
}

func TestSigningKeys(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	store := &memKeys{}

	// Instances starting together agree on one signing key.
	kids := make([]string, 4)
	var wg sync.WaitGroup
	for i := range kids {
		wg.Go(func() {
			k, _, err := signingKeys(ctx, store, "EdDSA", secret, 15*time.Minute, now, log)
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = k.ID()
		})
	}
	wg.Wait()
	for _, kid := range kids {
		if kid != kids[0] {
			t.Fatalf("instances sign with different keys: %v", kids)
		}
	}
	if len(store.keys) != 1 {
		t.Fatalf("%d keys stored, want 1", len(store.keys))
	}
	if sk := store.keys[0]; sk.Algorithm != "EdDSA" {
		t.Fatalf("stored key %s has alg %s", sk.ID, sk.Algorithm)
	}

	// Rotation: retire the signer; a new key signs and the retired one
	// still verifies until no token it signed can be alive.
	old := kids[0]
	for _, sk := range store.keys {
		store.RetireSigningKey(ctx, sk.ID, now)
	}
	sign, verify, err := signingKeys(ctx, store, "EdDSA", secret, 15*time.Minute, now.Add(time.Minute), log)
	if err != nil {
		t.Fatal(err)
	}
	if sign.ID() == old || !hasKey(verify, old) {
		t.Errorf("after retiring %s: sign %s, verify %d keys", old, sign.ID(), len(verify))
	}
	_, verify, err = signingKeys(ctx, store, "EdDSA", secret, 15*time.Minute, now.Add(time.Hour), log)
	if err != nil {
		t.Fatal(err)
	}
	if hasKey(verify, old) {
		t.Errorf("a key retired an hour ago still verifies")
	}

	// HS256 uses the secret and no store.
	k, verify, err := signingKeys(ctx, nil, "HS256", secret, time.Minute, now, log)
	if err != nil || k.Algorithm() != "HS256" || len(verify) != 0 {
		t.Errorf("HS256: %v %v %v", k.Algorithm(), verify, err)
	}
}

func hasKey[K interface{ ID() string }](keys []K, id string) bool {
	for _, k := range keys {
		if k.ID() == id {
			return true
		}
	}
	return false
}

func TestFileSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db.secret")
	secrets := make([]string, 8)
	created := make([]bool, 8)
	var wg sync.WaitGroup
	for i := range secrets {
		wg.Go(func() {
			var err error
			if secrets[i], created[i], err = fileSecret(path); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n := 0
	for i, s := range secrets {
		if s != secrets[0] || len(s) != 43 {
			t.Fatalf("secrets differ or have the wrong length: %q", secrets)
		}
		if created[i] {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d callers created the file, want 1", n)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only the secret", len(entries))
	}

	os.WriteFile(path, []byte("too short\n"), 0o600)
	if _, _, err := fileSecret(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("short secret file: %v", err)
	}
}

// TestKeyRingReload checks that a key ring swaps key sets under concurrent
// use without a race (run with -race): tokens are written and read while
// keys are added and the ring reloads, and every token verifies with every
// later key set, as no key is dropped.
func TestKeyRingReload(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := &memKeys{}
	c := &config{JWTAlgorithm: "EdDSA", JWTIssuer: "gatehouse", AccessTokenTTL: time.Hour}
	ring, err := newKeyRing(ctx, c, store, secret, nil, time.Now, log)
	if err != nil {
		t.Fatal(err)
	}
	first := ring.cur.Load().signer
	u := &gatehouse.User{ID: gatehouse.NewID()}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var tokens []string
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := ring.Write(ctx, u, gatehouse.ID{})
				if err != nil {
					t.Error(err)
					return
				}
				if p, err := ring.Read(ctx, tok.AccessToken); err != nil || p.UserID != u.ID {
					t.Errorf("Read of a fresh token: %+v, %v", p, err)
					return
				}
				mu.Lock()
				tokens = append(tokens, tok.AccessToken)
				mu.Unlock()
			}
		})
	}
	for i := range 5 {
		// Keys old enough to sign at once, each newer than the last.
		made := time.Now().Add(-keyActivationDelay - time.Duration(5-i)*time.Second)
		if _, err := addKey(ctx, store, "EdDSA", fmt.Sprintf("kid-%d", i), secret, made); err != nil {
			t.Fatal(err)
		}
		if err := ring.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if got := ring.cur.Load().signer; got != "kid-4" || got == first {
		t.Errorf("signing with %s after the reloads, want kid-4", got)
	}
	signers := map[string]bool{}
	for _, tok := range tokens {
		if _, err := ring.Read(ctx, tok); err != nil {
			t.Fatalf("a token of an earlier key set: %v", err)
		}
		signers[strings.Split(tok, ".")[0]] = true
	}
	if len(signers) < 2 {
		t.Errorf("tokens came from %d keys, want several", len(signers))
	}

	// A failing reload keeps the keys in use.
	ring.load = func(context.Context) (*keySet, error) { return nil, fmt.Errorf("database down") }
	if err := ring.Reload(ctx); err == nil {
		t.Error("Reload hid the error")
	}
	if _, err := ring.Read(ctx, tokens[0]); err != nil {
		t.Errorf("after a failed reload: %v", err)
	}
}

// TestNewKeyWaitsBeforeSigning checks that a rotated key is published at
// once but signs only once every instance has had a reload to learn it, so
// that no instance refuses another's fresh tokens.
func TestNewKeyWaitsBeforeSigning(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	store := &memKeys{}
	first, _, err := signingKeys(ctx, store, "ES256", secret, 15*time.Minute, start, log)
	if err != nil {
		t.Fatal(err)
	}
	rotatedAt := start.Add(time.Hour)
	kid, err := newKeyID(secret, "ES256", 1)
	if err != nil {
		t.Fatal(err)
	}
	if added, err := addKey(ctx, store, "ES256", kid, secret, rotatedAt); err != nil || !added {
		t.Fatalf("addKey: %v, %v", added, err)
	}
	tests := []struct {
		at         time.Duration // after the rotation
		sign, also string
	}{
		{0, first.ID(), kid},
		{keyReloadInterval, first.ID(), kid},
		{keyActivationDelay - time.Microsecond, first.ID(), kid},
		{keyActivationDelay, kid, first.ID()},
		{time.Hour, kid, first.ID()},
	}
	for _, tt := range tests {
		sign, verify, err := signingKeys(ctx, store, "ES256", secret, 15*time.Minute, rotatedAt.Add(tt.at), log)
		if err != nil {
			t.Fatal(err)
		}
		if sign.ID() != tt.sign || !hasKey(verify, tt.also) {
			t.Errorf("%v after the rotation: sign %s, verify %d keys; want sign %s and verify %s", tt.at, sign.ID(), len(verify), tt.sign, tt.also)
		}
	}
}
