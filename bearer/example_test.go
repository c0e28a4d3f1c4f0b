package bearer_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/bearer"
)

func ExampleTransport() {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tr := bearer.Transport{Now: func() time.Time { return now }} // the zero value uses time.Now

	// Login: the token goes back in the body.
	rec := httptest.NewRecorder()
	tr.WriteLogin(rec, httptest.NewRequest(http.MethodPost, "/auth/jwt/login", nil),
		gatehouse.Token{AccessToken: "eyJ.eyJ.sig", Expiry: now.Add(15 * time.Minute)})
	fmt.Println(rec.Code, rec.Body)

	// Later requests carry it in the Authorization header.
	r := httptest.NewRequest(http.MethodGet, "/users/me", nil)
	r.Header.Set("Authorization", "Bearer eyJ.eyJ.sig")
	fmt.Println(tr.Credential(r))

	r.Header.Set("Authorization", "Bearer two tokens")
	fmt.Println(tr.Credential(r))
	// Output:
	// 200 {"access_token":"eyJ.eyJ.sig","token_type":"bearer","expires_in":900}
	// eyJ.eyJ.sig true
	//  false
}
