// Package tools is the MCP layer: one file per vendor declaring its tools,
// the typed-handler adapter that turns a Go input struct into the input
// schema, the Go result type into the output schema and a vendor failure
// into a tool error, and the registry (toolsets, read-only filter).
// Nothing here builds HTTP requests: handlers call the vendor clients in
// vendors/.
//
// # Results and output schemas
//
// Every tool declares an outputSchema reflected from its result type
// (newOutput), and every success carries structured content that matches
// it, plus the same JSON as text. A failure (isError) carries its
// sentence as text and its facts (ErrorBody: kind, fields,
// retry_after_seconds...) in _meta under ErrorMeta, and no structured
// content, because official clients check a failure's structured content
// against the success schema:
//
//   - The TypeScript SDK client (@modelcontextprotocol/sdk 1.32.2,
//     dist/esm/client/index.js, Client.callTool, lines 479-509) only
//     exempts a failure from having structured content (line 489:
//     `!result.structuredContent && !result.isError`); any structured
//     content present is validated against the output schema whatever
//     isError says (line 493: `if (result.structuredContent)`), and a
//     mismatch throws McpError InvalidParams ("Structured content does not
//     match the tool's output schema"), so the caller never sees the
//     failure (typescript-sdk issue #1943; the fix, PR #1945, is not in
//     1.32.2). Its own McpServer never sends structured content with a
//     failure (dist/esm/server/mcp.js, validateToolOutput, line 247).
//   - The Go SDK client (github.com/modelcontextprotocol/go-sdk v1.8.0,
//     mcp/client.go, ClientSession.CallTool, lines 1284-1299) validates no
//     structured content: the cached tool definition (lookupTool, line
//     599) serves only the x-mcp-header request headers
//     (mcp/streamable_headers.go line 213), and ListTools filters tools
//     only on those annotations (filterValidTools, line 261). Its own
//     server, too, answers a failed typed handler with text only
//     (mcp/server.go lines 414 and 432, CallToolResult.SetError in
//     mcp/protocol.go line 337).
//
// So a failure without structured content passes both, as it does every
// client that follows them; _meta is not validated by either.
package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

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
	t, in := build[In, Out](toolset, name, title, description, h, false)
	t.Handler = func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args, err := in.bind(req)
		if err != nil {
			return failed(ctx, err), nil
		}
		return invoke(ctx, fn, args), nil
	}
	return t
}

