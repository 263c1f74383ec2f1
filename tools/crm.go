package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/nexvio"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo"
	"github.com/crm-mcp/crm-mcp/vendors/ralivi"
	"github.com/crm-mcp/crm-mcp/vendors/vivre"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees"
)

// The crm toolset works across every configured vendor at once: one
// contact search, one lookup by email or phone, in one common shape.

// CRMContact is a contact of any vendor in the common shape.
type CRMContact struct {
	Vendor    string `json:"vendor"`
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	Email     string `json:"email,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Company   string `json:"company,omitempty"`
	UpdatedAt string `json:"updated_at,omitempty"`
}

// ContactSource is how one vendor answers the crm tools.
type ContactSource struct {
	Vendor string
	// Search returns up to limit contacts whose name, email, phone or
	// company contains query, and a note when it could not look at all of
	// them (vendors without server-side search are scanned page by page).
	Search func(ctx context.Context, query string, limit int) ([]CRMContact, string, error)
	// Enabled reports whether the caller may use this vendor (hosted
	// per-tenant credentials); nil means always.
	Enabled func(context.Context) bool
}

// VendorStatus says how one vendor's part of a crm call went.
type VendorStatus struct {
	Vendor string `json:"vendor"`
	Found  int    `json:"found"`
	Note   string `json:"note,omitempty"`
	Error  string `json:"error,omitempty"`
}

type crmResult struct {
	Contacts []CRMContact   `json:"contacts"`
	Vendors  []VendorStatus `json:"vendors"`
}

// CRM returns the cross-vendor toolset over the given sources.
func CRM(sources []ContactSource) []Tool {
	return []Tool{crmSearchContacts(sources), crmFindContact(sources)}
}

type crmSearchIn struct {
	Query string `json:"query" jsonschema:"required,minLength=1" jsonschema_description:"Text to find in name, email, phone or company."`
	Limit int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=100,default=20" jsonschema_description:"Most contacts to return per vendor."`
}

func crmSearchContacts(sources []ContactSource) Tool {
	return New("crm", "crm_search_contacts", "Search contacts in every CRM",
		"Search contacts in every configured vendor at once. Returns one list (vendor, id, name, email, phone, company, updated_at) and each vendor's status; a failing vendor does not fail the call.",
		Read, func(ctx context.Context, in crmSearchIn) (crmResult, error) {
			return fanOut(ctx, sources, func(s ContactSource) ([]CRMContact, string, error) {
				return s.Search(ctx, in.Query, orDefault(in.Limit, 20))
			}), nil
		})
}

type crmFindIn struct {
	Email string `json:"email,omitempty" jsonschema:"format=email" jsonschema_description:"Exact email address."`
	Phone string `json:"phone,omitempty" jsonschema:"pattern=^\\+[1-9][0-9]{6\\,14}$" jsonschema_description:"Exact phone, E.164, e.g. +14155550123."`
}

// Validate asks for exactly one of email and phone.
func (in crmFindIn) Validate() error {
	if (in.Email == "") == (in.Phone == "") {
		return vendors.Invalid("", "email", "give exactly one of email or phone")
	}
	return nil
}

func crmFindContact(sources []ContactSource) Tool {
	return New("crm", "crm_find_contact", "Find a contact in every CRM",
		"Find the contacts with this exact email or phone in every configured vendor. Use it before creating a contact or sending a message.",
		Read, func(ctx context.Context, in crmFindIn) (crmResult, error) {
			want := strings.ToLower(in.Email + in.Phone)
			return fanOut(ctx, sources, func(s ContactSource) ([]CRMContact, string, error) {
				found, note, err := s.Search(ctx, want, 100)
				exact := slices.DeleteFunc(found, func(c CRMContact) bool {
					return strings.ToLower(c.Email) != want && digits(c.Phone) != digits(want)
				})
				return exact, note, err
			}), nil
		})
}

// fanOut asks every enabled source at once and gathers the answers, with
// each vendor's failure reported beside the others' results.
func fanOut(ctx context.Context, sources []ContactSource, ask func(ContactSource) ([]CRMContact, string, error)) crmResult {
	var enabled []ContactSource
	for _, s := range sources {
		if s.Enabled == nil || s.Enabled(ctx) {
			enabled = append(enabled, s)
		}
	}
	res := crmResult{Contacts: []CRMContact{}, Vendors: make([]VendorStatus, len(enabled))}
	found := make([][]CRMContact, len(enabled))
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, s := range enabled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs, note, err := ask(s)
			st := VendorStatus{Vendor: s.Vendor, Found: len(cs), Note: note}
			if err != nil {
				st.Error = err.Error() // the call middleware redacts the whole result
			}
			res.Vendors[i], found[i] = st, cs
			mu.Lock()
			done++
			Progress(ctx, done, len(enabled), s.Vendor+" answered")
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, cs := range found {
		res.Contacts = append(res.Contacts, cs...)
	}
	return res
}

