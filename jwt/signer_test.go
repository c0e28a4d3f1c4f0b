package jwt_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/jwt"
)

func TestSigner(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	s, err := jwt.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	s.SetClock(func() time.Time { return now })
	good, err := s.Sign(gatehouse.AudienceVerify, map[string]string{"sub": "u1", "email": "a@example.com"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := s.Parse(good, gatehouse.AudienceVerify)
	if err != nil || claims["sub"] != "u1" || claims["email"] != "a@example.com" || claims["aud"] != gatehouse.AudienceVerify {
		t.Fatalf("Parse = %v, %v", claims, err)
	}

	expired, _ := s.Sign(gatehouse.AudienceReset, map[string]string{"sub": "u1"}, -time.Second)
	forge := func(method jwtlib.SigningMethod, key any, header map[string]any, c jwtlib.MapClaims) string {
		tok := jwtlib.NewWithClaims(method, c)
		for k, v := range header {
			tok.Header[k] = v
		}
		str, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return str
	}
	valid := jwtlib.MapClaims{"sub": "u1", "aud": gatehouse.AudienceReset, "exp": now.Add(time.Hour).Unix()}
	parts := strings.Split(expired, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[0] ^= 1
	tamperedExpired := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)

	other, _ := jwt.HMACKey(secret)
	access, _ := jwt.New(jwt.Config{Key: other, Audience: gatehouse.AudienceReset, Now: func() time.Time { return now }})
	accessTok, _ := access.Write(context.Background(), &gatehouse.User{ID: gatehouse.NewID()}, gatehouse.ID{})

	for _, tc := range []struct {
		name, token string
		want        gatehouse.Code
	}{
		{"valid", forge(jwtlib.SigningMethodHS256, secret, nil, valid), ""},
		{"wrong audience", good, gatehouse.CodeAccessTokenDecodeError},
		{"expired", expired, gatehouse.CodeAccessTokenAlreadyExpired},
		{"tampered and expired is tampered", tamperedExpired, gatehouse.CodeAccessTokenDecodeError},
		{"other secret", forge(jwtlib.SigningMethodHS256, []byte("another secret of thirty-two bytes!"), nil, valid), gatehouse.CodeAccessTokenDecodeError},
		{"HS512", forge(jwtlib.SigningMethodHS512, secret, nil, valid), gatehouse.CodeAccessTokenDecodeError},
		{"alg none", forge(jwtlib.SigningMethodNone, jwtlib.UnsafeAllowNoneSignatureType, nil, valid), gatehouse.CodeAccessTokenDecodeError},
		{"no exp", forge(jwtlib.SigningMethodHS256, secret, nil, jwtlib.MapClaims{"sub": "u1", "aud": gatehouse.AudienceReset}), gatehouse.CodeAccessTokenDecodeError},
		{"an access token is not a flow token", accessTok.AccessToken, gatehouse.CodeAccessTokenDecodeError},
		{"garbage", "not.a.token", gatehouse.CodeAccessTokenDecodeError},
		{"huge", strings.Repeat("a", 10000), gatehouse.CodeAccessTokenDecodeError},
	} {
		_, err := s.Parse(tc.token, gatehouse.AudienceReset)
		if got := gatehouse.ErrorCode(err); got != tc.want {
			t.Errorf("%s: %q (%v), want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := jwt.NewSigner(secret[:31]); err == nil {
		t.Error("a 31-byte secret was accepted")
	}
}
