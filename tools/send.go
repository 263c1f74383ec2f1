package tools

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

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

// Identified is a vendor client that can say whose credential it sends:
// the duplicate-send guard's scope.
type Identified interface{ Identity() string }

// NewSend is New for a tool that reaches a person or starts an automation
// (In must embed SendGuard). The person confirms it first (confirm.go):
// ask reads what they are asked, within the call's deadline. An identical
// call within DedupeWindow (same tool, same vendor credential, same
// arguments once defaults are applied, or the same idempotency_key)
// returns the first call's result with "duplicate": true, without asking
// and without reaching the vendor; the duplicate claim is taken only once
// the person has accepted.
func NewSend[C Identified, In, Out any](toolset, name, title, description string, c Clients[C], fn func(context.Context, C, In) (Out, error), ask func(context.Context, C, In) Question) Tool {
	var zero In
	if _, ok := any(&zero).(guarded); !ok {
		panic("tool " + name + ": input of a send tool must embed tools.SendGuard")
	}
	t, in := build[In, Out](toolset, name, title, description, Send, true, sendFields...)
	t.Scope = ScopeSend
	t.Handler = confirmedHandler(name, in, c, ask, func(ctx context.Context, cl C, args In) confirmation {
		key := sync.OnceValue(func() string { return sendKey(name, cl.Identity()+callerScope(ctx), args, in.defaults) })
		return confirmation{
			early: func() (*mcp.CallToolResult, bool) { return priorSend(ctx, key, args) },
			act: func() *mcp.CallToolResult {
				return guardSend(ctx, key, args, func() (any, error) { return fn(ctx, cl, args) })
			},
		}
	})
	return t
}

// NewConfirmed is New for a tool whose effect the person confirms first (a
// delete that cannot be undone); ask reads what they are asked.
func NewConfirmed[C Identified, In, Out any](toolset, name, title, description string, h Hints, c Clients[C], fn func(context.Context, C, In) (Out, error), ask func(context.Context, C, In) Question) Tool {
	t, in := build[In, Out](toolset, name, title, description, h, true)
	t.Handler = confirmedHandler(name, in, c, ask, func(ctx context.Context, cl C, args In) confirmation {
		return confirmation{
			deletion: true,
			act: func() *mcp.CallToolResult {
				return invoke(ctx, func(ctx context.Context, in In) (Out, error) { return fn(ctx, cl, in) }, args)
			},
		}
	})
	return t
}

// confirmedHandler binds a confirmed tool's arguments, resolves its client
// and runs what plan says the call does once confirmed (confirm.go). The
// binding is computed only if a question is asked or an answer checked:
// most calls (policy off, or a client that cannot be asked) need none.
func confirmedHandler[C Identified, In any](name string, in input[In], c Clients[C], ask func(context.Context, C, In) Question,
	plan func(context.Context, C, In) confirmation) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args, err := in.bind(req)
		if err != nil {
			return failed(ctx, err), nil
		}
		cl, err := c(ctx)
		if err != nil {
			return failed(ctx, err), nil
		}
		cf := plan(ctx, cl, args)
		cf.binding = sync.OnceValue(func() []byte { return binding(ctx, name, cl.Identity(), args, in.defaults) })
		cf.ask = func(ctx context.Context) Question { return ask(ctx, cl, args) }
		return confirmed(ctx, req, cf), nil
	}
}

// priorSend is the recorded result of an identical send made within
// DedupeWindow, if there is one: the person is not asked about a send that
// would not go out. It only reads; guardSend claims the key after the
// person accepted.
func priorSend[In any](ctx context.Context, key func() string, args In) (*mcp.CallToolResult, bool) {
	store := dedupeFrom(ctx)
	if any(&args).(guarded).guard().AllowDuplicate || store == nil {
		return nil, false
	}
	prior, err := store.Result(ctx, key())
	switch {
	case err != nil:
		return failed(ctx, &vendors.Error{Kind: vendors.KindUnavailable, Message: "the duplicate-send guard is unavailable, so nothing was sent", Err: err}), true
	case prior != nil:
		return decodeResult(ctx, prior), true
	}
	return nil, false
}

