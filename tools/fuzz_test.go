package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/sethvargo/go-envconfig"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/dedupe"
)

// fuzzVendor answers every vendor request with the status and body the
// fuzzer chose, and counts the requests.
type fuzzVendor struct {
	mu     sync.Mutex
	status int
	body   []byte
	hits   atomic.Int32
}

func (f *fuzzVendor) set(status int, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.body = status, body
}

func (f *fuzzVendor) RoundTrip(r *http.Request) (*http.Response, error) {
	f.hits.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return &http.Response{StatusCode: f.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(f.body)), Request: r}, nil
}

// fuzzTools is every vendor of the registry, and the crm tools, over
// clients that reach fv.
func fuzzTools(fv *fuzzVendor) []Tool {
	o := vendors.Options{HTTP: &http.Client{Transport: fv}, Retry: vendors.Retry{Attempts: 1}}
	var all []Tool
	var sources []ContactSource
	for i, v := range Vendors() {
		env := map[string]string{strings.ToUpper(v.Name()) + "_BASE_URL": "http://vendor.fuzz.invalid"}
		for _, c := range v.Credentials() {
			env[c] = fmt.Sprintf("fuzz-%s-%d", strings.ToLower(c), i)
		}
		set := v.Build(context.Background(), o, envconfig.MapLookuper(env), true, false)
		all, sources = append(all, set.Tools...), append(sources, set.Contacts)
	}
	return append(all, CRM(sources)...)
}

// fuzzHarness serves the tools through the server's JSON-RPC handling.
type fuzzHarness struct {
	fv    *fuzzVendor
	s     *server.MCPServer
	tools []Tool
	valid [][]byte // per tool: arguments that pass validation and reach the vendor (nil if none found)
}

var (
	harnessOnce sync.Once
	harness     *fuzzHarness
)

func getHarness(t testing.TB) *fuzzHarness {
	harnessOnce.Do(func() {
		fv := &fuzzVendor{status: 200, body: []byte(`{}`)}
		ts := fuzzTools(fv)
		h := &fuzzHarness{fv: fv, tools: ts, valid: make([][]byte, len(ts))}
		// Nothing here is slow, so a call that reaches the deadline has hung.
		h.s = NewServer(ServerOptions{Name: "fuzz", Version: "0", Tools: ts, Dedupe: dedupe.NewMemory(), CallTimeout: 5 * time.Second})
		for i, tl := range ts {
			for _, args := range candidateArgs(tl) {
				before := fv.hits.Load()
				h.call(tl.Def.Name, args)
				if fv.hits.Load() > before {
					h.valid[i] = args
					break
				}
			}
		}
		harness = h
	})
	return harness
}

// call sends one tools/call through the server and returns the raw reply.
func (h *fuzzHarness) call(name string, args []byte) mcp.JSONRPCMessage {
	msg := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, name, args)
	return h.s.HandleMessage(context.Background(), json.RawMessage(msg))
}

// check fails on a protocol error for a decodable object argument, and on a panic
// (which the middleware turns into an "internal error" result).
func check(t *testing.T, name string, args []byte, reply mcp.JSONRPCMessage) *mcp.CallToolResult {
	t.Helper()
	switch r := reply.(type) {
	case mcp.JSONRPCResponse:
		res, ok := r.Result.(*mcp.CallToolResult)
		if !ok {
			t.Fatalf("%s: result is %T", name, r.Result)
		}
		if len(res.Content) == 0 {
			t.Fatalf("%s: empty result", name)
		}
		if txt, _ := res.Content[0].(mcp.TextContent); strings.Contains(txt.Text, "internal error in") {
			t.Fatalf("%s(%s) panicked: %s", name, args, txt.Text)
		}
		if kindOf(res) == vendors.KindTimeout {
			t.Fatalf("%s(%s) hung until its deadline", name, args)
		}
		return res
	case mcp.JSONRPCError:
		// mcp-go itself refuses arguments it cannot decode (e.g. 1e309
		// overflows float64) before any handler runs; that is its answer.
		var v any
		if bytes.HasPrefix(bytes.TrimSpace(args), []byte("{")) && json.Unmarshal(args, &v) == nil {
			t.Fatalf("%s(%s): protocol error %+v for an object argument", name, args, r.Error)
		}
		return nil
	default:
		t.Fatalf("%s: reply %T", name, reply)
	}
	return nil
}

// Nothing a caller sends can panic a handler; every bad input is a tool error.
func FuzzToolArguments(f *testing.F) {
	h := getHarness(f)
	for i, tl := range h.tools {
		f.Add(uint16(i), []byte(`{}`))
		if h.valid[i] != nil {
			f.Add(uint16(i), h.valid[i])
		}
		f.Add(uint16(i), []byte(`{"limit":-1,"cursor":"%%%","id":""}`))
		_ = tl
	}
	f.Fuzz(func(t *testing.T, idx uint16, args []byte) {
		if !json.Valid(args) {
			return // not a JSON-RPC message at all: the transport's concern
		}
		tl := h.tools[int(idx)%len(h.tools)]
		check(t, tl.Def.Name, args, h.call(tl.Def.Name, args))
	})
}

