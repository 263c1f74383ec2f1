package tools

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/nexvio/nexviotest"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/nexvio"
)

// Nexvio returns the Nexvio toolset: contacts collected by chatbots and
// their conversations.
func Nexvio(c Clients[*nexvio.Client]) []Tool {
	return []Tool{
		nexvioListContacts(c), linked(nexvioGetContact(c), nexvioContactRes, "id"), linked(nexvioCreateContact(c), nexvioContactRes, "id"),
		linked(nexvioUpdateContact(c), nexvioContactRes, "id"), nexvioDeleteContact(c), nexvioListConversations(c),
	}
}

// Nexvio's contacts and their conversations as resources.
var (
	nexvioContactRes = Resource{Vendor: nexvio.Name, URI: "nexvio://contacts/{id}", Name: "nexvio_contact", Title: "Nexvio contact",
		Description: "One Nexvio contact by id (e.g. contact_123abc) with its metadata and its conversations' ids and times.",
		Complete:    map[string]string{"id": "contact"}}
	nexvioConversationsRes = Resource{Vendor: nexvio.Name, URI: "nexvio://contacts/{id}/conversations", Name: "nexvio_contact_conversations",
		Title:       "Nexvio contact's conversations",
		Description: "A Nexvio contact's chatbot conversations, most recent first (the first 100; nexvio_list_conversations pages on).",
		Complete:    map[string]string{"id": "contact"}}
)

// NexvioResources are Nexvio's records as resources.
func NexvioResources(c Clients[*nexvio.Client]) []Resource {
	return []Resource{
		nexvioContactRes.reading(byID(c, nexvioContactDetailOf)),
		nexvioConversationsRes.reading(byID(c, func(ctx context.Context, cl *nexvio.Client, id string) (nexvioConversationList, error) {
			return nexvioConversationsOf(ctx, cl, id, vendors.PageRequest{Limit: nexvioConversationsMax})
		})),
	}
}

// nexvioContact is a contact as the tools show it (snake_case keys;
// metadata keys are the user's own and kept as they are).
type nexvioContact struct {
	ID        string         `json:"id"`
	ChatbotID string         `json:"chatbot_id"`
	Name      string         `json:"name,omitempty"`
	Email     string         `json:"email,omitempty"`
	Phone     string         `json:"phone,omitempty"`
	Metadata  map[string]any `json:"metadata,omitempty"`
	CreatedAt time.Time      `json:"created_at,omitzero"`
	UpdatedAt time.Time      `json:"updated_at,omitzero"`
}

func nexvioContactOut(c nexvio.Contact) nexvioContact {
	return nexvioContact{ID: c.ID, ChatbotID: c.ChatbotID, Name: c.Name, Email: c.Email, Phone: c.Phone,
		Metadata: c.Metadata, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// nexvioMeta is one metadata entry; inputs take a list of them because some
// hosts reject free-form objects in schemas.
type nexvioMeta struct {
	Key   string `json:"key" jsonschema:"required,minLength=1" jsonschema_description:"Field name, e.g. company."`
	Value string `json:"value" jsonschema:"required" jsonschema_description:"Field value, e.g. Acme Inc."`
}

// nexvioMetadata turns the pairs into the vendor's object, refusing a key
// given twice (which value was meant is unknowable).
func nexvioMetadata(pairs []nexvioMeta) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		if _, dup := m[p.Key]; dup {
			return nil, vendors.Invalid("", "metadata", "key "+p.Key+" is given twice; give each key once")
		}
		m[p.Key] = p.Value
	}
	return m, nil
}

type nexvioListContactsIn struct {
	ChatbotID string `json:"chatbot_id,omitempty" jsonschema_description:"Only contacts collected by this chatbot."`
	Search    string `json:"search,omitempty" jsonschema_description:"Text to find in name or email."`
	SortBy    string `json:"sort_by,omitempty" jsonschema:"enum=created_at,enum=name,enum=email" jsonschema_description:"Sort field (default created_at)."`
	SortOrder string `json:"sort_order,omitempty" jsonschema:"enum=asc,enum=desc" jsonschema_description:"Sort order (default desc)."`
	Limit     int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=500,default=100"`
	Cursor    string `json:"cursor,omitempty"`
}

