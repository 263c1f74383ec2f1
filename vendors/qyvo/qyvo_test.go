package qyvo_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo/qyvotest"
)

var ctx = context.Background()

func setup(t *testing.T, opts qyvotest.Options, o vendors.Options) (*qyvo.Client, *qyvotest.Server) {
	t.Helper()
	if opts.RatePerMinute == 0 {
		opts.RatePerMinute = -1
	}
	srv := qyvotest.NewServer(opts)
	t.Cleanup(srv.Close)
	if o.Retry.Base == 0 {
		o.Retry.Base = time.Millisecond
	}
	return qyvo.New(qyvo.Config{APIToken: qyvotest.APIToken, BaseURL: srv.URL}, o), srv
}

// must(call(...))(t) is call's value; the test fails on its error.
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestIdentityListsAndLookups(t *testing.T) {
	c, _ := setup(t, qyvotest.Options{}, vendors.Options{})
	me := must(c.Me(ctx))(t)
	if me.User.Email == "" || me.Tenant.WhatsAppNumber != "+14155550100" {
		t.Fatalf("Me = %+v", me)
	}
	tpls := must(c.ListTemplates(ctx))(t)
	if len(tpls) < 5 || tpls[0].Name == "" || tpls[0].Variables != 2 {
		t.Fatalf("templates = %+v", tpls)
	}
	tags := must(c.ListTags(ctx))(t)
	if len(tags) != 6 || tags[0].Name != "customer" || tags[0].ContactsCount == 0 {
		t.Fatalf("tags = %+v", tags)
	}
	seqs := must(c.ListSequences(ctx))(t)
	if len(seqs) != 3 || seqs[0].StepsCount != 3 || seqs[0].Steps != nil {
		t.Fatalf("sequences = %+v", seqs)
	}
	seq := must(c.GetSequence(ctx, seqs[0].ID))(t)
	if len(seq.Steps) != 3 || seq.Steps[0].Template != "welcome_message" || seq.CreatedAt.IsZero() {
		t.Fatalf("GetSequence = %+v", seq)
	}
	flows := must(c.ListFlows(ctx))(t)
	if len(flows) != 3 || flows[0].Nodes != nil {
		t.Fatalf("flows = %+v", flows)
	}
	fl := must(c.GetFlow(ctx, flows[1].ID))(t)
	if fl.Name != "Support triage" || len(fl.Nodes) != fl.NodesCount {
		t.Fatalf("GetFlow = %+v", fl)
	}
	for ev := range qyvo.Events {
		p := must(c.Recent(ctx, ev, vendors.PageRequest{}))(t)
		recent := p.Items
		if len(recent) == 0 || p.Total != -1 || p.Next != "" {
			t.Fatalf("%s feed: %d events, total %d, next %q", ev, len(recent), p.Total, p.Next)
		}
		for i := 1; i < len(recent); i++ {
			if recent[i].CreatedAt.After(recent[i-1].CreatedAt) {
				t.Fatalf("%s feed not newest first", ev)
			}
		}
		if two := must(c.Recent(ctx, ev, vendors.PageRequest{Limit: 2}))(t).Items; len(two) != min(2, len(recent)) || two[0].ID != recent[0].ID {
			t.Fatalf("%s feed, limit 2: %+v", ev, two)
		}
	}
	if _, err := c.Recent(ctx, "deal_won", vendors.PageRequest{}); emulator.VendorError(t, err).Fields["event"] == "" {
		t.Fatalf("unknown event: %v", err)
	}
	// A feed is one page: no cursor is one of its.
	if _, err := c.Recent(ctx, "message_received", vendors.PageRequest{Cursor: vendors.Cursor("page", vendors.Fields("2", "10"))}); emulator.VendorError(t, err).Fields["cursor"] == "" {
		t.Fatalf("cursor on a feed: %v", err)
	}
}

