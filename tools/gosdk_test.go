package tools

// The official Go SDK's client against these tools, over newline-delimited
// JSON on pipes (the stdio framing): it lists every tool with its output
// schema, receives successes whose structured content matches it, and
// receives failures (no structured content, facts in _meta) as results,
// not errors. The last test pins what the package doc says of it: its
// client checks no structured content against an output schema, failure or
// success, so it is our own tests that hold successes to their schemas.

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/crm-mcp/crm-mcp/vendors"
)

// goSDKSession connects the Go SDK client to a server carrying ts.
func goSDKSession(t *testing.T, ts []Tool) *sdk.ClientSession {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	toServer, fromClient := io.Pipe()
	toClient, fromServer := io.Pipe()
	s := server.NewStdioServer(NewServer(ServerOptions{Name: "crm-mcp", Version: "test", Tools: ts}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Listen(ctx, toServer, fromServer)
	}()
	c := sdk.NewClient(&sdk.Implementation{Name: "go-sdk-test", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &sdk.IOTransport{Reader: toClient, Writer: fromClient}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.Close()
		cancel()
		_ = fromServer.Close()
		_ = toServer.Close()
		<-done
	})
	return cs
}

func TestGoSDKClientTakesSuccessesAndFailures(t *testing.T) {
	var all []Tool
	for _, v := range Vendors() {
		set, _ := v.Sandbox(vendors.Options{})
		all = append(all, set.Tools...)
	}
	cs := goSDKSession(t, all)
	ctx := context.Background()
	listed, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed.Tools) != len(all) {
		t.Fatalf("the Go SDK lists %d tools of %d", len(listed.Tools), len(all))
	}
	for _, tl := range listed.Tools {
		if s, _ := tl.OutputSchema.(map[string]any); s["type"] != "object" {
			t.Errorf("%s: the Go SDK sees output schema %v", tl.Name, tl.OutputSchema)
		}
	}
	schemas := outputSchemas(t)
	// asMCPGo is a Go SDK result as mcp-go's type, for conforms.
	asMCPGo := func(res *sdk.CallToolResult) *mcp.CallToolResult {
		t.Helper()
		raw, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		out, err := mcp.ParseCallToolResult((*json.RawMessage)(&raw))
		if err != nil {
			t.Fatalf("%v: %s", err, raw)
		}
		return out
	}

	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "vivre_get_contact", Arguments: map[string]any{"id": "cnt_8800"}})
	if err != nil {
		t.Fatalf("success: %v", err)
	}
	if got := conforms(t, schemas, "vivre_get_contact", asMCPGo(res)); res.IsError || got["id"] != "cnt_8800" {
		t.Fatalf("success: %+v", res)
	}

	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "vivre_get_contact", Arguments: map[string]any{"id": "cnt_1"}})
	if err != nil {
		t.Fatalf("a failure must come back as a result, not an error: %v", err)
	}
	conforms(t, schemas, "vivre_get_contact", asMCPGo(res))
	facts, _ := res.Meta[ErrorMeta].(map[string]any)
	tc, _ := res.Content[0].(*sdk.TextContent)
	if !res.IsError || res.StructuredContent != nil || facts["kind"] != string(vendors.KindNotFound) || tc == nil || tc.Text != facts["error"] {
		t.Fatalf("failure: %+v, facts %v", res, facts)
	}
}

// The Go SDK client (v1.8.0, mcp/client.go ClientSession.CallTool) does not
// validate structured content against the output schema, for a failure or
// a success: both mismatches below come back as results.
func TestGoSDKClientDoesNotValidateStructuredContent(t *testing.T) {
	probe := Tool{Toolset: "probe", Scope: ScopeRead, Def: mcp.Tool{
		Name:            "probe_mismatch",
		RawInputSchema:  json.RawMessage(`{"type":"object","properties":{"fail":{"type":"boolean"}}}`),
		RawOutputSchema: json.RawMessage(`{"type":"object","properties":{"id":{"type":"string"}},"required":["id"]}`),
	}, Handler: func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{
			IsError:           req.GetBool("fail", false),
			Content:           []mcp.Content{mcp.NewTextContent("no id here")},
			StructuredContent: map[string]any{"error": "no id here"},
		}, nil
	}}
	cs := goSDKSession(t, []Tool{probe})
	ctx := context.Background()
	if _, err := cs.ListTools(ctx, nil); err != nil { // as a client does before calling
		t.Fatal(err)
	}
	for _, fail := range []bool{true, false} {
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "probe_mismatch", Arguments: map[string]any{"fail": fail}})
		if err != nil {
			t.Fatalf("isError %v: the Go SDK client now checks structured content (%v): update the package doc", fail, err)
		}
		if res.IsError != fail || !strings.Contains(string(mustJSON(res.StructuredContent)), "no id here") {
			t.Fatalf("isError %v: %+v", fail, res)
		}
	}
}
