package ralivi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/ralivi"
	"github.com/crm-mcp/crm-mcp/vendors/ralivi/ralivitest"
)

func setup(t *testing.T, opts ralivitest.Options, o vendors.Options) (*ralivi.Client, *ralivitest.Server) {
	t.Helper()
	srv := ralivitest.NewServer(opts)
	t.Cleanup(srv.Close)
	if o.Retry.Base == 0 {
		o.Retry.Base = time.Millisecond
	}
	return ralivi.New(ralivi.Config{APIKey: ralivitest.APIKey, BaseURL: srv.URL}, o), srv
}

func TestClientMethods(t *testing.T) {
	c, srv := setup(t, ralivitest.Options{}, vendors.Options{})
	ctx := context.Background()

	contacts, err := c.ListContacts(ctx, vendors.PageRequest{})
	if err != nil || len(contacts.Items) != 36 || contacts.Total != -1 || contacts.Next != "" {
		t.Fatalf("ListContacts (default page of 50) = %d records, total %d, next %q, %v", len(contacts.Items), contacts.Total, contacts.Next, err)
	}
	first := contacts.Items[0]
	if first.ID == "" || first.Name == "" || first.CreatedAt == "" || first.Tags == nil {
		t.Fatalf("contact = %+v", first)
	}

	won, err := c.ListDeals(ctx, "closed-won", vendors.PageRequest{})
	if err != nil || len(won.Items) != srv.DealCount("closed-won") || len(won.Items) == 0 {
		t.Fatalf("ListDeals(closed-won) = %+v, %v", won, err)
	}
	for _, d := range won.Items {
		if d.Stage != "closed-won" || d.Amount == nil || d.UpdatedAt == "" || d.NextActionDueAt != "" {
			t.Fatalf("closed-won deal = %+v", d)
		}
	}
	custom, err := c.ListDeals(ctx, ralivitest.CustomStage, vendors.PageRequest{})
	if err != nil || len(custom.Items) == 0 || custom.Items[0].Stage != ralivitest.CustomStage {
		t.Fatalf("custom stage = %+v, %v", custom, err)
	}
	none, err := c.ListDeals(ctx, "no-such-stage", vendors.PageRequest{})
	if err != nil || none.Items == nil || len(none.Items) != 0 || none.Next != "" {
		t.Fatalf("unknown stage = %+v, %v", none, err)
	}

	deal := won.Items[0]
	tasks, err := c.ListTasks(ctx, ralivi.Links{DealID: deal.ID}, vendors.PageRequest{})
	if err != nil || len(tasks.Items) != srv.TaskCount(deal.ID, "") || len(tasks.Items) == 0 {
		t.Fatalf("ListTasks(deal) = %+v, %v", tasks, err)
	}
	for _, tk := range tasks.Items {
		if tk.DealID != deal.ID || tk.ContactID != deal.ContactID || tk.Title == "" {
			t.Fatalf("task = %+v (deal %+v)", tk, deal)
		}
	}
	acts, err := c.ListActivities(ctx, ralivi.Links{ContactID: deal.ContactID}, vendors.PageRequest{})
	if err != nil || len(acts.Items) != srv.ActivityCount("", deal.ContactID) {
		t.Fatalf("ListActivities(contact) = %+v, %v", acts, err)
	}
	for _, a := range acts.Items {
		if a.ContactID != deal.ContactID || a.Type == "" || a.CreatedBy == "" {
			t.Fatalf("activity = %+v", a)
		}
	}

	org, err := c.GetOrganization(ctx)
	if err != nil || org.ID == "" || org.Name == "" || org.CreatedAt == "" {
		t.Fatalf("GetOrganization = %+v, %v", org, err)
	}
}

