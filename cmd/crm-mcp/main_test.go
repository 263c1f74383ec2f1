package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/sethvargo/go-envconfig"
)

func env(kv ...string) envconfig.Lookuper {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return envconfig.MapLookuper(m)
}

// syncBuffer is a goroutine-safe bytes.Buffer for captured output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestNoVendorConfiguredExitsWithHelp(t *testing.T) {
	var stderr syncBuffer
	code := run(context.Background(), nil, env(), strings.NewReader(""), io.Discard, &stderr)
	if code == 0 {
		t.Fatal("exit 0 with no vendor configured")
	}
	for _, want := range []string{"VIVRE_API_KEY", "--sandbox"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("message does not name %s:\n%s", want, stderr.String())
		}
	}
}

func TestBadFlagsAndEnvAreRefused(t *testing.T) {
	cases := [][]string{{"--transport", "carrier-pigeon", "--sandbox"}, {"--sandbox", "--toolsets", "nosuch"}, {"--sandbox", "extra-arg"}}
	for _, args := range cases {
		var stderr syncBuffer
		if code := run(context.Background(), args, env(), strings.NewReader(""), io.Discard, &stderr); code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
	var stderr syncBuffer
	if code := run(context.Background(), []string{"--sandbox"}, env("LOG_LEVEL", "loud"), strings.NewReader(""), io.Discard, &stderr); code == 0 || !strings.Contains(stderr.String(), "LOG_LEVEL") {
		t.Errorf("bad LOG_LEVEL: %q", stderr.String())
	}
}

func TestVersion(t *testing.T) {
	var out syncBuffer
	if code := run(context.Background(), []string{"--version"}, env(), nil, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "crm-mcp ") {
		t.Fatalf("--version: %d %q", code, out.String())
	}
}

// In stdio mode stdout carries JSON-RPC and nothing else, even with debug
// logging, a failing call and a successful one.
func TestStdioStdoutIsOnlyJSONRPC(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"--sandbox"}, env("LOG_LEVEL", "debug"), inR, outW, &stderr)
		_ = outW.Close()
	}()
	requests := []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"vivre_list_contacts","arguments":{"limit":2}}}`,
		`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"vivre_get_contact","arguments":{"id":"cnt_0"}}}`,
	}
	go func() {
		for _, r := range requests {
			_, _ = io.WriteString(inW, r+"\n")
		}
	}()
	sc := bufio.NewScanner(outR)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	ids := map[float64]bool{}
	for len(ids) < 4 && sc.Scan() {
		var msg struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      *float64        `json:"id"`
			Result  json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil || msg.JSONRPC != "2.0" {
			t.Fatalf("stdout line is not JSON-RPC: %q", sc.Text())
		}
		if msg.ID != nil {
			ids[*msg.ID] = true
		}
	}
	if len(ids) != 4 {
		t.Fatalf("got responses %v", ids)
	}
	_ = inW.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not exit when stdin closed")
	}
	if !strings.Contains(stderr.String(), "tool call") {
		t.Fatalf("logs did not reach stderr: %q", stderr.String())
	}
}

// testConfig is the Config the binary would load from these env vars
// (over http on a loopback port unless kv says otherwise).
func testConfig(t testing.TB, kv ...string) (Config, envconfig.Lookuper) {
	t.Helper()
	l := env(append([]string{"CRM_MCP_TRANSPORT", "http", "CRM_MCP_ADDR", "127.0.0.1:0"}, kv...)...)
	var cfg Config
	if err := processEnv(context.Background(), &cfg, l); err != nil {
		t.Fatal(err)
	}
	return cfg, l
}

// postMCP POSTs body to url (base+"/mcp", or another endpoint taking
// JSON-RPC) as a streamable HTTP client would: Content-Type
// application/json and Accept application/json, text/event-stream, then
// hdr, whose values replace those and may repeat a header. It returns the
// response with its body read and closed.
func postMCP(t testing.TB, url, body string, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, vs := range hdr {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body) // what arrived: a cut body fails the caller's checks
	return resp, raw
}

// startHTTP serves a sandbox app on a loopback port until the test ends.
func startHTTP(t *testing.T, kv ...string) string {
	t.Helper()
	_, base := startApp(t, slog.New(slog.DiscardHandler), append([]string{"CRM_MCP_SANDBOX", "true"}, kv...)...)
	return base
}

// startApp builds the app from env vars and serves it on a loopback port.
func startApp(t *testing.T, log *slog.Logger, kv ...string) (*app, string) {
	t.Helper()
	cfg, l := testConfig(t, kv...)
	return serveApp(t, cfg, l, log, nil)
}

// serveApp builds the app from cfg and l and serves it on ln (nil: a new
// loopback port) until the test ends.
func serveApp(t *testing.T, cfg Config, l envconfig.Lookuper, log *slog.Logger, ln net.Listener) (*app, string) {
	t.Helper()
	a, err := build(context.Background(), cfg, l, log)
	if err != nil {
		t.Fatal(err)
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.serveListener(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		a.close() // the event log, the poller, Redis
	})
	return a, "http://" + ln.Addr().String()
}

func initialize(t *testing.T, c *client.Client) { initializeAt(t, c, "") }

// initializeAt starts c and initializes it at version ("": the newest).
func initializeAt(t *testing.T, c *client.Client, version string) {
	t.Helper()
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = cmp.Or(version, mcp.LATEST_PROTOCOL_VERSION)
	init.Params.ClientInfo = mcp.Implementation{Name: "test", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
}

// mcpClient is a streamable HTTP client of base's /mcp sending hdr on every
// request, initialized at the newest revision and closed when the test ends.
func mcpClient(t *testing.T, base string, hdr map[string]string) *client.Client {
	t.Helper()
	c, err := client.NewStreamableHttpClient(base+"/mcp", transport.WithHTTPHeaders(hdr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	initialize(t, c)
	return c
}

func callGetContact(t *testing.T, c *client.Client) {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = "vivre_get_contact"
	req.Params.Arguments = map[string]any{"id": "cnt_8800"}
	res, err := c.CallTool(context.Background(), req)
	if err != nil || res.IsError {
		t.Fatalf("call: %v %+v", err, res)
	}
	if txt := res.Content[0].(mcp.TextContent).Text; !strings.Contains(txt, `"id":"cnt_8800"`) {
		t.Fatalf("result %s", txt)
	}
}

func TestHTTPServesStreamableSSEAndHealth(t *testing.T) {
	base := startHTTP(t)
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", err, resp)
	}
	resp.Body.Close()

	streamable := mcpClient(t, base, nil)
	tl, err := streamable.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil || len(tl.Tools) < 6 {
		t.Fatalf("tools/list over /mcp: %v (%d tools)", err, len(tl.Tools))
	}
	callGetContact(t, streamable)

	sse, err := client.NewSSEMCPClient(base + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer sse.Close()
	initialize(t, sse)
	callGetContact(t, sse)

	// The emulator is reachable directly too, for comparisons and curl.
	req, _ := http.NewRequest("GET", base+"/sandbox/vivre/contacts/cnt_8800", nil)
	req.Header.Set("Authorization", "Bearer vv_test_0000000000000000")
	req.Header.Set("X-Workspace-ID", "ws_sandbox")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("direct emulator call: %v %v", err, resp)
	}
	resp.Body.Close()
}

func newLoopbackListener(t *testing.T) (net.Listener, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, nil
}

// A script that pipes its requests and closes stdin still gets every answer.
func TestStdioAnswersEverythingReadBeforeEOF(t *testing.T) {
	var in strings.Builder
	in.WriteString(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}` + "\n")
	in.WriteString(`{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n")
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&in, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"vivre_list_contacts","arguments":{"limit":2}}}`+"\n", i)
	}
	var out syncBuffer
	if code := run(context.Background(), []string{"--sandbox"}, env("LOG_LEVEL", "error"), strings.NewReader(in.String()), &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	answered := 0
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.Contains(line, `"contacts"`) && !strings.Contains(line, `"isError":true`) {
			answered++
		}
	}
	if answered != 20 {
		t.Fatalf("%d of 20 piped calls answered:\n%s", answered, out.String())
	}
}
