package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/dedupe"
)

// Clients returns the vendor client for a call: the configured one, or
// (hosted, per-tenant) one built from the caller's own credentials.
type Clients[C any] func(context.Context) (C, error)

// Static returns c for every call.
func Static[C any](c C) Clients[C] {
	return func(context.Context) (C, error) { return c, nil }
}

// withClient adapts a handler that needs the vendor client: it resolves
// the client for the call (configured or per-tenant), then calls fn.
func withClient[C, In, Out any](c Clients[C], fn func(context.Context, C, In) (Out, error)) func(context.Context, In) (Out, error) {
	return func(ctx context.Context, in In) (Out, error) {
		cl, err := c(ctx)
		if err != nil {
			var zero Out
			return zero, err
		}
		return fn(ctx, cl, in)
	}
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

// CallInfo describes one finished tool call (for logs and metrics).
type CallInfo struct {
	Tool, Vendor, Outcome string
	Duration, LimiterWait time.Duration
	Attempts              int  // requests sent to the vendor
	Duplicate             bool // answered by the duplicate-send guard
}

// CallObserver is told of every finished tool call (metrics).
type CallObserver func(CallInfo)

type recordKey struct{}

// callRecord is what the tool layer keeps and learns during one call.
type callRecord struct {
	duplicate     atomic.Bool
	progressToken mcp.ProgressToken // nil: the client asked for no progress
}

// Progress tells the client how far a long call has got (done of total),
// when it sent a progress token; otherwise it does nothing.
func Progress(ctx context.Context, done, total int, message string) {
	rec := recordFrom(ctx)
	s := server.ServerFromContext(ctx)
	if rec == nil || rec.progressToken == nil || s == nil {
		return
	}
	_ = s.SendNotificationToClient(ctx, "notifications/progress", map[string]any{
		"progressToken": rec.progressToken, "progress": done, "total": total, "message": message,
	})
}

func recordFrom(ctx context.Context) *callRecord {
	r, _ := ctx.Value(recordKey{}).(*callRecord)
	return r
}

// Middleware wraps every tool call: its deadline, the duplicate-send store,
// the vendor-attempt count, one log line, panic recovery (a panic becomes
// an isError result, never a crash or a protocol error) and the observer.
func Middleware(log *slog.Logger, timeout time.Duration, store dedupe.Store, observe CallObserver) server.ToolHandlerMiddleware {
	return func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (res *mcp.CallToolResult, err error) {
			start := time.Now()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			stats, rec := &vendors.Stats{}, &callRecord{}
			if req.Params.Meta != nil {
				rec.progressToken = req.Params.Meta.ProgressToken
			}
			ctx = context.WithValue(vendors.WithStats(ctx, stats), recordKey{}, rec)
			if store != nil {
				ctx = WithDedupe(ctx, store)
			}
			defer func() {
				if p := recover(); p != nil {
					log.Error("tool handler panicked", "tool", req.Params.Name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					res, err = ErrorResult(fmt.Errorf("internal error in %s; the call did not complete and can be retried", req.Params.Name)), nil
				}
				vendor, _, _ := strings.Cut(req.Params.Name, "_")
				info := CallInfo{Tool: req.Params.Name, Vendor: vendor, Outcome: Outcome(res, err), Duration: time.Since(start),
					LimiterWait: stats.Waited(), Attempts: stats.Attempts(), Duplicate: rec.duplicate.Load()}
				if log.Enabled(ctx, slog.LevelInfo) {
					log.LogAttrs(ctx, slog.LevelInfo, "tool call", slog.String("tool", info.Tool), slog.String("vendor", info.Vendor),
						slog.String("outcome", info.Outcome), slog.Duration("duration", info.Duration), slog.Int("attempts", info.Attempts),
						slog.Duration("limiter_wait", info.LimiterWait), slog.Bool("duplicate", info.Duplicate))
				}
				if observe != nil {
					observe(info)
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
