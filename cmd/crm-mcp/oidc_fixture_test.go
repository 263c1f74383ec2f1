package main

// A real OpenID provider for tests: zitadel/oidc's op package (the same code
// that runs ZITADEL's authorization server) on a loopback httptest server,
// over plain http (op.WithAllowInsecure). Only the storage is ours: two
// clients, an in-memory auth request table and one RSA key. Access tokens are
// RS256 JWTs (RFC 9068 style): iss, sub, aud (a JSON array holding the
// audience given to startOIDC), exp, iat, nbf, jti, client_id and a
// space-separated "scope" claim with the granted crm:* scopes.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// oidcScopes are the custom scopes the provider grants.
var oidcScopes = []string{"crm:read", "crm:write", "crm:send"}

// oidcProvider is a real OpenID provider (zitadel/oidc op) on loopback.
type oidcProvider struct {
	Issuer       string // http://127.0.0.1:PORT, exactly the iss of its tokens
	Audience     string // put in the aud of every access token
	TokenURL     string // the token endpoint
	ClientID     string // confidential client (client_credentials); also the sub of its tokens
	ClientSecret string
	PublicClient string // public client for the authorization code flow with PKCE
	RedirectURI  string // the public client's registered redirect URI (never dialed)
	User         string // sub of tokens from TokenWithPKCE: the user the login page signs in

	key *rsa.PrivateKey // the provider's signing key, for Mint
	kid string
}

// Mint signs claims with the provider's own key and kid: for the bad
// tokens a real provider would never issue (expired, another audience...).
func (p *oidcProvider) Mint(t testing.TB, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: p.key, KeyID: p.kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// startOIDC starts a provider for the test; audience is the resource the
// access tokens are for (our MCP_PUBLIC_URL).
func startOIDC(t testing.TB, audience string) *oidcProvider {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	p := &oidcProvider{
		Issuer: "http://" + srv.Listener.Addr().String(), Audience: audience,
		ClientID: "crm-mcp-test", ClientSecret: "test-secret",
		PublicClient: "crm-mcp-public", RedirectURI: "http://127.0.0.1/callback", User: "user-1",
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.key, p.kid = key, oidcRandom(8)
	st := &oidcStore{audience: audience, user: p.User, key: key, kid: p.kid,
		requests: map[string]*oidcAuthRequest{}, codes: map[string]string{}}
	st.clients = map[string]*oidcClient{
		p.ClientID: {id: p.ClientID, secret: p.ClientSecret, appType: op.ApplicationTypeWeb,
			authMethod: oidc.AuthMethodPost, grants: []oidc.GrantType{oidc.GrantTypeClientCredentials}},
		p.PublicClient: {id: p.PublicClient, appType: op.ApplicationTypeNative, authMethod: oidc.AuthMethodNone,
			grants: []oidc.GrantType{oidc.GrantTypeCode}, redirects: []string{p.RedirectURI}, login: p.Issuer + "/login?id="},
	}
	cfg := &op.Config{CodeMethodS256: true, AuthMethodPost: true,
		SupportedScopes: append([]string{oidc.ScopeOpenID}, oidcScopes...)}
	if _, err := rand.Read(cfg.CryptoKey[:]); err != nil {
		t.Fatal(err)
	}
	provider, err := op.NewProvider(cfg, st, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	p.TokenURL = provider.TokenEndpoint().Absolute(p.Issuer)

	// The login UI: it signs p.User in without asking (as if a session
	// existed) and hands the request back to op's callback.
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		if err := st.login(id); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, op.AuthCallbackURL(provider)(op.ContextWithIssuer(r.Context(), p.Issuer), id), http.StatusFound)
	})
	mux.Handle("/", provider)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

// Token gets an access token with the client credentials grant (client_id
// and client_secret in the form), asking for scopes. Scopes other than
// crm:read, crm:write and crm:send are refused (invalid_scope); none asked
// means none granted, and the token then has no scope claim.
func (p *oidcProvider) Token(t testing.TB, scopes ...string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {p.ClientID}, "client_secret": {p.ClientSecret}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	return p.exchange(t, form)
}

// TokenWithPKCE gets an access token for p.User with the authorization code
// flow and PKCE (S256), driven with plain HTTP: /authorize redirects to the
// login page, which redirects to op's callback, which redirects to
// RedirectURI with the code; the code and verifier are then exchanged at the
// token endpoint. Unknown scopes are dropped, as op does for this flow.
func (p *oidcProvider) TokenWithPKCE(t testing.TB, scopes ...string) string {
	t.Helper()
	verifier := oidcRandom(32)
	sum := sha256.Sum256([]byte(verifier))
	state := oidcRandom(8)
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
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("authorize: HTTP %d, no redirect: %v", resp.StatusCode, err)
	}
	got := loc.Query()
	if got.Get("code") == "" || got.Get("state") != state {
		t.Fatalf("authorize: redirected to %s", loc)
	}
	return p.exchange(t, url.Values{"grant_type": {"authorization_code"}, "client_id": {p.PublicClient},
		"code": {got.Get("code")}, "redirect_uri": {p.RedirectURI}, "code_verifier": {verifier}})
}

