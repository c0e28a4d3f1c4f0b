// Package gatehouse is authentication and authorization for net/http programs.
//
// The root package holds the domain only: [User], the interfaces the rest of
// the module implements ([UserStore], [Transport], [Strategy], [Hasher],
// [Revocations]), the one error type [Error], the [Authenticator] that turns a
// request into a user, and the [Manager] that runs the account flows
// (register, log in, update, delete). It imports nothing but the standard
// library.
//
// Concrete pieces live in subpackages, one per dependency: sqlite and postgres
// store users, password hashes passwords, jwt issues and checks tokens, bearer
// carries them in the Authorization header, and httpapi serves the HTTP routes
// of FastAPI Users on top of all of them. cmd/gatehouse wires them into a
// server.
//
// A backend is a transport plus a strategy: the transport finds a token in a
// request and writes login and logout responses; the strategy makes tokens
// and turns them back into a user id. An [Authenticator] tries its backends in
// order and the first one that yields a user wins.
package gatehouse
