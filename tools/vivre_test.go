package tools

import (
	"strings"
	"testing"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/vivre"
	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
)

func newVivre(t *testing.T) (*mcpClient, *vivretest.Server) {
	t.Helper()
	srv := vivretest.NewServer(vivretest.Options{})
	t.Cleanup(srv.Close)
	cl := vivre.New(vivre.Config{APIKey: vivretest.APIKey, WorkspaceID: vivretest.WorkspaceID, Plan: "pro", BaseURL: srv.URL},
		vendors.Options{Retry: vendors.Retry{Base: 1}})
	return newMCPClient(t, Vivre(Static(cl))), srv
}

// The whole flow an agent runs: create, find, log, open a deal, win it, page.
func TestVivreFlow(t *testing.T) {
	m, srv := newVivre(t)
	c := ok[vivre.Contact](m, "vivre_create_contact", map[string]any{
		"name": "Kiran Dutta", "email": "kiran@harbourline.example", "company": "Harbourline Foods",
		"stage": "qualified", "tags": []string{"inbound", "demo-request"}})
	if !strings.HasPrefix(c.ID, "cnt_") || c.Stage != "qualified" || len(c.Tags) != 2 {
		t.Fatalf("created contact = %+v", c)
	}
	found := ok[vivreContactList](m, "vivre_list_contacts", map[string]any{"search": "harbourline"})
	if len(found.Contacts) != 1 || found.Contacts[0].ID != c.ID || found.Total != 1 || found.NextCursor != "" {
		t.Fatalf("search = %+v", found)
	}
	got := ok[vivre.Contact](m, "vivre_get_contact", map[string]any{"id": c.ID})
	if got.Email != "kiran@harbourline.example" {
		t.Fatalf("get = %+v", got)
	}
	a := ok[vivre.Activity](m, "vivre_log_activity", map[string]any{"contact_id": c.ID, "type": "call", "note": "20 minutes"})
	if a.ContactID != c.ID || a.Type != "call" {
		t.Fatalf("activity = %+v", a)
	}
	d := ok[vivre.Deal](m, "vivre_create_deal", map[string]any{"contact_id": c.ID, "title": "Annual plan", "value": 650000})
	if d.Stage != "new" || d.Value != 650000 {
		t.Fatalf("deal = %+v", d)
	}
	won := ok[vivre.Deal](m, "vivre_update_deal", map[string]any{"id": d.ID, "stage": "won"})
	if won.Stage != "won" || won.ClosedAt == nil {
		t.Fatalf("won deal = %+v (closed_at must be set when won)", won)
	}
	if stage, _ := srv.Deal(d.ID); stage != "won" {
		t.Fatalf("emulator holds stage %q", stage)
	}
}

func TestVivrePagingVisitsEveryContactOnce(t *testing.T) {
	m, srv := newVivre(t)
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		args := map[string]any{"limit": 2}
		if cursor != "" {
			args["cursor"] = cursor
		}
		page := ok[vivreContactList](m, "vivre_list_contacts", args)
		pages++
		for _, c := range page.Contacts {
			if seen[c.ID] {
				t.Fatalf("contact %s on two pages", c.ID)
			}
			seen[c.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if n := srv.ContactCount(); len(seen) != n || pages != (n+1)/2 {
		t.Fatalf("saw %d contacts in %d pages, emulator holds %d", len(seen), pages, n)
	}
}

func TestVivreBadInputNamesTheField(t *testing.T) {
	m, srv := newVivre(t)
	cases := []badInput{
		{"vivre_create_contact", map[string]any{"name": "A", "email": "not-an-email"}, "email"},
		{"vivre_create_contact", map[string]any{"email": "a@b.example"}, "name"},
		{"vivre_create_contact", map[string]any{"name": "A", "email": "a@b.example", "stage": "lost"}, "stage"},
		{"vivre_create_contact", map[string]any{"name": "A", "email": "a@b.example", "nmae": "typo"}, "nmae"},
		{"vivre_log_activity", map[string]any{"contact_id": "cnt_8800", "type": "sms"}, "type"},
		{"vivre_list_contacts", map[string]any{"limit": 501}, "limit"},
		{"vivre_list_contacts", map[string]any{"limit": "ten"}, "limit"},
		{"vivre_list_contacts", map[string]any{"cursor": "made-up"}, "cursor"},
		{"vivre_update_deal", map[string]any{"id": "dl_4420"}, "stage"},
		{"vivre_update_deal", map[string]any{"id": "dl_4420", "closed_at": "yesterday"}, "closed_at"},
		{"vivre_create_deal", map[string]any{"contact_id": "cnt_nope", "title": "X"}, "contact_id"}, // the vendor's 400
	}
	// Only the last case needs the vendor to know the id is unknown.
	if got := m.rejectAll(cases, srv.TotalHits); got != 1 {
		t.Fatalf("%d requests reached the vendor; schema errors must be caught before sending", got)
	}
}

func TestVivreUnknownIDIsNotFound(t *testing.T) {
	m, _ := newVivre(t)
	body := m.fails("vivre_get_contact", map[string]any{"id": "cnt_0"})
	if body.Kind != vendors.KindNotFound || body.Status != 404 || !strings.Contains(body.Error, "Check the id") {
		t.Fatalf("unknown contact: %+v", body)
	}
	body = m.fails("vivre_update_deal", map[string]any{"id": "dl_0", "stage": "won"})
	if body.Kind != vendors.KindNotFound {
		t.Fatalf("unknown deal: %+v", body)
	}
}

// Through the tool layer: a GET meets two 503s and succeeds; a POST meets a
// 503 after the vendor acted, is sent once, and is reported as a tool error
// that says not to blindly retry.
func TestVivreRetriesOnlyWhatIsSafe(t *testing.T) {
	m, srv := newVivre(t)
	srv.Inject(emulator.Fault{Method: "GET", Status: 503}, emulator.Fault{Method: "GET", Status: 503})
	ok[vivre.Contact](m, "vivre_get_contact", map[string]any{"id": "cnt_8800"})
	if n := srv.Hits("GET /contacts/{id}"); n != 3 {
		t.Fatalf("GET hits %d, want 3", n)
	}
	srv.Inject(emulator.Fault{Method: "POST", Status: 503, AfterHandling: true})
	body := m.fails("vivre_log_activity", map[string]any{"contact_id": "cnt_8800", "type": "call"})
	if body.Kind != vendors.KindUncertain || !strings.Contains(body.Error, "not re-sent") {
		t.Fatalf("POST 503: %+v", body)
	}
	if n := srv.Hits("POST /activities"); n != 1 {
		t.Fatalf("POST sent %d times, want once", n)
	}
}
