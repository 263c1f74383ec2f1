package tools

// The sandbox guard. A new user's first session is `crm-mcp --sandbox`:
// every example a tool or property description gives (an id, a phone, a
// template, tag or field name) must be real there, and an id of one
// vendor's sandbox must never look like another vendor's.
//
// Whoever adds an id shape (a vendor, a record kind, a new format) or a new
// kind of example adds it to idShapes or namedExamples below: the guard
// fails on an example or a sandbox id that nothing in these tables claims.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/events"
)

// idShape is the shape of one kind of a vendor's ids.
type idShape struct {
	vendor, kind string
	prefix       string // the literal start every such id has ("" for UUIDs)
	pattern      string // the whole id, as a regexp without anchors
	// get reads the record through the vendor's tools; nil when no tool
	// reads this kind (the emulator is asked instead).
	get func(s *sandbox, id string) error
}

// idShapes is every id shape of every sandbox. Each vendor keeps the shape
// its doc shows; where the doc shows none, the emulator's package doc says
// which shape it chose.
var idShapes = []idShape{
	// Vivre (vivre.txt: cnt_8821, dl_4420).
	{"vivre", "contact", "cnt_", `cnt_[0-9]+`, getBy("vivre_get_contact", "id")},
	{"vivre", "deal", "dl_", `dl_[0-9]+`, nil}, // Vivre's API cannot read or list deals
	{"vivre", "activity", "act_", `act_[0-9]+`, nil},
	// Vixiees (the doc shows no id: vx_<kind>_<n>, vixieestest's choice).
	{"vixiees", "contact", "vx_ct_", `vx_ct_[0-9]+`, inList("vixiees_list_contacts", "contacts", map[string]any{"limit": 1000})},
	{"vixiees", "deal", "vx_deal_", `vx_deal_[0-9]+`, inList("vixiees_list_deals", "deals", map[string]any{"limit": 1000})},
	{"vixiees", "recording", "vx_rec_", `vx_rec_[0-9]+`, getBy("vixiees_get_recording", "id")},
	{"vixiees", "template", "vx_tpl_", `vx_tpl_[0-9]+`, inList("vixiees_list_whatsapp_templates", "templates", nil)},
	{"vixiees", "message", "vx_msg_", `vx_msg_[0-9]+`, nil},
	{"vixiees", "task", "vx_task_", `vx_task_[0-9]+`, nil},
	// Nexvio (nexvio.txt: contact_123abc, chatbot_456def, conv_789ghi).
	{"nexvio", "contact", "contact_", `contact_[0-9]{3}[a-z]{3}`, getBy("nexvio_get_contact", "id")},
	{"nexvio", "chatbot", "chatbot_", `chatbot_[0-9]{3}[a-z]{3}`, nil},
	{"nexvio", "conversation", "conv_", `conv_[0-9]{3}[a-z]{3}`, nil},
	// Ralivi (ralivi.txt: bare "abc123", three letters and three digits).
	{"ralivi", "contact", "abc", `abc[0-9]{3}`, inList("ralivi_list_contacts", "contacts", map[string]any{"limit": 100})},
	{"ralivi", "deal", "opp", `opp[0-9]{3}`, inList("ralivi_list_deals", "deals", map[string]any{"limit": 100})},
	{"ralivi", "task", "tsk", `tsk[0-9]{3}`, inList("ralivi_list_tasks", "tasks", map[string]any{"limit": 100})},
	{"ralivi", "activity", "log", `log[0-9]{3}`, inList("ralivi_list_activities", "activities", map[string]any{"limit": 100})},
	{"ralivi", "organization", "org", `org[0-9]{3}`, nil},
	// Qyvo (qyvo.txt: "IDs: UUIDs"), one shape for every kind.
	{"qyvo", "any", "", `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`, nil},
}