func TestContactLifecycle(t *testing.T) {
	c, srv := setup(t, qyvotest.Options{}, vendors.Options{})
	before := srv.ContactCount()
	up := must(c.CreateContact(ctx, qyvo.NewContact{Phone: "+14155550999", Name: "Kiran Dutta", Tags: []string{"lead"}}))(t)
	if !up.Created || up.Contact.Phone != "+14155550999" || up.Contact.LastInboundAt != nil {
		t.Fatalf("create = %+v", up)
	}
	// The same phone, formatted differently, is the same contact: an update.
	again := must(c.CreateContact(ctx, qyvo.NewContact{Phone: "+1 (415) 555-0999", Email: "kiran@harbourline.example", Tags: []string{"vip"}}))(t)
	if again.Created || again.Contact.ID != up.Contact.ID || again.Contact.Name != "Kiran Dutta" ||
		strings.Join(again.Contact.Tags, ",") != "lead,vip" || srv.ContactCount() != before+1 {
		t.Fatalf("upsert = %+v", again)
	}
	id := up.Contact.ID
	for _, l := range []qyvo.ContactLookup{{ID: id}, {Phone: "+14155550999"}, {Email: "KIRAN@harbourline.example"}} {
		if got := must(c.GetContact(ctx, l))(t); got.ID != id {
			t.Fatalf("GetContact(%+v) = %+v", l, got)
		}
	}
	upd := must(c.UpdateContact(ctx, qyvo.ContactUpdate{Phone: "+14155550999", Name: "Kiran D.", Tags: []string{}}))(t)
	if upd.Name != "Kiran D." || len(upd.Tags) != 0 {
		t.Fatalf("update = %+v", upd)
	}
	must(c.AddTag(ctx, id, "webinar-2026"))(t)
	upd = must(c.AddTag(ctx, id, "webinar-2026"))(t)
	if strings.Join(upd.Tags, ",") != "webinar-2026" {
		t.Fatalf("add-tag twice = %v", upd.Tags)
	}
	must(c.RemoveTag(ctx, id, "webinar-2026"))(t)
	upd = must(c.RemoveTag(ctx, id, "webinar-2026"))(t)
	if len(upd.Tags) != 0 {
		t.Fatalf("remove-tag twice = %v", upd.Tags)
	}
	found := must(c.SearchContacts(ctx, qyvo.Search{Query: "kiran"}, vendors.PageRequest{}))(t)
	if len(found.Items) != 1 || found.Items[0].ID != id || found.Total != 1 || found.Next != "" {
		t.Fatalf("search = %+v", found)
	}
	vip := must(c.SearchContacts(ctx, qyvo.Search{Tag: "vip"}, vendors.PageRequest{Limit: 100}))(t)
	for _, ct := range vip.Items {
		if !strings.Contains(strings.Join(ct.Tags, ","), "vip") {
			t.Fatalf("tag filter ignored: %+v", ct)
		}
	}
}

func TestMessagesSequencesAndFlows(t *testing.T) {
	c, srv := setup(t, qyvotest.Options{}, vendors.Options{})
	ct := must(c.CreateContact(ctx, qyvo.NewContact{Phone: "+447700900555", Name: "Ada"}))(t).Contact
	m := must(c.SendTemplateMessage(ctx, qyvo.TemplateMessage{ContactID: ct.ID, Template: "order_confirmation", Variables: []string{"Ada", "#1042"}}))(t)
	if m.ContactID != ct.ID || m.Language != "en" || m.Body != "Hi Ada, your order #1042 is confirmed. We will message you when it ships." {
		t.Fatalf("template message = %+v", m)
	}
	m = must(c.SendTemplateMessage(ctx, qyvo.TemplateMessage{Phone: "+5511900000001", Template: "welcome_message", Language: "pt_BR", Variables: []string{"Qyvo"}}))(t)
	if m.ContactID == "" || m.Phone != "+5511900000001" {
		t.Fatalf("template to a new phone = %+v", m)
	}
	// No inbound message: the window is closed.
	_, err := c.SendTextMessage(ctx, qyvo.TextMessage{Phone: ct.Phone, Text: "hello"})
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindInvalid || !strings.Contains(e.Fields["phone"], "template") {
		t.Fatalf("text outside the window: %+v", e)
	}
	srv.Inbound(ct.Phone, "hi there")
	m = must(c.SendTextMessage(ctx, qyvo.TextMessage{Phone: ct.Phone, Text: "Thanks for writing!"}))(t)
	if m.Type != "text" || m.Body != "Thanks for writing!" {
		t.Fatalf("text = %+v", m)
	}
	if srv.Sent() != 3 {
		t.Fatalf("sent = %d, want 3", srv.Sent())
	}
	recent := must(c.Recent(ctx, "campaign_sent", vendors.PageRequest{}))(t).Items
	if recent[0].MessageID != m.ID {
		t.Fatalf("newest campaign_sent = %+v, want message %s", recent[0], m.ID)
	}
	inbound := must(c.Recent(ctx, "message_received", vendors.PageRequest{}))(t).Items
	if inbound[0].Text != "hi there" || inbound[0].ContactID != ct.ID {
		t.Fatalf("newest message_received = %+v", inbound[0])
	}

	seqs := must(c.ListSequences(ctx))(t)
	run := must(c.TriggerSequence(ctx, seqs[0].ID, ct.ID))(t)
	if run.SequenceID != seqs[0].ID || run.ContactID != ct.ID || run.ID == "" {
		t.Fatalf("sequence run = %+v", run)
	}
	if ev := must(c.Recent(ctx, "sequence_triggered", vendors.PageRequest{}))(t).Items[0]; ev.SequenceID != seqs[0].ID || ev.ContactID != ct.ID {
		t.Fatalf("newest sequence_triggered = %+v", ev)
	}
	_, err = c.TriggerSequence(ctx, seqs[2].ID, ct.ID) // paused
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || !strings.Contains(e.Fields["sequence_id"], "paused") {
		t.Fatalf("paused sequence: %+v", e)
	}
	flows := must(c.ListFlows(ctx))(t)
	frun := must(c.TriggerFlow(ctx, flows[0].ID, ct.ID))(t)
	if frun.FlowID != flows[0].ID {
		t.Fatalf("flow run = %+v", frun)
	}
	if ev := must(c.Recent(ctx, "flow_triggered", vendors.PageRequest{}))(t).Items[0]; ev.FlowID != flows[0].ID {
		t.Fatalf("newest flow_triggered = %+v", ev)
	}
}

