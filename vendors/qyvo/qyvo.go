// Package qyvo is a client of the Qyvo REST API (shared/vendor-docs/qyvo.txt),
// a WhatsApp messaging platform: template and free-form messages, contacts
// and tags, sequences, flows, and polling "trigger" feeds.
//
// What the doc says: base URL https://www.qyvo.io/api/v1; Bearer token auth;
// JSON bodies; GET for triggers and "dropdowns", POST for actions and lookups
// (even read-only ones); UUID ids (Laravel HasUuids); timestamps ISO 8601 UTC
// (2026-05-07T08:14:23+00:00); phones international with a leading + and
// normalized server-side for minor formatting variations; triggers return up
// to the 100 newest records, newest first; free-form text only inside the
// 24-hour customer-service window. It states no rate limit.
//
// Where the doc is silent we assume, and the emulator (qyvotest) agrees:
//   - paths are relative to the base URL: GET /me, GET /triggers/new-<event>
//     (message-received, campaign-sent, flow-triggered, sequence-triggered),
//     POST /actions/<action> (send-template-message, send-text-message,
//     create-contact, update-contact, get-contact, search-contacts, add-tag,
//     remove-tag, trigger-sequence, get-sequence, trigger-flow, get-flow), and
//     the dropdowns GET /templates, /tags, /sequences, /flows;
//   - request bodies are snake_case JSON mirroring the tool inputs;
//   - responses are Laravel API resources: {"data": ...} (a bare object is
//     read too); create-contact adds "created": true|false beside "data";
//   - dropdowns return the whole set in one {"data": [...]}, unpaged;
//   - search-contacts pages Laravel-style: "page" and "per_page" (1-100,
//     default 15) in the body, {"data": [...], "meta": {"current_page",
//     "last_page", "per_page", "total"}} back;
//   - errors are Laravel's: 422 {"message", "errors": {"field": ["..."]}}
//     (array items as "tags.0"), 401 {"message": "Unauthenticated."},
//     404 {"message"} for unknown ids, 429 {"message": "Too Many Attempts."}
//     with Retry-After;
//   - an unknown id an action refers to (contact_id of a send or tag change,
//     sequence_id, flow_id) fails Laravel's "exists" rule: 422 naming it; an
//     unknown id a lookup or update targets is a 404;
//   - send-template-message: language defaults to "en"; an unknown or
//     unapproved template is a 422 naming "template", a missing language
//     names "language", a wrong variable count names "variables"; sending to
//     a new phone creates the contact;
//   - a text outside the 24-hour window is a 422 naming "phone";
//   - create-contact adds the given tags; update-contact replaces them;
//   - the rate limit is Laravel's default API throttle, 60/min per token,
//     configurable with QYVO_RATE_LIMIT; a 429 pauses the token (the core).
//
// The four trigger feeds are also polled in the background by crm-mcp
// (cmd/crm-mcp/webhooks.go) and turned into vendor events, each record
// once (by its id); the poller keeps to a share of PerMinute.
//
// Only the read-only lookups (get-contact, search-contacts, get-sequence,
// get-flow) are retried. Tag changes are not: on WhatsApp platforms adding a
// tag may start an automation.
package qyvo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
)

// Name is the vendor's name in tool names, limiter keys and errors.
const Name = "qyvo"

// DefaultBaseURL is the documented base URL.
const DefaultBaseURL = "https://www.qyvo.io/api/v1"

// DefaultRatePerMinute is assumed (Laravel's default API throttle): the doc states none.
const DefaultRatePerMinute = 60

// MaxPerPage is the largest search page (assumed).
const MaxPerPage = 100

// Config is Qyvo's configuration, read from the environment.
type Config struct {
	APIToken  string `env:"QYVO_API_TOKEN"`
	BaseURL   string `env:"QYVO_BASE_URL, default=https://www.qyvo.io/api/v1"`
	RateLimit int    `env:"QYVO_RATE_LIMIT, default=60"` // requests/min, at least 1 (New reads <= 0 as 60)
}

// Configured reports whether a token is present.
func (c Config) Configured() bool { return c.APIToken != "" }

