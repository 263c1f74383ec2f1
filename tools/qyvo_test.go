package tools

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo/qyvotest"
)

// newQyvo serves the Qyvo tools on a fresh emulator.
func newQyvo(t *testing.T) (*mcpClient, *qyvotest.Server) {
	t.Helper()
	srv := qyvotest.NewServer(qyvotest.Options{RatePerMinute: -1})
	t.Cleanup(srv.Close)
	cl := qyvo.New(qyvo.Config{APIToken: qyvotest.APIToken, BaseURL: srv.URL}, vendors.Options{Retry: vendors.Retry{Base: time.Millisecond}})
	return newMCPClient(t, Qyvo(Static(cl))), srv
}

func TestQyvoToolDefinitions(t *testing.T) {
	ts := Qyvo(Static(&qyvo.Client{}))
	send := map[string]bool{"qyvo_send_template_message": true, "qyvo_send_text_message": true, "qyvo_trigger_sequence": true, "qyvo_trigger_flow": true}
	size := 0
	for _, tool := range ts {
		b, _ := json.Marshal(ModelView(tool.Def))
		size += len(b)
		var schema struct {
			Properties map[string]struct {
				Description string `json:"description"`
			} `json:"properties"`
		}
		_ = json.Unmarshal(tool.Def.RawInputSchema, &schema)
		for name, p := range schema.Properties {
			if p.Description == "" {
				t.Errorf("%s.%s has no description", tool.Def.Name, name)
			}
		}
		_, guarded := schema.Properties["allow_duplicate"]
		if guarded != send[tool.Def.Name] {
			t.Errorf("%s: duplicate-send guard %v, want %v", tool.Def.Name, guarded, send[tool.Def.Name])
		}
		if len(tool.Def.Description) > 200 {
			t.Errorf("%s: description of %d characters", tool.Def.Name, len(tool.Def.Description))
		}
	}
	if len(ts) != 18 || size > 18*800 {
		t.Fatalf("%d tools in %d bytes", len(ts), size)
	}
	hints := map[string]Hints{}
	for _, tool := range ts {
		a := tool.Def.Annotations
		hints[tool.Def.Name] = Hints{*a.ReadOnlyHint, *a.DestructiveHint, *a.IdempotentHint}
	}
	if hints["qyvo_add_tag"] != (Hints{Idempotent: true}) || hints["qyvo_remove_tag"] != Update ||
		hints["qyvo_get_contact"] != Read || hints["qyvo_search_contacts"] != Read || hints["qyvo_trigger_flow"] != Send {
		t.Fatalf("hints: %+v", hints)
	}
}

