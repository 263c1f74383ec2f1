package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/dedupe"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/vivre"
	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
)

// newVivreResources serves Vivre's tools, resources and completions on a
// Vivre emulator that knows key, with key in the redactor.
func newVivreResources(t *testing.T, key string, timeout time.Duration) (*client.Client, *vivretest.Server) {
	t.Helper()
	srv := vivretest.NewServer(vivretest.Options{APIKey: key})
	t.Cleanup(srv.Close)
	cl := Static(vivre.New(vivre.Config{APIKey: key, WorkspaceID: vivretest.WorkspaceID, Plan: "pro", BaseURL: srv.URL},
		vendors.Options{Retry: vendors.Retry{Base: 1}}))
	set := vivreVendor.toolset(cl)
	s := NewServer(ServerOptions{Name: "t", Version: "t", Tools: set.Tools, Resources: set.Resources, Lookups: []Lookups{set.Lookups},
		Dedupe: dedupe.NewMemory(), Redactor: vendors.NewRedactor(key), CallTimeout: timeout})
	return inProcess(t, s), srv
}

func inProcess(t *testing.T, s *server.MCPServer) *client.Client {
	t.Helper()
	c, res := connectInProcess(t, s, "", nil)
	if res.Capabilities.Resources == nil || res.Capabilities.Completions == nil {
		t.Fatalf("capabilities %+v: want resources and completions", res.Capabilities)
	}
	return c
}

func read(c *client.Client, uri string) (string, error) {
	req := mcp.ReadResourceRequest{}
	req.Params.URI = uri
	res, err := c.ReadResource(context.Background(), req)
	if err != nil {
		return "", err
	}
	return res.Contents[0].(mcp.TextResourceContents).Text, nil
}

// A read goes through the vendor client as a tool call does: it is
// retried, it keeps to the call deadline, and neither its contents nor its
// errors carry the key, whatever the vendor echoes.
func TestResourceReadsRetryRedactAndTimeOut(t *testing.T) {
	const key = "vv_live_RESOURCE_SECRET_42"
	c, srv := newVivreResources(t, key, 300*time.Millisecond)

	srv.Inject(emulator.Fault{Path: "/contacts/cnt_8821", Status: 503})
	if got, err := read(c, "vivre://contacts/cnt_8821"); err != nil || !strings.Contains(got, `"id":"cnt_8821"`) {
		t.Fatalf("a read after one 503: %v %s", err, got)
	}
	if n := srv.Hits("GET /contacts/{id}"); n != 2 {
		t.Errorf("%d requests for one retried read, want 2", n)
	}

	srv.Inject(emulator.Fault{Path: "/contacts/cnt_8821", Status: 200,
		Body: `{"id":"cnt_8821","name":"echo ` + key + `","email":"a@b.example","stage":"new","tags":[],"ai_score":1,"created_at":"2026-01-01T00:00:00Z"}`})
	got, err := read(c, "vivre://contacts/cnt_8821")
	if err != nil || strings.Contains(got, key) || !strings.Contains(got, "[redacted]") {
		t.Fatalf("a record echoing the key reads %v %s", err, got)
	}

	srv.Inject(emulator.Fault{Path: "/contacts/cnt_8821", Status: 401, Body: `{"error":"unauthorized","message":"key ` + key + ` was revoked"}`})
	_, err = read(c, "vivre://contacts/cnt_8821")
	if err == nil || strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "[redacted]") || !strings.Contains(err.Error(), "refused the credentials") {
		t.Fatalf("an error echoing the key: %v", err)
	}

	srv.Inject(emulator.Fault{Path: "/contacts/cnt_8821", Delay: 2 * time.Second})
	start := time.Now()
	_, err = read(c, "vivre://contacts/cnt_8821")
	if err == nil || !strings.Contains(err.Error(), "ran out of time") || time.Since(start) > time.Second {
		t.Fatalf("a read past the call deadline: %v after %v", err, time.Since(start))
	}
}

// A completion answers within its budget: a slow vendor is left out
// (hasMore) rather than waited for, its late answer fills the cache, and a
// longer prefix of a whole answer is served from it.
func TestCompletionIsBoundedThenCached(t *testing.T) {
	c, srv := newVivreResources(t, vivretest.APIKey, 0)
	complete := func(value string) (mcp.Completion, time.Duration) {
		t.Helper()
		req := mcp.CompleteRequest{}
		req.Params.Ref = mcp.ResourceReference{Type: "ref/resource", URI: "vivre://contacts/{id}"}
		req.Params.Argument = mcp.CompleteArgument{Name: "id", Value: value}
		start := time.Now()
		res, err := c.Complete(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return res.Completion, time.Since(start)
	}
	srv.Inject(emulator.Fault{Path: "/contacts", Delay: time.Second}, emulator.Fault{Path: "/contacts", Delay: time.Second})
	got, took := complete("Pri")
	if took > CompletionBudget+200*time.Millisecond || !got.HasMore || len(got.Values) != 0 {
		t.Fatalf("with a slow vendor: %+v after %v, want nothing yet, hasMore, within %v", got, took, CompletionBudget)
	}
	deadline := time.Now().Add(5 * time.Second)
	for (len(got.Values) == 0 || got.HasMore) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		got, _ = complete("Pri")
	}
	if len(got.Values) == 0 || got.HasMore {
		t.Fatalf("the late answer did not fill the cache: %+v", got)
	}
	hits := srv.Hits("GET /contacts")
	for _, v := range []string{"Pri", "Priy", "Priya", "PRIYA"} {
		again, took := complete(v)
		if len(again.Values) == 0 || again.HasMore || took > 100*time.Millisecond ||
			slices.ContainsFunc(again.Values, func(id string) bool { return !slices.Contains(got.Values, id) }) {
			t.Errorf("%q: %+v after %v, want some of %v, from the cache", v, again, took, got.Values)
		}
	}
	if n := srv.Hits("GET /contacts") - hits; n != 0 {
		t.Errorf("%d vendor requests for answers the cache holds", n)
	}
	if got, _ := complete("Priya Kapoor"); len(got.Values) != 1 {
		t.Errorf("Priya Kapoor completes %v", got.Values)
	}
}

