package tools

import (
	"context"
	"encoding/json"
	"errors"
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
	// Auth is how the caller authenticated: "none", "token" or "oauth"
	// (bounded, for metrics; who it was is in the log line only).
	Auth string
}

// CallObserver is told of every finished tool call (metrics).
type CallObserver func(CallInfo)

type recordKey struct{}

// callRecord is what the tool layer keeps and learns during one call.
type callRecord struct {
	duplicate     atomic.Bool
	guardError    string            // the duplicate guard's shared store failed to record a send
	kind          string            // the failure's kind, recorded where the call failed
	dedupe        dedupe.Store      // the duplicate-send guard's store
	callerKeys    bool              // the vendor client was built from keys the caller sent
	progressToken mcp.ProgressToken // nil: the client asked for no progress
	confirm       *confirmer        // when sends and deletes ask the person first
	declined      bool              // the person declined the call when asked
}

// confirmerFrom is the call's confirmation policy and key; nil outside a call.
func confirmerFrom(ctx context.Context) *confirmer {
	if r := recordFrom(ctx); r != nil {
		return r.confirm
	}
	return nil
}

// Progress tells the client how far a long call has got (done of total),
// when it sent a progress token; otherwise it does nothing. Where the
// transport gave a Notifier (stdio), the notification is written before
// Progress returns, so it always precedes the call's result.
func Progress(ctx context.Context, done, total int, message string) {
	rec := recordFrom(ctx)
	if rec == nil || rec.progressToken == nil {
		return
	}
	params := map[string]any{"progressToken": rec.progressToken, "progress": done, "total": total, "message": message}
	if n, ok := ctx.Value(notifierKey{}).(Notifier); ok {
		n("notifications/progress", params)
		return
	}
	if s := server.ServerFromContext(ctx); s != nil {
		_ = s.SendNotificationToClient(ctx, "notifications/progress", params)
	}
}

// Notifier writes a notification to the client synchronously.
type Notifier func(method string, params map[string]any)

type notifierKey struct{}

// WithNotifier makes Progress write through n.
func WithNotifier(ctx context.Context, n Notifier) context.Context {
	return context.WithValue(ctx, notifierKey{}, n)
}

func recordFrom(ctx context.Context) *callRecord {
	r, _ := ctx.Value(recordKey{}).(*callRecord)
	return r
}

// Middleware wraps every tool call: its deadline, the duplicate-send store,
// the person's confirmation for clients before 2026-07-28 (bridge), the
// vendor-attempt count, redaction of the result, one log line, panic
// recovery (a panic becomes an isError result, never a crash or a protocol
// error) and the observer.
func Middleware(o ServerOptions) server.ToolHandlerMiddleware {
	log, timeout, store, observe := o.Logger, o.CallTimeout, o.Dedupe, o.Observe
	confirm := newConfirmer(o)
	return func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (res *mcp.CallToolResult, err error) {
			start := time.Now()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			if vendors.RedactorFrom(ctx) == nil {
				ctx = vendors.WithRedactor(ctx, o.Redactor)
			}
			stats, rec := &vendors.Stats{}, &callRecord{}
			if req.Params.Meta != nil {
				rec.progressToken = req.Params.Meta.ProgressToken
			}
			ctx = context.WithValue(vendors.WithStats(ctx, stats), recordKey{}, rec)
			rec.dedupe, rec.confirm = store, confirm
			defer func() {
				if p := recover(); p != nil {
					log.Error("tool handler panicked", "tool", req.Params.Name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					res, err = failed(ctx, fmt.Errorf("internal error in %s; the call did not complete and can be retried", req.Params.Name)), nil
					rec.kind = "panic"
				}
				vendor, _, _ := strings.Cut(req.Params.Name, "_")
				info := CallInfo{Tool: req.Params.Name, Vendor: vendor, Outcome: rec.outcome(res, err), Duration: time.Since(start),
					LimiterWait: stats.Waited(), Attempts: stats.Attempts(), Duplicate: rec.duplicate.Load()}
				info.Auth = "none"
				p := PrincipalFrom(ctx)
				if p != nil {
					info.Auth = p.Kind
				}
				if errors.Is(ctx.Err(), context.Canceled) { // the client cancelled: not a timeout, not a vendor failure
					info.Outcome = string(vendors.KindCancelled)
				}
				res = redactResult(vendors.RedactorFrom(ctx), res)
				if rec.guardError != "" {
					log.LogAttrs(ctx, slog.LevelError, "duplicate-send guard failed to record a send; kept in this process only",
						slog.String("tool", info.Tool), slog.String("error", rec.guardError))
				}
				if log.Enabled(ctx, slog.LevelInfo) {
					log.LogAttrs(ctx, slog.LevelInfo, "tool call", slog.String("tool", info.Tool), slog.String("vendor", info.Vendor),
						slog.String("outcome", info.Outcome), slog.Float64("duration_ms", ms(info.Duration)), slog.Int("attempts", info.Attempts),
						slog.Float64("limiter_wait_ms", ms(info.LimiterWait)), slog.Bool("duplicate", info.Duplicate), callerAttr(p))
				}
				if observe != nil {
					observe(info)
				}
			}()
			res, err = next(ctx, req)
			return bridge(ctx, next, req, res, err)
		}
	}
}

