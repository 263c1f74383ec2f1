package tools

import (
	"context"
	"net/http"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/vivre"
)

// Vivre returns the Vivre toolset.
func Vivre(c Clients[*vivre.Client]) []Tool {
	return []Tool{
		vivreListContacts(c), linked(vivreGetContact(c), vivreContact, "id"), linked(vivreCreateContact(c), vivreContact, "id"),
		vivreCreateDeal(c), vivreUpdateDeal(c), vivreLogActivity(c),
	}
}

// vivreContact is a Vivre contact as a resource. (Vivre's API cannot
// fetch a deal or an activity, so they are not resources.)
var vivreContact = Resource{Vendor: vivre.Name, URI: "vivre://contacts/{id}", Name: "vivre_contact", Title: "Vivre contact",
	Description: "One Vivre contact by id (e.g. cnt_8821): stage, tags, AI score; as vivre_get_contact returns it.",
	Complete:    map[string]string{"id": "contact"}}

// VivreResources are Vivre's records as resources.
func VivreResources(c Clients[*vivre.Client]) []Resource {
	return []Resource{vivreContact.reading(byID(c, func(ctx context.Context, cl *vivre.Client, id string) (*vivre.Contact, error) {
		return cl.GetContact(ctx, id)
	}))}
}

// vivreStages are Vivre's fixed pipeline stages (vivre_create_deal's enum).
var vivreStages = []string{"new", "qualified", "proposal", "won", "lost"}

// VivreLookups complete Vivre's deal stages (contacts come from VivreContacts).
func VivreLookups(Clients[*vivre.Client]) map[string]Lookup {
	return map[string]Lookup{"stage": fixedLookup(vivreStages...)}
}

type vivreListContactsIn struct {
	Search   string `json:"search,omitempty" jsonschema_description:"Text to find in name, email or company."`
	ScoreMin *int   `json:"score_min,omitempty" jsonschema:"minimum=0,maximum=100" jsonschema_description:"Only contacts with at least this AI score (0-100)."`
	Limit    int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=500,default=50"`
	Cursor   string `json:"cursor,omitempty"`
}