// exchange posts form to the token endpoint and returns the access token.
func (p *oidcProvider) exchange(t testing.TB, form url.Values) string {
	t.Helper()
	resp, err := http.PostForm(p.TokenURL, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		t.Fatalf("token endpoint (%s): HTTP %d, %s %s, decode error %v", form.Get("grant_type"), resp.StatusCode, body.Error, body.Description, err)
	}
	return body.AccessToken
}

func oidcRandom(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// oidcStore is the op.Storage (and op.ClientCredentialsStorage) behind the
// provider. Only what the two grants need does anything.
type oidcStore struct {
	audience, user string
	key            *rsa.PrivateKey
	kid            string
	clients        map[string]*oidcClient

	mu       sync.Mutex
	requests map[string]*oidcAuthRequest // by id
	codes    map[string]string           // code -> request id
}

var errOIDCUnsupported = errors.New("not supported by the test provider")

func (s *oidcStore) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if c, ok := s.clients[id]; ok {
		return c, nil
	}
	return nil, errors.New("unknown client")
}

func (s *oidcStore) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if c, ok := s.clients[id]; ok && c.secret != "" && c.secret == secret {
		return nil
	}
	return errors.New("wrong client credentials")
}

func (s *oidcStore) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	if err := s.AuthorizeClientIDSecret(ctx, id, secret); err != nil {
		return nil, err
	}
	return s.clients[id], nil
}

// ClientCredentialsTokenRequest decides sub, aud and the granted scopes of a
// client credentials token.
func (s *oidcStore) ClientCredentialsTokenRequest(_ context.Context, id string, scopes []string) (op.TokenRequest, error) {
	for _, sc := range scopes {
		if !slices.Contains(oidcScopes, sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("unknown scope %q", sc)
		}
	}
	return &oidc.JWTTokenRequest{Subject: id, Audience: []string{s.audience}, Scopes: scopes}, nil
}

// GetPrivateClaimsFromScopes adds the scope claim: op's CreateJWT leaves
// AccessTokenClaims.Scopes empty, so without this no scopes reach the token.
func (s *oidcStore) GetPrivateClaimsFromScopes(_ context.Context, _, _ string, scopes []string) (map[string]any, error) {
	var granted []string
	for _, sc := range scopes {
		if slices.Contains(oidcScopes, sc) {
			granted = append(granted, sc)
		}
	}
	if len(granted) == 0 {
		return nil, nil
	}
	return map[string]any{"scope": strings.Join(granted, " ")}, nil
}

func (s *oidcStore) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	return oidcRandom(16), time.Now().Add(5 * time.Minute), nil
}

func (s *oidcStore) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &oidcAuthRequest{AuthRequest: r, id: oidcRandom(16), audience: s.audience}
	s.requests[a.id] = a
	return a, nil
}

// login marks the auth request as signed in by s.user.
func (s *oidcStore) login(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.requests[id]
	if !ok {
		return errors.New("unknown auth request")
	}
	a.subject, a.authTime, a.done = s.user, time.Now(), true
	return nil
}

