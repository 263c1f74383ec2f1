package tools

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees/vixieestest"
)

// newVixiees serves an emulator without limits unless opts set them; the
// client makes one attempt per call when the emulator limits.
func newVixiees(t *testing.T, opts vixieestest.Options) (*mcpClient, *vixieestest.Server) {
	t.Helper()
	retry := vendors.Retry{Base: time.Millisecond}
	if opts.Licenses == 0 {
		opts.Licenses = -1
	} else {
		retry.Attempts = 1
	}
	srv := vixieestest.NewServer(opts)
	t.Cleanup(srv.Close)
	cl := vixiees.New(vixiees.Config{APIKey: vixieestest.APIKey, BaseURL: srv.URL}, vendors.Options{Retry: retry})
	return newMCPClient(t, Vixiees(Static(cl))), srv
}

// The flow an agent runs: a lead fills a form, gets a contact, a deal, a
// WhatsApp confirmation and a follow-up task; a call recording is read.
func TestVixieesFlow(t *testing.T) {
	m, srv := newVixiees(t, vixieestest.Options{})
	c := ok[vixiees.Contact](m, "vixiees_create_contact", map[string]any{
		"name": "Renata Prado", "email": "renata@pradoflores.example", "phone": "+5511955501234"})
	if !strings.HasPrefix(c.ID, "vx_ct_") || c.Phone != "+5511955501234" {
		t.Fatalf("created contact = %+v", c)
	}
	c = ok[vixiees.Contact](m, "vixiees_update_contact", map[string]any{"id": c.ID, "phone": "+5511955509999"})
	if c.Phone != "+5511955509999" || c.Email != "renata@pradoflores.example" {
		t.Fatalf("updated contact = %+v", c)
	}
	d := ok[vixiees.Deal](m, "vixiees_create_deal", map[string]any{"title": "Prado Flores — Pilot", "contact_id": c.ID, "value": 180000})
	if d.Stage != "new" || d.Value != 180000 || d.ContactID != c.ID {
		t.Fatalf("deal = %+v", d)
	}
	d = ok[vixiees.Deal](m, "vixiees_update_deal", map[string]any{"id": d.ID, "stage": "negotiation", "value": 200000})
	if d.Stage != "negotiation" || d.Value != 200000 {
		t.Fatalf("updated deal = %+v", d)
	}

	tpls := ok[vixieesTemplateList](m, "vixiees_list_whatsapp_templates", nil)
	if len(tpls.Templates) < 4 {
		t.Fatalf("templates = %+v", tpls)
	}
	var two vixiees.Template
	for _, tp := range tpls.Templates {
		if tp.VariableCount == 2 && tp.Status == "approved" {
			two = tp
		}
	}
	msg := ok[vixiees.Message](m, "vixiees_send_whatsapp_template", map[string]any{
		"template_id": two.ID, "contact_id": c.ID, "variables": []string{"Renata", "PR-2026-17"}})
	if msg.Phone != "+5511955509999" || msg.Status != "queued" || !strings.Contains(msg.Body, "PR-2026-17") {
		t.Fatalf("message = %+v", msg)
	}
	ok[vixiees.Message](m, "vixiees_send_whatsapp_template", map[string]any{
		"template_id": two.ID, "phone": "+5521998760202", "variables": []string{"Bruno", "PR-2026-18"}})
	if srv.MessageCount() != 2 {
		t.Fatalf("emulator holds %d messages, want 2", srv.MessageCount())
	}

	task := ok[vixiees.Task](m, "vixiees_create_task", map[string]any{
		"title": "Call Renata about the pilot", "contact_id": c.ID, "deal_id": d.ID, "due_at": "2026-07-01T14:00:00-03:00"})
	if task.Status != "open" || task.DueAt == nil || !task.DueAt.Equal(time.Date(2026, 7, 1, 17, 0, 0, 0, time.UTC)) || srv.TaskCount() != 1 {
		t.Fatalf("task = %+v", task)
	}

	recs := ok[vixieesRecordingList](m, "vixiees_list_recordings", map[string]any{"limit": 3})
	rec := ok[vixiees.Recording](m, "vixiees_get_recording", map[string]any{"id": recs.Recordings[1].ID})
	if rec.ID != recs.Recordings[1].ID || !strings.HasPrefix(rec.URL, "https://") || rec.TranscriptSummary == "" {
		t.Fatalf("recording = %+v", rec)
	}
}

