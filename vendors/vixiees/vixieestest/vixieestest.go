// Package vixieestest is an emulator of the Vixiees API, in the style of
// net/http/httptest: the tests run the real client against it over real
// HTTP, and `crm-mcp --sandbox` serves it in process.
//
// It keeps what vixiees.txt documents (X-API-Key auth, 401 on a bad key,
// the {"error","details"} envelope, page + limit paging up to 1000 with 422
// beyond, the licence-scaled limits per minute, hour and day plus the hard
// 40 per 2 s, each answering 429 + Retry-After with a link to
// developers.vixiees.com) and what vendors/vixiees' doc comment assumes
// where the doc is silent (paths, list shape, updated_at_from, 404 for
// unknown ids, 422 naming the field).
//
// The doc shows no id, so the emulator chose one shape no other vendor's
// sandbox has: vx_<kind>_<n>, the vendor's own vx_ before the kind (ct
// contact, deal, rec recording, tpl template, msg message, task). Seed
// data: 36 contacts vx_ct_1001 to vx_ct_1036 (vx_ct_1010 has the phone the
// tool descriptions give, +5511987654321), 20 deals vx_deal_5001 to
// vx_deal_5020, 12 call recordings vx_rec_801 to vx_rec_812 and 5 approved
// WhatsApp templates vx_tpl_101 to vx_tpl_105. New records continue each
// series (vx_ct_1037, vx_deal_5021); messages start at vx_msg_50001 and
// tasks at vx_task_3001.
//
// With SendWebhooks it also sends Vixiees' webhooks for every contact or
// deal change made through it (webhooks.go): `crm-mcp --sandbox` points
// them at its own receiver.
package vixieestest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/emulator"
)

// APIKey is the key accepted by an emulator built with zero Options.
const APIKey = "vx_test_0000000000000000"

// DocsURL is the link sent with a 429, as the doc promises.
const DocsURL = "https://developers.vixiees.com/rate-limits"

// Options configure an emulator. Limits: 0 means the documented value for
// the licences, negative turns the window off.
type Options struct {
	APIKey      string // default APIKey
	Licenses    int    // default 1; negative: no limits at all
	Per2Seconds int    // the hard limit, default 40 whatever the licences
	PerMinute   int    // default 25 × licences
	PerHour     int    // default 60 × the per-minute limit
	PerDay      int    // default 24 × the per-hour limit
	Empty       bool   // no seed data
}

// windows resolves the limits to period -> limit.
func (o Options) windows() map[time.Duration]int {
	if o.Licenses < 0 {
		return nil
	}
	pick := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	// The chain; a window turned off passes its default on to the next.
	lic := max(o.Licenses, 1)
	perMin := pick(o.PerMinute, 25*lic)
	perHour := pick(o.PerHour, 60*orDefault(perMin, 25*lic))
	perDay := pick(o.PerDay, 24*orDefault(perHour, 60*orDefault(perMin, 25*lic)))
	w := map[time.Duration]int{}
	for period, n := range map[time.Duration]int{2 * time.Second: pick(o.Per2Seconds, 40), time.Minute: perMin, time.Hour: perHour, 24 * time.Hour: perDay} {
		if n > 0 {
			w[period] = n
		}
	}
	return w
}

// orDefault is v when it is a limit, def when the window is off.
func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Emulator is an http.Handler that behaves like Vixiees.
type Emulator struct {
	*emulator.Kit
	opts    Options
	windows map[time.Duration]int
	// Each series continues after its seed (see the package doc).
	contactIDs, dealIDs, messageIDs, taskIDs emulator.IDs
	hooks                                    emulator.Outbox // webhooks (SendWebhooks)

	mu         sync.Mutex
	contacts   []*contact
	deals      []*deal
	recordings []*recording
	templates  []*template
	messages   []*message
	tasks      []*task
}

type contact struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email,omitempty"`
	Phone     string    `json:"phone,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type deal struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	ContactID string    `json:"contact_id,omitempty"`
	Value     int64     `json:"value"`
	Stage     string    `json:"stage"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type recording struct {
	ID                string    `json:"id"`
	ContactID         string    `json:"contact_id"`
	DurationSeconds   int       `json:"duration_seconds"`
	RecordedAt        time.Time `json:"recorded_at"`
	URL               string    `json:"url"`
	TranscriptSummary string    `json:"transcript_summary"`
}

