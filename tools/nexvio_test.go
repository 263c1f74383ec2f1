package tools

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/nexvio"
	"github.com/crm-mcp/crm-mcp/vendors/nexvio/nexviotest"
)

func newNexvio(t *testing.T) (*mcpClient, *nexviotest.Server) {
	t.Helper()
	srv := nexviotest.NewServer(nexviotest.Options{})
	t.Cleanup(srv.Close)
	cl := nexvio.New(nexvio.Config{APIKey: nexviotest.APIKey, BaseURL: srv.URL}, vendors.Options{Retry: vendors.Retry{Base: 1}})
	return newMCPClient(t, Nexvio(Static(cl))), srv
}

// The whole flow an agent runs: create, find, read, change, delete, and the
// deleted contact then reads as not found.
func TestNexvioFlow(t *testing.T) {
	m, srv := newNexvio(t)
	c := ok[nexvioContact](m, "nexvio_create_contact", map[string]any{
		"chatbot_id": nexviotest.Chatbots[2], "name": "Jane Smith", "email": "jane@xyzcorp.example", "phone": "+15559876543",
		"metadata": []map[string]string{{"key": "company", "value": "XYZ Corp"}, {"key": "leadSource", "value": "Website"}}})
	if c.ID == "" || c.ChatbotID != nexviotest.Chatbots[2] || c.Metadata["leadSource"] != "Website" || c.CreatedAt.IsZero() {
		t.Fatalf("created = %+v", c)
	}
	found := ok[nexvioContactList](m, "nexvio_list_contacts", map[string]any{"search": "xyzcorp", "chatbot_id": nexviotest.Chatbots[2]})
	if len(found.Contacts) != 1 || found.Contacts[0].ID != c.ID || found.Total != 1 || found.NextCursor != "" {
		t.Fatalf("search = %+v", found)
	}
	up := ok[nexvioContact](m, "nexvio_update_contact", map[string]any{"id": c.ID, "name": "Jane Wilson-Smith",
		"metadata": []map[string]string{{"key": "company", "value": "XYZ Holdings"}}})
	if up.Name != "Jane Wilson-Smith" || up.Phone != "+15559876543" || up.Metadata["company"] != "XYZ Holdings" || up.Metadata["leadSource"] != "Website" {
		t.Fatalf("updated = %+v", up)
	}
	got := ok[nexvioContactDetail](m, "nexvio_get_contact", map[string]any{"id": c.ID})
	if got.Name != "Jane Wilson-Smith" || got.Conversations == nil || len(got.Conversations) != 0 {
		t.Fatalf("get = %+v (conversations must be [])", got)
	}
	seeded := ok[nexvioContactDetail](m, "nexvio_get_contact", map[string]any{"id": "contact_126abc"})
	if len(seeded.Conversations) != 4 || seeded.Conversations[0].StartedAt.IsZero() {
		t.Fatalf("seeded contact = %+v", seeded)
	}
	del := ok[nexvioDeleted](m, "nexvio_delete_contact", map[string]any{"id": c.ID})
	if !del.Deleted || del.ID != c.ID || srv.HasContact(c.ID) {
		t.Fatalf("delete = %+v", del)
	}
	for _, call := range []struct {
		tool string
		args map[string]any
	}{
		{"nexvio_get_contact", map[string]any{"id": c.ID}},
		{"nexvio_update_contact", map[string]any{"id": c.ID, "name": "Ghost"}},
		{"nexvio_delete_contact", map[string]any{"id": c.ID}},
		{"nexvio_list_conversations", map[string]any{"contact_id": c.ID}},
	} {
		body := m.fails(call.tool, call.args)
		if body.Kind != vendors.KindNotFound || body.Status != 404 || !strings.Contains(body.Error, "found no such record") {
			t.Fatalf("%s after delete: %+v", call.tool, body)
		}
	}
}

// nexvioPages calls a list tool until next_cursor is absent and returns every id seen.
func nexvioPages(t *testing.T, m *mcpClient, tool, key string, args map[string]any) (ids []string, pages int) {
	t.Helper()
	seen := map[string]bool{}
	for {
		page := ok[map[string]json.RawMessage](m, tool, args)
		pages++
		var items []struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(page[key], &items); err != nil || items == nil {
			t.Fatalf("%s: %s is not a list: %s", tool, key, page[key])
		}
		for _, it := range items {
			if seen[it.ID] {
				t.Fatalf("%s: %s on two pages", tool, it.ID)
			}
			seen[it.ID] = true
			ids = append(ids, it.ID)
		}
		var next string
		if raw, ok := page["next_cursor"]; ok {
			_ = json.Unmarshal(raw, &next)
		}
		if next == "" {
			return ids, pages
		}
		args["cursor"] = next
	}
}

