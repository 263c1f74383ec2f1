package tools

import (
	"context"
	"slices"
)

// The scopes a caller may hold (OAuth, or a static token's list): reading,
// changing records, and reaching people (WhatsApp sends, sequence and flow
// triggers). Each tool needs exactly one (Tool.Scope).
const (
	ScopeRead  = "crm:read"
	ScopeWrite = "crm:write"
	ScopeSend  = "crm:send"
)

// Scopes are every scope, in order of power.
var Scopes = []string{ScopeRead, ScopeWrite, ScopeSend}

// Principal is who makes a call over HTTP: a static token or an OAuth
// access token's subject, and what it may do.
type Principal struct {
	Kind    string   // "token" (MCP_AUTH_TOKENS) or "oauth"
	Subject string   // the token's sub (OAuth), or a digest of the static token
	Tenant  string   // the configured tenant claim's value, if any
	Scopes  []string // nil: every scope
}

// Allows reports whether p holds scope ("" needs none).
func (p *Principal) Allows(scope string) bool {
	return p == nil || scope == "" || p.Scopes == nil || slices.Contains(p.Scopes, scope)
}

type principalKey struct{}

// WithPrincipal records who makes the call.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom is who makes the call; nil over stdio or with no auth.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