func TestQyvoContactFlow(t *testing.T) {
	m, srv := newQyvo(t)
	me := ok[qyvo.Me](m, "qyvo_get_me", nil)
	if me.Tenant.WhatsAppNumber == "" {
		t.Fatalf("me = %+v", me)
	}
	before := srv.ContactCount()
	first := ok[qyvoUpserted](m, "qyvo_create_contact", map[string]any{"phone": "+14155550999", "name": "Kiran Dutta", "tags": []string{"lead"}})
	again := ok[qyvoUpserted](m, "qyvo_create_contact", map[string]any{"phone": "+14155550999", "email": "kiran@harbourline.example"})
	if !first.Created || again.Created || again.Contact.ID != first.Contact.ID || again.Contact.Name != "Kiran Dutta" ||
		again.Contact.Email != "kiran@harbourline.example" || srv.ContactCount() != before+1 {
		t.Fatalf("upsert: %+v then %+v", first, again)
	}
	id := first.Contact.ID
	for _, args := range []map[string]any{{"id": id}, {"phone": "+14155550999"}, {"email": "kiran@harbourline.example"}} {
		if got := ok[qyvo.Contact](m, "qyvo_get_contact", args); got.ID != id {
			t.Fatalf("get_contact(%v) = %+v", args, got)
		}
	}
	upd := ok[qyvo.Contact](m, "qyvo_update_contact", map[string]any{"phone": "+14155550999", "name": "Kiran D.", "tags": []string{"customer"}})
	if upd.Name != "Kiran D." || strings.Join(upd.Tags, ",") != "customer" {
		t.Fatalf("update = %+v", upd)
	}
	tagged := ok[qyvo.Contact](m, "qyvo_add_tag", map[string]any{"contact_id": id, "tag": "vip"})
	if strings.Join(tagged.Tags, ",") != "customer,vip" {
		t.Fatalf("add_tag = %v", tagged.Tags)
	}
	vips := ok[qyvoContactList](m, "qyvo_search_contacts", map[string]any{"tag": "vip", "limit": 100})
	if vips.Contacts[0].ID != id || vips.Total != len(vips.Contacts) {
		t.Fatalf("newest vip = %+v", vips.Contacts[0])
	}
	untagged := ok[qyvo.Contact](m, "qyvo_remove_tag", map[string]any{"contact_id": id, "tag": "vip"})
	if strings.Join(untagged.Tags, ",") != "customer" {
		t.Fatalf("remove_tag = %v", untagged.Tags)
	}
	found := ok[qyvoContactList](m, "qyvo_search_contacts", map[string]any{"query": "kiran"})
	if len(found.Contacts) != 1 || found.NextCursor != "" {
		t.Fatalf("search = %+v", found)
	}
	tags := ok[qyvoTags](m, "qyvo_list_tags", nil)
	if len(tags.Tags) != 6 {
		t.Fatalf("tags = %+v", tags)
	}
}

type qyvoSent struct {
	qyvo.Message
	Duplicate bool `json:"duplicate"`
}

func TestQyvoSendTemplateIsNotSentTwice(t *testing.T) {
	m, srv := newQyvo(t)
	tpls := ok[qyvoTemplates](m, "qyvo_list_templates", nil)
	if len(tpls.Templates) < 5 {
		t.Fatalf("templates = %+v", tpls)
	}
	args := map[string]any{"phone": "+14155550101", "template": "order_confirmation", "language": "es", "variables": []string{"Emily", "#1042"}}
	first := ok[qyvoSent](m, "qyvo_send_template_message", args)
	second := ok[qyvoSent](m, "qyvo_send_template_message", args)
	if first.Duplicate || !second.Duplicate || second.ID != first.ID || srv.Sent() != 1 {
		t.Fatalf("first %+v, second %+v, sent %d", first, second, srv.Sent())
	}
	if !strings.HasPrefix(first.Body, "Hola Emily, tu pedido #1042") {
		t.Fatalf("body = %q", first.Body)
	}
	args["allow_duplicate"] = true
	third := ok[qyvoSent](m, "qyvo_send_template_message", args)
	if third.Duplicate || third.ID == first.ID || srv.Sent() != 2 {
		t.Fatalf("third %+v, sent %d", third, srv.Sent())
	}
	recent := ok[qyvoRecent](m, "qyvo_list_recent", map[string]any{"event": "campaign_sent", "limit": 2})
	if len(recent.Events) != 2 || recent.Events[0].MessageID != third.ID || recent.Events[1].MessageID != first.ID {
		t.Fatalf("recent = %+v", recent)
	}
}

func TestQyvoTextNeedsTheWindow(t *testing.T) {
	m, srv := newQyvo(t)
	c := ok[qyvoUpserted](m, "qyvo_create_contact", map[string]any{"phone": "+447700900555", "name": "Ada"})
	body := m.fails("qyvo_send_text_message", map[string]any{"phone": "+447700900555", "text": "Hello Ada"})
	body.field(t, "phone")
	if body.Kind != vendors.KindInvalid || !strings.Contains(body.Error, "template") {
		t.Fatalf("outside the window: %+v", body)
	}
	// The advice names the tool to call, not Qyvo's endpoint, and says which
	// argument to correct.
	if !strings.Contains(body.Fields["phone"], "qyvo_send_template_message") || strings.Contains(body.Error, "send-template-message") ||
		!strings.Contains(body.Error, "Correct phone") {
		t.Fatalf("advice: %s", body.Error)
	}
	srv.Inbound("+447700900555", "Is my order ready?")
	in := ok[qyvoRecent](m, "qyvo_list_recent", map[string]any{"event": "message_received"})
	if in.Events[0].Text != "Is my order ready?" || in.Events[0].ContactID != c.Contact.ID || len(in.Events) > 25 {
		t.Fatalf("inbound feed = %+v", in.Events[0])
	}
	// The failed call was not remembered: the same call may now be sent.
	sent := ok[qyvoSent](m, "qyvo_send_text_message", map[string]any{"phone": "+447700900555", "text": "Hello Ada"})
	if sent.Duplicate || sent.Type != "text" || srv.Sent() != 1 {
		t.Fatalf("inside the window: %+v, sent %d", sent, srv.Sent())
	}
}

