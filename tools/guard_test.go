package tools

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/crm-mcp/crm-mcp/schemas"
)

func TestToolNamesAreUniqueAndPortable(t *testing.T) {
	name := regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)
	seen := map[string]bool{}
	for _, tl := range Catalog() {
		n := tl.Def.Name
		if seen[n] {
			t.Errorf("duplicate tool name %s", n)
		}
		seen[n] = true
		if !name.MatchString(n) {
			t.Errorf("%s: name must match %s", n, name)
		}
		if !strings.HasPrefix(n, tl.Toolset+"_") {
			t.Errorf("%s: name must start with its toolset %q", n, tl.Toolset)
		}
	}
}

func TestEveryToolHasExplicitAnnotations(t *testing.T) {
	for _, tl := range Catalog() {
		a := tl.Def.Annotations
		if a.Title == "" || a.ReadOnlyHint == nil || a.DestructiveHint == nil || a.IdempotentHint == nil || a.OpenWorldHint == nil {
			t.Errorf("%s: annotations must all be set explicitly: %+v", tl.Def.Name, a)
		}
		if *a.ReadOnlyHint && *a.DestructiveHint {
			t.Errorf("%s: a read-only tool cannot be destructive", tl.Def.Name)
		}
		if tl.Def.Description == "" || len(tl.Def.Description) > 300 {
			t.Errorf("%s: description must be 1..300 characters, is %d", tl.Def.Name, len(tl.Def.Description))
		}
	}
}

// What common hosts (Gemini, OpenAI, Cursor) reject or mishandle.
var forbiddenKeys = []string{"$ref", "$defs", "definitions", "anyOf", "oneOf", "allOf", "not", "additionalProperties", "patternProperties", "$schema", "$id", "const", "if", "then", "else"}

func TestSchemasArePortable(t *testing.T) {
	for _, tl := range Catalog() {
		var s map[string]any
		if err := json.Unmarshal(tl.Def.RawInputSchema, &s); err != nil {
			t.Fatalf("%s: %v", tl.Def.Name, err)
		}
		if s["type"] != "object" {
			t.Errorf("%s: input schema must be an object", tl.Def.Name)
		}
		if _, ok := s["properties"].(map[string]any); !ok {
			t.Errorf("%s: input schema must have properties (even empty)", tl.Def.Name)
		}
		lint(t, tl.Def.Name, "", s)
	}
}

