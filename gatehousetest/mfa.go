package gatehousetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// MFAStores are the stores of second factors that TestMFAStore checks,
// usually one value implementing all four interfaces.
type MFAStores struct {
	TOTP       gatehouse.TOTPStore
	Recovery   gatehouse.RecoveryCodeStore
	Passkeys   gatehouse.PasskeyStore
	Challenges gatehouse.MFAChallengeStore
	// Sweep deletes the challenges expired by the store's clock and
	// returns how many it deleted; nil for a store without one, whose
	// Sweep test is then skipped.
	Sweep func(context.Context) (int64, error)
}

// TestMFAStore checks that the stores of second factors behave as
// documented:
//
//   - TOTP: SaveTOTP stores a TOTP as given (times in UTC, truncated to
//     microseconds; a zero CreatedAt set from the store's clock) and
//     replaces an unconfirmed one, but a confirmed one is CodeConflict
//     and stays until DeleteTOTP; AcceptTOTPStep accepts only a step newer
//     than LastStep, sets ConfirmedAt the first time only, refuses a
//     replay of the same or an older step with CodeConflict, even from 8
//     concurrent callers of whom exactly one succeeds, and is
//     CodeNotFound for a user without a TOTP; DeleteTOTP of none is no
//     error;
//   - recovery codes: ReplaceRecoveryCodes makes the hashes given the
//     user's only codes; UseRecoveryCode removes one, once: a used, wrong
//     or another user's code is CodeNotFound, and of 8 concurrent uses of
//     one code exactly one succeeds; CountRecoveryCodes counts the unused;
//   - passkeys come back as created, listed oldest first, found by
//     credential id; a credential id or id in use is CodeConflict;
//     UsePasskey stores the credential and the time of use; DeletePasskey
//     of another user's passkey is CodeNotFound and leaves it;
//   - MFA challenges are found until now reaches ExpiresAt (at ExpiresAt
//     they are CodeNotFound, as tokens are), carry the State set
//     on them, and are taken once: a second take, or one of 8 concurrent
//     takes but one, or a take of an expired challenge is CodeNotFound;
//   - a user that does not exist is CodeNotFound on every create, and
//     deleting a user deletes its TOTP, codes, passkeys and challenges;
//   - Sweep deletes the challenges expired by the store's clock only;
//   - byte slices are copies: changing one given to, or returned by, a
//     store changes nothing stored.
//
// open must return new, empty stores whose clock is now, and the user
// store their rows refer to.
func TestMFAStore(t *testing.T, open func(t *testing.T, now func() time.Time) (MFAStores, gatehouse.UserStore)) {
	tests := []struct {
		name string
		run  func(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock)
	}{
		{"TOTPSaveFind", testTOTPSaveFind},
		{"TOTPReplaceUnconfirmed", testTOTPReplaceUnconfirmed},
		{"TOTPConfirmedConflict", testTOTPConfirmedConflict},
		{"TOTPAccept", testTOTPAccept},
		{"TOTPConcurrentAccept", testTOTPConcurrentAccept},
		{"TOTPDelete", testTOTPDelete},
		{"RecoveryCodes", testRecoveryCodes},
		{"RecoveryCodesOtherUser", testRecoveryCodesOtherUser},
		{"RecoveryCodesConcurrentUse", testRecoveryCodesConcurrentUse},
		{"PasskeyCreateFind", testPasskeyCreateFind},
		{"PasskeyList", testPasskeyList},
		{"PasskeyDuplicate", testPasskeyDuplicate},
		{"PasskeyUse", testPasskeyUse},
		{"PasskeyDelete", testPasskeyDelete},
		{"ChallengeCreateFind", testChallengeCreateFind},
		{"ChallengeExpiry", testChallengeExpiry},
		{"ChallengeState", testChallengeState},
		{"ChallengeTake", testChallengeTake},
		{"ChallengeConcurrentTake", testChallengeConcurrentTake},
		{"ChallengeDuplicate", testChallengeDuplicate},
		{"UnknownUser", testMFAUnknownUser},
		{"UserDeleted", testMFAUserDeleted},
		{"Sweep", testMFASweep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			s, users := open(t, clk.Now)
			tt.run(t, s, users, clk)
		})
	}
}

// totpStep is a time step of today's order (Unix time / 30 s).
const totpStep int64 = 59_000_000

// mfaRacers is how many callers race for one step, code or challenge.
const mfaRacers = 8

func mfaUser(t *testing.T, users gatehouse.UserStore, email string) gatehouse.ID {
	t.Helper()
	return create(t, users, &gatehouse.User{Email: email}).ID
}

// race calls f from mfaRacers goroutines at once and returns their
// errors. warm is called the same way first, and should only read: it
// makes a store that pools connections open several, so that the calls of
// f do not queue behind connection set-up and really overlap.
func race(warm func(), f func() error) []error {
	var wg sync.WaitGroup
	for range mfaRacers {
		wg.Go(warm)
	}
	wg.Wait()
	return raceOnce(f)
}

func raceOnce(f func() error) []error {
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, mfaRacers)
	)
	for i := range errs {
		wg.Go(func() {
			<-start
			errs[i] = f()
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// wantOneWinner checks that exactly one of errs is nil and the others
// have code loser.
func wantOneWinner(t *testing.T, what string, errs []error, loser gatehouse.Code) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case code(err) != loser:
			t.Errorf("%s: a loser's error %v has code %q, want %q", what, err, code(err), loser)
		}
	}
	if wins != 1 {
		t.Errorf("%s: %d of %d concurrent callers succeeded, want exactly 1", what, wins, len(errs))
	}
}

// scribble overwrites b, to show that a store kept no alias of it.
func scribble(b []byte) {
	for i := range b {
		b[i] = 'X'
	}
}

// diffTime adds to d how got differs from want, a zero want meaning that
// got must be zero too.
func diffTime(d *[]string, field string, got, want time.Time) {
	switch {
	case want.IsZero() && !got.IsZero():
		*d = append(*d, fmt.Sprintf("%s = %v, want zero", field, got))
	case !want.IsZero() && !sameTime(got, want):
		*d = append(*d, fmt.Sprintf("%s = %v, want %v", field, got, stored(want)))
	}
}

