// Package vivretest is an emulator of the Vivre API, in the style of
// net/http/httptest: the tests run the real client against it over real
// HTTP, and `crm-mcp --sandbox` serves it in process.
//
// It keeps what vivre.txt documents (Bearer + X-Workspace-ID auth, 401 on a
// bad key, 400 with the offending field, limit/offset paging up to 500, the
// plan's per-minute limit with 429 + Retry-After) and what vendors/vivre's
// doc comment assumes where the doc is silent (404 for unknown ids, the
// error body shape).
//
// Ids keep the doc's shape: cnt_<n> for contacts (the doc's cnt_8821),
// dl_<n> for deals (the doc's dl_4420) and act_<n> for activities; no other
// vendor's sandbox uses these prefixes. Seed data: 36 contacts cnt_8800 to
// cnt_8835, 18 deals dl_4420 to dl_4437 (dl_4420, an open deal of cnt_8821,
// is the one the doc moves to won and logs a call on) and one activity per
// deal, act_6000 to act_6017. New records continue each series (cnt_8836,
// dl_4438, act_6018, ...). Vivre's API cannot list deals: a deal id comes
// from creating the deal (or, in Vivre, from its webhooks and app).
//
// With SendWebhooks it also sends Vivre's webhooks, signed, for every
// change made through it (webhooks.go): `crm-mcp --sandbox` points them at
// its own receiver.
package vivretest

import (
	"cmp"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/emulator"
)

// Default credentials accepted by an emulator built with zero Options.
const (
	APIKey      = "vv_test_0000000000000000"
	WorkspaceID = "ws_sandbox"
)

// Options configure an emulator.
type Options struct {
	APIKey        string // default APIKey
	WorkspaceID   string // default WorkspaceID
	RatePerMinute int    // default 600 (Pro); negative: unlimited
	Empty         bool   // no seed data
}

// Emulator is an http.Handler that behaves like Vivre.
type Emulator struct {
	*emulator.Kit
	opts Options
	// Each series continues after its seed: cnt_8836, dl_4438, act_6018.
	contactIDs, dealIDs, activityIDs emulator.IDs

	hooks emulator.Outbox // webhooks (SendWebhooks)

	mu         sync.Mutex
	contacts   []*contact // oldest first
	deals      map[string]*deal
	activities []*activity
}

type contact struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Company   string    `json:"company,omitempty"`
	AIScore   int       `json:"ai_score"`
	Stage     string    `json:"stage"`
	Tags      []string  `json:"tags"`
	CreatedAt time.Time `json:"created_at"`
}

