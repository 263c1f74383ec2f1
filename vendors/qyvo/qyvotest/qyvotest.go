// Package qyvotest is an emulator of the Qyvo API, in the style of
// net/http/httptest: the tests run the real client against it over real
// HTTP, and `crm-mcp --sandbox` serves it in process.
//
// It keeps what qyvo.txt documents (Bearer auth, GET triggers and
// dropdowns, POST actions, UUID ids, E.164 phones normalized for minor
// formatting, ISO 8601 "+00:00" timestamps, the 100 newest records per
// trigger feed, free-form text only within 24 hours of the contact's last
// inbound message) and what vendors/qyvo's doc comment assumes where the doc
// is silent (paths, bodies, Laravel errors and paging, 60 requests/min).
// Ids a request acts on (contact_id of a send or tag change, sequence_id,
// flow_id of a trigger) fail Laravel's "exists" rule: 422 naming the field.
// Ids a lookup or update targets answer 404.
//
// Ids are the doc's UUIDs (deterministic v4-shaped ones, for every kind of
// record); no other vendor's sandbox uses UUIDs.
//
// Seed data: 30 contacts (a third wrote within the last 24 hours, a third
// earlier, a third never: times are relative to the emulator's start; Noah
// Brown has the doc's example phone, +14155550123, and wrote recently, so
// both the template and the text sends work on it), 8 templates (7
// approved, some in two languages: order_confirmation in en and es), 6
// tags (among them lead and vip), 3 sequences, 3 flows and recent events in
// every feed.
//
// With ReplyAfter, every template it sends is answered by its recipient a
// little later: an inbound WhatsApp message in the new-message-received
// feed, which opens the 24-hour window, as a customer would.
package qyvotest

import (
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/emulator"
)

// APIToken is the token accepted by an emulator built with zero Options.
const APIToken = "qyvo_test_00000000000000000000"

// DefaultRatePerMinute is the emulated throttle (Laravel's default).
const DefaultRatePerMinute = 60

// window is WhatsApp's customer-service window.
const window = 24 * time.Hour

// Options configure an emulator.
type Options struct {
	APIToken      string // default APIToken
	RatePerMinute int    // default 60; negative: unlimited
	Empty         bool   // no seed data
}

// Emulator is an http.Handler that behaves like Qyvo.
type Emulator struct {
	*emulator.Kit
	opts Options

	mu        sync.Mutex
	seq       int
	contacts  []*contact // oldest first
	tags      []*tag
	templates []*template
	sequences []*sequence
	flows     []*flow
	feeds     map[string][]*event // oldest first
	sent      int

	replyAfter time.Duration // ReplyAfter; 0: no replies
	replying   int           // replies waiting to arrive
}

// stamp marshals as Laravel's ISO 8601: 2026-05-07T08:14:23+00:00.
type stamp time.Time

func (s stamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(s).UTC().Format("2006-01-02T15:04:05-07:00") + `"`), nil
}

func now() stamp { return stamp(emulator.Now()) }

type contact struct {
	ID            string   `json:"id"`
	Phone         string   `json:"phone"`
	Name          string   `json:"name"`
	Email         string   `json:"email"`
	Tags          []string `json:"tags"`
	LastInboundAt *stamp   `json:"last_inbound_at"`
	CreatedAt     stamp    `json:"created_at"`
	UpdatedAt     stamp    `json:"updated_at"`
}

type tag struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	ContactsCount int    `json:"contacts_count"`
}

type template struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Language  string `json:"language"`
	Category  string `json:"category"`
	Status    string `json:"status"`
	Body      string `json:"body"`
	Variables int    `json:"variables"`
}

type step struct {
	Position   int    `json:"position"`
	DelayHours int    `json:"delay_hours"`
	Template   string `json:"template"`
}

type sequence struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	StepsCount int    `json:"steps_count"`
	Steps      []step `json:"steps,omitempty"`
	CreatedAt  stamp  `json:"created_at"`
}

