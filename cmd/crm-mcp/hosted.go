package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
)

// The HTTP face holds keys that can message a company's customers, so it
// checks, in this order: Host and Origin (DNS rebinding), then the bearer
// token, then the body size. Only /healthz is open; /webhooks/* skip the
// token (vendors cannot send it): each receiver authenticates its vendor
// (webhooks.go).

// withRequestHeaders keeps the request's headers for the tool layer: the
// caller's own vendor credentials and its X-MCP-* narrowing.
func withRequestHeaders(ctx context.Context, r *http.Request) context.Context {
	return tools.WithRequestHeaders(ctx, r.Header.Clone())
}

// requestRedactor is the redactor of one request: the app's keys, plus, when
// callers may bring their own vendor keys, the keys this request brought.
// They are masked in this request's output only.
func (a *app) requestRedactor(r *http.Request) *vendors.Redactor {
	if !a.perRequest {
		return a.redactor
	}
	var own []string
	for _, name := range credentialHeaders() {
		if v := r.Header.Get(name); v != "" {
			own = append(own, v)
		}
	}
	if len(own) == 0 {
		return a.redactor
	}
	return a.redactor.With(own...)
}

// credentialHeaders and requestHeaders are the tools layer's view of a
// request's vendor credentials.
var credentialHeaders = tools.CredentialHeaders

func requestHeaders(ctx context.Context) http.Header { return tools.RequestHeaders(ctx) }

// toolFilter hides, per request, the toolsets the caller has no
// credentials for (client-credentials mode) and applies X-MCP-Toolsets and
// X-MCP-Read-Only. Without request headers (stdio) it changes nothing.
func (a *app) toolFilter(ctx context.Context, ts []mcp.Tool) []mcp.Tool {
	h := requestHeaders(ctx)
	if h == nil {
		return ts
	}
	only := splitList(h.Get("X-MCP-Toolsets"))
	readOnly, _ := strconv.ParseBool(h.Get("X-MCP-Read-Only"))
	out := ts[:0:0]
	for _, t := range ts {
		set := a.toolsetOf[t.Name]
		if v := a.vendorByName[set]; v != nil && !a.envVendors[set] && !v.InRequest(ctx) {
			continue // the crm tools stay: they skip the vendors the caller cannot use
		}
		if len(only) > 0 && !slices.Contains(only, set) {
			continue
		}
		if readOnly && (t.Annotations.ReadOnlyHint == nil || !*t.Annotations.ReadOnlyHint) {
			continue
		}
		if !tools.PrincipalFrom(ctx).Allows(a.scopeOf[t.Name]) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// vendorVisible says whether this request may read a vendor's resources
// and complete its records: as toolFilter does for its tools, it hides the
// vendors the caller has no credentials for (client-credentials mode) and
// those X-MCP-Toolsets leaves out, and with scopes it needs crm:read.
// X-MCP-Read-Only keeps them: they are reads. (--toolsets is applied when
// the resources are registered.)
func (a *app) vendorVisible(ctx context.Context, vendor string) bool {
	if !tools.PrincipalFrom(ctx).Allows(tools.ScopeRead) {
		return false
	}
	h := requestHeaders(ctx)
	if h == nil {
		return true
	}
	if v := a.vendorByName[vendor]; v == nil || !a.envVendors[vendor] && !v.InRequest(ctx) {
		return false
	}
	only := splitList(h.Get("X-MCP-Toolsets"))
	return len(only) == 0 || slices.Contains(only, vendor)
}

// guard wraps every endpoint but /healthz (and the OAuth metadata, open to
// all) with the host, origin, authentication, scope and body-size checks.
func (a *app) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		if !a.hostAllowed(r.Host) {
			http.Error(w, "forbidden: Host "+strconv.Quote(r.Host)+" is not allowed (set MCP_ALLOWED_HOSTS)", http.StatusForbidden)
			return
		}
		if a.oauth != nil && (r.URL.Path == "/.well-known/oauth-protected-resource" || r.URL.Path == a.oauth.metaPath) {
			a.oauth.serveMetadata(w, r)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !a.originAllowed(o) {
			http.Error(w, "forbidden: Origin "+strconv.Quote(o)+" is not allowed (set MCP_ALLOWED_ORIGINS)", http.StatusForbidden)
			return
		}
		if isWebhook(r.URL.Path) {
			// Vendors cannot send our bearer token: each receiver checks its
			// vendor's signature or secret path token, and caps the body.
			next.ServeHTTP(w, r)
			return
		}
		p, err := a.authenticate(r)
		if err != nil {
			a.challenge(w, r, err)
			return
		}
		if r.Body != nil && a.cfg.MaxBodyBytes > 0 {
			r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
		}
		if r.Method == http.MethodPost && (r.URL.Path == "/mcp" || r.URL.Path == "/message") {
			// Read once here: the scope check, the confirmations and the
			// progress writer all need the message, and mcp-go reads it again.
			msg := peek(r)
			r = r.WithContext(context.WithValue(r.Context(), peekKey{}, &msg))
		}
		if p != nil {
			if scope := a.requiredScope(peeked(r)); !p.Allows(scope) {
				a.forbidScope(w, scope)
				return
			}
			r = r.WithContext(tools.WithPrincipal(r.Context(), p))
		}
		r = r.WithContext(vendors.WithRedactor(r.Context(), a.requestRedactor(r)))
		next.ServeHTTP(w, r)
	})
}

