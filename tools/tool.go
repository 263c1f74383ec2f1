// Package tools is the MCP layer: one file per vendor declaring its tools,
// the typed-handler adapter that turns a Go input struct into a JSON Schema
// and a vendor failure into a tool error, and the registry (toolsets,
// read-only filter). Nothing here builds HTTP requests: handlers call the
// vendor clients in vendors/.
package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/invopop/jsonschema"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	validator "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/crm-mcp/crm-mcp/vendors"
)

// Tool is one MCP tool: its definition, its toolset (a vendor, or "crm")
// and its handler.
type Tool struct {
	Def     mcp.Tool
	Toolset string
	// Scope is the OAuth scope a caller needs for it: ScopeRead for
	// read-only tools, ScopeSend for tools that reach a person or start an
	// automation, ScopeWrite for the rest.
	Scope   string
	Handler server.ToolHandlerFunc
}

// Hints are a tool's behaviour annotations. Every constructor names one of
// the sets below, so no tool is left with the protocol's defaults
// (destructive, open-world).
type Hints struct {
	ReadOnly, Destructive, Idempotent bool
}

// The annotation sets. Every tool reaches a vendor's API, so openWorldHint
// is always true.
var (
	// Read fetches and changes nothing.
	Read = Hints{ReadOnly: true, Idempotent: true}
	// Create adds a record or sends something; calling twice does it twice.
	Create = Hints{}
	// Update overwrites fields of a record; the same call twice ends the same.
	Update = Hints{Destructive: true, Idempotent: true}
	// Delete removes a record.
	Delete = Hints{Destructive: true, Idempotent: true}
	// Send reaches a person or starts an automation; guarded against duplicates.
	Send = Hints{}
)

// New builds a tool whose input schema is generated from In and whose
// handler binds and validates the arguments, calls fn and shapes its result.
// It panics on a schema that cannot be built: a programming error caught by
// every test that lists the tools.
func New[In, Out any](toolset, name, title, description string, h Hints, fn func(context.Context, In) (Out, error)) Tool {
	t, in := build[In](toolset, name, title, description, h)
	t.Handler = func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args, err := in.bind(req)
		if err != nil {
			return failed(ctx, err), nil
		}
		return invoke(ctx, fn, args), nil
	}
	return t
}

// build is a tool's definition (annotations, generated schema) and the
// binder of its arguments; the caller sets the handler.
func build[In any](toolset, name, title, description string, h Hints) (Tool, input[In]) {
	in := newInput[In](name)
	scope := ScopeWrite
	if h.ReadOnly {
		scope = ScopeRead
	}
	return Tool{
		Toolset: toolset,
		Scope:   scope,
		Def: mcp.Tool{
			Name:           name,
			Description:    description,
			RawInputSchema: in.raw,
			Annotations: mcp.ToolAnnotation{
				Title:           title,
				ReadOnlyHint:    mcp.ToBoolPtr(h.ReadOnly),
				DestructiveHint: mcp.ToBoolPtr(h.Destructive),
				IdempotentHint:  mcp.ToBoolPtr(h.Idempotent),
				OpenWorldHint:   mcp.ToBoolPtr(true),
			},
		},
	}, in
}

// invoke calls fn and shapes its outcome as a tool result.
func invoke[In, Out any](ctx context.Context, fn func(context.Context, In) (Out, error), args In) *mcp.CallToolResult {
	out, err := fn(ctx, args)
	if err != nil {
		return failed(ctx, err)
	}
	return Result(out)
}

// Validator is implemented by inputs with rules a schema cannot say
// (e.g. "phone or contact_id"). Errors should be *vendors.Error naming the field.
type Validator interface{ Validate() error }

// input is the compiled schema of one tool's argument struct.
type input[T any] struct {
	raw      json.RawMessage
	schema   *validator.Schema
	props    map[string]bool
	defaults map[string]any // the schema's defaults: what an omitted argument means
}

func newInput[T any](name string) input[T] {
	r := jsonschema.Reflector{
		DoNotReference:             true,
		ExpandedStruct:             true,
		AllowAdditionalProperties:  true, // "additionalProperties" is rejected by some hosts; bind checks names instead
		RequiredFromJSONSchemaTags: true,
	}
	var zero T
	s := r.Reflect(&zero)
	s.Version, s.ID = "", ""
	if s.Properties == nil {
		s.Properties = jsonschema.NewProperties()
	}
	for p := s.Properties.Oldest(); p != nil; p = p.Next() {
		if p.Value.Description == "" {
			p.Value.Description = commonWords[p.Key]
		}
		portable(p.Value)
	}
	raw, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("tool %s: schema: %v", name, err))
	}
	doc, err := validator.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		panic(fmt.Sprintf("tool %s: schema: %v", name, err))
	}
	c := validator.NewCompiler()
	c.AssertFormat()
	c.DefaultDraft(validator.Draft2020)
	url := "mem:///" + name + ".json"
	if err := c.AddResource(url, doc); err != nil {
		panic(fmt.Sprintf("tool %s: schema: %v", name, err))
	}
	compiled, err := c.Compile(url)
	if err != nil {
		panic(fmt.Sprintf("tool %s: schema: %v", name, err))
	}
	props, defaults := map[string]bool{}, map[string]any{}
	for p := s.Properties.Oldest(); p != nil; p = p.Next() {
		props[p.Key] = true
		if p.Value.Default != nil {
			defaults[p.Key] = p.Value.Default
		}
	}
	return input[T]{raw: raw, schema: compiled, props: props, defaults: defaults}
}

// Formats some hosts reject (Gemini takes only date-time) are published as
// the equivalent pattern, which every host accepts and bind still enforces.
var formatPatterns = map[string]string{
	"email": `^[^@\s]+@[^@\s]+\.[^@\s]+$`,
	"uuid":  `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`,
}

