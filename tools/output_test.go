package tools

// Output schemas: every success's structured content validates against
// the output schema its tool declares, and no failure carries structured
// content (see the package doc for why).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	validator "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/dedupe"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo/qyvotest"
)

// outputSchemas compiles every catalog tool's output schema as a client
// would: draft 2020-12, formats asserted.
func outputSchemas(t testing.TB) map[string]*validator.Schema {
	t.Helper()
	c := validator.NewCompiler()
	c.AssertFormat()
	c.DefaultDraft(validator.Draft2020)
	out := map[string]*validator.Schema{}
	for _, tl := range Catalog() {
		doc, err := validator.UnmarshalJSON(bytes.NewReader(tl.Def.RawOutputSchema))
		if err != nil {
			t.Fatalf("%s: output schema: %v", tl.Def.Name, err)
		}
		url := "mem:///out/" + tl.Def.Name + ".json"
		if err := c.AddResource(url, doc); err != nil {
			t.Fatalf("%s: output schema: %v", tl.Def.Name, err)
		}
		if out[tl.Def.Name], err = c.Compile(url); err != nil {
			t.Fatalf("%s: output schema: %v", tl.Def.Name, err)
		}
	}
	return out
}

// conforms checks a result as a validating client does: a success has
// structured content (a JSON object) that matches the tool's output schema
// and its first text is the same JSON; a failure has no structured content, its
// sentence as text, and its facts in _meta. It returns the structured
// content of a success, decoded (nil for a failure).
func conforms(t testing.TB, schemas map[string]*validator.Schema, tool string, res *mcp.CallToolResult) map[string]any {
	t.Helper()
	if res.IsError {
		body, ok := ErrorOf(res)
		if res.StructuredContent != nil || !ok || body.Kind == "" {
			t.Fatalf("%s: a failure must have no structured content and its facts in _meta: %+v", tool, res)
		}
		return nil
	}
	schema := schemas[tool]
	if schema == nil {
		t.Fatalf("%s: no output schema", tool)
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil || res.StructuredContent == nil {
		t.Fatalf("%s: a success without structured content: %v", tool, err)
	}
	doc, err := validator.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("%s: structured content does not match the output schema: %v\n%s", tool, err, raw)
	}
	obj, ok := normalise(t, doc).(map[string]any)
	if !ok {
		t.Fatalf("%s: structured content is not an object: %s", tool, raw)
	}
	for _, c := range res.Content[1:] { // after the JSON, links to the records it holds
		if _, ok := c.(mcp.ResourceLink); !ok {
			t.Fatalf("%s: content %T after the JSON text", tool, c)
		}
	}
	tc, _ := res.Content[0].(mcp.TextContent)
	var fromText any
	if err := json.Unmarshal([]byte(tc.Text), &fromText); err != nil || !reflect.DeepEqual(fromText, any(obj)) {
		t.Fatalf("%s: the text is not the structured content: %s", tool, tc.Text)
	}
	return obj
}