// isWebhook: a webhook receiver's path, already clean (the mux would
// redirect an unclean one rather than serve it).
func isWebhook(p string) bool {
	return strings.HasPrefix(p, "/webhooks/") && path.Clean(p) == p
}

// errNoToken: authentication is on and the request brought no bearer token.
var errNoToken = errors.New("no token")

// authenticate finds who makes the request: nil (no authentication is
// configured), a static token's holder, or an OAuth token's subject. A token
// is read from the Authorization header only, never from the URL.
func (a *app) authenticate(r *http.Request) (*tools.Principal, error) {
	if len(a.tokens) == 0 && a.oauth == nil {
		return nil, nil
	}
	if r.URL.Query().Has("access_token") {
		return nil, errInvalidToken
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || got == "" {
		return nil, errNoToken
	}
	if p := a.staticToken(got); p != nil {
		return p, nil
	}
	if a.oauth == nil {
		return nil, errInvalidToken
	}
	return a.oauth.validate(r.Context(), got)
}

// staticToken compares against every MCP_AUTH_TOKENS entry in constant time,
// so neither a match nor its position leaks through timing.
func (a *app) staticToken(got string) *tools.Principal {
	var found *tools.Principal
	for i := range a.tokens {
		if subtle.ConstantTimeCompare([]byte(got), []byte(a.tokens[i].secret)) == 1 {
			found = &a.tokens[i].principal
		}
	}
	return found
}

// staticToken is one MCP_AUTH_TOKENS entry: "token" (every scope) or
// "token:crm:read crm:write" (those scopes).
type staticToken struct {
	secret    string
	principal tools.Principal
}

func parseTokens(entries []string) []staticToken {
	out := make([]staticToken, 0, len(entries))
	for _, e := range entries {
		secret, scopes, hasScopes := strings.Cut(e, ":")
		t := staticToken{secret: secret, principal: tools.Principal{Kind: "token", Subject: "token-" + ratelimit.Fingerprint(secret)}}
		if hasScopes {
			t.principal.Scopes = strings.Fields(scopes)
		}
		out = append(out, t)
	}
	return out
}

// challenge answers 401 with what a client needs to get a token: the
// resource metadata (OAuth) and the scope to ask for. Nothing says why a
// token was refused.
func (a *app) challenge(w http.ResponseWriter, _ *http.Request, err error) {
	a.metrics.auth.WithLabelValues("unauthorized").Inc()
	v := `Bearer realm="crm-mcp"`
	if a.oauth != nil {
		v = `Bearer resource_metadata="` + a.oauth.metaURL + `", scope="` + a.oauth.scopeName(tools.ScopeRead) + `"`
	}
	if !errors.Is(err, errNoToken) {
		v += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", v)
	http.Error(w, "unauthorized: send Authorization: Bearer <token>", http.StatusUnauthorized)
}

// forbidScope answers 403 with the scope to step up to.
func (a *app) forbidScope(w http.ResponseWriter, scope string) {
	a.metrics.auth.WithLabelValues("insufficient_scope").Inc()
	name := scope
	if a.oauth != nil {
		name = a.oauth.scopeName(scope)
	}
	v := `Bearer error="insufficient_scope", scope="` + name + `"`
	if a.oauth != nil {
		v += `, resource_metadata="` + a.oauth.metaURL + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	http.Error(w, "forbidden: this call needs the "+name+" scope", http.StatusForbidden)
}

// requiredScope is the scope a JSON-RPC call needs: a tool's own for
// tools/call, crm:read for resources/read and completion/complete (they
// read vendor records), "" for everything else (listing is filtered
// instead).
func (a *app) requiredScope(msg rpcPeek) string {
	switch msg.Method {
	case string(mcp.MethodToolsCall):
		return a.scopeOf[msg.Params.Name]
	case string(mcp.MethodResourcesRead), string(mcp.MethodCompletionComplete):
		return tools.ScopeRead
	}
	return ""
}

// hostAllowed: loopback names always; with MCP_ALLOWED_HOSTS, those too;
// a server bound to a non-loopback address with no list accepts any Host
// (it is behind tokens).
func (a *app) hostAllowed(host string) bool {
	name := hostname(host)
	if isLoopback(name) {
		return true
	}
	if len(a.cfg.AllowedHosts) > 0 {
		return slices.ContainsFunc(a.cfg.AllowedHosts, func(h string) bool { return strings.EqualFold(h, name) || strings.EqualFold(h, host) })
	}
	return !isLoopback(hostname(a.cfg.Addr))
}

// originAllowed: browsers send Origin; only loopback pages and the listed
// origins may drive the server.
func (a *app) originAllowed(origin string) bool {
	if slices.ContainsFunc(a.cfg.AllowedOrigins, func(o string) bool { return o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) }) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && isLoopback(u.Hostname())
}

func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// callerOf names who makes a request, for binding an /sse session and a
// confirmation to it: the authenticated principal (so a refreshed OAuth
// token is the same caller), or without authentication the Authorization
// header, and every value of every vendor credential header it brings. A
// SHA-256: enough to compare callers, nothing worth stealing.
func callerOf(r *http.Request) [32]byte {
	h := sha256.New()
	if p := tools.PrincipalFrom(r.Context()); p != nil {
		fmt.Fprintf(h, "%s\x00%s\x00%s\n", p.Kind, p.Tenant, p.Subject)
	} else {
		fmt.Fprintf(h, "%q\n", r.Header.Values("Authorization"))
	}
	for _, name := range credentialHeaders() {
		fmt.Fprintf(h, "%s\x00%q\n", name, r.Header.Values(name))
	}
	return [32]byte(h.Sum(nil))
}

// rpcPeek is what the server reads of a JSON-RPC message POSTed to /mcp
// or /message before mcp-go does.
type rpcPeek struct {
	Method string          `json:"method"`
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
	Params struct {
		Name         string `json:"name"` // tools/call's tool
		Capabilities struct {
			Elicitation json.RawMessage `json:"elicitation"`
		} `json:"capabilities"`
		Meta struct {
			ProgressToken json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
	} `json:"params"`
}

// wantsProgress: a tools/call that sent a progress token.
func (m rpcPeek) wantsProgress() bool {
	t := m.Params.Meta.ProgressToken
	return len(t) > 0 && string(t) != "null"
}

// peek reads r's body (already bounded) and puts it back. A body over the
// bound is put back with its error, which the handler then reports.
func peek(r *http.Request) rpcPeek {
	var msg rpcPeek
	body, err := io.ReadAll(r.Body)
	if err != nil {
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		return msg
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	_ = json.Unmarshal(body, &msg)
	return msg
}

type peekKey struct{}

// peeked is what guard read of r's message (zero if it read none).
func peeked(r *http.Request) rpcPeek {
	if m, ok := r.Context().Value(peekKey{}).(*rpcPeek); ok {
		return *m
	}
	return rpcPeek{}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
