package httpapi

import (
	"maps"
	"net/http"
	"slices"

	"github.com/gatehouse/gatehouse"
)

// Tags group the operations in the document.
const (
	tagAuth    = "auth"
	tagUsers   = "users"
	tagAdmin   = "admin"
	tagOAuth   = "oauth"
	tagService = "service"
)

var (
	userReply = reply{status: http.StatusOK, description: "The user", media: mediaJSON, schema: ref("UserRead")}
	noContent = reply{status: http.StatusNoContent, description: "Done"}
	accepted  = reply{status: http.StatusAccepted, description: "Accepted, whoever the e-mail belongs to", media: mediaJSON, schema: jsonNull}
	loginForm = &requestBody{required: true, content: map[string]schema{mediaForm: ref("LoginForm"), mediaMult: ref("LoginForm")}}
)

func jsonBody(name string) *requestBody {
	return &requestBody{required: true, content: map[string]schema{mediaJSON: ref(name)}}
}

func list(description, item string) reply {
	return reply{status: http.StatusOK, description: description, media: mediaJSON, schema: arrayOf(ref(item))}
}

// loginReplies are a backend's login answer: a JSON token, or for
// transports that keep the token in a cookie, 204 and the cookie.
func loginReplies(b *gatehouse.Backend) []reply {
	if amb, ok := b.Transport.(gatehouse.Ambient); ok && amb.Ambient() {
		return []reply{{status: http.StatusNoContent, description: "Logged in: the token is in a cookie",
			headers: map[string]string{"Set-Cookie": "The access cookie (and the refresh cookie with sessions on)"}}}
	}
	return []reply{{status: http.StatusOK, description: "Logged in", media: mediaJSON, schema: ref("BearerResponse")}}
}

