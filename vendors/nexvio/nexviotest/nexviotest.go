// Package nexviotest is an emulator of the Nexvio.ai Contacts API, in the
// style of net/http/httptest: the tests run the real client against it over
// real HTTP, and `crm-mcp --sandbox` serves it in process.
//
// It keeps what nexvio.txt documents (Bearer auth, the {"status","data"}
// success envelope, the {"status":"error","error":{code,message,details}}
// error envelope with camelCase field names in details, limit/offset paging
// with max 500 contacts or 100 conversations per page, sortBy/sortOrder,
// 100 requests per minute per key) and what vendors/nexvio's doc comment
// assumes where the doc is silent (statuses, 429 + Retry-After, 404 after
// delete, metadata merge on PATCH).
//
// Ids keep the doc's shape, a kind and three digits then three letters
// (contact_123abc, chatbot_456def, conv_789ghi); no other vendor's sandbox
// uses these prefixes. Seed data: 3 chatbots (the doc's chatbot_456def
// first), 36 contacts contact_123abc to contact_158abc (contact_123abc is
// the doc's John Doe, with its phone +15551234567) and 1 to 4
// conversations each, conv_789ghi (the doc's) onwards. Created contacts
// start at contact_321cba, the id the doc's create example returns.
package nexviotest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/emulator"
)

// APIKey is the key accepted by an emulator built with zero Options.
const APIKey = "nx_test_00000000000000000000"

// Chatbots are the seeded chatbot ids; contacts may only be created on these.
var Chatbots = []string{"chatbot_456def", "chatbot_812ace", "chatbot_937bed"}

// docID is an id in the doc's shape: prefix, n's last three digits, then
// n/1000 as three letters (base 26), so that docID("contact_", 28123) is
// contact_123abc. Series of fewer than 1000 never repeat.
func docID(prefix string, n int) string {
	k := n / 1000
	return fmt.Sprintf("%s%03d%c%c%c", prefix, n%1000, 'a'+k/676%26, 'a'+k/26%26, 'a'+k%26)
}

// The id series: n for docID.
const (
	seedContactN   = 28123   // contact_123abc, the doc's John Doe
	seedConvN      = 4246789 // conv_789ghi, the doc's conversation
	createdContact = 1378321 // contact_321cba, the doc's created Jane Smith
)

// Options configure an emulator.
type Options struct {
	APIKey        string // default APIKey
	RatePerMinute int    // default 100 (documented); negative: unlimited
	Empty         bool   // no seed contacts (the chatbots still exist)
}

// Emulator is an http.Handler that behaves like Nexvio.
type Emulator struct {
	*emulator.Kit
	opts Options

	mu       sync.Mutex
	created  int                        // contacts created so far
	contacts []*contact                 // oldest first
	convs    map[string][]*conversation // by contact id, oldest first
}

type contact struct {
	ID        string         `json:"id"`
	ChatbotID string         `json:"chatbotId"`
	Name      string         `json:"name,omitempty"`
	Email     string         `json:"email,omitempty"`
	Phone     string         `json:"phone,omitempty"`
	Metadata  map[string]any `json:"metadata"`
	CreatedAt time.Time      `json:"createdAt"`
	UpdatedAt time.Time      `json:"updatedAt"`
}

type conversation struct {
	ID            string    `json:"id"`
	ChatbotID     string    `json:"chatbotId"`
	ContactID     string    `json:"contactId"`
	StartedAt     time.Time `json:"startedAt"`
	LastMessageAt time.Time `json:"lastMessageAt"`
	MessageCount  int       `json:"messageCount"`
	Summary       string    `json:"summary"`
}

