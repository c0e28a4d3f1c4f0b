// Package forwardauth lets a reverse proxy (nginx, Traefik, Caddy) ask
// Gatehouse whether a request may reach an application that knows nothing of
// Gatehouse. The server mounts [New]'s handler at GET /auth/forward; for
// every request it protects, the proxy sends that endpoint a subrequest
// carrying the client's headers and a description of the original request,
// and lets the original request through only on a 2xx answer.
//
// # What the proxy sends
//
// The credential is the client's own, as the proxy forwards the client's
// headers to the subrequest: the Cookie header (cookie backends), the
// Authorization header (bearer backends) and X-API-Key (API keys). The
// Authenticator's backends read them exactly as on Gatehouse's own routes.
//
// The original request is described by
//
//	X-Forwarded-Method  (or nginx's X-Original-Method)  GET, POST, …
//	X-Forwarded-Proto                                    http, https, ws or wss
//	X-Forwarded-Host                                     host[:port]
//	X-Forwarded-Uri     (or nginx's X-Original-URI)      /path?query, as the client sent it
//
// Each may be sent once. When a header and its X-Original-* alias are both
// present they must agree: a proxy that sets one and forwards the client's
// other could otherwise be fooled by a client that sends the other one
// itself. The proxy must set every header it relies on, overwriting what the
// client sent (nginx's proxy_set_header and Traefik do); a header the proxy
// does not set is whatever the client chose. A malformed header, a host that
// is not a host name or IP literal with an optional port, or a URI that is
// not an origin-form request target of visible ASCII (at most 8 KiB) is
// answered 400: it means a misconfigured proxy, never a client to let in.
// The RFC 7239 Forwarded header is not read.
//
// A missing X-Forwarded-Method is taken to be the subrequest's own method
// (GET). Without Config.Policies the other headers are optional; with
// policies, method, host and URI are required, so that a proxy that forgets
// one cannot make every request look like the same, allowed, one.
//
// # Answers
//
//   - 200, empty body, Cache-Control: no-store, and
//     X-Gatehouse-User-Id (the user's ID), X-Gatehouse-User-Email and
//     X-Gatehouse-User-Roles (role names, sorted, comma-separated; empty
//     without Config.Roles or roles). The proxy copies these to the
//     upstream request, replacing any the client sent.
//   - 401 {"detail":"Unauthorized"} with WWW-Authenticate: Bearer when the
//     request carries no credential, or an unknown, invalid, expired or
//     revoked one.
//   - 403 {"detail":"Forbidden"} when the user is inactive, fails
//     Config.Requirement (unverified, not a superuser), or no policy
//     allows the request; also when the only credential is a cookie and
//     the original request is an unsafe cross-site one (see below).
//     Inactive users get 403 rather than the 401 of Gatehouse's own routes:
//     a 401 sends the browser to a login page where they cannot log in.
//   - 503 {"detail":"SERVICE_UNAVAILABLE"} when a store cannot answer: the
//     endpoint fails closed and never answers 200 without a check.
//   - 400 for malformed forwarded headers, 500 when a user's e-mail or a
//     role name cannot be written in a header safely (values with control
//     characters, role names with commas or spaces; Gatehouse's own routes
//     never store such values).
//
// Every answer carries Cache-Control: no-store.
//
// # Cross-site requests
//
// The Authenticator is given the original request, not the subrequest: its
// method, host and URI are the forwarded ones. Its cross-origin protection
// (gatehouse.Authenticator.CrossOriginProtection) therefore refuses an
// unsafe (POST, PUT, PATCH, DELETE) cross-site request to the application
// whose only credential is a cookie, exactly as it does for Gatehouse's own
// routes, while the GET subrequest itself is never refused for being a GET.
// The check reads the client's Sec-Fetch-Site, or its Origin against the
// forwarded host, so forward the host with its port ($http_host in nginx).
// Add the origins of trusted front ends to the Authenticator's protection.
//
// # Policies
//
// With Config.Policies, a request is let through only when one of the CEL
// policies (see authz.CELPolicy) allows it. They are evaluated with
//
//   - action: "forward" ([Action]), so that the server's policies file can
//     hold rules for POST /authorize and for forward auth side by side;
//   - resource: the original request, a map of
//     method (as forwarded), scheme (as forwarded, lowercased; "" when the
//     proxy did not say), host (lowercased, without the port or IPv6
//     brackets), path (percent-decoded and cleaned of "." and ".."
//     segments and repeated slashes, a trailing slash kept; "/docs/%2e%2e/admin"
//     is "/admin", so a rule on a prefix cannot be bypassed by encoding)
//     and query (the raw query string, without "?");
//   - request: method and path, the same as resource's, and time (the
//     current time, a timestamp), following the convention of
//     POST /authorize but describing the original request. There is no ip:
//     the client address would only be what the proxy's headers claim.
//   - user: the user with the roles and permissions the Config.Roles store
//     gives it, as authz.Resolver computes them: an API key's request holds
//     only the permissions among its scopes and the roles its scopes cover
//     entirely, and is never is_superuser.
//
// For example:
//
//	docs:  action == "forward" && resource.path.startsWith("/docs/") && "docs:read" in user.permissions
//	admin: action == "forward" && resource.host == "admin.example.com" && "admin" in user.roles
//	reads: action == "forward" && request.method in ["GET", "HEAD"] && user.is_verified == true
//
// Without policies any user who meets Config.Requirement is let through.
//
// # Sending browsers to the login page
//
// When Config.LoginURL is set and the original request looks like a browser
// navigation (a forwarded method of GET or HEAD, an Accept header naming
// text/html), the 401 carries
//
//	Location: LOGIN_URL?next=SCHEME%3A%2F%2FHOST%2FURI
//
// where next is the original absolute URL: the forwarded scheme (https
// when the proxy did not say; http or https only), host and URI, escaped as
// a query parameter. It names the host the proxy forwarded and nothing
// else, so the login page must still check next against the hosts it
// serves before following it. Requests that do not look like navigations
// (API clients, fetch calls, other methods) get a plain 401.
//
// nginx's auth_request accepts only 2xx, 401 and 403 from the auth endpoint
// (anything else becomes a 500), so with nginx the endpoint always answers
// 401 and nginx itself redirects, reading Location through auth_request_set.
// Traefik's forwardAuth and Caddy's forward_auth hand the auth answer to the
// client as is; for them, ask for the redirect with the query parameter
// redirect=1 (address http://gatehouse:8000/auth/forward?redirect=1), and a
// browser navigation is answered 302 to the Location above instead of 401.
//
// # nginx
//
// With Gatehouse at 127.0.0.1:8000 and the application at 127.0.0.1:9000:
//
//	location / {
//	    auth_request /_gatehouse;
//	    auth_request_set $gatehouse_user_id    $upstream_http_x_gatehouse_user_id;
//	    auth_request_set $gatehouse_user_email $upstream_http_x_gatehouse_user_email;
//	    auth_request_set $gatehouse_user_roles $upstream_http_x_gatehouse_user_roles;
//	    auth_request_set $gatehouse_login      $upstream_http_location;
//	    error_page 401 = @gatehouse_login;
//
//	    # Replaces whatever the client sent under these names.
//	    proxy_set_header X-Gatehouse-User-Id    $gatehouse_user_id;
//	    proxy_set_header X-Gatehouse-User-Email $gatehouse_user_email;
//	    proxy_set_header X-Gatehouse-User-Roles $gatehouse_user_roles;
//	    proxy_pass http://127.0.0.1:9000;
//	}
//
//	location = /_gatehouse {
//	    internal;
//	    proxy_pass http://127.0.0.1:8000/auth/forward;
//	    proxy_pass_request_body off;
//	    proxy_set_header Content-Length "";
//	    proxy_set_header X-Forwarded-Method $request_method;
//	    proxy_set_header X-Forwarded-Proto  $scheme;
//	    proxy_set_header X-Forwarded-Host   $http_host;
//	    proxy_set_header X-Forwarded-Uri    $request_uri;
//	}
//
//	# Browsers go to the login page; other clients get nginx's 401.
//	location @gatehouse_login {
//	    if ($gatehouse_login = "") {
//	        return 401;
//	    }
//	    return 302 $gatehouse_login;
//	}
//
// The subrequest goes without the body (the endpoint needs none, and nginx
// would otherwise announce a body it does not send). $http_host rather
// than $host keeps the port, which the login redirect and the cross-origin
// check need; nginx has validated it. A 403 from the endpoint is nginx's
// 403; a 503 (store down) or 400 (misconfiguration) becomes nginx's 500.
//
// # Traefik and Caddy
//
// Traefik (dynamic configuration):
//
//	http:
//	  middlewares:
//	    gatehouse:
//	      forwardAuth:
//	        address: http://gatehouse:8000/auth/forward?redirect=1
//	        authResponseHeaders: [X-Gatehouse-User-Id, X-Gatehouse-User-Email, X-Gatehouse-User-Roles]
//
// Caddy:
//
//	forward_auth gatehouse:8000 {
//	    uri /auth/forward?redirect=1
//	    copy_headers X-Gatehouse-User-Id X-Gatehouse-User-Email X-Gatehouse-User-Roles
//	}
//
// Both send X-Forwarded-Method, -Proto, -Host and -Uri themselves, from the
// request they received.
package forwardauth