type node struct {
	Position int    `json:"position"`
	Type     string `json:"type"`
	Label    string `json:"label"`
}

type flow struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Status      string `json:"status"`
	Description string `json:"description"`
	NodesCount  int    `json:"nodes_count"`
	Nodes       []node `json:"nodes,omitempty"`
	CreatedAt   stamp  `json:"created_at"`
}

type event struct {
	ID         string `json:"id"`
	ContactID  string `json:"contact_id,omitempty"`
	Phone      string `json:"phone,omitempty"`
	Text       string `json:"text,omitempty"`
	MessageID  string `json:"message_id,omitempty"`
	Campaign   string `json:"campaign,omitempty"`
	SequenceID string `json:"sequence_id,omitempty"`
	FlowID     string `json:"flow_id,omitempty"`
	Name       string `json:"name,omitempty"`
	CreatedAt  stamp  `json:"created_at"`
}

type outbound struct {
	ID        string `json:"id"`
	ContactID string `json:"contact_id"`
	Phone     string `json:"phone"`
	Type      string `json:"type"`
	Template  string `json:"template,omitempty"`
	Language  string `json:"language,omitempty"`
	Body      string `json:"body"`
	Status    string `json:"status"`
	CreatedAt stamp  `json:"created_at"`
}

type run struct {
	ID         string `json:"id"`
	SequenceID string `json:"sequence_id,omitempty"`
	FlowID     string `json:"flow_id,omitempty"`
	ContactID  string `json:"contact_id"`
	Status     string `json:"status"`
	CreatedAt  stamp  `json:"created_at"`
}

// feedNames maps a trigger path segment to its feed.
var feedNames = map[string]string{
	"new-message-received":   "message_received",
	"new-campaign-sent":      "campaign_sent",
	"new-flow-triggered":     "flow_triggered",
	"new-sequence-triggered": "sequence_triggered",
}

