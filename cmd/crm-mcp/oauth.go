package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/crm-mcp/crm-mcp/tools"
)

// The OAuth 2.1 resource server (MCP authorization spec): crm-mcp accepts
// access tokens issued by the team's own authorization server
// (MCP_OAUTH_ISSUER) for this server (MCP_PUBLIC_URL), and publishes
// Protected Resource Metadata (RFC 9728) so clients find that server.
//
// Validation uses lestrrat-go/jwx/v3 (maintained; JWKS parsing, JWS
// verification and claim validation in one library, with algorithm/key-type
// checks built in). Its key set is fetched from the issuer's jwks_uri,
// cached, and fetched again on an unknown kid at most once a minute, so a
// flood of made-up kids cannot make us hammer the issuer. Only asymmetric
// algorithms are accepted: "none" and HMAC (which an attacker could sign
// with our public key) are refused before any key is looked at.

// maxTokenBytes bounds a bearer token: real access tokens are a few KB.
const maxTokenBytes = 8 << 10

// jwksMinRefresh is how often an unknown kid may trigger a JWKS fetch.
const jwksMinRefresh = time.Minute

// tokenLeeway absorbs clock skew on exp, nbf and iat.
const tokenLeeway = 30 * time.Second

// asymmetric are the signature algorithms a token may use.
var asymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// oauth validates access tokens and describes this resource.
type oauth struct {
	issuer      string // exact iss of accepted tokens
	audience    string // a value aud must contain (MCP_OAUTH_AUDIENCE, else MCP_PUBLIC_URL)
	resource    string // MCP_PUBLIC_URL: the resource identifier
	metaPath    string // where its Protected Resource Metadata is served
	metaURL     string // the same, absolute
	prefix      string // MCP_OAUTH_SCOPE_PREFIX
	tenantClaim string // MCP_OAUTH_TENANT_CLAIM
	jwksURI     string
	hc          *http.Client
	log         *slog.Logger

	mu        sync.Mutex
	keys      jwk.Set
	lastFetch time.Time
	fetches   atomic.Int32 // JWKS fetches made (tests: an unknown-kid flood makes at most one a minute)
	valid     tokenCache
}

// newOAuth finds the issuer's metadata (RFC 8414, then OpenID discovery)
// and its keys. Nothing is served until both are known.
func newOAuth(ctx context.Context, cfg Config, log *slog.Logger) (*oauth, error) {
	o := &oauth{issuer: cfg.OAuthIssuer, resource: cfg.PublicURL, audience: cmp.Or(cfg.OAuthAudience, cfg.PublicURL),
		prefix: cfg.OAuthScopePrefix, tenantClaim: cfg.OAuthTenantClaim, log: log,
		hc: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	var tried []string
	for _, u := range metadataURLs(o.issuer) {
		tried = append(tried, u)
		if err := o.getJSON(ctx, u, &meta); err == nil && meta.JWKSURI != "" {
			break
		}
	}
	if meta.JWKSURI == "" {
		return nil, fmt.Errorf("MCP_OAUTH_ISSUER: no authorization server metadata with a jwks_uri at %s", strings.Join(tried, " or "))
	}
	if meta.Issuer != o.issuer {
		return nil, fmt.Errorf("MCP_OAUTH_ISSUER: the metadata names issuer %q, not %q; set MCP_OAUTH_ISSUER to exactly the issuer of its tokens", meta.Issuer, o.issuer)
	}
	o.jwksURI = meta.JWKSURI
	// RFC 9728 puts the well-known part before the resource's path.
	u, _ := url.Parse(o.resource) // checked with the rest of the config
	o.metaPath = "/.well-known/oauth-protected-resource" + strings.TrimSuffix(u.Path, "/")
	o.metaURL = u.Scheme + "://" + u.Host + o.metaPath
	if _, err := o.keySet(ctx, true); err != nil {
		return nil, fmt.Errorf("MCP_OAUTH_ISSUER: cannot read the issuer's keys at %s: %w", o.jwksURI, err)
	}
	return o, nil
}

// metadataURLs are where RFC 8414 and OpenID Connect discovery put an
// issuer's metadata (for an issuer with a path, RFC 8414 inserts the
// well-known part before it).
func metadataURLs(issuer string) []string {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil
	}
	path := strings.TrimSuffix(u.Path, "/")
	base := u.Scheme + "://" + u.Host
	return []string{base + "/.well-known/oauth-authorization-server" + path, base + path + "/.well-known/openid-configuration"}
}

func (o *oauth) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := o.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// keySet is the cached JWKS; refresh fetches it again unless that was done
// less than jwksMinRefresh ago.
func (o *oauth) keySet(ctx context.Context, refresh bool) (jwk.Set, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.keys != nil && (!refresh || time.Since(o.lastFetch) < jwksMinRefresh) {
		return o.keys, nil
	}
	o.lastFetch = time.Now()
	o.fetches.Add(1)
	set, err := jwk.Fetch(ctx, o.jwksURI, jwk.WithHTTPClient(o.hc))
	if err != nil {
		if o.keys != nil {
			o.log.Warn("could not refresh the OAuth issuer's keys; keeping the cached ones", "error", err)
			return o.keys, nil
		}
		return nil, err
	}
	o.keys = set
	return set, nil
}

// errInvalidToken is every validation failure as the caller sees it: no
// detail that would help an attacker. The reason is logged at debug level.
var errInvalidToken = errors.New("invalid token")

