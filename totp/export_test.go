package totp

// HOTP is the RFC 4226 core with a digit count, so tests can check it
// against RFC 6238's 8-digit vectors.
var HOTP = hotp
