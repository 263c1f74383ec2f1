package nexvio_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/nexvio"
	"github.com/crm-mcp/crm-mcp/vendors/nexvio/nexviotest"
)

func setup(t *testing.T, opts nexviotest.Options, o vendors.Options) (*nexvio.Client, *nexviotest.Server) {
	t.Helper()
	srv := nexviotest.NewServer(opts)
	t.Cleanup(srv.Close)
	if o.Retry.Base == 0 {
		o.Retry.Base = time.Millisecond
	}
	return nexvio.New(nexvio.Config{APIKey: nexviotest.APIKey, BaseURL: srv.URL}, o), srv
}

func TestClientMethods(t *testing.T) {
	c, srv := setup(t, nexviotest.Options{}, vendors.Options{})
	ctx := context.Background()

	page, err := c.ListContacts(ctx, nexvio.ListContactsParams{Limit: 5, Offset: 5})
	if err != nil || len(page.Contacts) != 5 || page.Total != 36 || page.Offset != 5 || page.Limit != 5 {
		t.Fatalf("ListContacts = %+v, %v", page, err)
	}
	byName, err := c.ListContacts(ctx, nexvio.ListContactsParams{ChatbotID: nexviotest.Chatbots[1], SortBy: "name", SortOrder: "asc"})
	if err != nil || byName.Total != 12 {
		t.Fatalf("ListContacts by chatbot = %+v, %v", byName, err)
	}
	for i, ct := range byName.Contacts {
		if ct.ChatbotID != nexviotest.Chatbots[1] || (i > 0 && byName.Contacts[i-1].Name > ct.Name) {
			t.Fatalf("filter or sort ignored at %d: %+v", i, ct)
		}
	}
	found, err := c.ListContacts(ctx, nexvio.ListContactsParams{Search: "john@acme"})
	if err != nil || found.Total != 1 || found.Contacts[0].Metadata["company"] != "Acme Inc" {
		t.Fatalf("search = %+v, %v", found, err)
	}

	got, err := c.GetContact(ctx, "contact_1004")
	if err != nil || got.ID != "contact_1004" || len(got.Conversations) != 4 || got.Phone == "" {
		t.Fatalf("GetContact = %+v, %v", got, err)
	}

	ct, err := c.CreateContact(ctx, nexvio.NewContact{ChatbotID: nexviotest.Chatbots[0], Name: "Jane Smith",
		Email: "jane@xyzcorp.example", Phone: "+15559876543", Metadata: map[string]string{"source": "Website", "role": "Director"}})
	if err != nil || ct.ID == "" || ct.ChatbotID != nexviotest.Chatbots[0] || ct.Metadata["role"] != "Director" || ct.CreatedAt.IsZero() {
		t.Fatalf("CreateContact = %+v, %v", ct, err)
	}

	up, err := c.UpdateContact(ctx, ct.ID, nexvio.ContactUpdate{Name: "Jane Wilson-Smith", Metadata: map[string]string{"role": "VP"}})
	if err != nil || up.Name != "Jane Wilson-Smith" || up.Email != "jane@xyzcorp.example" ||
		up.Metadata["role"] != "VP" || up.Metadata["source"] != "Website" {
		t.Fatalf("UpdateContact = %+v, %v (metadata must merge)", up, err)
	}

	convs, err := c.ListConversations(ctx, "contact_1004", 2, 1)
	if err != nil || len(convs.Conversations) != 2 || convs.Total != 4 || convs.Conversations[0].ContactID != "contact_1004" {
		t.Fatalf("ListConversations = %+v, %v", convs, err)
	}

	del, err := c.DeleteContact(ctx, ct.ID)
	if err != nil || !del.Deleted || del.ID != ct.ID || srv.HasContact(ct.ID) {
		t.Fatalf("DeleteContact = %+v, %v", del, err)
	}
}

func TestDeletedContactIsNotFound(t *testing.T) {
	c, _ := setup(t, nexviotest.Options{}, vendors.Options{})
	ctx := context.Background()
	if _, err := c.DeleteContact(ctx, "contact_1001"); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetContact(ctx, "contact_1001")
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound || e.Status != 404 || e.Code != "not_found" {
		t.Fatalf("get after delete: %+v", e)
	}
	_, err = c.UpdateContact(ctx, "contact_1001", nexvio.ContactUpdate{Name: "X"})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound {
		t.Fatalf("update after delete: %+v", e)
	}
	_, err = c.DeleteContact(ctx, "contact_1001")
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound {
		t.Fatalf("delete after delete: %+v", e)
	}
	_, err = c.ListConversations(ctx, "contact_1001", 0, 0)
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound {
		t.Fatalf("conversations after delete: %+v", e)
	}
}

func TestBadKeyIsAuthError(t *testing.T) {
	srv := nexviotest.NewServer(nexviotest.Options{})
	defer srv.Close()
	c := nexvio.New(nexvio.Config{APIKey: "nx_live_wrong", BaseURL: srv.URL}, vendors.Options{})
	_, err := c.GetContact(context.Background(), "contact_1001")
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindAuth || e.Status != 401 || e.Code != "unauthorized" || e.Message != "Invalid API key" || e.Attempts != 1 {
		t.Fatalf("bad key: %+v", e)
	}
}