// Every list tool: next_cursor while there is more, and paging with it
// visits each record once.
func TestVixieesListsPageWithNextCursor(t *testing.T) {
	m, srv := newVixiees(t, vixieestest.Options{})
	contacts, deals, recordings := srv.Counts()
	ids := func(tool string, page map[string]any) ([]string, string) {
		switch tool {
		case "vixiees_list_contacts":
			p := ok[vixieesContactList](m, tool, page)
			out := make([]string, len(p.Contacts))
			for i, c := range p.Contacts {
				out[i] = c.ID
			}
			return out, p.NextCursor
		case "vixiees_list_deals":
			p := ok[vixieesDealList](m, tool, page)
			out := make([]string, len(p.Deals))
			for i, d := range p.Deals {
				out[i] = d.ID
			}
			return out, p.NextCursor
		}
		p := ok[vixieesRecordingList](m, tool, page)
		out := make([]string, len(p.Recordings))
		for i, r := range p.Recordings {
			out[i] = r.ID
		}
		return out, p.NextCursor
	}
	for tool, want := range map[string]int{"vixiees_list_contacts": contacts, "vixiees_list_deals": deals, "vixiees_list_recordings": recordings} {
		seen := map[string]bool{}
		cursor, pages := "", 0
		for {
			args := map[string]any{"limit": 5}
			if cursor != "" {
				args = map[string]any{"cursor": cursor} // the cursor keeps the page size
			}
			got, next := ids(tool, args)
			pages++
			for _, id := range got {
				if seen[id] {
					t.Fatalf("%s: %s on two pages", tool, id)
				}
				seen[id] = true
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if len(seen) != want || pages != (want+4)/5 {
			t.Fatalf("%s: saw %d of %d records in %d pages", tool, len(seen), want, pages)
		}
	}
}

func TestVixieesIncrementalSyncKeepsItsFilterAcrossPages(t *testing.T) {
	m, _ := newVixiees(t, vixieestest.Options{})
	all := ok[vixieesContactList](m, "vixiees_list_contacts", map[string]any{"limit": 1000})
	since := all.Contacts[20].UpdatedAt
	first := ok[vixieesContactList](m, "vixiees_list_contacts", map[string]any{"updated_since": since.Format(time.RFC3339), "limit": 4})
	if first.Total >= all.Total || first.NextCursor == "" {
		t.Fatalf("filtered first page = %+v", first)
	}
	n := len(first.Contacts)
	for cursor := first.NextCursor; cursor != ""; {
		p := ok[vixieesContactList](m, "vixiees_list_contacts", map[string]any{"cursor": cursor})
		for _, c := range p.Contacts {
			if c.UpdatedAt.Before(since) {
				t.Fatalf("%s updated %s, before %s: the cursor lost the filter", c.ID, c.UpdatedAt, since)
			}
		}
		n += len(p.Contacts)
		cursor = p.NextCursor
	}
	if n != first.Total {
		t.Fatalf("paged %d of %d filtered contacts", n, first.Total)
	}
}

func TestVixieesBadInputNamesTheField(t *testing.T) {
	m, srv := newVixiees(t, vixieestest.Options{})
	page := ok[vixieesContactList](m, "vixiees_list_contacts", map[string]any{"limit": 2})
	cases := []badInput{
		{"vixiees_create_contact", map[string]any{"name": "A", "phone": "11 98765-4321"}, "phone"},
		{"vixiees_create_contact", map[string]any{"name": "A", "phone": "5511987654321"}, "phone"},
		{"vixiees_create_contact", map[string]any{"name": "A", "email": "not-an-email"}, "email"},
		{"vixiees_create_contact", map[string]any{"phone": "+5511987654321"}, "name"},
		{"vixiees_create_contact", map[string]any{"name": "A", "phnoe": "+5511987654321"}, "phnoe"},
		{"vixiees_update_contact", map[string]any{"id": "vx_ct_1001", "phone": "+0123"}, "phone"},
		{"vixiees_update_contact", map[string]any{"id": "vx_ct_1001"}, "name"},
		{"vixiees_update_deal", map[string]any{"id": "vx_deal_5001"}, "stage"},
		{"vixiees_create_deal", map[string]any{"title": "X", "stage": "closed"}, "stage"},
		{"vixiees_create_deal", map[string]any{"title": "X", "value": -1}, "value"},
		{"vixiees_create_task", map[string]any{"title": "X", "due_at": "tomorrow"}, "due_at"},
		{"vixiees_list_deals", map[string]any{"limit": 1001}, "limit"},
		{"vixiees_list_deals", map[string]any{"updated_since": "last week"}, "updated_since"},
		{"vixiees_list_recordings", map[string]any{"cursor": "made-up"}, "cursor"},
		{"vixiees_list_contacts", map[string]any{"cursor": page.NextCursor, "limit": 50}, "limit"},
		{"vixiees_send_whatsapp_template", map[string]any{"template_id": "vx_tpl_101", "phone": "+5511", "variables": []string{"A"}}, "phone"},
		{"vixiees_send_whatsapp_template", map[string]any{"template_id": "vx_tpl_101", "variables": []string{"A"}}, "phone"},
		{"vixiees_send_whatsapp_template", map[string]any{"template_id": "vx_tpl_101", "phone": "+5511987650101", "contact_id": "vx_ct_1001", "variables": []string{"A"}}, "phone"},
	}
	if got := m.rejectAll(cases, srv.TotalHits); got != 0 {
		t.Fatalf("%d requests reached the vendor; these must be caught before sending", got)
	}
}

// The vendor's {"error","details"} envelope becomes a tool error naming our argument.
func TestVixieesVendorEnvelopeIsToolError(t *testing.T) {
	m, srv := newVixiees(t, vixieestest.Options{})
	cases := []badInput{
		{"vixiees_send_whatsapp_template", map[string]any{"template_id": "vx_tpl_102", "phone": "+5511987650101", "variables": []string{"Ana"}}, "variables"},
		{"vixiees_create_deal", map[string]any{"title": "X", "contact_id": "vx_ct_0"}, "contact_id"},
		{"vixiees_create_task", map[string]any{"title": "X", "deal_id": "vx_deal_0"}, "deal_id"},
	}
	for _, c := range cases {
		body := m.fails(c.tool, c.args)
		body.field(t, c.field)
		if body.Kind != vendors.KindInvalid || body.Status != 422 {
			t.Errorf("%s: %+v", c.tool, body)
		}
	}
	srv.Inject(emulator.Fault{Status: 422, Body: `{"error":"Validation failed","details":{"updated_at_from":"is not a valid date"}}`})
	body := m.fails("vixiees_list_contacts", map[string]any{"updated_since": "2026-05-01T00:00:00Z"})
	body.field(t, "updated_since")
	if srv.MessageCount() != 0 {
		t.Fatal("a rejected send was recorded")
	}
}

func TestVixieesUnknownIDIsNotFound(t *testing.T) {
	m, _ := newVixiees(t, vixieestest.Options{})
	for tool, args := range map[string]map[string]any{
		"vixiees_get_recording":          {"id": "vx_rec_0"},
		"vixiees_update_contact":         {"id": "vx_ct_0", "name": "X"},
		"vixiees_update_deal":            {"id": "vx_deal_0", "stage": "won"},
		"vixiees_send_whatsapp_template": {"template_id": "vx_tpl_0", "phone": "+5511987650101"},
	} {
		body := m.fails(tool, args)
		if body.Kind != vendors.KindNotFound || body.Status != 404 || !strings.Contains(body.Error, "Check the id") {
			t.Fatalf("%s: %+v", tool, body)
		}
	}
}

func TestVixieesIdenticalSendIsNotRepeated(t *testing.T) {
	m, srv := newVixiees(t, vixieestest.Options{})
	args := map[string]any{"template_id": "vx_tpl_101", "contact_id": "vx_ct_1003", "variables": []string{"Carla (dup test)"}}
	first := ok[vixiees.Message](m, "vixiees_send_whatsapp_template", args)
	again := ok[struct {
		Duplicate bool   `json:"duplicate"`
		ID        string `json:"id"`
	}](m, "vixiees_send_whatsapp_template", args)
	if !again.Duplicate || again.ID != first.ID || srv.MessageCount() != 1 {
		t.Fatalf("second send: %+v, %d messages", again, srv.MessageCount())
	}
}

func TestVixieesRateLimitIsToolError(t *testing.T) {
	m, _ := newVixiees(t, vixieestest.Options{Licenses: 1, PerMinute: 2})
	for range 2 {
		ok[vixiees.Recording](m, "vixiees_get_recording", map[string]any{"id": "vx_rec_801"})
	}
	body := m.fails("vixiees_get_recording", map[string]any{"id": "vx_rec_801"})
	if body.Kind != vendors.KindRateLimited || body.Status != 429 || body.RetryAfterSeconds <= 2 || len(body.Fields) != 0 {
		t.Fatalf("429: %+v", body)
	}
}

// What a model sees of the whole server's tools/list must stay under 40 000 bytes for ~50 tools:
// this toolset's share is about 800 bytes a tool.
func TestVixieesToolDefinitionsAreSmall(t *testing.T) {
	ts := Vixiees(Static(vixiees.New(vixiees.Config{APIKey: "k"}, vendors.Options{})))
	total := 0
	for _, tool := range ts {
		b, err := json.Marshal(ModelView(tool.Def))
		if err != nil {
			t.Fatal(err)
		}
		total += len(b)
		if len(tool.Def.Description) > 200 {
			t.Errorf("%s: description is %d characters", tool.Def.Name, len(tool.Def.Description))
		}
		if !strings.HasPrefix(tool.Def.Name, "vixiees_") || tool.Toolset != "vixiees" {
			t.Errorf("%s in toolset %s", tool.Def.Name, tool.Toolset)
		}
	}
	if len(ts) != 11 || total > 11*800 {
		t.Fatalf("%d tools, %d bytes", len(ts), total)
	}
	t.Logf("%d tools, %d bytes", len(ts), total)
}
