package gatehouse

import "context"

// Message is an e-mail: a text part and, optionally, an HTML alternative.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Mailer delivers e-mail. Implementations live in package mail: SMTP, a
// directory outbox and a log, and a queue that sends off the request path.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}
