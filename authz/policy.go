package authz

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/gatehouse/gatehouse"
)

// Decision is the answer of a policy: allow or deny, and why. The reason
// is for logs and for the services that ask; Guard never shows it to the
// client.
type Decision struct {
	Allow  bool
	Reason string

	// failed marks a deny that comes from an error (a panic, a nil policy,
	// a CEL runtime error) rather than from the policy's judgement: Not
	// keeps it a deny.
	failed bool
}

// Allow returns a decision that allows, for the given reason.
func Allow(reason string) Decision { return Decision{Allow: true, Reason: reason} }

// Deny returns a decision that denies, for the given reason.
func Deny(reason string) Decision { return Decision{Reason: reason} }

// failure returns a deny that Not cannot turn into an allow.
func failure(reason string) Decision { return Decision{Reason: reason, failed: true} }

// Policy decides whether subject s may perform action on resource. R is
// the resource's type: the application's own, such as *Article.
//
// A policy should ask s.Can rather than read s.User.IsSuperuser, so that a
// scoped request (an API key) stays within its scopes. Policies are called
// through Evaluate, which turns a panic into a deny; they need not guard
// against every nil, but must not allow on missing data.
type Policy[R any] func(ctx context.Context, s *Subject, action string, resource R) Decision

// All returns a policy that allows when every one of ps allows, asking them
// in order and stopping at the first deny, whose reason it gives. With no
// policies it denies: nothing was checked.
func All[R any](ps ...Policy[R]) Policy[R] {
	ps = append([]Policy[R](nil), ps...)
	return func(ctx context.Context, s *Subject, action string, resource R) Decision {
		if len(ps) == 0 {
			return failure("no policy")
		}
		reasons := make([]string, 0, len(ps))
		for _, p := range ps {
			d := Evaluate(ctx, p, s, action, resource)
			if !d.Allow {
				return d
			}
			reasons = append(reasons, d.Reason)
		}
		return Allow(strings.Join(reasons, "; "))
	}
}

// Any returns a policy that allows when one of ps allows, asking them in
// order and stopping at the first allow, whose reason it gives. With no
// policies it denies.
func Any[R any](ps ...Policy[R]) Policy[R] {
	ps = append([]Policy[R](nil), ps...)
	return func(ctx context.Context, s *Subject, action string, resource R) Decision {
		if len(ps) == 0 {
			return failure("no policy")
		}
		reasons := make([]string, 0, len(ps))
		failed := false
		for _, p := range ps {
			d := Evaluate(ctx, p, s, action, resource)
			if d.Allow {
				return d
			}
			reasons = append(reasons, d.Reason)
			failed = failed || d.failed
		}
		return Decision{Reason: strings.Join(reasons, "; "), failed: failed}
	}
}

// Not returns a policy that allows when p denies, and denies when p allows.
// A deny that comes from an error (p panicked, was nil or could not be
// evaluated) stays a deny: a broken policy never allows.
func Not[R any](p Policy[R]) Policy[R] {
	return func(ctx context.Context, s *Subject, action string, resource R) Decision {
		d := Evaluate(ctx, p, s, action, resource)
		switch {
		case d.failed:
			return d
		case d.Allow:
			return Deny("not: " + d.Reason)
		}
		return Allow("not: " + d.Reason)
	}
}

// Evaluate asks p whether s may perform action on resource. It never
// panics and fails safe: a nil policy, a nil subject and a policy that
// panics all deny, the panic logged with slog.Default and the reason
// "policy error".
func Evaluate[R any](ctx context.Context, p Policy[R], s *Subject, action string, resource R) (d Decision) {
	switch {
	case p == nil:
		return failure("no policy")
	case s == nil:
		return failure("no subject")
	}
	defer func() {
		if v := recover(); v != nil {
			slog.Default().LogAttrs(ctx, slog.LevelError, "authz: policy panicked",
				slog.String("action", action), slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			d = failure("policy error")
		}
	}()
	return p(ctx, s, action, resource)
}

// Guard returns middleware that loads the resource a request is about and
// lets the request through only when p allows action on it. It goes after
// gatehouse.Authenticator.Require:
//
//   - no user in the context: 401;
//   - the subject's roles cannot be read: 503;
//   - load fails: its error is written by r.OnError (gatehouse.WriteError):
//     an error with CodeNotFound is a 404, an unknown error a 500 (logged);
//   - p denies: 403 with the generic body {"detail":"Forbidden"}, and the
//     reason logged by r.Logger;
//   - p allows: next, with the resource in the context (ResourceFrom) and
//     the subject (SubjectFrom).
//
// Guard panics when r, r.Roles, load or p is nil.
func Guard[R any](r *Resolver, action string, load func(*http.Request) (R, error), p Policy[R]) func(http.Handler) http.Handler {
	r.mustBeUsable("Guard", 1)
	if load == nil || p == nil {
		panic("authz: Guard needs a load function and a policy")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			ctx, s, err := r.subject(req)
			if err != nil {
				r.fail(w, req, err)
				return
			}
			req = req.WithContext(ctx)
			resource, err := load(req)
			if err != nil {
				if gatehouse.ErrorCode(err).Status() >= http.StatusInternalServerError {
					r.logger().LogAttrs(ctx, slog.LevelError, "authz: cannot load resource",
						slog.String("action", action), slog.String("method", req.Method),
						slog.String("path", req.URL.Path), slog.Any("error", err))
				}
				r.fail(w, req, err)
				return
			}
			if d := Evaluate(ctx, p, s, action, resource); !d.Allow {
				r.deny(w, req, s, fmt.Sprintf("action %q: %s", action, d.Reason))
				return
			}
			next.ServeHTTP(w, req.WithContext(context.WithValue(ctx, resourceKey[R]{}, resource)))
		})
	}
}

// resourceKey is a context key per resource type, so that ResourceFrom[R]
// finds only a resource of type R.
type resourceKey[R any] struct{}

// ResourceFrom returns the resource that Guard loaded and allowed.
func ResourceFrom[R any](ctx context.Context) (R, bool) {
	v, ok := ctx.Value(resourceKey[R]{}).(R)
	return v, ok
}
