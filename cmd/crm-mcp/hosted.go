package main

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/crm-mcp/crm-mcp/vendors"
)

// The HTTP face holds keys that can message a company's customers, so it
// checks, in this order: Host and Origin (DNS rebinding), then the bearer
// token, then the body size. Only /healthz is open.

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
		out = append(out, t)
	}
	return out
}

// guard wraps every endpoint but /healthz with the host, origin, token and
// body-size checks.
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
		if o := r.Header.Get("Origin"); o != "" && !a.originAllowed(o) {
			http.Error(w, "forbidden: Origin "+strconv.Quote(o)+" is not allowed (set MCP_ALLOWED_ORIGINS)", http.StatusForbidden)
			return
		}
		if len(a.cfg.AuthTokens) > 0 && !a.tokenOK(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="crm-mcp"`)
			http.Error(w, "unauthorized: send Authorization: Bearer <token> (one of MCP_AUTH_TOKENS)", http.StatusUnauthorized)
			return
		}
		r = r.WithContext(vendors.WithRedactor(r.Context(), a.requestRedactor(r)))
		if r.Body != nil && a.cfg.MaxBodyBytes > 0 {
			r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// tokenOK compares against every token in constant time, so neither a
// match nor its position leaks through timing.
func (a *app) tokenOK(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	match := 0
	for _, t := range a.cfg.AuthTokens {
		match |= subtle.ConstantTimeCompare([]byte(got), []byte(t))
	}
	return match == 1
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