func diffBytes(d *[]string, field string, got, want []byte) {
	if !bytes.Equal(got, want) {
		*d = append(*d, fmt.Sprintf("%s = %q, want %q", field, got, want))
	}
}

// --- TOTP

func newTOTP(user gatehouse.ID, secret string, created time.Time) gatehouse.TOTP {
	return gatehouse.TOTP{UserID: user, Secret: []byte(secret), CreatedAt: created}
}

func saveTOTP(t *testing.T, s gatehouse.TOTPStore, totp gatehouse.TOTP) {
	t.Helper()
	if err := s.SaveTOTP(t.Context(), totp); err != nil {
		t.Fatalf("SaveTOTP(%q): %v", totp.Secret, err)
	}
}

func findTOTP(t *testing.T, s gatehouse.TOTPStore, user gatehouse.ID) *gatehouse.TOTP {
	t.Helper()
	got, err := s.FindTOTP(t.Context(), user)
	if err != nil {
		t.Fatalf("FindTOTP: %v", err)
	}
	return got
}

func diffTOTP(got, want gatehouse.TOTP) string {
	var d []string
	if got.UserID != want.UserID {
		d = append(d, fmt.Sprintf("UserID = %v, want %v", got.UserID, want.UserID))
	}
	diffBytes(&d, "Secret", got.Secret, want.Secret)
	diffTime(&d, "ConfirmedAt", got.ConfirmedAt, want.ConfirmedAt)
	if got.LastStep != want.LastStep {
		d = append(d, fmt.Sprintf("LastStep = %d, want %d", got.LastStep, want.LastStep))
	}
	diffTime(&d, "CreatedAt", got.CreatedAt, want.CreatedAt)
	return strings.Join(d, "; ")
}

func wantTOTP(t *testing.T, s gatehouse.TOTPStore, want gatehouse.TOTP) {
	t.Helper()
	if d := diffTOTP(*findTOTP(t, s, want.UserID), want); d != "" {
		t.Errorf("FindTOTP: %s", d)
	}
}

func wantNoTOTP(t *testing.T, s gatehouse.TOTPStore, what string, user gatehouse.ID) {
	t.Helper()
	got, err := s.FindTOTP(t.Context(), user)
	if code(err) != gatehouse.CodeNotFound {
		t.Errorf("FindTOTP %s = %+v, %v; want a %q error", what, got, err, gatehouse.CodeNotFound)
	}
}

func acceptStep(t *testing.T, s gatehouse.TOTPStore, user gatehouse.ID, step int64, at time.Time) {
	t.Helper()
	if err := s.AcceptTOTPStep(t.Context(), user, step, at); err != nil {
		t.Fatalf("AcceptTOTPStep(%d): %v", step, err)
	}
}

func testTOTPSaveFind(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice, bob := mfaUser(t, users, "alice@example.com"), mfaUser(t, users, "bob@example.com")
	wantNoTOTP(t, s.TOTP, "of a user without one", alice)
	wantNoTOTP(t, s.TOTP, "of an unknown user", gatehouse.NewID())

	totp := newTOTP(alice, "sealed\x00secret\xff", clk.Now())
	saveTOTP(t, s.TOTP, totp)
	wantTOTP(t, s.TOTP, totp)
	if findTOTP(t, s.TOTP, alice).Confirmed() {
		t.Errorf("a TOTP saved without ConfirmedAt is confirmed")
	}

	// The store keeps no alias of the secret given, nor hands one out.
	given := totp.Secret
	totp.Secret = bytes.Clone(given)
	scribble(given)
	scribble(findTOTP(t, s.TOTP, alice).Secret)
	wantTOTP(t, s.TOTP, totp)

	// A zero CreatedAt is the store's clock.
	clk.Add(time.Minute)
	saveTOTP(t, s.TOTP, newTOTP(bob, "bob's", time.Time{}))
	wantTOTP(t, s.TOTP, newTOTP(bob, "bob's", clk.Now()))
	wantTOTP(t, s.TOTP, totp)
}

func testTOTPReplaceUnconfirmed(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice := mfaUser(t, users, "alice@example.com")
	saveTOTP(t, s.TOTP, newTOTP(alice, "first", clk.Now()))
	clk.Add(time.Minute)
	// An enrolment begun again replaces every field.
	again := newTOTP(alice, "second", clk.Now())
	again.LastStep = 7
	saveTOTP(t, s.TOTP, again)
	wantTOTP(t, s.TOTP, again)
}

func testTOTPConfirmedConflict(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice, bob := mfaUser(t, users, "alice@example.com"), mfaUser(t, users, "bob@example.com")
	totp := newTOTP(alice, "first", clk.Now())
	saveTOTP(t, s.TOTP, totp)
	at := clk.Now().Add(time.Second)
	acceptStep(t, s.TOTP, alice, totpStep, at)
	totp.ConfirmedAt, totp.LastStep = at, totpStep

	err := s.TOTP.SaveTOTP(t.Context(), newTOTP(alice, "intruder", clk.Now().Add(time.Minute)))
	wantCode(t, "SaveTOTP over a confirmed TOTP", err, gatehouse.CodeConflict)
	wantTOTP(t, s.TOTP, totp)

	// A TOTP saved confirmed is as much in the way.
	confirmed := newTOTP(bob, "bob's", clk.Now())
	confirmed.ConfirmedAt, confirmed.LastStep = clk.Now(), totpStep
	saveTOTP(t, s.TOTP, confirmed)
	wantTOTP(t, s.TOTP, confirmed)
	err = s.TOTP.SaveTOTP(t.Context(), newTOTP(bob, "other", clk.Now()))
	wantCode(t, "SaveTOTP over a TOTP saved confirmed", err, gatehouse.CodeConflict)
	wantTOTP(t, s.TOTP, confirmed)

	// Deleted, it makes way.
	if err := s.TOTP.DeleteTOTP(t.Context(), alice); err != nil {
		t.Fatalf("DeleteTOTP: %v", err)
	}
	fresh := newTOTP(alice, "fresh", clk.Now().Add(time.Hour))
	saveTOTP(t, s.TOTP, fresh)
	wantTOTP(t, s.TOTP, fresh)
}

