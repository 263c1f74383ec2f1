package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// sandboxApp builds the stdio sandbox app from these args and env vars
// and connects an in-process client speaking version ("": the newest),
// whose resource notifications n collects; the client and the app (its
// event log and poller) are closed when the test ends.
func sandboxApp(t *testing.T, version string, args []string, kv ...string) (c *client.Client, n *eventsNotes) {
	t.Helper()
	cfg, l := testConfig(t, append([]string{"CRM_MCP_TRANSPORT", "stdio", "CRM_MCP_SANDBOX", "true"}, kv...)...)
	if _, err := parseFlags(&cfg, args, nil); err != nil {
		t.Fatal(err)
	}
	a, err := build(context.Background(), cfg, l, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	if c, err = client.NewInProcessClient(a.mcp); err != nil {
		t.Fatal(err)
	}
	n = watchNotes(c)
	t.Cleanup(func() { _ = c.Close() })
	initializeAt(t, c, version)
	return c, n
}

// sandboxClient is sandboxApp's client at the newest revision.
func sandboxClient(t *testing.T, args []string, kv ...string) *client.Client {
	t.Helper()
	c, _ := sandboxApp(t, "", args, kv...)
	return c
}

func TestReadOnlyListsOnlyReadOnlyTools(t *testing.T) {
	c := sandboxClient(t, []string{"--read-only"})
	res, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil || len(res.Tools) < 20 {
		t.Fatalf("%v, %d tools", err, len(res.Tools))
	}
	for _, tl := range res.Tools {
		if tl.Annotations.ReadOnlyHint == nil || !*tl.Annotations.ReadOnlyHint {
			t.Errorf("--read-only lists %s", tl.Name)
		}
	}
}

func TestToolsetsNarrowTheList(t *testing.T) {
	c := sandboxClient(t, []string{"--toolsets", "qyvo,nexvio"})
	names := toolNames(t, c)
	if !slices.Contains(names, "qyvo_send_template_message") || !slices.Contains(names, "nexvio_delete_contact") {
		t.Fatalf("missing tools: %v", names)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "qyvo_") && !strings.HasPrefix(n, "nexvio_") {
			t.Errorf("--toolsets qyvo,nexvio lists %s", n)
		}
	}
}

func TestPromptsRenderOverMCP(t *testing.T) {
	c := sandboxClient(t, nil)
	list, err := c.ListPrompts(context.Background(), mcp.ListPromptsRequest{})
	if err != nil || len(list.Prompts) < 4 {
		t.Fatalf("prompts/list: %v %+v", err, list)
	}
	for _, p := range list.Prompts {
		req := mcp.GetPromptRequest{}
		req.Params.Name = p.Name
		req.Params.Arguments = map[string]string{}
		for _, a := range p.Arguments {
			req.Params.Arguments[a.Name] = "Priya Kapoor"
		}
		res, err := c.GetPrompt(context.Background(), req)
		if err != nil || len(res.Messages) == 0 {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if txt := res.Messages[0].Content.(mcp.TextContent).Text; !strings.Contains(txt, "Priya Kapoor") {
			t.Errorf("%s: arguments not rendered:\n%s", p.Name, txt)
		}
	}
}

func TestSandboxSearchSpansThreeVendors(t *testing.T) {
	out := searchA(t, sandboxClient(t, nil))
	var vendors []string
	for _, ct := range out.Contacts {
		if !slices.Contains(vendors, ct.Vendor) {
			vendors = append(vendors, ct.Vendor)
		}
	}
	if len(vendors) < 3 {
		t.Fatalf("contacts from %v", vendors)
	}
}

// The binary serves exactly the catalogue that go generate documents: both
// come from the one vendor registry (tools.Vendors).
func TestBinaryToolsAreTheCatalogue(t *testing.T) {
	var want []string
	for _, tl := range tools.Catalog() {
		want = append(want, tl.Def.Name)
	}
	got := toolNames(t, sandboxClient(t, nil))
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("the binary's tools differ from the catalogue:\nbinary:    %v\ncatalogue: %v", got, want)
	}
}

// Issue 11, papercut 8: the crm tools search only the vendors the toolset
// filter keeps (before: --toolsets vivre,crm searched all five).
func TestCRMToolsFollowTheToolsetFilter(t *testing.T) {
	out := searchA(t, sandboxClient(t, []string{"--toolsets", "vivre,crm"}))
	if len(out.Vendors) != 1 || out.Vendors[0].Vendor != "vivre" {
		t.Fatalf("searched %+v, want only vivre", out.Vendors)
	}
}

type searchResult struct {
	Contacts []struct{ Vendor string } `json:"contacts"`
	Vendors  []struct{ Vendor string } `json:"vendors"`
}

// searchA is crm_search_contacts for "a" through c.
func searchA(t *testing.T, c *client.Client) searchResult {
	t.Helper()
	res := callTool(t, c, "crm_search_contacts", map[string]any{"query": "a"})
	if res.IsError {
		t.Fatalf("%+v", res)
	}
	var out searchResult
	_ = json.Unmarshal([]byte(resultText(res)), &out)
	return out
}
