package tools

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/dedupe"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/vivre"
	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
)

// Benchmarks of the tools layer's hot paths. Timing targets live here and
// in cmd/crm-mcp-load, never in test assertions. See BENCHMARKS.md.

func callRequest(name, args string) mcp.CallToolRequest {
	var req mcp.CallToolRequest
	req.Params.Name = name
	req.Params.Arguments = json.RawMessage(args)
	return req
}

// Schema validation + argument binding of a one-field read.
func BenchmarkBindGetContact(b *testing.B) {
	in := newInput[vivreGetContactIn]("vivre_get_contact")
	req := callRequest("vivre_get_contact", `{"id":"cnt_8800"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := in.bind(req); err != nil {
			b.Fatal(err)
		}
	}
}

// Schema validation + binding of a create with a format, an enum and an array.
func BenchmarkBindCreateContact(b *testing.B) {
	in := newInput[vivreCreateContactIn]("vivre_create_contact")
	req := callRequest("vivre_create_contact", `{"name":"Kiran Dutta","email":"kiran@harbourline.example","company":"Harbourline Foods","stage":"qualified","tags":["inbound","demo-request"]}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := in.bind(req); err != nil {
			b.Fatal(err)
		}
	}
}

// Result encoding: one contact as structured content + text.
func BenchmarkResultContact(b *testing.B) {
	at := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	c := &vivre.Contact{ID: "cnt_8800", Name: "Rahul Sharma", Email: "rahul@acme.example", Company: "Acme Technologies",
		AIScore: 35, Stage: "new", Tags: []string{"inbound"}, CreatedAt: at}
	b.ReportAllocs()
	for b.Loop() {
		res := Result(c)
		if _, err := json.Marshal(res); err != nil { // as the transport writes it
			b.Fatal(err)
		}
	}
}

// benchServer is the MCP server of the Vivre tools against an in-memory
// emulator (limits lifted), and a hook that records each vendor round trip.
func benchServer(b *testing.B) (handle func(context.Context, []byte) []byte, vendorTime *time.Duration) {
	b.Helper()
	emu := vivretest.New(vivretest.Options{RatePerMinute: -1})
	var last time.Duration
	cl := vivre.New(vivre.Config{APIKey: vivretest.APIKey, WorkspaceID: vivretest.WorkspaceID, Plan: "pro", BaseURL: "http://vivre.bench.invalid"},
		vendors.Options{HTTP: &http.Client{Transport: emulator.Transport(emu)}, Unlimited: true,
			Observe: func(_ string, _ int, d time.Duration) { last = d }})
	s := NewServer(ServerOptions{Name: "bench", Version: "1", Tools: Vivre(Static(cl)), CallTimeout: 30 * time.Second,
		Dedupe: dedupe.NewMemory(), Observe: func(CallInfo) {}})
	ctx := context.Background()
	handle = func(ctx context.Context, msg []byte) []byte {
		out, err := json.Marshal(s.HandleMessage(ctx, msg))
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	handle(ctx, []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`))
	return handle, &last
}

// A whole tool call in process: JSON-RPC bytes in, JSON-RPC bytes out,
// through the middleware, binding, the vendor client and the emulator.
// overhead-p50/p99-ns is what the server adds: the call minus its vendor
// round trip (the emulator, timed by the client's Observe hook).
func BenchmarkToolCallInProcess(b *testing.B) {
	handle, vendorTime := benchServer(b)
	msg := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"vivre_get_contact","arguments":{"id":"cnt_8800"}}}`)
	ctx := context.Background()
	if out := handle(ctx, msg); !json.Valid(out) || !containsOK(out) {
		b.Fatalf("unexpected reply %s", out)
	}
	var overhead []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		handle(ctx, msg)
		overhead = append(overhead, time.Since(start)-*vendorTime)
	}
	reportPercentiles(b, "overhead", overhead)
}

// The same call made many at once (GOMAXPROCS goroutines).
func BenchmarkToolCallInProcessParallel(b *testing.B) {
	emu := vivretest.New(vivretest.Options{RatePerMinute: -1})
	cl := vivre.New(vivre.Config{APIKey: vivretest.APIKey, WorkspaceID: vivretest.WorkspaceID, Plan: "pro", BaseURL: "http://vivre.bench.invalid"},
		vendors.Options{HTTP: &http.Client{Transport: emulator.Transport(emu)}, Unlimited: true})
	s := NewServer(ServerOptions{Name: "bench", Version: "1", Tools: Vivre(Static(cl)), CallTimeout: 30 * time.Second, Dedupe: dedupe.NewMemory()})
	msg := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"vivre_get_contact","arguments":{"id":"cnt_8800"}}}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := json.Marshal(s.HandleMessage(ctx, msg)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func containsOK(out []byte) bool {
	var r struct {
		Result struct {
			IsError bool `json:"isError"`
		} `json:"result"`
		Error any `json:"error"`
	}
	return json.Unmarshal(out, &r) == nil && r.Error == nil && !r.Result.IsError
}

// reportPercentiles adds p50 and p99 of ds (ns) to the benchmark's line.
func reportPercentiles(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(p float64) time.Duration { return ds[min(int(float64(len(ds))*p), len(ds)-1)] }
	b.ReportMetric(float64(at(.50)), name+"-p50-ns")
	b.ReportMetric(float64(at(.99)), name+"-p99-ns")
}

// The library's floor in process: a bare mcp-go server answering the same
// tools/call from memory with the same contact, no middleware. Our own
// time per call is BenchmarkToolCallInProcess's overhead minus this.
func BenchmarkFloorInProcess(b *testing.B) {
	contact := vivre.Contact{ID: "cnt_8800", Name: "Aarav Shah", Email: "aarav@example.com", Company: "Shah Textiles", AIScore: 72,
		Stage: "qualified", Tags: []string{"inbound"}, CreatedAt: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	s := server.NewMCPServer("floor", "1", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewTool("vivre_get_contact", mcp.WithString("id", mcp.Required())), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return Result(contact), nil
	})
	ctx := context.Background()
	s.HandleMessage(ctx, []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`))
	msg := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"vivre_get_contact","arguments":{"id":"cnt_8800"}}}`)
	var took []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if _, err := json.Marshal(s.HandleMessage(ctx, msg)); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	reportPercentiles(b, "call", took)
}