func testTOTPAccept(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice := mfaUser(t, users, "alice@example.com")
	totp := newTOTP(alice, "secret", clk.Now())
	saveTOTP(t, s.TOTP, totp)

	// The first accepted step confirms the TOTP.
	first := clk.Now().Add(time.Second)
	acceptStep(t, s.TOTP, alice, totpStep, first)
	totp.ConfirmedAt, totp.LastStep = first, totpStep
	wantTOTP(t, s.TOTP, totp)
	if !findTOTP(t, s.TOTP, alice).Confirmed() {
		t.Errorf("a TOTP with an accepted step is not confirmed")
	}

	// A replay of the step, or an older one, changes nothing.
	for _, step := range []int64{totpStep, totpStep - 1, 0, -1} {
		err := s.TOTP.AcceptTOTPStep(t.Context(), alice, step, first.Add(time.Minute))
		wantCode(t, fmt.Sprintf("AcceptTOTPStep(%d) after step %d", step, totpStep), err, gatehouse.CodeConflict)
	}
	wantTOTP(t, s.TOTP, totp)

	// A newer step moves LastStep on and leaves ConfirmedAt.
	acceptStep(t, s.TOTP, alice, totpStep+1, first.Add(30*time.Second))
	totp.LastStep = totpStep + 1
	wantTOTP(t, s.TOTP, totp)
	// A step far beyond 32 bits.
	acceptStep(t, s.TOTP, alice, 1<<40, first.Add(time.Hour))
	totp.LastStep = 1 << 40
	wantTOTP(t, s.TOTP, totp)
	err := s.TOTP.AcceptTOTPStep(t.Context(), alice, totpStep+2, first.Add(2*time.Hour))
	wantCode(t, "AcceptTOTPStep of a step older than the last", err, gatehouse.CodeConflict)
	wantTOTP(t, s.TOTP, totp)

	err = s.TOTP.AcceptTOTPStep(t.Context(), gatehouse.NewID(), totpStep, first)
	wantCode(t, "AcceptTOTPStep of an unknown user", err, gatehouse.CodeNotFound)
	bob := mfaUser(t, users, "bob@example.com")
	err = s.TOTP.AcceptTOTPStep(t.Context(), bob, totpStep, first)
	wantCode(t, "AcceptTOTPStep of a user without a TOTP", err, gatehouse.CodeNotFound)
}

func testTOTPConcurrentAccept(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice := mfaUser(t, users, "alice@example.com")
	totp := newTOTP(alice, "secret", clk.Now())
	saveTOTP(t, s.TOTP, totp)
	acceptStep(t, s.TOTP, alice, totpStep, clk.Now())
	at := clk.Now().Add(30 * time.Second)
	warm := func() { _, _ = s.TOTP.FindTOTP(context.Background(), alice) }
	errs := race(warm, func() error { return s.TOTP.AcceptTOTPStep(context.Background(), alice, totpStep+1, at) })
	wantOneWinner(t, "AcceptTOTPStep of one step", errs, gatehouse.CodeConflict)
	totp.ConfirmedAt, totp.LastStep = clk.Now(), totpStep+1
	wantTOTP(t, s.TOTP, totp)

	// The same for the step that confirms an enrolment.
	bob := mfaUser(t, users, "bob@example.com")
	saveTOTP(t, s.TOTP, newTOTP(bob, "bob's", clk.Now()))
	errs = race(warm, func() error { return s.TOTP.AcceptTOTPStep(context.Background(), bob, totpStep, at) })
	wantOneWinner(t, "AcceptTOTPStep of the first step", errs, gatehouse.CodeConflict)
	if got := findTOTP(t, s.TOTP, bob); !sameTime(got.ConfirmedAt, at) || got.LastStep != totpStep {
		t.Errorf("after concurrent first steps, ConfirmedAt, LastStep = %v, %d; want %v, %d",
			got.ConfirmedAt, got.LastStep, stored(at), totpStep)
	}
}

func testTOTPDelete(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice, bob := mfaUser(t, users, "alice@example.com"), mfaUser(t, users, "bob@example.com")
	saveTOTP(t, s.TOTP, newTOTP(alice, "alice's", clk.Now()))
	acceptStep(t, s.TOTP, alice, totpStep, clk.Now())
	b := newTOTP(bob, "bob's", clk.Now())
	saveTOTP(t, s.TOTP, b)

	if err := s.TOTP.DeleteTOTP(t.Context(), alice); err != nil {
		t.Fatalf("DeleteTOTP: %v", err)
	}
	wantNoTOTP(t, s.TOTP, "after DeleteTOTP", alice)
	err := s.TOTP.AcceptTOTPStep(t.Context(), alice, totpStep+1, clk.Now())
	wantCode(t, "AcceptTOTPStep after DeleteTOTP", err, gatehouse.CodeNotFound)
	if err := s.TOTP.DeleteTOTP(t.Context(), alice); err != nil {
		t.Errorf("DeleteTOTP again: %v, want no error", err)
	}
	if err := s.TOTP.DeleteTOTP(t.Context(), gatehouse.NewID()); err != nil {
		t.Errorf("DeleteTOTP of an unknown user: %v, want no error", err)
	}
	wantTOTP(t, s.TOTP, b)
}

// --- Recovery codes

func recoveryHashes(prefix string, n int) []string {
	var hashes []string
	for i := range n {
		hashes = append(hashes, tokenHash(fmt.Sprintf("recovery %s %d", prefix, i)))
	}
	return hashes
}

func replaceCodes(t *testing.T, s gatehouse.RecoveryCodeStore, user gatehouse.ID, hashes []string, at time.Time) {
	t.Helper()
	if err := s.ReplaceRecoveryCodes(t.Context(), user, hashes, at); err != nil {
		t.Fatalf("ReplaceRecoveryCodes(%d codes): %v", len(hashes), err)
	}
}

func useCode(t *testing.T, s gatehouse.RecoveryCodeStore, user gatehouse.ID, hash string) {
	t.Helper()
	if err := s.UseRecoveryCode(t.Context(), user, hash); err != nil {
		t.Fatalf("UseRecoveryCode(%.8s…): %v", hash, err)
	}
}

func wantCodeCount(t *testing.T, s gatehouse.RecoveryCodeStore, user gatehouse.ID, want int) {
	t.Helper()
	n, err := s.CountRecoveryCodes(t.Context(), user)
	if err != nil || n != want {
		t.Errorf("CountRecoveryCodes = %d, %v; want %d, nil", n, err, want)
	}
}

