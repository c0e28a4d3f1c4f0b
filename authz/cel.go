package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
)

// Limits on CEL policies. Policies come from a server's configuration, but
// a mistake (or a hostile edit) must not let one request burn a CPU.
const (
	// celCostLimit bounds the work of one evaluation, in CEL's cost units
	// (about one per operation or per element a comprehension visits): a
	// comprehension over some thousands of elements, a millisecond or two of
	// CPU. Everyday rules cost tens of units. Past the limit the
	// evaluation stops and denies.
	celCostLimit = 20_000
	// celInterruptEvery is how many comprehension iterations run between
	// checks of the context, so a cancelled request stops its evaluation.
	celInterruptEvery = 100
	// celMaxSize bounds an expression's length, in code points.
	celMaxSize = 16 << 10
)

// celEnv declares what a policy may read. It is built once and never
// changed.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	attrs := cel.MapType(cel.StringType, cel.DynType)
	return cel.NewEnv(
		cel.Variable("user", attrs),
		cel.Variable("resource", attrs),
		cel.Variable("request", attrs),
		cel.Variable("action", cel.StringType),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		cel.ParserExpressionSizeLimit(celMaxSize),
	)
})

// celCompile serializes compilations: cel-go v0.33.2's type checker races
// on its shared environment when concurrent checks report an undeclared
// reference (checker.Env.Catalog). Compiling happens at start up, so the
// lock costs nothing that matters; evaluation does not take it.
var celCompile sync.Mutex

// CELPolicy is a policy written in CEL (https://cel.dev), such as
//
//	resource.author_id == user.id || "admin" in user.roles
//
// It reads four variables:
//
//   - user, a map: id (string), email, is_active, is_superuser,
//     is_verified (bools), roles and permissions (lists of strings, as in
//     Subject), and the user's custom fields by name. The built-in keys win
//     over custom fields of the same name. is_superuser is false in a
//     scoped request, so that an API key stays within its scopes, and for
//     an inactive user.
//   - action, a string.
//   - resource, a map: the attributes of what is acted on.
//   - request, a map: by convention method, path, ip and time (a
//     timestamp), as the caller provides them.
//
// A missing key is an evaluation error, and errors deny: write
// `has(resource.published) && ...` to test for an optional attribute.
// A CELPolicy is safe for concurrent use.
type CELPolicy struct {
	name string
	prg  cel.Program
}

// CompileCEL compiles a policy. It fails, with an error that names the
// policy, when expr does not parse, reads undeclared variables or is not a
// bool expression: an attribute of type dyn, such as `user.is_verified`,
// must be compared (`user.is_verified == true`). Compile policies at start
// up, so that a bad one stops the server from starting.
//
// Evaluations are bounded: an expression stops, and denies, once its cost
// passes a fixed limit (a comprehension over some thousands of elements, a
// millisecond or two of CPU), or when its context is done. Expressions are
// at most 16 KiB.
func CompileCEL(name, expr string) (*CELPolicy, error) {
	if name == "" {
		return nil, errors.New("authz: CEL policy without a name")
	}
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("authz: CEL policy %q: %w", name, err)
	}
	celCompile.Lock()
	defer celCompile.Unlock()
	ast, iss := env.CompileSource(common.NewStringSource(expr, name))
	if iss.Err() != nil {
		return nil, fmt.Errorf("authz: CEL policy %q: %w", name, iss.Err())
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("authz: CEL policy %q: expression is of type %s, not bool", name, t)
	}
	prg, err := env.Program(ast,
		cel.CostLimit(celCostLimit),
		cel.InterruptCheckFrequency(celInterruptEvery),
	)
	if err != nil {
		return nil, fmt.Errorf("authz: CEL policy %q: %w", name, err)
	}
	return &CELPolicy{name: name, prg: prg}, nil
}

// Name returns the name the policy was compiled with.
func (p *CELPolicy) Name() string { return p.name }

// Evaluate runs the policy for s doing action on resource. It never panics
// and fails safe: a nil subject and an evaluation error (a missing key, a
// type mismatch, the cost limit, a cancelled ctx) deny, the error logged
// with slog.Default and given in the reason. A nil resource or request is
// an empty map.
func (p *CELPolicy) Evaluate(ctx context.Context, s *Subject, action string, resource, request map[string]any) (d Decision) {
	switch {
	case p == nil || p.prg == nil:
		return failure("no policy")
	case s == nil || s.User == nil:
		return failure(p.quoted() + ": no subject")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	defer func() {
		if v := recover(); v != nil {
			slog.Default().LogAttrs(ctx, slog.LevelError, "authz: CEL policy panicked",
				slog.String("policy", p.name), slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			d = failure(p.quoted() + ": policy error")
		}
	}()
	if resource == nil {
		resource = map[string]any{}
	}
	if request == nil {
		request = map[string]any{}
	}
	out, _, err := p.prg.ContextEval(ctx, map[string]any{
		"user":     celUser(s),
		"action":   action,
		"resource": resource,
		"request":  request,
	})
	if err == nil {
		if allow, ok := out.Value().(bool); !ok {
			err = fmt.Errorf("result is %s, not bool", out.Type().TypeName())
		} else if allow {
			return Allow(p.quoted() + " allowed")
		} else {
			return Deny(p.quoted() + " denied")
		}
	}
	slog.Default().LogAttrs(ctx, slog.LevelWarn, "authz: CEL policy failed",
		slog.String("policy", p.name), slog.String("action", action),
		slog.String("user_id", s.User.ID.String()), slog.Any("error", err))
	return failure(p.quoted() + ": " + err.Error())
}

func (p *CELPolicy) quoted() string { return "policy " + strconv.Quote(p.name) }

// celUser is the user variable of CEL policies.
func celUser(s *Subject) map[string]any {
	u := s.User
	m := make(map[string]any, len(u.Fields)+7)
	for k, v := range u.Fields {
		m[k] = v
	}
	m["id"] = u.ID.String()
	m["email"] = u.Email
	m["is_active"] = u.IsActive
	m["is_superuser"] = s.superuser()
	m["is_verified"] = u.IsVerified
	m["roles"] = nonNil(s.Roles)
	m["permissions"] = nonNil(s.Permissions)
	return m
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

// CELPolicies are policies that together allow a request when any one of
// them allows it, and deny it by default: an empty list denies. Give each
// a condition on the action (`action == "delete" && ...`) to write rules
// per action.
type CELPolicies []*CELPolicy

// Evaluate runs the policies in order and returns the first allow, whose
// reason names the policy; a policy that errors denies on its own but does
// not stop the others. When none allows, the reason is "no policy
// allowed".
func (ps CELPolicies) Evaluate(ctx context.Context, s *Subject, action string, resource, request map[string]any) Decision {
	failed := false
	for _, p := range ps {
		d := p.Evaluate(ctx, s, action, resource, request)
		if d.Allow {
			return d
		}
		failed = failed || d.failed
	}
	return Decision{Reason: "no policy allowed", failed: failed}
}