// New returns an emulator with seed data.
func New(opts Options) *Emulator {
	if opts.APIKey == "" {
		opts.APIKey = APIKey
	}
	if opts.RatePerMinute == 0 {
		opts.RatePerMinute = 100
	}
	e := &Emulator{Kit: emulator.NewKit(), opts: opts, convs: map[string][]*conversation{}}
	if !opts.Empty {
		e.seed()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /contacts", e.listContacts)
	mux.HandleFunc("POST /contacts", e.createContact)
	mux.HandleFunc("GET /contacts/{id}", e.getContact)
	mux.HandleFunc("PATCH /contacts/{id}", e.updateContact)
	mux.HandleFunc("DELETE /contacts/{id}", e.deleteContact)
	mux.HandleFunc("GET /contacts/{id}/conversations", e.listConversations)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "not_found", "No such endpoint: "+r.Method+" "+r.URL.Path, nil)
	})
	e.Handle(emulator.Vendor{
		ErrBody:      errBody,
		Authorized:   func(r *http.Request) bool { return emulator.Bearer(r) == opts.APIKey },
		Unauthorized: func(w http.ResponseWriter) { fail(w, http.StatusUnauthorized, "unauthorized", "Invalid API key", nil) },
		Limits:       emulator.PerMinute(opts.RatePerMinute),
		Throttled: func(w http.ResponseWriter, _ int) {
			fail(w, http.StatusTooManyRequests, "rate_limited",
				fmt.Sprintf("Rate limit exceeded: %d requests per minute", opts.RatePerMinute), nil)
		},
		// A value of the wrong type is named in details; anything else is
		// not a JSON object.
		BadBody: func(w http.ResponseWriter, err error) {
			if te := emulator.WrongType(err); te != nil {
				invalid(w, map[string]string{strings.Split(te.Field, ".")[0]: "Has the wrong type: " + te.Value + " is not allowed"})
				return
			}
			fail(w, http.StatusBadRequest, "validation_error", "Request body must be a JSON object", nil)
		},
	}, mux)
	return e
}

// Server is an emulator listening on a loopback port.
type Server struct {
	*httptest.Server
	*Emulator
}

// NewServer starts an emulator on 127.0.0.1; Close it when done.
func NewServer(opts Options) *Server {
	e := New(opts)
	return &Server{Server: httptest.NewServer(e), Emulator: e}
}

// errBody is the envelope of an injected failure.
func errBody(status int) string {
	code := cmp.Or(map[int]string{400: "validation_error", 401: "unauthorized", 404: "not_found", 429: "rate_limited"}[status], "internal_error")
	b, _ := json.Marshal(envelope(code, http.StatusText(status), nil))
	return string(b)
}

func envelope(code, msg string, details map[string]string) map[string]any {
	e := map[string]any{"code": code, "message": msg}
	if len(details) > 0 {
		e["details"] = details
	}
	return map[string]any{"status": "error", "error": e}
}

func fail(w http.ResponseWriter, status int, code, msg string, details map[string]string) {
	emulator.JSON(w, status, envelope(code, msg, details))
}

// invalid answers Nexvio's validation error naming the fields.
func invalid(w http.ResponseWriter, details map[string]string) {
	fail(w, http.StatusBadRequest, "validation_error", "Invalid request data", details)
}

func notFound(w http.ResponseWriter) {
	fail(w, http.StatusNotFound, "not_found", "Contact not found", nil)
}

func success(w http.ResponseWriter, status int, data any) {
	emulator.JSON(w, status, map[string]any{"status": "success", "data": data})
}

// paging reads limit and offset, answering the validation error when bad.
func paging(w http.ResponseWriter, r *http.Request, def, max int) (limit, offset int, ok bool) {
	if limit, ok = emulator.IntParam(r, "limit", def, 1, max); !ok {
		invalid(w, map[string]string{"limit": fmt.Sprintf("Must be an integer between 1 and %d", max)})
		return 0, 0, false
	}
	if offset, ok = emulator.IntParam(r, "offset", 0, 0, 1<<31-1); !ok {
		invalid(w, map[string]string{"offset": "Must be a non-negative integer"})
		return 0, 0, false
	}
	return limit, offset, true
}