// build is a tool's definition (annotations, generated input and output
// schemas) and the binder of its arguments; the caller sets the handler.
// extra are fields the tool layer may add to Out's in a result (the
// duplicate-send guard's). A confirmed tool's result may instead be the
// person's refusal (declinedOut), so its output schema also has
// confirmFields and requires none of Out's.
func build[In, Out any](toolset, name, title, description string, h Hints, confirmed bool, extra ...outputField) (Tool, input[In]) {
	if confirmed {
		extra = append(append([]outputField{}, extra...), confirmFields...)
	}
	in := newInput[In](name)
	scope := ScopeWrite
	if h.ReadOnly {
		scope = ScopeRead
	}
	return Tool{
		Toolset: toolset,
		Scope:   scope,
		Def: mcp.Tool{
			Name:            name,
			Description:     description,
			RawInputSchema:  in.raw,
			RawOutputSchema: newOutput[Out](name, confirmed, extra...),
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

// outputField is a property the tool layer may add to every result of a
// tool, beside its Out's: optional, with a JSON Schema type.
type outputField struct{ name, typ string }

// sendFields are what the duplicate-send guard may add to a send's result
// (markDuplicate, withGuardWarning).
var sendFields = []outputField{{"duplicate", "boolean"}, {"guard_warning", "string"}}

// confirmFields are a confirmed tool's result when the person declined
// (declinedOut): {"declined": true, "note": "..."}.
var confirmFields = []outputField{{"declined", "boolean"}, {"note", "string"}}

// newOutput is the output schema of a tool whose result is Out, with extra
// optional properties; with optional, none of Out's properties is required
// either (a result may be something else: a declined confirmation). It is
// reflected like the inputs (flat: no $ref or
// $defs) and keeps only what encoding/json guarantees for every value of
// Out, so that no answer a vendor gives can make a success fail a client's
// validation: types, properties, required (the fields without omitempty
// or omitzero), null where a nil pointer, slice or map is encoded as null,
// and date-time for time.Time. Descriptions, enums, patterns and bounds
// are left out: they would describe the vendor's data, which this server
// does not vouch for, and they cost bytes in every tools/list.
func newOutput[Out any](name string, optional bool, extra ...outputField) json.RawMessage {
	r := jsonschema.Reflector{DoNotReference: true, ExpandedStruct: true, AllowAdditionalProperties: true}
	t := reflect.TypeFor[Out]()
	s := outputShape(r.ReflectFromType(t), t)
	if s.Type != "object" {
		panic(fmt.Sprintf("tool %s: the result must encode as a JSON object (structured content), not %q", name, s.Type))
	}
	if optional {
		s.Required = nil
	}
	if s.Properties == nil {
		s.Properties = jsonschema.NewProperties()
	}
	for _, f := range extra {
		if _, taken := s.Properties.Get(f.name); taken {
			panic(fmt.Sprintf("tool %s: the result already has a field %q", name, f.name))
		}
		s.Properties.Set(f.name, &jsonschema.Schema{Type: f.typ})
	}
	raw, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("tool %s: output schema: %v", name, err))
	}
	return raw
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
)

// outputShape is what an output schema keeps of s, the reflected schema of
// t: type, format (time.Time's date-time only), properties, required,
// items and additionalProperties, with null added to the type of each
// field encoding/json may write as null. A type that encodes itself
// (json.Marshaler, but time.Time) may be anything.
func outputShape(s *jsonschema.Schema, t reflect.Type) *jsonschema.Schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s == nil || t.Kind() == reflect.Interface || t != timeType && (t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType)) {
		return &jsonschema.Schema{}
	}
	out := &jsonschema.Schema{Type: s.Type, Required: s.Required}
	if t == timeType {
		out.Format = s.Format
	}
	switch t.Kind() {
	case reflect.Struct:
		if s.Properties == nil {
			break
		}
		fields := jsonFields(t)
		out.Properties = jsonschema.NewProperties()
		for p := s.Properties.Oldest(); p != nil; p = p.Next() {
			f, ok := fields[p.Key]
			if !ok {
				out.Properties.Set(p.Key, &jsonschema.Schema{})
				continue
			}
			ps := outputShape(p.Value, f.Type)
			if nullable(f) && ps.Type != "" {
				ps.Extras = map[string]any{"type": []string{ps.Type, "null"}}
				ps.Type = ""
			}
			out.Properties.Set(p.Key, ps)
		}
	case reflect.Slice, reflect.Array:
		if s.Items != nil {
			out.Items = outputShape(s.Items, t.Elem())
		}
	case reflect.Map:
		if s.AdditionalProperties != nil {
			out.AdditionalProperties = outputShape(s.AdditionalProperties, t.Elem())
		}
	}
	return out
}

// nullable reports whether encoding/json may write f as null: a nil
// pointer, slice, map or interface it does not omit.
func nullable(f reflect.StructField) bool {
	switch f.Type.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		for o := range strings.SplitSeq(opts, ",") {
			if o == "omitempty" || o == "omitzero" {
				return false
			}
		}
		return true
	}
	return false
}

// jsonFields are t's fields by their JSON names, embedded structs' fields
// promoted as encoding/json does (the shallower wins).
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	var promoted []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			promoted = append(promoted, f)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	for _, e := range promoted {
		et := e.Type
		if et.Kind() == reflect.Pointer {
			et = et.Elem()
		}
		for name, f := range jsonFields(et) {
			if _, shadowed := out[name]; !shadowed {
				out[name] = f
			}
		}
	}
	return out
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

// ErrorMeta is the _meta key of a failed call's result under which its
// facts (ErrorBody) travel.
const ErrorMeta = "crm-mcp/error"

// ErrorBody is what a failed call says, as facts: in its result's _meta
// under ErrorMeta, never as structured content (see the package doc).
type ErrorBody struct {
	Error             string            `json:"error"`
	Kind              vendors.Kind      `json:"kind"`
	Vendor            string            `json:"vendor,omitempty"`
	Status            int               `json:"status,omitempty"`
	Fields            map[string]string `json:"fields,omitempty"`
	RetryAfterSeconds int               `json:"retry_after_seconds,omitempty"`
	// Duplicate: the duplicate-send guard answered with the failure of an
	// identical call made before, and did not call the vendor again.
	Duplicate bool `json:"duplicate,omitempty"`
	// GuardWarning: the guard could not record this call in its shared store.
	GuardWarning string `json:"guard_warning,omitempty"`
}