// New returns an emulator with seed data.
func New(opts Options) *Emulator {
	if opts.APIToken == "" {
		opts.APIToken = APIToken
	}
	if opts.RatePerMinute == 0 {
		opts.RatePerMinute = DefaultRatePerMinute
	}
	e := &Emulator{Kit: emulator.NewKit(), opts: opts, feeds: map[string][]*event{}}
	if !opts.Empty {
		e.seed()
	}
	actions := map[string]func(http.ResponseWriter, *http.Request){
		"send-template-message": e.sendTemplate, "send-text-message": e.sendText,
		"create-contact": e.createContact, "update-contact": e.updateContact,
		"get-contact": e.getContact, "search-contacts": e.searchContacts,
		"add-tag": e.tagContact(true), "remove-tag": e.tagContact(false),
		"trigger-sequence": e.startAutomation(sequences), "get-sequence": e.getAutomation(sequences),
		"trigger-flow": e.startAutomation(flows), "get-flow": e.getAutomation(flows),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /me", e.me)
	mux.HandleFunc("GET /triggers/{feed}", e.trigger)
	mux.HandleFunc("GET /templates", dropdown(e, func() any { return e.templates }))
	mux.HandleFunc("GET /tags", dropdown(e, func() any { return e.tagCounts() }))
	mux.HandleFunc("GET /sequences", dropdown(e, func() any { return summaries(e.sequences, func(s sequence) sequence { s.Steps = nil; return s }) }))
	mux.HandleFunc("GET /flows", dropdown(e, func() any { return summaries(e.flows, func(f flow) flow { f.Nodes = nil; return f }) }))
	mux.HandleFunc("POST /actions/{action}", func(w http.ResponseWriter, r *http.Request) {
		if h := actions[r.PathValue("action")]; h != nil {
			h(w, r)
			return
		}
		notFoundRoute(w, r)
	})
	mux.HandleFunc("/", notFoundRoute)
	e.Handle(emulator.Vendor{
		Route:        emulator.ExactRoute,
		ErrBody:      errBody,
		Authorized:   func(r *http.Request) bool { return emulator.Bearer(r) == opts.APIToken },
		Unauthorized: func(w http.ResponseWriter) { message(w, http.StatusUnauthorized, "Unauthenticated.") },
		Limits:       emulator.PerMinute(opts.RatePerMinute),
		Throttled: func(w http.ResponseWriter, _ int) {
			w.Header().Set("X-RateLimit-Limit", fmt.Sprint(opts.RatePerMinute))
			w.Header().Set("X-RateLimit-Remaining", "0")
			message(w, http.StatusTooManyRequests, "Too Many Attempts.")
		},
		BadBody: func(w http.ResponseWriter, err error) {
			message(w, http.StatusBadRequest, "The request body is not valid JSON: "+err.Error())
		},
		EmptyBody: true, // Laravel reads an empty body as no input
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
	msg := cmp.Or(map[int]string{401: "Unauthenticated.", 404: "Not Found", 429: "Too Many Attempts.", 500: "Server Error"}[status], http.StatusText(status))
	return fmt.Sprintf(`{"message":%q}`, msg)
}

func message(w http.ResponseWriter, status int, msg string) {
	emulator.JSON(w, status, map[string]string{"message": msg})
}

func notFoundRoute(w http.ResponseWriter, r *http.Request) {
	message(w, http.StatusNotFound, "The route "+strings.TrimPrefix(r.URL.Path, "/")+" could not be found.")
}

func modelNotFound(w http.ResponseWriter, model, id string) {
	message(w, http.StatusNotFound, fmt.Sprintf(`No query results for model [App\Models\%s] %s`, model, id))
}

// bag collects Laravel validation errors in the order found.
type bag struct {
	order []string
	m     map[string][]string
}

func (b *bag) add(field, msg string) {
	if b.m == nil {
		b.m = map[string][]string{}
	}
	if _, ok := b.m[field]; !ok {
		b.order = append(b.order, field)
	}
	b.m[field] = append(b.m[field], msg)
}

// fail answers 422 when errors were found.
func (b *bag) fail(w http.ResponseWriter) bool {
	if len(b.order) == 0 {
		return false
	}
	msg := b.m[b.order[0]][0]
	n := -1
	for _, v := range b.m {
		n += len(v)
	}
	if n == 1 {
		msg += " (and 1 more error)"
	} else if n > 1 {
		msg += fmt.Sprintf(" (and %d more errors)", n)
	}
	emulator.JSON(w, http.StatusUnprocessableEntity, map[string]any{"message": msg, "errors": b.m})
	return true
}

var (
	e164   = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// normalize accepts minor formatting: spaces, dashes, dots, parentheses, 00.
func normalize(phone string) (string, bool) {
	p := strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "").Replace(strings.TrimSpace(phone))
	if rest, ok := strings.CutPrefix(p, "00"); ok {
		p = "+" + rest
	}
	return p, e164.MatchString(p)
}

// label is Laravel's name for a field in messages: contact_id -> contact id.
func label(field string) string { return strings.ReplaceAll(field, "_", " ") }

func (b *bag) required(field, v string) bool {
	if strings.TrimSpace(v) == "" {
		b.add(field, "The "+label(field)+" field is required.")
		return false
	}
	return true
}

func (b *bag) phone(field, v string) string {
	p, ok := normalize(v)
	if !ok {
		b.add(field, "The "+label(field)+" field format is invalid.")
	}
	return p
}

func (b *bag) uuid(field, v string) bool {
	if !uuidRe.MatchString(v) {
		b.add(field, "The "+label(field)+" field must be a valid UUID.")
		return false
	}
	return true
}

func (b *bag) email(field, v string) {
	if !emulator.ValidEmail(v) {
		b.add(field, "The "+label(field)+" field must be a valid email address.")
	}
}

func (b *bag) max(field, v string, n int) {
	if len([]rune(v)) > n {
		b.add(field, fmt.Sprintf("The %s field must not be greater than %d characters.", label(field), n))
	}
}

func (b *bag) tags(tags []string) {
	for i, t := range tags {
		f := fmt.Sprintf("tags.%d", i)
		if b.required(f, t) {
			b.max(f, t, 50)
		}
	}
}

// uuidFor is a deterministic v4-shaped UUID.
func uuidFor(kind string, n int) string {
	s := sha256.Sum256([]byte(fmt.Sprintf("qyvo:%s:%d", kind, n)))
	s[6] = s[6]&0x0f | 0x40
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// newID is a fresh UUID; e.mu held.
func (e *Emulator) newID(kind string) string {
	e.seq++
	return uuidFor(kind, 100000+e.seq)
}

func (e *Emulator) me(w http.ResponseWriter, r *http.Request) {
	emulator.JSON(w, 200, map[string]any{"data": map[string]any{
		"user":   map[string]string{"id": uuidFor("user", 1), "name": "Sandbox Owner", "email": "owner@qyvo-sandbox.example"},
		"tenant": map[string]string{"id": uuidFor("tenant", 1), "name": "Qyvo Sandbox", "whatsapp_number": "+14155550100", "timezone": "UTC"},
	}})
}

func (e *Emulator) trigger(w http.ResponseWriter, r *http.Request) {
	feed, ok := feedNames[r.PathValue("feed")]
	if !ok {
		notFoundRoute(w, r)
		return
	}
	e.mu.Lock()
	all := e.feeds[feed]
	out := make([]event, 0, min(len(all), 100))
	for i := len(all) - 1; i >= 0 && len(out) < 100; i-- {
		out = append(out, *all[i])
	}
	e.mu.Unlock()
	emulator.JSON(w, 200, map[string]any{"data": out})
}

func dropdown(e *Emulator, items func() any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		b, _ := json.Marshal(map[string]any{"data": items()})
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}
}

// summaries copies records for a dropdown, trimmed by f.
func summaries[T any](items []*T, f func(T) T) []T {
	out := make([]T, len(items))
	for i, it := range items {
		out[i] = f(*it)
	}
	return out
}

// tagCounts is every tag with its contact count; e.mu held.
func (e *Emulator) tagCounts() []tag {
	out := summaries(e.tags, func(t tag) tag { return t })
	for i := range out {
		out[i].ContactsCount = 0
		for _, c := range e.contacts {
			if slices.Contains(c.Tags, out[i].Name) {
				out[i].ContactsCount++
			}
		}
	}
	return out
}

func (e *Emulator) byID(id string) *contact {
	return emulator.Find(e.contacts, func(c *contact) bool { return c.ID == id })
}

func (e *Emulator) byPhone(p string) *contact {
	return emulator.Find(e.contacts, func(c *contact) bool { return c.Phone == p })
}

func (e *Emulator) byEmail(m string) *contact {
	return emulator.Find(e.contacts, func(c *contact) bool { return c.Email != "" && strings.EqualFold(c.Email, m) })
}

// addContact creates a contact; e.mu held.
func (e *Emulator) addContact(phone string) *contact {
	t := now()
	c := &contact{ID: e.newID("contact"), Phone: phone, Tags: []string{}, CreatedAt: t, UpdatedAt: t}
	e.contacts = append(e.contacts, c)
	return c
}

// addTag tags c, registering the tag when new; e.mu held.
func (e *Emulator) addTag(c *contact, name string) {
	if !slices.ContainsFunc(e.tags, func(t *tag) bool { return t.Name == name }) {
		e.tags = append(e.tags, &tag{ID: e.newID("tag"), Name: name})
	}
	if !slices.Contains(c.Tags, name) {
		c.Tags = append(c.Tags, name)
	}
}

func (e *Emulator) emit(feed string, ev *event) {
	ev.ID = e.newID("event")
	ev.CreatedAt = now()
	e.feeds[feed] = append(e.feeds[feed], ev)
}

func (e *Emulator) sendTemplate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Phone     string   `json:"phone"`
		ContactID string   `json:"contact_id"`
		Template  string   `json:"template"`
		Language  string   `json:"language"`
		Variables []string `json:"variables"`
	}
	if !e.Decode(w, r, &in) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var b bag
	var c *contact
	phone := ""
	switch {
	case in.Phone == "" && in.ContactID == "":
		b.add("phone", "The phone field is required when contact id is not present.")
	case in.Phone != "" && in.ContactID != "":
		b.add("phone", "The phone field prohibits contact id from being present.")
	case in.Phone != "":
		phone = b.phone("phone", in.Phone)
		c = e.byPhone(phone)
	case b.uuid("contact_id", in.ContactID):
		if c = e.byID(in.ContactID); c == nil {
			b.add("contact_id", "The selected contact id is invalid.")
		}
	}
	lang := in.Language
	if lang == "" {
		lang = "en"
	}
	t := e.template(&b, in.Template, lang)
	if t != nil && len(in.Variables) != t.Variables {
		b.add("variables", fmt.Sprintf("The template %s (%s) takes %d variables; %d given.", t.Name, t.Language, t.Variables, len(in.Variables)))
	}
	for i, v := range in.Variables {
		b.required(fmt.Sprintf("variables.%d", i), v)
	}
	if b.fail(w) {
		return
	}
	if c == nil {
		c = e.addContact(phone)
	}
	body := t.Body
	for i, v := range in.Variables {
		body = strings.ReplaceAll(body, fmt.Sprintf("{{%d}}", i+1), v)
	}
	m := e.deliver(c, outbound{Type: "template", Template: t.Name, Language: t.Language, Body: body})
	e.reply(c.Phone)
	emulator.JSON(w, http.StatusCreated, map[string]any{"data": m})
}

// template finds an approved template in lang, or adds the error; e.mu held.
func (e *Emulator) template(b *bag, name, lang string) *template {
	if !b.required("template", name) {
		return nil
	}
	var langs []string
	for _, t := range e.templates {
		if t.Name != name {
			continue
		}
		if t.Status != "approved" {
			b.add("template", "The template "+name+" is "+t.Status+" and cannot be sent until Meta approves it.")
			return nil
		}
		if t.Language == lang {
			return t
		}
		langs = append(langs, t.Language)
	}
	if len(langs) == 0 {
		b.add("template", "The selected template is invalid.")
	} else {
		b.add("language", fmt.Sprintf("The template %s is not approved in %s; approved languages: %s.", name, lang, strings.Join(langs, ", ")))
	}
	return nil
}

// deliver records an outbound message; e.mu held.
func (e *Emulator) deliver(c *contact, m outbound) outbound {
	m.ID, m.ContactID, m.Phone, m.Status, m.CreatedAt = e.newID("message"), c.ID, c.Phone, "sent", now()
	e.sent++
	campaign := m.Template
	if campaign == "" {
		campaign = "text"
	}
	e.emit("campaign_sent", &event{ContactID: c.ID, Phone: c.Phone, MessageID: m.ID, Campaign: campaign})
	return m
}

func (e *Emulator) sendText(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Phone string `json:"phone"`
		Text  string `json:"text"`
	}
	if !e.Decode(w, r, &in) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var b bag
	phone := ""
	if b.required("phone", in.Phone) {
		phone = b.phone("phone", in.Phone)
	}
	if b.required("text", in.Text) {
		b.max("text", in.Text, 4096)
	}
	if b.fail(w) {
		return
	}
	c := e.byPhone(phone)
	if c == nil || c.LastInboundAt == nil || time.Since(time.Time(*c.LastInboundAt)) > window {
		b.add("phone", "No message from "+phone+" in the last 24 hours, so the customer service window is closed and free-form text cannot be sent. Send an approved template instead (send-template-message).")
		b.fail(w)
		return
	}
	m := e.deliver(c, outbound{Type: "text", Body: in.Text})
	emulator.JSON(w, http.StatusCreated, map[string]any{"data": m})
}