func TestQyvoSequencesAndFlows(t *testing.T) {
	m, srv := newQyvo(t)
	contact := ok[qyvoContactList](m, "qyvo_search_contacts", map[string]any{"limit": 1}).Contacts[0]
	seqs := ok[qyvoSequences](m, "qyvo_list_sequences", nil).Sequences
	seq := ok[qyvo.Sequence](m, "qyvo_get_sequence", map[string]any{"sequence_id": seqs[1].ID})
	if seq.Name != "Payment reminders" || len(seq.Steps) != 2 {
		t.Fatalf("sequence = %+v", seq)
	}
	args := map[string]any{"sequence_id": seq.ID, "contact_id": contact.ID}
	run := ok[qyvoSent](m, "qyvo_trigger_sequence", args)
	if dup := ok[qyvoSent](m, "qyvo_trigger_sequence", args); !dup.Duplicate {
		t.Fatalf("second trigger = %+v", dup)
	}
	if srv.Feed("sequence_triggered") != 5 || run.ID == "" {
		t.Fatalf("sequence triggered %d times (4 seeded)", srv.Feed("sequence_triggered"))
	}
	m.fails("qyvo_trigger_sequence", map[string]any{"sequence_id": seqs[2].ID, "contact_id": contact.ID}).field(t, "sequence_id") // paused

	flows := ok[qyvoFlows](m, "qyvo_list_flows", nil).Flows
	flow := ok[qyvo.Flow](m, "qyvo_get_flow", map[string]any{"flow_id": flows[0].ID})
	if flow.Name != "Lead qualification" || len(flow.Nodes) != flow.NodesCount {
		t.Fatalf("flow = %+v", flow)
	}
	ok[qyvoSent](m, "qyvo_trigger_flow", map[string]any{"flow_id": flow.ID, "contact_id": contact.ID})
	recent := ok[qyvoRecent](m, "qyvo_list_recent", map[string]any{"event": "flow_triggered"})
	if recent.Events[0].FlowID != flow.ID || recent.Events[0].ContactID != contact.ID {
		t.Fatalf("newest flow_triggered = %+v", recent.Events[0])
	}
	m.fails("qyvo_trigger_flow", map[string]any{"flow_id": flows[2].ID, "contact_id": contact.ID}).field(t, "flow_id") // draft
}

// An agent follows next_cursor without repeating its limit and sees every
// contact once (before, the tool sent its default limit of 20 with the
// cursor, which pages by 4: now refused). A different limit beside a cursor
// is refused by name.
func TestQyvoSearchPagingVisitsEveryContactOnce(t *testing.T) {
	m, srv := newQyvo(t)
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		args := map[string]any{"limit": 4}
		if cursor != "" {
			m.fails("qyvo_search_contacts", map[string]any{"cursor": cursor, "limit": 9}).field(t, "limit")
			args = map[string]any{"cursor": cursor}
		}
		page := ok[qyvoContactList](m, "qyvo_search_contacts", args)
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
	if n := srv.ContactCount(); len(seen) != n || pages != (n+3)/4 {
		t.Fatalf("saw %d contacts in %d pages, emulator holds %d", len(seen), pages, n)
	}
}