// namedExamples checks the examples that are not ids or phones, by
// "<tool>/<property path>" or "<vendor>/<property path>" (the tool's own
// description has the path ""). A nil check marks prose: an example of
// what to write, not of a record.
var namedExamples = map[string]func(s *sandbox, v string) error{
	"qyvo/template":             inField("qyvo_list_templates", nil, "templates", "name"),
	"qyvo/language":             inField("qyvo_list_templates", nil, "templates", "language"),
	"qyvo/tag":                  inField("qyvo_list_tags", nil, "tags", "name"),
	"qyvo/tags":                 inField("qyvo_list_tags", nil, "tags", "name"),
	"vivre/tags":                inField("vivre_list_contacts", map[string]any{"limit": 500}, "contacts", "tags"),
	"nexvio/metadata.key":       inField("nexvio_list_contacts", map[string]any{"limit": 500}, "contacts", "metadata.key"),
	"nexvio/metadata.value":     inField("nexvio_list_contacts", map[string]any{"limit": 500}, "contacts", "metadata.value"),
	"qyvo_list_recent/":         nil, // "e.g. inbound WhatsApp messages to answer"
	"vixiees_create_task/title": nil,
}

var (
	// exampleRe is what follows "e.g." or "such as", up to the end of the
	// sentence, a semicolon, a colon or a parenthesis.
	exampleRe = regexp.MustCompile(`(?:e\.g\.|such as)\s+(.+?)(?:[;:()]|\.\s|\.$|$)`)
	phoneRe   = regexp.MustCompile(`\+[1-9][0-9]{6,14}\b`)
	// idLikeRe is any word that looks like an id (kind_123, kind_12ab, or
	// a UUID), known shape or not.
	idLikeRe = regexp.MustCompile(`\b(?:[a-z]+_)+[0-9][0-9a-z]*\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
)

func (sh idShape) whole() *regexp.Regexp { return regexp.MustCompile(`^(?:` + sh.pattern + `)$`) }
func (sh idShape) word() *regexp.Regexp  { return regexp.MustCompile(`\b(?:` + sh.pattern + `)\b`) }

// shapeOf is the shape an id has (nil when none has it).
func shapeOf(id string) *idShape {
	for i := range idShapes {
		if idShapes[i].whole().MatchString(id) {
			return &idShapes[i]
		}
	}
	return nil
}

// sandbox is every vendor's sandbox toolset and the crm tools, behind one
// in-process MCP client, as `crm-mcp --sandbox` serves them.
type sandbox struct {
	t         *testing.T
	m         *mcpClient
	emulators map[string]http.Handler
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	s := &sandbox{t: t, emulators: map[string]http.Handler{}}
	var all []Tool
	var sources []ContactSource
	for _, v := range Vendors() {
		set, h := v.Sandbox(vendors.Options{})
		s.emulators[v.Name()] = h
		all, sources = append(all, set.Tools...), append(sources, set.Contacts)
	}
	evs := NewEvents(EventsOptions{Log: events.NewMemory(events.Options{}), Vendors: EventVendors})
	s.m = newMCPClient(t, append(append(all, CRM(sources)...), evs.Tools()...))
	return s
}

// call runs a tool and decodes its JSON result; a tool error is an error.
func (s *sandbox) call(tool string, args map[string]any) (any, error) {
	s.t.Helper()
	res := s.m.call(tool, args)
	if res.IsError {
		return nil, fmt.Errorf("%s(%v): %s", tool, args, text(s.t, res))
	}
	var v any
	if err := json.Unmarshal([]byte(text(s.t, res)), &v); err != nil {
		return nil, fmt.Errorf("%s: %v", tool, err)
	}
	return v, nil
}

// emulatorIDs is every id a vendor's emulator holds.
func (s *sandbox) emulatorIDs(vendor string) []string {
	s.t.Helper()
	e, ok := s.emulators[vendor].(interface{ IDs() []string })
	if !ok {
		s.t.Fatalf("the %s emulator (%T) has no IDs method", vendor, s.emulators[vendor])
	}
	return e.IDs()
}

// getBy reads an id with a get tool.
func getBy(tool, arg string) func(*sandbox, string) error {
	return func(s *sandbox, id string) error {
		_, err := s.call(tool, map[string]any{arg: id})
		return err
	}
}

// inList pages through a list tool looking for an id among the items.
func inList(tool, key string, args map[string]any) func(*sandbox, string) error {
	return func(s *sandbox, id string) error {
		return inField(tool, args, key, "id")(s, id)
	}
}

// inField pages through a list tool looking for v in a field of its items
// (field may be "tags" for a list of strings, or "metadata.key" and
// "metadata.value" for an object's keys and values).
func inField(tool string, args map[string]any, key, field string) func(*sandbox, string) error {
	return func(s *sandbox, v string) error {
		var seen []string
		cursor := ""
		for range 50 {
			a := map[string]any{}
			for k, x := range args {
				a[k] = x
			}
			if cursor != "" {
				a["cursor"] = cursor
			}
			res, err := s.call(tool, a)
			if err != nil {
				return err
			}
			page, _ := res.(map[string]any)
			items, _ := page[key].([]any)
			for _, it := range items {
				seen = append(seen, values(it, field)...)
			}
			if slices.Contains(seen, v) {
				return nil
			}
			if cursor, _ = page["next_cursor"].(string); cursor == "" {
				break
			}
		}
		return fmt.Errorf("no %s in %s (%s.%s holds %d values)", v, tool, key, field, len(seen))
	}
}

// values are the strings at field of a decoded item.
func values(item any, field string) []string {
	m, _ := item.(map[string]any)
	name, sub, _ := strings.Cut(field, ".")
	var out []string
	switch x := m[name].(type) {
	case string:
		out = append(out, x)
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	case map[string]any:
		for k, e := range x {
			if sub == "key" {
				out = append(out, k)
			} else if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// has says whether vendor's sandbox holds id, through a tool when one
// reads its kind.
func (s *sandbox) has(vendor, id string) error {
	sh := shapeOf(id)
	switch {
	case sh == nil:
		return fmt.Errorf("%s has no known id shape: add it to idShapes", id)
	case sh.vendor != vendor && vendor != "crm":
		return fmt.Errorf("%s is a %s id (%s), not a %s one", id, sh.vendor, sh.kind, vendor)
	case sh.get != nil:
		return sh.get(s, id)
	case !slices.Contains(s.emulatorIDs(sh.vendor), id):
		return fmt.Errorf("the %s sandbox holds no %s %s", sh.vendor, sh.kind, id)
	}
	return nil
}

// hasPhone says whether a contact of vendor's sandbox (any vendor's for
// crm) has this phone, asking crm_find_contact.
func (s *sandbox) hasPhone(vendor, phone string) error {
	res, err := s.call("crm_find_contact", map[string]any{"phone": phone})
	if err != nil {
		return err
	}
	contacts, _ := res.(map[string]any)["contacts"].([]any)
	for _, c := range contacts {
		if v, _ := c.(map[string]any)["vendor"].(string); vendor == "crm" || v == vendor {
			return nil
		}
	}
	return fmt.Errorf("no %s contact has the phone %s", vendor, phone)
}

// description is one description of the catalog: a tool's own (path "")
// or one of its properties', nested ones as "metadata.key".
type description struct {
	tool, vendor, path, text string
}

func descriptions(t *testing.T) []description {
	t.Helper()
	var out []description
	for _, tl := range Catalog() {
		out = append(out, description{tl.Def.Name, tl.Toolset, "", tl.Def.Description})
		var schema map[string]any
		if err := json.Unmarshal(tl.Def.RawInputSchema, &schema); err != nil {
			t.Fatalf("%s: %v", tl.Def.Name, err)
		}
		var walk func(path string, s map[string]any)
		walk = func(path string, s map[string]any) {
			if d, ok := s["description"].(string); ok && path != "" {
				out = append(out, description{tl.Def.Name, tl.Toolset, path, d})
			}
			if items, ok := s["items"].(map[string]any); ok {
				walk(path, items)
			}
			props, _ := s["properties"].(map[string]any)
			for name, p := range props {
				if ps, ok := p.(map[string]any); ok {
					walk(strings.TrimPrefix(path+"."+name, "."), ps)
				}
			}
		}
		walk("", schema)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].tool+"/"+out[i].path < out[j].tool+"/"+out[j].path })
	return out
}

// splitExamples splits "en, es, pt_BR" and "inbound or demo-request".
func splitExamples(phrase string) []string {
	var out []string
	for _, a := range strings.Split(phrase, ", ") {
		for _, b := range strings.Split(a, " or ") {
			if b = strings.TrimSpace(b); b != "" {
				out = append(out, b)
			}
		}
	}
	return out
}

// TestEveryExampleExistsInTheSandbox: each id, phone, template, language,
// tag or field name a description gives as an example is real in
// `crm-mcp --sandbox`, in the vendor whose tool gives it.
func TestEveryExampleExistsInTheSandbox(t *testing.T) {
	s := newSandbox(t)
	checked := 0
	for _, d := range descriptions(t) {
		where := d.tool
		if d.path != "" {
			where += " " + d.path
		}
		// Every id-like or phone-like word, wherever it stands.
		var ids []string
		for _, sh := range idShapes {
			ids = append(ids, sh.word().FindAllString(d.text, -1)...)
		}
		ids = append(ids, idLikeRe.FindAllString(d.text, -1)...)
		slices.Sort(ids)
		for _, id := range slices.Compact(ids) {
			checked++
			if err := s.has(d.vendor, id); err != nil {
				t.Errorf("%s: %q gives %s: %v", where, d.text, id, err)
			}
		}
		for _, p := range phoneRe.FindAllString(d.text, -1) {
			checked++
			if err := s.hasPhone(d.vendor, p); err != nil {
				t.Errorf("%s: %q gives %s: %v", where, d.text, p, err)
			}
		}
		// Every other example after "e.g." or "such as" needs a check.
		for _, m := range exampleRe.FindAllStringSubmatch(d.text, -1) {
			for _, ex := range splitExamples(m[1]) {
				if shapeOf(ex) != nil || idLikeRe.MatchString(ex) || phoneRe.MatchString(ex) {
					continue // checked above
				}
				check, ok := namedExamples[d.tool+"/"+d.path]
				if !ok {
					check, ok = namedExamples[d.vendor+"/"+d.path]
				}
				switch {
				case !ok:
					t.Errorf("%s: example %q (in %q) is of no kind the guard knows: add a check for %q to namedExamples",
						where, ex, d.text, d.vendor+"/"+d.path)
				case check != nil:
					checked++
					if err := check(s, ex); err != nil {
						t.Errorf("%s: example %q: %v", where, ex, err)
					}
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d examples checked: is the extraction broken?", checked)
	}
	t.Logf("%d examples checked against the sandbox", checked)
}

// exercise creates one record of each kind a vendor's tools can create, so
// that the ids the emulators hand out are checked with the seeded ones;
// it returns every id the results carry.
func (s *sandbox) exercise(vendor string) []string {
	s.t.Helper()
	var results []any
	do := func(tool string, args map[string]any) map[string]any {
		s.t.Helper()
		res, err := s.call(tool, args)
		if err != nil {
			s.t.Fatal(err)
		}
		results = append(results, res)
		m, _ := res.(map[string]any)
		return m
	}
	switch vendor {
	case "vivre":
		c := do("vivre_create_contact", map[string]any{"name": "Guard Test", "email": "guard@test.example"})
		d := do("vivre_create_deal", map[string]any{"contact_id": c["id"], "title": "Guard"})
		do("vivre_log_activity", map[string]any{"contact_id": c["id"], "deal_id": d["id"], "type": "note"})
	case "vixiees":
		c := do("vixiees_create_contact", map[string]any{"name": "Guard Test", "phone": "+5511955500001"})
		d := do("vixiees_create_deal", map[string]any{"title": "Guard", "contact_id": c["id"]})
		do("vixiees_create_task", map[string]any{"title": "Guard", "contact_id": c["id"], "deal_id": d["id"]})
		tpls := do("vixiees_list_whatsapp_templates", nil)["templates"].([]any)
		for _, tp := range tpls {
			if tp.(map[string]any)["variable_count"] == float64(0) {
				do("vixiees_send_whatsapp_template", map[string]any{"template_id": tp.(map[string]any)["id"], "contact_id": c["id"]})
				break
			}
		}
		do("vixiees_list_recordings", nil)
	case "nexvio":
		list := do("nexvio_list_contacts", nil)
		bot := list["contacts"].([]any)[0].(map[string]any)["chatbot_id"]
		c := do("nexvio_create_contact", map[string]any{"chatbot_id": bot, "name": "Guard Test"})
		do("nexvio_get_contact", map[string]any{"id": c["id"]})
	case "qyvo":
		c := do("qyvo_create_contact", map[string]any{"phone": "+14155550999", "name": "Guard Test"})
		id := c["contact"].(map[string]any)["id"]
		do("qyvo_add_tag", map[string]any{"contact_id": id, "tag": "guard-test"})
		do("qyvo_send_template_message", map[string]any{"contact_id": id, "template": "feedback_request"})
		seqs := do("qyvo_list_sequences", nil)["sequences"].([]any)
		do("qyvo_trigger_sequence", map[string]any{"sequence_id": seqs[0].(map[string]any)["id"], "contact_id": id})
		do("qyvo_get_me", nil)
		do("qyvo_list_recent", map[string]any{"event": "campaign_sent"})
	case "ralivi":
		for _, tool := range []string{"ralivi_list_contacts", "ralivi_list_deals", "ralivi_list_tasks", "ralivi_list_activities", "ralivi_get_organization"} {
			do(tool, map[string]any{})
		}
	default:
		s.t.Fatalf("the guard does not exercise %s: add it to sandbox.exercise", vendor)
	}
	var ids []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(k, e)
			}
		case []any:
			for _, e := range x {
				walk(key, e)
			}
		case string:
			if x != "" && (key == "id" || strings.HasSuffix(key, "_id")) {
				ids = append(ids, x)
			}
		}
	}
	for _, r := range results {
		walk("", r)
	}
	return ids
}

// TestSandboxIDsHaveVendorShapes: every id a sandbox holds or hands out
// has one of its vendor's shapes and none of another vendor's, no two
// vendors share an id prefix, and every shape in idShapes is in use.
func TestSandboxIDsHaveVendorShapes(t *testing.T) {
	s := newSandbox(t)
	used := map[int]bool{}
	for _, v := range Vendors() {
		ids := append(s.exercise(v.Name()), s.emulatorIDs(v.Name())...)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		if len(ids) < 10 {
			t.Errorf("%s: only %d sandbox ids", v.Name(), len(ids))
		}
		bad := map[string][]string{} // problem -> ids, reported once each
		for _, id := range ids {
			own := false
			for i, sh := range idShapes {
				if !sh.whole().MatchString(id) {
					continue
				}
				if sh.vendor == v.Name() {
					own, used[i] = true, true
				} else {
					p := fmt.Sprintf("have the shape of %s %s ids (%s)", sh.vendor, sh.kind, sh.pattern)
					bad[p] = append(bad[p], id)
				}
			}
			if !own {
				p := "have none of " + v.Name() + "'s shapes: add theirs to idShapes"
				bad[p] = append(bad[p], id)
			}
		}
		for p, ids := range bad {
			t.Errorf("%d %s ids (%s) %s", len(ids), v.Name(), strings.Join(ids[:min(len(ids), 4)], ", "), p)
		}
	}
	for i, a := range idShapes {
		if !used[i] {
			t.Errorf("no %s sandbox id has the %s shape %s: drop it or seed one", a.vendor, a.kind, a.pattern)
		}
		if !strings.HasPrefix(a.pattern, regexp.QuoteMeta(a.prefix)) {
			t.Errorf("%s %s: prefix %q does not start pattern %s", a.vendor, a.kind, a.prefix, a.pattern)
		}
		for _, b := range idShapes[i+1:] {
			if a.vendor != b.vendor && a.prefix != "" && b.prefix != "" &&
				(strings.HasPrefix(a.prefix, b.prefix) || strings.HasPrefix(b.prefix, a.prefix)) {
				t.Errorf("%s %s ids (%s...) and %s %s ids (%s...) share a prefix", a.vendor, a.kind, a.prefix, b.vendor, b.kind, b.prefix)
			}
		}
	}
}
