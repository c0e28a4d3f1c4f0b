// Package webauthntest is a test-side WebAuthn authenticator: it plays both
// the browser, answering navigator.credentials.create and
// navigator.credentials.get with the JSON a browser's
// PublicKeyCredential.toJSON would send, and a CTAP2 authenticator in
// software, holding ES256 (ECDSA P-256) keys and giving "none" attestation.
//
// A test hands Create the registration options its server produced and
// sends the result back to the server; likewise Get for a login:
//
//	a := webauthntest.New("https://example.com")
//	credential, err := a.Create(creationOptionsJSON)
//	...
//	assertion, err := a.Get(requestOptionsJSON)
//
// It is for tests only: keys live in memory, in the clear.
package webauthntest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// The errors Create and Get wrap, named after the DOMException a browser
// rejects the call with. Test for them with errors.Is.
var (
	// ErrSecurity: the RP ID is not Origin's host or a registrable
	// suffix of it.
	ErrSecurity = errors.New("SecurityError")
	// ErrInvalidState: the authenticator holds a credential the options
	// exclude.
	ErrInvalidState = errors.New("InvalidStateError")
	// ErrNotSupported: no pubKeyCredParams entry is ES256 (-7).
	ErrNotSupported = errors.New("NotSupportedError")
	// ErrNotAllowed: the authenticator holds no credential the options
	// allow.
	ErrNotAllowed = errors.New("NotAllowedError")
)

// Authenticator holds credentials, like a security key or a platform
// authenticator. Its methods are safe for concurrent use; set Origin and
// UserVerified before the first call and leave them alone while calls run.
//
// Every credential it creates is discoverable (a passkey): Get finds one
// without allowCredentials, and returns its user handle. Unlike a CTAP2
// authenticator it keeps every credential it creates, even two for the
// same account.
type Authenticator struct {
	// Origin is the web origin the "browser" reports in clientDataJSON,
	// e.g. "https://example.com". Its host bounds the RP IDs the
	// authenticator accepts.
	Origin string
	// UserVerified sets the UV flag: the user gave a PIN or a biometric.
	// UP (user present) is always set. When false, Create and Get still
	// answer, without UV, even if the options require user verification:
	// refusing such an answer is the server's job, which a test can check.
	UserVerified bool

	mu          sync.Mutex
	credentials []*credential // oldest first
}

// credential is a credential source: what an authenticator stores.
type credential struct {
	id         []byte
	key        *ecdsa.PrivateKey
	rpID       string
	userHandle []byte
	signCount  uint32
}

// New returns an Authenticator for origin that holds no credentials, with
// UserVerified set.
func New(origin string) *Authenticator {
	return &Authenticator{Origin: origin, UserVerified: true}
}

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01 // user present
	flagUV = 0x04 // user verified
	flagAT = 0x40 // attested credential data included
)

// algES256 is the COSE algorithm identifier of ECDSA P-256 with SHA-256.
const algES256 = -7