func (e *Emulator) listContacts(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := paging(w, r, 100, 500)
	if !ok {
		return
	}
	q := r.URL.Query()
	sortBy, order := cmp.Or(q.Get("sortBy"), "createdAt"), cmp.Or(q.Get("sortOrder"), "desc")
	if !slices.Contains([]string{"createdAt", "name", "email"}, sortBy) {
		invalid(w, map[string]string{"sortBy": "Must be one of createdAt, name, email"})
		return
	}
	if order != "asc" && order != "desc" {
		invalid(w, map[string]string{"sortOrder": "Must be asc or desc"})
		return
	}
	chatbot, search := q.Get("chatbotId"), strings.ToLower(q.Get("search"))
	e.mu.Lock()
	match := []contact{}
	for _, c := range e.contacts {
		if chatbot != "" && c.ChatbotID != chatbot {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(c.Name+" "+c.Email), search) {
			continue
		}
		match = append(match, *c)
	}
	e.mu.Unlock()
	slices.SortStableFunc(match, func(a, b contact) int {
		var n int
		switch sortBy {
		case "name":
			n = cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
		case "email":
			n = cmp.Compare(strings.ToLower(a.Email), strings.ToLower(b.Email))
		default:
			n = a.CreatedAt.Compare(b.CreatedAt)
		}
		if n == 0 {
			n = cmp.Compare(a.ID, b.ID) // a total order keeps pages disjoint
		}
		if order == "desc" {
			n = -n
		}
		return n
	})
	success(w, http.StatusOK, map[string]any{"contacts": emulator.Page(match, offset, limit),
		"total": len(match), "limit": limit, "offset": offset})
}

// find returns the contact with id; callers hold e.mu.
func (e *Emulator) find(id string) *contact {
	return emulator.Find(e.contacts, func(c *contact) bool { return c.ID == id })
}

func (e *Emulator) getContact(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.find(r.PathValue("id"))
	if c == nil {
		notFound(w)
		return
	}
	type summary struct {
		ID            string    `json:"id"`
		StartedAt     time.Time `json:"startedAt"`
		LastMessageAt time.Time `json:"lastMessageAt"`
	}
	convs := []summary{}
	for _, v := range e.recent(c.ID) {
		convs = append(convs, summary{v.ID, v.StartedAt, v.LastMessageAt})
	}
	out := struct {
		contact
		Conversations []summary `json:"conversations"`
	}{*c, convs}
	success(w, http.StatusOK, map[string]any{"contact": out})
}

// recent is a contact's conversations, most recent first; callers hold e.mu.
func (e *Emulator) recent(id string) []*conversation {
	out := slices.Clone(e.convs[id])
	slices.SortFunc(out, func(a, b *conversation) int { return b.LastMessageAt.Compare(a.LastMessageAt) })
	return out
}

// fields is the body of POST and PATCH; nil means absent.
type fields struct {
	ChatbotID *string        `json:"chatbotId"`
	Name      *string        `json:"name"`
	Email     *string        `json:"email"`
	Phone     *string        `json:"phone"`
	Metadata  map[string]any `json:"metadata"`
}

// check validates email and phone when given; details is nil when they are fine.
func (f fields) check(details map[string]string) map[string]string {
	if f.Email != nil && *f.Email != "" && !emulator.ValidEmail(*f.Email) {
		details["email"] = "Must be a valid email address"
	}
	if f.Phone != nil && *f.Phone != "" && !validPhone(*f.Phone) {
		details["phone"] = "Must be a valid phone number (E.164 recommended, e.g. +15551234567)"
	}
	if len(details) == 0 {
		return nil
	}
	return details
}

// validPhone accepts what "E.164 recommended" lets through: an optional +,
// then 7 to 15 digits, with spaces, dots, dashes or brackets between.
func validPhone(s string) bool {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0, strings.ContainsRune(" .-()", r):
		default:
			return false
		}
	}
	return digits >= 7 && digits <= 15
}