func (s *oidcStore) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.requests[id]; ok {
		return a, nil
	}
	return nil, errors.New("unknown auth request")
}

func (s *oidcStore) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id := s.codes[code]
	s.mu.Unlock()
	return s.AuthRequestByID(ctx, id)
}

func (s *oidcStore) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *oidcStore) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *oidcStore) SigningKey(context.Context) (op.SigningKey, error) {
	return oidcSigningKey{s.kid, s.key}, nil
}

func (s *oidcStore) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *oidcStore) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{oidcPublicKey{s.kid, &s.key.PublicKey}}, nil
}

func (s *oidcStore) Health(context.Context) error { return nil }

// Not used by the client credentials and authorization code grants.

func (s *oidcStore) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errOIDCUnsupported
}
func (s *oidcStore) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, errOIDCUnsupported
}
func (s *oidcStore) TerminateSession(context.Context, string, string) error { return nil }
func (s *oidcStore) RevokeToken(context.Context, string, string, string) *oidc.Error {
	return oidc.ErrServerError().WithDescription("revocation is not supported")
}
func (s *oidcStore) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}
func (s *oidcStore) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}
func (s *oidcStore) SetUserinfoFromToken(context.Context, *oidc.UserInfo, string, string, string) error {
	return errOIDCUnsupported
}
func (s *oidcStore) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errOIDCUnsupported
}
func (s *oidcStore) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errOIDCUnsupported
}
func (s *oidcStore) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errOIDCUnsupported
}

type oidcSigningKey struct {
	kid string
	key *rsa.PrivateKey
}

func (k oidcSigningKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k oidcSigningKey) Key() any                                    { return k.key }
func (k oidcSigningKey) ID() string                                  { return k.kid }

type oidcPublicKey struct {
	kid string
	key *rsa.PublicKey
}

func (k oidcPublicKey) ID() string                         { return k.kid }
func (k oidcPublicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k oidcPublicKey) Use() string                        { return "sig" }
func (k oidcPublicKey) Key() any                           { return k.key }

// oidcClient is an op.Client whose access tokens are JWTs.
type oidcClient struct {
	id, secret string
	appType    op.ApplicationType
	authMethod oidc.AuthMethod
	grants     []oidc.GrantType
	redirects  []string
	login      string // login page URL, the auth request id appended
}

func (c *oidcClient) GetID() string                       { return c.id }
func (c *oidcClient) RedirectURIs() []string              { return c.redirects }
func (c *oidcClient) PostLogoutRedirectURIs() []string    { return nil }
func (c *oidcClient) ApplicationType() op.ApplicationType { return c.appType }
func (c *oidcClient) AuthMethod() oidc.AuthMethod         { return c.authMethod }
func (c *oidcClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *oidcClient) GrantTypes() []oidc.GrantType         { return c.grants }
func (c *oidcClient) LoginURL(id string) string            { return c.login + url.QueryEscape(id) }
func (c *oidcClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c *oidcClient) IDTokenLifetime() time.Duration       { return 5 * time.Minute }
func (c *oidcClient) DevMode() bool                        { return false }
func (c *oidcClient) IsScopeAllowed(scope string) bool     { return slices.Contains(oidcScopes, scope) }
func (c *oidcClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *oidcClient) ClockSkew() time.Duration             { return 0 }
func (c *oidcClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *oidcClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// oidcAuthRequest is an op.AuthRequest: the parsed /authorize request plus
// what the login adds. Its audience is the resource, so code-flow access
// tokens carry the same aud as client credentials ones.
type oidcAuthRequest struct {
	*oidc.AuthRequest // GetRedirectURI, GetResponseType, GetResponseMode, GetState
	id, subject       string
	audience          string
	authTime          time.Time
	done              bool
}

func (a *oidcAuthRequest) GetID() string          { return a.id }
func (a *oidcAuthRequest) GetACR() string         { return "" }
func (a *oidcAuthRequest) GetAMR() []string       { return []string{"pwd"} }
func (a *oidcAuthRequest) GetAudience() []string  { return []string{a.audience} }
func (a *oidcAuthRequest) GetAuthTime() time.Time { return a.authTime }
func (a *oidcAuthRequest) GetClientID() string    { return a.ClientID }
func (a *oidcAuthRequest) GetNonce() string       { return a.Nonce }
func (a *oidcAuthRequest) GetScopes() []string    { return a.Scopes }
func (a *oidcAuthRequest) GetSubject() string     { return a.subject }
func (a *oidcAuthRequest) Done() bool             { return a.done }
func (a *oidcAuthRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: a.CodeChallengeMethod}
}

