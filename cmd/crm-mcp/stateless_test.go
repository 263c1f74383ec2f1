package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mark3labs/mcp-go/client"
)

// /mcp keeps no session state on any protocol revision: no Mcp-Session-Id
// is issued, and a request without one is served (issue 12: before, 2025-x
// initialize issued an id and an id was still accepted after DELETE).
func TestMCPIsStateless(t *testing.T) {
	base := startHTTP(t)
	for _, version := range []string{"2025-06-18", "2025-11-25"} {
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + version + `","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
		req, _ := http.NewRequest("POST", base+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s initialize: %v %v", version, err, resp)
		}
		resp.Body.Close()
		if id := resp.Header.Get("Mcp-Session-Id"); id != "" {
			t.Fatalf("%s: a session id was issued: %q", version, id)
		}
		req, _ = http.NewRequest("POST", base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", version)
		resp, err = http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s tools/list without a session: %v %v", version, err, resp)
		}
		resp.Body.Close()
	}
}

// Two replicas behind a balancer that alternates every request serve one
// client through initialize, listing and a call: no sticky sessions.
func TestTwoReplicasAlternating(t *testing.T) {
	backends := []*url.URL{}
	for range 2 {
		u, _ := url.Parse(startHTTP(t))
		backends = append(backends, u)
	}
	var n atomic.Int64
	lb := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		b := backends[n.Add(1)%2]
		r.SetURL(b)
		r.Out.Host = b.Host
	}}
	front := startFront(t, lb)
	c, err := client.NewStreamableHttpClient(front + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	initialize(t, c)
	for range 4 {
		if len(toolNames(t, c)) < 40 {
			t.Fatal("tools/list through the balancer")
		}
		callGetContact(t, c)
	}
	if n.Load() < 8 {
		t.Fatalf("the balancer saw %d requests", n.Load())
	}
}

// startFront serves h on a loopback port until the test ends.
func startFront(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