// Nothing a vendor answers can panic a handler; every failure is a tool error.
func FuzzVendorResponses(f *testing.F) {
	h := getHarness(f)
	bodies := []string{`{}`, `{"data":[]}`, `{"data":null}`, `[]`, `null`, `{"data":{"contacts":"x"}}`,
		`{"status":"error","error":{"code":"validation_error","details":{"email":"bad"}}}`,
		`{"message":"The phone field is required.","errors":{"phone":["bad"]}}`, `{"error":"x","details":{"variables":"bad"}}`}
	for i := range h.tools {
		for _, b := range bodies {
			f.Add(uint16(i), uint16(200), []byte(b))
		}
		f.Add(uint16(i), uint16(422), []byte(bodies[7]))
		f.Add(uint16(i), uint16(429), []byte(`{"error":"rate_limited"}`))
	}
	f.Fuzz(func(t *testing.T, idx, status uint16, body []byte) {
		i := int(idx) % len(h.tools)
		if h.valid[i] == nil {
			return
		}
		tl := h.tools[i]
		h.fv.set(100+int(status)%500, body)
		defer h.fv.set(200, []byte(`{}`))
		// allow_duplicate keeps the send guard from answering from memory.
		args := h.valid[i]
		if tl.Def.Annotations.IdempotentHint != nil && !*tl.Def.Annotations.IdempotentHint && bytes.Contains(tl.Def.RawInputSchema, []byte(`"allow_duplicate"`)) {
			args = append(bytes.TrimSuffix(bytes.TrimSpace(args), []byte("}")), []byte(`,"allow_duplicate":true}`)...)
			if bytes.Equal(h.valid[i], []byte("{}")) {
				args = []byte(`{"allow_duplicate":true}`)
			}
		}
		res := check(t, tl.Def.Name, args, h.call(tl.Def.Name, args))
		if res != nil && !res.IsError {
			if raw, ok := res.StructuredContent.(json.RawMessage); !ok || !json.Valid(raw) || raw[0] != '{' {
				t.Fatalf("%s: success without a JSON object: %v", tl.Def.Name, res.StructuredContent)
			}
		}
	})
}

// Every tool has arguments that get past validation: the fuzzers exercise
// each vendor's response decoding, not only argument errors.
func TestEveryToolCanReachItsVendor(t *testing.T) {
	h := getHarness(t)
	for i, tl := range h.tools {
		if h.valid[i] == nil {
			t.Errorf("%s: no generated arguments pass validation", tl.Def.Name)
		}
	}
}

// candidateArgs are argument sets built from the tool's own schema: the
// required properties, then with each optional one and each pair of them
// added (for "one of" and "at least one" rules).
func candidateArgs(tl Tool) [][]byte {
	var s struct {
		Properties map[string]map[string]any `json:"properties"`
		Required   []string                  `json:"required"`
	}
	_ = json.Unmarshal(tl.Def.RawInputSchema, &s)
	base := map[string]any{}
	for _, r := range s.Required {
		base[r] = sample(s.Properties[r])
	}
	out := [][]byte{mustJSON(base)}
	var optional []string
	for name := range s.Properties {
		if !slices.Contains(s.Required, name) && name != "cursor" && name != "idempotency_key" && name != "allow_duplicate" {
			optional = append(optional, name)
		}
	}
	slices.Sort(optional)
	with := func(names ...string) []byte {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for _, n := range names {
			m[n] = sample(s.Properties[n])
		}
		return mustJSON(m)
	}
	for i, a := range optional {
		out = append(out, with(a))
		for _, b := range optional[i+1:] {
			out = append(out, with(a, b))
		}
	}
	return out
}

// sample is a valid value for a property schema.
func sample(p map[string]any) any {
	if e, ok := p["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	switch p["type"] {
	case "integer", "number":
		if m, ok := p["minimum"].(float64); ok {
			return m
		}
		return 1
	case "boolean":
		return false
	case "array":
		items, _ := p["items"].(map[string]any)
		return []any{sample(items)}
	case "object":
		props, _ := p["properties"].(map[string]any)
		m := map[string]any{}
		for k, v := range props {
			m[k] = sample(v.(map[string]any))
		}
		return m
	}
	switch pat, _ := p["pattern"].(string); {
	case p["format"] == "date-time":
		return "2026-06-13T14:00:00Z"
	case pat == phonePattern:
		return "+14155550123"
	case pat == formatPatterns["email"]:
		return "kiran@harbourline.example"
	case pat == formatPatterns["uuid"]:
		return "123e4567-e89b-42d3-a456-426614174000"
	}
	return "x"
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// kindOf is the kind in an error result's facts.
func kindOf(res *mcp.CallToolResult) vendors.Kind {
	body, _ := ErrorOf(res)
	return body.Kind
}