func TestTriggerFeedsHoldTheNewest100(t *testing.T) {
	c, srv := setup(t, qyvotest.Options{Empty: true}, vendors.Options{})
	for i := range 105 {
		srv.Inbound("+14155550123", "message "+string(rune('a'+i%26)))
	}
	got := must(c.Recent(ctx, "message_received", vendors.PageRequest{}))(t).Items
	if len(got) != 100 || srv.Feed("message_received") != 105 {
		t.Fatalf("got %d of %d", len(got), srv.Feed("message_received"))
	}
}

func TestLaravelValidationNamesTheField(t *testing.T) {
	c, srv := setup(t, qyvotest.Options{}, vendors.Options{})
	ct := must(c.SearchContacts(ctx, qyvo.Search{}, vendors.PageRequest{Limit: 1}))(t).Items[0]
	cases := []struct {
		name  string
		call  func() error
		field string
	}{
		{"bad phone", func() error { _, err := c.CreateContact(ctx, qyvo.NewContact{Phone: "12345"}); return err }, "phone"},
		{"bad email", func() error {
			_, err := c.CreateContact(ctx, qyvo.NewContact{Phone: "+14155550998", Email: "nope"})
			return err
		}, "email"},
		{"empty tag item", func() error {
			_, err := c.CreateContact(ctx, qyvo.NewContact{Phone: "+14155550998", Tags: []string{"ok", ""}})
			return err
		}, "tags"},
		{"unknown template", func() error {
			_, err := c.SendTemplateMessage(ctx, qyvo.TemplateMessage{ContactID: ct.ID, Template: "nope"})
			return err
		}, "template"},
		{"pending template", func() error {
			_, err := c.SendTemplateMessage(ctx, qyvo.TemplateMessage{ContactID: ct.ID, Template: "spring_sale", Variables: []string{"a", "b"}})
			return err
		}, "template"},
		{"wrong language", func() error {
			_, err := c.SendTemplateMessage(ctx, qyvo.TemplateMessage{ContactID: ct.ID, Template: "payment_due", Language: "fr", Variables: []string{"a", "b"}})
			return err
		}, "language"},
		{"variable count", func() error {
			_, err := c.SendTemplateMessage(ctx, qyvo.TemplateMessage{ContactID: ct.ID, Template: "payment_due", Variables: []string{"a"}})
			return err
		}, "variables"},
		{"phone and contact_id", func() error {
			_, err := c.SendTemplateMessage(ctx, qyvo.TemplateMessage{Phone: ct.Phone, ContactID: ct.ID, Template: "feedback_request"})
			return err
		}, "phone"},
		{"unknown contact to tag", func() error {
			_, err := c.AddTag(ctx, "00000000-0000-4000-8000-000000000000", "x")
			return err
		}, "contact_id"},
		{"page too large", func() error {
			_, err := c.SearchContacts(ctx, qyvo.Search{}, vendors.PageRequest{Limit: 101})
			return err
		}, "limit"},
		{"get with two keys", func() error { _, err := c.GetContact(ctx, qyvo.ContactLookup{ID: ct.ID, Email: ct.Email}); return err }, "id"},
	}
	for _, tc := range cases {
		e := emulator.VendorError(t, tc.call())
		if e.Kind != vendors.KindInvalid || e.Status != 422 || e.Fields[tc.field] == "" {
			t.Errorf("%s: %+v", tc.name, e)
		}
		if strings.Contains(e.Error(), "..") {
			t.Errorf("%s: %q", tc.name, e.Error())
		}
	}
	if srv.Sent() != 0 {
		t.Fatalf("a rejected send was delivered")
	}
}

