package gatehouse

import "time"

// Signer makes and checks the signed, short-lived tokens of the account
// flows (e-mail verification, password reset). Each flow uses its own
// audience, so one flow's token is worthless to another.
type Signer interface {
	// Sign returns a token holding claims (and aud, exp) valid for ttl.
	Sign(audience string, claims map[string]string, ttl time.Duration) (string, error)
	// Parse checks a token's signature, audience and expiry and returns its
	// string claims. An expired token is an error with
	// CodeAccessTokenAlreadyExpired; any other bad token one with
	// CodeAccessTokenDecodeError.
	Parse(token, audience string) (map[string]string, error)
}

// Audiences of the account-flow tokens, as in FastAPI Users.
const (
	AudienceVerify = "fastapi-users:verify"
	AudienceReset  = "fastapi-users:reset"
)
