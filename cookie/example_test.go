package cookie_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/cookie"
)

func ExampleNew() {
	tr, err := cookie.New(cookie.Config{Name: "__Host-gatehouse", MaxAge: time.Hour})
	if err != nil {
		panic(err)
	}

	// Login: 204, the token only in the cookie.
	rec := httptest.NewRecorder()
	tr.WriteLogin(rec, httptest.NewRequest(http.MethodPost, "/auth/cookie/login", nil),
		gatehouse.Token{AccessToken: "eyJ.eyJ.sig"})
	fmt.Println(rec.Code, rec.Header().Get("Set-Cookie"))

	// Later requests carry it in the Cookie header.
	r := httptest.NewRequest(http.MethodGet, "/users/me", nil)
	r.Header.Set("Cookie", "theme=dark; __Host-gatehouse=eyJ.eyJ.sig")
	fmt.Println(tr.Credential(r))

	// Twice is ambiguous: no token at all.
	r.Header.Set("Cookie", "__Host-gatehouse=eyJ.eyJ.sig; __Host-gatehouse=planted")
	fmt.Println(tr.Credential(r))

	// Logout clears it.
	rec = httptest.NewRecorder()
	tr.WriteLogout(rec, httptest.NewRequest(http.MethodPost, "/auth/cookie/logout", nil))
	fmt.Println(rec.Code, rec.Header().Get("Set-Cookie"))

	// Configurations browsers would reject are refused.
	_, err = cookie.New(cookie.Config{Name: "__Host-gatehouse", Domain: "example.com"})
	fmt.Println(err)
	// Output:
	// 204 __Host-gatehouse=eyJ.eyJ.sig; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Lax
	// eyJ.eyJ.sig true
	//  false
	// 204 __Host-gatehouse=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax
	// cookie: a "__Host-gatehouse" cookie must be Secure, have Path "/" and no Domain
}