type nexvioContactList struct {
	Contacts   []nexvioContact `json:"contacts"`
	Total      int             `json:"total"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

// nexvioSortBy maps the tool's sort_by to the vendor's sortBy.
var nexvioSortBy = map[string]string{"created_at": "createdAt", "name": "name", "email": "email"}

func nexvioListContacts(c Clients[*nexvio.Client]) Tool {
	return New("nexvio", "nexvio_list_contacts", "List Nexvio contacts",
		"List contacts collected by Nexvio chatbots, newest first unless sorted otherwise; filter by chatbot or text. Returns contacts, total and next_cursor.",
		Read, withClient(c, func(ctx context.Context, cl *nexvio.Client, in nexvioListContactsIn) (nexvioContactList, error) {
			page, err := cl.ListContacts(ctx, nexvio.ContactFilter{ChatbotID: in.ChatbotID, Search: in.Search,
				SortBy: nexvioSortBy[in.SortBy], SortOrder: in.SortOrder}, vendors.PageRequest{Limit: in.Limit, Cursor: in.Cursor})
			if err != nil {
				return nexvioContactList{}, err
			}
			out := nexvioContactList{Contacts: make([]nexvioContact, len(page.Items)), Total: page.Total, NextCursor: page.Next}
			for i, ct := range page.Items {
				out.Contacts[i] = nexvioContactOut(ct)
			}
			return out, nil
		}))
}

type nexvioIDIn struct {
	ID string `json:"id" jsonschema:"required,minLength=1" jsonschema_description:"Contact id, e.g. contact_123abc."`
}

type nexvioConversationRef struct {
	ID            string    `json:"id"`
	StartedAt     time.Time `json:"started_at"`
	LastMessageAt time.Time `json:"last_message_at"`
}

type nexvioContactDetail struct {
	nexvioContact
	Conversations []nexvioConversationRef `json:"conversations"`
}

func nexvioGetContact(c Clients[*nexvio.Client]) Tool {
	return New("nexvio", "nexvio_get_contact", "Get a Nexvio contact",
		"Get one Nexvio contact by id with its metadata and a list of its conversations (ids and times).",
		Read, withClient(c, func(ctx context.Context, cl *nexvio.Client, in nexvioIDIn) (*nexvioContactDetail, error) {
			return nexvioContactDetailOf(ctx, cl, in.ID)
		}))
}

// nexvioContactDetailOf is a contact with its conversations, as the tool
// and the resource show it.
func nexvioContactDetailOf(ctx context.Context, cl *nexvio.Client, id string) (*nexvioContactDetail, error) {
	ct, err := cl.GetContact(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &nexvioContactDetail{nexvioContact: nexvioContactOut(*ct), Conversations: make([]nexvioConversationRef, len(ct.Conversations))}
	for i, v := range ct.Conversations {
		out.Conversations[i] = nexvioConversationRef(v)
	}
	return out, nil
}

type nexvioCreateContactIn struct {
	ChatbotID string       `json:"chatbot_id" jsonschema:"required,minLength=1" jsonschema_description:"Chatbot the contact belongs to, e.g. chatbot_456def; nexvio_list_contacts shows each contact's chatbot_id."`
	Name      string       `json:"name,omitempty" jsonschema_description:"Full name."`
	Email     string       `json:"email,omitempty" jsonschema:"format=email" jsonschema_description:"Email address."`
	Phone     string       `json:"phone,omitempty" jsonschema:"pattern=^\\+[1-9][0-9]{6\\,14}$" jsonschema_description:"Phone, E.164, e.g. +15551234567."`
	Metadata  []nexvioMeta `json:"metadata,omitempty" jsonschema_description:"Custom fields as key/value pairs."`
}

func nexvioCreateContact(c Clients[*nexvio.Client]) Tool {
	return New("nexvio", "nexvio_create_contact", "Create a Nexvio contact",
		"Add a contact to a Nexvio chatbot by hand. Search first (nexvio_list_contacts) to avoid duplicates. Returns the new contact with its id.",
		Create, withClient(c, func(ctx context.Context, cl *nexvio.Client, in nexvioCreateContactIn) (*nexvioContact, error) {
			meta, err := nexvioMetadata(in.Metadata)
			if err != nil {
				return nil, err
			}
			ct, err := cl.CreateContact(ctx, nexvio.NewContact{ChatbotID: in.ChatbotID, Name: in.Name, Email: in.Email, Phone: in.Phone, Metadata: meta})
			if err != nil {
				return nil, err
			}
			out := nexvioContactOut(*ct)
			return &out, nil
		}))
}

type nexvioUpdateContactIn struct {
	ID       string       `json:"id" jsonschema:"required,minLength=1" jsonschema_description:"Contact id, e.g. contact_123abc."`
	Name     string       `json:"name,omitempty" jsonschema_description:"New full name."`
	Email    string       `json:"email,omitempty" jsonschema:"format=email" jsonschema_description:"New email address."`
	Phone    string       `json:"phone,omitempty" jsonschema:"pattern=^\\+[1-9][0-9]{6\\,14}$" jsonschema_description:"New phone, E.164, e.g. +15551234567."`
	Metadata []nexvioMeta `json:"metadata,omitempty" jsonschema_description:"Custom fields to set; other keys are kept."`
}

// Validate asks for at least one change.
func (in nexvioUpdateContactIn) Validate() error {
	if in.Name == "" && in.Email == "" && in.Phone == "" && len(in.Metadata) == 0 {
		return vendors.Invalid("", "name", "give at least one of name, email, phone or metadata to change")
	}
	return nil
}

func nexvioUpdateContact(c Clients[*nexvio.Client]) Tool {
	return New("nexvio", "nexvio_update_contact", "Update a Nexvio contact",
		"Change a Nexvio contact's name, email, phone or metadata fields; fields not given are kept. Returns the updated contact.",
		Update, withClient(c, func(ctx context.Context, cl *nexvio.Client, in nexvioUpdateContactIn) (*nexvioContact, error) {
			meta, err := nexvioMetadata(in.Metadata)
			if err != nil {
				return nil, err
			}
			ct, err := cl.UpdateContact(ctx, in.ID, nexvio.ContactUpdate{Name: in.Name, Email: in.Email, Phone: in.Phone, Metadata: meta})
			if err != nil {
				return nil, err
			}
			out := nexvioContactOut(*ct)
			return &out, nil
		}))
}

type nexvioDeleted struct {
	Deleted bool   `json:"deleted"`
	ID      string `json:"id"`
}

func nexvioDeleteContact(c Clients[*nexvio.Client]) Tool {
	return NewConfirmed("nexvio", "nexvio_delete_contact", "Delete a Nexvio contact",
		"Permanently delete a Nexvio contact; it cannot be undone. Returns deleted: true and the id.",
		Delete, c, func(ctx context.Context, cl *nexvio.Client, in nexvioIDIn) (*nexvioDeleted, error) {
			d, err := cl.DeleteContact(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			return &nexvioDeleted{Deleted: d.Deleted, ID: d.ID}, nil
		}, func(ctx context.Context, cl *nexvio.Client, in nexvioIDIn) Question {
			q := Question{Vendor: "Nexvio", Action: "permanently delete this contact", Verb: "delete", ToLabel: "Contact", To: in.ID,
				Details: []string{"This cannot be undone."}}
			ct, err := cl.GetContact(ctx, in.ID)
			if err != nil {
				q.Unknown = append(q.Unknown, "the contact's name and phone, which could not be read ("+brief(err)+")")
				return q
			}
			q.To = strings.TrimSpace(person(ct.Name, ct.Phone, ct.Email) + " (id " + ct.ID + ")")
			if len(ct.Conversations) > 0 {
				q.Details = append(q.Details, fmt.Sprintf("Conversations: %d", len(ct.Conversations)))
			}
			return q
		})
}

type nexvioListConversationsIn struct {
	ContactID string `json:"contact_id" jsonschema:"required,minLength=1"`
	Limit     int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=100,default=50"`
	Cursor    string `json:"cursor,omitempty"`
}

