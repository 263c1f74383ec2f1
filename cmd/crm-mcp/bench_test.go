package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks of the binary's HTTP face and start-up, in process (no
// network): the handler a listener would call, fed with recorded requests.
// Timing targets live here and in cmd/crm-mcp-load; see BENCHMARKS.md.

func benchApp(b *testing.B) http.Handler {
	b.Helper()
	cfg, l := testConfig(b, "CRM_MCP_SANDBOX", "true", "CRM_MCP_SANDBOX_UNLIMITED", "true", "LOG_LEVEL", "warn")
	a, err := build(context.Background(), cfg, l, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	var ready atomic.Bool
	ready.Store(true)
	h, _ := a.handler(&ready)
	return h
}

func serve(b *testing.B, h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code/100 != 2 {
		b.Fatalf("%s %s: %d %s", r.Method, r.URL, rec.Code, rec.Body)
	}
	return rec
}

func mcpPost(sid, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/mcp", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		r.Header.Set("Mcp-Session-Id", sid)
	}
	return r
}

// The tool call vivre_get_contact over streamable HTTP, request in to
// response out, against the in-process emulator; compare with
// BenchmarkHTTPDirectEmulator (the same GET straight to the emulator).
func BenchmarkHTTPToolCall(b *testing.B) {
	h := benchApp(b)
	rec := serve(b, h, mcpPost("", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`))
	sid := rec.Header().Get("Mcp-Session-Id")
	serve(b, h, mcpPost(sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	const call = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"vivre_get_contact","arguments":{"id":"cnt_8800"}}}`
	if body := serve(b, h, mcpPost(sid, call)).Body.String(); !strings.Contains(body, "cnt_8800") || strings.Contains(body, `"isError":true`) {
		b.Fatalf("reply: %s", body)
	}
	var lat []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		serve(b, h, mcpPost(sid, call))
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, "call", lat)
}

// A JSON-RPC ping on the same session: the streamable transport alone.
func BenchmarkHTTPPing(b *testing.B) {
	h := benchApp(b)
	rec := serve(b, h, mcpPost("", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`))
	sid := rec.Header().Get("Mcp-Session-Id")
	serve(b, h, mcpPost(sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	var lat []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		serve(b, h, mcpPost(sid, `{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, "call", lat)
}

// The direct GET the tool call makes, to the emulator mounted at /sandbox/vivre/.
func BenchmarkHTTPDirectEmulator(b *testing.B) {
	h := benchApp(b)
	get := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/sandbox/vivre/contacts/cnt_8800", nil)
		r.Header.Set("Authorization", "Bearer vv_test_0000000000000000")
		r.Header.Set("X-Workspace-ID", "ws_sandbox")
		return r
	}
	var lat []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		serve(b, h, get())
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, "call", lat)
}

// Start-up in stdio mode, in process: configuration, wiring of every
// vendor's emulator and tools, to the initialize reply on stdout (the
// process's own exec and runtime start are measured by crm-mcp-load).
func BenchmarkStdioStartToInitialize(b *testing.B) {
	const initLine = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}` + "\n"
	l := env("CRM_MCP_SANDBOX", "true", "LOG_LEVEL", "warn")
	b.ReportAllocs()
	for b.Loop() {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		done := make(chan int, 1)
		go func() { done <- run(context.Background(), nil, l, inR, outW, io.Discard); _ = outW.Close() }()
		if _, err := io.WriteString(inW, initLine); err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(outR).ReadString('\n')
		if err != nil || !strings.Contains(line, `"result"`) {
			b.Fatalf("reply %q: %v", line, err)
		}
		_ = inW.Close()
		go func() { _, _ = io.Copy(io.Discard, outR) }()
		if code := <-done; code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}

func reportPercentiles(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(p float64) time.Duration { return ds[min(int(float64(len(ds))*p), len(ds)-1)] }
	b.ReportMetric(float64(at(.50)), name+"-p50-ns")
	b.ReportMetric(float64(at(.99)), name+"-p99-ns")
}
