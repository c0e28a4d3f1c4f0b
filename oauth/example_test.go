package oauth_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"net/http"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/oauth"
)

// A login with an OpenID Connect provider, in two requests: Authorize
// answers the "log in with…" click, Callback the provider's redirect back.
// (The routes of package httpapi do this for FastAPI Users' paths.)
func ExampleFlow() {
	ctx := context.Background()
	provider, err := oauth.NewGoogle(ctx, oauth.OIDCConfig{
		ClientID:     "1234.apps.googleusercontent.com",
		ClientSecret: "the client secret",
	})
	if err != nil {
		log.Fatal(err)
	}
	stateKey, flowKey := make([]byte, 32), make([]byte, 32)
	rand.Read(stateKey) // a server derives both from its secret
	rand.Read(flowKey)
	signer, err := jwt.NewSigner(stateKey)
	if err != nil {
		log.Fatal(err)
	}
	flow := &oauth.Flow{Provider: provider, Signer: signer, Key: flowKey}
	const callback = "https://app.example/auth/google/callback"
	mux := http.NewServeMux()

	mux.HandleFunc("GET /auth/google/authorize", func(w http.ResponseWriter, r *http.Request) {
		authURL, csrf, err := flow.Authorize(callback, nil, gatehouse.ID{}, "")
		if err != nil {
			gatehouse.WriteError(w, err)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "fastapiusersoauthcsrf", Value: csrf, Path: "/",
			MaxAge: 3600, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, authURL, http.StatusFound)
	})
	mux.HandleFunc("GET /auth/google/callback", func(w http.ResponseWriter, r *http.Request) {
		var csrf string
		if c, err := r.Cookie("fastapiusersoauthcsrf"); err == nil {
			csrf = c.Value
		}
		q := r.URL.Query()
		id, _, err := flow.Callback(r.Context(), callback, q.Get("code"), q.Get("state"), csrf, gatehouse.ID{})
		if err != nil {
			gatehouse.WriteError(w, err) // 400 with the contract's code, or 502
			return
		}
		// Find or create the user of (provider, id.AccountID); trust
		// id.Email for linking only when id.EmailVerified.
		fmt.Fprintln(w, "hello", id.Email)
	})
	log.Fatal(http.ListenAndServe(":8080", mux))
}