// routes is the route table: every route the handler serves, with its
// documentation, for the configuration in a.
func (a *api) routes() []route {
	var rs []route
	add := func(method, path string, h http.HandlerFunc, op *operation) {
		rs = append(rs, route{method, path, h, op})
	}
	sessions := a.Authenticator.Sessions() != nil
	for _, b := range a.Authenticator.Backends() {
		if _, ok := b.Strategy.(gatehouse.NoLogin); ok {
			continue // API keys: made through the API-key routes, not by logging in
		}
		prefix := "/auth/" + b.Name
		loginErrs := []gatehouse.Code{gatehouse.CodeLoginBadCredentials, gatehouse.CodeLoginUserNotVerified, gatehouse.CodeForbidden}
		loginDesc := "The username is the e-mail address. Cookie backends refuse cross-origin requests (403)."
		if a.MFA != nil {
			loginErrs = append(loginErrs, gatehouse.CodeLoginMFARequired, gatehouse.CodeLoginMFASetupRequired)
			loginDesc += " A user with a second factor gets 401 LOGIN_MFA_REQUIRED and an mfa_token for POST " + prefix + "/mfa;" +
				" a user who must have one and has none gets 401 LOGIN_MFA_SETUP_REQUIRED and an mfa_token for POST " + prefix + "/mfa/totp."
		}
		add(http.MethodPost, prefix+"/login", a.login(b.Name), &operation{
			id: "auth_" + b.Name + "_login", summary: "Log in with " + b.Name, tag: tagAuth,
			description: loginDesc, body: loginForm, replies: loginReplies(&b), throttled: true, errs: loginErrs,
		})
		if a.MFA != nil {
			add(http.MethodPost, prefix+"/mfa", a.mfaLogin(b.Name), &operation{
				id: "auth_" + b.Name + "_mfa", summary: "Log in with " + b.Name + ": the second factor", tag: tagAuth,
				description: "The second step of a login answered 401 LOGIN_MFA_REQUIRED: its mfa_token, and a code " +
					"of the authenticator app or a recovery code, or a passkey's answer (credential) to the options of POST " + prefix + "/mfa/passkey. " +
					"After LOGIN_MFA_SETUP_REQUIRED and POST " + prefix + "/mfa/totp/confirm, the mfa_token alone.",
				body: jsonBody("MFALogin"), replies: loginReplies(&b), throttled: true,
				errs: []gatehouse.Code{gatehouse.CodeMFABadToken, gatehouse.CodeMFABadCode, gatehouse.CodeMFATOTPNotEnabled,
					gatehouse.CodeMFABadPasskey, gatehouse.CodeForbidden},
			})
			add(http.MethodPost, prefix+"/mfa/totp", a.beginSetupTOTP(b.Name), &operation{
				id: "auth_" + b.Name + "_mfa_totp", summary: "Log in with " + b.Name + ": add an authenticator app", tag: tagAuth,
				description: "During a login answered 401 LOGIN_MFA_SETUP_REQUIRED: a secret for the user's first second factor.",
				body:        jsonBody("MFAToken"),
				replies:     []reply{{status: http.StatusOK, description: "The secret and its otpauth:// URI", media: mediaJSON, schema: ref("TOTPEnrolment")}},
				errs:        []gatehouse.Code{gatehouse.CodeMFABadToken, gatehouse.CodeMFATOTPAlreadyEnabled, gatehouse.CodeForbidden},
			})
			add(http.MethodPost, prefix+"/mfa/totp/confirm", a.confirmSetupTOTP(b.Name), &operation{
				id: "auth_" + b.Name + "_mfa_totp_confirm", summary: "Log in with " + b.Name + ": turn the authenticator app on", tag: tagAuth,
				description: "The app's first code turns it on; the answer holds the recovery codes, and POST " + prefix +
					"/mfa with the mfa_token alone then completes the login.",
				body: jsonBody("MFALoginCode"), throttled: true,
				replies: []reply{{status: http.StatusOK, description: "The recovery codes, shown this once", media: mediaJSON, schema: ref("RecoveryCodes")}},
				errs: []gatehouse.Code{gatehouse.CodeMFABadToken, gatehouse.CodeMFABadCode, gatehouse.CodeMFATOTPAlreadyEnabled,
					gatehouse.CodeMFATOTPNotEnabled, gatehouse.CodeForbidden},
			})
			if a.MFA.PasskeysEnabled() {
				add(http.MethodPost, prefix+"/mfa/passkey", a.beginPasskeyStep(b.Name), &operation{
					id: "auth_" + b.Name + "_mfa_passkey", summary: "Log in with " + b.Name + ": a passkey as second factor", tag: tagAuth,
					description: "The options for navigator.credentials.get; send its answer as credential to POST " + prefix + "/mfa.",
					body:        jsonBody("MFAToken"),
					replies:     []reply{{status: http.StatusOK, description: "The WebAuthn options", media: mediaJSON, schema: ref("PasskeyCeremony")}},
					errs:        []gatehouse.Code{gatehouse.CodeMFABadToken, gatehouse.CodeMFAPasskeyNotEnabled, gatehouse.CodeForbidden},
				})
				add(http.MethodPost, prefix+"/mfa/passkeys/begin", a.beginSetupPasskey(b.Name), &operation{
					id: "auth_" + b.Name + "_mfa_passkeys_begin", summary: "Log in with " + b.Name + ": add a passkey", tag: tagAuth,
					description: "During a login answered 401 LOGIN_MFA_SETUP_REQUIRED: the options for navigator.credentials.create " +
						"and the state to send back with its answer to POST " + prefix + "/mfa/passkeys.",
					body:    jsonBody("MFAToken"),
					replies: []reply{{status: http.StatusOK, description: "The WebAuthn options and state", media: mediaJSON, schema: ref("PasskeyCeremony")}},
					errs:    []gatehouse.Code{gatehouse.CodeMFABadToken, gatehouse.CodeMFATOTPAlreadyEnabled, gatehouse.CodeForbidden},
				})
				add(http.MethodPost, prefix+"/mfa/passkeys", a.addSetupPasskey(b.Name), &operation{
					id: "auth_" + b.Name + "_mfa_passkeys", summary: "Log in with " + b.Name + ": add a passkey, its answer", tag: tagAuth,
					description: "The passkey becomes the user's first second factor; the answer holds the recovery codes, and POST " + prefix +
						"/mfa with the mfa_token alone then completes the login.",
					body: jsonBody("SetupPasskey"),
					replies: []reply{{status: http.StatusCreated, description: "The passkey and the recovery codes, shown this once",
						media: mediaJSON, schema: ref("PasskeyCreated")}},
					errs: []gatehouse.Code{gatehouse.CodeMFABadToken, gatehouse.CodeMFABadPasskey, gatehouse.CodeMFATOTPAlreadyEnabled,
						gatehouse.CodeForbidden},
				})
				add(http.MethodPost, prefix+"/passkey/begin", a.beginPasskeyLogin(b.Name), &operation{
					id: "auth_" + b.Name + "_passkey_begin", summary: "Log in with " + b.Name + " and a passkey alone", tag: tagAuth,
					description: "The options for navigator.credentials.get (no user named: the browser offers its passkeys for this site) " +
						"and the state to send back with its answer to POST " + prefix + "/passkey, within five minutes.",
					replies:   []reply{{status: http.StatusOK, description: "The WebAuthn options and state", media: mediaJSON, schema: ref("PasskeyCeremony")}},
					throttled: true, errs: []gatehouse.Code{gatehouse.CodeForbidden},
				})
				add(http.MethodPost, prefix+"/passkey", a.passkeyLogin(b.Name), &operation{
					id: "auth_" + b.Name + "_passkey", summary: "Log in with " + b.Name + " and a passkey alone: its answer", tag: tagAuth,
					description: "The state of POST " + prefix + "/passkey/begin and the browser's answer. The authenticator must verify its user " +
						"(PIN or biometric): a passkey is then two factors on its own. A state completes one login.",
					body: jsonBody("PasskeyLogin"), replies: loginReplies(&b), throttled: true,
					errs: []gatehouse.Code{gatehouse.CodeMFABadToken, gatehouse.CodeMFABadPasskey, gatehouse.CodeLoginBadCredentials,
						gatehouse.CodeLoginUserNotVerified, gatehouse.CodeForbidden},
				})
			}
		}
		add(http.MethodPost, prefix+"/logout", a.logout(b.Name), &operation{
			id: "auth_" + b.Name + "_logout", summary: "Log out of " + b.Name, tag: tagAuth, access: accessUser,
			replies: []reply{noContent},
		})
		if sessions {
			// The refresh token comes as JSON or as an OAuth form; a
			// transport that carries it (the refresh cookie) makes the
			// body optional.
			_, carried := b.Transport.(gatehouse.RefreshTransport)
			desc := "Exchanges a refresh token for a new access token and its successor."
			if carried {
				desc += " The refresh cookie, when sent, takes the place of the body."
			}
			add(http.MethodPost, prefix+"/refresh", a.refresh(b.Name), &operation{
				id: "auth_" + b.Name + "_refresh", summary: "Refresh the " + b.Name + " token", tag: tagAuth,
				description: desc, replies: loginReplies(&b), throttled: true,
				body: &requestBody{required: !carried, content: map[string]schema{
					mediaJSON: ref("RefreshRequest"), mediaForm: ref("RefreshForm"),
				}},
				errs: []gatehouse.Code{gatehouse.CodeRefreshTokenInvalid, gatehouse.CodeRefreshTokenReused, gatehouse.CodeForbidden},
			})
		}
	}
	if sessions {
		add(http.MethodGet, "/users/me/sessions", a.listMySessions, &operation{
			id: "sessions_list_mine", summary: "List my sessions", tag: tagUsers, access: accessUser,
			replies: []reply{list("The sessions", "Session")},
		})
		add(http.MethodDelete, "/users/me/sessions", a.endMyOtherSessions, &operation{
			id: "sessions_end_my_others", summary: "End all my sessions but this one", tag: tagUsers, access: accessUser,
			replies: []reply{noContent},
		})
		add(http.MethodDelete, "/users/me/sessions/{sid}", a.endMySession, &operation{
			id: "sessions_end_mine", summary: "End one of my sessions", tag: tagUsers, access: accessUser,
			replies: []reply{noContent}, errs: []gatehouse.Code{gatehouse.CodeNotFound},
		})
		add(http.MethodGet, "/users/{id}/sessions", a.listUserSessions, &operation{
			id: "sessions_list_user", summary: "List a user's sessions", tag: tagAdmin, access: accessSuperuser,
			replies: []reply{list("The sessions", "Session")}, errs: []gatehouse.Code{gatehouse.CodeNotFound},
		})
		add(http.MethodDelete, "/users/{id}/sessions", a.endUserSessions, &operation{
			id: "sessions_end_user", summary: "End all of a user's sessions", tag: tagAdmin, access: accessSuperuser,
			replies: []reply{noContent}, errs: []gatehouse.Code{gatehouse.CodeNotFound},
		})
	}
	if a.Roles != nil {
		role := reply{status: http.StatusOK, description: "The role", media: mediaJSON, schema: ref("Role")}
		add(http.MethodGet, "/roles", a.listRoles, &operation{
			id: "roles_list", summary: "List roles", tag: tagAdmin, access: accessSuperuser,
			replies: []reply{list("The roles", "Role")},
		})
		add(http.MethodPost, "/roles", a.createRole, &operation{
			id: "roles_create", summary: "Create a role", tag: tagAdmin, access: accessSuperuser, body: jsonBody("RoleCreate"),
			replies: []reply{{status: http.StatusCreated, description: "The role", media: mediaJSON, schema: ref("Role")}},
			errs:    []gatehouse.Code{gatehouse.CodeRoleAlreadyExists},
		})
		add(http.MethodGet, "/roles/{name}", a.getRole, &operation{
			id: "roles_get", summary: "Get a role", tag: tagAdmin, access: accessSuperuser,
			replies: []reply{role}, errs: []gatehouse.Code{gatehouse.CodeNotFound},
		})
		add(http.MethodPatch, "/roles/{name}", a.patchRole, &operation{
			id: "roles_update", summary: "Change a role", tag: tagAdmin, access: accessSuperuser, body: jsonBody("RoleUpdate"),
			replies: []reply{role}, errs: []gatehouse.Code{gatehouse.CodeNotFound},
		})
		add(http.MethodDelete, "/roles/{name}", a.deleteRole, &operation{
			id: "roles_delete", summary: "Delete a role", tag: tagAdmin, access: accessSuperuser,
			replies: []reply{noContent}, errs: []gatehouse.Code{gatehouse.CodeNotFound},
		})
		add(http.MethodPut, "/users/{id}/roles", a.setUserRoles, &operation{
			id: "users_set_roles", summary: "Set a user's roles", tag: tagAdmin, access: accessSuperuser, body: jsonBody("UserRoles"),
			replies: []reply{userReply}, errs: []gatehouse.Code{gatehouse.CodeRoleNotFound, gatehouse.CodeNotFound},
		})
		add(http.MethodPost, "/authorize", a.authorize, &operation{
			id: "authorize", summary: "Ask whether the caller may do an action", tag: tagService, access: accessUser,
			description: "The configured policies decide; with none, every request is denied.",
			body:        jsonBody("AuthorizeRequest"),
			replies:     []reply{{status: http.StatusOK, description: "The decision", media: mediaJSON, schema: ref("AuthorizeResponse")}},
		})
	}
	if a.APIKeys != nil {
		add(http.MethodPost, "/users/me/api-keys", a.createMyAPIKey, &operation{
			id: "api_keys_create", summary: "Create an API key", tag: tagUsers, access: accessUser, body: jsonBody("APIKeyCreate"),
			description: "Each scope must be a permission the caller holds, or \"" + ScopeAPIKeys + "\".",
			replies:     []reply{{status: http.StatusCreated, description: "The key, shown this once", media: mediaJSON, schema: ref("APIKey")}},
			errs:        []gatehouse.Code{gatehouse.CodeAPIKeyScopeNotAllowed},
		})
		add(http.MethodGet, "/users/me/api-keys", a.listMyAPIKeys, &operation{
			id: "api_keys_list_mine", summary: "List my API keys", tag: tagUsers, access: accessUser,
			replies: []reply{list("The keys", "APIKey")},
		})
		add(http.MethodDelete, "/users/me/api-keys/{key_id}", a.deleteMyAPIKey, &operation{
			id: "api_keys_delete_mine", summary: "Delete one of my API keys", tag: tagUsers, access: accessUser,
			replies: []reply{noContent}, errs: []gatehouse.Code{gatehouse.CodeNotFound},
		})
		add(http.MethodGet, "/users/{id}/api-keys", a.listUserAPIKeys, &operation{
			id: "api_keys_list_user", summary: "List a user's API keys", tag: tagAdmin, access: accessSuperuser,
			replies: []reply{list("The keys", "APIKey")}, errs: []gatehouse.Code{gatehouse.CodeNotFound},
		})
		add(http.MethodDelete, "/users/{id}/api-keys/{key_id}", a.deleteUserAPIKey, &operation{
			id: "api_keys_delete_user", summary: "Delete a user's API key", tag: tagAdmin, access: accessSuperuser,
			replies: []reply{noContent}, errs: []gatehouse.Code{gatehouse.CodeNotFound},
		})
	}
	if a.MFA != nil {
		codeErrs := []gatehouse.Code{gatehouse.CodeMFABadCode, gatehouse.CodeMFATOTPNotEnabled}
		recovery := reply{status: http.StatusOK, description: "The recovery codes, shown this once", media: mediaJSON, schema: ref("RecoveryCodes")}
		add(http.MethodGet, "/users/me/mfa", a.getMyMFA, &operation{
			id: "mfa_status", summary: "My second factors", tag: tagUsers, access: accessUser,
			replies: []reply{{status: http.StatusOK, description: "The second factors", media: mediaJSON, schema: ref("MFAStatus")}},
		})
		add(http.MethodPost, "/users/me/mfa/totp", a.beginTOTP, &operation{
			id: "mfa_totp_begin", summary: "Add an authenticator app", tag: tagUsers, access: accessUser,
			description: "A new secret, a second factor once POST /users/me/mfa/totp/confirm gets a first code. API keys may not (403).",
			replies:     []reply{{status: http.StatusOK, description: "The secret and its otpauth:// URI", media: mediaJSON, schema: ref("TOTPEnrolment")}},
			errs:        []gatehouse.Code{gatehouse.CodeMFATOTPAlreadyEnabled},
		})
		add(http.MethodPost, "/users/me/mfa/totp/confirm", a.confirmTOTP, &operation{
			id: "mfa_totp_confirm", summary: "Turn the authenticator app on", tag: tagUsers, access: accessUser, body: jsonBody("MFACode"),
			replies: []reply{recovery}, throttled: true,
			errs: append([]gatehouse.Code{gatehouse.CodeMFATOTPAlreadyEnabled}, codeErrs...),
		})
		add(http.MethodDelete, "/users/me/mfa/totp", a.disableTOTP, &operation{
			id: "mfa_totp_disable", summary: "Remove the authenticator app", tag: tagUsers, access: accessUser, body: jsonBody("MFADisable"),
			description: "With a fresh code (or a recovery code) or the password. The recovery codes go too, unless a passkey remains.",
			replies:     []reply{noContent}, throttled: true,
			errs: append([]gatehouse.Code{gatehouse.CodeLoginBadCredentials, gatehouse.CodeMFARequired}, codeErrs...),
		})
		add(http.MethodPost, "/users/me/mfa/recovery-codes", a.replaceRecoveryCodes, &operation{
			id: "mfa_recovery_codes", summary: "New recovery codes", tag: tagUsers, access: accessUser, body: jsonBody("MFACode"),
			description: "For a fresh code (or a recovery code); the old recovery codes stop working.",
			replies:     []reply{recovery}, throttled: true, errs: codeErrs,
		})
		add(http.MethodGet, "/users/{id}/mfa", a.getUserMFA, &operation{
			id: "mfa_status_user", summary: "A user's second factors", tag: tagAdmin, access: accessSuperuser,
			replies: []reply{{status: http.StatusOK, description: "The second factors", media: mediaJSON, schema: ref("MFAStatus")}},
			errs:    []gatehouse.Code{gatehouse.CodeNotFound},
		})
		add(http.MethodGet, "/mfa/policy", a.getMFAPolicy, &operation{
			id: "mfa_policy", summary: "Who must have a second factor", tag: tagAdmin, access: accessSuperuser,
			replies: []reply{{status: http.StatusOK, description: "The policy", media: mediaJSON, schema: ref("MFAPolicy")}},
		})
		add(http.MethodPut, "/mfa/policy", a.putMFAPolicy, &operation{
			id: "mfa_policy_set", summary: "Set who must have a second factor", tag: tagAdmin, access: accessSuperuser, body: jsonBody("MFAPolicy"),
			description: "nobody, superusers or everyone. It applies at each user's next login: one who must and has none adds one " +
				"before the login completes (LOGIN_MFA_SETUP_REQUIRED). API keys may not (403).",
			replies: []reply{{status: http.StatusOK, description: "The policy", media: mediaJSON, schema: ref("MFAPolicy")}},
		})
		if a.MFA.PasskeysEnabled() {
			passkey := reply{status: http.StatusCreated, description: "The passkey; with the recovery codes, shown this once, when it is the first second factor",
				media: mediaJSON, schema: ref("PasskeyCreated")}
			add(http.MethodGet, "/users/me/mfa/passkeys", a.listPasskeys, &operation{
				id: "mfa_passkeys", summary: "My passkeys", tag: tagUsers, access: accessUser,
				replies: []reply{list("The passkeys, oldest first", "Passkey")},
			})
			add(http.MethodPost, "/users/me/mfa/passkeys/begin", a.beginPasskey, &operation{
				id: "mfa_passkey_begin", summary: "Add a passkey", tag: tagUsers, access: accessUser,
				description: "The options for navigator.credentials.create and the state to send back with its answer to " +
					"POST /users/me/mfa/passkeys, within five minutes. API keys may not (403).",
				replies: []reply{{status: http.StatusOK, description: "The WebAuthn options and state", media: mediaJSON, schema: ref("PasskeyCeremony")}},
			})
			add(http.MethodPost, "/users/me/mfa/passkeys", a.addPasskey, &operation{
				id: "mfa_passkey_add", summary: "Add a passkey: its answer", tag: tagUsers, access: accessUser, body: jsonBody("PasskeyCreate"),
				replies: []reply{passkey}, errs: []gatehouse.Code{gatehouse.CodeMFABadToken, gatehouse.CodeMFABadPasskey},
			})
		}
		// Passkeys kept while the ceremonies are off still count, so they can
		// still go.
		if a.MFA.PasskeysStored() {
			add(http.MethodDelete, "/users/me/mfa/passkeys/{id}", a.removePasskey, &operation{
				id: "mfa_passkey_remove", summary: "Remove a passkey", tag: tagUsers, access: accessUser, body: jsonBody("MFADisable"),
				description: "With a fresh code (or a recovery code) or the password. The recovery codes go with the last second factor.",
				replies:     []reply{noContent}, throttled: true,
				errs: append([]gatehouse.Code{gatehouse.CodeLoginBadCredentials, gatehouse.CodeNotFound, gatehouse.CodeMFARequired}, codeErrs...),
			})
			add(http.MethodDelete, "/users/{id}/mfa/passkeys/{passkey_id}", a.removeUserPasskey, &operation{
				id: "mfa_passkey_remove_user", summary: "Remove a user's passkey", tag: tagAdmin, access: accessSuperuser,
				replies: []reply{noContent}, errs: []gatehouse.Code{gatehouse.CodeNotFound},
			})
		}
		add(http.MethodDelete, "/users/{id}/mfa/totp", a.disableUserTOTP, &operation{
			id: "mfa_totp_disable_user", summary: "Remove a user's authenticator app", tag: tagAdmin, access: accessSuperuser,
			description: "For a user who lost both the app and the recovery codes.",
			replies:     []reply{noContent}, errs: []gatehouse.Code{gatehouse.CodeNotFound},
		})
	}
	if len(a.OAuth) > 0 {
		rs = append(rs, a.oauthRoutes()...)
	}
	add(http.MethodPost, "/auth/register", a.register, &operation{
		id: "register", summary: "Register", tag: tagAuth, body: jsonBody("UserCreate"), throttled: true,
		replies: []reply{{status: http.StatusCreated, description: "The new user", media: mediaJSON, schema: ref("UserRead")}},
		errs:    []gatehouse.Code{gatehouse.CodeRegisterUserAlreadyExists, gatehouse.CodeRegisterInvalidPassword},
	})
	add(http.MethodPost, "/auth/request-verify-token", a.requestVerifyToken, &operation{
		id: "request_verify_token", summary: "Request a verification e-mail", tag: tagAuth, body: jsonBody("EmailRequest"), throttled: true,
		replies: []reply{accepted},
	})
	add(http.MethodPost, "/auth/verify", a.verify, &operation{
		id: "verify", summary: "Verify an e-mail address", tag: tagAuth, body: jsonBody("VerifyRequest"), throttled: true,
		replies: []reply{userReply},
		errs:    []gatehouse.Code{gatehouse.CodeVerifyUserBadToken, gatehouse.CodeVerifyUserAlreadyVerified},
	})
	add(http.MethodPost, "/auth/forgot-password", a.forgotPassword, &operation{
		id: "forgot_password", summary: "Request a password reset e-mail", tag: tagAuth, body: jsonBody("EmailRequest"), throttled: true,
		replies: []reply{accepted},
	})
	add(http.MethodPost, "/auth/reset-password", a.resetPassword, &operation{
		id: "reset_password", summary: "Reset a password", tag: tagAuth, body: jsonBody("ResetPasswordRequest"), throttled: true,
		replies: []reply{{status: http.StatusOK, description: "The password is changed", media: mediaJSON, schema: jsonNull}},
		errs:    []gatehouse.Code{gatehouse.CodeResetPasswordBadToken, gatehouse.CodeResetPasswordInvalidPassword},
	})
	updateErrs := []gatehouse.Code{gatehouse.CodeUpdateUserEmailAlreadyExists, gatehouse.CodeUpdateUserInvalidPassword}
	add(http.MethodGet, "/users/me", a.getMe, &operation{
		id: "users_me", summary: "Get me", tag: tagUsers, access: accessUser, replies: []reply{userReply},
	})
	add(http.MethodPatch, "/users/me", a.patchMe, &operation{
		id: "users_patch_me", summary: "Change me", tag: tagUsers, access: accessUser, body: jsonBody("UserUpdate"),
		description: "The flags is_active, is_superuser and is_verified are ignored. API keys may not use this route (403).",
		replies:     []reply{userReply}, errs: updateErrs,
	})
	add(http.MethodGet, "/users", a.listUsers, &operation{
		id: "users_list", summary: "List users", tag: tagAdmin, access: accessSuperuser, validation: true,
		params: []param{
			{name: "limit", in: "query", schema: schema{"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
			{name: "offset", in: "query", schema: schema{"type": "integer", "minimum": 0, "default": 0}},
			{name: "email", in: "query", description: "A part of the e-mail address", schema: str},
		},
		replies: []reply{{status: http.StatusOK, description: "A page of users, oldest first", media: mediaJSON, schema: ref("UserPage")}},
	})
	// FastAPI Users documents 422 on every /users/{id} route (for the
	// path parameter); an id that is not a UUID is a 404 here.
	add(http.MethodGet, "/users/{id}", a.getUser, &operation{
		id: "users_get", summary: "Get a user", tag: tagAdmin, access: accessSuperuser, validation: true,
		replies: []reply{userReply}, errs: []gatehouse.Code{gatehouse.CodeNotFound},
	})
	add(http.MethodPatch, "/users/{id}", a.patchUser, &operation{
		id: "users_patch", summary: "Change a user", tag: tagAdmin, access: accessSuperuser, body: jsonBody("UserUpdate"),
		replies: []reply{userReply}, errs: append([]gatehouse.Code{gatehouse.CodeNotFound}, updateErrs...),
	})
	add(http.MethodDelete, "/users/{id}", a.deleteUser, &operation{
		id: "users_delete", summary: "Delete a user", tag: tagAdmin, access: accessSuperuser, validation: true,
		replies: []reply{noContent}, errs: []gatehouse.Code{gatehouse.CodeNotFound},
	})
	if a.Audit != nil {
		add(http.MethodGet, "/audit", a.listAudit, &operation{
			id: "audit_list", summary: "List audit events", tag: tagAdmin, access: accessSuperuser, validation: true,
			description: "Newest first. A request made with an API key needs the scope \"" + ScopeAudit + "\".",
			params: []param{
				{name: "user_id", in: "query", description: "Events about this user", schema: schema{"type": "string", "format": "uuid"}},
				{name: "event", in: "query", description: "Events of this type, such as login.failed", schema: str},
				{name: "since", in: "query", description: "Events at or after this instant (RFC 3339)", schema: dateTime},
				{name: "until", in: "query", description: "Events before this instant (RFC 3339)", schema: dateTime},
				{name: "limit", in: "query", schema: schema{"type": "integer", "minimum": 1, "maximum": gatehouse.MaxAuditListLimit, "default": 50}},
				{name: "offset", in: "query", schema: schema{"type": "integer", "minimum": 0, "default": 0}},
			},
			replies: []reply{{status: http.StatusOK, description: "A page of events, newest first", media: mediaJSON, schema: ref("AuditPage")}},
		})
	}
	return append(rs, a.serviceRoutes()...)
}

// oauthRoutes are the routes of the identity providers.
func (a *api) oauthRoutes() []route {
	var rs []route
	query := []param{
		{name: "code", in: "query", schema: str},
		{name: "state", in: "query", schema: str},
		{name: "error", in: "query", description: "The provider's error code", schema: str},
	}
	authorizeParams := []param{
		{name: "scopes", in: "query", schema: str, repeated: true},
		{name: "redirect", in: "query", description: "true: answer with a redirect to the provider", schema: str},
	}
	authorizeReplies := []reply{
		{status: http.StatusOK, description: "The provider's URL, and the CSRF cookie", media: mediaJSON, schema: ref("AuthorizationURL"),
			headers: map[string]string{"Set-Cookie": "The CSRF cookie " + csrfCookie}},
		{status: http.StatusFound, description: "With redirect=true: to the provider",
			headers: map[string]string{"Location": "The provider's URL", "Set-Cookie": "The CSRF cookie " + csrfCookie}},
	}
	callbackErrs := []gatehouse.Code{
		gatehouse.CodeBadRequest, gatehouse.CodeAccessTokenDecodeError, gatehouse.CodeAccessTokenAlreadyExpired,
		gatehouse.CodeOAuthInvalidState, gatehouse.CodeOAuthNotAvailableEmail, gatehouse.CodeBadGateway,
	}
	for _, name := range slices.Sorted(maps.Keys(a.OAuth)) {
		p := a.OAuth[name]
		login := loginReplies(a.oauthBackend(p))
		login = append(login, reply{status: http.StatusFound, description: "A browser flow (return_to): the login's cookies, then back to the app " +
			"(for a user with a second factor: no cookies, to the code form)",
			headers: map[string]string{"Location": "return_to, or the code form", "Set-Cookie": "The login's cookies"}})
		loginErrs := append(slices.Clone(callbackErrs), gatehouse.CodeOAuthUserAlreadyExists, gatehouse.CodeLoginBadCredentials)
		if a.MFA != nil {
			loginErrs = append(loginErrs, gatehouse.CodeLoginMFARequired)
		}
		rs = append(rs,
			route{http.MethodGet, "/auth/" + name + "/authorize", a.oauthAuthorize(name, false), &operation{
				id: "oauth_" + name + "_authorize", summary: "Start logging in with " + name, tag: tagOAuth, validation: true,
				params: append(slices.Clone(authorizeParams), param{name: "return_to", in: "query",
					description: "Where a browser flow ends: one of the allowed return URLs", schema: str}),
				replies: authorizeReplies,
			}},
			route{http.MethodGet, "/auth/" + name + "/callback", a.oauthCallback(name, false), &operation{
				id: "oauth_" + name + "_callback", summary: "Finish logging in with " + name, tag: tagOAuth,
				description: "Needs the CSRF cookie set by the authorize route.", validation: true, providerErrors: true,
				params: query, replies: login, errs: loginErrs,
			}},
			route{http.MethodGet, "/auth/associate/" + name + "/authorize", a.oauthAuthorize(name, true), &operation{
				id: "oauth_" + name + "_associate_authorize", summary: "Start linking a " + name + " account", tag: tagOAuth,
				access: accessUser, validation: true, params: authorizeParams, replies: authorizeReplies,
			}},
			route{http.MethodGet, "/auth/associate/" + name + "/callback", a.oauthCallback(name, true), &operation{
				id: "oauth_" + name + "_associate_callback", summary: "Finish linking a " + name + " account", tag: tagOAuth,
				description: "Needs the CSRF cookie set by the authorize route.", access: accessUser, validation: true, providerErrors: true,
				params: query, replies: []reply{userReply},
				errs: append(slices.Clone(callbackErrs), gatehouse.CodeOAuthUserAlreadyExists),
			}},
		)
	}
	return append(rs,
		route{http.MethodGet, "/users/me/oauth-accounts", http.HandlerFunc(a.listOAuthAccounts), &operation{
			id: "oauth_accounts_list_mine", summary: "List my linked accounts", tag: tagUsers, access: accessUser,
			replies: []reply{list("The accounts", "OAuthAccount")},
		}},
		route{http.MethodDelete, "/users/me/oauth-accounts/{id}", http.HandlerFunc(a.unlinkOAuthAccount), &operation{
			id: "oauth_accounts_unlink_mine", summary: "Unlink one of my accounts", tag: tagUsers, access: accessUser,
			replies: []reply{noContent}, errs: []gatehouse.Code{gatehouse.CodeOAuthLastLoginMethod, gatehouse.CodeNotFound},
		}},
	)
}

// serviceRoutes are those for operators and other services: health, the
// document itself, and the optional handlers of the Config.
func (a *api) serviceRoutes() []route {
	rs := []route{
		{http.MethodGet, "/healthz", http.HandlerFunc(a.healthz), &operation{
			id: "healthz", summary: "Is the process alive", tag: tagService, standalone: true,
			replies: []reply{{status: http.StatusOK, description: "Alive", media: mediaJSON, schema: ref("Health")}},
		}},
		{http.MethodGet, "/readyz", http.HandlerFunc(a.readyz), &operation{
			id: "readyz", summary: "Are the dependencies reachable", tag: tagService, standalone: true,
			replies: []reply{
				{status: http.StatusOK, description: "Every dependency answers", media: mediaJSON, schema: ref("Readiness")},
				{status: http.StatusServiceUnavailable, description: "Some dependency does not: its check says unavailable", media: mediaJSON, schema: ref("Readiness")},
			},
		}},
		{http.MethodGet, "/openapi.json", http.HandlerFunc(a.serveDocument), &operation{
			id: "openapi", summary: "This document", tag: tagService, standalone: true,
			replies: []reply{{status: http.StatusOK, description: "The OpenAPI 3.1 document", media: mediaJSON, schema: schema{"type": "object"}}},
		}},
	}
	if a.ForwardAuth != nil {
		rs = append(rs, route{http.MethodGet, "/auth/forward", a.ForwardAuth, &operation{
			id: "forward_auth", summary: "Check a request forwarded by a reverse proxy", tag: tagService, access: accessForwarded,
			description: "Reads X-Forwarded-Method, X-Forwarded-Host and X-Forwarded-Uri, and the forwarded request's cookie, bearer token or API key.",
			params: []param{
				{name: "X-Forwarded-Method", in: "header", schema: str},
				{name: "X-Forwarded-Host", in: "header", schema: str},
				{name: "X-Forwarded-Uri", in: "header", schema: str},
			},
			replies: []reply{{status: http.StatusOK, description: "Allowed", headers: map[string]string{
				"X-Gatehouse-User-Id":    "The user's id",
				"X-Gatehouse-User-Email": "The user's e-mail address",
				"X-Gatehouse-User-Roles": "The user's roles, comma-separated",
			}}},
		}})
	}
	if a.JWKS != nil {
		rs = append(rs, route{http.MethodGet, "/.well-known/jwks.json", a.JWKS, &operation{
			id: "jwks", summary: "The public keys that verify access tokens", tag: tagService, standalone: true,
			replies: []reply{{status: http.StatusOK, description: "The key set (empty for HMAC keys)", media: mediaJSON, schema: ref("JWKS")}},
		}})
	}
	if a.Docs != nil {
		rs = append(rs,
			route{http.MethodGet, "/docs", a.Docs, &operation{
				id: "docs", summary: "The API reference", tag: tagService, standalone: true,
				replies: []reply{{status: http.StatusOK, description: "An HTML page", media: "text/html"}},
			}},
			route{method: http.MethodGet, path: "/docs/", handler: a.Docs},
		)
	}
	if a.Metrics != nil {
		rs = append(rs, route{http.MethodGet, "/metrics", a.Metrics, &operation{
			id: "metrics", summary: "Metrics", tag: tagService, standalone: true,
			replies: []reply{{status: http.StatusOK, description: "The Prometheus text exposition format", media: "text/plain", schema: str}},
		}})
	}
	return rs
}