func portable(s *jsonschema.Schema) {
	if p, ok := formatPatterns[s.Format]; ok {
		s.Pattern, s.Format = p, ""
	}
	if s.Items != nil {
		portable(s.Items)
	}
	if s.Properties != nil {
		for p := s.Properties.Oldest(); p != nil; p = p.Next() {
			portable(p.Value)
		}
	}
}

// bind validates the call's arguments against the schema and decodes them.
// Arguments the transport already decoded (a map) are validated as they
// are, not encoded and parsed again: the only re-encoding is the one into T.
func (in input[T]) bind(req mcp.CallToolRequest) (T, error) {
	var zero T
	obj, raw, err := arguments(req)
	if err != nil {
		return zero, err
	}
	if e := in.unknown(obj); e != nil {
		return zero, e
	}
	if err := in.schema.Validate(obj); err != nil {
		return zero, schemaError(err)
	}
	if raw == nil {
		if raw, err = json.Marshal(obj); err != nil {
			return zero, vendors.Invalid("", "arguments", err.Error())
		}
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return zero, vendors.Invalid("", "arguments", err.Error())
	}
	if val, ok := any(&v).(Validator); ok {
		if err := val.Validate(); err != nil {
			return zero, err
		}
	}
	return v, nil
}

// arguments is the call's arguments as an object, and their JSON when the
// transport left them raw.
func arguments(req mcp.CallToolRequest) (map[string]any, []byte, error) {
	switch a := req.GetRawArguments().(type) {
	case nil:
		return map[string]any{}, []byte("{}"), nil
	case map[string]any:
		return a, nil, nil
	case json.RawMessage:
		if t := bytes.TrimSpace(a); len(t) == 0 || string(t) == "null" {
			return map[string]any{}, []byte("{}"), nil
		}
		doc, err := validator.UnmarshalJSON(bytes.NewReader(a))
		obj, ok := doc.(map[string]any)
		if err != nil || !ok {
			return nil, nil, vendors.Invalid("", "arguments", "must be a JSON object")
		}
		return obj, a, nil
	default:
		b, err := json.Marshal(a)
		if err != nil {
			return nil, nil, vendors.Invalid("", "arguments", err.Error())
		}
		return arguments(mcp.CallToolRequest{Params: mcp.CallToolParams{Arguments: json.RawMessage(b)}})
	}
}

// unknown names arguments the tool does not take, with the ones it does.
func (in input[T]) unknown(obj map[string]any) *vendors.Error {
	var bad []string
	for k := range obj {
		if !in.props[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	allowed := make([]string, 0, len(in.props))
	for k := range in.props {
		allowed = append(allowed, k)
	}
	e := &vendors.Error{Kind: vendors.KindInvalid, Fields: map[string]string{}}
	for _, k := range bad {
		e.Fields[k] = "unknown argument; this tool takes " + orNone(sorted(allowed))
	}
	return e
}

// Result is a successful tool result: structured content plus the same
// JSON as text, for clients that read only text.
func Result(v any) *mcp.CallToolResult {
	b, err := json.Marshal(v)
	if err != nil {
		return ErrorResult(fmt.Errorf("encoding the result failed: %w", err))
	}
	return &mcp.CallToolResult{
		Content:           []mcp.Content{mcp.NewTextContent(string(b))},
		StructuredContent: json.RawMessage(b),
	}
}

// ErrorBody is the structured content of a failed call.
type ErrorBody struct {
	Error             string            `json:"error"`
	Kind              vendors.Kind      `json:"kind"`
	Vendor            string            `json:"vendor,omitempty"`
	Status            int               `json:"status,omitempty"`
	Fields            map[string]string `json:"fields,omitempty"`
	RetryAfterSeconds int               `json:"retry_after_seconds,omitempty"`
}

// ErrorResult is a failed call as a tool result (isError), never a protocol
// error: a sentence the agent can act on plus the same facts structured.
func ErrorResult(err error) *mcp.CallToolResult {
	body := errorBody(err)
	b, _ := json.Marshal(body)
	return &mcp.CallToolResult{
		IsError:           true,
		Content:           []mcp.Content{mcp.NewTextContent(body.Error)},
		StructuredContent: json.RawMessage(b),
	}
}

// failed is ErrorResult that also records the failure's kind for the
// call's log line and metrics, where it happens.
func failed(ctx context.Context, err error) *mcp.CallToolResult {
	res := ErrorResult(err)
	if r := recordFrom(ctx); r != nil {
		r.kind = string(errorBody(err).Kind)
	}
	return res
}

// errorBody is what a failed call says, as facts.
func errorBody(err error) ErrorBody {
	body := ErrorBody{Error: err.Error(), Kind: vendors.KindUnavailable}
	if e, ok := vendors.AsError(err); ok {
		body.Kind, body.Vendor, body.Status = e.Kind, e.Vendor, e.Status
		for k, v := range e.Fields {
			if body.Fields == nil {
				body.Fields = map[string]string{}
			}
			body.Fields[k] = v
		}
		body.RetryAfterSeconds = e.RetrySeconds()
	} else if errors.Is(err, context.DeadlineExceeded) {
		body.Kind = vendors.KindTimeout
		body.Error = "the call ran out of time before it finished. Retry later or ask for less (a smaller limit)."
	}
	return body
}

// ReadOnly reports the tool's readOnlyHint.
func (t Tool) ReadOnly() bool {
	return t.Def.Annotations.ReadOnlyHint != nil && *t.Def.Annotations.ReadOnlyHint
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "no arguments"
	}
	return strings.Join(s, ", ")
}

// orDefault returns v, or def when v is zero.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