// Output schemas are for clients, not models: flat, objects at the top,
// required fields that exist, no descriptions (bytes), a type on every
// property (one, or one and null), and nothing beyond what encoding/json
// guarantees of the result type.
func TestOutputSchemasAreFlatAndCompact(t *testing.T) {
	allowed := map[string]bool{"type": true, "format": true, "properties": true, "required": true, "items": true, "additionalProperties": true}
	var walk func(tool, path string, s map[string]any)
	walk = func(tool, path string, s map[string]any) {
		for k := range s {
			if !allowed[k] {
				t.Errorf("%s%s: output schema keyword %q", tool, path, k)
			}
		}
		switch typ := s["type"].(type) {
		case string:
		case []any:
			if len(typ) != 2 || typ[1] != "null" {
				t.Errorf("%s%s: type %v: one type, or one and null", tool, path, typ)
			}
		default:
			if len(s) > 0 {
				t.Errorf("%s%s: no type", tool, path)
			}
		}
		if f, ok := s["format"]; ok && f != "date-time" {
			t.Errorf("%s%s: format %v", tool, path, f)
		}
		props, _ := s["properties"].(map[string]any)
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := props[r.(string)]; !ok {
				t.Errorf("%s%s: required %q is not a property", tool, path, r)
			}
		}
		for name, p := range props {
			if ps, ok := p.(map[string]any); ok {
				walk(tool, path+"."+name, ps)
			}
		}
		for _, k := range []string{"items", "additionalProperties"} {
			if sub, ok := s[k].(map[string]any); ok {
				walk(tool, path+"."+k, sub)
			}
		}
	}
	for _, tl := range Catalog() {
		var s map[string]any
		if err := json.Unmarshal(tl.Def.RawOutputSchema, &s); err != nil {
			t.Fatalf("%s: output schema: %v", tl.Def.Name, err)
		}
		if s["type"] != "object" {
			t.Errorf("%s: output schema must be an object, is %v", tl.Def.Name, s["type"])
		}
		props, _ := s["properties"].(map[string]any)
		// A confirmed tool's result may be the person's refusal,
		// {"declined": true, "note": ...}: its schema requires nothing.
		_, confirmedTool := props["declined"]
		if want := tl.Scope == ScopeSend || tl.Def.Name == "nexvio_delete_contact"; confirmedTool != want {
			t.Errorf("%s: declined in the output schema: %v, want %v (sends and deletes the person confirms)", tl.Def.Name, confirmedTool, want)
		}
		if req, _ := s["required"].([]any); len(req) == 0 && !confirmedTool {
			t.Errorf("%s: output schema requires nothing: is the result type right?", tl.Def.Name)
		} else if len(req) > 0 && confirmedTool {
			t.Errorf("%s: output schema requires %v, which a declined result does not have", tl.Def.Name, req)
		} else if own := len(props) - 2; confirmedTool && (tl.Scope == ScopeSend && own < 3 || own < 1) {
			t.Errorf("%s: output schema has only %v: is the result type right?", tl.Def.Name, props)
		}
		_, dup := props["duplicate"]
		_, warn := props["guard_warning"]
		send := tl.Scope == ScopeSend
		if dup != send || warn != send {
			t.Errorf("%s: duplicate and guard_warning in the output schema (%v, %v): want them exactly on send tools (%v)", tl.Def.Name, dup, warn, send)
		}
		walk(tl.Def.Name, "", s)
	}
}

func lint(t *testing.T, tool, path string, s map[string]any) {
	t.Helper()
	for _, k := range forbiddenKeys {
		if _, ok := s[k]; ok {
			t.Errorf("%s%s: %q is not portable", tool, path, k)
		}
	}
	if _, ok := s["type"].(string); !ok {
		t.Errorf("%s%s: type must be one string, is %v", tool, path, s["type"])
	}
	if f, ok := s["format"]; ok && f != "date-time" {
		t.Errorf("%s%s: format %q is rejected by Gemini; use a pattern", tool, path, f)
	}
	if s["type"] == "array" {
		items, ok := s["items"].(map[string]any)
		if !ok {
			t.Errorf("%s%s: array without items", tool, path)
		} else {
			lint(t, tool, path+"[]", items)
		}
	}
	props, _ := s["properties"].(map[string]any)
	req, _ := s["required"].([]any)
	for _, r := range req {
		if _, ok := props[r.(string)]; !ok {
			t.Errorf("%s%s: required %q is not a property", tool, path, r)
		}
	}
	for name, p := range props {
		ps := p.(map[string]any)
		if d, _ := ps["description"].(string); d == "" {
			t.Errorf("%s%s.%s: every property needs a description", tool, path, name)
		}
		lint(t, tool, path+"."+name, ps)
	}
}

func TestSchemaSnapshotsAreCurrent(t *testing.T) {
	want := map[string]bool{}
	for _, tl := range Catalog() {
		file := tl.Def.Name + ".json"
		want[file] = true
		got, err := Snapshot(tl)
		if err != nil {
			t.Fatal(err)
		}
		old, err := fs.ReadFile(schemas.Files, file)
		if err != nil || string(old) != string(got) {
			t.Errorf("schemas/%s is missing or stale: run go generate ./...", file)
		}
		var snap struct {
			InputSchema, OutputSchema json.RawMessage
		}
		if err := json.Unmarshal(got, &snap); err != nil || len(snap.InputSchema) == 0 || len(snap.OutputSchema) == 0 {
			t.Errorf("schemas/%s must hold the input and the output schema: %v", file, err)
		}
	}
	files, _ := fs.Glob(schemas.Files, "*.json")
	for _, f := range files {
		if !want[f] {
			t.Errorf("schemas/%s belongs to no tool: run go generate ./...", f)
		}
	}
}

