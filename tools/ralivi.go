package tools

import (
	"context"
	"net/http"
	"slices"

	"github.com/crm-mcp/crm-mcp/vendors/ralivi/ralivitest"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/ralivi"
)

// Ralivi returns the Ralivi toolset: read-only, as is Ralivi's API.
func Ralivi(c Clients[*ralivi.Client]) []Tool {
	return []Tool{
		raliviListContacts(c), raliviListDeals(c), raliviListTasks(c),
		raliviListActivities(c), linked(raliviGetOrganization(c), raliviOrganizationRes),
	}
}

// raliviOrganizationRes is the organization as a resource. (Ralivi's API
// fetches no record by id, so it has no resource templates.)
var raliviOrganizationRes = Resource{Vendor: ralivi.Name, URI: "ralivi://organization", Name: "ralivi_organization", Title: "Ralivi organization",
	Description: "The Ralivi organization the API key belongs to: id, name, website, industry."}

// RaliviResources are Ralivi's reference records as resources.
func RaliviResources(c Clients[*ralivi.Client]) []Resource {
	return []Resource{raliviOrganizationRes.reading(whole(c, raliviOrganizationOf))}
}

// raliviStages are Ralivi's built-in pipeline stages; an account may add its own.
var raliviStages = []string{"lead", "qualified", "proposal", "negotiation", "closed-won"}

// RaliviLookups complete Ralivi's deal stages: the built-in ones and any
// other the newest deals are in. Contacts come from RaliviContacts.
func RaliviLookups(c Clients[*ralivi.Client]) map[string]Lookup {
	stages := func(cl *ralivi.Client, ctx context.Context) ([]string, error) { // shaped as a client method
		out := slices.Clone(raliviStages)
		page, err := cl.ListDeals(ctx, "", vendors.PageRequest{Limit: ralivi.MaxLimit})
		for _, d := range page.Items {
			if d.Stage != "" && !slices.Contains(out, d.Stage) {
				out = append(out, d.Stage)
			}
		}
		return out, err
	}
	inUse := listLookup(c, stages, func(s string) Candidate { return Candidate{ID: s, Name: s} })
	inUse.Partial = true // the stages of the newest deals only
	return map[string]Lookup{"stage": inUse}
}

// Outputs: snake_case; a field Ralivi sends as null (or empty) is omitted.

type raliviContact struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Email         string   `json:"email,omitempty"`
	Phone         string   `json:"phone,omitempty"`
	Company       string   `json:"company,omitempty"`
	Status        string   `json:"status,omitempty"`
	Tags          []string `json:"tags,omitempty"`
	Summary       string   `json:"summary,omitempty"`
	CreatedAt     string   `json:"created_at,omitempty"`
	UpdatedAt     string   `json:"updated_at,omitempty"`
	LastTouchedAt string   `json:"last_touched_at,omitempty"`
}

type raliviDeal struct {
	ID              string   `json:"id"`
	Title           string   `json:"title"`
	Stage           string   `json:"stage"`
	Amount          *float64 `json:"amount,omitempty"`
	Probability     *float64 `json:"probability,omitempty"`
	ContactID       string   `json:"contact_id,omitempty"`
	Summary         string   `json:"summary,omitempty"`
	CreatedAt       string   `json:"created_at,omitempty"`
	UpdatedAt       string   `json:"updated_at,omitempty"`
	LastActivityAt  string   `json:"last_activity_at,omitempty"`
	NextActionDueAt string   `json:"next_action_due_at,omitempty"`
}

type raliviTask struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	Status      string `json:"status,omitempty"`
	Priority    string `json:"priority,omitempty"`
	DueDate     string `json:"due_date,omitempty"`
	DealID      string `json:"deal_id,omitempty"`
	ContactID   string `json:"contact_id,omitempty"`
	AssignedTo  string `json:"assigned_to,omitempty"`
	CreatedAt   string `json:"created_at,omitempty"`
	UpdatedAt   string `json:"updated_at,omitempty"`
}

type raliviActivity struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Subject   string `json:"subject,omitempty"`
	Body      string `json:"body,omitempty"`
	DealID    string `json:"deal_id,omitempty"`
	ContactID string `json:"contact_id,omitempty"`
	CreatedAt string `json:"created_at,omitempty"`
	CreatedBy string `json:"created_by,omitempty"`
}

type raliviOrganization struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Website   string `json:"website,omitempty"`
	Industry  string `json:"industry,omitempty"`
	CreatedAt string `json:"created_at,omitempty"`
}

// The wire and output structs have the same fields in the same order, so
// each converts directly; only the JSON names differ.
func raliviContactOut(v ralivi.Contact) raliviContact    { return raliviContact(v) }
func raliviDealOut(v ralivi.Deal) raliviDeal             { return raliviDeal(v) }
func raliviTaskOut(v ralivi.Task) raliviTask             { return raliviTask(v) }
func raliviActivityOut(v ralivi.Activity) raliviActivity { return raliviActivity(v) }

// raliviPage is the shape every list input embeds.
type raliviPage struct {
	Limit  int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=100,default=50"`
	Cursor string `json:"cursor,omitempty"`
}

func (p raliviPage) request() vendors.PageRequest {
	return vendors.PageRequest{Limit: p.Limit, Cursor: p.Cursor}
}

// raliviList runs one list call and converts its items.
func raliviList[W, O any](ctx context.Context, c Clients[*ralivi.Client],
	call func(*ralivi.Client) (vendors.Page[W], error), conv func(W) O) ([]O, string, error) {
	cl, err := c(ctx)
	if err != nil {
		return nil, "", err
	}
	page, err := call(cl)
	if err != nil {
		return nil, "", err
	}
	out := make([]O, len(page.Items))
	for i, v := range page.Items {
		out[i] = conv(v)
	}
	return out, page.Next, nil
}