func (e *Emulator) createContact(w http.ResponseWriter, r *http.Request) {
	var in fields
	if !e.Decode(w, r, &in) {
		return
	}
	details := map[string]string{}
	switch {
	case in.ChatbotID == nil || *in.ChatbotID == "":
		details["chatbotId"] = "Required"
	case !slices.Contains(Chatbots, *in.ChatbotID):
		details["chatbotId"] = "No chatbot with this ID"
	}
	if d := in.check(details); d != nil {
		invalid(w, d)
		return
	}
	now := emulator.Now()
	c := &contact{ChatbotID: *in.ChatbotID, Name: deref(in.Name),
		Email: deref(in.Email), Phone: deref(in.Phone), Metadata: map[string]any{}, CreatedAt: now, UpdatedAt: now}
	maps.Copy(c.Metadata, in.Metadata)
	e.mu.Lock()
	c.ID = docID("contact_", createdContact+e.created)
	e.created++
	e.contacts = append(e.contacts, c)
	e.mu.Unlock()
	success(w, http.StatusCreated, map[string]any{"contact": c})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (e *Emulator) updateContact(w http.ResponseWriter, r *http.Request) {
	var in fields
	if !e.Decode(w, r, &in) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.find(r.PathValue("id"))
	if c == nil {
		notFound(w)
		return
	}
	if d := in.check(map[string]string{}); d != nil {
		invalid(w, d)
		return
	}
	if in.Name != nil {
		c.Name = *in.Name
	}
	if in.Email != nil {
		c.Email = *in.Email
	}
	if in.Phone != nil {
		c.Phone = *in.Phone
	}
	maps.Copy(c.Metadata, in.Metadata)
	c.UpdatedAt = emulator.Now()
	success(w, http.StatusOK, map[string]any{"contact": c})
}

func (e *Emulator) deleteContact(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e.mu.Lock()
	defer e.mu.Unlock()
	i := slices.IndexFunc(e.contacts, func(c *contact) bool { return c.ID == id })
	if i < 0 {
		notFound(w)
		return
	}
	e.contacts = slices.Delete(e.contacts, i, i+1)
	delete(e.convs, id)
	success(w, http.StatusOK, map[string]any{"deleted": true, "id": id})
}

func (e *Emulator) listConversations(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	c := e.find(r.PathValue("id"))
	var all []conversation
	if c != nil {
		for _, v := range e.recent(c.ID) {
			all = append(all, *v)
		}
	}
	e.mu.Unlock()
	if c == nil {
		notFound(w)
		return
	}
	limit, offset, ok := paging(w, r, 50, 100)
	if !ok {
		return
	}
	success(w, http.StatusOK, map[string]any{"conversations": emulator.Page(all, offset, limit),
		"total": len(all), "limit": limit, "offset": offset})
}

// ContactCount is the number of contacts held.
func (e *Emulator) ContactCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.contacts)
}

// HasContact reports whether a contact with id exists.
func (e *Emulator) HasContact(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.find(id) != nil
}

// ConversationCount is the number of conversations of a contact.
func (e *Emulator) ConversationCount(contactID string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.convs[contactID])
}

// IDs is the id of every record held: chatbots, contacts and
// conversations (for tests, e.g. the guard that every id in a tool
// description exists).
func (e *Emulator) IDs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := slices.Clone(Chatbots)
	for _, c := range e.contacts {
		out = append(out, c.ID)
	}
	for _, cs := range e.convs {
		for _, v := range cs {
			out = append(out, v.ID)
		}
	}
	return out
}

