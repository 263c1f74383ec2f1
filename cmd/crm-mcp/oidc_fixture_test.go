package main

// The tests' OpenID provider: cmd/internal/oidcdev (zitadel/oidc's op on a
// loopback port), wrapped so a failure fails the test. Access tokens are
// RS256 JWTs: iss, sub, aud (a JSON array holding the audience given to
// startOIDC), exp, iat, nbf, jti, client_id and a space-separated "scope"
// claim with the granted crm:* scopes.

import (
	"crypto/rsa"
	"testing"

	"github.com/crm-mcp/crm-mcp/cmd/internal/oidcdev"
)

// oidcProvider is a real OpenID provider on loopback; its fields (Issuer,
// Audience, TokenURL, ClientID, ...) are oidcdev.Provider's.
type oidcProvider struct {
	*oidcdev.Provider
	key *rsa.PrivateKey // the provider's signing key, for Mint
	kid string          // the kid Mint writes; a test may change it
}

// startOIDC starts a provider for the test; audience is the resource the
// access tokens are for (our MCP_PUBLIC_URL).
func startOIDC(t testing.TB, audience string) *oidcProvider {
	t.Helper()
	p, err := oidcdev.Start("127.0.0.1:0", audience)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return &oidcProvider{Provider: p, key: p.Key, kid: p.KeyID}
}

// Token gets an access token with the client credentials grant, asking for
// scopes (none asked: no scope claim).
func (p *oidcProvider) Token(t testing.TB, scopes ...string) string {
	t.Helper()
	tok, err := p.Provider.Token(scopes...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TokenWithPKCE gets an access token for p.User with the authorization code
// flow and PKCE (S256); unknown scopes are dropped.
func (p *oidcProvider) TokenWithPKCE(t testing.TB, scopes ...string) string {
	t.Helper()
	tok, err := p.Provider.TokenWithPKCE(scopes...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Mint signs claims with p.key and p.kid: for the bad tokens a real
// provider would never issue (expired, another audience, unknown kid...).
func (p *oidcProvider) Mint(t testing.TB, claims map[string]any) string {
	t.Helper()
	tok, err := oidcdev.Sign(p.key, p.kid, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