// Create answers navigator.credentials.create. options is the JSON the
// server sent: the go-webauthn protocol.CredentialCreation shape
// {"publicKey": {...}}, or the bare PublicKeyCredentialCreationOptions.
// It returns the JSON of the PublicKeyCredential a browser would send back:
//
//	{"id", "rawId", "type": "public-key",
//	 "response": {"clientDataJSON", "attestationObject", "authenticatorData",
//	              "publicKey", "publicKeyAlgorithm": -7, "transports": ["internal"]},
//	 "authenticatorAttachment": "platform", "clientExtensionResults": {}}
//
// with binary fields in base64url without padding. An empty pubKeyCredParams
// means ES256 and RS256, as in a browser. Create refuses with ErrSecurity
// when rp.id is neither Origin's host nor a registrable suffix of it, with
// ErrInvalidState when excludeCredentials names a credential it holds for
// the RP, and with ErrNotSupported when no pubKeyCredParams entry is ES256.
// Without rp.id, the RP ID is Origin's host.
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var opts creationOptions
	if err := decodeOptions(options, &opts); err != nil {
		return nil, fmt.Errorf("webauthntest: create: options: %w", err)
	}
	if len(opts.Challenge) == 0 {
		return nil, errors.New("webauthntest: create: options have no challenge")
	}
	if n := len(opts.User.ID); n == 0 || n > 64 {
		return nil, fmt.Errorf("webauthntest: create: user.id is %d bytes, want 1 to 64", n)
	}
	rpID, err := a.rpID(opts.RP.ID)
	if err != nil {
		return nil, fmt.Errorf("webauthntest: create: %w", err)
	}
	if !supportsES256(opts.PubKeyCredParams) {
		return nil, fmt.Errorf("webauthntest: create: %w: no pubKeyCredParams entry is ES256 (-7)", ErrNotSupported)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("webauthntest: create: %w", err)
	}
	c := &credential{
		id:         make([]byte, 32),
		key:        key,
		rpID:       rpID,
		userHandle: slices.Clone([]byte(opts.User.ID)),
	}
	rand.Read(c.id)

	cose, err := coseKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("webauthntest: create: %w", err)
	}
	// attestedCredentialData: AAGUID (zero), credential id length, id, key.
	attested := make([]byte, 16, 16+2+len(c.id)+len(cose))
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(c.id))) // #nosec G115 -- the id is 32 bytes, made above
	attested = append(attested, c.id...)
	attested = append(attested, cose...)
	authData := a.authenticatorData(rpID, flagAT, 0, attested)

	attestationObject, err := ctap2Marshal(map[string]any{
		"fmt":      "none",
		"attStmt":  map[string]any{},
		"authData": authData,
	})
	if err != nil {
		return nil, fmt.Errorf("webauthntest: create: %w", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("webauthntest: create: %w", err)
	}
	clientData, err := a.clientDataJSON("webauthn.create", opts.Challenge)
	if err != nil {
		return nil, fmt.Errorf("webauthntest: create: %w", err)
	}

	a.mu.Lock()
	for _, d := range opts.ExcludeCredentials {
		if d.Type != "public-key" {
			continue
		}
		if a.find(rpID, d.ID) != nil {
			a.mu.Unlock()
			return nil, fmt.Errorf("webauthntest: create: %w: the authenticator holds excluded credential %s",
				ErrInvalidState, b64url(d.ID))
		}
	}
	a.credentials = append(a.credentials, c)
	a.mu.Unlock()

	return json.Marshal(attestationJSON{
		ID:    b64url(c.id),
		RawID: b64url(c.id),
		Type:  "public-key",
		Response: attestationResponseJSON{
			ClientDataJSON:     b64url(clientData),
			AttestationObject:  b64url(attestationObject),
			AuthenticatorData:  b64url(authData),
			PublicKey:          b64url(spki),
			PublicKeyAlgorithm: algES256,
			Transports:         []string{"internal"},
		},
		AuthenticatorAttachment: "platform",
	})
}

// Get answers navigator.credentials.get. options is the JSON the server
// sent: the go-webauthn protocol.CredentialAssertion shape
// {"publicKey": {...}}, or the bare PublicKeyCredentialRequestOptions.
// With allowCredentials, Get uses the newest credential it holds for rpId
// among those listed; without (a discoverable login), the newest it holds
// for rpId. Without rpId, the RP ID is Origin's host. Each use adds one to
// the credential's signature counter. It returns the assertion JSON:
//
//	{"id", "rawId", "type": "public-key",
//	 "response": {"clientDataJSON", "authenticatorData", "signature", "userHandle"},
//	 "authenticatorAttachment": "platform", "clientExtensionResults": {}}
//
// It refuses with ErrNotAllowed when it holds no usable credential, and
// with ErrSecurity when rpId is neither Origin's host nor a registrable
// suffix of it.
func (a *Authenticator) Get(options []byte) ([]byte, error) {
	var opts requestOptions
	if err := decodeOptions(options, &opts); err != nil {
		return nil, fmt.Errorf("webauthntest: get: options: %w", err)
	}
	if len(opts.Challenge) == 0 {
		return nil, errors.New("webauthntest: get: options have no challenge")
	}
	rpID, err := a.rpID(opts.RPID)
	if err != nil {
		return nil, fmt.Errorf("webauthntest: get: %w", err)
	}
	clientData, err := a.clientDataJSON("webauthn.get", opts.Challenge)
	if err != nil {
		return nil, fmt.Errorf("webauthntest: get: %w", err)
	}

	a.mu.Lock()
	c := a.pick(rpID, opts.AllowCredentials)
	if c == nil {
		a.mu.Unlock()
		return nil, fmt.Errorf("webauthntest: get: %w: no credential for RP ID %q", ErrNotAllowed, rpID)
	}
	c.signCount++
	signCount := c.signCount
	a.mu.Unlock()

	authData := a.authenticatorData(rpID, 0, signCount, nil)
	clientDataHash := sha256.Sum256(clientData)
	digest := sha256.Sum256(slices.Concat(authData, clientDataHash[:]))
	signature, err := ecdsa.SignASN1(rand.Reader, c.key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("webauthntest: get: %w", err)
	}

	return json.Marshal(assertionJSON{
		ID:    b64url(c.id),
		RawID: b64url(c.id),
		Type:  "public-key",
		Response: assertionResponseJSON{
			ClientDataJSON:    b64url(clientData),
			AuthenticatorData: b64url(authData),
			Signature:         b64url(signature),
			UserHandle:        b64url(c.userHandle),
		},
		AuthenticatorAttachment: "platform",
	})
}

