package mail

import (
	"context"
	"net"
)

// SetDial makes s connect through dial, so a test can pose a local server
// as another host.
func SetDial(s *SMTP, dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	s.dial = dial
}

var (
	CheckCleartext = checkCleartext
	DefaultBackoff = defaultBackoff
	ExpiresIn      = expiresIn
)
