package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
)

func status(t *testing.T, method, url string, hdr map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("%s %s: 401 without WWW-Authenticate", method, url)
	}
	return resp.StatusCode
}

func TestTokensGuardEveryEndpointButHealth(t *testing.T) {
	base := startHTTP(t, "MCP_AUTH_TOKENS", "token-a,token-b")
	for _, ep := range []struct{ method, path string }{{"POST", "/mcp"}, {"GET", "/sse"}, {"POST", "/message?sessionId=x"}, {"GET", "/metrics"}, {"GET", "/sandbox/vivre/contacts"}} {
		if s := status(t, ep.method, base+ep.path, nil); s != 401 {
			t.Errorf("%s %s with no token: %d, want 401", ep.method, ep.path, s)
		}
		if s := status(t, ep.method, base+ep.path, map[string]string{"Authorization": "Bearer token-c"}); s != 401 {
			t.Errorf("%s %s with a wrong token: %d, want 401", ep.method, ep.path, s)
		}
	}
	for _, tok := range []string{"token-a", "token-b"} {
		if s := status(t, "POST", base+"/mcp", map[string]string{"Authorization": "Bearer " + tok}); s != 200 {
			t.Errorf("POST /mcp with %s: %d, want 200", tok, s)
		}
	}
	if s := status(t, "GET", base+"/healthz", nil); s != 200 {
		t.Errorf("/healthz: %d", s)
	}
	// The whole flow with a token through a real client.
	callGetContact(t, mcpClient(t, base, map[string]string{"Authorization": "Bearer token-b"}))
}

func TestForeignOriginIsForbidden(t *testing.T) {
	base := startHTTP(t, "MCP_ALLOWED_ORIGINS", "https://agents.example.com")
	if s := status(t, "POST", base+"/mcp", map[string]string{"Origin": "https://evil.example"}); s != 403 {
		t.Errorf("foreign Origin: %d, want 403", s)
	}
	if s := status(t, "POST", base+"/mcp", map[string]string{"Origin": "https://agents.example.com"}); s != 200 {
		t.Errorf("allowed Origin: %d, want 200", s)
	}
	if s := status(t, "POST", base+"/mcp", map[string]string{"Origin": "http://localhost:6274"}); s != 200 {
		t.Errorf("loopback Origin (MCP Inspector): %d, want 200", s)
	}
	req, _ := http.NewRequest("POST", base+"/mcp", strings.NewReader("{}"))
	req.Host = "rebound.attacker.example"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("foreign Host on loopback: %v %v, want 403", err, resp)
	}
}

func TestNonLoopbackWithoutTokensIsRefused(t *testing.T) {
	cfg, l := testConfig(t, "CRM_MCP_SANDBOX", "true", "CRM_MCP_ADDR", "0.0.0.0:8080")
	if _, err := build(context.Background(), cfg, l, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "MCP_AUTH_TOKENS") {
		t.Fatalf("err = %v", err)
	}
	cfg.InsecureNoAuth = true
	if _, err := build(context.Background(), cfg, l, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("--insecure-no-auth: %v", err)
	}
}

func toolNames(t *testing.T, c *client.Client) []string {
	t.Helper()
	res, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tl := range res.Tools {
		out = append(out, tl.Name)
	}
	return out
}

// One server, many workspaces: a caller's own vendor keys apply to its
// requests only, and a caller without them does not see that vendor.
func TestClientCredentialsPerRequest(t *testing.T) {
	vendor := vivretest.NewServer(vivretest.Options{})
	defer vendor.Close()
	_, base := startApp(t, slog.New(slog.DiscardHandler), "CRM_MCP_CLIENT_CREDENTIALS", "true", "VIVRE_BASE_URL", vendor.URL)

	with := mcpClient(t, base, map[string]string{"X-Vivre-Api-Key": vivretest.APIKey, "X-Vivre-Workspace-Id": vivretest.WorkspaceID})
	if !slices.Contains(toolNames(t, with), "vivre_get_contact") {
		t.Fatal("a caller with Vivre credentials does not see Vivre's tools")
	}
	callGetContact(t, with)

	without := mcpClient(t, base, nil)
	for _, n := range toolNames(t, without) {
		if strings.HasPrefix(n, "vivre_") {
			t.Fatalf("a caller without credentials sees %s", n)
		}
	}
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "vivre_get_contact", map[string]any{"id": "cnt_8800"}
	if res, err := without.CallTool(context.Background(), req); err == nil && !res.IsError {
		t.Fatal("a caller without credentials could call a Vivre tool")
	}

	wrong := mcpClient(t, base, map[string]string{
		"X-Vivre-Api-Key": "vv_live_someone_else", "X-Vivre-Workspace-Id": vivretest.WorkspaceID,
		"X-MCP-Read-Only": "true"})
	names := toolNames(t, wrong)
	if slices.Contains(names, "vivre_create_contact") || !slices.Contains(names, "vivre_get_contact") {
		t.Fatalf("X-MCP-Read-Only: %v", names)
	}
	if res, err := wrong.CallTool(context.Background(), req); err != nil || !res.IsError || !strings.Contains(res.Content[0].(mcp.TextContent).Text, "refused the credentials") {
		t.Fatalf("another tenant's call used the first tenant's key: %v %+v", err, res)
	}
}