// isPhone reports a query that is a phone number (E.164-like).
func isPhone(q string) bool { return strings.HasPrefix(q, "+") && len(digits(q)) >= 7 }

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// matches reports whether query occurs in any of the fields.
func matches(query string, fields ...string) bool {
	q := strings.ToLower(query)
	for _, f := range fields {
		if f != "" && (strings.Contains(strings.ToLower(f), q) || (digits(q) != "" && digits(q) == digits(f))) {
			return true
		}
	}
	return false
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// scanPages is how many pages the crm tools read from a vendor that cannot
// search: enough for a small team's CRM, bounded so one call stays cheap.
const scanPages = 3

// VivreContacts searches Vivre (server-side: name, email, company).
func VivreContacts(c Clients[*vivre.Client]) ContactSource {
	return ContactSource{Vendor: vivre.Name, Search: func(ctx context.Context, q string, limit int) ([]CRMContact, string, error) {
		if isPhone(q) {
			return nil, "Vivre contacts have no phone number", nil
		}
		cl, err := c(ctx)
		if err != nil {
			return nil, "", err
		}
		page, err := cl.ListContacts(ctx, vivre.ContactFilter{Search: q}, vendors.PageRequest{Limit: limit})
		if err != nil {
			return nil, "", err
		}
		out := make([]CRMContact, 0, len(page.Items))
		for _, x := range page.Items {
			out = append(out, CRMContact{Vendor: vivre.Name, ID: x.ID, Name: x.Name, Email: x.Email, Company: x.Company, UpdatedAt: stamp(x.CreatedAt)})
		}
		return out, "", nil
	}}
}

// NexvioContacts searches Nexvio: server-side by name or email; a phone is
// matched by scanning, since Nexvio's search does not cover phones.
func NexvioContacts(c Clients[*nexvio.Client]) ContactSource {
	return ContactSource{Vendor: nexvio.Name, Search: func(ctx context.Context, q string, limit int) ([]CRMContact, string, error) {
		cl, err := c(ctx)
		if err != nil {
			return nil, "", err
		}
		f, r := nexvio.ContactFilter{Search: q}, vendors.PageRequest{Limit: limit}
		if isPhone(q) {
			f, r = nexvio.ContactFilter{}, vendors.PageRequest{Limit: nexvio.MaxContactsLimit}
		}
		var out []CRMContact
		for range scanPages {
			page, err := cl.ListContacts(ctx, f, r)
			if err != nil {
				return out, "", err
			}
			for _, x := range page.Items {
				if f.Search == "" && !matches(q, x.Phone) || len(out) >= limit {
					continue
				}
				company, _ := x.Metadata["company"].(string)
				out = append(out, CRMContact{Vendor: nexvio.Name, ID: x.ID, Name: x.Name, Email: x.Email, Phone: x.Phone, Company: company, UpdatedAt: stamp(x.UpdatedAt)})
			}
			if r.Cursor = page.Next; f.Search != "" || r.Cursor == "" {
				return out, "", nil
			}
		}
		return out, fmt.Sprintf("Nexvio cannot search phones: only the newest %d contacts were scanned", scanPages*nexvio.MaxContactsLimit), nil
	}}
}

// QyvoContacts searches Qyvo (server-side full text).
func QyvoContacts(c Clients[*qyvo.Client]) ContactSource {
	return ContactSource{Vendor: qyvo.Name, Search: func(ctx context.Context, q string, limit int) ([]CRMContact, string, error) {
		cl, err := c(ctx)
		if err != nil {
			return nil, "", err
		}
		page, err := cl.SearchContacts(ctx, qyvo.Search{Query: q}, vendors.PageRequest{Limit: min(limit, qyvo.MaxPerPage)})
		if err != nil {
			return nil, "", err
		}
		out := make([]CRMContact, 0, len(page.Items))
		for _, x := range page.Items {
			out = append(out, CRMContact{Vendor: qyvo.Name, ID: x.ID, Name: x.Name, Email: x.Email, Phone: x.Phone, UpdatedAt: stamp(x.UpdatedAt)})
		}
		return out, "", nil
	}}
}

// RaliviContacts scans Ralivi's contacts (it has no search), newest first.
func RaliviContacts(c Clients[*ralivi.Client]) ContactSource {
	return ContactSource{Vendor: ralivi.Name, Search: func(ctx context.Context, q string, limit int) ([]CRMContact, string, error) {
		cl, err := c(ctx)
		if err != nil {
			return nil, "", err
		}
		var out []CRMContact
		cursor := ""
		for range scanPages {
			page, err := cl.ListContacts(ctx, vendors.PageRequest{Limit: ralivi.MaxLimit, Cursor: cursor})
			if err != nil {
				return out, "", err
			}
			for _, x := range page.Items {
				if matches(q, x.Name, x.Email, x.Phone, x.Company) && len(out) < limit {
					out = append(out, CRMContact{Vendor: ralivi.Name, ID: x.ID, Name: x.Name, Email: x.Email, Phone: x.Phone, Company: x.Company, UpdatedAt: x.UpdatedAt})
				}
			}
			if cursor = page.Next; cursor == "" {
				return out, "", nil
			}
		}
		return out, fmt.Sprintf("Ralivi has no search: only the newest %d contacts were scanned; use ralivi_list_contacts for the rest", scanPages*ralivi.MaxLimit), nil
	}}
}

// VixieesContacts scans Vixiees' contacts (it has no search).
func VixieesContacts(c Clients[*vixiees.Client]) ContactSource {
	return ContactSource{Vendor: vixiees.Name, Search: func(ctx context.Context, q string, limit int) ([]CRMContact, string, error) {
		cl, err := c(ctx)
		if err != nil {
			return nil, "", err
		}
		var out []CRMContact
		r := vendors.PageRequest{Limit: vixiees.MaxLimit}
		for range scanPages {
			page, err := cl.ListContacts(ctx, r, vixiees.Filter{})
			if err != nil {
				return out, "", err
			}
			for _, x := range page.Items {
				if matches(q, x.Name, x.Email, x.Phone) && len(out) < limit {
					out = append(out, CRMContact{Vendor: vixiees.Name, ID: x.ID, Name: x.Name, Email: x.Email, Phone: x.Phone, UpdatedAt: stamp(x.UpdatedAt)})
				}
			}
			if r.Cursor = page.Next; r.Cursor == "" {
				return out, "", nil
			}
		}
		return out, fmt.Sprintf("Vixiees has no search: only the first %d contacts were scanned; use vixiees_list_contacts for the rest", scanPages*vixiees.MaxLimit), nil
	}}
}
