package webauthntest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse/gatehouse/webauthntest"
)

const origin = "https://example.com"

// user is an account as go-webauthn sees one.
type user struct {
	id          []byte
	name        string
	credentials []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.id }
func (u *user) WebAuthnName() string                       { return u.name }
func (u *user) WebAuthnDisplayName() string                { return u.name }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.credentials }

func newUser(name string) *user {
	return &user{id: []byte("id-of-" + name), name: name}
}

// newServer returns a go-webauthn relying party for example.com.
func newServer(tb testing.TB) *webauthn.WebAuthn {
	tb.Helper()
	rp, err := webauthn.New(&webauthn.Config{
		RPID:          "example.com",
		RPDisplayName: "x",
		RPOrigins:     []string{origin},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return rp
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// create runs the browser half of a registration for u: the server's
// options, a's answer, and the server's session. It fails tb when a
// refuses.
func create(tb testing.TB, rp *webauthn.WebAuthn, a *webauthntest.Authenticator, u *user, opts ...webauthn.RegistrationOption) ([]byte, *webauthn.SessionData) {
	tb.Helper()
	creation, session, err := rp.BeginRegistration(u, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	response, err := a.Create(mustJSON(tb, creation))
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	return response, session
}

// finishRegistration is the server half of a registration.
func finishRegistration(rp *webauthn.WebAuthn, u *user, session *webauthn.SessionData, response []byte) (*webauthn.Credential, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, err
	}
	return rp.CreateCredential(u, *session, parsed)
}

// register registers a credential of a for u and adds it to u.
func register(tb testing.TB, rp *webauthn.WebAuthn, a *webauthntest.Authenticator, u *user) *webauthn.Credential {
	tb.Helper()
	response, session := create(tb, rp, a, u)
	credential, err := finishRegistration(rp, u, session, response)
	if err != nil {
		tb.Fatalf("CreateCredential: %v", err)
	}
	u.credentials = append(u.credentials, *credential)
	return credential
}

// get runs the browser half of a login of u: the server's options, a's
// answer, and the server's session. It fails tb when a refuses.
func get(tb testing.TB, rp *webauthn.WebAuthn, a *webauthntest.Authenticator, u *user, opts ...webauthn.LoginOption) ([]byte, *webauthn.SessionData) {
	tb.Helper()
	assertion, session, err := rp.BeginLogin(u, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	response, err := a.Get(mustJSON(tb, assertion))
	if err != nil {
		tb.Fatalf("Get: %v", err)
	}
	return response, session
}

// finishLogin is the server half of a login; it stores the updated
// credential in u.
func finishLogin(rp *webauthn.WebAuthn, u *user, session *webauthn.SessionData, response []byte) (*webauthn.Credential, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, err
	}
	credential, err := rp.ValidateLogin(u, *session, parsed)
	if err != nil {
		return nil, err
	}
	for i := range u.credentials {
		if bytes.Equal(u.credentials[i].ID, credential.ID) {
			u.credentials[i] = *credential
		}
	}
	return credential, nil
}

func TestRegister(t *testing.T) {
	rp, a, u := newServer(t), webauthntest.New(origin), newUser("alice")
	response, session := create(t, rp, a, u)

	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		t.Fatal(err)
	}
	credential, err := rp.CreateCredential(u, *session, parsed)
	if err != nil {
		t.Fatal(err)
	}

	if ids := a.CredentialIDs(); len(ids) != 1 || !bytes.Equal(ids[0], credential.ID) {
		t.Errorf("CredentialIDs() = %x, want [%x]", ids, credential.ID)
	}
	if credential.AttestationFormat != "none" {
		t.Errorf("attestation format %q, want none", credential.AttestationFormat)
	}
	if credential.Authenticator.SignCount != 0 {
		t.Errorf("sign count %d, want 0", credential.Authenticator.SignCount)
	}
	if !bytes.Equal(credential.Authenticator.AAGUID, make([]byte, 16)) {
		t.Errorf("AAGUID %x, want zero", credential.Authenticator.AAGUID)
	}
	if f := credential.Flags; !f.UserPresent || !f.UserVerified || f.BackupEligible || f.BackupState {
		t.Errorf("flags %+v, want UP and UV, not BE or BS", f)
	}
	if got := parsed.Response.Transports; len(got) != 1 || got[0] != protocol.Internal {
		t.Errorf("transports %v, want [internal]", got)
	}
	if parsed.AuthenticatorAttachment != protocol.Platform {
		t.Errorf("attachment %q, want platform", parsed.AuthenticatorAttachment)
	}
	cd := parsed.Response.CollectedClientData
	if cd.Type != protocol.CreateCeremony || cd.Origin != origin || cd.CrossOrigin {
		t.Errorf("client data %+v", cd)
	}
}

// A bare PublicKeyCredentialCreationOptions, without {"publicKey": ...},
// is accepted as well, for both ceremonies.
func TestBareOptions(t *testing.T) {
	rp, a, u := newServer(t), webauthntest.New(origin), newUser("alice")

	creation, session, err := rp.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	response, err := a.Create(mustJSON(t, creation.Response))
	if err != nil {
		t.Fatal(err)
	}
	credential, err := finishRegistration(rp, u, session, response)
	if err != nil {
		t.Fatal(err)
	}
	u.credentials = append(u.credentials, *credential)

	assertion, session, err := rp.BeginLogin(u)
	if err != nil {
		t.Fatal(err)
	}
	response, err = a.Get(mustJSON(t, assertion.Response))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := finishLogin(rp, u, session, response); err != nil {
		t.Fatal(err)
	}
}

func TestLogin(t *testing.T) {
	rp, a, u := newServer(t), webauthntest.New(origin), newUser("alice")
	registered := register(t, rp, a, u)

	for want := uint32(1); want <= 3; want++ {
		response, session := get(t, rp, a, u)
		credential, err := finishLogin(rp, u, session, response)
		if err != nil {
			t.Fatalf("login %d: %v", want, err)
		}
		if !bytes.Equal(credential.ID, registered.ID) {
			t.Errorf("login %d: credential %x, want %x", want, credential.ID, registered.ID)
		}
		if credential.Authenticator.SignCount != want || credential.Authenticator.CloneWarning {
			t.Errorf("login %d: sign count %d, clone warning %t; want %d, false",
				want, credential.Authenticator.SignCount, credential.Authenticator.CloneWarning, want)
		}
	}
}

// With allowCredentials, Get uses a listed credential even when the
// authenticator holds a newer one for the RP.
func TestLoginAllowCredentials(t *testing.T) {
	rp, a := newServer(t), webauthntest.New(origin)
	alice, bob := newUser("alice"), newUser("bob")
	aliceCredential := register(t, rp, a, alice)
	register(t, rp, a, bob)

	response, session := get(t, rp, a, alice)
	credential, err := finishLogin(rp, alice, session, response)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(credential.ID, aliceCredential.ID) {
		t.Errorf("credential %x, want alice's %x", credential.ID, aliceCredential.ID)
	}
}

// A discoverable login names no credential: the server finds the user by
// the user handle the authenticator returns.
func TestDiscoverableLogin(t *testing.T) {
	rp, a := newServer(t), webauthntest.New(origin)
	users := map[string]*user{}
	for _, name := range []string{"alice", "bob"} {
		u := newUser(name)
		register(t, rp, a, u)
		users[string(u.id)] = u
	}

	assertion, session, err := rp.BeginDiscoverableLogin()
	if err != nil {
		t.Fatal(err)
	}
	response, err := a.Get(mustJSON(t, assertion))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		t.Fatal(err)
	}
	found, credential, err := rp.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
		if u, ok := users[string(userHandle)]; ok {
			return u, nil
		}
		return nil, fmt.Errorf("no user %q", userHandle)
	}, *session, parsed)
	if err != nil {
		t.Fatal(err)
	}
	// The newest credential for the RP is bob's.
	if found.WebAuthnName() != "bob" {
		t.Errorf("user %q, want bob", found.WebAuthnName())
	}
	if credential.Authenticator.SignCount != 1 {
		t.Errorf("sign count %d, want 1", credential.Authenticator.SignCount)
	}
}

