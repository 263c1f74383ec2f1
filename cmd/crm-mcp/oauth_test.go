package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/mark3labs/mcp-go/mcp"
)

// oauthServer is crm-mcp in --sandbox with OAuth on, trusting p, at its
// own public URL; kv adds env vars.
func oauthServer(t *testing.T, log *slog.Logger, kv ...string) (*app, *oidcProvider, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	p := startOIDC(t, base+"/mcp")
	cfg, l := testConfig(t, append([]string{"CRM_MCP_SANDBOX", "true", "MCP_OAUTH_ISSUER", p.Issuer, "MCP_PUBLIC_URL", base + "/mcp"}, kv...)...)
	a, _ := serveApp(t, cfg, l, log, ln)
	return a, p, base
}

// rpc posts one JSON-RPC message to /mcp with token and returns the response.
func rpc(t *testing.T, base, token, body string) *http.Response {
	t.Helper()
	hdr := http.Header{"MCP-Protocol-Version": {"2025-06-18"}}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	resp, _ := postMCP(t, base+"/mcp", body, hdr)
	return resp
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

// Discovery (RFC 9728) is open to all, and a request without a valid token
// is told where to find the authorization server.
func TestOAuthDiscoveryAndChallenge(t *testing.T) {
	_, p, base := oauthServer(t, slog.New(slog.DiscardHandler))
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		resp, err := http.Get(base + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, err, resp)
		}
		var meta struct {
			Resource               string   `json:"resource"`
			AuthorizationServers   []string `json:"authorization_servers"`
			ScopesSupported        []string `json:"scopes_supported"`
			BearerMethodsSupported []string `json:"bearer_methods_supported"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()
		if meta.Resource != base+"/mcp" || !slices.Equal(meta.AuthorizationServers, []string{p.Issuer}) ||
			!slices.Equal(meta.ScopesSupported, []string{"crm:read", "crm:write", "crm:send"}) || !slices.Equal(meta.BearerMethodsSupported, []string{"header"}) {
			t.Fatalf("%s: %+v", path, meta)
		}
	}
	resp := rpc(t, base, "", initBody)
	want := `Bearer resource_metadata="` + base + `/.well-known/oauth-protected-resource/mcp", scope="crm:read"`
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want {
		t.Fatalf("no token: %d %q, want 401 %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
	}
	resp = rpc(t, base, "not-a-token", initBody)
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want+`, error="invalid_token"` {
		t.Fatalf("bad token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// A token the provider issued works, and its scopes decide what is listed
// and what may be called: beyond them is 403 with the scope to step up to.
func TestOAuthScopesFromARealProvider(t *testing.T) {
	_, p, base := oauthServer(t, slog.New(slog.DiscardHandler), "MCP_AUTH_TOKENS", "static-token-0123456789:crm:read")
	for _, tc := range []struct {
		name   string
		token  string
		has    []string
		hasNot []string
	}{
		{"client credentials, read", p.Token(t, "crm:read"), []string{"vivre_get_contact", "crm_search_contacts"}, []string{"vivre_create_contact", "qyvo_send_template_message"}},
		{"client credentials, read+send", p.Token(t, "crm:read", "crm:send"), []string{"vivre_get_contact", "qyvo_send_template_message"}, []string{"vivre_create_contact"}},
		{"authorization code with PKCE, write", p.TokenWithPKCE(t, "openid", "crm:write"), []string{"vivre_create_contact"}, []string{"vivre_get_contact", "qyvo_send_template_message"}},
		{"static token limited to read", "static-token-0123456789", []string{"vivre_get_contact"}, []string{"vivre_create_contact"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mcpClient(t, base, map[string]string{"Authorization": "Bearer " + tc.token})
			names := toolNames(t, c)
			for _, n := range tc.has {
				if !slices.Contains(names, n) {
					t.Errorf("%s is not listed", n)
				}
			}
			for _, n := range tc.hasNot {
				if slices.Contains(names, n) {
					t.Errorf("%s is listed beyond the token's scopes", n)
				}
			}
			if slices.Contains(names, "vivre_get_contact") {
				callGetContact(t, c)
			}
		})
	}
	read := p.Token(t, "crm:read")
	resp := rpc(t, base, read, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"qyvo_send_template_message","arguments":{"phone":"+14155550101","template":"order_confirmation","variables":["a","b"]}}}`)
	if resp.StatusCode != 403 || resp.Header.Get("WWW-Authenticate") != `Bearer error="insufficient_scope", scope="crm:send", resource_metadata="`+base+`/.well-known/oauth-protected-resource/mcp"` {
		t.Fatalf("a send with crm:read: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// Every bad token is a 401 that says only invalid_token; nothing of the
// token reaches the logs; an unknown-kid flood fetches the keys at most
// once a minute.
func TestOAuthRefusesBadTokens(t *testing.T) {
	log, logs := jsonLogs(t)
	a, p, base := oauthServer(t, log)
	aud := []string{base + "/mcp"}
	now := time.Now().Unix()
	good := map[string]any{"iss": p.Issuer, "sub": "user-9", "aud": aud, "exp": now + 300, "iat": now, "scope": "crm:read"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	if resp := rpc(t, base, p.Mint(t, good), initBody); resp.StatusCode != 200 {
		t.Fatalf("a well-formed token signed by the provider: %d", resp.StatusCode)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&p.key.PublicKey)
	bad := map[string]string{
		"malformed":                "abc.def.ghi",
		"expired":                  p.Mint(t, with("exp", now-3600)),
		"not yet valid":            p.Mint(t, with("nbf", now+3600)),
		"no exp":                   p.Mint(t, with("exp", nil)),
		"wrong issuer":             p.Mint(t, with("iss", "https://evil.example")),
		"wrong audience":           p.Mint(t, with("aud", []string{"https://other.example/mcp"})),
		"alg none":                 unsigned(good),
		"HMAC with the public key": hmacToken(good, pub, p.kid),
		"100 KB":                   p.Mint(t, with("pad", strings.Repeat("x", 100<<10))),
	}
	for name, tok := range bad {
		resp := rpc(t, base, tok, initBody)
		if resp.StatusCode != 401 || !strings.HasSuffix(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: %d %q, want 401 invalid_token", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// A token in the query string is refused even when it is valid.
	if resp, body := postMCP(t, base+"/mcp?access_token="+p.Token(t, "crm:read"), initBody, nil); resp.StatusCode != 401 {
		t.Errorf("token in the query: %d %s", resp.StatusCode, body)
	}
	before := a.oauth.fetches.Load()
	for i := range 50 {
		tok := unknownKid(t, p, good, i)
		if resp := rpc(t, base, tok, initBody); resp.StatusCode != 401 {
			t.Fatalf("unknown kid: %d", resp.StatusCode)
		}
	}
	if n := a.oauth.fetches.Load() - before; n > 1 {
		t.Fatalf("50 unknown kids made %d JWKS fetches, want at most 1", n)
	}
	for name, tok := range bad {
		if len(tok) > 20 && bytes.Contains([]byte(logs.String()), []byte(tok[len(tok)-20:])) {
			t.Fatalf("the %s token's signature is in the logs", name)
		}
	}
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// unsigned is claims as an "alg":"none" JWT.
func unsigned(claims map[string]any) string {
	return b64(map[string]string{"alg": "none", "typ": "JWT"}) + "." + b64(claims) + "."
}

// hmacToken is claims signed with HS256 using key (the provider's public
// key): the classic algorithm-confusion attack.
func hmacToken(claims map[string]any, key []byte, kid string) string {
	in := b64(map[string]string{"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + b64(claims)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// unknownKid is a token whose header names a kid the provider never had
// (signed with the provider's key, so only the kid is wrong).
func unknownKid(t *testing.T, p *oidcProvider, claims map[string]any, i int) string {
	t.Helper()
	saved := p.kid
	p.kid = "made-up-" + strings.Repeat("k", i%7) + string(rune('a'+i%26))
	defer func() { p.kid = saved }()
	return p.Mint(t, claims)
}

// Validation of a real provider's token with the key set cached: the cost
// OAuth adds to every request (goal: at most 50 µs). See BENCHMARKS.md.
func BenchmarkOAuthValidate(b *testing.B) {
	p := startOIDC(b, "http://127.0.0.1:9/mcp")
	cfg := Config{OAuthIssuer: p.Issuer, PublicURL: p.Audience}
	o, err := newOAuth(b.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	tok := p.Token(b, "crm:read", "crm:send")
	b.Run("first sight", func(b *testing.B) { // signature and claims checked every time
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := o.check(b.Context(), tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("repeat", func(b *testing.B) { // the same token again: the validated-token cache
		b.ReportAllocs()
		for b.Loop() {
			if _, err := o.validate(b.Context(), tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// tools/list for a crm:read token: the per-request filter by scope.
func BenchmarkToolsListByScope(b *testing.B) {
	p := startOIDC(b, "http://127.0.0.1:9/mcp")
	cfg, l := testConfig(b, "CRM_MCP_SANDBOX", "true", "MCP_OAUTH_ISSUER", p.Issuer, "MCP_PUBLIC_URL", p.Audience)
	a, err := build(b.Context(), cfg, l, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ctx := tools.WithPrincipal(tools.WithRequestHeaders(b.Context(), http.Header{}), &tools.Principal{Kind: "oauth", Scopes: []string{"crm:read"}})
	var all []mcp.Tool
	for _, tl := range a.mcp.ListTools() {
		all = append(all, tl.Tool)
	}
	b.ReportAllocs()
	for b.Loop() {
		if got := a.toolFilter(ctx, all); len(got) == 0 || len(got) == len(all) {
			b.Fatalf("%d of %d tools", len(got), len(all))
		}
	}
}

// The token's subject is in the call's log line; the metrics count calls by
// how the caller authenticated, never by subject.
func TestOAuthSubjectInTheLogLine(t *testing.T) {
	var logs syncBuffer
	log, _ := newLogger("info", "json", &logs)
	_, p, base := oauthServer(t, log)
	token := p.Token(t, "crm:read")
	callGetContact(t, mcpClient(t, base, map[string]string{"Authorization": "Bearer " + token}))
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		var l struct {
			Msg    string
			Caller struct{ Auth, Sub string }
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "tool call" {
			found = l.Caller.Auth == "oauth" && l.Caller.Sub == p.ClientID
		}
	}
	if !found {
		t.Fatalf("no tool call line with the token's subject:\n%s", logs.String())
	}
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `crm_mcp_tool_calls_total{auth="oauth",outcome="ok",tool="vivre_get_contact"} 1`) || strings.Contains(string(m), p.ClientID) {
		t.Fatalf("metrics:\n%s", m)
	}
}

// An OAuth client that refreshes its access token keeps its /sse session:
// the session belongs to the token's subject, not to the token's bytes
// (before, the new token's first /message got 403 "opened with other
// credentials"). Another subject still gets 403.
func TestOAuthSSESessionSurvivesANewToken(t *testing.T) {
	_, p, base := oauthServer(t, slog.New(slog.DiscardHandler))
	first, refreshed := p.Token(t), p.Token(t)
	if first == refreshed {
		t.Fatal("the provider issued the same token twice")
	}
	s := openSSE(t, base, map[string]string{"Authorization": "Bearer " + first})
	url := base + s.endpoint
	if code := postMessage(t, http.DefaultClient, url, map[string]string{"Authorization": "Bearer " + refreshed}, initMessage(1)); code != http.StatusAccepted {
		t.Fatalf("POST with the same client's new token: %d, want 202", code)
	}
	if code := postMessage(t, http.DefaultClient, url, map[string]string{"Authorization": "Bearer " + p.TokenWithPKCE(t)}, initMessage(2)); code != http.StatusForbidden {
		t.Fatalf("POST with another subject's token: %d, want 403", code)
	}
}
