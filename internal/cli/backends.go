package cli

import (
	"fmt"
	"slices"
	"strings"
)

// backendSpec is one NAME=TRANSPORT+STRATEGY entry of --backends.
type backendSpec struct {
	Name      string
	Transport string
	Strategy  string
}

func (b backendSpec) String() string { return b.Name + "=" + b.Transport + "+" + b.Strategy }

// The transports and strategies this server can build. Transports: bearer
// (the Authorization header, login answered as JSON) and cookie (the access
// cookie configured by the --cookie-* settings, the same for every cookie
// backend, and a refresh cookie scoped to the backend's /auth/NAME/ routes).
// Strategies: jwt (signed access tokens), database (opaque tokens in the SQL
// database) and redis (opaque tokens in Redis; needs --redis-url).
var (
	supportedTransports = []string{"bearer", "cookie"}
	supportedStrategies = []string{"jwt", "database", "redis"}
)

// apiKeyBackend is the name of the API key backend, which the server
// always adds after the --backends ones; no entry may take it. It has no
// login, logout or refresh routes: keys are made through the API key
// routes.
const apiKeyBackend = "apikey"

// defaultBackends is the default of --backends.
const defaultBackends = "jwt=bearer+jwt,cookie=cookie+jwt"

// maxBackendName bounds a backend name, which becomes a path segment.
const maxBackendName = 64

// parseBackends parses a comma list of NAME=TRANSPORT+STRATEGY strictly: no
// spaces, no empty entries, names of [a-z0-9_-] that are unique, and only
// supported transports and strategies; the name apikey is reserved.
func parseBackends(s string) ([]backendSpec, error) {
	if s == "" {
		return nil, fmt.Errorf("no backends; want NAME=TRANSPORT+STRATEGY[,...], as in %s", defaultBackends)
	}
	var specs []backendSpec
	seen := make(map[string]bool)
	for i, entry := range strings.Split(s, ",") {
		name, pair, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("entry %d %q: want NAME=TRANSPORT+STRATEGY", i+1, entry)
		}
		transport, strategy, ok := strings.Cut(pair, "+")
		if !ok {
			return nil, fmt.Errorf("entry %d %q: want NAME=TRANSPORT+STRATEGY", i+1, entry)
		}
		if !validBackendName(name) {
			return nil, fmt.Errorf("entry %d: backend name %q: want 1 to %d of a-z, 0-9, _ and -", i+1, name, maxBackendName)
		}
		if name == apiKeyBackend {
			return nil, fmt.Errorf("entry %d: backend name %q is reserved for the API key backend, which is always on (last); pick another name", i+1, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("backend name %q appears twice", name)
		}
		seen[name] = true
		if !slices.Contains(supportedTransports, transport) {
			return nil, fmt.Errorf("backend %q: unsupported transport %q; supported: %s", name, transport, strings.Join(supportedTransports, ", "))
		}
		if !slices.Contains(supportedStrategies, strategy) {
			return nil, fmt.Errorf("backend %q: unsupported strategy %q; supported: %s", name, strategy, strings.Join(supportedStrategies, ", "))
		}
		specs = append(specs, backendSpec{Name: name, Transport: transport, Strategy: strategy})
	}
	return specs, nil
}

func validBackendName(name string) bool {
	if name == "" || len(name) > maxBackendName {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// formatBackends is the inverse of parseBackends.
func formatBackends(specs []backendSpec) string {
	parts := make([]string, len(specs))
	for i, b := range specs {
		parts[i] = b.String()
	}
	return strings.Join(parts, ",")
}