// vocabularies are each vendor's endpoint names as tool names, for its
// errors (errorBody).
func vocabularies() map[string]*strings.Replacer {
	out := map[string]*strings.Replacer{}
	for _, v := range Vendors() {
		if w := v.Vocabulary(); len(w) > 0 {
			out[v.Name()] = strings.NewReplacer(w...)
		}
	}
	return out
}

// outcome names a call's result for logs and metrics: "ok",
// "protocol_error", "input_required" (a 2026-07-28 client is to ask the
// person), "declined" (the person said no), or the kind the failure
// recorded ("error" when none did).
func (r *callRecord) outcome(res *mcp.CallToolResult, err error) string {
	switch {
	case err != nil:
		return "protocol_error"
	case res.NeedsInput():
		return "input_required"
	case r.declined:
		return "declined"
	case res == nil || !res.IsError:
		return "ok"
	case r.kind != "":
		return r.kind
	}
	return "error"
}

// ms is d in milliseconds: log keys carry their unit.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// redactResult masks r's secrets in a result: a vendor that echoes our key
// back must not hand it to the caller. Clean results (the rule) go out as
// they are.
func redactResult(r *vendors.Redactor, res *mcp.CallToolResult) *mcp.CallToolResult {
	if r == nil {
		return res
	}
	return rewriteResult(res, r.Contains, r.Redact)
}

// rewriteResult applies replace to every string of a result that dirty
// finds something in, value by value, so its JSON stays valid.
func rewriteResult(res *mcp.CallToolResult, dirty func([]byte) bool, replace func(string) string) *mcp.CallToolResult {
	if res == nil {
		return res
	}
	res = rewriteMeta(res, dirty, replace)
	raw, isRaw := res.StructuredContent.(json.RawMessage)
	found := isRaw && dirty(raw)
	for _, c := range res.Content {
		if found {
			break
		}
		// A success's text is its structured content's bytes (Result):
		// scanned above, and not copied to be scanned again.
		if t, ok := c.(mcp.TextContent); ok && !(isRaw && t.Text == string(raw)) && dirty([]byte(t.Text)) {
			found = true
		}
	}
	if !found {
		return res
	}
	out := *res
	out.Content = make([]mcp.Content, len(res.Content))
	for i, c := range res.Content {
		if t, ok := c.(mcp.TextContent); ok {
			t.Text = replace(t.Text)
			c = t
		}
		out.Content[i] = c
	}
	if isRaw {
		if b, ok := rewriteJSON(raw, replace); ok {
			out.StructuredContent = json.RawMessage(b)
		} else {
			out.StructuredContent = nil
		}
	}
	return &out
}

func rewriteValue(replace func(string) string, v any) any {
	switch x := v.(type) {
	case string:
		return replace(x)
	case []any:
		for i := range x {
			x[i] = rewriteValue(replace, x[i])
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[replace(k)] = rewriteValue(replace, e)
		}
		return out
	}
	return v
}

// callerAttr is who made a call (p, PrincipalFrom the call's context), for
// its log line: how they authenticated, their subject and tenant (none over
// stdio and without authentication).
func callerAttr(p *Principal) slog.Attr {
	if p == nil {
		return slog.Group("caller", slog.String("auth", "none"))
	}
	attrs := []any{slog.String("auth", p.Kind), slog.String("sub", p.Subject)}
	if p.Tenant != "" {
		attrs = append(attrs, slog.String("tenant", p.Tenant))
	}
	return slog.Group("caller", attrs...)
}
