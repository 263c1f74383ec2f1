package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// serveFloorFlag is the hidden first argument that makes the load command
// serve the floor instead: crm-mcp-load --serve-floor 127.0.0.1:PORT.
const serveFloorFlag = "--serve-floor"

// floorContact has the fields, and for cnt_8800 the values, of the contact
// crm-mcp --sandbox answers, so that both answers cost the same to encode.
type floorContact struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Email     string   `json:"email"`
	Company   string   `json:"company"`
	AIScore   int      `json:"ai_score"`
	Stage     string   `json:"stage"`
	Tags      []string `json:"tags"`
	CreatedAt string   `json:"created_at"`
}

var floorContacts = map[string]*floorContact{
	"cnt_8800": {ID: "cnt_8800", Name: "Rahul Sharma", Email: "rahul@acme.example", Company: "Acme Technologies",
		AIScore: 35, Stage: "new", Tags: []string{"inbound"}, CreatedAt: "2026-06-01T08:00:00Z"},
}

// floorHandler is the library's floor: a bare mcp-go server (default
// options, no middleware) with one tool, vivre_get_contact, answered from
// memory as text plus structured content (mcp.NewToolResultJSON), at /mcp.
func floorHandler() http.Handler {
	s := mcpserver.NewMCPServer("crm-mcp-floor", "1")
	s.AddTool(mcp.NewTool("vivre_get_contact", mcp.WithDescription("Get one contact by id (from memory)."),
		mcp.WithString("id", mcp.Required(), mcp.Description("contact id, e.g. cnt_8800"))),
		func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			id, err := req.RequireString("id")
			if err != nil {
				return mcp.NewToolResultError(err.Error()), nil
			}
			c, ok := floorContacts[id]
			if !ok {
				return mcp.NewToolResultError("no contact " + id), nil
			}
			return mcp.NewToolResultJSON(c)
		})
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcpserver.NewStreamableHTTPServer(s))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return mux
}

// serveFloor serves floorHandler on a loopback addr until ctx ends.
func serveFloor(ctx context.Context, addr string) error {
	addr, err := loopbackAddr(addr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: floorHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// modeFloor drives, in one run and with the same client, the floor (a child
// process of this command) and crm-mcp --sandbox, alternating floor,
// crm-mcp, floor, crm-mcp… for --runs rounds of throughputRun over
// streamable HTTP.
func modeFloor(ctx context.Context, cfg config, w io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	floor, err := spawnAt(ctx, addr, self, []string{serveFloorFlag, addr}, baseEnv())
	if err != nil {
		return fmt.Errorf("floor server: %w", err)
	}
	defer floor.stop()
	crm, err := spawn(ctx, cfg.serverBin, []string{"--sandbox"}, sandboxEnv())
	if err != nil {
		return fmt.Errorf("crm-mcp: %w", err)
	}
	defer crm.stop()
	floorSize, err := answerSize(ctx, cfg, floor)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	crmSize, err := answerSize(ctx, cfg, crm)
	if err != nil {
		return fmt.Errorf("crm-mcp: %w", err)
	}
	n := cfg.floorSessions
	fmt.Fprintf(w, "## Side by side with the library's floor: %s %s, streamable HTTP, %d sessions, %s measured per run after %s warm-up, %d rounds (floor, then crm-mcp)\n\n",
		cfg.tool, cfg.args, n, cfg.duration, cfg.warmup, cfg.runs)
	fmt.Fprintf(w, "tools/call result (JSON): floor %d bytes, crm-mcp %d bytes.\n\n", floorSize, crmSize)
	fmt.Fprintln(w, "| round | floor calls/s | crm-mcp calls/s | ratio crm-mcp/floor | floor p50 / p99 | crm-mcp p50 / p99 | server CPU / call, floor / crm-mcp | load command CPU / call, floor / crm-mcp | errors / calls, floor; crm-mcp |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	var fr, cr, ratios []float64
	var fp50, fp99, cp50, cp99, fcpu, ccpu, fown, cown []time.Duration
	for i := range cfg.runs {
		f, err := throughputRun(ctx, cfg, floor, "http", n)
		if err != nil {
			return fmt.Errorf("floor, round %d: %w", i+1, err)
		}
		c, err := throughputRun(ctx, cfg, crm, "http", n)
		if err != nil {
			return fmt.Errorf("crm-mcp, round %d: %w", i+1, err)
		}
		ratio := c.rate / f.rate
		fr, cr, ratios = append(fr, f.rate), append(cr, c.rate), append(ratios, ratio)
		fp50, fp99, cp50, cp99 = append(fp50, f.p50), append(fp99, f.p99), append(cp50, c.p50), append(cp99, c.p99)
		fcpu, ccpu = append(fcpu, f.cpuPerCall()), append(ccpu, c.cpuPerCall())
		fown, cown = append(fown, f.ownCPUPerCall()), append(cown, c.ownCPUPerCall())
		fmt.Fprintf(w, "| %d | %.0f | %.0f | %.2f× | %s / %s | %s / %s | %s / %s | %s / %s | %d / %d; %d / %d |\n", i+1, f.rate, c.rate, ratio,
			us(f.p50), us(f.p99), us(c.p50), us(c.p99), us1(f.cpuPerCall()), us1(c.cpuPerCall()),
			us1(f.ownCPUPerCall()), us1(c.ownCPUPerCall()), f.errors, f.calls, c.errors, c.calls)
		for _, r := range []tpResult{f, c} {
			if r.firstErr != "" {
				fmt.Fprintf(w, "\nfirst error: %s\n\n", r.firstErr)
			}
		}
	}
	fmt.Fprintf(w, "| **median** | **%.0f** | **%.0f** | **%.2f×** | %s / %s | %s / %s | %s / %s | %s / %s | |\n\n",
		median(slices.Clone(fr)), median(slices.Clone(cr)), median(slices.Clone(ratios)),
		us(median(fp50)), us(median(fp99)), us(median(cp50)), us(median(cp99)), us1(median(fcpu)), us1(median(ccpu)),
		us1(median(fown)), us1(median(cown)))
	fmt.Fprintf(w, "Server RSS after: floor %s, crm-mcp %s. CPU / call: user+system time of the process (/proc/<pid>/stat, 10 ms ticks) over the measured part of a run ÷ its calls.\n\n",
		floor.rss(), crm.rss())
	return nil
}

// answerSize makes one call and returns the size of the JSON-RPC result.
func answerSize(ctx context.Context, cfg config, s *server) (int, error) {
	c := newHTTPClient(1)
	defer c.CloseIdleConnections()
	sess, err := open(ctx, "http", c, s.base, cfg.auth)
	if err != nil {
		return 0, err
	}
	defer sess.close()
	raw, err := sess.rpc(ctx, "tools/call", map[string]any{"name": cfg.tool, "arguments": cfg.args})
	if err != nil {
		return 0, err
	}
	return len(raw), nil
}

// us1 is d in µs to a tenth, or n/a for an unknown (negative) d.
func us1(d time.Duration) string {
	if d < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}