func testRecoveryCodes(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice := mfaUser(t, users, "alice@example.com")
	wantCodeCount(t, s.Recovery, alice, 0)
	wantCode(t, "UseRecoveryCode of a user without codes",
		s.Recovery.UseRecoveryCode(t.Context(), alice, tokenHash("x")), gatehouse.CodeNotFound)

	first := recoveryHashes("first", 10)
	replaceCodes(t, s.Recovery, alice, first, clk.Now())
	wantCodeCount(t, s.Recovery, alice, 10)

	useCode(t, s.Recovery, alice, first[3])
	wantCodeCount(t, s.Recovery, alice, 9)
	wantCode(t, "UseRecoveryCode of a used code",
		s.Recovery.UseRecoveryCode(t.Context(), alice, first[3]), gatehouse.CodeNotFound)
	wantCode(t, "UseRecoveryCode of a wrong code",
		s.Recovery.UseRecoveryCode(t.Context(), alice, tokenHash("wrong")), gatehouse.CodeNotFound)
	wantCode(t, "UseRecoveryCode of a code in upper case",
		s.Recovery.UseRecoveryCode(t.Context(), alice, strings.ToUpper(first[4])), gatehouse.CodeNotFound)
	wantCode(t, "UseRecoveryCode of an empty code",
		s.Recovery.UseRecoveryCode(t.Context(), alice, ""), gatehouse.CodeNotFound)
	wantCodeCount(t, s.Recovery, alice, 9)

	// New codes replace the old, used or not; a hash given twice counts
	// once.
	second := recoveryHashes("second", 3)
	replaceCodes(t, s.Recovery, alice, append(second, second[0]), clk.Now().Add(time.Hour))
	wantCodeCount(t, s.Recovery, alice, 3)
	wantCode(t, "UseRecoveryCode of a replaced code",
		s.Recovery.UseRecoveryCode(t.Context(), alice, first[0]), gatehouse.CodeNotFound)
	useCode(t, s.Recovery, alice, second[0])
	wantCodeCount(t, s.Recovery, alice, 2)

	// The old codes may come back (a hash is per user, not per store).
	replaceCodes(t, s.Recovery, alice, first[:2], clk.Now())
	useCode(t, s.Recovery, alice, first[1])
	wantCodeCount(t, s.Recovery, alice, 1)

	// No codes removes them all.
	replaceCodes(t, s.Recovery, alice, nil, clk.Now())
	wantCodeCount(t, s.Recovery, alice, 0)
	wantCode(t, "UseRecoveryCode after ReplaceRecoveryCodes(nil)",
		s.Recovery.UseRecoveryCode(t.Context(), alice, first[0]), gatehouse.CodeNotFound)
}

func testRecoveryCodesOtherUser(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice, bob := mfaUser(t, users, "alice@example.com"), mfaUser(t, users, "bob@example.com")
	codes := recoveryHashes("alice", 3)
	replaceCodes(t, s.Recovery, alice, codes, clk.Now())
	wantCode(t, "UseRecoveryCode of another user's code",
		s.Recovery.UseRecoveryCode(t.Context(), bob, codes[0]), gatehouse.CodeNotFound)
	wantCode(t, "UseRecoveryCode of a code by an unknown user",
		s.Recovery.UseRecoveryCode(t.Context(), gatehouse.NewID(), codes[0]), gatehouse.CodeNotFound)
	wantCodeCount(t, s.Recovery, alice, 3)
	wantCodeCount(t, s.Recovery, bob, 0)
	wantCodeCount(t, s.Recovery, gatehouse.NewID(), 0)

	// Replacing one user's codes leaves the other's, even the same hashes.
	replaceCodes(t, s.Recovery, bob, codes[:1], clk.Now())
	replaceCodes(t, s.Recovery, bob, codes[:2], clk.Now())
	wantCodeCount(t, s.Recovery, bob, 2)
	useCode(t, s.Recovery, bob, codes[0])
	wantCodeCount(t, s.Recovery, bob, 1)
	wantCodeCount(t, s.Recovery, alice, 3)
	useCode(t, s.Recovery, alice, codes[0])
}

func testRecoveryCodesConcurrentUse(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice := mfaUser(t, users, "alice@example.com")
	codes := recoveryHashes("alice", 5)
	replaceCodes(t, s.Recovery, alice, codes, clk.Now())
	warm := func() { _, _ = s.Recovery.CountRecoveryCodes(context.Background(), alice) }
	errs := race(warm, func() error { return s.Recovery.UseRecoveryCode(context.Background(), alice, codes[2]) })
	wantOneWinner(t, "UseRecoveryCode of one code", errs, gatehouse.CodeNotFound)
	wantCodeCount(t, s.Recovery, alice, 4)
}

// --- Passkeys

func newPasskey(user gatehouse.ID, name string, created time.Time) gatehouse.Passkey {
	return gatehouse.Passkey{ID: gatehouse.NewID(), UserID: user, Name: name,
		CredentialID: []byte("cred-" + name + "\x00\xff"), Credential: []byte(`{"counter":0,"name":"` + name + `"}`),
		CreatedAt: created}
}

func createPasskey(t *testing.T, s gatehouse.PasskeyStore, p gatehouse.Passkey) {
	t.Helper()
	if err := s.CreatePasskey(t.Context(), p); err != nil {
		t.Fatalf("CreatePasskey(%q): %v", p.Name, err)
	}
}

func findPasskey(t *testing.T, s gatehouse.PasskeyStore, credentialID []byte) *gatehouse.Passkey {
	t.Helper()
	p, err := s.FindPasskey(t.Context(), credentialID)
	if err != nil {
		t.Fatalf("FindPasskey(%q): %v", credentialID, err)
	}
	return p
}

func wantNoPasskey(t *testing.T, s gatehouse.PasskeyStore, what string, credentialID []byte) {
	t.Helper()
	p, err := s.FindPasskey(t.Context(), credentialID)
	if code(err) != gatehouse.CodeNotFound {
		t.Errorf("FindPasskey %s = %+v, %v; want a %q error", what, p, err, gatehouse.CodeNotFound)
	}
}

