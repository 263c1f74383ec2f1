// Package oidcdev is a real OpenID provider for development, tests and CI:
// zitadel/oidc's op package (the code that runs ZITADEL's authorization
// server) on a loopback address, over plain http (op.WithAllowInsecure).
// Only the storage is ours and it is in memory: two clients, an auth request
// table and one RSA key made at start.
//
//   - A confidential client (ClientID, ClientSecret) for the client
//     credentials grant; it authenticates with client_secret_basic or
//     client_secret_post.
//   - A public client (PublicClient) for the authorization code flow with
//     PKCE (S256). Its redirect URIs are loopback http URIs with the path
//     /callback or /oauth/callback, on any port (RFC 8252). The login page
//     signs User in without asking, as if a session existed.
//
// Access tokens are RS256 JWTs (RFC 9068 style): iss, sub, aud (a JSON array
// holding the audience given to Start), exp, iat, nbf, jti, client_id and a
// space-separated "scope" claim with the granted crm:* scopes. The token
// endpoint ignores the RFC 8707 resource parameter: every token is for the
// one audience.
//
// It is not an identity provider for production: no users, no consent, a
// secret made up at start, and it listens on loopback addresses only.
package oidcdev

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Scopes are the custom scopes the provider grants.
var Scopes = []string{"crm:read", "crm:write", "crm:send"}

// TokenLifetime is how long an access token is valid.
const TokenLifetime = 5 * time.Minute

// Provider is a running OpenID provider.
type Provider struct {
	Issuer       string // http://127.0.0.1:PORT, exactly the iss of its tokens
	Audience     string // put in the aud of every access token
	TokenURL     string // the token endpoint
	ClientID     string // confidential client (client_credentials); also the sub of its tokens
	ClientSecret string // made up at start
	PublicClient string // public client for the authorization code flow with PKCE
	RedirectURI  string // a registered redirect URI of the public client (never dialed)
	User         string // sub of tokens from the code flow: the user the login page signs in

	Key   *rsa.PrivateKey // the signing key, for Mint
	KeyID string          // its kid

	srv *http.Server
	hc  *http.Client
}

// Start serves a provider on addr (host:port, port 0 for any free port),
// which must be a loopback address. audience is the resource the access
// tokens are for (crm-mcp's MCP_PUBLIC_URL).
func Start(addr, audience string) (*Provider, error) {
	if err := CheckLoopback(addr); err != nil {
		return nil, err
	}
	if audience == "" {
		return nil, errors.New("an audience is needed (the MCP server's public URL)")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p, handler, err := newProvider("http://"+ln.Addr().String(), audience)
	if err != nil {
		ln.Close()
		return nil, err
	}
	p.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// CheckLoopback says why addr (host:port) is not a loopback address, or nil.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address; this provider is for development and CI only (use 127.0.0.1:PORT)", addr)
}

// Close stops the provider.
func (p *Provider) Close() error { return p.srv.Close() }

// newProvider builds the provider for issuer and its HTTP handler.
func newProvider(issuer, audience string) (*Provider, http.Handler, error) {
	p := &Provider{
		Issuer: issuer, Audience: audience,
		ClientID: "crm-mcp-dev", ClientSecret: random(24),
		PublicClient: "crm-mcp-public", RedirectURI: "http://127.0.0.1/callback", User: "dev-user",
		hc: &http.Client{Timeout: 10 * time.Second},
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	p.Key, p.KeyID = key, random(8)
	st := &store{audience: audience, user: p.User, key: key, kid: p.KeyID,
		requests: map[string]*authRequest{}, codes: map[string]string{}}
	st.clients = map[string]*client{
		p.ClientID: {id: p.ClientID, secret: p.ClientSecret, appType: op.ApplicationTypeWeb,
			authMethod: oidc.AuthMethodBasic, grants: []oidc.GrantType{oidc.GrantTypeClientCredentials}},
		p.PublicClient: {id: p.PublicClient, appType: op.ApplicationTypeNative, authMethod: oidc.AuthMethodNone,
			grants:    []oidc.GrantType{oidc.GrantTypeCode},
			redirects: []string{p.RedirectURI, "http://127.0.0.1/oauth/callback"}, login: issuer + "/login?id="},
	}
	cfg := &op.Config{CodeMethodS256: true, AuthMethodPost: true,
		SupportedScopes: append([]string{oidc.ScopeOpenID}, Scopes...)}
	if _, err := rand.Read(cfg.CryptoKey[:]); err != nil {
		return nil, nil, err
	}
	provider, err := op.NewProvider(cfg, st, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		return nil, nil, err
	}
	p.TokenURL = provider.TokenEndpoint().Absolute(issuer)

	// The login UI: it signs p.User in without asking (as if a session
	// existed) and hands the request back to op's callback.
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		if err := st.login(id); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, op.AuthCallbackURL(provider)(op.ContextWithIssuer(r.Context(), issuer), id), http.StatusFound)
	})
	mux.Handle("/", provider)
	return p, mux, nil
}

// Token gets an access token with the client credentials grant (client_id
// and client_secret in the form), asking for scopes. Scopes other than
// crm:read, crm:write and crm:send are refused (invalid_scope); none asked
// means none granted, and the token then has no scope claim.
func (p *Provider) Token(scopes ...string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {p.ClientID}, "client_secret": {p.ClientSecret}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	return p.exchange(form)
}

// TokenWithPKCE gets an access token for p.User with the authorization code
// flow and PKCE (S256), driven with plain HTTP: /authorize redirects to the
// login page, which redirects to op's callback, which redirects to
// RedirectURI with the code; the code and verifier are then exchanged at the
// token endpoint. Unknown scopes are dropped, as op does for this flow.
func (p *Provider) TokenWithPKCE(scopes ...string) (string, error) {
	verifier := random(32)
	sum := sha256.Sum256([]byte(verifier))
	state := random(8)
	q := url.Values{"response_type": {"code"}, "client_id": {p.PublicClient}, "redirect_uri": {p.RedirectURI},
		"scope": {strings.Join(scopes, " ")}, "state": {state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), p.RedirectURI) {
			return http.ErrUseLastResponse // the client's redirect URI: stop, read the code
		}
		return nil
	}}
	resp, err := hc.Get(p.Issuer + "/authorize?" + q.Encode())
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("authorize: HTTP %d, no redirect: %w", resp.StatusCode, err)
	}
	got := loc.Query()
	if got.Get("code") == "" || got.Get("state") != state {
		return "", fmt.Errorf("authorize: redirected to %s", loc)
	}
	return p.exchange(url.Values{"grant_type": {"authorization_code"}, "client_id": {p.PublicClient},
		"code": {got.Get("code")}, "redirect_uri": {p.RedirectURI}, "code_verifier": {verifier}})
}

// exchange posts form to the token endpoint and returns the access token.
func (p *Provider) exchange(form url.Values) (string, error) {
	resp, err := p.hc.PostForm(p.TokenURL, form)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("token endpoint (%s): HTTP %d, %s %s, decode error %v", form.Get("grant_type"), resp.StatusCode, body.Error, body.Description, err)
	}
	return body.AccessToken, nil
}

// Mint signs claims with the provider's own key and kid: for the tokens a
// real provider would never issue (expired, another audience...).
func (p *Provider) Mint(claims map[string]any) (string, error) {
	return Sign(p.Key, p.KeyID, claims)
}

// Sign makes an RS256 compact JWS of claims with key, kid in its header.
func Sign(key *rsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
