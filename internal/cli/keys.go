package cli

import (
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/jwt"
)

// sealInfo is the HKDF info string of the key that seals signing keys.
const sealInfo = "gatehouse signing-key seal v1"

// retiredKeySlack is how much longer than the access-token lifetime a
// retired key still verifies: clocks of hosts differ, and instances learn
// of a retirement only at their next key reload (keyReloadInterval), until
// which they may still sign with the key.
const retiredKeySlack = time.Minute

// keyActivationDelay is how long a new key is published (in the JWKS and
// every instance's verifying set) before it signs. Instances learn of a key
// only at their next reload, so a key that signed at once would make the
// others refuse its tokens for up to keyReloadInterval; the extra time
// covers clock skew between the host that added the key and the rest.
const keyActivationDelay = keyReloadInterval + retiredKeySlack

// sealVersion starts every sealed value (keys, OAuth tokens), so that the
// format can change.
const sealVersion = 1

// newAEAD returns AES-256-GCM under the key HKDF-SHA256 derives from the
// secret with the given info: one key per purpose (signing keys, OAuth
// tokens), none of them the secret itself.
func newAEAD(secret, info string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, info, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealWith encrypts plain: a version byte, a random nonce, then the
// ciphertext with its tag; ad is authenticated, not stored.
func sealWith(aead cipher.AEAD, plain, ad []byte) []byte {
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	// rand.Read never fails: crypto/rand panics instead. The nonce out[1:]
	// is therefore fresh.
	rand.Read(out[1:])
	return aead.Seal(out, out[1:], plain, ad) // #nosec G407 -- the nonce was just filled by crypto/rand
}

// openWith is the inverse of sealWith.
func openWith(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < 1+aead.NonceSize() || sealed[0] != sealVersion {
		return nil, errors.New("unknown sealed format")
	}
	nonce, box := sealed[1:1+aead.NonceSize()], sealed[1+aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, box, ad)
	if err != nil {
		return nil, errors.New("cannot unseal: was GATEHOUSE_SECRET changed?")
	}
	return plain, nil
}

// seal encrypts a private key with AES-256-GCM under a key derived from the
// secret; the kid is additional data, so a sealed key cannot be moved to
// another row.
func seal(secret, kid string, plain []byte) ([]byte, error) {
	aead, err := newAEAD(secret, sealInfo)
	if err != nil {
		return nil, err
	}
	return sealWith(aead, plain, []byte(kid)), nil
}

func unseal(secret, kid string, sealed []byte) ([]byte, error) {
	aead, err := newAEAD(secret, sealInfo)
	if err != nil {
		return nil, err
	}
	return openWith(aead, sealed, []byte(kid))
}

// signingKeys returns the key that signs access tokens and the other keys
// that still verify them.
//
// HS256 signs with the secret itself. The other algorithms use key pairs
// from the KeyStore, sealed under the secret: the newest active key of the
// algorithm that is older than keyActivationDelay signs (the oldest active
// one when none is that old yet: on first start, or after the last active
// key was retired), and every other key that could still have signed a live
// token verifies. When no active key exists one is generated and stored.
// Its kid is derived from the secret and the number of keys of the
// algorithm, so instances that start together compute the same kid: one
// stores its key, the others get a conflict and read that key back.
func signingKeys(ctx context.Context, store gatehouse.KeyStore, alg, secret string, ttl time.Duration, now time.Time, log *slog.Logger) (jwt.Key, []jwt.Key, error) {
	if alg == "HS256" {
		k, err := jwt.HMACKey([]byte(secret))
		return k, nil, err
	}
	stored, err := store.SigningKeys(ctx)
	if err != nil {
		return jwt.Key{}, nil, fmt.Errorf("read signing keys: %w", err)
	}
	signer, ok := pickSigner(stored, alg, now)
	for attempt := 0; !ok; attempt++ {
		if attempt == 3 {
			return jwt.Key{}, nil, fmt.Errorf("cannot store a new %s signing key: its key ids are taken", alg)
		}
		kid, err := newKeyID(secret, alg, countKeys(stored, alg)+attempt)
		if err != nil {
			return jwt.Key{}, nil, err
		}
		if _, err := addKey(ctx, store, alg, kid, secret, now); err != nil {
			return jwt.Key{}, nil, err
		}
		if stored, err = store.SigningKeys(ctx); err != nil {
			return jwt.Key{}, nil, fmt.Errorf("read signing keys: %w", err)
		}
		if signer, ok = pickSigner(stored, alg, now); ok {
			log.Info("using a new signing key", "alg", alg, "kid", signer.ID)
		}
	}
	sign, err := openKey(secret, signer)
	if err != nil {
		return jwt.Key{}, nil, err
	}

	// A key retired longer ago than a token lives cannot have signed a live
	// token; retiredKeySlack covers clock skew and the reload interval.
	horizon := now.Add(-ttl - retiredKeySlack)
	var verify []jwt.Key
	for _, sk := range stored {
		if sk.ID == signer.ID || !sk.RetiredAt.IsZero() && sk.RetiredAt.Before(horizon) {
			continue
		}
		k, err := openKey(secret, sk)
		if err != nil {
			log.Warn("skipping a signing key that cannot be opened", "kid", sk.ID, "alg", sk.Algorithm, "err", err)
			continue
		}
		verify = append(verify, k)
	}
	return sign, verify, nil
}

// addKey generates a key pair for alg and stores it sealed under kid. A
// conflict (another instance stored that kid first) is not an error, but
// stored is false then.
func addKey(ctx context.Context, store gatehouse.KeyStore, alg, kid, secret string, now time.Time) (stored bool, err error) {
	k, err := jwt.GenerateKey(alg)
	if err != nil {
		return false, fmt.Errorf("generate %s signing key: %w", alg, err)
	}
	pkcs8, err := k.MarshalPKCS8()
	if err != nil {
		return false, fmt.Errorf("generate %s signing key: %w", alg, err)
	}
	sealed, err := seal(secret, kid, pkcs8)
	if err != nil {
		return false, fmt.Errorf("seal signing key: %w", err)
	}
	err = store.AddSigningKey(ctx, gatehouse.SigningKey{ID: kid, Algorithm: alg, Private: sealed, CreatedAt: now})
	switch {
	case gatehouse.ErrorCode(err) == gatehouse.CodeConflict:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("store signing key: %w", err)
	}
	return true, nil
}

// newKeyID derives the kid of the n-th key (from 0) of alg from the secret:
// every instance computes the same one, and it tells nothing about the key.
func newKeyID(secret, alg string, n int) (string, error) {
	b, err := hkdf.Key(sha256.New, []byte(secret), nil, fmt.Sprintf("gatehouse signing-key id v1 %s %d", alg, n), 16)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func countKeys(keys []gatehouse.SigningKey, alg string) int {
	n := 0
	for _, k := range keys {
		if k.Algorithm == alg {
			n++
		}
	}
	return n
}

// pickSigner returns the key that signs at now: the newest active key of
// alg created at least keyActivationDelay before now, so that every
// instance already verifies it; failing that (a key rotated soon after the
// first was made), the oldest active key, the one instances have had
// longest.
func pickSigner(keys []gatehouse.SigningKey, alg string, now time.Time) (gatehouse.SigningKey, bool) {
	var active []gatehouse.SigningKey
	for _, k := range keys {
		if k.Algorithm == alg && k.RetiredAt.IsZero() {
			active = append(active, k)
		}
	}
	if len(active) == 0 {
		return gatehouse.SigningKey{}, false
	}
	byAge := func(a, b gatehouse.SigningKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	}
	ready := slices.DeleteFunc(slices.Clone(active), func(k gatehouse.SigningKey) bool {
		return k.CreatedAt.After(now.Add(-keyActivationDelay))
	})
	if len(ready) > 0 {
		return slices.MaxFunc(ready, byAge), true
	}
	return slices.MinFunc(active, byAge), true
}

func openKey(secret string, sk gatehouse.SigningKey) (jwt.Key, error) {
	pkcs8, err := unseal(secret, sk.ID, sk.Private)
	if err != nil {
		return jwt.Key{}, fmt.Errorf("signing key %s: %w", sk.ID, err)
	}
	k, err := jwt.ParseKey(sk.Algorithm, sk.ID, pkcs8)
	if err != nil {
		return jwt.Key{}, fmt.Errorf("signing key %s: %w", sk.ID, err)
	}
	return k, nil
}