// A vendor key never reaches the logs or a tool error, even at debug level
// and even when the vendor echoes it back.
func TestSecretsNeverInOutput(t *testing.T) {
	const key = "vv_live_SUPERSECRET_7f3a9c"
	vendor, base, logs := vivreWithKey(t, key)
	c := mcpClient(t, base, nil)
	callGetContact(t, c)
	vendor.Inject(emulator.Fault{Status: 401, Body: `{"error":"unauthorized","message":"key ` + key + ` was revoked"}`})
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "vivre_get_contact", map[string]any{"id": "cnt_8800"}
	res, err := c.CallTool(context.Background(), req)
	if err != nil || !res.IsError {
		t.Fatalf("want a tool error: %v %+v", err, res)
	}
	text := res.Content[0].(mcp.TextContent).Text
	if strings.Contains(text, key) || !strings.Contains(text, "[redacted]") {
		t.Fatalf("tool error: %s", text)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for what, out := range map[string]string{"logs": logs.String(), "metrics": string(metrics)} {
		if strings.Contains(out, key) {
			t.Fatalf("the key appears in the %s", what)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"tool call"`) || !strings.Contains(logs.String(), `"attempts":1`) {
		t.Fatalf("expected one JSON line per tool call with attempts:\n%s", logs.String())
	}
	if !strings.Contains(string(metrics), `crm_mcp_tool_calls_total{auth="none",outcome="ok",tool="vivre_get_contact"} 1`) ||
		!strings.Contains(string(metrics), `crm_mcp_tool_calls_total{auth="none",outcome="unauthorized",tool="vivre_get_contact"} 1`) ||
		!strings.Contains(string(metrics), `crm_mcp_vendor_requests_total{status="200",vendor="vivre"}`) {
		t.Fatalf("metrics lack tool-call series:\n%s", metrics)
	}
}

// SIGTERM (here: the server's context ending) during a slow call lets the
// call finish and its result reach the client.
func TestShutdownLetsInFlightCallsFinish(t *testing.T) {
	cfg, l := testConfig(t, "CRM_MCP_SANDBOX", "true")
	a, err := build(context.Background(), cfg, l, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.emulators["vivre"].(*vivretest.Emulator).SetLatency(500 * time.Millisecond)
	ln, _ := newLoopbackListener(t)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.serveListener(ctx, ln) }()

	c := mcpClient(t, "http://"+ln.Addr().String(), nil)
	result := make(chan error, 1)
	go func() {
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = "vivre_get_contact", map[string]any{"id": "cnt_8800"}
		res, err := c.CallTool(context.Background(), req)
		if err == nil && res.IsError {
			err = io.ErrUnexpectedEOF
		}
		result <- err
	}()
	time.Sleep(100 * time.Millisecond) // the call is now waiting on the vendor
	stop()
	if err := <-result; err != nil {
		t.Fatalf("in-flight call was cut off: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

// A body over CRM_MCP_MAX_BODY_BYTES is refused as too large, with tokens
// on too (before, the scope check read it, dropped the size error and
// passed the cut body on, which mcp-go refused as bad JSON).
func TestOversizedBodyIsRefused(t *testing.T) {
	for _, kv := range [][]string{nil, {"MCP_AUTH_TOKENS", "token-a"}} {
		base := startHTTP(t, append([]string{"CRM_MCP_MAX_BODY_BYTES", "4096"}, kv...)...)
		big := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"padding":"` + strings.Repeat("x", 10_000) + `"}}`
		resp, body := postMCP(t, base+"/mcp", big, http.Header{"Authorization": {"Bearer token-a"}})
		if resp.StatusCode == 200 || !strings.Contains(string(body), "too large") {
			t.Errorf("a 10 kB body with a 4 kB limit (%v): %d %s, want it refused as too large", kv, resp.StatusCode, body)
		}
	}
}