type raliviListContactsIn struct {
	raliviPage
}

type raliviContactList struct {
	Contacts   []raliviContact `json:"contacts"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

func raliviListContacts(c Clients[*ralivi.Client]) Tool {
	return New("ralivi", "ralivi_list_contacts", "List Ralivi contacts",
		"List Ralivi contacts, newest first: name, email, phone, company, status, tags, summary. Returns contacts and next_cursor.",
		Read, func(ctx context.Context, in raliviListContactsIn) (raliviContactList, error) {
			out, next, err := raliviList(ctx, c, func(cl *ralivi.Client) (vendors.Page[ralivi.Contact], error) {
				return cl.ListContacts(ctx, in.request())
			}, raliviContactOut)
			return raliviContactList{Contacts: out, NextCursor: next}, err
		})
}

type raliviListDealsIn struct {
	Stage string `json:"stage,omitempty" jsonschema:"minLength=1" jsonschema_description:"Stage id: lead, qualified, proposal, negotiation, closed-won, or a custom stage id."`
	raliviPage
}

type raliviDealList struct {
	Deals      []raliviDeal `json:"deals"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

func raliviListDeals(c Clients[*ralivi.Client]) Tool {
	return New("ralivi", "ralivi_list_deals", "List Ralivi deals",
		"List Ralivi deals, optionally of one stage, with amount, probability and contact_id. Won deals have stage closed-won; their updated_at is the close date.",
		Read, func(ctx context.Context, in raliviListDealsIn) (raliviDealList, error) {
			out, next, err := raliviList(ctx, c, func(cl *ralivi.Client) (vendors.Page[ralivi.Deal], error) {
				return cl.ListDeals(ctx, in.Stage, in.request())
			}, raliviDealOut)
			return raliviDealList{Deals: out, NextCursor: next}, err
		})
}

// raliviLinkIn filters tasks and activities.
type raliviLinkIn struct {
	DealID    string `json:"deal_id,omitempty" jsonschema:"minLength=1" jsonschema_description:"Only those linked to this deal."`
	ContactID string `json:"contact_id,omitempty" jsonschema:"minLength=1" jsonschema_description:"Only those linked to this contact."`
	raliviPage
}

func (in raliviLinkIn) links() ralivi.Links {
	return ralivi.Links{DealID: in.DealID, ContactID: in.ContactID}
}

type raliviTaskList struct {
	Tasks      []raliviTask `json:"tasks"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

func raliviListTasks(c Clients[*ralivi.Client]) Tool {
	return New("ralivi", "ralivi_list_tasks", "List Ralivi tasks",
		"List Ralivi tasks, optionally of one deal and/or contact: title, status, priority, due_date, assignee. Returns tasks and next_cursor.",
		Read, func(ctx context.Context, in raliviLinkIn) (raliviTaskList, error) {
			out, next, err := raliviList(ctx, c, func(cl *ralivi.Client) (vendors.Page[ralivi.Task], error) {
				return cl.ListTasks(ctx, in.links(), in.request())
			}, raliviTaskOut)
			return raliviTaskList{Tasks: out, NextCursor: next}, err
		})
}

type raliviActivityList struct {
	Activities []raliviActivity `json:"activities"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

func raliviListActivities(c Clients[*ralivi.Client]) Tool {
	return New("ralivi", "ralivi_list_activities", "List Ralivi activities",
		"List the Ralivi activity log (calls, notes, emails), newest first, optionally of one deal and/or contact. Returns activities and next_cursor.",
		Read, func(ctx context.Context, in raliviLinkIn) (raliviActivityList, error) {
			out, next, err := raliviList(ctx, c, func(cl *ralivi.Client) (vendors.Page[ralivi.Activity], error) {
				return cl.ListActivities(ctx, in.links(), in.request())
			}, raliviActivityOut)
			return raliviActivityList{Activities: out, NextCursor: next}, err
		})
}

type raliviGetOrganizationIn struct{}

func raliviGetOrganization(c Clients[*ralivi.Client]) Tool {
	return New("ralivi", "ralivi_get_organization", "Get the Ralivi organization",
		"Get the Ralivi organization the API key belongs to: id, name, website, industry.",
		Read, withClient(c, func(ctx context.Context, cl *ralivi.Client, _ raliviGetOrganizationIn) (*raliviOrganization, error) {
			return raliviOrganizationOf(ctx, cl)
		}))
}

// raliviOrganizationOf is the organization as the tool and the resource show it.
func raliviOrganizationOf(ctx context.Context, cl *ralivi.Client) (*raliviOrganization, error) {
	org, err := cl.GetOrganization(ctx)
	if err != nil {
		return nil, err
	}
	out := raliviOrganization(*org)
	return &out, nil
}

// raliviVendor is Ralivi's entry in the vendor registry (Vendors).
var raliviVendor = &Def[ralivi.Config, *ralivi.Client]{
	VendorName: ralivi.Name,
	Creds:      []string{"RALIVI_API_KEY"},
	Ready:      ralivi.Config.Configured,
	Client:     ralivi.New,
	Tools:      Ralivi,
	Contacts:   RaliviContacts,
	Resources:  RaliviResources,
	Lookups:    RaliviLookups,
	Emulate: func(bool) (http.Handler, ralivi.Config) {
		// Ralivi documents no limit: the emulator sets none and the client
		// keeps its default 60/min, which a demo does not reach.
		return ralivitest.New(ralivitest.Options{}), ralivi.Config{APIKey: ralivitest.APIKey,
			BaseURL: SandboxURL(ralivi.Name), RateLimit: ralivi.DefaultRateLimit}
	},
}
