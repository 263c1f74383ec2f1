package tools

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/dedupe"
)

// DedupeWindow is how long an identical send is answered from memory.
const DedupeWindow = 10 * time.Minute

// SendGuard is embedded in the input of every tool that reaches a person or
// starts an automation. Its fields are not part of what makes two calls
// identical.
type SendGuard struct {
	AllowDuplicate bool   `json:"allow_duplicate,omitempty" jsonschema_description:"Send even if an identical call was made in the last 10 minutes."`
	IdempotencyKey string `json:"idempotency_key,omitempty" jsonschema:"maxLength=200" jsonschema_description:"Your key for this send: the same key is the same send, whatever the content."`
}

func (g *SendGuard) guard() *SendGuard { return g }

type guarded interface{ guard() *SendGuard }

// NewSend is New for a tool that reaches a person or starts an automation
// (In must embed SendGuard). An identical call (same tool, tenant and
// arguments, or the same idempotency_key) within DedupeWindow returns the
// first call's result with "duplicate": true and does not reach the vendor.
func NewSend[In any, Out any](toolset, name, title, description string, fn func(context.Context, In) (Out, error)) Tool {
	var zero In
	if _, ok := any(&zero).(guarded); !ok {
		panic("tool " + name + ": input of a send tool must embed tools.SendGuard")
	}
	t, in := build[In](toolset, name, title, description, Send)
	t.Handler = func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args, err := in.bind(req)
		if err != nil {
			return ErrorResult(err), nil
		}
		return guardSend(ctx, name, args, func() *mcp.CallToolResult { return invoke(ctx, fn, args) }), nil
	}
	return t
}

// guardSend runs send at most once per identical call within DedupeWindow.
func guardSend[In any](ctx context.Context, name string, args In, send func() *mcp.CallToolResult) *mcp.CallToolResult {
	g := *any(&args).(guarded).guard()
	if g.AllowDuplicate {
		return send()
	}
	key := sendKey(ctx, name, args, g)
	store := dedupeFrom(ctx)
	for {
		claimed, prior, err := store.Claim(ctx, key, DedupeWindow)
		if err != nil {
			return ErrorResult(&vendors.Error{Kind: vendors.KindUnavailable, Message: "the duplicate-send guard is unavailable, so nothing was sent", Err: err})
		}
		if claimed {
			res := send()
			if res.IsError && Outcome(res, nil) != string(vendors.KindUncertain) {
				_ = store.Release(context.WithoutCancel(ctx), key) // the vendor did not act: a retry may send
			} else {
				_ = store.Complete(context.WithoutCancel(ctx), key, encodeResult(res), DedupeWindow)
			}
			return res
		}
		if prior != nil {
			if r := recordFrom(ctx); r != nil {
				r.duplicate.Store(true)
			}
			return decodeResult(prior)
		}
		select { // an identical call is in flight: wait for its result
		case <-ctx.Done():
			return ErrorResult(&vendors.Error{Kind: vendors.KindConflict, Message: "an identical call is still in progress; call again to get its result"})
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sendKey identifies "the same call": the guard fields are left out.
func sendKey[In any](ctx context.Context, name string, in In, g SendGuard) string {
	h := sha256.New()
	h.Write([]byte(name + "\x00" + scopeFrom(ctx) + "\x00"))
	if g.IdempotencyKey != "" {
		h.Write([]byte("key\x00" + g.IdempotencyKey))
	} else {
		*any(&in).(guarded).guard() = SendGuard{}
		b, _ := json.Marshal(in)
		h.Write(b)
	}
	return "send:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// storedResult is what the store keeps of a result.
type storedResult struct {
	IsError bool            `json:"is_error,omitempty"`
	Body    json.RawMessage `json:"body"`
}

func encodeResult(res *mcp.CallToolResult) []byte {
	body, _ := json.Marshal(res.StructuredContent)
	b, _ := json.Marshal(storedResult{IsError: res.IsError, Body: body})
	return b
}

func decodeResult(b []byte) *mcp.CallToolResult {
	var s storedResult
	_ = json.Unmarshal(b, &s)
	body := markDuplicate(s.Body)
	text := string(body)
	if s.IsError {
		var e ErrorBody
		_ = json.Unmarshal(s.Body, &e)
		text = "An identical call was made in the last 10 minutes and was not sent again. Its result: " + e.Error
	}
	return &mcp.CallToolResult{IsError: s.IsError, Content: []mcp.Content{mcp.NewTextContent(text)}, StructuredContent: json.RawMessage(body)}
}

// markDuplicate adds "duplicate": true to a JSON object.
func markDuplicate(obj []byte) []byte {
	obj = bytes.TrimSpace(obj)
	if len(obj) < 2 || obj[0] != '{' {
		return obj
	}
	if bytes.Equal(obj, []byte("{}")) {
		return []byte(`{"duplicate":true}`)
	}
	return append([]byte(`{"duplicate":true,`), obj[1:]...)
}

type dedupeKey struct{}
type scopeKey struct{}

var defaultDedupe = dedupe.NewMemory()

// WithDedupe makes send tools called with ctx use store.
func WithDedupe(ctx context.Context, store dedupe.Store) context.Context {
	return context.WithValue(ctx, dedupeKey{}, store)
}

func dedupeFrom(ctx context.Context) dedupe.Store {
	if s, ok := ctx.Value(dedupeKey{}).(dedupe.Store); ok && s != nil {
		return s
	}
	return defaultDedupe
}

// WithScope sets the tenant a call belongs to (a fingerprint of its
// credentials), so identical sends of two tenants are never confused.
func WithScope(ctx context.Context, scope string) context.Context {
	return context.WithValue(ctx, scopeKey{}, scope)
}

func scopeFrom(ctx context.Context) string {
	s, _ := ctx.Value(scopeKey{}).(string)
	return s
}