// ErrorResult is a failed call as a tool result (isError), never a protocol
// error: a sentence the agent can act on, as text, and the same facts in
// _meta. It carries no structured content: that is for a success, and must
// match the tool's output schema.
func ErrorResult(err error) *mcp.CallToolResult {
	body := errorBody(err)
	return errorResult(body, body.Error)
}

// errorResult is a failed call's result saying text, with body's facts.
func errorResult(body ErrorBody, text string) *mcp.CallToolResult {
	b, _ := json.Marshal(body)
	return &mcp.CallToolResult{
		Result:  mcp.Result{Meta: &mcp.Meta{AdditionalFields: map[string]any{ErrorMeta: json.RawMessage(b)}}},
		IsError: true,
		Content: []mcp.Content{mcp.NewTextContent(text)},
	}
}

// ErrorOf is the facts of a failed call's result, as its _meta carries
// them, and whether it has any.
func ErrorOf(res *mcp.CallToolResult) (ErrorBody, bool) {
	var body ErrorBody
	if res == nil || res.Meta == nil {
		return body, false
	}
	v, ok := res.Meta.AdditionalFields[ErrorMeta]
	if !ok {
		return body, false
	}
	raw, ok := v.(json.RawMessage)
	if !ok { // decoded from the wire: a map
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return body, false
		}
	}
	return body, json.Unmarshal(raw, &body) == nil && body.Error != ""
}

// failed is ErrorResult that also records the failure's kind for the
// call's log line and metrics, where it happens.
func failed(ctx context.Context, err error) *mcp.CallToolResult {
	body := errorBody(err)
	if r := recordFrom(ctx); r != nil {
		r.kind = string(body.Kind)
	}
	return errorResult(body, body.Error)
}

// vendorWords are each vendor's endpoint names as tool names. init fills
// it: an initializer would make Vendors depend on itself through the tools'
// handlers.
var vendorWords map[string]*strings.Replacer

func init() { vendorWords = vocabularies() }

// errorBody is what a failed call says, as facts. A vendor's endpoint names
// become tool names here, once, so a tool result, its stored duplicate and
// a resource read all say them alike.
func errorBody(err error) ErrorBody {
	body := ErrorBody{Error: err.Error(), Kind: vendors.KindUnavailable}
	if e, ok := vendors.AsError(err); ok {
		say := func(s string) string { return s }
		if w := vendorWords[e.Vendor]; w != nil {
			say = w.Replace
		}
		body.Error = say(body.Error)
		body.Kind, body.Vendor, body.Status = e.Kind, e.Vendor, e.Status
		for k, v := range e.Fields {
			if body.Fields == nil {
				body.Fields = map[string]string{}
			}
			body.Fields[say(k)] = say(v)
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

// rewriteMeta applies replace to every string value of a result's _meta
// (a failure's facts) that dirty finds something in, as rewriteResult does
// to its text and structured content.
func rewriteMeta(res *mcp.CallToolResult, dirty func([]byte) bool, replace func(string) string) *mcp.CallToolResult {
	if res.Meta == nil || len(res.Meta.AdditionalFields) == 0 {
		return res
	}
	fields := make(map[string]any, len(res.Meta.AdditionalFields))
	changed := false
	for k, v := range res.Meta.AdditionalFields {
		fields[k] = v
		raw, ok := v.(json.RawMessage)
		if !ok {
			var err error
			if raw, err = json.Marshal(v); err != nil {
				delete(fields, k)
				changed = true
				continue
			}
		}
		if !dirty(raw) {
			continue
		}
		if b, ok := rewriteJSON(raw, replace); ok {
			fields[k] = json.RawMessage(b)
		} else {
			delete(fields, k)
		}
		changed = true
	}
	if !changed {
		return res
	}
	out := *res
	out.Meta = &mcp.Meta{ProgressToken: res.Meta.ProgressToken, AdditionalFields: fields}
	return &out
}

// rewriteJSON is raw with replace applied to every string in it, keys
// included, so the JSON stays valid; false when raw is not JSON.
func rewriteJSON(raw []byte, replace func(string) string) ([]byte, bool) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	b, err := json.Marshal(rewriteValue(replace, v))
	return b, err == nil
}