// PerMinute is the request budget per minute: RateLimit, or
// DefaultRatePerMinute when it is not set (as New reads it).
func (c Config) PerMinute() int {
	if c.RateLimit <= 0 {
		return DefaultRatePerMinute
	}
	return c.RateLimit
}

// Check reports, naming the env vars and what is allowed, what keeps a
// Config read from the environment from working: a rate limit below 1, a
// base URL that is not an absolute http(s) URL, or settings without the
// token they are for. Nothing set at all is fine: Qyvo is simply not used.
func (c Config) Check() error {
	var ck vendors.ConfigCheck
	ck.AtLeastOne("QYVO_RATE_LIMIT", c.RateLimit, fmt.Sprintf("requests per minute (default %d)", DefaultRatePerMinute))
	ck.BaseURL("QYVO_BASE_URL", c.BaseURL, DefaultBaseURL)
	if c.APIToken == "" {
		ck.WithoutKey("Qyvo", []string{"QYVO_API_TOKEN"}, vendors.If(c.RateLimit != DefaultRatePerMinute, "QYVO_RATE_LIMIT"),
			vendors.If(c.BaseURL != "" && c.BaseURL != DefaultBaseURL, "QYVO_BASE_URL"))
	}
	return ck.Err()
}

// Client calls Qyvo with one API token.
type Client struct {
	c         *vendors.Client
	perMinute int // its rate limit
}

// PerMinute is the client's rate limit, requests per minute: what the
// feeds' poller takes its share of.
func (c *Client) PerMinute() int { return c.perMinute }

// Identity is a one-way digest of the credential this client sends.
func (c *Client) Identity() string { return c.c.Identity }

// New returns a client for cfg.
func New(cfg Config, o vendors.Options) *Client {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+cfg.APIToken)
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	c := o.NewClient(Name, base, h, []ratelimit.Window{{Limit: cfg.PerMinute(), Period: time.Minute}}, cfg.APIToken)
	c.DecodeError = decodeError
	return &Client{c: c, perMinute: cfg.PerMinute()}
}

// Me is the token's user and workspace (tenant).
type Me struct {
	User   User   `json:"user"`
	Tenant Tenant `json:"tenant"`
}

// User is the person who owns the token.
type User struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Tenant is the workspace and its WhatsApp business number.
type Tenant struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	WhatsAppNumber string `json:"whatsapp_number"`
	Timezone       string `json:"timezone,omitempty"`
}

// Me returns the current user and tenant.
func (c *Client) Me(ctx context.Context) (*Me, error) {
	return vendors.Fetch[Me](ctx, c.c, vendors.NewRequest(http.MethodGet, "/me", nil, nil))
}

// Events maps each trigger feed to its path.
var Events = map[string]string{
	"message_received":   "/triggers/new-message-received",
	"campaign_sent":      "/triggers/new-campaign-sent",
	"flow_triggered":     "/triggers/new-flow-triggered",
	"sequence_triggered": "/triggers/new-sequence-triggered",
}

// Event is one record of a trigger feed; fields depend on the feed.
type Event struct {
	ID         string    `json:"id"`
	ContactID  string    `json:"contact_id,omitempty"`
	Phone      string    `json:"phone,omitempty"`
	Text       string    `json:"text,omitempty"`        // message_received
	MessageID  string    `json:"message_id,omitempty"`  // campaign_sent
	Campaign   string    `json:"campaign,omitempty"`    // campaign_sent: template or broadcast name
	SequenceID string    `json:"sequence_id,omitempty"` // sequence_triggered
	FlowID     string    `json:"flow_id,omitempty"`     // flow_triggered
	Name       string    `json:"name,omitempty"`        // sequence or flow name
	CreatedAt  time.Time `json:"created_at"`
}