type contactFields struct {
	Name  string   `json:"name"`
	Email string   `json:"email"`
	Tags  []string `json:"tags"`
}

func (b *bag) contactFields(f contactFields) {
	b.max("name", f.Name, 255)
	if f.Email != "" {
		b.email("email", f.Email)
	}
	b.tags(f.Tags)
}

// apply writes the given fields to c; tags are added (merge) or set; e.mu held.
func (e *Emulator) apply(c *contact, f contactFields, setTags bool) {
	if f.Name != "" {
		c.Name = f.Name
	}
	if f.Email != "" {
		c.Email = f.Email
	}
	if setTags && f.Tags != nil {
		c.Tags = []string{}
	}
	for _, t := range f.Tags {
		e.addTag(c, t)
	}
	c.UpdatedAt = now()
}

func (e *Emulator) createContact(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Phone string `json:"phone"`
		contactFields
	}
	if !e.Decode(w, r, &in) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var b bag
	phone := ""
	if b.required("phone", in.Phone) {
		phone = b.phone("phone", in.Phone)
	}
	b.contactFields(in.contactFields)
	if b.fail(w) {
		return
	}
	c, status := e.byPhone(phone), http.StatusOK
	if c == nil {
		c, status = e.addContact(phone), http.StatusCreated
	}
	e.apply(c, in.contactFields, false)
	emulator.JSON(w, status, map[string]any{"data": c, "created": status == http.StatusCreated})
}

