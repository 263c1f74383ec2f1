package vixiees_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees/vixieestest"
)

func setup(t *testing.T, opts vixieestest.Options, o vendors.Options) (*vixiees.Client, *vixieestest.Server) {
	t.Helper()
	srv := vixieestest.NewServer(opts)
	t.Cleanup(srv.Close)
	if o.Retry.Base == 0 {
		o.Retry.Base = time.Millisecond
	}
	return vixiees.New(vixiees.Config{APIKey: vixieestest.APIKey, Licenses: 1, BaseURL: srv.URL}, o), srv
}

func TestLimitsChain(t *testing.T) {
	got := vixiees.Config{Licenses: 3}.Limits()
	want := vixiees.Limits{Per2Seconds: 40, PerMinute: 75, PerHour: 4500, PerDay: 108000}
	if got != want {
		t.Fatalf("3 licences: %+v, want %+v", got, want)
	}
	got = vixiees.Config{LimitPerHour: 1000}.Limits()
	if got.PerMinute != 25 || got.PerHour != 1000 || got.PerDay != 24000 {
		t.Fatalf("hour override: %+v", got)
	}
	if got = (vixiees.Config{LimitPerDay: 5000}).Limits(); got.PerHour != 1500 || got.PerDay != 5000 {
		t.Fatalf("day override: %+v", got)
	}
	if n := len(got.Windows()); n != 4 {
		t.Fatalf("%d windows, want 4", n)
	}
}

func TestClientMethods(t *testing.T) {
	c, srv := setup(t, vixieestest.Options{}, vendors.Options{})
	ctx := context.Background()

	first, err := c.ListContacts(ctx, vendors.PageRequest{Limit: 5}, vixiees.Filter{})
	if err != nil || len(first.Items) != 5 || first.Total != 36 || first.Next == "" {
		t.Fatalf("ListContacts = %+v, %v", first, err)
	}
	page, err := c.ListContacts(ctx, vendors.PageRequest{Cursor: first.Next}, vixiees.Filter{})
	if err != nil || len(page.Items) != 5 || page.Total != 36 || page.Next == "" || page.Items[0].ID == first.Items[0].ID {
		t.Fatalf("ListContacts page 2 = %+v, %v", page, err)
	}
	since := page.Items[0].UpdatedAt
	recent, err := c.ListContacts(ctx, vendors.PageRequest{Limit: 1000}, vixiees.Filter{UpdatedFrom: &since})
	if err != nil || recent.Total == 0 || recent.Total >= 36 || len(recent.Items) != recent.Total || recent.Next != "" {
		t.Fatalf("updated_at_from: %+v, %v", recent, err)
	}
	for _, ct := range recent.Items {
		if ct.UpdatedAt.Before(since) {
			t.Fatalf("%s updated %s, before %s", ct.ID, ct.UpdatedAt, since)
		}
	}

	ct, err := c.CreateContact(ctx, vixiees.ContactFields{Name: "Paula Reis", Email: "paula@reis.example", Phone: "+5511912345678"})
	if err != nil || ct.ID == "" || ct.Phone != "+5511912345678" {
		t.Fatalf("CreateContact = %+v, %v", ct, err)
	}
	ct, err = c.UpdateContact(ctx, ct.ID, vixiees.ContactFields{Phone: "+5511900000000"})
	if err != nil || ct.Phone != "+5511900000000" || ct.Name != "Paula Reis" {
		t.Fatalf("UpdateContact = %+v, %v", ct, err)
	}

	v := int64(250000)
	d, err := c.CreateDeal(ctx, vixiees.DealFields{Title: "Reis — Pilot", ContactID: ct.ID, Value: &v})
	if err != nil || d.Stage != "new" || d.Value != v || d.ContactID != ct.ID {
		t.Fatalf("CreateDeal = %+v, %v", d, err)
	}
	d, err = c.UpdateDeal(ctx, d.ID, vixiees.DealFields{Stage: "won"})
	if err != nil || d.Stage != "won" || d.Value != v {
		t.Fatalf("UpdateDeal = %+v, %v", d, err)
	}
	deals, err := c.ListDeals(ctx, vendors.PageRequest{Limit: 1000}, vixiees.Filter{})
	if err != nil || deals.Total != 21 || len(deals.Items) != 21 || deals.Items[20].ID != d.ID || deals.Next != "" {
		t.Fatalf("ListDeals (newest update last) = %d of %d, %v", len(deals.Items), deals.Total, err)
	}

	recs, err := c.ListRecordings(ctx, vendors.PageRequest{})
	if err != nil || recs.Total != 12 || len(recs.Items) != 12 || recs.Next != "" {
		t.Fatalf("ListRecordings (default page of 100) = %+v, %v", recs, err)
	}
	rec, err := c.GetRecording(ctx, recs.Items[3].ID)
	if err != nil || rec.ID != recs.Items[3].ID || rec.URL == "" || rec.DurationSeconds <= 0 || rec.TranscriptSummary == "" {
		t.Fatalf("GetRecording = %+v, %v", rec, err)
	}

	tpls, err := c.ListTemplates(ctx, vendors.PageRequest{})
	if err != nil || len(tpls.Items) < 4 || tpls.Total != len(tpls.Items) {
		t.Fatalf("ListTemplates = %+v, %v", tpls, err)
	}
	var tpl vixiees.Template
	for _, x := range tpls.Items {
		if x.VariableCount == 2 {
			tpl = x
		}
	}
	msg, err := c.SendTemplate(ctx, tpl.ID, vixiees.SendMessage{ContactID: ct.ID, Variables: []string{"Paula", "P-77"}})
	if err != nil || msg.Phone != "+5511900000000" || msg.Status != "queued" || msg.TemplateID != tpl.ID {
		t.Fatalf("SendTemplate = %+v, %v", msg, err)
	}
	if srv.MessageCount() != 1 {
		t.Fatalf("messages = %d", srv.MessageCount())
	}

	due := time.Date(2026, 7, 1, 15, 0, 0, 0, time.UTC)
	task, err := c.CreateTask(ctx, vixiees.NewTask{Title: "Call Paula", ContactID: ct.ID, DealID: d.ID, DueAt: &due})
	if err != nil || task.Status != "open" || !task.DueAt.Equal(due) || srv.TaskCount() != 1 {
		t.Fatalf("CreateTask = %+v, %v", task, err)
	}
}

