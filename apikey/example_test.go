package apikey_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gatehouse/gatehouse/apikey"
)

func ExampleGenerate() {
	key, prefix, hash := apikey.Generate()
	// Store prefix and hash (in a gatehouse.APIKey); show key to its owner
	// once, and never store it.
	fmt.Println(len(key), strings.HasPrefix(key, "ghk_"), prefix == key[:12], len(hash))

	// Parse checks the form and the checksum without a store, and gives
	// the hash the key is stored under.
	h, ok := apikey.Parse(key)
	fmt.Println(h == hash, ok)

	// A typo is caught by the checksum.
	typo := key[:20] + "?" + key[21:]
	_, ok = apikey.Parse(typo)
	fmt.Println(ok)
	// Output:
	// 53 true true 64
	// true true
	// false
}

func ExampleTransport() {
	key, _, _ := apikey.Generate()
	tr := apikey.Transport{} // X-API-Key header, no query parameter

	r := httptest.NewRequest(http.MethodGet, "/users/me", nil)
	r.Header.Set("X-API-Key", key)
	got, ok := tr.Credential(r)
	fmt.Println(got == key, ok)

	// A key in the URL as well is ambiguous: the request carries none.
	r = httptest.NewRequest(http.MethodGet, "/users/me?api_key="+key, nil)
	r.Header.Set("X-API-Key", key)
	fmt.Println(tr.Credential(r))
	// Output:
	// true true
	//  false
}