func (e *Emulator) updateContact(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID    string `json:"id"`
		Phone string `json:"phone"`
		contactFields
	}
	if !e.Decode(w, r, &in) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var b bag
	phone := ""
	switch {
	case in.ID == "" && in.Phone == "":
		b.add("id", "The id field is required when phone is not present.")
	case in.ID != "" && in.Phone != "":
		b.add("id", "The id field prohibits phone from being present.")
	case in.ID != "":
		b.uuid("id", in.ID)
	default:
		phone = b.phone("phone", in.Phone)
	}
	b.contactFields(in.contactFields)
	if b.fail(w) {
		return
	}
	c := e.byID(in.ID)
	if phone != "" {
		c = e.byPhone(phone)
	}
	if c == nil {
		modelNotFound(w, "Contact", in.ID+phone)
		return
	}
	e.apply(c, in.contactFields, true)
	emulator.JSON(w, 200, map[string]any{"data": c})
}

func (e *Emulator) getContact(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID    string `json:"id"`
		Phone string `json:"phone"`
		Email string `json:"email"`
	}
	if !e.Decode(w, r, &in) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var b bag
	var c *contact
	given := 0
	for _, v := range []string{in.ID, in.Phone, in.Email} {
		if v != "" {
			given++
		}
	}
	switch {
	case given == 0:
		b.add("id", "The id field is required when none of phone / email are present.")
	case given > 1:
		b.add("id", "Give exactly one of id, phone or email.")
	case in.ID != "":
		if b.uuid("id", in.ID) {
			c = e.byID(in.ID)
		}
	case in.Phone != "":
		c = e.byPhone(b.phone("phone", in.Phone))
	default:
		b.email("email", in.Email)
		c = e.byEmail(in.Email)
	}
	if b.fail(w) {
		return
	}
	if c == nil {
		modelNotFound(w, "Contact", in.ID+in.Phone+in.Email)
		return
	}
	emulator.JSON(w, 200, map[string]any{"data": c})
}