type deal struct {
	ID        string     `json:"id"`
	ContactID string     `json:"contact_id"`
	Title     string     `json:"title"`
	Value     int64      `json:"value"`
	Stage     string     `json:"stage"`
	ClosedAt  *time.Time `json:"closed_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

type activity struct {
	ID        string    `json:"id"`
	ContactID string    `json:"contact_id"`
	DealID    string    `json:"deal_id,omitempty"`
	Type      string    `json:"type"`
	Note      string    `json:"note,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// New returns an emulator with seed data.
func New(opts Options) *Emulator {
	if opts.APIKey == "" {
		opts.APIKey = APIKey
	}
	if opts.WorkspaceID == "" {
		opts.WorkspaceID = WorkspaceID
	}
	if opts.RatePerMinute == 0 {
		opts.RatePerMinute = 600
	}
	e := &Emulator{Kit: emulator.NewKit(), opts: opts, deals: map[string]*deal{}}
	if !opts.Empty {
		e.seed()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /contacts", e.listContacts)
	mux.HandleFunc("POST /contacts", e.createContact)
	mux.HandleFunc("GET /contacts/{id}", e.getContact)
	mux.HandleFunc("POST /deals", e.createDeal)
	mux.HandleFunc("PUT /deals/{id}", e.updateDeal)
	mux.HandleFunc("GET /deals/{id}", e.getDeal)
	mux.HandleFunc("POST /activities", e.logActivity)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "not_found", "", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	e.Handle(emulator.Vendor{
		ErrBody: errBody,
		Authorized: func(r *http.Request) bool {
			return emulator.Bearer(r) == opts.APIKey && r.Header.Get("X-Workspace-ID") == opts.WorkspaceID
		},
		Unauthorized: func(w http.ResponseWriter) {
			fail(w, http.StatusUnauthorized, "unauthorized", "", "Invalid or missing API key")
		},
		Limits: emulator.PerMinute(opts.RatePerMinute),
		Throttled: func(w http.ResponseWriter, _ int) {
			fail(w, http.StatusTooManyRequests, "rate_limited", "",
				fmt.Sprintf("Rate limit exceeded: %d requests per minute", opts.RatePerMinute))
		},
		BadBody: func(w http.ResponseWriter, err error) {
			fail(w, 400, "validation_error", "", "request body must be a JSON object: "+err.Error())
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

func errBody(status int) string {
	code := cmp.Or(map[int]string{429: "rate_limited", 401: "unauthorized", 404: "not_found"}[status], "server_error")
	return fmt.Sprintf(`{"error":%q,"message":%q}`, code, http.StatusText(status))
}

func fail(w http.ResponseWriter, status int, code, field, msg string) {
	body := map[string]string{"error": code, "message": msg}
	if field != "" {
		body["field"] = field
	}
	emulator.JSON(w, status, body)
}

func (e *Emulator) listContacts(w http.ResponseWriter, r *http.Request) {
	limit, ok := emulator.IntParam(r, "limit", 50, 1, 500)
	if !ok {
		fail(w, 400, "validation_error", "limit", "limit must be an integer from 1 to 500")
		return
	}
	offset, ok := emulator.IntParam(r, "offset", 0, 0, 1<<31-1)
	if !ok {
		fail(w, 400, "validation_error", "offset", "offset must be a non-negative integer")
		return
	}
	scoreMin, ok := emulator.IntParam(r, "score_min", 0, 0, 100)
	if !ok {
		fail(w, 400, "validation_error", "score_min", "score_min must be an integer from 0 to 100")
		return
	}
	search := strings.ToLower(r.URL.Query().Get("search"))
	e.mu.Lock()
	var match []contact
	for i := len(e.contacts) - 1; i >= 0; i-- { // newest first
		c := e.contacts[i]
		if c.AIScore < scoreMin {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(c.Name+" "+c.Email+" "+c.Company), search) {
			continue
		}
		match = append(match, *c)
	}
	e.mu.Unlock()
	emulator.JSON(w, 200, map[string]any{"data": emulator.Page(match, offset, limit), "total": len(match), "limit": limit, "offset": offset})
}

func (e *Emulator) getContact(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.findContact(r.PathValue("id"))
	if c == nil {
		fail(w, 404, "not_found", "", "Contact "+r.PathValue("id")+" not found")
		return
	}
	emulator.JSON(w, 200, map[string]any{"data": c})
}

func (e *Emulator) findContact(id string) *contact {
	return emulator.Find(e.contacts, func(c *contact) bool { return c.ID == id })
}

// contactRef checks the contact_id a deal or an activity points to,
// answering 400 unless it names a contact; e.mu is held.
func (e *Emulator) contactRef(w http.ResponseWriter, id string) bool {
	switch {
	case id == "":
		fail(w, 400, "validation_error", "contact_id", "contact_id is required")
	case e.findContact(id) == nil:
		fail(w, 400, "validation_error", "contact_id", "no contact with id "+id)
	default:
		return true
	}
	return false
}

func (e *Emulator) createContact(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name    string   `json:"name"`
		Email   string   `json:"email"`
		Company string   `json:"company"`
		Stage   string   `json:"stage"`
		Tags    []string `json:"tags"`
	}
	if !e.Decode(w, r, &in) {
		return
	}
	switch {
	case strings.TrimSpace(in.Name) == "":
		fail(w, 400, "validation_error", "name", "name is required")
		return
	case in.Email == "":
		fail(w, 400, "validation_error", "email", "email is required")
		return
	case !emulator.ValidEmail(in.Email):
		fail(w, 400, "validation_error", "email", "email must be a valid email address")
		return
	case in.Stage != "" && !slices.Contains(contactStages, in.Stage):
		fail(w, 400, "validation_error", "stage", "stage must be one of new, qualified, proposal, won")
		return
	}
	if in.Stage == "" {
		in.Stage = "new"
	}
	if in.Tags == nil {
		in.Tags = []string{}
	}
	c := &contact{ID: e.contactIDs.Next("cnt_", firstContact+seedContacts-1), Name: in.Name, Email: in.Email, Company: in.Company,
		AIScore: 50, Stage: in.Stage, Tags: in.Tags, CreatedAt: emulator.Now()}
	e.mu.Lock()
	e.contacts = append(e.contacts, c)
	e.emit("contact.created", c)
	e.mu.Unlock()
	emulator.JSON(w, 201, map[string]any{"data": c})
}

var (
	contactStages = []string{"new", "qualified", "proposal", "won"}
	dealStages    = []string{"new", "qualified", "proposal", "won", "lost"}
	activityTypes = []string{"call", "email", "meeting", "note"}
)

func (e *Emulator) createDeal(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ContactID string `json:"contact_id"`
		Title     string `json:"title"`
		Value     *int64 `json:"value"`
		Stage     string `json:"stage"`
	}
	if !e.Decode(w, r, &in) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case !e.contactRef(w, in.ContactID):
		return
	case strings.TrimSpace(in.Title) == "":
		fail(w, 400, "validation_error", "title", "title is required")
		return
	case in.Value != nil && *in.Value < 0:
		fail(w, 400, "validation_error", "value", "value must not be negative")
		return
	case in.Stage != "" && !slices.Contains(dealStages, in.Stage):
		fail(w, 400, "validation_error", "stage", "stage must be one of new, qualified, proposal, won, lost")
		return
	}
	now := emulator.Now()
	d := &deal{ID: e.dealIDs.Next("dl_", firstDeal+seedDeals-1), ContactID: in.ContactID, Title: in.Title, Stage: in.Stage, CreatedAt: now, UpdatedAt: now}
	if d.Stage == "" {
		d.Stage = "new"
	}
	if in.Value != nil {
		d.Value = *in.Value
	}
	e.deals[d.ID] = d
	e.emit("deal.created", d)
	emulator.JSON(w, 201, map[string]any{"data": d})
}

func (e *Emulator) getDeal(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.deals[r.PathValue("id")]
	if d == nil {
		fail(w, 404, "not_found", "", "Deal "+r.PathValue("id")+" not found")
		return
	}
	emulator.JSON(w, 200, map[string]any{"data": d})
}

func (e *Emulator) updateDeal(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Stage    string     `json:"stage"`
		Title    *string    `json:"title"`
		Value    *int64     `json:"value"`
		ClosedAt *time.Time `json:"closed_at"`
	}
	if !e.Decode(w, r, &in) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.deals[r.PathValue("id")]
	switch {
	case d == nil:
		fail(w, 404, "not_found", "", "Deal "+r.PathValue("id")+" not found")
		return
	case in.Stage != "" && !slices.Contains(dealStages, in.Stage):
		fail(w, 400, "validation_error", "stage", "stage must be one of new, qualified, proposal, won, lost")
		return
	case in.Title != nil && strings.TrimSpace(*in.Title) == "":
		fail(w, 400, "validation_error", "title", "title must not be empty")
		return
	case in.Value != nil && *in.Value < 0:
		fail(w, 400, "validation_error", "value", "value must not be negative")
		return
	}
	moved := in.Stage != "" && in.Stage != d.Stage
	if in.Stage != "" {
		d.Stage = in.Stage
	}
	if in.Title != nil {
		d.Title = *in.Title
	}
	if in.Value != nil {
		d.Value = *in.Value
	}
	if in.ClosedAt != nil {
		t := in.ClosedAt.UTC()
		d.ClosedAt = &t
	}
	d.UpdatedAt = emulator.Now()
	if moved {
		e.emit("deal.stage_changed", d)
		if d.Stage == "won" {
			e.emit("deal.won", d)
		}
	}
	emulator.JSON(w, 200, map[string]any{"data": d})
}

func (e *Emulator) logActivity(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ContactID string `json:"contact_id"`
		DealID    string `json:"deal_id"`
		Type      string `json:"type"`
		Note      string `json:"note"`
	}
	if !e.Decode(w, r, &in) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case !e.contactRef(w, in.ContactID):
		return
	case in.DealID != "" && e.deals[in.DealID] == nil:
		fail(w, 400, "validation_error", "deal_id", "no deal with id "+in.DealID)
		return
	case in.Type == "":
		fail(w, 400, "validation_error", "type", "type is required")
		return
	case !slices.Contains(activityTypes, in.Type):
		fail(w, 400, "validation_error", "type", "type must be one of call, email, meeting, note")
		return
	}
	a := &activity{ID: e.activityIDs.Next("act_", firstActivity+seedDeals-1), ContactID: in.ContactID, DealID: in.DealID, Type: in.Type,
		Note: in.Note, CreatedAt: emulator.Now()}
	e.activities = append(e.activities, a)
	e.emit("activity.logged", a)
	emulator.JSON(w, 201, map[string]any{"data": a})
}

