package webauthntest

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// The JSON the server sends: WebAuthn §5.1.9 PublicKeyCredentialCreationOptionsJSON
// and §5.1.10 PublicKeyCredentialRequestOptionsJSON, the members this
// authenticator reads.

type creationOptions struct {
	RP struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID base64URL `json:"id"`
	} `json:"user"`
	Challenge          base64URL             `json:"challenge"`
	PubKeyCredParams   []credentialParameter `json:"pubKeyCredParams"`
	ExcludeCredentials []descriptor          `json:"excludeCredentials"`
}

type requestOptions struct {
	Challenge        base64URL    `json:"challenge"`
	RPID             string       `json:"rpId"`
	AllowCredentials []descriptor `json:"allowCredentials"`
}

type credentialParameter struct {
	Type string `json:"type"`
	Alg  int64  `json:"alg"`
}

type descriptor struct {
	Type string    `json:"type"`
	ID   base64URL `json:"id"`
}

// base64URL is a byte string sent as base64url; padding is tolerated.
type base64URL []byte

func (b *base64URL) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	v, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// decodeOptions decodes options, unwrapped from {"publicKey": ...} when
// so wrapped, into v.
func decodeOptions(options []byte, v any) error {
	var wrapper struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &wrapper); err != nil {
		return err
	}
	if len(wrapper.PublicKey) > 0 && string(wrapper.PublicKey) != "null" {
		options = wrapper.PublicKey
	}
	return json.Unmarshal(options, v)
}

// The JSON the browser sends back: WebAuthn §5.1 RegistrationResponseJSON
// and AuthenticationResponseJSON, binary members in base64url without
// padding.

type attestationJSON struct {
	ID                      string                  `json:"id"`
	RawID                   string                  `json:"rawId"`
	Type                    string                  `json:"type"`
	Response                attestationResponseJSON `json:"response"`
	AuthenticatorAttachment string                  `json:"authenticatorAttachment"`
	ClientExtensionResults  struct{}                `json:"clientExtensionResults"`
}

type attestationResponseJSON struct {
	ClientDataJSON     string   `json:"clientDataJSON"`
	AttestationObject  string   `json:"attestationObject"`
	AuthenticatorData  string   `json:"authenticatorData"`
	PublicKey          string   `json:"publicKey"`
	PublicKeyAlgorithm int64    `json:"publicKeyAlgorithm"`
	Transports         []string `json:"transports"`
}

type assertionJSON struct {
	ID                      string                `json:"id"`
	RawID                   string                `json:"rawId"`
	Type                    string                `json:"type"`
	Response                assertionResponseJSON `json:"response"`
	AuthenticatorAttachment string                `json:"authenticatorAttachment"`
	ClientExtensionResults  struct{}              `json:"clientExtensionResults"`
}

type assertionResponseJSON struct {
	ClientDataJSON    string `json:"clientDataJSON"`
	AuthenticatorData string `json:"authenticatorData"`
	Signature         string `json:"signature"`
	UserHandle        string `json:"userHandle"`
}