type nexvioConversation struct {
	ID            string    `json:"id"`
	ChatbotID     string    `json:"chatbot_id"`
	ContactID     string    `json:"contact_id"`
	StartedAt     time.Time `json:"started_at"`
	LastMessageAt time.Time `json:"last_message_at"`
	MessageCount  int       `json:"message_count"`
	Summary       string    `json:"summary,omitempty"`
}

type nexvioConversationList struct {
	Conversations []nexvioConversation `json:"conversations"`
	Total         int                  `json:"total"`
	NextCursor    string               `json:"next_cursor,omitempty"`
}

func nexvioListConversations(c Clients[*nexvio.Client]) Tool {
	return New("nexvio", "nexvio_list_conversations", "List a Nexvio contact's conversations",
		"List a Nexvio contact's chatbot conversations, most recent first, each with message count and a summary. Returns conversations, total and next_cursor.",
		Read, withClient(c, func(ctx context.Context, cl *nexvio.Client, in nexvioListConversationsIn) (nexvioConversationList, error) {
			return nexvioConversationsOf(ctx, cl, in.ContactID, vendors.PageRequest{Limit: in.Limit, Cursor: in.Cursor})
		}))
}

// nexvioConversationsMax is the largest page of conversations (the tool's maximum).
const nexvioConversationsMax = 100

// nexvioConversationsOf is one page of a contact's conversations, as the
// tool and the resource show it.
func nexvioConversationsOf(ctx context.Context, cl *nexvio.Client, contactID string, r vendors.PageRequest) (nexvioConversationList, error) {
	page, err := cl.ListConversations(ctx, contactID, r)
	if err != nil {
		return nexvioConversationList{}, err
	}
	out := nexvioConversationList{Conversations: make([]nexvioConversation, len(page.Items)), Total: page.Total, NextCursor: page.Next}
	for i, v := range page.Items {
		out.Conversations[i] = nexvioConversation(v)
	}
	return out, nil
}

// nexvioVendor is Nexvio's entry in the vendor registry (Vendors).
var nexvioVendor = &Def[nexvio.Config, *nexvio.Client]{
	VendorName: nexvio.Name,
	Creds:      []string{"NEXVIO_API_KEY"},
	Ready:      nexvio.Config.Configured,
	Client:     nexvio.New,
	Tools:      Nexvio,
	Contacts:   NexvioContacts,
	Resources:  NexvioResources,
	Emulate: func(unlimited bool) (http.Handler, nexvio.Config) {
		// The sandbox keeps the documented 100 requests/min: enough for a demo.
		return nexviotest.New(nexviotest.Options{RatePerMinute: OrUnlimited(unlimited, 0)}), nexvio.Config{APIKey: nexviotest.APIKey,
			BaseURL: SandboxURL(nexvio.Name), RateLimit: nexvio.DefaultRateLimit}
	},
}
