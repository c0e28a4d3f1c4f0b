package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/webhook"
)

func ExampleVerify() {
	secret := []byte("a shared secret of at least 32 bytes")

	// The receiver checks every delivery before trusting it.
	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		err = webhook.Verify(secret, r.Header.Get("X-Gatehouse-Timestamp"),
			r.Header.Get("X-Gatehouse-Signature"), body, time.Now(), 5*time.Minute)
		if err != nil {
			fmt.Println("rejected:", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev struct {
			Event string
			User  struct{ Email string }
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		fmt.Println(ev.Event, ev.User.Email)
		w.WriteHeader(http.StatusNoContent) // any 2xx: delivered
	})
	srv := httptest.NewServer(receiver)
	defer srv.Close()

	// Gatehouse's side: hooks that post to the receiver (https in
	// production; http is accepted on loopback).
	hooks, err := webhook.New(webhook.Config{URL: srv.URL, Secret: secret})
	if err != nil {
		log.Fatal(err)
	}
	m := &gatehouse.Manager{Hooks: hooks /* , Users, Hasher... */}
	m.LoggedIn(context.Background(), &gatehouse.User{ID: gatehouse.NewID(), Email: "alice@example.com", IsActive: true})
	if err := hooks.Close(context.Background()); err != nil { // delivers what is queued
		log.Fatal(err)
	}

	// A forged delivery is refused.
	forged := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"event":"user.deleted"}`))
	forged.Header.Set("X-Gatehouse-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	forged.Header.Set("X-Gatehouse-Signature", "v1="+strings.Repeat("00", 32))
	rec := httptest.NewRecorder()
	receiver.ServeHTTP(rec, forged)
	fmt.Println(rec.Code)
	// Output:
	// user.logged_in alice@example.com
	// rejected: webhook: signature mismatch
	// 401
}