// Nullable fields arrive as null and decode to their zero value.
func TestNullsDecode(t *testing.T) {
	c, _ := setup(t, ralivitest.Options{}, vendors.Options{})
	deals, err := c.ListDeals(context.Background(), "", vendors.PageRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	unassigned := 0
	for _, d := range deals.Items {
		if d.ContactID == "" {
			unassigned++
			if d.Amount != nil {
				t.Fatalf("null amount decoded as %v", *d.Amount)
			}
		}
	}
	if unassigned != 1 {
		t.Fatalf("%d deals without contact, the seed has 1", unassigned)
	}
}

// Next wraps Ralivi's nextCursor; paging with it sees every record once.
func TestPagingSeesEveryRecordOnce(t *testing.T) {
	c, srv := setup(t, ralivitest.Options{}, vendors.Options{})
	ctx := context.Background()
	w := emulator.WalkPages(t, func(cursor string) (vendors.Page[ralivi.Contact], error) {
		return c.ListContacts(ctx, vendors.PageRequest{Limit: 5, Cursor: cursor})
	}, func(ct ralivi.Contact) string { return ct.ID })
	for i, p := range w.Pages {
		if p.Total != -1 || len(p.Items) > 5 {
			t.Fatalf("page %d: %d records, total %d", i+1, len(p.Items), p.Total)
		}
		if p.Next == "" {
			continue
		}
		if _, err := vendors.ParseCursor(ralivi.Name, "c", p.Next); err != nil {
			t.Fatalf("next %q is not this client's cursor: %v", p.Next, err)
		}
	}
	if n := srv.ContactCount(); len(w.Seen) != n || len(w.Pages) != (n+4)/5 {
		t.Fatalf("saw %d contacts in %d pages, emulator holds %d", len(w.Seen), len(w.Pages), n)
	}
}

func TestBadKeyIsAuthError(t *testing.T) {
	srv := ralivitest.NewServer(ralivitest.Options{})
	defer srv.Close()
	c := ralivi.New(ralivi.Config{APIKey: "rlv_live_revoked", BaseURL: srv.URL}, vendors.Options{})
	_, err := c.ListContacts(context.Background(), vendors.PageRequest{})
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindAuth || e.Status != 401 || e.Attempts != 1 || e.Code != "unauthorized" {
		t.Fatalf("bad key: %+v", e)
	}
}

func TestValidationErrorsNameTheField(t *testing.T) {
	c, srv := setup(t, ralivitest.Options{}, vendors.Options{})
	ctx := context.Background()
	_, err := c.ListDeals(ctx, "", vendors.PageRequest{Limit: 101})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Status != 400 || e.Fields["limit"] == "" {
		t.Fatalf("limit 101: %+v", e)
	}
	// Not a cursor of this client (a raw nextCursor, another scheme's):
	// refused before anything is sent.
	before := srv.TotalHits()
	for _, cur := range []string{"garbled!!", "Y3RfMTIw", vendors.Cursor("o", "20")} {
		_, err = c.ListTasks(ctx, ralivi.Links{}, vendors.PageRequest{Cursor: cur})
		if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Fields["cursor"] == "" || e.Status != 0 {
			t.Fatalf("cursor %q: %+v", cur, e)
		}
	}
	if n := srv.TotalHits(); n != before {
		t.Fatalf("%d requests sent for cursors not made here", n-before)
	}
	// Ours, wrapping a nextCursor Ralivi does not know: its 400 names cursor.
	_, err = c.ListTasks(ctx, ralivi.Links{}, vendors.PageRequest{Cursor: vendors.Cursor("c", "bm9wZQ")})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Status != 400 || e.Fields["cursor"] == "" || e.Attempts != 1 {
		t.Fatalf("unknown nextCursor: %+v", e)
	}
}

// The vendor's camelCase parameter names come back as the tools' snake_case.
func TestErrorFieldIsSnakeCase(t *testing.T) {
	c, srv := setup(t, ralivitest.Options{}, vendors.Options{})
	srv.Inject(emulator.Fault{Status: 400, Body: `{"error":{"code":"invalid_parameter","message":"dealId is malformed","field":"dealId"}}`})
	_, err := c.ListActivities(context.Background(), ralivi.Links{DealID: "x"}, vendors.PageRequest{})
	if e := emulator.VendorError(t, err); e.Fields["deal_id"] != "dealId is malformed" || e.Code != "invalid_parameter" {
		t.Fatalf("field: %+v", e)
	}
	// A flat {"error": "..."} body is read too.
	srv.Inject(emulator.Fault{Status: 401, Body: `{"error":"Unauthorized"}`})
	_, err = c.GetOrganization(context.Background())
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindAuth || e.Message != "Unauthorized" {
		t.Fatalf("flat error: %+v", e)
	}
}

// Ralivi has no get-by-id endpoint; a wrong base URL is the 404 one meets.
func TestUnknownPathIsNotFound(t *testing.T) {
	srv := ralivitest.NewServer(ralivitest.Options{})
	defer srv.Close()
	c := ralivi.New(ralivi.Config{APIKey: ralivitest.APIKey, BaseURL: srv.URL + "/v2"}, vendors.Options{})
	_, err := c.ListContacts(context.Background(), vendors.PageRequest{})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound || e.Status != 404 || e.Code != "not_found" {
		t.Fatalf("unknown path: %+v", e)
	}
}

// The retry policy is tested once for every vendor (vendors/client_test.go);
// this is Ralivi's end of it: a 503 on a GET is retried, and Ralivi's own
// 429 and envelope become rate_limited with its Retry-After.
func TestFaultsEndToEnd(t *testing.T) {
	c, srv := setup(t, ralivitest.Options{RatePerMinute: 3}, vendors.Options{})
	ctx := context.Background()
	srv.Inject(emulator.Fault{Status: 503})
	p, err := c.ListDeals(ctx, "", vendors.PageRequest{Limit: 3})
	if err != nil || len(p.Items) != 3 || p.Next == "" {
		t.Fatalf("GET through a 503: %+v, %v", p, err)
	}
	if n := srv.Hits("GET /deals"); n != 2 {
		t.Fatalf("hits = %d, want 2", n)
	}
	// No retry, so the vendor's 429 is what the caller sees.
	once := ralivi.New(ralivi.Config{APIKey: ralivitest.APIKey, BaseURL: srv.URL}, vendors.Options{Retry: vendors.Retry{Attempts: 1}})
	for range 2 {
		if _, err := once.GetOrganization(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, err = once.GetOrganization(ctx)
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindRateLimited || e.Status != 429 || e.RetryAfter <= 0 || e.Code != "rate_limited" {
		t.Fatalf("429: %+v", e)
	}
	if n := srv.Hits("GET /organizations"); n != 3 {
		t.Fatalf("hits = %d", n)
	}
}

// The API is read-only: anything but GET is refused, and the client sends none.
func TestOnlyGETIsServed(t *testing.T) {
	srv := ralivitest.NewServer(ralivitest.Options{})
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/contacts", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+ralivitest.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /contacts: %d", resp.StatusCode)
	}
}
