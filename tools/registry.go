package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/crm-mcp/crm-mcp/vendors"
)

// Clients returns the vendor client for a call: the configured one, or
// (hosted, per-tenant) one built from the caller's own credentials.
type Clients[C any] func(context.Context) (C, error)

// Static returns c for every call.
func Static[C any](c C) Clients[C] {
	return func(context.Context) (C, error) { return c, nil }
}

// Filter keeps the tools of the named toolsets (all when none are named)
// and, when readOnly, only those whose readOnlyHint is true.
func Filter(all []Tool, toolsets []string, readOnly bool) []Tool {
	var out []Tool
	for _, t := range all {
		if len(toolsets) > 0 && !slices.Contains(toolsets, t.Toolset) {
			continue
		}
		if readOnly && !t.ReadOnly() {
			continue
		}
		out = append(out, t)
	}
	return out
}

// Add registers tools on s.
func Add(s *server.MCPServer, ts []Tool) {
	st := make([]server.ServerTool, len(ts))
	for i, t := range ts {
		st[i] = server.ServerTool{Tool: t.Def, Handler: t.Handler}
	}
	s.AddTools(st...)
}

// CallObserver is told of every finished tool call (metrics).
type CallObserver func(tool, outcome string, d time.Duration, attempts int)

// Middleware wraps every tool call: its deadline, the vendor-attempt count,
// one log line, panic recovery (a panic becomes an isError result, never a
// crash or a protocol error) and the observer.
func Middleware(log *slog.Logger, timeout time.Duration, observe CallObserver) server.ToolHandlerMiddleware {
	return func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (res *mcp.CallToolResult, err error) {
			start := time.Now()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			stats := &vendors.Stats{}
			ctx = vendors.WithStats(ctx, stats)
			defer func() {
				if p := recover(); p != nil {
					log.Error("tool handler panicked", "tool", req.Params.Name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					res, err = ErrorResult(fmt.Errorf("internal error in %s; the call did not complete and can be retried", req.Params.Name)), nil
				}
				outcome := Outcome(res, err)
				d := time.Since(start)
				log.Info("tool call", "tool", req.Params.Name, "outcome", outcome, "duration", d,
					"attempts", stats.Attempts(), "limiter_wait", stats.Waited())
				if observe != nil {
					observe(req.Params.Name, outcome, d, stats.Attempts())
				}
			}()
			return next(ctx, req)
		}
	}
}

// Outcome names a call's result for logs and metrics: "ok", "protocol_error"
// or the error kind.
func Outcome(res *mcp.CallToolResult, err error) string {
	switch {
	case err != nil:
		return "protocol_error"
	case res == nil || !res.IsError:
		return "ok"
	}
	var body struct {
		Kind string `json:"kind"`
	}
	if raw, ok := res.StructuredContent.(json.RawMessage); ok && json.Unmarshal(raw, &body) == nil && body.Kind != "" {
		return body.Kind
	}
	return "error"
}