func TestUserNotVerified(t *testing.T) {
	rp, a, u := newServer(t), webauthntest.New(origin), newUser("alice")
	a.UserVerified = false
	credential := register(t, rp, a, u)
	if credential.Flags.UserVerified || !credential.Flags.UserPresent {
		t.Errorf("flags %+v, want UP without UV", credential.Flags)
	}
	response, session := get(t, rp, a, u)
	if _, err := finishLogin(rp, u, session, response); err != nil {
		t.Errorf("login without required user verification: %v", err)
	}
}

// Create and Get refuse what a browser refuses; the server refuses what
// a browser does not but a server must.
func TestRefused(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T) error
		// want is the error of the authenticator's refusal; server is the
		// protocol.Error Type of the server's refusal, the authenticator
		// having answered.
		want   error
		server string
	}{
		{
			name: "ServerRegistrationWrongOrigin",
			run: func(t *testing.T) error {
				rp, a, u := newServer(t), webauthntest.New("https://login.example.com"), newUser("alice")
				response, session := create(t, rp, a, u)
				_, err := finishRegistration(rp, u, session, response)
				return err
			},
			server: "verification_error",
		},
		{
			name: "ServerLoginWrongOrigin",
			run: func(t *testing.T) error {
				rp, a, u := newServer(t), webauthntest.New(origin), newUser("alice")
				register(t, rp, a, u)
				a.Origin = "http://example.com"
				response, session := get(t, rp, a, u)
				_, err := finishLogin(rp, u, session, response)
				return err
			},
			server: "verification_error",
		},
		{
			name: "ServerTamperedSignature",
			run: func(t *testing.T) error {
				rp, a, u := newServer(t), webauthntest.New(origin), newUser("alice")
				register(t, rp, a, u)
				response, session := get(t, rp, a, u)
				response = tamper(t, response, "signature")
				_, err := finishLogin(rp, u, session, response)
				return err
			},
			server: "invalid_signature",
		},
		{
			name: "ServerTamperedAuthenticatorData",
			run: func(t *testing.T) error {
				rp, a, u := newServer(t), webauthntest.New(origin), newUser("alice")
				register(t, rp, a, u)
				response, session := get(t, rp, a, u)
				response = tamper(t, response, "authenticatorData")
				_, err := finishLogin(rp, u, session, response)
				return err
			},
			server: "invalid_signature",
		},
		{
			name: "ServerReplayedAssertion",
			run: func(t *testing.T) error {
				rp, a, u := newServer(t), webauthntest.New(origin), newUser("alice")
				register(t, rp, a, u)
				response, session := get(t, rp, a, u)
				if _, err := finishLogin(rp, u, session, response); err != nil {
					t.Fatalf("first login: %v", err)
				}
				_, next, err := rp.BeginLogin(u)
				if err != nil {
					t.Fatal(err)
				}
				_, err = finishLogin(rp, u, next, response)
				return err
			},
			server: "verification_error",
		},
		{
			name: "ServerLoginUserVerificationRequired",
			run: func(t *testing.T) error {
				rp, a, u := newServer(t), webauthntest.New(origin), newUser("alice")
				register(t, rp, a, u)
				a.UserVerified = false
				response, session := get(t, rp, a, u, webauthn.WithUserVerification(protocol.VerificationRequired))
				_, err := finishLogin(rp, u, session, response)
				return err
			},
			server: "verification_error",
		},
		{
			name: "ServerRegistrationUserVerificationRequired",
			run: func(t *testing.T) error {
				rp, a, u := newServer(t), webauthntest.New(origin), newUser("alice")
				a.UserVerified = false
				response, session := create(t, rp, a, u, webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
					UserVerification: protocol.VerificationRequired,
				}))
				_, err := finishRegistration(rp, u, session, response)
				return err
			},
			server: "verification_error",
		},
		{
			name: "CreateExcludedCredential",
			run: func(t *testing.T) error {
				rp, a, u := newServer(t), webauthntest.New(origin), newUser("alice")
				credential := register(t, rp, a, u)
				creation, _, err := rp.BeginRegistration(u, webauthn.WithExclusions([]protocol.CredentialDescriptor{credential.Descriptor()}))
				if err != nil {
					t.Fatal(err)
				}
				_, err = a.Create(mustJSON(t, creation))
				return err
			},
			want: webauthntest.ErrInvalidState,
		},
		{
			name: "CreateRPIDNotOrigin",
			run: func(t *testing.T) error {
				rp, a, u := newServer(t), webauthntest.New("https://example.org"), newUser("alice")
				creation, _, err := rp.BeginRegistration(u)
				if err != nil {
					t.Fatal(err)
				}
				_, err = a.Create(mustJSON(t, creation))
				return err
			},
			want: webauthntest.ErrSecurity,
		},
		{
			name: "CreateRPIDPublicSuffix",
			run: func(t *testing.T) error {
				_, err := webauthntest.New(origin).Create(creationOptions(t, `"rp":{"id":"com"}`))
				return err
			},
			want: webauthntest.ErrSecurity,
		},
		{
			name: "CreateRPIDNotOnLabelBoundary",
			run: func(t *testing.T) error {
				_, err := webauthntest.New("https://badexample.com").Create(creationOptions(t, `"rp":{"id":"example.com"}`))
				return err
			},
			want: webauthntest.ErrSecurity,
		},
		{
			name: "CreateNoES256",
			run: func(t *testing.T) error {
				rp, a, u := newServer(t), webauthntest.New(origin), newUser("alice")
				creation, _, err := rp.BeginRegistration(u, webauthn.WithCredentialParameters([]protocol.CredentialParameter{
					{Type: protocol.PublicKeyCredentialType, Algorithm: -257}, // RS256
					{Type: protocol.PublicKeyCredentialType, Algorithm: -8},   // EdDSA
				}))
				if err != nil {
					t.Fatal(err)
				}
				_, err = a.Create(mustJSON(t, creation))
				return err
			},
			want: webauthntest.ErrNotSupported,
		},
		{
			name: "GetNoCredential",
			run: func(t *testing.T) error {
				rp := newServer(t)
				assertion, _, err := rp.BeginDiscoverableLogin()
				if err != nil {
					t.Fatal(err)
				}
				_, err = webauthntest.New(origin).Get(mustJSON(t, assertion))
				return err
			},
			want: webauthntest.ErrNotAllowed,
		},
		{
			name: "GetCredentialNotAllowed",
			run: func(t *testing.T) error {
				rp, u := newServer(t), newUser("alice")
				register(t, rp, webauthntest.New(origin), u)
				assertion, _, err := rp.BeginLogin(u)
				if err != nil {
					t.Fatal(err)
				}
				other := webauthntest.New(origin)
				register(t, rp, other, newUser("bob"))
				_, err = other.Get(mustJSON(t, assertion))
				return err
			},
			want: webauthntest.ErrNotAllowed,
		},
		{
			name: "GetOtherRP",
			run: func(t *testing.T) error {
				a := webauthntest.New("https://login.example.com")
				if _, err := a.Create(creationOptions(t, `"rp":{"id":"login.example.com"}`)); err != nil {
					t.Fatal(err)
				}
				// The credential is scoped to login.example.com, not example.com.
				_, err := a.Get([]byte(`{"publicKey":{"challenge":"AAAA","rpId":"example.com"}}`))
				return err
			},
			want: webauthntest.ErrNotAllowed,
		},
		{
			name: "GetRPIDNotOrigin",
			run: func(t *testing.T) error {
				_, err := webauthntest.New(origin).Get([]byte(`{"publicKey":{"challenge":"AAAA","rpId":"example.org"}}`))
				return err
			},
			want: webauthntest.ErrSecurity,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(t)
			if err == nil {
				t.Fatal("accepted")
			}
			var perr *protocol.Error
			switch {
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("err = %v, want %v", err, tt.want)
			case tt.server != "" && (!errors.As(err, &perr) || perr.Type != tt.server):
				t.Fatalf("err = %#v, want a protocol.Error of Type %q", err, tt.server)
			}
			t.Log(err)
		})
	}
}