// The cache is per credential: another key asks the vendor again.
func TestCompletionCacheIsPerCredential(t *testing.T) {
	type who struct{}
	var finds atomic.Int32
	l := Lookups{Vendor: "v", Identity: func(ctx context.Context) (string, error) {
		if id, _ := ctx.Value(who{}).(string); id != "" {
			return id, nil
		}
		return "", fmt.Errorf("no credentials")
	}, Kinds: map[string]Lookup{"contact": {Searches: true, Find: func(ctx context.Context, q string, _ int) ([]Candidate, error) {
		finds.Add(1)
		id := ctx.Value(who{}).(string)
		return []Candidate{{ID: id + "-1", Name: "Ann " + id}}, nil
	}}}}
	c := newCompleter(ServerOptions{Lookups: []Lookups{l},
		Resources: []Resource{{Vendor: "v", URI: "v://contacts/{id}", Complete: map[string]string{"id": "contact"}}}})
	ask := func(id string) []string {
		ctx := context.WithValue(context.Background(), who{}, id)
		res, err := c.CompleteResourceArgument(ctx, "v://contacts/{id}", mcp.CompleteArgument{Name: "id", Value: "ann"}, mcp.CompleteContext{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Values
	}
	if a := ask("a"); !slices.Equal(a, []string{"a-1"}) {
		t.Fatalf("a: %v", a)
	}
	if b := ask("b"); !slices.Equal(b, []string{"b-1"}) {
		t.Fatalf("b got %v: another credential's answer", b)
	}
	ask("a")
	if n := finds.Load(); n != 4 { // a: "ann" and the newest (for ids); b: the same; a again: cached
		t.Errorf("%d lookups, want 4", n)
	}
	if none := ask(""); len(none) != 0 {
		t.Errorf("a caller without credentials completes %v", none)
	}
}

// Every vendor's resources: URIs in its own scheme, names prefixed by it,
// every template parameter completed by a kind the vendor offers, nothing
// declared twice, and every template a link target of some tool.
func TestResourceCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range Vendors() {
		kinds := v.CompletionKinds()
		for _, r := range v.ResourceCatalog() {
			if r.Vendor != v.Name() || !strings.HasPrefix(r.URI, v.Name()+"://") || !strings.HasPrefix(r.Name, v.Name()+"_") ||
				r.Title == "" || r.Description == "" || r.Read == nil {
				t.Errorf("%s: resource %+v", v.Name(), r)
			}
			if seen[r.URI] || seen[r.Name] {
				t.Errorf("%s declared twice", r.URI)
			}
			seen[r.URI], seen[r.Name] = true, true
			for _, part := range strings.Split(r.URI, "{")[1:] {
				param, _, _ := strings.Cut(part, "}")
				if k := r.Complete[param]; !slices.Contains(kinds, k) {
					t.Errorf("%s: {%s} is completed by %q; %s offers %v", r.URI, param, k, v.Name(), kinds)
				}
			}
		}
	}
	for _, want := range []string{"vivre://contacts/{id}", "qyvo://contacts/{id}", "qyvo://sequences/{id}", "qyvo://flows/{id}",
		"nexvio://contacts/{id}", "nexvio://contacts/{id}/conversations", "vixiees://recordings/{id}",
		"qyvo://templates", "vixiees://templates", "ralivi://organization"} {
		if !seen[want] {
			t.Errorf("no resource %s", want)
		}
	}
}

func TestExpandEscapesTheID(t *testing.T) {
	r := Resource{URI: "x://contacts/{id}"}
	if got := r.Expand("id", "a b/c:d_é"); got != "x://contacts/a%20b%2Fc%3Ad_%C3%A9" {
		t.Fatalf("expand: %s", got)
	}
	if m := mcp.NewResourceTemplate(r.URI, "x").URITemplate.Match(r.Expand("id", "a b/c:d_é")); m.Get("id").String() != "a b/c:d_é" {
		t.Fatalf("the expanded URI matches back as %q", m.Get("id").String())
	}
}