func TestOIDCFixture(t *testing.T) {
	const audience = "http://127.0.0.1:9/mcp"
	p := startOIDC(t, audience)

	var disco struct {
		Issuer  string   `json:"issuer"`
		JWKSURI string   `json:"jwks_uri"`
		Token   string   `json:"token_endpoint"`
		Grants  []string `json:"grant_types_supported"`
		PKCE    []string `json:"code_challenge_methods_supported"`
		Scopes  []string `json:"scopes_supported"`
	}
	oidcGetJSON(t, p.Issuer+"/.well-known/openid-configuration", &disco)
	if disco.Issuer != p.Issuer || disco.Token != p.TokenURL || !slices.Contains(disco.Grants, "client_credentials") ||
		!slices.Contains(disco.PKCE, "S256") || !slices.Contains(disco.Scopes, "crm:send") {
		t.Fatalf("discovery: %+v", disco)
	}
	var jwks struct {
		Keys []struct{ Kid, Kty, Alg, N, E string }
	}
	oidcGetJSON(t, disco.JWKSURI, &jwks)

	check := func(t testing.TB, tok, sub string, scopes ...string) {
		t.Helper()
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("not a JWS: %q", tok)
		}
		var hdr struct{ Alg, Kid, Typ string }
		var claims struct {
			Iss   string   `json:"iss"`
			Sub   string   `json:"sub"`
			Aud   []string `json:"aud"`
			Exp   int64    `json:"exp"`
			Scope string   `json:"scope"`
		}
		oidcSegment(t, parts[0], &hdr)
		oidcSegment(t, parts[1], &claims)
		if hdr.Alg != "RS256" || hdr.Kid == "" {
			t.Fatalf("header %+v", hdr)
		}
		var pub *rsa.PublicKey
		for _, k := range jwks.Keys {
			if k.Kid == hdr.Kid && k.Kty == "RSA" {
				n, _ := base64.RawURLEncoding.DecodeString(k.N)
				e, _ := base64.RawURLEncoding.DecodeString(k.E)
				pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
			}
		}
		if pub == nil {
			t.Fatalf("kid %q not in JWKS %+v", hdr.Kid, jwks)
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("signature: %v", err)
		}
		if claims.Iss != p.Issuer || claims.Sub != sub || !slices.Contains(claims.Aud, audience) ||
			claims.Exp <= time.Now().Unix() || claims.Scope != strings.Join(scopes, " ") {
			t.Fatalf("claims %+v", claims)
		}
	}

	t.Run("client credentials", func(t *testing.T) {
		check(t, p.Token(t, "crm:read", "crm:send"), p.ClientID, "crm:read", "crm:send")
		check(t, p.Token(t), p.ClientID) // no scopes asked, none granted, no scope claim
	})
	t.Run("pkce", func(t *testing.T) {
		check(t, p.TokenWithPKCE(t, "openid", "crm:write", "other"), p.User, "crm:write")
	})
	t.Run("bad requests", func(t *testing.T) {
		for _, form := range []url.Values{
			{"grant_type": {"client_credentials"}, "client_id": {p.ClientID}, "client_secret": {"wrong"}},
			{"grant_type": {"client_credentials"}, "client_id": {p.ClientID}, "client_secret": {p.ClientSecret}, "scope": {"admin"}},
		} {
			resp, err := http.PostForm(p.TokenURL, form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Errorf("%v: got a token", form)
			}
		}
	})
}

func oidcGetJSON(t testing.TB, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

func oidcSegment(t testing.TB, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatalf("JWT segment %q: %v", seg, err)
	}
}