func TestReadmeToolTableIsCurrent(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := ReplaceTable(readme, Table(Catalog()))
	if err != nil {
		t.Fatal(err)
	}
	if string(fresh) != string(readme) {
		t.Fatal("README.md's tool table is stale: run go generate ./...")
	}
	for _, tl := range Catalog() {
		if !strings.Contains(string(readme), "`"+tl.Def.Name+"`") {
			t.Errorf("README does not name %s", tl.Def.Name)
		}
	}
}

// With every toolset on, what a model sees of tools/list (names, titles,
// descriptions, input schemas, annotations) stays within ModelBudget, and
// the whole result, output schemas included, within ListBudget: measured
// on what a client receives.
func TestToolListFitsTheBudget(t *testing.T) {
	s := NewServer(ServerOptions{Name: "crm-mcp", Version: "test", Tools: Catalog()})
	ctx := context.Background()
	s.HandleMessage(ctx, json.RawMessage(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+mcp.LATEST_PROTOCOL_VERSION+`","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}`))
	reply, ok := s.HandleMessage(ctx, json.RawMessage(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)).(mcp.JSONRPCResponse)
	if !ok {
		t.Fatal("tools/list failed")
	}
	whole, err := json.Marshal(reply.Result) // the result as it goes on the wire
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Tools []map[string]json.RawMessage `json:"tools"`
	}
	if err := json.Unmarshal(whole, &list); err != nil {
		t.Fatal(err)
	}
	for _, tl := range list.Tools {
		if len(tl["outputSchema"]) == 0 {
			t.Errorf("%s: listed without an output schema", tl["name"])
		}
		delete(tl, "outputSchema")
	}
	seen, _ := json.Marshal(list)
	t.Logf("tools/list: %d tools, %d bytes (budget %d); a model sees %d bytes (budget %d)", len(list.Tools), len(whole), ListBudget, len(seen), ModelBudget)
	if len(list.Tools) != len(Catalog()) {
		t.Fatalf("tools/list has %d tools, the catalog %d", len(list.Tools), len(Catalog()))
	}
	if len(whole) > ListBudget {
		t.Errorf("tools/list is %d bytes; budget %d", len(whole), ListBudget)
	}
	if len(seen) > ModelBudget {
		t.Errorf("what a model sees of tools/list is %d bytes; budget %d", len(seen), ModelBudget)
	}
	// The README states ListBytes and ModelBytes: they are these.
	if all := Catalog(); ListBytes(all) != len(whole) || ModelBytes(all) != len(seen) {
		t.Errorf("ListBytes %d and ModelBytes %d, but tools/list is %d and %d", ListBytes(all), ModelBytes(all), len(whole), len(seen))
	}
}

func TestFilterByToolsetAndReadOnly(t *testing.T) {
	all := Catalog()
	ro := Filter(all, nil, true)
	if len(ro) == 0 || len(ro) == len(all) {
		t.Fatalf("read-only filter kept %d of %d", len(ro), len(all))
	}
	for _, tl := range ro {
		if !tl.ReadOnly() {
			t.Errorf("read-only filter kept %s", tl.Def.Name)
		}
	}
	vivre := Filter(all, []string{"vivre"}, false)
	for _, tl := range vivre {
		if tl.Toolset != "vivre" {
			t.Errorf("toolset filter kept %s", tl.Def.Name)
		}
	}
	if want := slices.IndexFunc(all, func(tl Tool) bool { return tl.Toolset == "vivre" }); want < 0 || len(vivre) == 0 {
		t.Fatal("no vivre tools")
	}
}

// A handler that panics (here: a tool built without a client) comes back
// as a tool error, and the server keeps serving.
func TestPanicBecomesToolError(t *testing.T) {
	m := newMCPClient(t, Catalog())
	body := m.fails("vivre_get_contact", map[string]any{"id": "cnt_8800"})
	if !strings.Contains(body.Error, "internal error") {
		t.Fatalf("panic result: %+v", body)
	}
	m.fails("vivre_get_contact", map[string]any{}) // still serving
}