// Recent returns the newest records of one trigger feed, newest first:
// r.Limit of them (0: all the feed holds, at most the 100 newest). A feed
// is one page: Next is always "", Total -1 (Qyvo does not say how many
// there were), and no cursor is one of this list's.
func (c *Client) Recent(ctx context.Context, event string, r vendors.PageRequest) (vendors.Page[Event], error) {
	path, ok := Events[event]
	if !ok {
		return vendors.Page[Event]{}, vendors.Invalid(Name, "event", "must be one of message_received, campaign_sent, flow_triggered, sequence_triggered")
	}
	if r.Cursor != "" {
		return vendors.Page[Event]{}, vendors.BadCursor(Name)
	}
	evs, err := list[Event](ctx, c, path)
	if err != nil {
		return vendors.Page[Event]{}, err
	}
	if r.Limit > 0 && len(evs) > r.Limit {
		evs = evs[:r.Limit]
	}
	return vendors.NewPage(evs, -1, ""), nil
}

// Message is an outbound WhatsApp message.
type Message struct {
	ID        string    `json:"id"`
	ContactID string    `json:"contact_id"`
	Phone     string    `json:"phone"`
	Type      string    `json:"type"` // template | text
	Template  string    `json:"template,omitempty"`
	Language  string    `json:"language,omitempty"`
	Body      string    `json:"body"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// TemplateMessage is the body of send-template-message: phone or contact_id.
type TemplateMessage struct {
	Phone     string   `json:"phone,omitempty"`
	ContactID string   `json:"contact_id,omitempty"`
	Template  string   `json:"template"`
	Language  string   `json:"language,omitempty"`
	Variables []string `json:"variables,omitempty"`
}

// SendTemplateMessage sends an approved template. Never re-sent.
func (c *Client) SendTemplateMessage(ctx context.Context, in TemplateMessage) (*Message, error) {
	return vendors.Fetch[Message](ctx, c.c, post("/actions/send-template-message", in, false))
}

// TextMessage is the body of send-text-message.
type TextMessage struct {
	Phone string `json:"phone"`
	Text  string `json:"text"`
}

// SendTextMessage sends free-form text; Qyvo refuses it (422, phone)
// outside the 24-hour window. Never re-sent.
func (c *Client) SendTextMessage(ctx context.Context, in TextMessage) (*Message, error) {
	return vendors.Fetch[Message](ctx, c.c, post("/actions/send-text-message", in, false))
}

// Contact is a WhatsApp contact.
type Contact struct {
	ID            string     `json:"id"`
	Phone         string     `json:"phone"`
	Name          string     `json:"name,omitempty"`
	Email         string     `json:"email,omitempty"`
	Tags          []string   `json:"tags"`
	LastInboundAt *time.Time `json:"last_inbound_at"` // opens the 24-hour window
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// NewContact is the body of create-contact (an upsert by phone; tags are
// added to an existing contact's).
type NewContact struct {
	Phone string   `json:"phone"`
	Name  string   `json:"name,omitempty"`
	Email string   `json:"email,omitempty"`
	Tags  []string `json:"tags,omitempty"`
}

// Upserted is create-contact's answer.
type Upserted struct {
	Contact Contact `json:"data"`
	Created bool    `json:"created"`
}

// CreateContact creates a contact or updates the one with that phone.
func (c *Client) CreateContact(ctx context.Context, in NewContact) (*Upserted, error) {
	var out Upserted
	if err := c.c.Do(ctx, post("/actions/create-contact", in, false), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ContactUpdate is the body of update-contact: id or phone picks the
// contact; nil Tags leaves them, an empty slice clears them.
type ContactUpdate struct {
	ID    string   `json:"id,omitempty"`
	Phone string   `json:"phone,omitempty"`
	Name  string   `json:"name,omitempty"`
	Email string   `json:"email,omitempty"`
	Tags  []string `json:"tags,omitzero"`
}

// UpdateContact changes a contact. Not retried once sent.
func (c *Client) UpdateContact(ctx context.Context, in ContactUpdate) (*Contact, error) {
	return vendors.Fetch[Contact](ctx, c.c, post("/actions/update-contact", in, false))
}

// ContactLookup is the body of get-contact: exactly one field.
type ContactLookup struct {
	ID    string `json:"id,omitempty"`
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
}

// GetContact finds one contact by id, phone or email.
func (c *Client) GetContact(ctx context.Context, in ContactLookup) (*Contact, error) {
	return vendors.Fetch[Contact](ctx, c.c, post("/actions/get-contact", in, true))
}

// Search filters search-contacts ("" for none; no filter lists all).
type Search struct {
	Query string `json:"query,omitempty"`
	Tag   string `json:"tag,omitempty"`
	Email string `json:"email,omitempty"`
}

// SearchContacts returns one page of contacts matching f, newest first:
// r.Limit of them (1-100; 0: Qyvo's 15), Total all matches. Next carries
// the next page number and this page's size: a cursor keeps the size of
// its first page, so pages never skip or repeat, and a different r.Limit
// beside it is refused, naming limit (0 or the same size is fine).
func (c *Client) SearchContacts(ctx context.Context, f Search, r vendors.PageRequest) (vendors.Page[Contact], error) {
	page, perPage, _, err := r.PageNumber(Name, searchScheme, MaxPerPage, 0)
	if err != nil {
		return vendors.Page[Contact]{}, err
	}
	body := struct {
		Search
		Page    int `json:"page,omitempty"`
		PerPage int `json:"per_page,omitempty"`
	}{f, page, perPage}
	var out struct {
		Data []Contact `json:"data"`
		Meta struct {
			CurrentPage int `json:"current_page"`
			LastPage    int `json:"last_page"`
			PerPage     int `json:"per_page"`
			Total       int `json:"total"`
		} `json:"meta"`
	}
	if err := c.c.Do(ctx, post("/actions/search-contacts", body, true), &out); err != nil {
		return vendors.Page[Contact]{}, err
	}
	if perPage == 0 {
		perPage = out.Meta.PerPage // Qyvo's default, kept by the cursor
	}
	next := ""
	if len(out.Data) > 0 && out.Meta.CurrentPage < out.Meta.LastPage && perPage >= 1 && perPage <= MaxPerPage {
		next = vendors.PageCursor(searchScheme, page+1, perPage)
	}
	return vendors.NewPage(out.Data, out.Meta.Total, next), nil
}

// searchScheme marks search cursors: page number and page size.
const searchScheme = "page"

type tagBody struct {
	ContactID string `json:"contact_id"`
	Tag       string `json:"tag"`
}

// AddTag tags a contact (creating the tag if new). Not retried once sent.
func (c *Client) AddTag(ctx context.Context, contactID, tag string) (*Contact, error) {
	return vendors.Fetch[Contact](ctx, c.c, post("/actions/add-tag", tagBody{contactID, tag}, false))
}

// RemoveTag untags a contact; removing an absent tag is not an error.
func (c *Client) RemoveTag(ctx context.Context, contactID, tag string) (*Contact, error) {
	return vendors.Fetch[Contact](ctx, c.c, post("/actions/remove-tag", tagBody{contactID, tag}, false))
}

// Template is a Meta-approved message template in one language.
type Template struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Language  string `json:"language"`
	Category  string `json:"category"` // marketing | utility | authentication
	Status    string `json:"status"`
	Body      string `json:"body"` // with {{1}}, {{2}} placeholders
	Variables int    `json:"variables"`
}

// Tag is a contact label.
type Tag struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	ContactsCount int    `json:"contacts_count"`
}

// Sequence is a drip of template messages sent over days.
type Sequence struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Status     string    `json:"status"` // active | paused
	StepsCount int       `json:"steps_count"`
	Steps      []Step    `json:"steps,omitempty"` // get-sequence only
	CreatedAt  time.Time `json:"created_at"`
}

// Step is one message of a sequence.
type Step struct {
	Position   int    `json:"position"`
	DelayHours int    `json:"delay_hours"`
	Template   string `json:"template"`
}

// Flow is a conversational automation.
type Flow struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Status      string     `json:"status"` // active | draft
	Description string     `json:"description,omitempty"`
	NodesCount  int        `json:"nodes_count"`
	Nodes       []FlowNode `json:"nodes,omitempty"` // get-flow only
	CreatedAt   time.Time  `json:"created_at"`
}

// FlowNode is one step of a flow.
type FlowNode struct {
	Position int    `json:"position"`
	Type     string `json:"type"`
	Label    string `json:"label"`
}

// ListTemplates returns every template (a dropdown: unpaged).
func (c *Client) ListTemplates(ctx context.Context) ([]Template, error) {
	return list[Template](ctx, c, "/templates")
}

// ListTags returns every tag.
func (c *Client) ListTags(ctx context.Context) ([]Tag, error) { return list[Tag](ctx, c, "/tags") }

// ListSequences returns every sequence, without steps.
func (c *Client) ListSequences(ctx context.Context) ([]Sequence, error) {
	return list[Sequence](ctx, c, "/sequences")
}

// ListFlows returns every flow, without nodes.
func (c *Client) ListFlows(ctx context.Context) ([]Flow, error) { return list[Flow](ctx, c, "/flows") }

// Run is a sequence enrolment or a flow run started for a contact.
type Run struct {
	ID         string    `json:"id"`
	SequenceID string    `json:"sequence_id,omitempty"`
	FlowID     string    `json:"flow_id,omitempty"`
	ContactID  string    `json:"contact_id"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
}

