package oidcdev

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestProvider(t *testing.T) {
	const audience = "http://127.0.0.1:9/mcp"
	p, err := Start("127.0.0.1:0", audience)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })

	var disco struct {
		Issuer      string   `json:"issuer"`
		JWKSURI     string   `json:"jwks_uri"`
		Token       string   `json:"token_endpoint"`
		Grants      []string `json:"grant_types_supported"`
		PKCE        []string `json:"code_challenge_methods_supported"`
		Scopes      []string `json:"scopes_supported"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	getJSON(t, p.Issuer+"/.well-known/openid-configuration", &disco)
	if disco.Issuer != p.Issuer || disco.Token != p.TokenURL || !slices.Contains(disco.Grants, "client_credentials") ||
		!slices.Contains(disco.PKCE, "S256") || !slices.Contains(disco.Scopes, "crm:send") ||
		!slices.Contains(disco.AuthMethods, "client_secret_basic") || !slices.Contains(disco.AuthMethods, "client_secret_post") {
		t.Fatalf("discovery: %+v", disco)
	}
	var jwks struct {
		Keys []struct{ Kid, Kty, Alg, N, E string }
	}
	getJSON(t, disco.JWKSURI, &jwks)

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
		segment(t, parts[0], &hdr)
		segment(t, parts[1], &claims)
		if hdr.Alg != "RS256" || hdr.Kid != p.KeyID {
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
	must := func(tok string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	t.Run("client credentials, client_secret_post", func(t *testing.T) {
		check(t, must(p.Token("crm:read", "crm:send")), p.ClientID, "crm:read", "crm:send")
		check(t, must(p.Token()), p.ClientID) // no scopes asked, none granted, no scope claim
	})
	t.Run("client credentials, client_secret_basic with an RFC 8707 resource", func(t *testing.T) {
		// As the MCP TypeScript SDK's ClientCredentialsProvider asks.
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"crm:read"}, "resource": {audience}}
		req, _ := http.NewRequest("POST", p.TokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(p.ClientID, p.ClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresIn   int    `json:"expires_in"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.TokenType != "Bearer" || body.ExpiresIn <= 0 {
			t.Fatalf("HTTP %d %+v %v", resp.StatusCode, body, err)
		}
		check(t, body.AccessToken, p.ClientID, "crm:read")
	})
	t.Run("pkce", func(t *testing.T) {
		check(t, must(p.TokenWithPKCE("openid", "crm:write", "other")), p.User, "crm:write")
	})
	t.Run("mint", func(t *testing.T) {
		check(t, must(p.Mint(map[string]any{"iss": p.Issuer, "sub": "x", "aud": []string{audience}, "exp": time.Now().Unix() + 60, "scope": "crm:read"})), "x", "crm:read")
	})
	t.Run("bad requests", func(t *testing.T) {
		for _, form := range []url.Values{
			{"grant_type": {"client_credentials"}, "client_id": {p.ClientID}, "client_secret": {"wrong"}},
			{"grant_type": {"client_credentials"}, "client_id": {p.ClientID}, "client_secret": {p.ClientSecret}, "scope": {"admin"}},
			{"grant_type": {"client_credentials"}, "client_id": {p.PublicClient}},
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

func TestStartRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:9999", "example.com:9999", "127.0.0.1"} {
		if p, err := Start(addr, "http://127.0.0.1:9/mcp"); err == nil {
			p.Close()
			t.Errorf("Start(%q) served", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		if err := CheckLoopback(addr); err != nil {
			t.Errorf("CheckLoopback(%q): %v", addr, err)
		}
	}
}

func getJSON(t testing.TB, u string, v any) {
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

func segment(t testing.TB, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatalf("JWT segment %q: %v", seg, err)
	}
}