func (e *Emulator) searchContacts(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Query   string `json:"query"`
		Tag     string `json:"tag"`
		Email   string `json:"email"`
		Page    *int   `json:"page"`
		PerPage *int   `json:"per_page"`
	}
	if !e.Decode(w, r, &in) {
		return
	}
	var b bag
	page, perPage := 1, 15
	if in.Page != nil {
		if page = *in.Page; page < 1 {
			b.add("page", "The page field must be at least 1.")
		}
	}
	if in.PerPage != nil {
		switch perPage = *in.PerPage; {
		case perPage < 1:
			b.add("per_page", "The per page field must be at least 1.")
		case perPage > 100:
			b.add("per_page", "The per page field must not be greater than 100.")
		}
	}
	if b.fail(w) {
		return
	}
	q := strings.ToLower(strings.TrimSpace(in.Query))
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, q)
	e.mu.Lock()
	var match []contact
	for i := len(e.contacts) - 1; i >= 0; i-- { // newest first
		c := e.contacts[i]
		text := strings.ToLower(c.Name + " " + c.Email + " " + c.Phone)
		if q != "" && !strings.Contains(text, q) && (len(digits) < 4 || !strings.Contains(c.Phone, digits)) {
			continue
		}
		if (in.Tag != "" && !slices.Contains(c.Tags, in.Tag)) || (in.Email != "" && !strings.EqualFold(c.Email, in.Email)) {
			continue
		}
		match = append(match, *c)
	}
	e.mu.Unlock()
	last := max(1, (len(match)+perPage-1)/perPage)
	emulator.JSON(w, 200, map[string]any{
		"data": emulator.Page(match, (page-1)*perPage, perPage),
		"meta": map[string]int{"current_page": page, "last_page": last, "per_page": perPage, "total": len(match)},
	})
}

