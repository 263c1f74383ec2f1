package tools

import (
	"cmp"
	"context"
	"encoding/json"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/dedupe"
)

// mcpClient drives tools through mcp-go's in-process client: the same
// JSON-RPC handling a real client meets, without a transport.
type mcpClient struct {
	t *testing.T
	c *client.Client
}

func newMCPClient(t *testing.T, ts []Tool) *mcpClient {
	t.Helper()
	// Each test gets its own duplicate-send memory, so identical sends in
	// two tests (or in -count=2) never meet.
	s := NewServer(ServerOptions{Name: "crm-mcp-test", Version: "test", Tools: ts, Dedupe: dedupe.NewMemory()})
	c, _ := connectInProcess(t, s, "", nil)
	return &mcpClient{t: t, c: c}
}

// connectInProcess starts mcp-go's in-process client of s and initializes
// it at version ("": the newest); before runs on the client before it
// starts (e.g. to set a notification handler).
func connectInProcess(t *testing.T, s *server.MCPServer, version string, before func(*client.Client)) (*client.Client, *mcp.InitializeResult) {
	t.Helper()
	c, err := client.NewInProcessClient(s)
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(c)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = cmp.Or(version, mcp.LATEST_PROTOCOL_VERSION)
	init.Params.ClientInfo = mcp.Implementation{Name: "test", Version: "1"}
	res, err := c.Initialize(ctx, init)
	if err != nil {
		t.Fatal(err)
	}
	return c, res
}

func (m *mcpClient) call(name string, args map[string]any) *mcp.CallToolResult {
	m.t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	res, err := m.c.CallTool(context.Background(), req)
	if err != nil {
		m.t.Fatalf("%s: protocol error: %v", name, err)
	}
	if len(res.Content) == 0 {
		m.t.Fatalf("%s: result has no content", name)
	}
	return res
}

func text(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	tc, ok := res.Content[0].(mcp.TextContent)
	if !ok {
		t.Fatalf("first content is %T, want text", res.Content[0])
	}
	return tc.Text
}

// ok calls a tool that must succeed and decodes its JSON result into T.
func ok[T any](m *mcpClient, name string, args map[string]any) T {
	m.t.Helper()
	res := m.call(name, args)
	if res.IsError {
		m.t.Fatalf("%s(%v) failed: %s", name, args, text(m.t, res))
	}
	var v T
	if err := json.Unmarshal([]byte(text(m.t, res)), &v); err != nil {
		m.t.Fatalf("%s: result is not the JSON expected: %v\n%s", name, err, text(m.t, res))
	}
	return v
}

// fails calls a tool that must fail and returns its error's facts.
func (m *mcpClient) fails(name string, args map[string]any) ErrorBody {
	m.t.Helper()
	res := m.call(name, args)
	if !res.IsError {
		m.t.Fatalf("%s(%v) succeeded, want a tool error: %s", name, args, text(m.t, res))
	}
	body, ok := ErrorOf(res)
	if !ok || res.StructuredContent != nil {
		m.t.Fatalf("%s: an error result has its facts in _meta and no structured content: %+v", name, res)
	}
	if body.Error != text(m.t, res) {
		m.t.Fatalf("%s: text %q and structured error %q differ", name, text(m.t, res), body.Error)
	}
	return body
}

// field asserts the error names field.
func (b ErrorBody) field(t *testing.T, field string) {
	t.Helper()
	if _, ok := b.Fields[field]; !ok {
		t.Fatalf("error does not name %q: %+v", field, b)
	}
}

// badInput is a call that must fail with an error naming field.
type badInput struct {
	tool  string
	args  map[string]any
	field string
}

// rejectAll makes each call, requires an invalid_argument tool error naming
// its field, and returns how many vendor requests hits counted meanwhile.
func (m *mcpClient) rejectAll(cases []badInput, hits func() int) int {
	m.t.Helper()
	before := hits()
	for _, c := range cases {
		body := m.fails(c.tool, c.args)
		body.field(m.t, c.field)
		if body.Kind != vendors.KindInvalid {
			m.t.Errorf("%s %v: kind %s, want %s", c.tool, c.args, body.Kind, vendors.KindInvalid)
		}
	}
	return hits() - before
}
