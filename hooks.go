package gatehouse

import (
	"context"
	"errors"
)

// Hooks are told of the account lifecycle. Embed NopHooks to implement only
// the events you need. Hooks never receive a plain-text password; the
// verify and forgot-password events receive the token to deliver.
//
// A hook's error is logged by the caller and does not undo the change it
// follows, with one exception: an error from BeforeDelete stops the delete.
type Hooks interface {
	AfterRegister(ctx context.Context, u *User) error
	AfterLogin(ctx context.Context, u *User) error
	// AfterUpdate receives the names of the fields that changed, such as
	// "email", "password" or a custom field's name.
	AfterUpdate(ctx context.Context, u *User, changed []string) error
	AfterRequestVerify(ctx context.Context, u *User, token string) error
	AfterVerify(ctx context.Context, u *User) error
	AfterForgotPassword(ctx context.Context, u *User, token string) error
	AfterResetPassword(ctx context.Context, u *User) error
	BeforeDelete(ctx context.Context, u *User) error
	AfterDelete(ctx context.Context, u *User) error
}

// NopHooks does nothing on every event.
type NopHooks struct{}

func (NopHooks) AfterRegister(context.Context, *User) error               { return nil }
func (NopHooks) AfterLogin(context.Context, *User) error                  { return nil }
func (NopHooks) AfterUpdate(context.Context, *User, []string) error       { return nil }
func (NopHooks) AfterRequestVerify(context.Context, *User, string) error  { return nil }
func (NopHooks) AfterVerify(context.Context, *User) error                 { return nil }
func (NopHooks) AfterForgotPassword(context.Context, *User, string) error { return nil }
func (NopHooks) AfterResetPassword(context.Context, *User) error          { return nil }
func (NopHooks) BeforeDelete(context.Context, *User) error                { return nil }
func (NopHooks) AfterDelete(context.Context, *User) error                 { return nil }

// MultiHooks calls several Hooks in order. Every hook runs even when an
// earlier one fails; the errors are joined. BeforeDelete stops at the first
// error, since that one vetoes the delete.
type MultiHooks []Hooks

func (m MultiHooks) each(f func(Hooks) error) error {
	var errs []error
	for _, h := range m {
		if err := f(h); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m MultiHooks) AfterRegister(ctx context.Context, u *User) error {
	return m.each(func(h Hooks) error { return h.AfterRegister(ctx, u) })
}

func (m MultiHooks) AfterLogin(ctx context.Context, u *User) error {
	return m.each(func(h Hooks) error { return h.AfterLogin(ctx, u) })
}

func (m MultiHooks) AfterUpdate(ctx context.Context, u *User, changed []string) error {
	return m.each(func(h Hooks) error { return h.AfterUpdate(ctx, u, changed) })
}

func (m MultiHooks) AfterRequestVerify(ctx context.Context, u *User, token string) error {
	return m.each(func(h Hooks) error { return h.AfterRequestVerify(ctx, u, token) })
}

func (m MultiHooks) AfterVerify(ctx context.Context, u *User) error {
	return m.each(func(h Hooks) error { return h.AfterVerify(ctx, u) })
}

func (m MultiHooks) AfterForgotPassword(ctx context.Context, u *User, token string) error {
	return m.each(func(h Hooks) error { return h.AfterForgotPassword(ctx, u, token) })
}

func (m MultiHooks) AfterResetPassword(ctx context.Context, u *User) error {
	return m.each(func(h Hooks) error { return h.AfterResetPassword(ctx, u) })
}

func (m MultiHooks) BeforeDelete(ctx context.Context, u *User) error {
	for _, h := range m {
		if err := h.BeforeDelete(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

func (m MultiHooks) AfterDelete(ctx context.Context, u *User) error {
	return m.each(func(h Hooks) error { return h.AfterDelete(ctx, u) })
}
