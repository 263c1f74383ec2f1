package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
)

// The resources the sandbox serves: a template for every record a vendor
// can fetch by id, a plain resource for each small reference list.
var (
	wantTemplates = []string{"nexvio://contacts/{id}", "nexvio://contacts/{id}/conversations", "qyvo://contacts/{id}",
		"qyvo://flows/{id}", "qyvo://sequences/{id}", "vivre://contacts/{id}", "vixiees://recordings/{id}"}
	wantResources = []string{"events://qyvo", "events://vivre", "events://vixiees", "qyvo://flows", "qyvo://sequences", "qyvo://templates",
		"ralivi://organization", "vixiees://templates"}
)

func templateURIs(t *testing.T, c *client.Client) []string {
	t.Helper()
	res, err := c.ListResourceTemplates(context.Background(), mcp.ListResourceTemplatesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tm := range res.ResourceTemplates {
		if tm.MIMEType != "application/json" || tm.Description == "" || tm.Title == "" {
			t.Errorf("template %s: mimeType %q, title %q, description %q", tm.URITemplate.Raw(), tm.MIMEType, tm.Title, tm.Description)
		}
		out = append(out, tm.URITemplate.Raw())
	}
	slices.Sort(out)
	return out
}

func resourceURIs(t *testing.T, c *client.Client) []string {
	t.Helper()
	res, err := c.ListResources(context.Background(), mcp.ListResourcesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range res.Resources {
		if r.MIMEType != "application/json" || r.Description == "" {
			t.Errorf("resource %s: mimeType %q, description %q", r.URI, r.MIMEType, r.Description)
		}
		out = append(out, r.URI)
	}
	slices.Sort(out)
	return out
}

// readJSON reads uri, which must be one JSON document.
func readJSON(t *testing.T, c *client.Client, uri string) map[string]any {
	t.Helper()
	res, err := readResource(c, uri)
	if err != nil {
		t.Fatalf("read %s: %v", uri, err)
	}
	if len(res.Contents) != 1 {
		t.Fatalf("read %s: %d contents", uri, len(res.Contents))
	}
	tc, ok := res.Contents[0].(mcp.TextResourceContents)
	if !ok || tc.MIMEType != "application/json" || tc.URI != uri {
		t.Fatalf("read %s: %#v", uri, res.Contents[0])
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(tc.Text), &v); err != nil {
		t.Fatalf("read %s: not JSON: %v\n%s", uri, err, tc.Text)
	}
	return v
}

func readResource(c *client.Client, uri string) (*mcp.ReadResourceResult, error) {
	req := mcp.ReadResourceRequest{}
	req.Params.URI = uri
	return c.ReadResource(context.Background(), req)
}

// complete asks for completions of a resource template's or a prompt's argument.
func complete(t *testing.T, c *client.Client, ref any, arg, value string) mcp.Completion {
	t.Helper()
	req := mcp.CompleteRequest{}
	req.Params.Ref, req.Params.Argument = ref, mcp.CompleteArgument{Name: arg, Value: value}
	res, err := c.Complete(context.Background(), req)
	if err != nil {
		t.Fatalf("complete %v %s=%q: %v", ref, arg, value, err)
	}
	if len(res.Completion.Values) > 10 {
		t.Errorf("complete %v %s=%q: %d values, want at most 10", ref, arg, value, len(res.Completion.Values))
	}
	return res.Completion
}

func templateRef(uri string) mcp.ResourceReference {
	return mcp.ResourceReference{Type: "ref/resource", URI: uri}
}

func promptRef(name string) mcp.PromptReference {
	return mcp.PromptReference{Type: "ref/prompt", Name: name}
}

// Every template and plain resource is listed and reads as JSON; every
// template's {id} completes, and each completed id reads.
func TestResourcesListAndRead(t *testing.T) {
	c := sandboxClient(t, nil)
	if got := templateURIs(t, c); !slices.Equal(got, wantTemplates) {
		t.Fatalf("resources/templates/list:\n got %v\nwant %v", got, wantTemplates)
	}
	if got := resourceURIs(t, c); !slices.Equal(got, wantResources) {
		t.Fatalf("resources/list:\n got %v\nwant %v", got, wantResources)
	}
	keys := map[string]string{"qyvo://templates": "templates", "vixiees://templates": "templates", "qyvo://sequences": "sequences",
		"qyvo://flows": "flows", "ralivi://organization": "name", "events://qyvo": "events", "events://vivre": "events", "events://vixiees": "events"}
	for _, uri := range wantResources {
		if v := readJSON(t, c, uri); v[keys[uri]] == nil {
			t.Errorf("%s lacks %q: %v", uri, keys[uri], v)
		}
	}
	for _, tmpl := range wantTemplates {
		done := complete(t, c, templateRef(tmpl), "id", "")
		if len(done.Values) == 0 {
			t.Fatalf("%s: no id completes", tmpl)
		}
		uri := strings.Replace(tmpl, "{id}", done.Values[0], 1)
		v := readJSON(t, c, uri)
		if strings.HasSuffix(tmpl, "/conversations") {
			if _, ok := v["conversations"].([]any); !ok {
				t.Errorf("%s: %v", uri, v)
			}
		} else if v["id"] != done.Values[0] {
			t.Errorf("%s read id %v", uri, v["id"])
		}
	}
}

// A read of a record that does not exist is a resource error saying what
// the tool error says, advice included.
func TestResourceNotFoundCarriesTheToolsAdvice(t *testing.T) {
	c := sandboxClient(t, nil)
	tool := callTool(t, c, "vivre_get_contact", map[string]any{"id": "cnt_1"})
	if !tool.IsError {
		t.Fatalf("cnt_1 exists: %s", resultText(tool))
	}
	_, err := readResource(c, "vivre://contacts/cnt_1")
	if err == nil || !strings.Contains(err.Error(), resultText(tool)) || !strings.Contains(err.Error(), "Check the id") {
		t.Fatalf("read of a missing contact: %v\nthe tool says: %s", err, resultText(tool))
	}
	if _, err := readResource(c, "vivre://deals/dl_4420"); err == nil || !strings.Contains(err.Error(), "resource not found") {
		t.Fatalf("a URI no template matches: %v", err)
	}
}

// Tools returning one record link to it, and the link reads as the same JSON.
func TestToolsLinkTheirRecord(t *testing.T) {
	c := sandboxClient(t, nil)
	for tool, args := range map[string]map[string]any{
		"vivre_get_contact":       {"id": "cnt_8821"},
		"nexvio_get_contact":      {"id": "contact_123abc"},
		"vixiees_get_recording":   {"id": "vx_rec_801"},
		"ralivi_get_organization": {},
	} {
		res := callTool(t, c, tool, args)
		if res.IsError || len(res.Content) != 2 {
			t.Fatalf("%s: %+v", tool, res)
		}
		link, ok := res.Content[1].(mcp.ResourceLink)
		if !ok || link.Type != "resource_link" || link.MIMEType != "application/json" {
			t.Fatalf("%s: second content %#v", tool, res.Content[1])
		}
		var fromTool, fromLink any
		_ = json.Unmarshal([]byte(resultText(res)), &fromTool)
		b, _ := json.Marshal(readJSON(t, c, link.URI))
		_ = json.Unmarshal(b, &fromLink)
		if tb, _ := json.Marshal(fromTool); string(tb) != string(b) {
			t.Errorf("%s: %s reads\n%s\nthe tool returned\n%s", tool, link.URI, b, tb)
		}
	}
	res := callTool(t, c, "qyvo_create_contact", map[string]any{"phone": "+14155550999", "name": "Link Test"})
	if res.IsError || len(res.Content) != 2 || !strings.HasPrefix(res.Content[1].(mcp.ResourceLink).URI, "qyvo://contacts/") {
		t.Fatalf("qyvo_create_contact: %+v", res)
	}
	if v := readJSON(t, c, res.Content[1].(mcp.ResourceLink).URI); v["name"] != "Link Test" {
		t.Fatalf("the created contact reads %v", v)
	}
}

// --toolsets hides the other vendors' resources; --read-only keeps them all.
func TestResourcesFollowTheToolsetsFlag(t *testing.T) {
	c := sandboxClient(t, []string{"--toolsets", "qyvo,crm"})
	for _, uri := range append(templateURIs(t, c), resourceURIs(t, c)...) {
		if !strings.HasPrefix(uri, "qyvo://") && uri != "events://qyvo" {
			t.Errorf("--toolsets qyvo,crm lists %s", uri)
		}
	}
	if _, err := readResource(c, "vivre://contacts/cnt_8821"); err == nil {
		t.Error("--toolsets qyvo,crm reads a Vivre contact")
	}
	ro := sandboxClient(t, []string{"--read-only"})
	if got := templateURIs(t, ro); !slices.Equal(got, wantTemplates) {
		t.Errorf("--read-only lists templates %v", got)
	}
}

// X-MCP-Toolsets narrows a request's resources and completions as it
// narrows its tools; a token without crm:read lists none and reads none.
func TestResourcesFollowPerRequestNarrowingAndScopes(t *testing.T) {
	base := startHTTP(t, "MCP_AUTH_TOKENS", "reader-token-0123456789:crm:read,writer-token-0123456789:crm:write")
	vivreOnly := mcpClient(t, base, map[string]string{"Authorization": "Bearer reader-token-0123456789", "X-MCP-Toolsets": "vivre,crm"})
	if got := templateURIs(t, vivreOnly); !slices.Equal(got, []string{"vivre://contacts/{id}"}) {
		t.Errorf("X-MCP-Toolsets vivre,crm lists templates %v", got)
	}
	if got := resourceURIs(t, vivreOnly); !slices.Equal(got, []string{"events://vivre"}) {
		t.Errorf("X-MCP-Toolsets vivre,crm lists resources %v", got)
	}
	if _, err := readResource(vivreOnly, "qyvo://templates"); err == nil {
		t.Error("X-MCP-Toolsets vivre,crm reads qyvo://templates")
	}
	if got := complete(t, vivreOnly, promptRef("whatsapp_follow_up"), "template", ""); len(got.Values) != 0 {
		t.Errorf("X-MCP-Toolsets vivre,crm completes Qyvo and Vixiees templates: %v", got.Values)
	}
	readVivre := readJSON(t, vivreOnly, "vivre://contacts/cnt_8821")
	if readVivre["id"] != "cnt_8821" {
		t.Errorf("read %v", readVivre)
	}

	writer := mcpClient(t, base, map[string]string{"Authorization": "Bearer writer-token-0123456789"})
	if n := len(templateURIs(t, writer)) + len(resourceURIs(t, writer)); n != 0 {
		t.Errorf("a token without crm:read lists %d resources", n)
	}
	body := `{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"vivre://contacts/cnt_8821"}}`
	resp, _ := postMCP(t, base+"/mcp", body, http.Header{"Authorization": {"Bearer writer-token-0123456789"}})
	if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="crm:read"`) {
		t.Errorf("resources/read without crm:read: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// Completions: a contact by name (a template's {id} takes its id, a
// prompt's contact its name), a template by name, and the other prompt
// arguments that name a record.
func TestCompletions(t *testing.T) {
	c := sandboxClient(t, nil)
	ids := complete(t, c, templateRef("vivre://contacts/{id}"), "id", "Priya").Values
	if len(ids) == 0 {
		t.Fatal("no Vivre contact completes Priya")
	}
	if v := readJSON(t, c, "vivre://contacts/"+ids[0]); !strings.HasPrefix(v["name"].(string), "Priya") {
		t.Fatalf("Priya completed to %s: %v", ids[0], v["name"])
	}
	if got := complete(t, c, templateRef("vivre://contacts/{id}"), "id", "cnt_882").Values; !slices.Contains(got, "cnt_8821") {
		t.Errorf("the id prefix cnt_882 completes %v", got)
	}
	for _, tc := range []struct {
		prompt, arg, value, want string
	}{
		{"enroll_in_sequence", "contact", "Priya", "Priya Kapoor"},
		{"log_call", "contact", "priya", "Priya Kapoor"},
		{"whatsapp_follow_up", "template", "order", "order_confirmation"},
		{"whatsapp_follow_up", "template", "proposal", "proposal_sent"},
		{"whatsapp_follow_up", "language", "pt", "pt_BR"},
		{"whatsapp_follow_up", "vendor", "q", "qyvo"},
		{"enroll_in_sequence", "sequence", "onb", "Onboarding drip"},
		{"pipeline_review", "stage", "nego", "negotiation"},
		{"pipeline_review", "stage", "closed", "closed-won"},
	} {
		got := complete(t, c, promptRef(tc.prompt), tc.arg, tc.value)
		if !slices.Contains(got.Values, tc.want) {
			t.Errorf("%s %s=%q completes %v, want %s among them", tc.prompt, tc.arg, tc.value, got.Values, tc.want)
		}
	}
	for _, tc := range []struct{ tmpl, value string }{
		{"qyvo://sequences/{id}", "Onboarding"}, {"qyvo://flows/{id}", ""}, {"qyvo://contacts/{id}", "Priya"},
		{"nexvio://contacts/{id}", "contact_123"}, {"vixiees://recordings/{id}", "vx_rec_80"},
	} {
		if got := complete(t, c, templateRef(tc.tmpl), "id", tc.value); len(got.Values) == 0 {
			t.Errorf("%s id=%q completes nothing", tc.tmpl, tc.value)
		}
	}
	req := mcp.CompleteRequest{}
	req.Params.Ref, req.Params.Argument = promptRef("whatsapp_follow_up"), mcp.CompleteArgument{Name: "template", Value: ""}
	req.Params.Context.Arguments = map[string]string{"vendor": "vixiees"}
	if res, err := c.Complete(context.Background(), req); err != nil || !slices.Contains(res.Completion.Values, "proposal_sent") ||
		slices.Contains(res.Completion.Values, "order_confirmation") {
		t.Errorf("templates once vendor is vixiees: %v %+v", err, res)
	}
	if got := complete(t, c, promptRef("log_call"), "notes", "x"); len(got.Values) != 0 {
		t.Errorf("free text completes %v", got.Values)
	}
}

// With callers' own vendor keys, a caller sees and reads a vendor's
// resources only when it sends that vendor's keys, and reads on them.
func TestResourcesOnCallersOwnKeys(t *testing.T) {
	vendor := vivretest.NewServer(vivretest.Options{})
	defer vendor.Close()
	_, base := startApp(t, slog.New(slog.DiscardHandler), "CRM_MCP_CLIENT_CREDENTIALS", "true", "VIVRE_BASE_URL", vendor.URL)
	without := mcpClient(t, base, nil)
	if got := templateURIs(t, without); slices.Contains(got, "vivre://contacts/{id}") {
		t.Fatalf("a caller without Vivre keys lists %v", got)
	}
	if _, err := readResource(without, "vivre://contacts/cnt_8821"); err == nil {
		t.Fatal("a caller without Vivre keys reads a Vivre contact")
	}
	with := mcpClient(t, base, map[string]string{"X-Vivre-Api-Key": vivretest.APIKey, "X-Vivre-Workspace-Id": vivretest.WorkspaceID})
	if got := templateURIs(t, with); !slices.Equal(got, []string{"vivre://contacts/{id}"}) {
		t.Fatalf("a caller with Vivre keys lists %v", got)
	}
	if v := readJSON(t, with, "vivre://contacts/cnt_8821"); v["id"] != "cnt_8821" {
		t.Fatalf("read %v", v)
	}
	if got := complete(t, with, templateRef("vivre://contacts/{id}"), "id", "Priya"); len(got.Values) == 0 {
		t.Fatal("no completion on the caller's keys")
	}
}