func TestPagingSeesEveryRecordOnce(t *testing.T) {
	c, srv := setup(t, vixieestest.Options{}, vendors.Options{})
	w := emulator.WalkPages(t, func(cursor string) (vendors.Page[vixiees.Contact], error) {
		r := vendors.PageRequest{Limit: 7}
		if cursor != "" {
			r = vendors.PageRequest{Cursor: cursor} // the cursor keeps the page size
		}
		return c.ListContacts(context.Background(), r, vixiees.Filter{})
	}, func(ct vixiees.Contact) string { return ct.ID })
	n, _, _ := srv.Counts()
	if len(w.Seen) != n || len(w.Pages) != (n+6)/7 {
		t.Fatalf("saw %d of %d contacts in %d pages", len(w.Seen), n, len(w.Pages))
	}
}

// A cursor pins the first page's size and updated_at_from: later pages
// keep them, and a different limit or filter beside a cursor is refused,
// naming the argument, before anything is sent. So is a cursor this
// client did not make.
func TestCursorKeepsPageSizeAndFilter(t *testing.T) {
	c, srv := setup(t, vixieestest.Options{}, vendors.Options{})
	ctx := context.Background()
	all, err := c.ListContacts(ctx, vendors.PageRequest{Limit: 1000}, vixiees.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	since := all.Items[20].UpdatedAt
	f := vixiees.Filter{UpdatedFrom: &since}
	first, err := c.ListContacts(ctx, vendors.PageRequest{Limit: 4}, f)
	if err != nil || len(first.Items) != 4 || first.Total >= all.Total || first.Next == "" {
		t.Fatalf("filtered first page = %+v, %v", first, err)
	}
	n := len(first.Items)
	for r := (vendors.PageRequest{Cursor: first.Next}); r.Cursor != ""; {
		page, err := c.ListContacts(ctx, r, vixiees.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) > 4 || page.Total != first.Total {
			t.Fatalf("a later page has %d of %d: the cursor lost the page size or the filter", len(page.Items), page.Total)
		}
		for _, ct := range page.Items {
			if ct.UpdatedAt.Before(since) {
				t.Fatalf("%s updated %s, before %s: the cursor lost the filter", ct.ID, ct.UpdatedAt, since)
			}
		}
		n += len(page.Items)
		r.Cursor = page.Next
	}
	if n != first.Total {
		t.Fatalf("paged %d of %d filtered contacts", n, first.Total)
	}

	// Repeating the first page's limit and filter beside the cursor is fine.
	same := since.Add(0)
	if _, err := c.ListContacts(ctx, vendors.PageRequest{Limit: 4, Cursor: first.Next}, vixiees.Filter{UpdatedFrom: &same}); err != nil {
		t.Fatalf("same limit and filter: %v", err)
	}

	other := since.Add(-time.Hour)
	plain, err := c.ListContacts(ctx, vendors.PageRequest{Limit: 4}, vixiees.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	hits := srv.TotalHits()
	cases := []struct {
		name  string
		r     vendors.PageRequest
		f     vixiees.Filter
		field string
		want  string
	}{
		{"other limit", vendors.PageRequest{Limit: 5, Cursor: first.Next}, f, "limit", "this cursor pages by 4; omit limit or pass 4"},
		{"other filter", vendors.PageRequest{Cursor: first.Next}, vixiees.Filter{UpdatedFrom: &other}, "updated_since", "differs from the first page's"},
		{"filter added", vendors.PageRequest{Cursor: plain.Next}, f, "updated_since", "differs from the first page's"},
		{"made up", vendors.PageRequest{Cursor: "made-up"}, vixiees.Filter{}, "cursor", "not a cursor"},
		{"offset scheme", vendors.PageRequest{Cursor: vendors.Cursor("o", "5")}, vixiees.Filter{}, "cursor", "not a cursor"},
		{"missing fields", vendors.PageRequest{Cursor: vendors.Cursor("p", "2")}, vixiees.Filter{}, "cursor", "not a cursor"},
		{"page 0", vendors.PageRequest{Cursor: vendors.Cursor("p", vendors.Fields("0", "4", ""))}, vixiees.Filter{}, "cursor", "not a cursor"},
		{"limit over 1000", vendors.PageRequest{Cursor: vendors.Cursor("p", vendors.Fields("2", "1001", ""))}, vixiees.Filter{}, "cursor", "not a cursor"},
		{"bad time", vendors.PageRequest{Cursor: vendors.Cursor("p", vendors.Fields("2", "4", "yesterday"))}, vixiees.Filter{}, "cursor", "not a cursor"},
	}
	for _, tc := range cases {
		_, err := c.ListContacts(ctx, tc.r, tc.f)
		e := emulator.VendorError(t, err)
		if e.Kind != vendors.KindInvalid || !strings.Contains(e.Fields[tc.field], tc.want) {
			t.Errorf("%s: %+v, want %s: %q", tc.name, e, tc.field, tc.want)
		}
	}
	if got := srv.TotalHits() - hits; got != 0 {
		t.Fatalf("%d refused requests reached the vendor", got)
	}
}

func TestBadKeyIsAuthError(t *testing.T) {
	srv := vixieestest.NewServer(vixieestest.Options{})
	defer srv.Close()
	c := vixiees.New(vixiees.Config{APIKey: "vx_live_wrong", BaseURL: srv.URL}, vendors.Options{})
	_, err := c.GetRecording(context.Background(), "vx_rec_801")
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindAuth || e.Status != 401 || e.Attempts != 1 || e.Message == "" {
		t.Fatalf("bad key: %+v", e)
	}
}

func TestValidationEnvelopeNamesOurField(t *testing.T) {
	c, _ := setup(t, vixieestest.Options{}, vendors.Options{})
	ctx := context.Background()
	cases := []struct {
		name  string
		call  func() error
		field string
	}{
		{"bad phone", func() error {
			_, err := c.CreateContact(ctx, vixiees.ContactFields{Name: "A", Phone: "11 98765-4321"})
			return err
		}, "phone"},
		{"limit over 1000", func() error {
			_, err := c.ListDeals(ctx, vendors.PageRequest{Limit: 1001}, vixiees.Filter{})
			return err
		}, "limit"},
		{"negative limit", func() error {
			_, err := c.ListDeals(ctx, vendors.PageRequest{Limit: -5}, vixiees.Filter{})
			return err
		}, "limit"},
		{"unknown contact", func() error {
			_, err := c.CreateDeal(ctx, vixiees.DealFields{Title: "X", ContactID: "vx_ct_0"})
			return err
		}, "contact_id"},
		{"wrong variable count", func() error {
			_, err := c.SendTemplate(ctx, "vx_tpl_102", vixiees.SendMessage{Phone: "+5511987650101", Variables: []string{"Ana"}})
			return err
		}, "variables"},
		{"no recipient", func() error {
			_, err := c.SendTemplate(ctx, "vx_tpl_101", vixiees.SendMessage{Variables: []string{"Ana"}})
			return err
		}, "phone"},
	}
	for _, tc := range cases {
		e := emulator.VendorError(t, tc.call())
		if e.Kind != vendors.KindInvalid || e.Status != 422 || e.Fields[tc.field] == "" {
			t.Errorf("%s: %+v, want 422 naming %s", tc.name, e, tc.field)
		}
	}
}

func TestVendorQueryNamesBecomeArguments(t *testing.T) {
	// The vendor names its query parameters; the tools name arguments.
	c, srv := setup(t, vixieestest.Options{}, vendors.Options{})
	srv.Inject(emulator.Fault{Status: 422, Body: `{"error":"Validation failed","details":{"updated_at_from":"invalid date","page":["must be 1 or more"],"contactId":"unknown"}}`})
	_, err := c.ListContacts(context.Background(), vendors.PageRequest{}, vixiees.Filter{})
	e := emulator.VendorError(t, err)
	if e.Fields["updated_since"] != "invalid date" || e.Fields["cursor"] != "must be 1 or more" || e.Fields["contact_id"] != "unknown" {
		t.Fatalf("fields = %v", e.Fields)
	}
}

func TestUnknownIDsAreNotFound(t *testing.T) {
	c, _ := setup(t, vixieestest.Options{}, vendors.Options{})
	ctx := context.Background()
	_, err := c.GetRecording(ctx, "vx_rec_0")
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound || e.Status != 404 {
		t.Fatalf("recording: %+v", e)
	}
	_, err = c.UpdateDeal(ctx, "vx_deal_0", vixiees.DealFields{Stage: "won"})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound {
		t.Fatalf("deal: %+v", e)
	}
	_, err = c.SendTemplate(ctx, "vx_tpl_0", vixiees.SendMessage{Phone: "+5511987650101"})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound {
		t.Fatalf("template: %+v", e)
	}
}

// hammer calls a cheap GET until the emulator answers 429 and returns how
// many calls succeeded first and the error.
func hammer(t *testing.T, c *vixiees.Client, max int) (int, *vendors.Error) {
	t.Helper()
	for i := range max {
		if _, err := c.GetRecording(context.Background(), "vx_rec_801"); err != nil {
			return i, emulator.VendorError(t, err)
		}
	}
	t.Fatalf("no 429 after %d calls", max)
	return 0, nil
}

func TestEmulatorEnforcesTheHardLimit(t *testing.T) {
	// 3 per 2 s stands in for 40 per 2 s; the per-minute limit is higher.
	c, srv := setup(t, vixieestest.Options{Per2Seconds: 3}, vendors.Options{Retry: vendors.Retry{Attempts: 1}})
	n, e := hammer(t, c, 10)
	if n != 3 || e.Kind != vendors.KindRateLimited || e.Status != 429 || e.RetryAfter <= 0 || e.RetryAfter > 3*time.Second {
		t.Fatalf("after %d calls: %+v", n, e)
	}
	if e.Fields != nil || e.Message == "" {
		t.Fatalf("a 429's details are not argument errors: %+v", e)
	}
	if srv.TotalHits() != 4 {
		t.Fatalf("hits = %d", srv.TotalHits())
	}
}

func TestEmulatorEnforcesThePerMinuteLimit(t *testing.T) {
	c, _ := setup(t, vixieestest.Options{PerMinute: 4}, vendors.Options{Retry: vendors.Retry{Attempts: 1}})
	n, e := hammer(t, c, 10)
	if n != 4 || e.Kind != vendors.KindRateLimited || e.RetryAfter <= 3*time.Second {
		t.Fatalf("after %d calls: %+v (Retry-After must point past the 2 s window)", n, e)
	}
}

func TestEmulatorScalesWithLicences(t *testing.T) {
	// One licence: 25 per minute, below the hard 40 per 2 s.
	c, _ := setup(t, vixieestest.Options{}, vendors.Options{Retry: vendors.Retry{Attempts: 1}})
	if n, e := hammer(t, c, 50); n != 25 || e.RetryAfter <= 3*time.Second {
		t.Fatalf("1 licence: %d calls then %+v", n, e)
	}
	// Hour and day windows, shrunk: the hour's limit is hit first.
	c, _ = setup(t, vixieestest.Options{Licenses: 4, PerHour: 5, PerDay: 8}, vendors.Options{Retry: vendors.Retry{Attempts: 1}})
	if n, e := hammer(t, c, 20); n != 5 || e.RetryAfter < 59*time.Minute {
		t.Fatalf("per hour: %d calls then %+v", n, e)
	}
	c, _ = setup(t, vixieestest.Options{Licenses: 4, PerDay: 6}, vendors.Options{Retry: vendors.Retry{Attempts: 1}})
	// The emulator says "retry in ~24 h"; the client obeys at most
	// Retry.MaxRetryAfter (1 h), and its own day window holds it back after.
	if n, e := hammer(t, c, 20); n != 6 || e.RetryAfter != vendors.DefaultMaxRetryAfter {
		t.Fatalf("per day: %d calls then %+v", n, e)
	}
	c, _ = setup(t, vixieestest.Options{Licenses: -1}, vendors.Options{})
	for range 60 {
		if _, err := c.GetRecording(context.Background(), "vx_rec_801"); err != nil {
			t.Fatalf("unlimited emulator: %v", err)
		}
	}
}

// The retry policy is tested once for every vendor (vendors/client_test.go);
// this is Vixiees' part of it end to end: a 503 on a GET is retried, and a
// 429 in Vixiees' own {"error","details"} envelope is rate_limited with the
// vendor's Retry-After, its details not taken for argument errors.
func TestVendorFailuresEndToEnd(t *testing.T) {
	c, srv := setup(t, vixieestest.Options{}, vendors.Options{})
	srv.Inject(emulator.Fault{Status: 503})
	rec, err := c.GetRecording(context.Background(), "vx_rec_801")
	if err != nil || rec.ID != "vx_rec_801" || srv.Hits("GET /recordings/{id}") != 2 {
		t.Fatalf("GET through a 503: %+v, %v, %d hits", rec, err, srv.Hits("GET /recordings/{id}"))
	}

	once := vixiees.New(vixiees.Config{APIKey: vixieestest.APIKey, Licenses: 1, BaseURL: srv.URL}, vendors.Options{Retry: vendors.Retry{Attempts: 1}})
	srv.Inject(emulator.Fault{Status: 429, RetryAfter: 7, Body: `{"error":"Too many requests: a usage limit was exceeded","details":{"limits":"25/min","retry_after_seconds":"7","docs":"` + vixieestest.DocsURL + `"}}`})
	_, err = once.GetRecording(context.Background(), "vx_rec_801")
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindRateLimited || e.Status != 429 || e.RetryAfter != 7*time.Second || e.Fields != nil || !strings.Contains(e.Message, "Too many requests") {
		t.Fatalf("429: %+v", e)
	}
}

func TestClientWindowsHoldBackBeforeTheVendor(t *testing.T) {
	// The emulator is unlimited here: only the client's own windows stop the call.
	srv := vixieestest.NewServer(vixieestest.Options{Licenses: -1})
	defer srv.Close()
	c := vixiees.New(vixiees.Config{APIKey: vixieestest.APIKey, LimitPerHour: 3, BaseURL: srv.URL},
		vendors.Options{Limiter: ratelimit.NewMemory(), Retry: vendors.Retry{MaxWait: 100 * time.Millisecond}})
	for range 3 {
		if _, err := c.GetRecording(context.Background(), "vx_rec_801"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.GetRecording(context.Background(), "vx_rec_801")
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindRateLimited || e.RetryAfter < 50*time.Minute || srv.TotalHits() != 3 {
		t.Fatalf("4th call in the hour: %+v, %d hits", e, srv.TotalHits())
	}
}
