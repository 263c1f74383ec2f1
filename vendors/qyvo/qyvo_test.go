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
		recent := must(c.Recent(ctx, ev))(t)
		if len(recent) == 0 {
			t.Fatalf("%s feed is empty", ev)
		}
		for i := 1; i < len(recent); i++ {
			if recent[i].CreatedAt.After(recent[i-1].CreatedAt) {
				t.Fatalf("%s feed not newest first", ev)
			}
		}
	}
	if _, err := c.Recent(ctx, "deal_won"); emulator.VendorError(t, err).Fields["event"] == "" {
		t.Fatalf("unknown event: %v", err)
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
	found := must(c.SearchContacts(ctx, qyvo.Search{Query: "kiran"}))(t)
	if len(found.Data) != 1 || found.Data[0].ID != id || found.Meta.Total != 1 {
		t.Fatalf("search = %+v", found)
	}
	vip := must(c.SearchContacts(ctx, qyvo.Search{Tag: "vip", PerPage: 100}))(t)
	for _, ct := range vip.Data {
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
	recent := must(c.Recent(ctx, "campaign_sent"))(t)
	if recent[0].MessageID != m.ID {
		t.Fatalf("newest campaign_sent = %+v, want message %s", recent[0], m.ID)
	}
	inbound := must(c.Recent(ctx, "message_received"))(t)
	if inbound[0].Text != "hi there" || inbound[0].ContactID != ct.ID {
		t.Fatalf("newest message_received = %+v", inbound[0])
	}

	seqs := must(c.ListSequences(ctx))(t)
	run := must(c.TriggerSequence(ctx, seqs[0].ID, ct.ID))(t)
	if run.SequenceID != seqs[0].ID || run.ContactID != ct.ID || run.ID == "" {
		t.Fatalf("sequence run = %+v", run)
	}
	if ev := must(c.Recent(ctx, "sequence_triggered"))(t)[0]; ev.SequenceID != seqs[0].ID || ev.ContactID != ct.ID {
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
	if ev := must(c.Recent(ctx, "flow_triggered"))(t)[0]; ev.FlowID != flows[0].ID {
		t.Fatalf("newest flow_triggered = %+v", ev)
	}
}

func TestTriggerFeedsHoldTheNewest100(t *testing.T) {
	c, srv := setup(t, qyvotest.Options{Empty: true}, vendors.Options{})
	for i := range 105 {
		srv.Inbound("+14155550123", "message "+string(rune('a'+i%26)))
	}
	got := must(c.Recent(ctx, "message_received"))(t)
	if len(got) != 100 || srv.Feed("message_received") != 105 {
		t.Fatalf("got %d of %d", len(got), srv.Feed("message_received"))
	}
}

func TestLaravelValidationNamesTheField(t *testing.T) {
	c, srv := setup(t, qyvotest.Options{}, vendors.Options{})
	ct := must(c.SearchContacts(ctx, qyvo.Search{PerPage: 1}))(t).Data[0]
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
		{"page too large", func() error { _, err := c.SearchContacts(ctx, qyvo.Search{PerPage: 101}); return err }, "limit"},
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

func TestRateLimitFromVendorIsRateLimitedWithRetryAfter(t *testing.T) {
	c, srv := setup(t, qyvotest.Options{RatePerMinute: 3}, vendors.Options{Retry: vendors.Retry{Attempts: 1}})
	for range 3 {
		must(c.Me(ctx))(t)
	}
	_, err := c.Me(ctx)
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindRateLimited || e.Status != 429 || e.RetryAfter <= 0 || e.Message != "Too Many Attempts" {
		t.Fatalf("429: %+v", e)
	}
	if n := srv.Hits("GET /me"); n != 4 {
		t.Fatalf("hits = %d", n)
	}
}

func TestSearchPagingSeesEveryContactOnce(t *testing.T) {
	c, srv := setup(t, qyvotest.Options{}, vendors.Options{})
	seen := map[string]bool{}
	for page := 1; ; page++ {
		p := must(c.SearchContacts(ctx, qyvo.Search{Page: page, PerPage: 7}))(t)
		for _, ct := range p.Data {
			if seen[ct.ID] {
				t.Fatalf("%s on two pages", ct.ID)
			}
			seen[ct.ID] = true
		}
		if p.Meta.CurrentPage >= p.Meta.LastPage {
			if p.Meta.Total != srv.ContactCount() || page != 5 {
				t.Fatalf("meta %+v after %d pages", p.Meta, page)
			}
			break
		}
	}
	if len(seen) != srv.ContactCount() {
		t.Fatalf("saw %d of %d", len(seen), srv.ContactCount())
	}
}

func TestSafeCallsRecoverThrough503s(t *testing.T) {
	c, srv := setup(t, qyvotest.Options{}, vendors.Options{})
	srv.Inject(emulator.Fault{Status: 503}, emulator.Fault{Status: 503})
	must(c.ListTags(ctx))(t)
	if n := srv.Hits("GET /tags"); n != 3 {
		t.Fatalf("GET hits = %d, want 3", n)
	}
	// A read-only POST lookup is retried too.
	srv.Inject(emulator.Fault{Method: http.MethodPost, Status: 503})
	p := must(c.SearchContacts(ctx, qyvo.Search{PerPage: 2}))(t)
	if len(p.Data) != 2 || srv.Hits("POST /actions/search-contacts") != 2 {
		t.Fatalf("search through a 503: %+v", p)
	}
}

func TestSendNotResentAfter503(t *testing.T) {
	c, srv := setup(t, qyvotest.Options{}, vendors.Options{})
	srv.Inject(emulator.Fault{Method: http.MethodPost, Status: 503, AfterHandling: true})
	_, err := c.SendTemplateMessage(ctx, qyvo.TemplateMessage{Phone: "+14155550101", Template: "feedback_request"})
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindUncertain || e.Status != 503 || e.Attempts != 1 {
		t.Fatalf("send 503: %+v", e)
	}
	if n := srv.Hits("POST /actions/send-template-message"); n != 1 || srv.Sent() != 1 {
		t.Fatalf("sent %d times (hits %d), want once", srv.Sent(), n)
	}
}
