// Package ratelimit throttles password guessing and other abusable
// requests: Memory, a gatehouse.Limiter for a single instance (redis.Limiter
// is the shared one), and Policy, the throttling rules of one kind of
// request, keyed by client address and account.
//
// # The login rules and their bound
//
// LoginRules applies three GCRA limits to each login attempt, in this
// order; the first that refuses stops the count (nothing after it is
// spent), and the answer's RetryAfter is the longest wait among the rules
// that refuse:
//
//	IP       every attempt from one client (an IPv6 /64)   20 a minute, 40 at once
//	Pair     attempts on one account from one client        10 at once, then 1 per 5 minutes
//	Account  attempts on one account from clients not       10 at once, then 1 per 15 minutes
//	         trusted for it
//
// A client becomes trusted for an account for 30 days when the HTTP layer
// reports a success from it ([Policy.Succeeded]: a login, or a completed
// password reset, which proves the owner). Trusted clients skip the
// Account rule: an attacker guessing one account's password from any
// number of addresses slows the account down for strangers, never for its
// owner at home. Success resets the Pair rule (NIST SP 800-63B §3.2.2:
// earlier failures are disregarded) but not the Account rule, which the
// attacker shares: resetting it would hand the attacker a fresh burst each
// time the owner logs in.
//
// What that bounds:
//
//   - Guesses at one account from addresses not trusted for it, however
//     many: at most 10 + 4 per hour (at most 14 in any hour; 106 in the
//     first day, 96 a day after), within ASVS 4 §2.2.1's 100 failures an
//     hour and NIST's 100 consecutive failures. Attempts on unknown
//     accounts are counted alike, so throttling reveals nothing.
//   - From an address trusted for the account (the owner's own, or one the
//     owner shares behind NAT), the Pair rule: at most 10 + 12 per hour,
//     298 in the first day, 288 a day after.
//   - The owner at a trusted address waits only for their own mistakes:
//     after 10 failures in a row, at most 5 minutes per attempt.
//   - The owner at a new address while an attacker keeps the account
//     throttled is refused like the attacker (nothing tells them apart),
//     each answer saying to retry within 15 minutes; resetting the
//     password, which these rules do not throttle, trusts the address at
//     once.
//
// A denied attempt is refused before its password is checked, whatever
// the password, so a throttled attacker learns nothing.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/clientip"
)

// Rules are the limits of one kind of request. A zero Rate turns its rule
// off.
type Rules struct {
	// IP limits every request from one client (clientip.Group), whatever
	// the account: credential stuffing across many accounts.
	IP gatehouse.Rate
	// Pair limits requests for one account from one client. Succeeded
	// resets it.
	Pair gatehouse.Rate
	// Account limits requests for one account from every client not
	// trusted for it.
	Account gatehouse.Rate
	// TrustFor is how long a client stays trusted for an account after
	// Succeeded: exempt from the Account rule. Zero trusts nobody.
	TrustFor time.Duration
}

// LoginRules are the rules of password logins, whose bound the package
// documentation works out.
func LoginRules() Rules {
	return Rules{
		IP:       gatehouse.Rate{Limit: 20, Period: time.Minute, Burst: 40},
		Pair:     gatehouse.Rate{Limit: 12, Period: time.Hour, Burst: 10},
		Account:  gatehouse.Rate{Limit: 4, Period: time.Hour, Burst: 10},
		TrustFor: 30 * 24 * time.Hour,
	}
}

// ForgotPasswordRules are the rules of password reset requests (checklist
// 84): a client may ask 10 at once, then 5 a minute; one address gets at
// most 3 mails at once, then one every 20 minutes, however many clients
// ask. Nobody is trusted: Succeeded is never called for these requests.
// An attacker spending an account's allowance does not keep its owner
// from resetting: the mails it triggers reach the owner, and their links
// work.
func ForgotPasswordRules() Rules {
	return Rules{
		IP:      gatehouse.Rate{Limit: 5, Period: time.Minute, Burst: 10},
		Account: gatehouse.Rate{Limit: 3, Period: time.Hour, Burst: 3},
	}
}

// Policy applies Rules through a Limiter. It is safe for concurrent use if
// the Limiter is.
type Policy struct {
	limiter gatehouse.Limiter
	name    string
	rules   Rules
	trust   gatehouse.Rate // one event per TrustFor: taken means trusted
}

// NewPolicy returns the Policy of rules on l. name separates the keys of
// policies sharing l, such as "login" and "forgot". It panics on a nil
// Limiter, an empty name, no rule at all or an invalid rate: a setting,
// checked once at start, not on every request.
func NewPolicy(l gatehouse.Limiter, name string, rules Rules) *Policy {
	if l == nil || name == "" {
		panic("ratelimit: NewPolicy needs a Limiter and a name")
	}
	if rules.IP == (gatehouse.Rate{}) && rules.Pair == (gatehouse.Rate{}) && rules.Account == (gatehouse.Rate{}) {
		panic("ratelimit: NewPolicy needs at least one rule")
	}
	for _, r := range []gatehouse.Rate{rules.IP, rules.Pair, rules.Account} {
		if r == (gatehouse.Rate{}) {
			continue
		}
		if err := r.Validate(); err != nil {
			panic("ratelimit: " + err.Error())
		}
	}
	p := &Policy{limiter: l, name: name, rules: rules}
	if rules.TrustFor < 0 {
		panic("ratelimit: TrustFor must not be negative")
	}
	if rules.TrustFor > 0 {
		p.trust = gatehouse.Rate{Limit: 1, Period: rules.TrustFor, Burst: 1}
		if err := p.trust.Validate(); err != nil {
			panic("ratelimit: TrustFor: " + err.Error())
		}
	}
	return p
}