func (e *Emulator) seed() {
	people := []struct{ name, company, role string }{
		{"John Doe", "Acme Inc", "Manager"}, {"Aisha Patel", "Brightline Dental", "Owner"}, {"Marco Rossi", "Rossi Ristorante", "Chef"},
		{"Leila Haddad", "Cedar Travel", "Agent"}, {"Tom Becker", "Becker Bikes", "Founder"}, {"Nina Petrova", "Volga Translations", "Director"},
		{"Samuel Osei", "Accra Solar", "Engineer"}, {"Yuki Sato", "Sakura Spa", "Manager"}, {"Carlos Mendez", "Mendez Roofing", "Owner"},
		{"Hannah Schmidt", "Alpen Insurance", "Broker"}, {"Ravi Iyer", "Iyer Tutors", "Teacher"}, {"Olivia Brown", "Brown Bakery", "Owner"},
		{"Ahmed Farouk", "Nile Logistics", "Dispatcher"}, {"Sofia Lindqvist", "Nordic Interiors", "Designer"}, {"Kwame Mensah", "Mensah Motors", "Sales Lead"},
		{"Emma Dubois", "Dubois Florist", "Owner"}, {"Diego Alvarez", "Pampas Fitness", "Coach"}, {"Mei Chen", "Jade Clinic", "Receptionist"},
		{"Lucas Moreau", "Moreau Legal", "Partner"}, {"Fatou Diallo", "Dakar Textiles", "Buyer"}, {"Jack Wilson", "Wilson Plumbing", "Owner"},
		{"Priya Nair", "Kerala Ayurveda", "Therapist"}, {"Ivan Horvat", "Adriatic Yachts", "Broker"}, {"Grace Kim", "Seoul Skincare", "Marketer"},
		{"Oscar Nilsson", "Fjord Fisheries", "Manager"}, {"Amara Okoye", "Lagos Events", "Planner"}, {"Ben Cohen", "Cohen Accounting", "CPA"},
		{"Lucia Romano", "Romano Wines", "Sommelier"}, {"Arjun Menon", "Menon Realty", "Agent"}, {"Sarah Taylor", "Taylor Vets", "Vet"},
		{"Hugo Silva", "Lisbon Surf", "Instructor"}, {"Zainab Yusuf", "Kano Foods", "Director"}, {"Peter Novak", "Novak Print", "Owner"},
		{"Chloe Martin", "Martin Optics", "Optician"}, {"Daniel Park", "Park Robotics", "CTO"}, {"Ana Costa", "Costa Cafe", "Barista"},
	}
	sources := []string{"Website", "WhatsApp", "Instagram", "Landing page"}
	topics := []string{
		"Asked about pricing plans and features for enterprise", "Wanted to book a demo next week",
		"Reported a login problem; shared reset steps", "Asked for opening hours and location",
		"Requested a quote for 20 seats", "Followed up on an unpaid invoice",
		"Asked whether the product integrates with Shopify", "Wanted to cancel and was offered a discount",
	}
	prefixes := []string{"+1415555", "+44207946", "+91982001", "+6129876"}
	base := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	n := 0
	for i, p := range people {
		first := strings.ToLower(strings.Fields(p.name)[0])
		domain := strings.ToLower(strings.ReplaceAll(p.company, " ", "")) + ".example"
		created := base.Add(time.Duration(i) * 19 * time.Hour)
		phone := fmt.Sprintf("%s%04d", prefixes[i%len(prefixes)], 1000+i*37)
		if i == 0 { // the doc's John Doe
			phone = "+15551234567"
		}
		c := &contact{
			ID: docID("contact_", seedContactN+i), ChatbotID: Chatbots[i%len(Chatbots)], Name: p.name,
			Email: first + "@" + domain, Phone: phone,
			Metadata:  map[string]any{"company": p.company, "role": p.role, "source": sources[i%len(sources)]},
			CreatedAt: created, UpdatedAt: created,
		}
		e.contacts = append(e.contacts, c)
		for k := range 1 + i%4 {
			n++
			start := created.Add(-3*time.Minute + time.Duration(k)*50*time.Hour)
			e.convs[c.ID] = append(e.convs[c.ID], &conversation{
				ID: docID("conv_", seedConvN+n-1), ChatbotID: c.ChatbotID, ContactID: c.ID, StartedAt: start,
				LastMessageAt: start.Add(time.Duration(2+k) * time.Minute), MessageCount: 4 + (i+k)%9,
				Summary: topics[(i+k)%len(topics)],
			})
		}
	}
}
