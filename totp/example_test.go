package totp_test

import (
	"fmt"
	"regexp"
	"time"

	"github.com/gatehouse/gatehouse/totp"
)

func ExampleVerify() {
	// The secret the user's app holds, unsealed from gatehouse.TOTP.Secret,
	// and the step of the last code accepted (gatehouse.TOTP.LastStep).
	secret := []byte("12345678901234567890")
	var lastStep int64

	now := time.Date(2009, time.February, 13, 23, 31, 30, 0, time.UTC)
	code := totp.Code(secret, totp.Step(now)) // what the app shows
	fmt.Println(code)

	step, ok := totp.Verify(secret, code[:3]+" "+code[3:], now, lastStep)
	fmt.Println(step, ok)
	lastStep = step // stored with TOTPStore.AcceptTOTPStep

	// The same code again, ten seconds later: a replay.
	_, ok = totp.Verify(secret, code, now.Add(10*time.Second), lastStep)
	fmt.Println(ok)

	// The next code, typed as it was about to change.
	next := totp.Code(secret, totp.Step(now)+1)
	step, ok = totp.Verify(secret, next, now.Add(25*time.Second), lastStep)
	fmt.Println(step, ok)
	// Output:
	// 005924
	// 41152263 true
	// false
	// 41152264 true
}

func ExampleGenerate() {
	key, err := totp.Generate("Gatehouse", "alice@example.com")
	if err != nil {
		panic(err)
	}
	// Seal key.Secret and save it with an unconfirmed gatehouse.TOTP; show
	// key.URI as a QR code. Here the random secret is masked.
	fmt.Println(len(key.Secret))
	fmt.Println(regexp.MustCompile(`secret=[A-Z2-7]{32}`).ReplaceAllString(key.URI, "secret=..."))
	// Output:
	// 20
	// otpauth://totp/Gatehouse:alice@example.com?secret=...&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30
}

func ExampleHashRecoveryCode() {
	codes, err := totp.GenerateRecoveryCodes(10)
	if err != nil {
		panic(err)
	}
	// Show codes once; store only their hashes.
	hashes := make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = totp.HashRecoveryCode(c)
	}
	_ = hashes // gatehouse.RecoveryCodeStore.ReplaceRecoveryCodes

	// A code as typed, in capitals and with an O for the 0, finds the
	// hash of the code as shown.
	fmt.Println(totp.HashRecoveryCode("x0k4m-7pq2z") == totp.HashRecoveryCode("XOK4M 7PQ2Z"))
	fmt.Println(totp.HashRecoveryCode("x0k4m-7pq2u") == "") // u is no code character
	// Output:
	// true
	// true
}
