package httpapi

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// specialUseTLDs are the special-use domain names (RFC 6761 and kin) that
// pydantic's EmailStr refuses; example.com stays allowed.
var specialUseTLDs = map[string]bool{
	"arpa": true, "invalid": true, "local": true, "localhost": true, "onion": true, "test": true,
}

// normalizeEmail validates an e-mail address as pydantic's EmailStr does
// (email-validator without deliverability checks) and returns its normal
// form (or why it is not one): surrounding spaces removed, the "Name <addr>" form reduced to addr,
// the domain lower-cased, the local part kept as given.
func normalizeEmail(s string) (addr, problem string) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 && strings.HasSuffix(s, ">") {
		s = strings.TrimSpace(s[i+1 : len(s)-1])
	}
	if !utf8.ValidString(s) {
		return "", "The email address contains invalid characters."
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == 0xFEFF {
			return "", "The email address contains invalid characters."
		}
	}
	at := strings.Count(s, "@")
	if at != 1 {
		return "", "The email address is not valid. It must have exactly one @-sign."
	}
	local, domain, _ := strings.Cut(s, "@")
	switch {
	case local == "":
		return "", "There must be something before the @-sign."
	case domain == "":
		return "", "There must be something after the @-sign."
	case len(local) > 64:
		return "", "The email address is too long before the @-sign."
	}
	if problem := checkLocal(local); problem != "" {
		return "", problem
	}
	domain = strings.ToLower(domain)
	if problem := checkDomain(domain); problem != "" {
		return "", problem
	}
	addr = local + "@" + domain
	if len(addr) > 254 {
		return "", "The email address is too long."
	}
	return addr, ""
}

// checkLocal accepts a dot-atom of RFC 5322 atext, plus non-ASCII letters
// as SMTPUTF8 allows; quoted local parts are refused, as email-validator
// does by default.
func checkLocal(local string) string {
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "The email address has a misplaced period before the @-sign."
	}
	for _, r := range local {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r):
		case r >= 0x80 && (unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r)):
		default:
			return "The email address contains invalid characters before the @-sign."
		}
	}
	return ""
}

func checkDomain(domain string) string {
	if strings.HasPrefix(domain, "[") {
		return "A bracketed IP address after the @-sign is not allowed here."
	}
	if len(domain) > 253 {
		return "The email address is too long after the @-sign."
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return "The part after the @-sign is not valid. It should have a period."
	}
	for _, l := range labels {
		if l == "" {
			return "An email address cannot have two periods in a row or a period at the end."
		}
		if len(l) > 63 {
			return "After the @-sign, periods cannot be separated by so many characters."
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "An email address cannot have a hyphen immediately after the @-sign or a period."
		}
		for _, r := range l {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			case r >= 0x80 && (unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r)):
			default:
				return "The part after the @-sign contains invalid characters."
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return "The part after the @-sign is not valid. It is not within a valid top-level domain."
	}
	if specialUseTLDs[tld] {
		return "The part after the @-sign is a special-use or reserved name that cannot be used with email."
	}
	return ""
}