func TestUnknownIDIsNotFound(t *testing.T) {
	c, _ := setup(t, qyvotest.Options{}, vendors.Options{})
	const id = "00000000-0000-4000-8000-000000000000"
	_, err1 := c.GetContact(ctx, qyvo.ContactLookup{ID: id})
	_, err2 := c.GetSequence(ctx, id)
	_, err3 := c.GetFlow(ctx, id)
	_, err4 := c.UpdateContact(ctx, qyvo.ContactUpdate{ID: id, Name: "X"})
	for i, err := range []error{err1, err2, err3, err4} {
		if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound || e.Status != 404 {
			t.Errorf("call %d: %+v", i, e)
		}
	}
}

func TestBadTokenIsAuthError(t *testing.T) {
	srv := qyvotest.NewServer(qyvotest.Options{})
	defer srv.Close()
	c := qyvo.New(qyvo.Config{APIToken: "wrong", BaseURL: srv.URL}, vendors.Options{})
	_, err := c.Me(ctx)
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindAuth || e.Status != 401 || e.Attempts != 1 || e.Message != "Unauthenticated" {
		t.Fatalf("bad token: %+v", e)
	}
}

// The retry policy is tested once for every vendor (vendors/client_test.go);
// this is Qyvo's end of it: a 503 on a GET and on a read-only POST lookup
// is retried, and Laravel's 429 becomes rate_limited with its Retry-After.
func TestFaultsEndToEnd(t *testing.T) {
	c, srv := setup(t, qyvotest.Options{RatePerMinute: 4}, vendors.Options{})
	srv.Inject(emulator.Fault{Method: http.MethodGet, Status: 503})
	must(c.ListTags(ctx))(t)
	if n := srv.Hits("GET /tags"); n != 2 {
		t.Fatalf("GET hits = %d, want 2", n)
	}
	srv.Inject(emulator.Fault{Method: http.MethodPost, Status: 503})
	p := must(c.SearchContacts(ctx, qyvo.Search{}, vendors.PageRequest{Limit: 2}))(t)
	if len(p.Items) != 2 || srv.Hits("POST /actions/search-contacts") != 2 {
		t.Fatalf("search through a 503: %+v", p)
	}
	// No retry, so the vendor's 429 is what the caller sees.
	once := qyvo.New(qyvo.Config{APIToken: qyvotest.APIToken, BaseURL: srv.URL}, vendors.Options{Retry: vendors.Retry{Attempts: 1}})
	for range 2 {
		must(once.Me(ctx))(t)
	}
	_, err := once.Me(ctx)
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindRateLimited || e.Status != 429 || e.RetryAfter <= 0 || e.Message != "Too Many Attempts" {
		t.Fatalf("429: %+v", e)
	}
	if n := srv.Hits("GET /me"); n != 3 {
		t.Fatalf("hits = %d", n)
	}
}

