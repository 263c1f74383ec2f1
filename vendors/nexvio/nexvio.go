// Package nexvio is a client of the Nexvio.ai Contacts API
// (shared/vendor-docs/nexvio.txt): the contacts collected by a customer's
// chatbots and their conversations.
//
// What the doc says: Bearer API key; limit/offset paging (contacts: default
// 100, max 500; conversations: default 50, max 100); every answer is
// {"status": "success", "data": {...}} and every failure is
// {"status": "error", "error": {"code", "message", "details"}}, with details
// mapping a (camelCase) field name to its problem; 100 requests per minute
// per API key, 429 beyond.
//
// Where the doc is silent we assume, and the emulator (nexviotest) agrees:
//   - the base URL https://api.nexvio.ai/v1 is configurable;
//   - HTTP statuses follow the codes: 400 validation_error, 401
//     unauthorized, 404 not_found, 429 (code rate_limited) with Retry-After;
//   - create answers 201, the others 200; a deleted contact answers 404;
//   - PATCH sets the given fields to the given values and merges the given
//     metadata keys into the stored metadata (the doc's example keeps
//     "source"), so sending it twice ends the same as once;
//   - name, email and phone may be absent or null on a contact; metadata
//     values are usually strings but are kept as any JSON value;
//   - conversations are listed most recent first;
//   - ids are opaque strings; the emulator keeps the doc's shape
//     (contact_123abc, chatbot_456def, conv_789ghi).
package nexvio

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
)

// Name is the vendor's name in tool names, limiter keys and errors.
const Name = "nexvio"

// DefaultBaseURL is the documented base URL.
const DefaultBaseURL = "https://api.nexvio.ai/v1"

// DefaultRateLimit is the documented budget: requests per minute per key.
const DefaultRateLimit = 100

// Documented page sizes.
const (
	MaxContactsLimit          = 500
	DefaultContactsLimit      = 100
	MaxConversationsLimit     = 100
	DefaultConversationsLimit = 50
)

// Config is Nexvio's configuration, read from the environment.
type Config struct {
	APIKey    string `env:"NEXVIO_API_KEY"`
	BaseURL   string `env:"NEXVIO_BASE_URL, default=https://api.nexvio.ai/v1"`
	RateLimit int    `env:"NEXVIO_RATE_LIMIT, default=100"` // requests/min
}

// Configured reports whether credentials are present.
func (c Config) Configured() bool { return c.APIKey != "" }

// Check reports, naming the env vars and what is allowed, what keeps a
// Config read from the environment from working: a rate limit below 1, a
// base URL that is not an absolute http(s) URL, or settings without the
// key they are for. Nothing set at all is fine: Nexvio is simply not used.
func (c Config) Check() error {
	var ck vendors.ConfigCheck
	ck.AtLeastOne("NEXVIO_RATE_LIMIT", c.RateLimit, fmt.Sprintf("requests per minute (documented: %d)", DefaultRateLimit))
	ck.BaseURL("NEXVIO_BASE_URL", c.BaseURL, DefaultBaseURL)
	if c.APIKey == "" {
		ck.WithoutKey("Nexvio", []string{"NEXVIO_API_KEY"}, vendors.If(c.RateLimit != DefaultRateLimit, "NEXVIO_RATE_LIMIT"),
			vendors.If(c.BaseURL != "" && c.BaseURL != DefaultBaseURL, "NEXVIO_BASE_URL"))
	}
	return ck.Err()
}

// Client calls Nexvio with one API key.
type Client struct{ c *vendors.Client }

// Identity is a one-way digest of the credential this client sends.
func (c *Client) Identity() string { return c.c.Identity }

// New returns a client for cfg.
func New(cfg Config, o vendors.Options) *Client {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+cfg.APIKey)
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	perMin := cfg.RateLimit
	if perMin <= 0 {
		perMin = DefaultRateLimit
	}
	windows := []ratelimit.Window{{Limit: perMin, Period: time.Minute}}
	c := o.NewClient(Name, base, h, windows, cfg.APIKey)
	c.DecodeError = decodeError
	return &Client{c: c}
}

// Contact is a person a chatbot collected (or one added by hand).
type Contact struct {
	ID            string                `json:"id"`
	ChatbotID     string                `json:"chatbotId"`
	Name          string                `json:"name"`
	Email         string                `json:"email"`
	Phone         string                `json:"phone"`
	Metadata      map[string]any        `json:"metadata"`
	Conversations []ConversationSummary `json:"conversations,omitempty"` // GET /contacts/{id} only
	CreatedAt     time.Time             `json:"createdAt"`
	UpdatedAt     time.Time             `json:"updatedAt"`
}

// ConversationSummary is a conversation as listed inside a contact.
type ConversationSummary struct {
	ID            string    `json:"id"`
	StartedAt     time.Time `json:"startedAt"`
	LastMessageAt time.Time `json:"lastMessageAt"`
}

// Conversation is one chat between a chatbot and a contact.
type Conversation struct {
	ID            string    `json:"id"`
	ChatbotID     string    `json:"chatbotId"`
	ContactID     string    `json:"contactId"`
	StartedAt     time.Time `json:"startedAt"`
	LastMessageAt time.Time `json:"lastMessageAt"`
	MessageCount  int       `json:"messageCount"`
	Summary       string    `json:"summary"`
}

// ContactFilter narrows and sorts GET /contacts; the zero value lists
// every contact, newest first.
type ContactFilter struct {
	ChatbotID string
	Search    string // name or email
	SortBy    string // createdAt | name | email ("" : vendor default createdAt)
	SortOrder string // asc | desc ("" : vendor default desc)
}

