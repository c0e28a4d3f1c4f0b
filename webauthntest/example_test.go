package webauthntest_test

import (
	"encoding/json"
	"fmt"
	"log"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse/gatehouse/webauthntest"
)

// A test registers a passkey with a go-webauthn relying party, then logs
// in with it. The Authenticator stands in for the browser and the
// security key: it reads the options the server sends and answers with
// the JSON the browser would post back.
func Example() {
	rp, err := webauthn.New(&webauthn.Config{
		RPID:          "example.com",
		RPDisplayName: "Example",
		RPOrigins:     []string{"https://example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	alice := &user{id: []byte("alice's random handle"), name: "alice"}
	browser := webauthntest.New("https://example.com")

	// Registration: options from the server, an answer from the browser.
	creation, session, err := rp.BeginRegistration(alice)
	if err != nil {
		log.Fatal(err)
	}
	options, err := json.Marshal(creation)
	if err != nil {
		log.Fatal(err)
	}
	body, err := browser.Create(options)
	if err != nil {
		log.Fatal(err)
	}
	created, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		log.Fatal(err)
	}
	credential, err := rp.CreateCredential(alice, *session, created)
	if err != nil {
		log.Fatal(err)
	}
	alice.credentials = append(alice.credentials, *credential)
	fmt.Println("registered; the authenticator holds", len(browser.CredentialIDs()), "credential")

	// Login with that credential.
	assertion, session, err := rp.BeginLogin(alice)
	if err != nil {
		log.Fatal(err)
	}
	if options, err = json.Marshal(assertion); err != nil {
		log.Fatal(err)
	}
	if body, err = browser.Get(options); err != nil {
		log.Fatal(err)
	}
	asserted, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		log.Fatal(err)
	}
	if credential, err = rp.ValidateLogin(alice, *session, asserted); err != nil {
		log.Fatal(err)
	}
	fmt.Println("logged in; sign count", credential.Authenticator.SignCount)

	// Output:
	// registered; the authenticator holds 1 credential
	// logged in; sign count 1
}
