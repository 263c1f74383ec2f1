package vixiees_test

import (
	"context"
	"net/http"
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

	page, err := c.ListContacts(ctx, vixiees.ListParams{Page: 2, Limit: 5})
	if err != nil || len(page.Data) != 5 || page.Total != 36 || page.Page != 2 || page.Limit != 5 {
		t.Fatalf("ListContacts = %+v, %v", page, err)
	}
	since := page.Data[0].UpdatedAt
	recent, err := c.ListContacts(ctx, vixiees.ListParams{UpdatedFrom: &since, Limit: 1000})
	if err != nil || recent.Total == 0 || recent.Total >= 36 {
		t.Fatalf("updated_at_from: %+v, %v", recent, err)
	}
	for _, ct := range recent.Data {
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
	deals, err := c.ListDeals(ctx, vixiees.ListParams{Limit: 1000})
	if err != nil || deals.Total != 21 || len(deals.Data) != 21 || deals.Data[20].ID != d.ID {
		t.Fatalf("ListDeals (newest update last) = %d of %d, %v", len(deals.Data), deals.Total, err)
	}

	recs, err := c.ListRecordings(ctx, vixiees.ListParams{})
	if err != nil || recs.Total != 12 || recs.Limit != 100 {
		t.Fatalf("ListRecordings = %+v, %v", recs, err)
	}
	rec, err := c.GetRecording(ctx, recs.Data[3].ID)
	if err != nil || rec.ID != recs.Data[3].ID || rec.URL == "" || rec.DurationSeconds <= 0 || rec.TranscriptSummary == "" {
		t.Fatalf("GetRecording = %+v, %v", rec, err)
	}

	tpls, err := c.ListTemplates(ctx, vixiees.ListParams{})
	if err != nil || len(tpls.Data) < 4 {
		t.Fatalf("ListTemplates = %+v, %v", tpls, err)
	}
	var tpl vixiees.Template
	for _, x := range tpls.Data {
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
	seen := map[string]bool{}
	for p := 1; ; p++ {
		page, err := c.ListContacts(context.Background(), vixiees.ListParams{Page: p, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		for _, ct := range page.Data {
			if seen[ct.ID] {
				t.Fatalf("%s on two pages", ct.ID)
			}
			seen[ct.ID] = true
		}
		if p*7 >= page.Total {
			break
		}
	}
	if n, _, _ := srv.Counts(); len(seen) != n {
		t.Fatalf("saw %d of %d contacts", len(seen), n)
	}
}

func TestBadKeyIsAuthError(t *testing.T) {
	srv := vixieestest.NewServer(vixieestest.Options{})
	defer srv.Close()
	c := vixiees.New(vixiees.Config{APIKey: "vx_live_wrong", BaseURL: srv.URL}, vendors.Options{})
	_, err := c.GetRecording(context.Background(), "rec_801")
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
			_, err := c.ListDeals(ctx, vixiees.ListParams{Limit: 1001})
			return err
		}, "limit"},
		{"negative limit", func() error { _, err := c.ListDeals(ctx, vixiees.ListParams{Limit: -5}); return err }, "limit"},
		{"unknown contact", func() error {
			_, err := c.CreateDeal(ctx, vixiees.DealFields{Title: "X", ContactID: "ct_0"})
			return err
		}, "contact_id"},
		{"wrong variable count", func() error {
			_, err := c.SendTemplate(ctx, "tpl_102", vixiees.SendMessage{Phone: "+5511987650101", Variables: []string{"Ana"}})
			return err
		}, "variables"},
		{"no recipient", func() error {
			_, err := c.SendTemplate(ctx, "tpl_101", vixiees.SendMessage{Variables: []string{"Ana"}})
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
	_, err := c.ListContacts(context.Background(), vixiees.ListParams{})
	e := emulator.VendorError(t, err)
	if e.Fields["updated_since"] != "invalid date" || e.Fields["cursor"] != "must be 1 or more" || e.Fields["contact_id"] != "unknown" {
		t.Fatalf("fields = %v", e.Fields)
	}
}

func TestUnknownIDsAreNotFound(t *testing.T) {
	c, _ := setup(t, vixieestest.Options{}, vendors.Options{})
	ctx := context.Background()
	_, err := c.GetRecording(ctx, "rec_0")
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound || e.Status != 404 {
		t.Fatalf("recording: %+v", e)
	}
	_, err = c.UpdateDeal(ctx, "dl_0", vixiees.DealFields{Stage: "won"})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound {
		t.Fatalf("deal: %+v", e)
	}
	_, err = c.SendTemplate(ctx, "tpl_0", vixiees.SendMessage{Phone: "+5511987650101"})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound {
		t.Fatalf("template: %+v", e)
	}
}

// hammer calls a cheap GET until the emulator answers 429 and returns how
// many calls succeeded first and the error.
func hammer(t *testing.T, c *vixiees.Client, max int) (int, *vendors.Error) {
	t.Helper()
	for i := range max {
		if _, err := c.GetRecording(context.Background(), "rec_801"); err != nil {
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
		if _, err := c.GetRecording(context.Background(), "rec_801"); err != nil {
			t.Fatalf("unlimited emulator: %v", err)
		}
	}
}

func TestGETRetriedThrough503s(t *testing.T) {
	c, srv := setup(t, vixieestest.Options{}, vendors.Options{})
	srv.Inject(emulator.Fault{Status: 503}, emulator.Fault{Status: 503})
	rec, err := c.GetRecording(context.Background(), "rec_801")
	if err != nil || rec.ID != "rec_801" {
		t.Fatalf("GET through two 503s: %+v, %v", rec, err)
	}
	if n := srv.Hits("GET /recordings/{id}"); n != 3 {
		t.Fatalf("hits = %d, want 3", n)
	}
}

func TestSendNotResentAfter503(t *testing.T) {
	c, srv := setup(t, vixieestest.Options{}, vendors.Options{})
	srv.Inject(emulator.Fault{Method: http.MethodPost, Status: 503, AfterHandling: true})
	_, err := c.SendTemplate(context.Background(), "tpl_101", vixiees.SendMessage{Phone: "+5511987650101", Variables: []string{"Ana"}})
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindUncertain || e.Status != 503 || e.Attempts != 1 {
		t.Fatalf("POST 503: %+v", e)
	}
	if n := srv.Hits("POST /whatsapp_templates/{id}/send_message"); n != 1 {
		t.Fatalf("sent %d times, want once", n)
	}
	if srv.MessageCount() != 1 {
		t.Fatal("the fault was meant to let the vendor act first")
	}
}

func TestClientWindowsHoldBackBeforeTheVendor(t *testing.T) {
	// The emulator is unlimited here: only the client's own windows stop the call.
	srv := vixieestest.NewServer(vixieestest.Options{Licenses: -1})
	defer srv.Close()
	c := vixiees.New(vixiees.Config{APIKey: vixieestest.APIKey, LimitPerHour: 3, BaseURL: srv.URL},
		vendors.Options{Limiter: ratelimit.NewMemory(), Retry: vendors.Retry{MaxWait: 100 * time.Millisecond}})
	for range 3 {
		if _, err := c.GetRecording(context.Background(), "rec_801"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.GetRecording(context.Background(), "rec_801")
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindRateLimited || e.RetryAfter < 50*time.Minute || srv.TotalHits() != 3 {
		t.Fatalf("4th call in the hour: %+v, %d hits", e, srv.TotalHits())
	}
}