// TriggerSequence enrols a contact in a sequence. Never re-sent.
func (c *Client) TriggerSequence(ctx context.Context, sequenceID, contactID string) (*Run, error) {
	body := struct {
		SequenceID string `json:"sequence_id"`
		ContactID  string `json:"contact_id"`
	}{sequenceID, contactID}
	return vendors.Fetch[Run](ctx, c.c, post("/actions/trigger-sequence", body, false))
}

// GetSequence returns a sequence with its steps.
func (c *Client) GetSequence(ctx context.Context, id string) (*Sequence, error) {
	body := struct {
		SequenceID string `json:"sequence_id"`
	}{id}
	return vendors.Fetch[Sequence](ctx, c.c, post("/actions/get-sequence", body, true))
}

// TriggerFlow starts a flow for a contact. Never re-sent.
func (c *Client) TriggerFlow(ctx context.Context, flowID, contactID string) (*Run, error) {
	body := struct {
		FlowID    string `json:"flow_id"`
		ContactID string `json:"contact_id"`
	}{flowID, contactID}
	return vendors.Fetch[Run](ctx, c.c, post("/actions/trigger-flow", body, false))
}

// GetFlow returns a flow with its nodes.
func (c *Client) GetFlow(ctx context.Context, id string) (*Flow, error) {
	body := struct {
		FlowID string `json:"flow_id"`
	}{id}
	return vendors.Fetch[Flow](ctx, c.c, post("/actions/get-flow", body, true))
}