func TestNexvioPagingVisitsEveryRecordOnce(t *testing.T) {
	m, srv := newNexvio(t)
	ids, pages := nexvioPages(t, m, "nexvio_list_contacts", "contacts", map[string]any{"limit": 5, "sort_by": "name", "sort_order": "asc"})
	if n := srv.ContactCount(); len(ids) != n || pages != (n+4)/5 {
		t.Fatalf("saw %d contacts in %d pages, emulator holds %d", len(ids), pages, n)
	}
	ids, pages = nexvioPages(t, m, "nexvio_list_conversations", "conversations", map[string]any{"contact_id": "contact_126abc", "limit": 1})
	if n := srv.ConversationCount("contact_126abc"); len(ids) != n || pages != n || n < 2 {
		t.Fatalf("saw %d conversations in %d pages, emulator holds %d", len(ids), pages, n)
	}
	first := ok[nexvioConversationList](m, "nexvio_list_conversations", map[string]any{"contact_id": "contact_126abc", "limit": 3})
	if first.NextCursor == "" || first.Total != 4 || first.Conversations[0].MessageCount == 0 || first.Conversations[0].Summary == "" {
		t.Fatalf("first page = %+v", first)
	}
}

func TestNexvioBadInputNamesTheField(t *testing.T) {
	m, srv := newNexvio(t)
	bot := nexviotest.Chatbots[0]
	cases := []badInput{
		{"nexvio_create_contact", map[string]any{"chatbot_id": bot, "phone": "555-1234"}, "phone"},
		{"nexvio_create_contact", map[string]any{"chatbot_id": bot, "email": "not-an-email"}, "email"},
		{"nexvio_create_contact", map[string]any{"name": "No Bot"}, "chatbot_id"},
		{"nexvio_create_contact", map[string]any{"chatbot_id": bot, "metadata": map[string]any{"company": "X"}}, "metadata"},
		{"nexvio_create_contact", map[string]any{"chatbot_id": bot, "metadata": []map[string]string{{"key": "a", "value": "1"}, {"key": "a", "value": "2"}}}, "metadata"},
		{"nexvio_update_contact", map[string]any{"id": "contact_123abc"}, "name"},
		{"nexvio_update_contact", map[string]any{"id": "contact_123abc", "phone": "+0123"}, "phone"},
		{"nexvio_list_contacts", map[string]any{"limit": 501}, "limit"},
		{"nexvio_list_contacts", map[string]any{"sort_by": "createdAt"}, "sort_by"},
		{"nexvio_list_contacts", map[string]any{"sort_order": "up"}, "sort_order"},
		{"nexvio_list_contacts", map[string]any{"cursor": "made-up"}, "cursor"},
		{"nexvio_list_conversations", map[string]any{"contact_id": "contact_123abc", "limit": 101}, "limit"},
		{"nexvio_delete_contact", map[string]any{"contact_id": "contact_123abc"}, "contact_id"},
		// The vendor's own validation envelope: details.chatbotId -> chatbot_id.
		{"nexvio_create_contact", map[string]any{"chatbot_id": "chatbot_nope", "name": "X"}, "chatbot_id"},
	}
	if got := m.rejectAll(cases, srv.TotalHits); got != 1 {
		t.Fatalf("%d requests reached the vendor; only the unknown chatbot needs it", got)
	}
}

func TestNexvioAnnotationsAndSchemas(t *testing.T) {
	ts := Nexvio(Static(nexvio.New(nexvio.Config{APIKey: "k"}, vendors.Options{})))
	if len(ts) != 6 {
		t.Fatalf("%d tools", len(ts))
	}
	size := 0
	for _, tl := range ts {
		a := tl.Def.Annotations
		readOnly := strings.Contains(tl.Def.Name, "_list_") || strings.Contains(tl.Def.Name, "_get_")
		if *a.ReadOnlyHint != readOnly || *a.DestructiveHint != (tl.Def.Name == "nexvio_delete_contact" || tl.Def.Name == "nexvio_update_contact") {
			t.Errorf("%s: annotations %+v", tl.Def.Name, a)
		}
		raw, _ := json.Marshal(ModelView(tl.Def))
		size += len(raw)
		if strings.Contains(string(tl.Def.RawInputSchema), "additionalProperties") || strings.Contains(string(tl.Def.RawInputSchema), "$ref") {
			t.Errorf("%s: schema has additionalProperties or $ref: %s", tl.Def.Name, tl.Def.RawInputSchema)
		}
		var s struct {
			Properties map[string]struct {
				Description string `json:"description"`
			} `json:"properties"`
		}
		_ = json.Unmarshal(tl.Def.RawInputSchema, &s)
		for name, p := range s.Properties {
			if p.Description == "" {
				t.Errorf("%s.%s has no description", tl.Def.Name, name)
			}
		}
	}
	if size > 6*800 {
		t.Errorf("the Nexvio tools take %d bytes of tools/list; keep under %d", size, 6*800)
	}
}