// Activities returns the activities logged so far (for tests).
func (e *Emulator) Activities() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.activities)
}

// Deal returns a copy of a deal (for tests); ok=false when unknown.
func (e *Emulator) Deal(id string) (stage string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.deals[id]
	if d == nil {
		return "", false
	}
	return d.Stage, true
}

// ContactCount is the number of contacts held.
func (e *Emulator) ContactCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.contacts)
}

// IDs is the id of every record held: contacts, deals and activities (for
// tests, e.g. the guard that every id in a tool description exists).
func (e *Emulator) IDs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, c := range e.contacts {
		out = append(out, c.ID)
	}
	for _, d := range e.deals {
		out = append(out, d.ID)
	}
	for _, a := range e.activities {
		out = append(out, a.ID)
	}
	return out
}

// The seed's id series: cnt_8800..., dl_4420... (the doc's example deal
// first), act_6000...
const (
	firstContact, seedContacts = 8800, 36
	firstDeal, seedDeals       = 4420, 18 // one activity per deal
	firstActivity              = 6000
	// exampleContact is cnt_8821, the doc's example contact: its deal is
	// dl_4420, the doc's example deal.
	exampleContact = 21
)

func (e *Emulator) seed() {
	people := []struct{ name, company string }{
		{"Rahul Sharma", "Acme Technologies"}, {"Priya Kapoor", "BlueStone Foods"}, {"Ananya Iyer", "Kaveri Textiles"},
		{"Vikram Mehta", "Mehta Logistics"}, {"Sara Thomas", "Northwind Traders"}, {"Arjun Nair", "Coastal Spices"},
		{"Meera Pillai", "Lotus Health"}, {"Karan Malhotra", "Skyline Realty"}, {"Divya Reddy", "Deccan Agro"},
		{"Rohan Gupta", "Gupta & Sons"}, {"Neha Joshi", "Pune Motors"}, {"Aditya Rao", "Rao Pharma"},
		{"Isha Verma", "Verma Fashions"}, {"Kabir Singh", "Punjab Dairy"}, {"Tanvi Desai", "Desai Ceramics"},
		{"Nikhil Bose", "Bengal Tea Co"}, {"Pooja Menon", "Menon Marine"}, {"Siddharth Jain", "Jain Jewellers"},
		{"Lakshmi Krishnan", "Chennai Silks"}, {"Amit Patel", "Patel Packaging"}, {"Emily Carter", "Carter Consulting"},
		{"Daniel Kim", "Seoul Bites"}, {"Fatima Khan", "Crescent Travels"}, {"Omar Haddad", "Levant Imports"},
		{"Grace Lee", "Harbour Analytics"}, {"Lucas Silva", "Rio Coffee"}, {"Chloe Martin", "Paris Pâtisserie"},
		{"Hiroshi Tanaka", "Tanaka Robotics"}, {"Zara Ahmed", "Oasis Water"}, {"Ben Okafor", "Lagos Fintech"},
		{"Aarav Shah", "Shah Solar"}, {"Riya Banerjee", "Kolkata Prints"}, {"Manish Kumar", "Kumar Hardware"},
		{"Sneha Kulkarni", "Kulkarni Foods"}, {"Irfan Qureshi", "Qureshi Exports"}, {"Anjali Saxena", "Saxena EduTech"},
	}
	base := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	for i, p := range people[:seedContacts] {
		first := strings.ToLower(strings.Fields(p.name)[0])
		domain := strings.ToLower(strings.NewReplacer(" ", "", "&", "", "â", "a").Replace(strings.Fields(p.company)[0])) + ".example"
		tags := []string{[]string{"inbound", "referral", "event", "outbound"}[i%4]}
		if p.name == "Priya Kapoor" { // as the doc creates her
			tags = []string{"inbound", "demo-request"}
		}
		e.contacts = append(e.contacts, &contact{
			ID: fmt.Sprintf("cnt_%d", firstContact+i), Name: p.name, Email: first + "@" + domain, Company: p.company,
			AIScore: 35 + (i*17)%65, Stage: contactStages[i%4], Tags: tags,
			CreatedAt: base.Add(time.Duration(i) * 26 * time.Hour),
		})
	}
	// Deals go to every other contact, from the doc's example contact on.
	for i := range seedDeals {
		c := e.contacts[(exampleContact+2*i)%seedContacts]
		created := c.CreatedAt.Add(48 * time.Hour)
		d := &deal{ID: fmt.Sprintf("dl_%d", firstDeal+i), ContactID: c.ID, Title: c.Company + " — Annual plan",
			Value: int64(150000 + i*50000), Stage: dealStages[i%5], CreatedAt: created, UpdatedAt: created}
		e.deals[d.ID] = d
		e.activities = append(e.activities, &activity{ID: fmt.Sprintf("act_%d", firstActivity+i), ContactID: c.ID, DealID: d.ID,
			Type: activityTypes[i%4], Note: "Intro with " + c.Name, CreatedAt: created})
	}
}