// The vendor's details use camelCase; the error names the tool's snake_case arguments.
func TestValidationErrorNamesSnakeCaseFields(t *testing.T) {
	c, _ := setup(t, nexviotest.Options{}, vendors.Options{})
	ctx := context.Background()
	_, err := c.CreateContact(ctx, nexvio.NewContact{ChatbotID: "chatbot_nope", Email: "nope", Phone: "call me"})
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindInvalid || e.Status != 400 || e.Code != "validation_error" ||
		e.Fields["chatbot_id"] == "" || e.Fields["email"] == "" || e.Fields["phone"] == "" {
		t.Fatalf("validation: %+v", e)
	}
	_, err = c.ListContacts(ctx, nexvio.ListContactsParams{Limit: 501})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Fields["limit"] == "" {
		t.Fatalf("limit 501: %+v", e)
	}
	_, err = c.ListContacts(ctx, nexvio.ListContactsParams{SortBy: "phone"})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Fields["sort_by"] == "" {
		t.Fatalf("sortBy: %+v", e)
	}
	_, err = c.ListConversations(ctx, "contact_1001", 101, 0)
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Fields["limit"] == "" {
		t.Fatalf("conversations limit 101: %+v", e)
	}
	_, err = c.UpdateContact(ctx, "contact_1001", nexvio.ContactUpdate{Phone: "12"})
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindInvalid || e.Fields["phone"] == "" {
		t.Fatalf("update phone: %+v", e)
	}
}

func TestUnknownIDIsNotFound(t *testing.T) {
	c, _ := setup(t, nexviotest.Options{}, vendors.Options{})
	_, err := c.GetContact(context.Background(), "contact_0")
	if e := emulator.VendorError(t, err); e.Kind != vendors.KindNotFound || e.Status != 404 || e.Message != "Contact not found" {
		t.Fatalf("unknown id: %+v", e)
	}
}

func TestRateLimitFromVendorIsRateLimitedWithRetryAfter(t *testing.T) {
	// No client-side limiter: the vendor's own limit answers 429.
	c, srv := setup(t, nexviotest.Options{RatePerMinute: 3}, vendors.Options{Retry: vendors.Retry{Attempts: 1}})
	ctx := context.Background()
	for range 3 {
		if _, err := c.GetContact(ctx, "contact_1001"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.GetContact(ctx, "contact_1001")
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindRateLimited || e.Status != 429 || e.RetryAfter <= 0 || e.Code != "rate_limited" {
		t.Fatalf("429: %+v", e)
	}
	if n := srv.Hits("GET /contacts/{id}"); n != 4 {
		t.Fatalf("hits = %d", n)
	}
}

func TestPagingSeesEveryRecordOnce(t *testing.T) {
	c, srv := setup(t, nexviotest.Options{}, vendors.Options{})
	ctx := context.Background()
	seen := map[string]bool{}
	for offset := 0; ; {
		page, err := c.ListContacts(ctx, nexvio.ListContactsParams{Limit: 7, Offset: offset, SortBy: "email"})
		if err != nil {
			t.Fatal(err)
		}
		for _, ct := range page.Contacts {
			if seen[ct.ID] {
				t.Fatalf("%s on two pages", ct.ID)
			}
			seen[ct.ID] = true
		}
		if offset += len(page.Contacts); len(page.Contacts) == 0 || offset >= page.Total {
			break
		}
	}
	if len(seen) != srv.ContactCount() {
		t.Fatalf("saw %d of %d contacts", len(seen), srv.ContactCount())
	}
	convs := map[string]bool{}
	for offset := 0; offset < srv.ConversationCount("contact_1004"); offset++ {
		page, err := c.ListConversations(ctx, "contact_1004", 1, offset)
		if err != nil || len(page.Conversations) != 1 || convs[page.Conversations[0].ID] {
			t.Fatalf("conversations at %d: %+v, %v", offset, page, err)
		}
		convs[page.Conversations[0].ID] = true
	}
}

func TestGETRetriedThrough503s(t *testing.T) {
	c, srv := setup(t, nexviotest.Options{}, vendors.Options{})
	srv.Inject(emulator.Fault{Status: 503}, emulator.Fault{Status: 503})
	got, err := c.GetContact(context.Background(), "contact_1001")
	if err != nil || got.ID != "contact_1001" {
		t.Fatalf("GET through two 503s: %+v, %v", got, err)
	}
	if n := srv.Hits("GET /contacts/{id}"); n != 3 {
		t.Fatalf("hits = %d, want 3", n)
	}
}

func TestPATCHRetriedThrough503(t *testing.T) {
	c, srv := setup(t, nexviotest.Options{}, vendors.Options{})
	srv.Inject(emulator.Fault{Method: http.MethodPatch, Status: 503, AfterHandling: true})
	got, err := c.UpdateContact(context.Background(), "contact_1001", nexvio.ContactUpdate{Name: "John Q. Doe"})
	if err != nil || got.Name != "John Q. Doe" {
		t.Fatalf("PATCH through a 503: %+v, %v", got, err)
	}
	if n := srv.Hits("PATCH /contacts/{id}"); n != 2 {
		t.Fatalf("hits = %d, want 2", n)
	}
}

func TestPOSTNotResentAfter503(t *testing.T) {
	c, srv := setup(t, nexviotest.Options{}, vendors.Options{})
	before := srv.ContactCount()
	srv.Inject(emulator.Fault{Method: http.MethodPost, Status: 503, AfterHandling: true})
	_, err := c.CreateContact(context.Background(), nexvio.NewContact{ChatbotID: nexviotest.Chatbots[0], Name: "Once"})
	e := emulator.VendorError(t, err)
	if e.Kind != vendors.KindUncertain || e.Status != 503 || e.Attempts != 1 {
		t.Fatalf("POST 503: %+v", e)
	}
	if n := srv.Hits("POST /contacts"); n != 1 {
		t.Fatalf("POST sent %d times, want once", n)
	}
	if srv.ContactCount() != before+1 {
		t.Fatal("the fault was meant to let the vendor act first")
	}
}