// ListContacts returns one page of the contacts matching f: at most
// p.Limit (1..500, 0 for the documented 100) from p.Cursor. Nexvio pages by
// offset: the cursor carries the offset only, so the limit, filter and sort
// are each call's own.
func (c *Client) ListContacts(ctx context.Context, f ContactFilter, p vendors.PageRequest) (vendors.Page[Contact], error) {
	q, offset, limit, err := p.OffsetQuery(Name, DefaultContactsLimit)
	if err != nil {
		return vendors.Page[Contact]{}, err
	}
	set(q, "chatbotId", f.ChatbotID)
	set(q, "search", f.Search)
	set(q, "sortBy", f.SortBy)
	set(q, "sortOrder", f.SortOrder)
	d, err := do[struct {
		Contacts []Contact `json:"contacts"`
		Total    int       `json:"total"`
	}](ctx, c, vendors.NewRequest(http.MethodGet, "/contacts", q, nil))
	if err != nil {
		return vendors.Page[Contact]{}, err
	}
	return vendors.OffsetPage(d.Contacts, offset, limit, d.Total), nil
}

// GetContact returns one contact with a summary of its conversations.
func (c *Client) GetContact(ctx context.Context, id string) (*Contact, error) {
	return contact(ctx, c, vendors.NewRequest(http.MethodGet, contactPath(id), nil, nil))
}

// NewContact is the body of POST /contacts.
type NewContact struct {
	ChatbotID string            `json:"chatbotId"`
	Name      string            `json:"name,omitempty"`
	Email     string            `json:"email,omitempty"`
	Phone     string            `json:"phone,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// CreateContact adds a contact. Not retried once sent.
func (c *Client) CreateContact(ctx context.Context, in NewContact) (*Contact, error) {
	return contact(ctx, c, vendors.NewRequest(http.MethodPost, "/contacts", nil, in))
}

// ContactUpdate is the body of PATCH /contacts/{id}; empty fields are left
// unchanged and metadata keys are merged into the stored ones.
type ContactUpdate struct {
	Name     string            `json:"name,omitempty"`
	Email    string            `json:"email,omitempty"`
	Phone    string            `json:"phone,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// UpdateContact changes a contact.
func (c *Client) UpdateContact(ctx context.Context, id string, in ContactUpdate) (*Contact, error) {
	req := vendors.NewRequest(http.MethodPatch, contactPath(id), nil, in)
	// PATCH is not idempotent by HTTP semantics, but Nexvio's PATCH sets each
	// given field to the given value (and merges metadata keys): sending it
	// again ends in the same record, so a retry after a 503 is harmless.
	req.Safe = true
	return contact(ctx, c, req)
}

// Deleted is the data of DELETE /contacts/{id}.
type Deleted struct {
	Deleted bool   `json:"deleted"`
	ID      string `json:"id"`
}

// DeleteContact removes a contact (DELETE: safe to retry; a retry after
// the vendor acted answers not found).
func (c *Client) DeleteContact(ctx context.Context, id string) (*Deleted, error) {
	return do[Deleted](ctx, c, vendors.NewRequest(http.MethodDelete, contactPath(id), nil, nil))
}

// ListConversations returns one page of a contact's conversations, most
// recent first: at most p.Limit (1..100, 0 for the documented 50) from
// p.Cursor (an offset, like ListContacts').
func (c *Client) ListConversations(ctx context.Context, contactID string, p vendors.PageRequest) (vendors.Page[Conversation], error) {
	q, offset, limit, err := p.OffsetQuery(Name, DefaultConversationsLimit)
	if err != nil {
		return vendors.Page[Conversation]{}, err
	}
	d, err := do[struct {
		Conversations []Conversation `json:"conversations"`
		Total         int            `json:"total"`
	}](ctx, c, vendors.NewRequest(http.MethodGet, contactPath(contactID)+"/conversations", q, nil))
	if err != nil {
		return vendors.Page[Conversation]{}, err
	}
	return vendors.OffsetPage(d.Conversations, offset, limit, d.Total), nil
}

func contactPath(id string) string { return "/contacts/" + url.PathEscape(id) }

func set(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// do sends req and returns the "data" of Nexvio's success envelope.
func do[T any](ctx context.Context, c *Client, req vendors.Request) (*T, error) {
	var env struct {
		Data T `json:"data"`
	}
	if err := c.c.Do(ctx, req, &env); err != nil {
		return nil, err
	}
	return &env.Data, nil
}

// contact reads the {"contact": {...}} data of single-contact answers.
func contact(ctx context.Context, c *Client, req vendors.Request) (*Contact, error) {
	d, err := do[struct {
		Contact Contact `json:"contact"`
	}](ctx, c, req)
	if err != nil {
		return nil, err
	}
	return &d.Contact, nil
}

// decodeError reads {"status":"error","error":{"code","message","details"}}.
func decodeError(body []byte, e *vendors.Error) {
	var v struct {
		Error struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Details json.RawMessage `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil {
		return
	}
	e.Code, e.Message = v.Error.Code, v.Error.Message
	var details map[string]any // anything but an object names no field
	_ = json.Unmarshal(v.Error.Details, &details)
	for k, m := range details {
		if e.Fields == nil {
			e.Fields = map[string]string{}
		}
		s, ok := m.(string)
		if !ok {
			s = fmt.Sprint(m)
		}
		e.Fields[argName(k)] = s
	}
}

// argName turns the vendor's field name into the tool's argument name:
// chatbotId -> chatbot_id, offset -> cursor. After a dot (metadata.someKey)
// the name is user data and is kept.
func argName(field string) string {
	head, rest, dotted := strings.Cut(field, ".")
	if head == "offset" {
		head = "cursor"
	}
	var b strings.Builder
	for i, r := range head {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	if dotted {
		return b.String() + "." + rest
	}
	return b.String()
}