// tagContact is add-tag (add) or remove-tag.
func (e *Emulator) tagContact(add bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ContactID string `json:"contact_id"`
			Tag       string `json:"tag"`
		}
		if !e.Decode(w, r, &in) {
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		var b bag
		e.exists(&b, "contact_id", in.ContactID, func(id string) bool { return e.byID(id) != nil })
		if b.required("tag", in.Tag) {
			b.max("tag", in.Tag, 50)
		}
		if b.fail(w) {
			return
		}
		ct := e.byID(in.ContactID)
		if add {
			e.addTag(ct, in.Tag)
		} else {
			ct.Tags = slices.DeleteFunc(ct.Tags, func(t string) bool { return t == in.Tag })
		}
		ct.UpdatedAt = now()
		emulator.JSON(w, 200, map[string]any{"data": ct})
	}
}

// exists applies Laravel's required|uuid|exists rules to an id field.
func (e *Emulator) exists(b *bag, field, id string, found func(string) bool) {
	if b.required(field, id) && b.uuid(field, id) && !found(id) {
		b.add(field, "The selected "+label(field)+" is invalid.")
	}
}

func (e *Emulator) findSequence(id string) *sequence {
	return emulator.Find(e.sequences, func(s *sequence) bool { return s.ID == id })
}

func (e *Emulator) findFlow(id string) *flow {
	return emulator.Find(e.flows, func(f *flow) bool { return f.ID == id })
}

// automation is what sequences and flows share: the body field that names
// one, its model name in errors, the feed a trigger lands in, a new run's
// status, how to find one, and how a run and an event point back to it.
type automation struct {
	field, model, feed, runStatus string
	find                          func(e *Emulator, id string) (rec any, name, status string) // rec nil: unknown
	point                         func(id string, ev *event, r *run)
}

var (
	sequences = automation{field: "sequence_id", model: "Sequence", feed: "sequence_triggered", runStatus: "active",
		find: func(e *Emulator, id string) (any, string, string) {
			if s := e.findSequence(id); s != nil {
				return s, s.Name, s.Status
			}
			return nil, "", ""
		},
		point: func(id string, ev *event, r *run) { ev.SequenceID, r.SequenceID = id, id }}
	flows = automation{field: "flow_id", model: "Flow", feed: "flow_triggered", runStatus: "running",
		find: func(e *Emulator, id string) (any, string, string) {
			if f := e.findFlow(id); f != nil {
				return f, f.Name, f.Status
			}
			return nil, "", ""
		},
		point: func(id string, ev *event, r *run) { ev.FlowID, r.FlowID = id, id }}
)