// Next carries the page and its size: a cursor keeps the first page's size
// when no limit comes with it, and pages see every contact once.
func TestSearchPagingSeesEveryContactOnce(t *testing.T) {
	c, srv := setup(t, qyvotest.Options{}, vendors.Options{})
	w := emulator.WalkPages(t, func(cursor string) (vendors.Page[qyvo.Contact], error) {
		r := vendors.PageRequest{Limit: 7}
		if cursor != "" {
			r = vendors.PageRequest{Cursor: cursor} // the first page's size is kept
		}
		return c.SearchContacts(ctx, qyvo.Search{}, r)
	}, func(ct qyvo.Contact) string { return ct.ID })
	for i, p := range w.Pages {
		if p.Total != srv.ContactCount() || len(p.Items) > 7 {
			t.Fatalf("page %d: %d contacts, total %d", i+1, len(p.Items), p.Total)
		}
	}
	if n := srv.ContactCount(); len(w.Seen) != n || len(w.Pages) != (n+6)/7 {
		t.Fatalf("saw %d of %d in %d pages", len(w.Seen), n, len(w.Pages))
	}
	// Qyvo's default page size (Limit 0) is kept the same way.
	first := must(c.SearchContacts(ctx, qyvo.Search{}, vendors.PageRequest{}))(t)
	second := must(c.SearchContacts(ctx, qyvo.Search{}, vendors.PageRequest{Cursor: first.Next}))(t)
	if len(first.Items) != 15 || len(second.Items) != min(15, srv.ContactCount()-15) || first.Items[0].ID == second.Items[0].ID {
		t.Fatalf("default size: %d then %d", len(first.Items), len(second.Items))
	}
}

// A cursor this client did not make is refused by name, before any request.
func TestSearchRefusesForeignCursors(t *testing.T) {
	c, srv := setup(t, qyvotest.Options{}, vendors.Options{})
	for _, cur := range []string{
		"made-up",
		vendors.Cursor("o", "20"),
		vendors.Cursor("page", "2:7"),
		vendors.Cursor("page", vendors.Fields("2")),
		vendors.Cursor("page", vendors.Fields("x", "7")),
		vendors.Cursor("page", vendors.Fields("0", "7")),
		vendors.Cursor("page", vendors.Fields("2", "0")),
		vendors.Cursor("page", vendors.Fields("2", "500")),
	} {
		_, err := c.SearchContacts(ctx, qyvo.Search{}, vendors.PageRequest{Cursor: cur})
		if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Fields["cursor"] == "" || e.Status != 0 {
			t.Errorf("cursor %q: %+v", cur, e)
		}
	}
	if n := srv.TotalHits(); n != 0 {
		t.Fatalf("%d requests reached the vendor", n)
	}
}

// A page-number cursor only stays correct with the page size it was made
// with: a different limit beside it is refused, naming limit and the size
// the cursor keeps, before any request; the same limit, or none, is fine.
func TestSearchCursorRefusesAnotherLimit(t *testing.T) {
	c, srv := setup(t, qyvotest.Options{}, vendors.Options{})
	first := must(c.SearchContacts(ctx, qyvo.Search{}, vendors.PageRequest{Limit: 7}))(t)
	dflt := must(c.SearchContacts(ctx, qyvo.Search{}, vendors.PageRequest{}))(t)
	if first.Next == "" || dflt.Next == "" {
		t.Fatalf("no second page: %q, %q", first.Next, dflt.Next)
	}
	hits := srv.TotalHits()
	for _, tc := range []struct {
		r    vendors.PageRequest
		want string
	}{
		{vendors.PageRequest{Limit: 3, Cursor: first.Next}, "this cursor pages by 7; omit limit or pass 7"},
		{vendors.PageRequest{Limit: 100, Cursor: first.Next}, "this cursor pages by 7; omit limit or pass 7"},
		{vendors.PageRequest{Limit: 2, Cursor: dflt.Next}, "this cursor pages by 15; omit limit or pass 15"},
	} {
		_, err := c.SearchContacts(ctx, qyvo.Search{}, tc.r)
		e := emulator.VendorError(t, err)
		if e.Kind != vendors.KindInvalid || e.Status != 0 || len(e.Fields) != 1 || e.Fields["limit"] != tc.want {
			t.Errorf("limit %d beside a cursor: %+v, want limit: %q", tc.r.Limit, e, tc.want)
		}
	}
	if n := srv.TotalHits() - hits; n != 0 {
		t.Fatalf("%d refused requests reached the vendor", n)
	}
	for _, r := range []vendors.PageRequest{{Cursor: first.Next}, {Limit: 7, Cursor: first.Next}} {
		if p := must(c.SearchContacts(ctx, qyvo.Search{}, r))(t); len(p.Items) != 7 {
			t.Fatalf("limit %d beside its cursor: %d contacts, want 7", r.Limit, len(p.Items))
		}
	}
}
