package mail_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/mail"
)

func ExampleTemplates() {
	// The embedded defaults; LoadTemplates("/etc/gatehouse/mail") would
	// take verify.txt, verify.html, reset.txt or reset.html from there.
	tpl, err := mail.LoadTemplates("")
	if err != nil {
		panic(err)
	}
	tpl.AppName = "Acme"
	m, err := tpl.Reset("ada@example.com", "https://auth.example.com/reset-password?token=abc", 30*time.Minute)
	if err != nil {
		panic(err)
	}
	fmt.Println("To:", m.To)
	fmt.Println("Subject:", m.Subject)
	body, signature, _ := strings.Cut(m.Text, "\n-- \n")
	fmt.Println(body)
	fmt.Print("Signature: ", signature)
	// Output:
	// To: ada@example.com
	// Subject: Reset your Acme password
	// Hello,
	//
	// someone asked to reset the password of the Acme account ada@example.com.
	// To choose a new password, open this link:
	//
	// https://auth.example.com/reset-password?token=abc
	//
	// The link expires in 30 minutes and works once. If you did not ask for
	// it, ignore this mail: your password stays as it is.
	//
	// Signature: Acme
}

// printer stands in for an SMTP mailer.
type printer struct{}

func (printer) Send(_ context.Context, m gatehouse.Message) error {
	link := m.Text[strings.Index(m.Text, "https://"):]
	fmt.Printf("to %s: %s\n%s\n", m.To, m.Subject, link[:strings.IndexByte(link, '\n')])
	return nil
}

func ExampleNewQueue() {
	// In a server: smtp, err := mail.NewSMTP("smtps://user:pass@mail.example.com", "Acme <noreply@example.com>")
	q := mail.NewQueue(printer{}, mail.QueueOptions{})
	hooks := mail.Hooks{
		Mailer:    q, // requests only enqueue
		PublicURL: "https://auth.example.com/",
		ResetTTL:  time.Hour,
	}
	var m gatehouse.Manager
	m.Hooks = hooks // the Manager's ForgotPassword calls AfterForgotPassword

	u := &gatehouse.User{Email: "ada@example.com"}
	if err := hooks.AfterForgotPassword(context.Background(), u, "a+b/c"); err != nil {
		panic(err)
	}
	// At shutdown, deliver what is queued.
	if err := q.Close(context.Background()); err != nil {
		panic(err)
	}
	// Output:
	// to ada@example.com: Reset your Gatehouse password
	// https://auth.example.com/reset-password?token=a%2Bb%2Fc
}