// startAutomation starts an active sequence or flow for a contact.
func (e *Emulator) startAutomation(a automation) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		if !e.Decode(w, r, &in) {
			return
		}
		id, contactID := in[a.field], in["contact_id"]
		e.mu.Lock()
		defer e.mu.Unlock()
		var b bag
		e.exists(&b, a.field, id, func(id string) bool { rec, _, _ := a.find(e, id); return rec != nil })
		e.exists(&b, "contact_id", contactID, func(id string) bool { return e.byID(id) != nil })
		if rec, name, status := a.find(e, id); rec != nil && status != "active" {
			kind := strings.ToLower(a.model)
			b.add(a.field, "The "+kind+" "+name+" is "+status+"; only active "+kind+"s can be triggered.")
		}
		if b.fail(w) {
			return
		}
		_, name, _ := a.find(e, id)
		c := e.byID(contactID)
		ev := &event{ContactID: c.ID, Phone: c.Phone, Name: name}
		rn := run{ID: e.newID("run"), ContactID: c.ID, Status: a.runStatus, CreatedAt: now()}
		a.point(id, ev, &rn)
		e.emit(a.feed, ev)
		emulator.JSON(w, http.StatusCreated, map[string]any{"data": rn})
	}
}

// getAutomation returns one sequence or flow with its steps or nodes.
func (e *Emulator) getAutomation(a automation) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		if !e.Decode(w, r, &in) {
			return
		}
		id := in[a.field]
		var b bag
		if b.required(a.field, id) {
			b.uuid(a.field, id)
		}
		if b.fail(w) {
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		rec, _, _ := a.find(e, id)
		if rec == nil {
			modelNotFound(w, a.model, id)
			return
		}
		emulator.JSON(w, 200, map[string]any{"data": rec})
	}
}

// IDs is the id of every record held: the user and tenant, contacts, tags,
// templates, sequences, flows, feed events and the messages they name (for
// tests, e.g. the guard that every id in a tool description exists).
func (e *Emulator) IDs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []string{uuidFor("user", 1), uuidFor("tenant", 1)}
	for _, c := range e.contacts {
		out = append(out, c.ID)
	}
	for _, t := range e.tags {
		out = append(out, t.ID)
	}
	for _, t := range e.templates {
		out = append(out, t.ID)
	}
	for _, s := range e.sequences {
		out = append(out, s.ID)
	}
	for _, f := range e.flows {
		out = append(out, f.ID)
	}
	for _, feed := range e.feeds {
		for _, ev := range feed {
			out = append(out, ev.ID)
			if ev.MessageID != "" {
				out = append(out, ev.MessageID)
			}
		}
	}
	return out
}

// Sent is how many messages were actually sent (template and text).
func (e *Emulator) Sent() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sent
}

// Inbound records a message from phone now, opening its 24-hour window
// (creating the contact if new), and returns the contact id; "" if the
// phone is not valid.
func (e *Emulator) Inbound(phone, text string) string {
	p, ok := normalize(phone)
	if !ok {
		return ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.byPhone(p)
	if c == nil {
		c = e.addContact(p)
	}
	t := now()
	c.LastInboundAt = &t
	e.emit("message_received", &event{ContactID: c.ID, Phone: c.Phone, Text: text})
	return c.ID
}

// ReplyText is what a recipient answers a template with (ReplyAfter).
const ReplyText = "Thanks for the message! Yes, I'm interested: can you tell me more?"

// ReplyAfter makes every template message sent from now on answered by its
// recipient d later: Inbound(phone, ReplyText). At most 100 replies wait at
// a time (sends beyond get none); 0 turns replies off.
func (e *Emulator) ReplyAfter(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.replyAfter = d
}

// reply schedules the answer to a template sent to phone; e.mu held.
func (e *Emulator) reply(phone string) {
	if e.replyAfter <= 0 || e.replying >= 100 {
		return
	}
	e.replying++
	time.AfterFunc(e.replyAfter, func() {
		e.Inbound(phone, ReplyText)
		e.mu.Lock()
		defer e.mu.Unlock()
		e.replying--
	})
}

// ContactCount is the number of contacts held.
func (e *Emulator) ContactCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.contacts)
}

// Feed is the length of one trigger feed (all records, not only the 100 newest).
func (e *Emulator) Feed(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.feeds[name])
}