// post is a POST action; safe marks a read-only lookup that may be retried.
func post(path string, body any, safe bool) vendors.Request {
	r := vendors.NewRequest(http.MethodPost, path, nil, body)
	r.Safe = safe
	return r
}

// list reads a GET {"data": [...]} (or a bare array); never nil.
func list[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var out vendors.Unwrap[[]T]
	if err := c.c.Do(ctx, vendors.NewRequest(http.MethodGet, path, nil, nil), &out); err != nil {
		return nil, err
	}
	if out.V == nil {
		return []T{}, nil
	}
	return out.V, nil
}

// decodeError reads Laravel's {"message", "errors": {"field": ["..."]}}.
func decodeError(body []byte, e *vendors.Error) {
	var v struct {
		Message string              `json:"message"`
		Errors  map[string][]string `json:"errors"`
	}
	if json.Unmarshal(body, &v) != nil {
		return
	}
	// Laravel's sentences end in "."; the core adds its own.
	e.Message = strings.TrimSuffix(v.Message, ".")
	for k, msgs := range v.Errors {
		if e.Fields == nil {
			e.Fields = map[string]string{}
		}
		f := argName(k)
		msg := strings.TrimSuffix(strings.Join(msgs, " "), ".")
		if prev := e.Fields[f]; prev != "" {
			msg = prev + " " + msg
		}
		e.Fields[f] = msg
	}
}

// argName turns a Laravel error key into the tool argument it concerns:
// "tags.0" -> "tags"; the paginator's per_page and page -> limit and cursor.
func argName(k string) string {
	k, _, _ = strings.Cut(k, ".")
	switch k {
	case "per_page":
		return "limit"
	case "page":
		return "cursor"
	}
	return k
}