// validate checks raw and returns who it belongs to. A token seen valid
// before is answered from a small cache until it expires (at most
// validCacheTTL), keyed by its SHA-256: a client sends the same token with
// every request, and signature checks are the expensive part.
func (o *oauth) validate(ctx context.Context, raw string) (*tools.Principal, error) {
	if len(raw) > maxTokenBytes {
		o.log.Debug("access token refused", "reason", "longer than 8 KB")
		return nil, errInvalidToken
	}
	key := sha256.Sum256([]byte(raw))
	if p, ok := o.valid.get(key); ok {
		return p, nil
	}
	p, exp, err := o.check(ctx, raw)
	if err != nil {
		o.log.Debug("access token refused", "reason", err.Error())
		return nil, errInvalidToken
	}
	o.valid.put(key, p, exp)
	return p, nil
}

// check verifies raw: algorithm, key, signature, issuer, audience, times.
func (o *oauth) check(ctx context.Context, raw string) (*tools.Principal, time.Time, error) {
	var none time.Time
	alg, kid, err := header(raw)
	if err != nil {
		return nil, none, err
	}
	if !slices.Contains(asymmetric, alg) {
		return nil, none, fmt.Errorf("algorithm %q is not accepted", alg)
	}
	set, err := o.keySet(ctx, false)
	if err != nil {
		return nil, none, err
	}
	if _, ok := set.LookupKeyID(kid); !ok {
		if set, err = o.keySet(ctx, true); err != nil {
			return nil, none, err
		}
		if _, ok := set.LookupKeyID(kid); !ok {
			return nil, none, errors.New("unknown kid")
		}
	}
	tok, err := jwt.Parse([]byte(raw),
		jwt.WithKeySet(set, jws.WithRequireKid(true)),
		jwt.WithValidate(true),
		jwt.WithIssuer(o.issuer),
		jwt.WithAudience(o.audience),
		jwt.WithAcceptableSkew(tokenLeeway),
		jwt.WithRequiredClaim("exp"),
		jwt.WithRequiredClaim("sub"),
	)
	if err != nil {
		return nil, none, err
	}
	sub, _ := tok.Subject()
	exp, _ := tok.Expiration()
	p := &tools.Principal{Kind: "oauth", Subject: sub, Scopes: o.scopes(tok)}
	if o.tenantClaim != "" {
		var tenant any
		if tok.Get(o.tenantClaim, &tenant) == nil {
			p.Tenant = fmt.Sprint(tenant)
		}
	}
	return p, exp, nil
}

// header reads a compact JWS's alg and kid without verifying anything.
func header(raw string) (alg, kid string, err error) {
	h, _, ok := strings.Cut(raw, ".")
	if !ok || len(h) > 1024 {
		return "", "", errors.New("not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", "", errors.New("header is not base64url")
	}
	var v struct{ Alg, Kid string }
	if err := json.Unmarshal(b, &v); err != nil {
		return "", "", errors.New("header is not JSON")
	}
	return v.Alg, v.Kid, nil
}

// validCacheTTL and validCacheSize bound the cache of validated tokens.
const (
	validCacheTTL  = 5 * time.Minute
	validCacheSize = 10_000
)

// tokenCache remembers validated tokens until they (or the TTL) expire.
type tokenCache struct {
	mu sync.Mutex
	m  map[[32]byte]cachedToken
}

type cachedToken struct {
	p       *tools.Principal
	expires time.Time
}

func (c *tokenCache) get(key [32]byte) (*tools.Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !time.Now().Before(e.expires) {
		return nil, false
	}
	return e.p, true
}

func (c *tokenCache) put(key [32]byte, p *tools.Principal, exp time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.m == nil || len(c.m) >= validCacheSize {
		for k, e := range c.m { // drop the expired; if none, start afresh
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if c.m == nil || len(c.m) >= validCacheSize {
			c.m = map[[32]byte]cachedToken{}
		}
	}
	expires := now.Add(validCacheTTL)
	if exp.Before(expires) {
		expires = exp
	}
	c.m[key] = cachedToken{p: p, expires: expires}
}

// scopes reads "scope" (space-separated, RFC 9068) or "scp" (a list or a
// string, as Entra ID and Okta write it), keeping crm-mcp's own scopes
// with MCP_OAUTH_SCOPE_PREFIX taken off. An empty list grants nothing.
func (o *oauth) scopes(tok jwt.Token) []string {
	var granted []string
	var s string
	if tok.Get("scope", &s) == nil {
		granted = strings.Fields(s)
	} else {
		var list []string
		if tok.Get("scp", &list) == nil {
			granted = list
		} else if tok.Get("scp", &s) == nil {
			granted = strings.Fields(s)
		}
	}
	out := []string{}
	for _, g := range granted {
		if name, ok := strings.CutPrefix(g, o.prefix); ok && slices.Contains(tools.Scopes, name) {
			out = append(out, name)
		}
	}
	return out
}

// scopeName is a scope as the authorization server knows it.
func (o *oauth) scopeName(s string) string { return o.prefix + s }

// serveMetadata answers the Protected Resource Metadata (RFC 9728).
func (o *oauth) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	scopes := make([]string, len(tools.Scopes))
	for i, s := range tools.Scopes {
		scopes[i] = o.scopeName(s)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"resource":                 o.resource,
		"authorization_servers":    []string{o.issuer},
		"scopes_supported":         scopes,
		"bearer_methods_supported": []string{"header"},
		"resource_name":            "crm-mcp",
	})
}