func diffPasskey(got, want gatehouse.Passkey) string {
	var d []string
	if got.ID != want.ID {
		d = append(d, fmt.Sprintf("ID = %v, want %v", got.ID, want.ID))
	}
	if got.UserID != want.UserID {
		d = append(d, fmt.Sprintf("UserID = %v, want %v", got.UserID, want.UserID))
	}
	if got.Name != want.Name {
		d = append(d, fmt.Sprintf("Name = %q, want %q", got.Name, want.Name))
	}
	diffBytes(&d, "CredentialID", got.CredentialID, want.CredentialID)
	diffBytes(&d, "Credential", got.Credential, want.Credential)
	diffTime(&d, "CreatedAt", got.CreatedAt, want.CreatedAt)
	diffTime(&d, "LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	return strings.Join(d, "; ")
}

func wantPasskey(t *testing.T, s gatehouse.PasskeyStore, want gatehouse.Passkey) {
	t.Helper()
	if d := diffPasskey(*findPasskey(t, s, want.CredentialID), want); d != "" {
		t.Errorf("FindPasskey(%q): %s", want.Name, d)
	}
}

func wantPasskeys(t *testing.T, s gatehouse.PasskeyStore, user gatehouse.ID, want ...gatehouse.Passkey) {
	t.Helper()
	got, err := s.ListPasskeys(t.Context(), user)
	if err != nil {
		t.Fatalf("ListPasskeys: %v", err)
	}
	var gotNames, wantNames []string
	for _, p := range got {
		gotNames = append(gotNames, p.Name)
	}
	for _, p := range want {
		wantNames = append(wantNames, p.Name)
	}
	if !slices.Equal(gotNames, wantNames) {
		t.Fatalf("ListPasskeys = %q, want %q", gotNames, wantNames)
	}
	for i, p := range want {
		// #nosec G602 -- got and want have the same length: their names compared equal above.
		if d := diffPasskey(got[i], p); d != "" {
			t.Errorf("ListPasskeys, passkey %q: %s", p.Name, d)
		}
	}
}

func testPasskeyCreateFind(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice := mfaUser(t, users, "alice@example.com")
	p := newPasskey(alice, "laptop — «work»", clk.Now())
	createPasskey(t, s.Passkeys, p)
	wantPasskey(t, s.Passkeys, p)
	wantNoPasskey(t, s.Passkeys, "of an unknown credential id", []byte("nope"))
	wantNoPasskey(t, s.Passkeys, "of a prefix of the credential id", p.CredentialID[:3])
	wantNoPasskey(t, s.Passkeys, "of an empty credential id", nil)

	// The store keeps no alias of the bytes given, nor hands one out.
	given := p
	p.CredentialID, p.Credential = bytes.Clone(given.CredentialID), bytes.Clone(given.Credential)
	scribble(given.CredentialID)
	scribble(given.Credential)
	got := findPasskey(t, s.Passkeys, p.CredentialID)
	scribble(got.CredentialID)
	scribble(got.Credential)
	wantPasskey(t, s.Passkeys, p)

	// A zero CreatedAt is the store's clock.
	clk.Add(time.Minute)
	phone := newPasskey(alice, "phone", time.Time{})
	createPasskey(t, s.Passkeys, phone)
	phone.CreatedAt = clk.Now()
	wantPasskey(t, s.Passkeys, phone)
}

func testPasskeyList(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice, bob := mfaUser(t, users, "alice@example.com"), mfaUser(t, users, "bob@example.com")
	wantPasskeys(t, s.Passkeys, alice)
	now := clk.Now()
	a1 := newPasskey(alice, "a1", now.Add(-2*time.Hour))
	a2 := newPasskey(alice, "a2", now.Add(-time.Hour))
	a2.LastUsedAt = now.Add(-time.Minute)
	a3 := newPasskey(alice, "a3", now)
	b1 := newPasskey(bob, "b1", now.Add(-3*time.Hour))
	for _, p := range []gatehouse.Passkey{a3, b1, a1, a2} {
		createPasskey(t, s.Passkeys, p)
	}
	wantPasskeys(t, s.Passkeys, alice, a1, a2, a3)
	wantPasskeys(t, s.Passkeys, bob, b1)
	wantPasskeys(t, s.Passkeys, gatehouse.NewID())
}

func testPasskeyDuplicate(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice, bob := mfaUser(t, users, "alice@example.com"), mfaUser(t, users, "bob@example.com")
	p := newPasskey(alice, "laptop", clk.Now())
	createPasskey(t, s.Passkeys, p)

	sameCred := newPasskey(alice, "other", clk.Now())
	sameCred.CredentialID = bytes.Clone(p.CredentialID)
	wantCode(t, "CreatePasskey of a credential id in use", s.Passkeys.CreatePasskey(t.Context(), sameCred), gatehouse.CodeConflict)
	sameCred.UserID = bob
	wantCode(t, "CreatePasskey of a credential id in use by another user", s.Passkeys.CreatePasskey(t.Context(), sameCred), gatehouse.CodeConflict)

	sameID := newPasskey(alice, "other", clk.Now())
	sameID.ID = p.ID
	wantCode(t, "CreatePasskey of an id in use", s.Passkeys.CreatePasskey(t.Context(), sameID), gatehouse.CodeConflict)

	wantPasskey(t, s.Passkeys, p)
	wantPasskeys(t, s.Passkeys, alice, p)
	wantPasskeys(t, s.Passkeys, bob)
}

func testPasskeyUse(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice := mfaUser(t, users, "alice@example.com")
	p, other := newPasskey(alice, "laptop", clk.Now()), newPasskey(alice, "phone", clk.Now().Add(time.Second))
	createPasskey(t, s.Passkeys, p)
	createPasskey(t, s.Passkeys, other)
	wantPasskey(t, s.Passkeys, p) // never used: zero LastUsedAt

	use := func(credential []byte, at time.Time) {
		t.Helper()
		if err := s.Passkeys.UsePasskey(t.Context(), p.ID, credential, at); err != nil {
			t.Fatalf("UsePasskey: %v", err)
		}
	}
	credential := []byte(`{"counter":1}`)
	p.Credential, p.LastUsedAt = bytes.Clone(credential), clk.Now().Add(time.Minute)
	use(credential, p.LastUsedAt)
	scribble(credential)
	wantPasskey(t, s.Passkeys, p)
	p.Credential, p.LastUsedAt = []byte(`{"counter":2}`), clk.Now().Add(time.Hour)
	use(p.Credential, p.LastUsedAt)
	wantPasskey(t, s.Passkeys, p)
	wantPasskeys(t, s.Passkeys, alice, p, other)

	err := s.Passkeys.UsePasskey(t.Context(), gatehouse.NewID(), []byte("x"), clk.Now())
	wantCode(t, "UsePasskey of an unknown passkey", err, gatehouse.CodeNotFound)
}

func testPasskeyDelete(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice, bob := mfaUser(t, users, "alice@example.com"), mfaUser(t, users, "bob@example.com")
	p1, p2 := newPasskey(alice, "p1", clk.Now()), newPasskey(alice, "p2", clk.Now().Add(time.Second))
	createPasskey(t, s.Passkeys, p1)
	createPasskey(t, s.Passkeys, p2)

	wantCode(t, "DeletePasskey of another user's passkey",
		s.Passkeys.DeletePasskey(t.Context(), bob, p1.ID), gatehouse.CodeNotFound)
	wantCode(t, "DeletePasskey of a passkey by an unknown user",
		s.Passkeys.DeletePasskey(t.Context(), gatehouse.NewID(), p1.ID), gatehouse.CodeNotFound)
	wantPasskey(t, s.Passkeys, p1)

	if err := s.Passkeys.DeletePasskey(t.Context(), alice, p1.ID); err != nil {
		t.Fatalf("DeletePasskey: %v", err)
	}
	wantNoPasskey(t, s.Passkeys, "after DeletePasskey", p1.CredentialID)
	wantPasskeys(t, s.Passkeys, alice, p2)
	wantCode(t, "DeletePasskey again", s.Passkeys.DeletePasskey(t.Context(), alice, p1.ID), gatehouse.CodeNotFound)
	wantCode(t, "DeletePasskey of an unknown passkey",
		s.Passkeys.DeletePasskey(t.Context(), alice, gatehouse.NewID()), gatehouse.CodeNotFound)

	// The credential id is free again.
	again := newPasskey(bob, "p1", clk.Now())
	createPasskey(t, s.Passkeys, again)
	wantPasskey(t, s.Passkeys, again)
}

// --- MFA challenges

// challengeLife is how long the suite's challenges live.
const challengeLife = 5 * time.Minute

func newChallenge(user gatehouse.ID, name string, created time.Time) gatehouse.MFAChallenge {
	return gatehouse.MFAChallenge{Hash: tokenHash("mfa " + name), UserID: user, Backend: "jwt",
		CreatedAt: created, ExpiresAt: created.Add(challengeLife)}
}

func createChallenge(t *testing.T, s gatehouse.MFAChallengeStore, c gatehouse.MFAChallenge) {
	t.Helper()
	if err := s.CreateMFAChallenge(t.Context(), c); err != nil {
		t.Fatalf("CreateMFAChallenge: %v", err)
	}
}

func findChallenge(t *testing.T, s gatehouse.MFAChallengeStore, hash string, now time.Time) *gatehouse.MFAChallenge {
	t.Helper()
	c, err := s.FindMFAChallenge(t.Context(), hash, now)
	if err != nil {
		t.Fatalf("FindMFAChallenge(%.8s…, %v): %v", hash, now, err)
	}
	return c
}

func wantNoChallenge(t *testing.T, s gatehouse.MFAChallengeStore, what, hash string, now time.Time) {
	t.Helper()
	c, err := s.FindMFAChallenge(t.Context(), hash, now)
	if code(err) != gatehouse.CodeNotFound {
		t.Errorf("FindMFAChallenge %s = %+v, %v; want a %q error", what, c, err, gatehouse.CodeNotFound)
	}
}

func diffChallenge(got, want gatehouse.MFAChallenge) string {
	var d []string
	if got.Hash != want.Hash {
		d = append(d, fmt.Sprintf("Hash = %q, want %q", got.Hash, want.Hash))
	}
	if got.UserID != want.UserID {
		d = append(d, fmt.Sprintf("UserID = %v, want %v", got.UserID, want.UserID))
	}
	if got.Backend != want.Backend {
		d = append(d, fmt.Sprintf("Backend = %q, want %q", got.Backend, want.Backend))
	}
	diffBytes(&d, "State", got.State, want.State)
	diffTime(&d, "CreatedAt", got.CreatedAt, want.CreatedAt)
	diffTime(&d, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	return strings.Join(d, "; ")
}

func wantChallenge(t *testing.T, s gatehouse.MFAChallengeStore, want gatehouse.MFAChallenge, now time.Time) {
	t.Helper()
	if d := diffChallenge(*findChallenge(t, s, want.Hash, now), want); d != "" {
		t.Errorf("FindMFAChallenge: %s", d)
	}
}

func takeChallenge(t *testing.T, s gatehouse.MFAChallengeStore, hash string, now time.Time) *gatehouse.MFAChallenge {
	t.Helper()
	c, err := s.TakeMFAChallenge(t.Context(), hash, now)
	if err != nil {
		t.Fatalf("TakeMFAChallenge(%.8s…, %v): %v", hash, now, err)
	}
	return c
}

func testChallengeCreateFind(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice := mfaUser(t, users, "alice@example.com")
	now := clk.Now()
	c := newChallenge(alice, "one", now)
	c.Backend = "cookie"
	createChallenge(t, s.Challenges, c)
	wantChallenge(t, s.Challenges, c, now)
	wantNoChallenge(t, s.Challenges, "of an unknown hash", tokenHash("nope"), now)
	wantNoChallenge(t, s.Challenges, "of the hash in upper case", strings.ToUpper(c.Hash), now)
	wantNoChallenge(t, s.Challenges, "of an empty hash", "", now)

	// Created with State, which the store copies.
	d := newChallenge(alice, "two", now)
	d.State = []byte(`{"challenge":"abc"}`)
	given := d.State
	d.State = bytes.Clone(given)
	createChallenge(t, s.Challenges, gatehouse.MFAChallenge{Hash: d.Hash, UserID: d.UserID, Backend: d.Backend,
		State: given, CreatedAt: d.CreatedAt, ExpiresAt: d.ExpiresAt})
	scribble(given)
	wantChallenge(t, s.Challenges, d, now)

	// A zero CreatedAt is the store's clock.
	clk.Add(time.Second)
	e := newChallenge(alice, "three", time.Time{})
	e.ExpiresAt = clk.Now().Add(challengeLife)
	createChallenge(t, s.Challenges, e)
	e.CreatedAt = clk.Now()
	wantChallenge(t, s.Challenges, e, clk.Now())
}

func testChallengeExpiry(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice := mfaUser(t, users, "alice@example.com")
	now := clk.Now()
	c := newChallenge(alice, "one", now)
	createChallenge(t, s.Challenges, c)
	last := stored(c.ExpiresAt).Add(-time.Microsecond)
	wantChallenge(t, s.Challenges, c, last)
	if err := s.Challenges.SetMFAChallengeState(t.Context(), c.Hash, []byte("w"), last); err != nil {
		t.Errorf("SetMFAChallengeState just before ExpiresAt: %v", err)
	}
	c.State = []byte("w")
	// ExpiresAt as stored, to the microsecond: not found from then on.
	at := stored(c.ExpiresAt)
	wantNoChallenge(t, s.Challenges, "at ExpiresAt", c.Hash, at)
	wantNoChallenge(t, s.Challenges, "after ExpiresAt", c.Hash, now.Add(time.Hour))
	wantCode(t, "SetMFAChallengeState at ExpiresAt",
		s.Challenges.SetMFAChallengeState(t.Context(), c.Hash, []byte("late"), at), gatehouse.CodeNotFound)
	got, err := s.Challenges.TakeMFAChallenge(t.Context(), c.Hash, at)
	if code(err) != gatehouse.CodeNotFound {
		t.Errorf("TakeMFAChallenge at ExpiresAt = %+v, %v; want a %q error", got, err, gatehouse.CodeNotFound)
	}
	// None of that changed the challenge as seen before it expired.
	wantChallenge(t, s.Challenges, c, last)

	old := newChallenge(alice, "old", now.Add(-time.Hour))
	createChallenge(t, s.Challenges, old)
	wantNoChallenge(t, s.Challenges, "of a challenge created expired", old.Hash, now)
}

func testChallengeState(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice := mfaUser(t, users, "alice@example.com")
	now := clk.Now()
	c, other := newChallenge(alice, "one", now), newChallenge(alice, "other", now)
	createChallenge(t, s.Challenges, c)
	createChallenge(t, s.Challenges, other)

	set := func(data []byte) {
		t.Helper()
		if err := s.Challenges.SetMFAChallengeState(t.Context(), c.Hash, data, now); err != nil {
			t.Fatalf("SetMFAChallengeState(%q): %v", data, err)
		}
	}
	data := []byte(`{"challenge":"first","allowed":["\u0000"]}`)
	c.State = bytes.Clone(data)
	set(data)
	scribble(data)
	wantChallenge(t, s.Challenges, c, now)
	scribble(findChallenge(t, s.Challenges, c.Hash, now).State)
	wantChallenge(t, s.Challenges, c, now)

	// A second assertion begun replaces the first.
	c.State = []byte(`{"challenge":"second"}`)
	set(c.State)
	wantChallenge(t, s.Challenges, c, now)
	wantChallenge(t, s.Challenges, other, now)

	wantCode(t, "SetMFAChallengeState of an unknown challenge",
		s.Challenges.SetMFAChallengeState(t.Context(), tokenHash("nope"), []byte("x"), now), gatehouse.CodeNotFound)
}

func testChallengeTake(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice := mfaUser(t, users, "alice@example.com")
	now := clk.Now()
	c, other := newChallenge(alice, "one", now), newChallenge(alice, "other", now)
	createChallenge(t, s.Challenges, c)
	createChallenge(t, s.Challenges, other)
	c.State = []byte(`{"challenge":"abc"}`)
	if err := s.Challenges.SetMFAChallengeState(t.Context(), c.Hash, c.State, now); err != nil {
		t.Fatal(err)
	}

	if d := diffChallenge(*takeChallenge(t, s.Challenges, c.Hash, now.Add(time.Minute)), c); d != "" {
		t.Errorf("TakeMFAChallenge: %s", d)
	}
	got, err := s.Challenges.TakeMFAChallenge(t.Context(), c.Hash, now.Add(time.Minute))
	if code(err) != gatehouse.CodeNotFound {
		t.Errorf("TakeMFAChallenge again = %+v, %v; want a %q error", got, err, gatehouse.CodeNotFound)
	}
	wantNoChallenge(t, s.Challenges, "after TakeMFAChallenge", c.Hash, now)
	wantCode(t, "SetMFAChallengeState after TakeMFAChallenge",
		s.Challenges.SetMFAChallengeState(t.Context(), c.Hash, []byte("x"), now), gatehouse.CodeNotFound)
	got, err = s.Challenges.TakeMFAChallenge(t.Context(), tokenHash("nope"), now)
	if code(err) != gatehouse.CodeNotFound {
		t.Errorf("TakeMFAChallenge of an unknown challenge = %+v, %v; want a %q error", got, err, gatehouse.CodeNotFound)
	}
	wantChallenge(t, s.Challenges, other, now)

	// The hash is free again.
	again := newChallenge(alice, "one", now.Add(time.Minute))
	createChallenge(t, s.Challenges, again)
	wantChallenge(t, s.Challenges, again, now.Add(time.Minute))
}

func testChallengeConcurrentTake(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice := mfaUser(t, users, "alice@example.com")
	now := clk.Now()
	c := newChallenge(alice, "one", now)
	createChallenge(t, s.Challenges, c)
	var (
		mu    sync.Mutex
		taken []*gatehouse.MFAChallenge
	)
	warm := func() { _, _ = s.Challenges.FindMFAChallenge(context.Background(), c.Hash, now) }
	errs := race(warm, func() error {
		got, err := s.Challenges.TakeMFAChallenge(context.Background(), c.Hash, now)
		if err == nil {
			mu.Lock()
			taken = append(taken, got)
			mu.Unlock()
		}
		return err
	})
	wantOneWinner(t, "TakeMFAChallenge of one challenge", errs, gatehouse.CodeNotFound)
	for _, got := range taken {
		if d := diffChallenge(*got, c); d != "" {
			t.Errorf("TakeMFAChallenge: %s", d)
		}
	}
	wantNoChallenge(t, s.Challenges, "after concurrent takes", c.Hash, now)
}

func testChallengeDuplicate(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice, bob := mfaUser(t, users, "alice@example.com"), mfaUser(t, users, "bob@example.com")
	now := clk.Now()
	c := newChallenge(alice, "one", now)
	createChallenge(t, s.Challenges, c)
	same := newChallenge(bob, "one", now.Add(time.Second))
	wantCode(t, "CreateMFAChallenge of a hash in use", s.Challenges.CreateMFAChallenge(t.Context(), same), gatehouse.CodeConflict)
	wantChallenge(t, s.Challenges, c, now)
}

// --- All four

func testMFAUnknownUser(t *testing.T, s MFAStores, _ gatehouse.UserStore, clk *clock) {
	ctx, now, ghost := t.Context(), clk.Now(), gatehouse.NewID()
	wantCode(t, "SaveTOTP for a user that does not exist",
		s.TOTP.SaveTOTP(ctx, newTOTP(ghost, "s", now)), gatehouse.CodeNotFound)
	wantNoTOTP(t, s.TOTP, "of a refused TOTP", ghost)
	wantCode(t, "ReplaceRecoveryCodes for a user that does not exist",
		s.Recovery.ReplaceRecoveryCodes(ctx, ghost, recoveryHashes("ghost", 2), now), gatehouse.CodeNotFound)
	wantCodeCount(t, s.Recovery, ghost, 0)
	p := newPasskey(ghost, "orphan", now)
	wantCode(t, "CreatePasskey for a user that does not exist", s.Passkeys.CreatePasskey(ctx, p), gatehouse.CodeNotFound)
	wantNoPasskey(t, s.Passkeys, "of a refused passkey", p.CredentialID)
	c := newChallenge(ghost, "orphan", now)
	wantCode(t, "CreateMFAChallenge for a user that does not exist",
		s.Challenges.CreateMFAChallenge(ctx, c), gatehouse.CodeNotFound)
	wantNoChallenge(t, s.Challenges, "of a refused challenge", c.Hash, now)
}

func testMFAUserDeleted(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	alice, bob := mfaUser(t, users, "alice@example.com"), mfaUser(t, users, "bob@example.com")
	now := clk.Now()
	saveTOTP(t, s.TOTP, newTOTP(alice, "alice's", now))
	acceptStep(t, s.TOTP, alice, totpStep, now)
	bobTOTP := newTOTP(bob, "bob's", now)
	saveTOTP(t, s.TOTP, bobTOTP)
	codes := recoveryHashes("shared", 4)
	replaceCodes(t, s.Recovery, alice, codes, now)
	replaceCodes(t, s.Recovery, bob, codes[:2], now)
	ap, bp := newPasskey(alice, "alice's", now), newPasskey(bob, "bob's", now)
	createPasskey(t, s.Passkeys, ap)
	createPasskey(t, s.Passkeys, bp)
	ac, bc := newChallenge(alice, "alice's", now), newChallenge(bob, "bob's", now)
	createChallenge(t, s.Challenges, ac)
	createChallenge(t, s.Challenges, bc)

	if err := users.DeleteUser(t.Context(), alice); err != nil {
		t.Fatalf("DeleteUser of a user with second factors: %v", err)
	}
	wantNoTOTP(t, s.TOTP, "after its user was deleted", alice)
	wantCodeCount(t, s.Recovery, alice, 0)
	wantNoPasskey(t, s.Passkeys, "after its user was deleted", ap.CredentialID)
	wantPasskeys(t, s.Passkeys, alice)
	wantNoChallenge(t, s.Challenges, "after its user was deleted", ac.Hash, now)
	got, err := s.Challenges.TakeMFAChallenge(t.Context(), ac.Hash, now)
	if code(err) != gatehouse.CodeNotFound {
		t.Errorf("TakeMFAChallenge after its user was deleted = %+v, %v; want a %q error", got, err, gatehouse.CodeNotFound)
	}

	wantTOTP(t, s.TOTP, bobTOTP)
	wantCodeCount(t, s.Recovery, bob, 2)
	wantPasskey(t, s.Passkeys, bp)
	wantChallenge(t, s.Challenges, bc, now)

	// The rows went with the user: credential id and hash are free again.
	reused := newPasskey(bob, "alice's", now)
	createPasskey(t, s.Passkeys, reused)
	createChallenge(t, s.Challenges, newChallenge(bob, "alice's", now))
}

func testMFASweep(t *testing.T, s MFAStores, users gatehouse.UserStore, clk *clock) {
	if s.Sweep == nil {
		t.Skip("the store has no Sweep")
	}
	alice := mfaUser(t, users, "alice@example.com")
	ctx, now := t.Context(), clk.Now()
	expired := newChallenge(alice, "expired", now.Add(-challengeLife-time.Second))
	soon := newChallenge(alice, "soon", now)
	soon.ExpiresAt = now.Add(time.Minute)
	later := newChallenge(alice, "later", now)
	for _, c := range []gatehouse.MFAChallenge{expired, soon, later} {
		createChallenge(t, s.Challenges, c)
	}
	saveTOTP(t, s.TOTP, newTOTP(alice, "s", now))
	replaceCodes(t, s.Recovery, alice, recoveryHashes("a", 2), now)

	if n, err := s.Sweep(ctx); err != nil || n != 1 {
		t.Errorf("Sweep = %d, %v; want 1, nil", n, err)
	}
	wantChallenge(t, s.Challenges, soon, now)
	if n, err := s.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("Sweep again = %d, %v; want 0, nil", n, err)
	}
	// At ExpiresAt, to the microsecond, a challenge is expired.
	clk.Set(stored(soon.ExpiresAt))
	if n, err := s.Sweep(ctx); err != nil || n != 1 {
		t.Errorf("Sweep at a challenge's ExpiresAt = %d, %v; want 1, nil", n, err)
	}
	// Swept, a challenge is gone even to a caller whose clock is behind.
	wantNoChallenge(t, s.Challenges, "of a swept challenge", soon.Hash, now)
	wantChallenge(t, s.Challenges, later, now)
	findTOTP(t, s.TOTP, alice)
	wantCodeCount(t, s.Recovery, alice, 2)
}
