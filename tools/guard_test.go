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

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/crm-mcp/crm-mcp/schemas"
)

// toolListBudget is the most tools/list may weigh with every toolset on:
// an agent pays for it in its context window on every turn.
const toolListBudget = 40_000

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

func TestToolListFitsTheBudget(t *testing.T) {
	s := NewServer(ServerOptions{Name: "crm-mcp", Version: "test", Tools: Catalog()})
	c, err := client.NewInProcessClient(s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	_ = c.Start(ctx)
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	t.Logf("tools/list: %d tools, %d bytes (budget %d)", len(res.Tools), len(b), toolListBudget)
	if len(res.Tools) != len(Catalog()) || len(b) > toolListBudget {
		t.Fatalf("tools/list: %d tools in %d bytes; budget %d bytes", len(res.Tools), len(b), toolListBudget)
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