// guardSend runs send at most once per identical call within DedupeWindow.
// The claim is released only when the vendor certainly did not act; any
// doubt keeps it, so a retry cannot send twice. keyOf is called only when
// the guard applies (not with allow_duplicate).
func guardSend[In any](ctx context.Context, keyOf func() string, args In, send func() (any, error)) *mcp.CallToolResult {
	if any(&args).(guarded).guard().AllowDuplicate {
		out, err := send()
		return shape(ctx, out, err)
	}
	store := dedupeFrom(ctx)
	if store == nil {
		return failed(ctx, &vendors.Error{Kind: vendors.KindUnavailable, Message: "the duplicate-send guard is not set up, so nothing was sent"})
	}
	key := keyOf()
	for {
		claimed, prior, err := store.Claim(ctx, key, DedupeWindow)
		if err != nil {
			return failed(ctx, &vendors.Error{Kind: vendors.KindUnavailable, Message: "the duplicate-send guard is unavailable, so nothing was sent", Err: err})
		}
		if claimed {
			out, err := send()
			res := shape(ctx, out, err)
			if e, ok := vendors.AsError(err); ok && e.NotApplied() {
				_ = store.Release(context.WithoutCancel(ctx), key) // the vendor did not act: a retry may send
				return res
			}
			if err := store.Complete(context.WithoutCancel(ctx), key, encodeResult(res), DedupeWindow); err != nil {
				if r := recordFrom(ctx); r != nil {
					r.guardError = err.Error()
				}
				res = withGuardWarning(res)
			}
			return res
		}
		if prior != nil {
			return decodeResult(ctx, prior)
		}
		select { // an identical call is in flight: wait for its result
		case <-ctx.Done():
			return failed(ctx, &vendors.Error{Kind: vendors.KindConflict, Message: "an identical call is still in progress; call again to get its result"})
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// callerScope narrows the guard to the caller when the vendor keys came
// with the request (hosted, per-tenant): two people who happen to send the
// same message with their own keys are two sends, and one's record is not
// the other's.
func callerScope(ctx context.Context) string {
	p, r := PrincipalFrom(ctx), recordFrom(ctx)
	if p == nil || r == nil || !r.callerKeys {
		return ""
	}
	return "\x00" + p.Kind + "\x00" + p.Tenant + "\x00" + p.Subject
}

// guardWarning tells the agent its send is remembered by this process only.
const guardWarning = "the duplicate-send guard could not record this send in its shared store; only this server process will recognise a repeat of it in the next 10 minutes"

func withGuardWarning(res *mcp.CallToolResult) *mcp.CallToolResult {
	if res.IsError {
		body, ok := ErrorOf(res)
		if !ok {
			return res
		}
		body.GuardWarning = guardWarning
		out := errorResult(body, "")
		out.Content = res.Content
		return out
	}
	raw, ok := res.StructuredContent.(json.RawMessage)
	if !ok {
		return res
	}
	w, _ := json.Marshal(guardWarning)
	body := addField(raw, "guard_warning", w)
	out := *res
	out.StructuredContent = json.RawMessage(body)
	out.Content = []mcp.Content{mcp.NewTextContent(string(body))}
	return &out
}

// shape is a send's outcome as a tool result.
func shape(ctx context.Context, out any, err error) *mcp.CallToolResult {
	if err != nil {
		return failed(ctx, err)
	}
	return Result(out)
}

// sendKey identifies "the same call": the tool, whose credential sends it,
// and the arguments with their defaults filled in (so an omitted language
// and "en" are one send), or the caller's idempotency key. The guard fields
// are left out. The hash is keyed by the credential's identity, so records
// of two deployments sharing a Redis never collide.
func sendKey[In any](name, identity string, in In, defaults map[string]any) string {
	g := *any(&in).(guarded).guard()
	h := hmac.New(sha256.New, []byte(identity))
	h.Write([]byte(name + "\x00"))
	if g.IdempotencyKey != "" {
		h.Write([]byte("key\x00" + g.IdempotencyKey))
	} else {
		*any(&in).(guarded).guard() = SendGuard{}
		h.Write(canonicalArgs(in, defaults))
	}
	return "send:" + hex.EncodeToString(h.Sum(nil))
}

// canonicalArgs is one encoding of a call's arguments whatever order or
// omissions they came with: the defaults filled in, keys sorted (an
// omitted language and "en" are one call).
func canonicalArgs(in any, defaults map[string]any) []byte {
	b, _ := json.Marshal(in)
	args := map[string]any{}
	_ = json.Unmarshal(b, &args)
	for k, v := range defaults {
		if _, given := args[k]; !given {
			args[k] = v
		}
	}
	b, _ = json.Marshal(args) // map keys sorted
	return b
}

// storedResult is what the store keeps of a result: a success's
// structured content, or a failure's ErrorBody.
type storedResult struct {
	IsError bool            `json:"is_error,omitempty"`
	Body    json.RawMessage `json:"body"`
}

// encodeResult reuses the JSON a result already carries (errorResult's
// _meta, Result's structured content) rather than decoding it to encode
// it again.
func encodeResult(res *mcp.CallToolResult) []byte {
	var body []byte
	if res.IsError {
		if res.Meta != nil {
			body, _ = res.Meta.AdditionalFields[ErrorMeta].(json.RawMessage)
		}
		if body == nil {
			e, _ := ErrorOf(res)
			body, _ = json.Marshal(e)
		}
	} else if raw, ok := res.StructuredContent.(json.RawMessage); ok {
		body = raw
	} else {
		body, _ = json.Marshal(res.StructuredContent)
	}
	b, _ := json.Marshal(storedResult{IsError: res.IsError, Body: body})
	return b
}

func decodeResult(ctx context.Context, b []byte) *mcp.CallToolResult {
	var s storedResult
	_ = json.Unmarshal(b, &s)
	r := recordFrom(ctx)
	if r != nil {
		r.duplicate.Store(true)
	}
	if s.IsError {
		var e ErrorBody
		_ = json.Unmarshal(s.Body, &e)
		e.Duplicate = true
		if r != nil {
			r.kind = string(e.Kind)
		}
		return errorResult(e, "An identical call was made in the last 10 minutes and was not sent again. Its result: "+e.Error)
	}
	body := markDuplicate(s.Body)
	return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent(string(body))}, StructuredContent: json.RawMessage(body)}
}

// markDuplicate adds "duplicate": true to a JSON object.
func markDuplicate(obj []byte) []byte { return addField(obj, "duplicate", []byte("true")) }

// addField puts "key": value first in a JSON object (obj unchanged if it
// is not an object).
func addField(obj []byte, key string, value []byte) []byte {
	obj = bytes.TrimSpace(obj)
	if len(obj) < 2 || obj[0] != '{' {
		return obj
	}
	out := make([]byte, 0, len(obj)+len(key)+len(value)+4)
	out = append(append(append(append(out, '{', '"'), key...), '"', ':'), value...)
	if rest := bytes.TrimSpace(obj[1:]); len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, obj[1:]...)
}

// dedupeFrom is the call's store; nil (nothing is sent) when none was set.
func dedupeFrom(ctx context.Context) dedupe.Store {
	if r := recordFrom(ctx); r != nil {
		return r.dedupe
	}
	return nil
}