func TestQyvoBadInputNamesTheField(t *testing.T) {
	m, srv := newQyvo(t)
	id := ok[qyvoContactList](m, "qyvo_search_contacts", map[string]any{"limit": 1}).Contacts[0].ID
	const nobody = "00000000-0000-4000-8000-000000000000"
	local := []badInput{
		{"qyvo_create_contact", map[string]any{"phone": "4155550123"}, "phone"},
		{"qyvo_create_contact", map[string]any{"phone": "+1 415 555 0123"}, "phone"},
		{"qyvo_create_contact", map[string]any{"name": "No Phone"}, "phone"},
		{"qyvo_create_contact", map[string]any{"phone": "+14155550123", "email": "nope"}, "email"},
		{"qyvo_send_text_message", map[string]any{"phone": "555-0123", "text": "hi"}, "phone"},
		{"qyvo_send_template_message", map[string]any{"template": "feedback_request"}, "phone"},
		{"qyvo_send_template_message", map[string]any{"phone": "+14155550101", "contact_id": id, "template": "feedback_request"}, "phone"},
		{"qyvo_send_template_message", map[string]any{"contact_id": "42", "template": "feedback_request"}, "contact_id"},
		{"qyvo_get_contact", map[string]any{}, "id"},
		{"qyvo_get_contact", map[string]any{"id": id, "email": "a@b.example"}, "id"},
		{"qyvo_update_contact", map[string]any{"id": id}, "name"},
		{"qyvo_add_tag", map[string]any{"contact_id": id, "tag": ""}, "tag"},
		{"qyvo_list_recent", map[string]any{"event": "deal_won"}, "event"},
		{"qyvo_search_contacts", map[string]any{"limit": 101}, "limit"},
		{"qyvo_search_contacts", map[string]any{"cursor": "made-up"}, "cursor"},
		{"qyvo_search_contacts", map[string]any{"cursor": vendors.Cursor("page", vendors.Fields("2", "500"))}, "cursor"},
	}
	if got := m.rejectAll(local, srv.TotalHits); got != 0 {
		t.Fatalf("%d requests reached the vendor; schema errors must be caught before sending", got)
	}
	// Laravel's 422 envelope, turned into a tool error naming the field.
	vendor := []struct {
		tool  string
		args  map[string]any
		field string
	}{
		{"qyvo_send_template_message", map[string]any{"contact_id": id, "template": "no_such_template"}, "template"},
		{"qyvo_send_template_message", map[string]any{"contact_id": id, "template": "payment_due", "variables": []string{"Ada"}}, "variables"},
		{"qyvo_send_template_message", map[string]any{"contact_id": id, "template": "payment_due", "language": "fr", "variables": []string{"A", "B"}}, "language"},
		{"qyvo_send_template_message", map[string]any{"contact_id": nobody, "template": "feedback_request"}, "contact_id"},
		{"qyvo_trigger_flow", map[string]any{"flow_id": nobody, "contact_id": id}, "flow_id"},
	}
	for _, c := range vendor {
		body := m.fails(c.tool, c.args)
		body.field(t, c.field)
		if body.Kind != vendors.KindInvalid || body.Status != 422 {
			t.Errorf("%s %v: %+v", c.tool, c.args, body)
		}
	}
	if srv.Sent() != 0 {
		t.Fatalf("%d rejected messages were sent", srv.Sent())
	}
}

func TestQyvoUnknownIDIsNotFound(t *testing.T) {
	m, _ := newQyvo(t)
	const nobody = "00000000-0000-4000-8000-000000000000"
	for tool, args := range map[string]map[string]any{
		"qyvo_get_contact":    {"id": nobody},
		"qyvo_update_contact": {"id": nobody, "name": "X"},
		"qyvo_get_sequence":   {"sequence_id": nobody},
		"qyvo_get_flow":       {"flow_id": nobody},
	} {
		if body := m.fails(tool, args); body.Kind != vendors.KindNotFound || body.Status != 404 {
			t.Errorf("%s: %+v", tool, body)
		}
	}
}