type template struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Language      string `json:"language"`
	Category      string `json:"category"`
	Status        string `json:"status"`
	Body          string `json:"body"`
	VariableCount int    `json:"variable_count"`
}

type message struct {
	ID         string    `json:"id"`
	TemplateID string    `json:"template_id"`
	Phone      string    `json:"phone"`
	ContactID  string    `json:"contact_id,omitempty"`
	Variables  []string  `json:"variables"`
	Status     string    `json:"status"`
	Body       string    `json:"body"`
	CreatedAt  time.Time `json:"created_at"`
}

type task struct {
	ID        string     `json:"id"`
	Title     string     `json:"title"`
	ContactID string     `json:"contact_id,omitempty"`
	DealID    string     `json:"deal_id,omitempty"`
	DueAt     *time.Time `json:"due_at,omitempty"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
}

// New returns an emulator with seed data.
func New(opts Options) *Emulator {
	if opts.APIKey == "" {
		opts.APIKey = APIKey
	}
	e := &Emulator{Kit: emulator.NewKit(), opts: opts, windows: opts.windows()}
	if !opts.Empty {
		e.seed()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /contacts", e.listContacts)
	mux.HandleFunc("POST /contacts", e.createContact)
	mux.HandleFunc("PUT /contacts/{id}", e.updateContact)
	mux.HandleFunc("GET /deals", e.listDeals)
	mux.HandleFunc("POST /deals", e.createDeal)
	mux.HandleFunc("PUT /deals/{id}", e.updateDeal)
	mux.HandleFunc("GET /recordings", e.listRecordings)
	mux.HandleFunc("GET /recordings/{id}", e.getRecording)
	mux.HandleFunc("GET /whatsapp_templates", e.listTemplates)
	mux.HandleFunc("POST /whatsapp_templates/{id}/send_message", e.sendMessage)
	mux.HandleFunc("POST /tasks", e.createTask)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "No such endpoint: "+r.Method+" "+r.URL.Path, nil)
	})
	e.Handle(emulator.Vendor{
		ErrBody:      errBody,
		Authorized:   func(r *http.Request) bool { return r.Header.Get("X-API-Key") == opts.APIKey },
		Unauthorized: func(w http.ResponseWriter) { fail(w, http.StatusUnauthorized, "Invalid or missing X-API-Key", nil) },
		Limits:       e.windows, // every window at once
		Throttled: func(w http.ResponseWriter, after int) {
			fail(w, http.StatusTooManyRequests, "Too many requests: a usage limit was exceeded", map[string]string{
				"limits": e.limitsText(), "retry_after_seconds": strconv.Itoa(after), "docs": DocsURL})
		},
		// 400 when the body is not JSON, 422 naming the field when a value
		// has the wrong type.
		BadBody: func(w http.ResponseWriter, err error) {
			if te := emulator.WrongType(err); te != nil {
				invalid(w, te.Field, "must be a "+te.Type.Kind().String())
				return
			}
			fail(w, http.StatusBadRequest, "Request body must be a JSON object", nil)
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
	b, _ := json.Marshal(map[string]any{"error": http.StatusText(status), "details": map[string]string{}})
	return string(b)
}

func (e *Emulator) limitsText() string {
	names := []struct {
		p    time.Duration
		name string
	}{{2 * time.Second, "2 s"}, {time.Minute, "minute"}, {time.Hour, "hour"}, {24 * time.Hour, "day"}}
	var parts []string
	for _, n := range names {
		if l, ok := e.windows[n.p]; ok {
			parts = append(parts, fmt.Sprintf("%d per %s", l, n.name))
		}
	}
	return strings.Join(parts, ", ")
}

// fail writes the vendor's envelope; details is never null.
func fail(w http.ResponseWriter, status int, msg string, details map[string]string) {
	if details == nil {
		details = map[string]string{}
	}
	emulator.JSON(w, status, map[string]any{"error": msg, "details": details})
}

// invalid is a 422 naming one field.
func invalid(w http.ResponseWriter, field, problem string) {
	fail(w, http.StatusUnprocessableEntity, "Validation failed", map[string]string{field: problem})
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

const phoneRule = "must be in E.164 format, e.g. +5511987654321"

// paging reads page, limit and updated_at_from (422 naming the bad one).
type paging struct {
	page, limit int
	from        time.Time
}

func readPaging(w http.ResponseWriter, r *http.Request, filter bool) (paging, bool) {
	var p paging
	var ok bool
	if p.limit, ok = emulator.IntParam(r, "limit", 100, 1, 1<<31-1); !ok || p.limit > 1000 {
		invalid(w, "limit", "must be an integer from 1 to 1000")
		return p, false
	}
	if p.page, ok = emulator.IntParam(r, "page", 1, 1, 1<<31-1); !ok {
		invalid(w, "page", "must be an integer from 1 onwards")
		return p, false
	}
	if v := r.URL.Query().Get("updated_at_from"); v != "" && filter {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			t, err = time.Parse("2006-01-02T15:04:05", v) // the doc's example has no zone: UTC
		}
		if err != nil {
			invalid(w, "updated_at_from", "must be a date-time such as 2025-08-07T00:00:00Z")
			return p, false
		}
		p.from = t
	}
	return p, true
}

// pageOf answers one page of items in the documented list shape.
func pageOf[T any](w http.ResponseWriter, p paging, items []T) {
	off := (p.page - 1) * p.limit
	if p.page-1 > len(items)/p.limit { // avoid overflow on absurd pages
		off = len(items)
	}
	emulator.JSON(w, http.StatusOK, map[string]any{"data": emulator.Page(items, off, p.limit),
		"page": p.page, "limit": p.limit, "total": len(items)})
}

// byUpdate orders records oldest update first, then by id.
func byUpdate[T any](items []T, at func(T) time.Time, id func(T) string) {
	slices.SortStableFunc(items, func(a, b T) int {
		if c := at(a).Compare(at(b)); c != 0 {
			return c
		}
		return strings.Compare(id(a), id(b))
	})
}

func (e *Emulator) listContacts(w http.ResponseWriter, r *http.Request) {
	p, ok := readPaging(w, r, true)
	if !ok {
		return
	}
	e.mu.Lock()
	var out []contact
	for _, c := range e.contacts {
		if !c.UpdatedAt.Before(p.from) {
			out = append(out, *c)
		}
	}
	e.mu.Unlock()
	byUpdate(out, func(c contact) time.Time { return c.UpdatedAt }, func(c contact) string { return c.ID })
	pageOf(w, p, out)
}

type contactIn struct {
	Name  *string `json:"name"`
	Email *string `json:"email"`
	Phone *string `json:"phone"`
}

// check validates the given fields.
func (in contactIn) check(w http.ResponseWriter) bool {
	switch {
	case in.Name != nil && strings.TrimSpace(*in.Name) == "":
		invalid(w, "name", "must not be empty")
	case in.Email != nil && *in.Email != "" && !emulator.ValidEmail(*in.Email):
		invalid(w, "email", "must be a valid email address")
	case in.Phone != nil && *in.Phone != "" && !e164.MatchString(*in.Phone):
		invalid(w, "phone", phoneRule)
	default:
		return true
	}
	return false
}

func (e *Emulator) createContact(w http.ResponseWriter, r *http.Request) {
	var in contactIn
	if !e.Decode(w, r, &in) {
		return
	}
	if in.Name == nil {
		invalid(w, "name", "is required")
		return
	}
	if !in.check(w) {
		return
	}
	t := emulator.Now()
	c := &contact{ID: e.contactIDs.Next(idContact, firstContact+seedContacts-1), Name: *in.Name, CreatedAt: t, UpdatedAt: t}
	c.apply(in)
	e.mu.Lock()
	e.contacts = append(e.contacts, c)
	e.emit("contact_updated", c)
	e.mu.Unlock()
	emulator.JSON(w, http.StatusCreated, map[string]any{"data": c})
}

func (c *contact) apply(in contactIn) {
	if in.Name != nil {
		c.Name = *in.Name
	}
	if in.Email != nil {
		c.Email = *in.Email
	}
	if in.Phone != nil {
		c.Phone = *in.Phone
	}
}

func (e *Emulator) updateContact(w http.ResponseWriter, r *http.Request) {
	var in contactIn
	if !e.Decode(w, r, &in) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.contact(r.PathValue("id"))
	switch {
	case c == nil:
		fail(w, http.StatusNotFound, "Contact "+r.PathValue("id")+" not found", nil)
		return
	case in.Name == nil && in.Email == nil && in.Phone == nil:
		fail(w, http.StatusBadRequest, "Nothing to update", map[string]string{"name": "give at least one of name, email, phone"})
		return
	case !in.check(w):
		return
	}
	c.apply(in)
	c.UpdatedAt = emulator.Now()
	e.emit("contact_updated", c)
	emulator.JSON(w, http.StatusOK, map[string]any{"data": c})
}

func (e *Emulator) contact(id string) *contact {
	return emulator.Find(e.contacts, func(c *contact) bool { return c.ID == id })
}

func (e *Emulator) deal(id string) *deal {
	return emulator.Find(e.deals, func(d *deal) bool { return d.ID == id })
}

var stages = []string{"new", "qualified", "proposal", "negotiation", "won", "lost"}

func (e *Emulator) listDeals(w http.ResponseWriter, r *http.Request) {
	p, ok := readPaging(w, r, true)
	if !ok {
		return
	}
	e.mu.Lock()
	var out []deal
	for _, d := range e.deals {
		if !d.UpdatedAt.Before(p.from) {
			out = append(out, *d)
		}
	}
	e.mu.Unlock()
	byUpdate(out, func(d deal) time.Time { return d.UpdatedAt }, func(d deal) string { return d.ID })
	pageOf(w, p, out)
}

type dealIn struct {
	Title     *string `json:"title"`
	ContactID *string `json:"contact_id"`
	Value     *int64  `json:"value"`
	Stage     *string `json:"stage"`
}

// check validates the given fields; e.mu is held.
func (e *Emulator) checkDeal(w http.ResponseWriter, in dealIn) bool {
	switch {
	case in.Title != nil && strings.TrimSpace(*in.Title) == "":
		invalid(w, "title", "must not be empty")
	case in.ContactID != nil && *in.ContactID != "" && e.contact(*in.ContactID) == nil:
		invalid(w, "contact_id", "no contact with id "+*in.ContactID)
	case in.Value != nil && *in.Value < 0:
		invalid(w, "value", "must not be negative")
	case in.Stage != nil && !slices.Contains(stages, *in.Stage):
		invalid(w, "stage", "must be one of "+strings.Join(stages, ", "))
	default:
		return true
	}
	return false
}

func (d *deal) apply(in dealIn) {
	if in.Title != nil {
		d.Title = *in.Title
	}
	if in.ContactID != nil {
		d.ContactID = *in.ContactID
	}
	if in.Value != nil {
		d.Value = *in.Value
	}
	if in.Stage != nil {
		d.Stage = *in.Stage
	}
}

func (e *Emulator) createDeal(w http.ResponseWriter, r *http.Request) {
	var in dealIn
	if !e.Decode(w, r, &in) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if in.Title == nil {
		invalid(w, "title", "is required")
		return
	}
	if !e.checkDeal(w, in) {
		return
	}
	t := emulator.Now()
	d := &deal{ID: e.dealIDs.Next(idDeal, firstDeal+seedDeals-1), Stage: "new", CreatedAt: t, UpdatedAt: t}
	d.apply(in)
	e.deals = append(e.deals, d)
	e.emit("deal_updated", d)
	emulator.JSON(w, http.StatusCreated, map[string]any{"data": d})
}

func (e *Emulator) updateDeal(w http.ResponseWriter, r *http.Request) {
	var in dealIn
	if !e.Decode(w, r, &in) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.deal(r.PathValue("id"))
	switch {
	case d == nil:
		fail(w, http.StatusNotFound, "Deal "+r.PathValue("id")+" not found", nil)
		return
	case in == dealIn{}:
		fail(w, http.StatusBadRequest, "Nothing to update", map[string]string{"title": "give at least one of title, value, stage, contact_id"})
		return
	case !e.checkDeal(w, in):
		return
	}
	d.apply(in)
	d.UpdatedAt = emulator.Now()
	e.emit("deal_updated", d)
	emulator.JSON(w, http.StatusOK, map[string]any{"data": d})
}

func (e *Emulator) listRecordings(w http.ResponseWriter, r *http.Request) {
	p, ok := readPaging(w, r, false)
	if !ok {
		return
	}
	e.mu.Lock()
	out := make([]recording, len(e.recordings))
	for i, rec := range e.recordings {
		out[i] = *rec
	}
	e.mu.Unlock()
	pageOf(w, p, out)
}

func (e *Emulator) getRecording(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, rec := range e.recordings {
		if rec.ID == r.PathValue("id") {
			emulator.JSON(w, http.StatusOK, map[string]any{"data": rec})
			return
		}
	}
	fail(w, http.StatusNotFound, "Recording "+r.PathValue("id")+" not found", nil)
}

func (e *Emulator) listTemplates(w http.ResponseWriter, r *http.Request) {
	p, ok := readPaging(w, r, false)
	if !ok {
		return
	}
	e.mu.Lock()
	out := make([]template, len(e.templates))
	for i, t := range e.templates {
		out[i] = *t
	}
	e.mu.Unlock()
	pageOf(w, p, out)
}

func (e *Emulator) sendMessage(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Phone     string   `json:"phone"`
		ContactID string   `json:"contact_id"`
		Variables []string `json:"variables"`
	}
	if !e.Decode(w, r, &in) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var tpl *template
	for _, t := range e.templates {
		if t.ID == r.PathValue("id") {
			tpl = t
		}
	}
	if tpl == nil {
		fail(w, http.StatusNotFound, "WhatsApp template "+r.PathValue("id")+" not found", nil)
		return
	}
	phone := in.Phone
	switch {
	case (in.Phone == "") == (in.ContactID == ""):
		invalid(w, "phone", "give exactly one of phone or contact_id")
		return
	case in.Phone != "" && !e164.MatchString(in.Phone):
		invalid(w, "phone", phoneRule)
		return
	case in.ContactID != "":
		c := e.contact(in.ContactID)
		if c == nil {
			invalid(w, "contact_id", "no contact with id "+in.ContactID)
			return
		}
		if c.Phone == "" {
			invalid(w, "contact_id", "contact "+c.ID+" has no phone number")
			return
		}
		phone = c.Phone
	}
	if len(in.Variables) != tpl.VariableCount {
		invalid(w, "variables", fmt.Sprintf("template %s takes %d variables, got %d", tpl.Name, tpl.VariableCount, len(in.Variables)))
		return
	}
	body := tpl.Body
	for i, v := range in.Variables {
		if strings.TrimSpace(v) == "" {
			invalid(w, "variables", fmt.Sprintf("variable %d is empty", i+1))
			return
		}
		body = strings.ReplaceAll(body, "{{"+strconv.Itoa(i+1)+"}}", v)
	}
	m := &message{ID: e.messageIDs.Next(idMessage, 50000), TemplateID: tpl.ID, Phone: phone, ContactID: in.ContactID,
		Variables: slices.Clone(in.Variables), Status: "queued", Body: body, CreatedAt: emulator.Now()}
	e.messages = append(e.messages, m)
	emulator.JSON(w, http.StatusCreated, map[string]any{"data": m})
}

func (e *Emulator) createTask(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title     string `json:"title"`
		ContactID string `json:"contact_id"`
		DealID    string `json:"deal_id"`
		DueAt     string `json:"due_at"`
	}
	if !e.Decode(w, r, &in) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var due *time.Time
	if in.DueAt != "" {
		t, err := time.Parse(time.RFC3339, in.DueAt)
		if err != nil {
			invalid(w, "due_at", "must be a date-time such as 2025-08-07T15:00:00Z")
			return
		}
		due = &t
	}
	switch {
	case strings.TrimSpace(in.Title) == "":
		invalid(w, "title", "is required")
		return
	case in.ContactID != "" && e.contact(in.ContactID) == nil:
		invalid(w, "contact_id", "no contact with id "+in.ContactID)
		return
	case in.DealID != "" && e.deal(in.DealID) == nil:
		invalid(w, "deal_id", "no deal with id "+in.DealID)
		return
	}
	t := &task{ID: e.taskIDs.Next(idTask, 3000), Title: in.Title, ContactID: in.ContactID, DealID: in.DealID,
		DueAt: due, Status: "open", CreatedAt: emulator.Now()}
	e.tasks = append(e.tasks, t)
	emulator.JSON(w, http.StatusCreated, map[string]any{"data": t})
}

// MessageCount is how many WhatsApp messages were sent (for tests).
func (e *Emulator) MessageCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.messages)
}

// TaskCount is how many tasks exist (for tests).
func (e *Emulator) TaskCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.tasks)
}

// Counts are the numbers of contacts, deals and recordings held.
func (e *Emulator) Counts() (contacts, deals, recordings int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.contacts), len(e.deals), len(e.recordings)
}

// ContactPhone is a contact's phone (for tests); ok=false when unknown.
func (e *Emulator) ContactPhone(id string) (phone string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.contact(id)
	if c == nil {
		return "", false
	}
	return c.Phone, true
}

// IDs is the id of every record held: contacts, deals, recordings,
// templates, messages and tasks (for tests, e.g. the guard that every id in
// a tool description exists).
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
	for _, r := range e.recordings {
		out = append(out, r.ID)
	}
	for _, t := range e.templates {
		out = append(out, t.ID)
	}
	for _, m := range e.messages {
		out = append(out, m.ID)
	}
	for _, t := range e.tasks {
		out = append(out, t.ID)
	}
	return out
}

// Id prefixes (see the package doc) and the seed's series.
const (
	idContact   = "vx_ct_"
	idDeal      = "vx_deal_"
	idRecording = "vx_rec_"
	idTemplate  = "vx_tpl_"
	idMessage   = "vx_msg_"
	idTask      = "vx_task_"

	firstContact, seedContacts = 1001, 36
	firstDeal, seedDeals       = 5001, 20
)

func (e *Emulator) seed() {
	people := []struct{ name, company, phone string }{
		{"Ana Souza", "Souza Imóveis", "+5511987650101"}, {"Bruno Lima", "Lima Transportes", "+5521998760202"},
		{"Carla Mendes", "Mendes Odontologia", "+5531997650303"}, {"Diego Rocha", "Rocha Auto Peças", "+5541996540404"},
		{"Elisa Ferreira", "Ferreira Advogados", "+5551995430505"}, {"Felipe Araujo", "Araujo Construções", "+5561994320606"},
		{"Gabriela Costa", "Costa Estética", "+5571993210707"}, {"Henrique Alves", "Alves Seguros", "+5581992100808"},
		{"Isabela Ribeiro", "Ribeiro Escola", "+5585991090909"}, {"João Martins", "Martins Café", "+5511987654321"},
		{"Karina Duarte", "Duarte Moda", "+5521982341111"}, {"Lucas Pereira", "Pereira Solar", "+5531983451212"},
		{"Mariana Gomes", "Gomes Clínica", "+5541984561313"}, {"Nicolas Barbosa", "Barbosa Fitness", "+5551985671414"},
		{"Olivia Cardoso", "Cardoso Eventos", "+5561986781515"}, {"Pedro Teixeira", "Teixeira Agro", "+5571987891616"},
		{"Rafaela Nunes", "Nunes Pet", "+5581988901717"}, {"Samuel Moreira", "Moreira Tech", "+5585989011818"},
		{"Tatiana Freitas", "Freitas Contábil", "+5511970121919"}, {"Vitor Castro", "Castro Móveis", "+5521971232020"},
		{"Beatriz Pinto", "Pinto Turismo", "+5531972342121"}, {"Rodrigo Correia", "Correia Energia", "+5541973452222"},
		{"Camila Dias", "Dias Cosméticos", "+5551974562323"}, {"Gustavo Monteiro", "Monteiro Logística", "+5561975672424"},
		{"Helena Cavalcanti", "Cavalcanti Joias", "+5581976782525"}, {"Miguel Batista", "Batista Gráfica", "+5585977892626"},
		{"Laura Fonseca", "Fonseca Idiomas", "+5511978902727"}, {"Rafael Azevedo", "Azevedo Vinhos", "+5521979012828"},
		{"Sofia Marques", "Marques Arquitetura", "+351912345029"}, {"Tiago Vieira", "Vieira Pescados", "+351913456030"},
		{"Emma Wilson", "Northbridge Labs", "+14155550131"}, {"James Carter", "Carter Supply", "+12125550132"},
		{"Olivia Brown", "Harbour Analytics", "+447700900133"}, {"Daniel Ortiz", "Ortiz Foods", "+525512340134"},
		{"Valentina Rojas", "Rojas Textil", "+56912340135"}, {"Mateo Gómez", "Gómez Café", "+573001230136"},
	}
	base := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	for i, p := range people {
		first := fold(strings.Fields(p.name)[0])
		last := fold(strings.Fields(p.company)[0])
		created := base.Add(time.Duration(i) * 19 * time.Hour)
		e.contacts = append(e.contacts, &contact{ID: fmt.Sprintf("%s%d", idContact, firstContact+i), Name: p.name,
			Email: first + "@" + last + ".example", Phone: p.phone, CreatedAt: created,
			UpdatedAt: created.Add(time.Duration(i%5) * 7 * time.Hour)})
	}
	titles := []string{"Annual plan", "Pilot", "Expansion", "Renewal", "Onboarding package"}
	for i := range seedDeals {
		c := e.contacts[(i*7)%len(e.contacts)]
		created := c.CreatedAt.Add(30 * time.Hour)
		e.deals = append(e.deals, &deal{ID: fmt.Sprintf("%s%d", idDeal, firstDeal+i), Title: c.Name[:strings.Index(c.Name, " ")] + " — " + titles[i%len(titles)],
			ContactID: c.ID, Value: int64(120000 + i*35000), Stage: stages[i%len(stages)],
			CreatedAt: created, UpdatedAt: created.Add(time.Duration(i%4) * 24 * time.Hour)})
	}
	summaries := []string{
		"Asked for pricing of the annual plan; send a proposal by Friday.",
		"Follow-up on the pilot: happy with onboarding, wants two more seats.",
		"Complained about a late delivery; offered a discount on the next order.",
		"Discovery call: 12 sales reps, uses spreadsheets today, decision in June.",
		"Renewal talk: budget approved, needs the invoice in the company's name.",
		"Demo scheduled with the operations manager next Tuesday at 10:00.",
	}
	for i := range 12 {
		c := e.contacts[(i*3)%len(e.contacts)]
		id := fmt.Sprintf("%s%d", idRecording, 801+i)
		e.recordings = append(e.recordings, &recording{ID: id, ContactID: c.ID, DurationSeconds: 95 + i*47,
			RecordedAt: c.CreatedAt.Add(50 * time.Hour), URL: "https://media.vixiees.example/recordings/" + id + ".mp3",
			TranscriptSummary: summaries[i%len(summaries)]})
	}
	e.templates = []*template{
		{ID: idTemplate + "101", Name: "welcome", Language: "pt_BR", Category: "MARKETING", Status: "approved",
			Body: "Olá {{1}}, seja bem-vindo! Qualquer dúvida, responda esta mensagem.", VariableCount: 1},
		{ID: idTemplate + "102", Name: "appointment_reminder", Language: "pt_BR", Category: "UTILITY", Status: "approved",
			Body: "Oi {{1}}, lembrete: sua reunião é em {{2}} às {{3}}.", VariableCount: 3},
		{ID: idTemplate + "103", Name: "proposal_sent", Language: "en_US", Category: "UTILITY", Status: "approved",
			Body: "Hi {{1}}, your proposal {{2}} is ready. Reply YES to accept.", VariableCount: 2},
		{ID: idTemplate + "104", Name: "payment_reminder", Language: "en_US", Category: "UTILITY", Status: "approved",
			Body: "Hi {{1}}, invoice {{2}} is due tomorrow.", VariableCount: 2},
		{ID: idTemplate + "105", Name: "form_received", Language: "pt_BR", Category: "UTILITY", Status: "approved",
			Body: "Recebemos seu formulário. Em breve entraremos em contato.", VariableCount: 0},
	}
}

// fold lower-cases s and drops accents, for seed emails.
func fold(s string) string {
	return strings.NewReplacer("á", "a", "ã", "a", "â", "a", "é", "e", "ê", "e", "í", "i", "ó", "o", "ô", "o",
		"ú", "u", "ç", "c").Replace(strings.ToLower(s))
}