// creationOptions returns minimal creation options with members added.
func creationOptions(t *testing.T, members string) []byte {
	t.Helper()
	options := []byte(`{"publicKey":{"challenge":"AAAA","user":{"id":"dXNlcg"},` +
		`"pubKeyCredParams":[{"type":"public-key","alg":-7}],` + members + `}}`)
	if !json.Valid(options) {
		t.Fatalf("invalid options %s", options)
	}
	return options
}

// tamper flips a bit of the base64url member of response.response.
func tamper(t *testing.T, response []byte, member string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(response, &m); err != nil {
		t.Fatal(err)
	}
	inner := m["response"].(map[string]any)
	b, err := base64.RawURLEncoding.DecodeString(inner[member].(string))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x01
	inner[member] = base64.RawURLEncoding.EncodeToString(b)
	return mustJSON(t, m)
}

// The JSON has the members and encodings a browser's toJSON gives.
func TestResponseJSON(t *testing.T) {
	rp, a, u := newServer(t), webauthntest.New(origin), newUser("alice")
	creation, _, err := rp.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	response, err := a.Create(mustJSON(t, creation))
	if err != nil {
		t.Fatal(err)
	}

	var created struct {
		ID, RawID, Type, AuthenticatorAttachment string
		Response                                 map[string]any
		ClientExtensionResults                   map[string]any
	}
	if err := json.Unmarshal(response, &created); err != nil {
		t.Fatal(err)
	}
	if created.ID != created.RawID || created.Type != "public-key" || created.AuthenticatorAttachment != "platform" ||
		created.ClientExtensionResults == nil || len(created.ClientExtensionResults) != 0 {
		t.Errorf("credential %s", response)
	}
	if id, err := base64.RawURLEncoding.DecodeString(created.ID); err != nil || len(id) < 16 || len(id) > 32 {
		t.Errorf("id %q: %d bytes, %v", created.ID, len(id), err)
	}
	for _, member := range []string{"clientDataJSON", "attestationObject", "authenticatorData", "publicKey"} {
		s, _ := created.Response[member].(string)
		if _, err := base64.RawURLEncoding.DecodeString(s); s == "" || err != nil {
			t.Errorf("response.%s = %q, want base64url without padding", member, s)
		}
	}
	if alg := created.Response["publicKeyAlgorithm"]; alg != float64(-7) {
		t.Errorf("response.publicKeyAlgorithm = %v, want -7", alg)
	}
	if transports, _ := created.Response["transports"].([]any); len(transports) != 1 || transports[0] != "internal" {
		t.Errorf("response.transports = %v, want [internal]", created.Response["transports"])
	}

	clientData, _ := base64.RawURLEncoding.DecodeString(created.Response["clientDataJSON"].(string))
	want := `{"type":"webauthn.create","challenge":"` + creation.Response.Challenge.String() +
		`","origin":"https://example.com","crossOrigin":false}`
	if string(clientData) != want {
		t.Errorf("clientDataJSON\n%s\nwant\n%s", clientData, want)
	}
}