// CredentialIDs returns the ids of the credentials a holds, oldest first.
// The slices are copies.
func (a *Authenticator) CredentialIDs() [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([][]byte, len(a.credentials))
	for i, c := range a.credentials {
		ids[i] = slices.Clone(c.id)
	}
	return ids
}

// find returns the credential with id held for rpID, or nil. The caller
// holds a.mu.
func (a *Authenticator) find(rpID string, id []byte) *credential {
	for _, c := range a.credentials {
		if strings.EqualFold(c.rpID, rpID) && bytes.Equal(c.id, id) {
			return c
		}
	}
	return nil
}

// pick returns the newest credential held for rpID that allow lists, or
// the newest held for rpID when allow is empty; nil when there is none.
// The caller holds a.mu.
func (a *Authenticator) pick(rpID string, allow []descriptor) *credential {
	for _, c := range slices.Backward(a.credentials) {
		if !strings.EqualFold(c.rpID, rpID) {
			continue
		}
		if len(allow) == 0 || slices.ContainsFunc(allow, func(d descriptor) bool {
			return d.Type == "public-key" && bytes.Equal(d.ID, c.id)
		}) {
			return c
		}
	}
	return nil
}

// rpID returns the RP ID to use: requested, or Origin's host when
// requested is empty. Like a browser, it refuses an RP ID that is neither
// the host nor a suffix of it on a label boundary. Without the public
// suffix list it cannot refuse every public suffix; it refuses a
// single-label suffix ("com") and any suffix of an IP address.
func (a *Authenticator) rpID(requested string) (string, error) {
	u, err := url.Parse(a.Origin)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" {
		return "", fmt.Errorf("the Origin %q is not an http or https origin", a.Origin)
	}
	host := strings.ToLower(u.Hostname())
	if requested == "" {
		return host, nil
	}
	rp := strings.ToLower(requested)
	if rp == host {
		return requested, nil
	}
	if net.ParseIP(host) == nil && strings.Contains(rp, ".") && strings.HasSuffix(host, "."+rp) {
		return requested, nil
	}
	return "", fmt.Errorf("%w: RP ID %q is not %q or a registrable suffix of it", ErrSecurity, requested, host)
}

// authenticatorData encodes WebAuthn §6.1 authenticator data: the RP ID
// hash, the flags (UP always, UV when a.UserVerified, plus extra), the
// signature counter and attested, the attested credential data or nil.
func (a *Authenticator) authenticatorData(rpID string, extra byte, signCount uint32, attested []byte) []byte {
	flags := flagUP | extra
	if a.UserVerified {
		flags |= flagUV
	}
	rpIDHash := sha256.Sum256([]byte(rpID))
	data := make([]byte, 0, 32+1+4+len(attested))
	data = append(data, rpIDHash[:]...)
	data = append(data, flags)
	data = binary.BigEndian.AppendUint32(data, signCount)
	return append(data, attested...)
}

// clientDataJSON encodes the CollectedClientData of a ceremony of typ for
// challenge, with its members in the order browsers write them.
func (a *Authenticator) clientDataJSON(typ string, challenge []byte) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, b64url(challenge), a.Origin, false})
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// coseKey encodes pub as a COSE_Key: an EC2 key (kty 2) for ES256 (alg
// -7) on P-256 (crv 1), in CTAP2 canonical CBOR.
func coseKey(pub *ecdsa.PublicKey) ([]byte, error) {
	point, err := pub.Bytes() // 0x04 || x || y, each 32 bytes
	if err != nil {
		return nil, err
	}
	return ctap2Marshal(map[int]any{
		1:  2,        // kty: EC2
		3:  algES256, // alg: ES256
		-1: 1,        // crv: P-256
		-2: point[1:33],
		-3: point[33:65],
	})
}

// ctap2Marshal encodes v in the CTAP2 canonical CBOR form.
func ctap2Marshal(v any) ([]byte, error) {
	mode, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	return mode.Marshal(v)
}

// supportsES256 reports whether params allow ES256; an empty list means
// ES256 and RS256 (WebAuthn §5.1.3 step 10).
func supportsES256(params []credentialParameter) bool {
	if len(params) == 0 {
		return true
	}
	return slices.Contains(params, credentialParameter{Type: "public-key", Alg: algES256})
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