type vivreContactList struct {
	Contacts   []vivre.Contact `json:"contacts"`
	Total      int             `json:"total"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

func vivreListContacts(c Clients[*vivre.Client]) Tool {
	return New("vivre", "vivre_list_contacts", "List Vivre contacts",
		"List Vivre contacts, newest first, optionally filtered by text or minimum AI score. Returns contacts, total and next_cursor.",
		Read, withClient(c, func(ctx context.Context, cl *vivre.Client, in vivreListContactsIn) (vivreContactList, error) {
			page, err := cl.ListContacts(ctx, vivre.ContactFilter{Search: in.Search, ScoreMin: in.ScoreMin},
				vendors.PageRequest{Limit: in.Limit, Cursor: in.Cursor})
			if err != nil {
				return vivreContactList{}, err
			}
			return vivreContactList{Contacts: page.Items, Total: page.Total, NextCursor: page.Next}, nil
		}))
}

type vivreGetContactIn struct {
	ID string `json:"id" jsonschema:"required,minLength=1" jsonschema_description:"Contact id, e.g. cnt_8821."`
}

func vivreGetContact(c Clients[*vivre.Client]) Tool {
	return New("vivre", "vivre_get_contact", "Get a Vivre contact",
		"Get one Vivre contact by id, with its stage, tags and AI score.",
		Read, withClient(c, func(ctx context.Context, cl *vivre.Client, in vivreGetContactIn) (*vivre.Contact, error) {
			return cl.GetContact(ctx, in.ID)
		}))
}

type vivreCreateContactIn struct {
	Name    string   `json:"name" jsonschema:"required,minLength=1" jsonschema_description:"Full name."`
	Email   string   `json:"email" jsonschema:"required,format=email" jsonschema_description:"Primary email address."`
	Company string   `json:"company,omitempty" jsonschema_description:"Company or organisation."`
	Stage   string   `json:"stage,omitempty" jsonschema:"enum=new,enum=qualified,enum=proposal,enum=won" jsonschema_description:"Pipeline stage (default new)."`
	Tags    []string `json:"tags,omitempty" jsonschema_description:"Tags such as inbound or demo-request."`
}

func vivreCreateContact(c Clients[*vivre.Client]) Tool {
	return New("vivre", "vivre_create_contact", "Create a Vivre contact",
		"Create a contact in Vivre. Search first (vivre_list_contacts) to avoid duplicates. Returns the new contact with its id.",
		Create, withClient(c, func(ctx context.Context, cl *vivre.Client, in vivreCreateContactIn) (*vivre.Contact, error) {
			return cl.CreateContact(ctx, vivre.NewContact(in))
		}))
}

type vivreCreateDealIn struct {
	ContactID string `json:"contact_id" jsonschema:"required,minLength=1" jsonschema_description:"Contact the deal belongs to, e.g. cnt_8821."`
	Title     string `json:"title" jsonschema:"required,minLength=1" jsonschema_description:"Deal name."`
	Value     *int64 `json:"value,omitempty" jsonschema:"minimum=0"`
	Stage     string `json:"stage,omitempty" jsonschema:"enum=new,enum=qualified,enum=proposal,enum=won,enum=lost" jsonschema_description:"Pipeline stage (default new)."`
}

func vivreCreateDeal(c Clients[*vivre.Client]) Tool {
	return New("vivre", "vivre_create_deal", "Create a Vivre deal",
		"Open a deal for a Vivre contact. Returns the deal with its id; keep it, as Vivre's API cannot list deals and vivre_update_deal and vivre_log_activity need it.",
		Create, withClient(c, func(ctx context.Context, cl *vivre.Client, in vivreCreateDealIn) (*vivre.Deal, error) {
			return cl.CreateDeal(ctx, vivre.NewDeal(in))
		}))
}

type vivreUpdateDealIn struct {
	ID       string     `json:"id" jsonschema:"required,minLength=1" jsonschema_description:"Deal id, e.g. dl_4420. Vivre's API cannot list deals: use the id vivre_create_deal returned, or one from the Vivre app or a deal webhook."`
	Stage    string     `json:"stage,omitempty" jsonschema:"enum=new,enum=qualified,enum=proposal,enum=won,enum=lost" jsonschema_description:"New stage; won or lost without closed_at closes it now."`
	Title    string     `json:"title,omitempty" jsonschema_description:"New title."`
	Value    *int64     `json:"value,omitempty" jsonschema:"minimum=0"`
	ClosedAt *time.Time `json:"closed_at,omitempty" jsonschema_description:"When it closed (RFC 3339)."`
}

// Validate asks for at least one change.
func (in vivreUpdateDealIn) Validate() error {
	if in.Stage == "" && in.Title == "" && in.Value == nil && in.ClosedAt == nil {
		return vendors.Invalid("", "stage", "give at least one of stage, title, value or closed_at to change")
	}
	return nil
}

func vivreUpdateDeal(c Clients[*vivre.Client]) Tool {
	return New("vivre", "vivre_update_deal", "Update a Vivre deal",
		"Move a Vivre deal to another stage or change its title, value or close date. Returns the updated deal.",
		Update, withClient(c, func(ctx context.Context, cl *vivre.Client, in vivreUpdateDealIn) (*vivre.Deal, error) {
			if (in.Stage == "won" || in.Stage == "lost") && in.ClosedAt == nil {
				now := time.Now().UTC().Truncate(time.Second)
				in.ClosedAt = &now
			}
			return cl.UpdateDeal(ctx, in.ID, vivre.DealUpdate{Stage: in.Stage, Title: in.Title, Value: in.Value, ClosedAt: in.ClosedAt})
		}))
}

type vivreLogActivityIn struct {
	ContactID string `json:"contact_id" jsonschema:"required,minLength=1" jsonschema_description:"Contact the activity belongs to, e.g. cnt_8821."`
	DealID    string `json:"deal_id,omitempty" jsonschema_description:"Deal to attach it to, if any, e.g. dl_4420 (an id vivre_create_deal returned)."`
	Type      string `json:"type" jsonschema:"required,enum=call,enum=email,enum=meeting,enum=note" jsonschema_description:"Kind of activity."`
	Note      string `json:"note,omitempty" jsonschema_description:"What happened: summary, outcome, next step."`
}

func vivreLogActivity(c Clients[*vivre.Client]) Tool {
	return New("vivre", "vivre_log_activity", "Log a Vivre activity",
		"Log a call, email, meeting or note on a Vivre contact (and optionally a deal). Returns the activity.",
		Create, withClient(c, func(ctx context.Context, cl *vivre.Client, in vivreLogActivityIn) (*vivre.Activity, error) {
			return cl.LogActivity(ctx, vivre.NewActivity(in))
		}))
}

// vivreVendor is Vivre's entry in the vendor registry (Vendors).
var vivreVendor = &Def[vivre.Config, *vivre.Client]{
	VendorName: vivre.Name,
	Creds:      []string{"VIVRE_API_KEY", "VIVRE_WORKSPACE_ID"},
	Ready:      vivre.Config.Configured,
	Client:     vivre.New,
	Tools:      Vivre,
	Contacts:   VivreContacts,
	Resources:  VivreResources,
	Lookups:    VivreLookups,
	Emulate: func(unlimited bool) (http.Handler, vivre.Config) {
		// The sandbox emulates the Pro plan (600/min) so demos do not stall.
		return vivretest.New(vivretest.Options{RatePerMinute: OrUnlimited(unlimited, 600)}), vivre.Config{APIKey: vivretest.APIKey,
			WorkspaceID: vivretest.WorkspaceID, Plan: "pro", BaseURL: SandboxURL(vivre.Name)}
	},
}