// rule is one limit applied to one key.
type rule struct {
	key  string
	rate gatehouse.Rate
}

// Check counts a request from ip for account and decides whether it may
// proceed. account is the name the client gave (an e-mail address),
// whether or not it exists; it is compared case-insensitively and kept
// only as a hash. A zero ip (an unknown address) counts as one shared
// client.
//
// Every request the rules allow is counted as a failure until Succeeded
// says otherwise, so that parallel attempts cannot pass between a check
// and the failure it would record. A denied request is counted by the
// rules before the one that denied it only. Its RetryAfter is the longest
// wait among the rules that would deny it.
//
// An error means the limiter could not decide: the caller refuses the
// request (503), never lets it through.
func (p *Policy) Check(ctx context.Context, ip netip.Addr, account string) (gatehouse.Decision, error) {
	rules, err := p.applicable(ctx, ip, account)
	if err != nil {
		return gatehouse.Decision{}, err
	}
	allowed := gatehouse.Decision{Allowed: true, Remaining: math.MaxInt}
	for i, r := range rules {
		d, err := p.limiter.Allow(ctx, r.key, r.rate)
		if err != nil {
			return gatehouse.Decision{}, err
		}
		if !d.Allowed {
			return p.denied(ctx, d, rules[i+1:])
		}
		allowed.Remaining = min(allowed.Remaining, d.Remaining)
	}
	return allowed, nil
}

// denied lengthens d's RetryAfter to that of the rules not yet counted.
func (p *Policy) denied(ctx context.Context, d gatehouse.Decision, rest []rule) (gatehouse.Decision, error) {
	for _, r := range rest {
		pd, err := p.limiter.Peek(ctx, r.key, r.rate)
		if err != nil {
			return gatehouse.Decision{}, err
		}
		if !pd.Allowed {
			d.RetryAfter = max(d.RetryAfter, pd.RetryAfter)
		}
	}
	return d, nil
}

// applicable lists the rules a request from ip for account is counted by,
// in order.
func (p *Policy) applicable(ctx context.Context, ip netip.Addr, account string) ([]rule, error) {
	client, acct := clientKey(ip), accountKey(account)
	rules := make([]rule, 0, 3)
	if p.rules.IP != (gatehouse.Rate{}) {
		rules = append(rules, rule{p.name + ":ip:" + client, p.rules.IP})
	}
	if p.rules.Pair != (gatehouse.Rate{}) {
		rules = append(rules, rule{p.name + ":pair:" + acct + ":" + client, p.rules.Pair})
	}
	if p.rules.Account != (gatehouse.Rate{}) {
		trusted := false
		if p.rules.TrustFor > 0 {
			d, err := p.limiter.Peek(ctx, p.trustKey(acct, client), p.trust)
			if err != nil {
				return nil, err
			}
			trusted = !d.Allowed
		}
		if !trusted {
			rules = append(rules, rule{p.name + ":account:" + acct, p.rules.Account})
		}
	}
	return rules, nil
}

// Succeeded records that a request from ip proved it belongs to account's
// owner: a login with the right password, or a completed password reset.
// It resets the Pair rule and, with TrustFor, trusts ip for account. The
// Account rule is left alone (see the package documentation).
func (p *Policy) Succeeded(ctx context.Context, ip netip.Addr, account string) error {
	client, acct := clientKey(ip), accountKey(account)
	if p.rules.Pair != (gatehouse.Rate{}) {
		if err := p.limiter.Reset(ctx, p.name+":pair:"+acct+":"+client); err != nil {
			return err
		}
	}
	if p.rules.TrustFor == 0 {
		return nil
	}
	// Trust is a key whose single event per TrustFor has been taken.
	// Resetting first starts the TrustFor afresh at each success.
	key := p.trustKey(acct, client)
	if err := p.limiter.Reset(ctx, key); err != nil {
		return err
	}
	_, err := p.limiter.Allow(ctx, key, p.trust)
	return err
}

func (p *Policy) trustKey(acct, client string) string {
	return p.name + ":trusted:" + acct + ":" + client
}

// clientKey names ip's group, or "unknown".
func clientKey(ip netip.Addr) string {
	if g := clientip.Group(ip); g.IsValid() {
		return g.String()
	}
	return "unknown"
}

// accountKey is a hash of the account name: keys stay short whatever the
// client sends, and the limiter's store holds no address in clear (a dump
// still confirms a guessed address). Case is folded so that "Victim@x"
// and "victim@x" share their limits.
func accountKey(account string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(account))))
	return hex.EncodeToString(sum[:16])
}