// Concurrent logins with one credential each get a counter of their own.
func TestConcurrentLogins(t *testing.T) {
	rp, a, u := newServer(t), webauthntest.New(origin), newUser("alice")
	register(t, rp, a, u)

	const n = 8
	counts := make(chan uint32, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			assertion, _, err := rp.BeginLogin(u)
			if err != nil {
				t.Error(err)
				return
			}
			response, err := a.Get(mustJSON(t, assertion))
			if err != nil {
				t.Error(err)
				return
			}
			parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
			if err != nil {
				t.Error(err)
				return
			}
			counts <- parsed.Response.AuthenticatorData.Counter
		})
	}
	wg.Go(func() { a.CredentialIDs() })
	wg.Wait()
	close(counts)
	seen := map[uint32]bool{}
	for c := range counts {
		if seen[c] || c < 1 || c > n {
			t.Errorf("counter %d repeated or out of 1..%d", c, n)
		}
		seen[c] = true
	}
}

// CredentialIDs returns copies: changing them changes nothing held.
func TestCredentialIDsCopies(t *testing.T) {
	rp, a, u := newServer(t), webauthntest.New(origin), newUser("alice")
	register(t, rp, a, u)
	a.CredentialIDs()[0][0] ^= 0xff
	response, session := get(t, rp, a, u)
	if _, err := finishLogin(rp, u, session, response); err != nil {
		t.Fatal(err)
	}
}