// normalise is v as encoding/json decodes it (numbers as float64).
func normalise(t testing.TB, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// outputRun calls tools in the sandbox and checks every result with conforms.
type outputRun struct {
	s       *sandbox
	schemas map[string]*validator.Schema
	ok      map[string]int // successes per tool
}

func (r *outputRun) call(tool string, args map[string]any) map[string]any {
	r.s.t.Helper()
	res := r.s.m.call(tool, args)
	obj := conforms(r.s.t, r.schemas, tool, res)
	if res.IsError {
		r.s.t.Fatalf("%s(%v) failed: %s", tool, args, text(r.s.t, res))
	}
	r.ok[tool]++
	return obj
}

// first is the first item of list's key, as an object.
func first(t testing.TB, list map[string]any, key string) map[string]any {
	t.Helper()
	items, _ := list[key].([]any)
	if len(items) == 0 {
		t.Fatalf("no %s in %v", key, list)
	}
	item, _ := items[0].(map[string]any)
	return item
}

// TestEverySuccessMatchesItsOutputSchema calls every tool of the catalog in
// the sandbox with valid arguments (and the sends twice, for the
// duplicate-send guard's answer) and validates each result against the
// tool's output schema.
func TestEverySuccessMatchesItsOutputSchema(t *testing.T) {
	r := &outputRun{s: newSandbox(t), schemas: outputSchemas(t), ok: map[string]int{}}
	do := r.call
	stamp := time.Now().UnixNano()

	// Vivre.
	do("vivre_list_contacts", map[string]any{"limit": 3})
	do("vivre_get_contact", map[string]any{"id": "cnt_8800"})
	vc := do("vivre_create_contact", map[string]any{"name": "Output Schema", "email": "out@schema.example", "tags": []any{"e2e"}})
	vd := do("vivre_create_deal", map[string]any{"contact_id": vc["id"], "title": "Schema", "value": 1000})
	do("vivre_update_deal", map[string]any{"id": vd["id"], "stage": "won"})
	do("vivre_log_activity", map[string]any{"contact_id": vc["id"], "deal_id": vd["id"], "type": "call", "note": "n"})

	// Vixiees.
	do("vixiees_list_contacts", map[string]any{"limit": 3})
	xc := do("vixiees_create_contact", map[string]any{"name": "Output Schema", "phone": "+5511955500002"})
	do("vixiees_update_contact", map[string]any{"id": xc["id"], "name": "Output Schema 2"})
	do("vixiees_list_deals", map[string]any{"limit": 3})
	xd := do("vixiees_create_deal", map[string]any{"title": "Schema", "contact_id": xc["id"]})
	do("vixiees_update_deal", map[string]any{"id": xd["id"], "title": "Schema 2"})
	rec := first(t, do("vixiees_list_recordings", map[string]any{"limit": 3}), "recordings")
	do("vixiees_get_recording", map[string]any{"id": rec["id"]})
	do("vixiees_create_task", map[string]any{"title": "Schema", "contact_id": xc["id"], "deal_id": xd["id"]})
	tpls, _ := do("vixiees_list_whatsapp_templates", nil)["templates"].([]any)
	for _, tp := range tpls {
		if tp := tp.(map[string]any); tp["variable_count"] == float64(0) {
			args := map[string]any{"template_id": tp["id"], "contact_id": xc["id"]}
			do("vixiees_send_whatsapp_template", args)
			if again := do("vixiees_send_whatsapp_template", args); again["duplicate"] != true {
				t.Fatalf("the second identical send is not the duplicate: %v", again)
			}
			break
		}
	}

	// Nexvio.
	nl := do("nexvio_list_contacts", map[string]any{"limit": 3})
	bot := first(t, nl, "contacts")["chatbot_id"]
	nc := do("nexvio_create_contact", map[string]any{"chatbot_id": bot, "name": "Output Schema", "metadata": []any{map[string]any{"key": "company", "value": "Acme"}}})
	do("nexvio_get_contact", map[string]any{"id": "contact_123abc"})
	do("nexvio_update_contact", map[string]any{"id": nc["id"], "name": "Output Schema 2"})
	do("nexvio_list_conversations", map[string]any{"contact_id": "contact_123abc"})
	do("nexvio_delete_contact", map[string]any{"id": nc["id"]})

	// Qyvo.
	do("qyvo_get_me", nil)
	recent := first(t, do("qyvo_list_recent", map[string]any{"event": "message_received"}), "events")
	phone := "+1415555" + string(rune('0'+stamp%10)) + "987"
	qc := do("qyvo_create_contact", map[string]any{"phone": phone, "name": "Output Schema"})["contact"].(map[string]any)
	do("qyvo_update_contact", map[string]any{"id": qc["id"], "name": "Output Schema 2"})
	do("qyvo_get_contact", map[string]any{"id": qc["id"]})
	do("qyvo_search_contacts", map[string]any{"query": "Output", "limit": 2})
	do("qyvo_add_tag", map[string]any{"contact_id": qc["id"], "tag": "schema"})
	do("qyvo_remove_tag", map[string]any{"contact_id": qc["id"], "tag": "schema"})
	do("qyvo_list_tags", nil)
	for _, tp := range do("qyvo_list_templates", nil)["templates"].([]any) {
		if tp := tp.(map[string]any); tp["status"] == "approved" {
			vars := make([]any, int(tp["variables"].(float64)))
			for i := range vars {
				vars[i] = "Ada"
			}
			args := map[string]any{"contact_id": qc["id"], "template": tp["name"], "language": tp["language"], "variables": vars}
			do("qyvo_send_template_message", args)
			if again := do("qyvo_send_template_message", args); again["duplicate"] != true {
				t.Fatalf("the second identical send is not the duplicate: %v", again)
			}
			break
		}
	}
	do("qyvo_send_text_message", map[string]any{"phone": recent["phone"], "text": "Your order is ready."})
	seq := first(t, do("qyvo_list_sequences", nil), "sequences")
	do("qyvo_get_sequence", map[string]any{"sequence_id": seq["id"]})
	do("qyvo_trigger_sequence", map[string]any{"sequence_id": seq["id"], "contact_id": qc["id"]})
	flow := first(t, do("qyvo_list_flows", nil), "flows")
	do("qyvo_get_flow", map[string]any{"flow_id": flow["id"]})
	do("qyvo_trigger_flow", map[string]any{"flow_id": flow["id"], "contact_id": qc["id"]})

	// Ralivi.
	do("ralivi_list_contacts", map[string]any{"limit": 3})
	do("ralivi_list_deals", map[string]any{"limit": 3})
	do("ralivi_list_tasks", map[string]any{"limit": 3})
	do("ralivi_list_activities", map[string]any{"limit": 3})
	do("ralivi_get_organization", nil)

	// Across vendors.
	do("crm_search_contacts", map[string]any{"query": "a", "limit": 2})
	do("crm_find_contact", map[string]any{"phone": phone})
	do("crm_list_events", map[string]any{"limit": 5})

	for _, tl := range Catalog() {
		if r.ok[tl.Def.Name] == 0 {
			t.Errorf("%s: no success checked against its output schema: add a call to this test", tl.Def.Name)
		}
	}
}

// A result made only of zero values (nil slices and pointers: the JSON
// nulls) matches the schema too: every tool that reaches its vendor is
// called with a vendor that answers an empty object, and whatever
// succeeds is validated.
func TestEmptyVendorAnswersMatchTheOutputSchema(t *testing.T) {
	h := getHarness(t)
	schemas := outputSchemas(t)
	for _, body := range []string{`{}`, `{"data":{}}`, `{"data":[]}`, `{"status":"success","data":{}}`, `{"status":"success","data":[]}`} {
		h.fv.set(200, []byte(body))
		for i, tl := range h.tools {
			args := h.valid[i]
			if args == nil {
				continue
			}
			if bytes.Contains(tl.Def.RawInputSchema, []byte(`"allow_duplicate"`)) { // past the duplicate-send guard
				args = append(bytes.TrimSuffix(bytes.TrimSpace(args), []byte("}")), []byte(`,"allow_duplicate":true}`)...)
				if bytes.Equal(h.valid[i], []byte("{}")) {
					args = []byte(`{"allow_duplicate":true}`)
				}
			}
			res := check(t, tl.Def.Name, args, h.call(tl.Def.Name, args))
			conforms(t, schemas, tl.Def.Name, res)
		}
	}
	h.fv.set(200, []byte(`{}`))
}

// failingStore is a duplicate-send store whose record of a send fails:
// the send's result carries guard_warning.
type failingStore struct{ dedupe.Store }

func (failingStore) Complete(context.Context, string, []byte, time.Duration) error {
	return errors.New("the shared store is down")
}

// The fields the duplicate-send guard adds to a success (duplicate,
// guard_warning) are in the output schema; on a failure they are facts in
// _meta, and the result still has no structured content.
func TestGuardFieldsMatchTheOutputSchema(t *testing.T) {
	schemas := outputSchemas(t)
	const tool = "qyvo_send_template_message"

	m, _ := deployment(t, qyvotest.APIToken, failingStore{dedupe.NewMemory()})
	sent := conforms(t, schemas, tool, m.call(tool, sendArgs))
	if w, _ := sent["guard_warning"].(string); w == "" {
		t.Fatalf("no guard_warning: %v", sent)
	}

	m, srv := deployment(t, qyvotest.APIToken, failingStore{dedupe.NewMemory()})
	srv.Inject(emulator.Fault{Method: "POST", Path: "/actions/send-template-message", Status: 502, AfterHandling: true})
	res := m.call(tool, sendArgs)
	conforms(t, schemas, tool, res)
	if body, _ := ErrorOf(res); !res.IsError || body.GuardWarning == "" {
		t.Fatalf("a failure the guard could not record: %+v", body)
	}

	m, srv = deployment(t, qyvotest.APIToken, dedupe.NewMemory())
	srv.Inject(emulator.Fault{Method: "POST", Path: "/actions/send-template-message", Status: 502, AfterHandling: true})
	conforms(t, schemas, tool, m.call(tool, sendArgs))
	again := m.call(tool, sendArgs)
	conforms(t, schemas, tool, again)
	if body, _ := ErrorOf(again); !again.IsError || !body.Duplicate || body.Kind != vendors.KindUncertain {
		t.Fatalf("the failure answered from memory: %+v", body)
	}
	if !strings.Contains(text(t, again), "not sent again") {
		t.Fatalf("the failure answered from memory says %q", text(t, again))
	}
}

// A failure's facts in _meta are masked and worded like its text: a key a
// vendor echoes in an error reaches neither, and the vendor's endpoint
// names become tool names in both.
func TestErrorFactsAreRedactedLikeTheText(t *testing.T) {
	const key = "vv_live_ECHOED_0123456789"
	words := strings.NewReplacer("GET /contacts", "vivre_list_contacts").Replace
	for _, err := range []*vendors.Error{
		{Vendor: "vivre", Kind: vendors.KindInvalid, Fields: map[string]string{"email": "rejected by " + key}},
		{Vendor: "vivre", Kind: vendors.KindUnavailable, Message: "GET /contacts answered " + key},
	} {
		res := rewriteResult(ErrorResult(err), func([]byte) bool { return true }, words)
		res = redactResult(vendors.NewRedactor(key), res)
		wire, _ := json.Marshal(res)
		body, ok := ErrorOf(res)
		if !ok || strings.Contains(string(wire), key) || !strings.Contains(string(wire), "[redacted]") {
			t.Fatalf("the echoed key reached the result: %s", wire)
		}
		if body.Error != text(t, res) || strings.Contains(body.Error, "GET /contacts") {
			t.Fatalf("facts %q and text %q differ", body.Error, text(t, res))
		}
	}
}
