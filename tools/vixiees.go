package tools

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/vixiees/vixieestest"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees"
)

// Vixiees returns the Vixiees toolset. Its records are already snake_case
// on the wire (vendors/vixiees), so the tools return them as they come.
func Vixiees(c Clients[*vixiees.Client]) []Tool {
	return []Tool{
		vixieesListContacts(c), vixieesCreateContact(c), vixieesUpdateContact(c),
		vixieesListDeals(c), vixieesCreateDeal(c), vixieesUpdateDeal(c),
		vixieesListRecordings(c), linked(vixieesGetRecording(c), vixieesRecordingRes, "id"),
		vixieesListWhatsAppTemplates(c), vixieesSendWhatsAppTemplate(c), vixieesCreateTask(c),
	}
}

// Vixiees' call recordings and WhatsApp templates as resources. (Its API
// fetches no contact or deal by id, so they are not resources.)
var (
	vixieesRecordingRes = Resource{Vendor: vixiees.Name, URI: "vixiees://recordings/{id}", Name: "vixiees_recording", Title: "Vixiees call recording",
		Description: "One recorded call by id (e.g. vx_rec_801): contact, duration, when, audio url and transcript summary.",
		Complete:    map[string]string{"id": "recording"}}
	vixieesTemplatesRes = Resource{Vendor: vixiees.Name, URI: "vixiees://templates", Name: "vixiees_templates", Title: "Vixiees WhatsApp templates",
		Description: "Every approved WhatsApp template: id, name, language, body with {{1}}, {{2}}... and variable_count."}
)

// VixieesResources are Vixiees' records and reference lists as resources.
func VixieesResources(c Clients[*vixiees.Client]) []Resource {
	return []Resource{
		vixieesRecordingRes.reading(byID(c, func(ctx context.Context, cl *vixiees.Client, id string) (*vixiees.Recording, error) {
			return cl.GetRecording(ctx, id)
		})),
		vixieesTemplatesRes.reading(whole(c, vixieesAllTemplates)),
	}
}

// vixieesStages are Vixiees' pipeline stages (vixiees_create_deal's enum).
var vixieesStages = []string{"new", "qualified", "proposal", "negotiation", "won", "lost"}

// VixieesLookups complete Vixiees' recordings (the first page), templates
// (by name), their languages and its deal stages; contacts come from
// VixieesContacts.
func VixieesLookups(c Clients[*vixiees.Client]) map[string]Lookup {
	templates := func(cl *vixiees.Client, ctx context.Context) ([]vixiees.Template, error) { // shaped as a client method
		l, err := vixieesAllTemplates(ctx, cl)
		return l.Templates, err
	}
	recordings := func(cl *vixiees.Client, ctx context.Context) ([]vixiees.Recording, error) {
		p, err := cl.ListRecordings(ctx, vendors.PageRequest{Limit: completionBrowse})
		return p.Items, err
	}
	newest := listLookup(c, recordings, func(r vixiees.Recording) Candidate {
		return Candidate{ID: r.ID, Name: r.ID, Match: []string{r.ContactID, r.RecordedAt.Format(time.DateOnly), r.TranscriptSummary}}
	})
	newest.Partial = true
	return map[string]Lookup{
		"recording": newest,
		"template": listLookup(c, templates, func(t vixiees.Template) Candidate {
			return Candidate{ID: t.ID, Name: t.Name, Match: []string{t.Name, t.Category, t.Body}}
		}),
		"language": listLookup(c, templates, func(t vixiees.Template) Candidate { return Candidate{ID: t.Language, Name: t.Language} }),
		"stage":    fixedLookup(vixieesStages...),
	}
}

type vixieesSyncIn struct {
	UpdatedSince *time.Time `json:"updated_since,omitempty" jsonschema_description:"Only records updated at or after this time (RFC 3339), for incremental sync."`
	Limit        int        `json:"limit,omitempty" jsonschema:"minimum=1,maximum=1000,default=100" jsonschema_description:"Page size; a cursor keeps the size of its first page."`
	Cursor       string     `json:"cursor,omitempty"`
}

type vixieesPageIn struct {
	Limit  int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=1000,default=100" jsonschema_description:"Page size; a cursor keeps the size of its first page."`
	Cursor string `json:"cursor,omitempty"`
}

type vixieesContactList struct {
	Contacts   []vixiees.Contact `json:"contacts"`
	Total      int               `json:"total"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

func vixieesListContacts(c Clients[*vixiees.Client]) Tool {
	return New("vixiees", "vixiees_list_contacts", "List Vixiees contacts",
		"List Vixiees contacts, least recently updated first; pass updated_since for incremental sync. Returns contacts, total and next_cursor.",
		Read, withClient(c, func(ctx context.Context, cl *vixiees.Client, in vixieesSyncIn) (vixieesContactList, error) {
			page, err := cl.ListContacts(ctx, vendors.PageRequest{Limit: in.Limit, Cursor: in.Cursor}, vixiees.Filter{UpdatedFrom: in.UpdatedSince})
			return vixieesContactList{Contacts: page.Items, Total: page.Total, NextCursor: page.Next}, err
		}))
}

type vixieesCreateContactIn struct {
	Name  string `json:"name" jsonschema:"required,minLength=1" jsonschema_description:"Full name."`
	Email string `json:"email,omitempty" jsonschema:"format=email" jsonschema_description:"Email address."`
	Phone string `json:"phone,omitempty" jsonschema:"pattern=^\\+[1-9][0-9]{6\\,14}$" jsonschema_description:"Mobile phone, E.164, e.g. +5511987654321; needed for WhatsApp."`
}

func vixieesCreateContact(c Clients[*vixiees.Client]) Tool {
	return New("vixiees", "vixiees_create_contact", "Create a Vixiees contact",
		"Create a contact in Vixiees. Returns the contact with its id.",
		Create, withClient(c, func(ctx context.Context, cl *vixiees.Client, in vixieesCreateContactIn) (*vixiees.Contact, error) {
			return cl.CreateContact(ctx, vixiees.ContactFields(in))
		}))
}

type vixieesUpdateContactIn struct {
	ID    string `json:"id" jsonschema:"required,minLength=1" jsonschema_description:"Contact id, e.g. vx_ct_1001."`
	Name  string `json:"name,omitempty" jsonschema:"minLength=1" jsonschema_description:"New full name."`
	Email string `json:"email,omitempty" jsonschema:"format=email" jsonschema_description:"New email address."`
	Phone string `json:"phone,omitempty" jsonschema:"pattern=^\\+[1-9][0-9]{6\\,14}$" jsonschema_description:"New phone, E.164, e.g. +5511987654321."`
}

// Validate asks for at least one change.
func (in vixieesUpdateContactIn) Validate() error {
	if in.Name == "" && in.Email == "" && in.Phone == "" {
		return vendors.Invalid("", "name", "give at least one of name, email or phone to change")
	}
	return nil
}

func vixieesUpdateContact(c Clients[*vixiees.Client]) Tool {
	return New("vixiees", "vixiees_update_contact", "Update a Vixiees contact",
		"Change a Vixiees contact's name, email or phone; fields left out stay as they are. Returns the contact.",
		Update, withClient(c, func(ctx context.Context, cl *vixiees.Client, in vixieesUpdateContactIn) (*vixiees.Contact, error) {
			return cl.UpdateContact(ctx, in.ID, vixiees.ContactFields{Name: in.Name, Email: in.Email, Phone: in.Phone})
		}))
}

type vixieesDealList struct {
	Deals      []vixiees.Deal `json:"deals"`
	Total      int            `json:"total"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

func vixieesListDeals(c Clients[*vixiees.Client]) Tool {
	return New("vixiees", "vixiees_list_deals", "List Vixiees deals",
		"List Vixiees deals with stage and value, least recently updated first; pass updated_since for incremental sync. Returns deals, total and next_cursor.",
		Read, withClient(c, func(ctx context.Context, cl *vixiees.Client, in vixieesSyncIn) (vixieesDealList, error) {
			page, err := cl.ListDeals(ctx, vendors.PageRequest{Limit: in.Limit, Cursor: in.Cursor}, vixiees.Filter{UpdatedFrom: in.UpdatedSince})
			return vixieesDealList{Deals: page.Items, Total: page.Total, NextCursor: page.Next}, err
		}))
}

type vixieesCreateDealIn struct {
	Title     string `json:"title" jsonschema:"required,minLength=1" jsonschema_description:"Deal name."`
	ContactID string `json:"contact_id,omitempty"`
	Value     *int64 `json:"value,omitempty" jsonschema:"minimum=0"`
	Stage     string `json:"stage,omitempty" jsonschema:"enum=new,enum=qualified,enum=proposal,enum=negotiation,enum=won,enum=lost" jsonschema_description:"Pipeline stage (default new)."`
}

func vixieesCreateDeal(c Clients[*vixiees.Client]) Tool {
	return New("vixiees", "vixiees_create_deal", "Create a Vixiees deal",
		"Open a deal in Vixiees, optionally for a contact. Returns the deal with its id.",
		Create, withClient(c, func(ctx context.Context, cl *vixiees.Client, in vixieesCreateDealIn) (*vixiees.Deal, error) {
			return cl.CreateDeal(ctx, vixiees.DealFields(in))
		}))
}

type vixieesUpdateDealIn struct {
	ID        string `json:"id" jsonschema:"required,minLength=1" jsonschema_description:"Deal id, e.g. vx_deal_5001."`
	Title     string `json:"title,omitempty" jsonschema:"minLength=1" jsonschema_description:"New title."`
	Value     *int64 `json:"value,omitempty" jsonschema:"minimum=0"`
	Stage     string `json:"stage,omitempty" jsonschema:"enum=new,enum=qualified,enum=proposal,enum=negotiation,enum=won,enum=lost" jsonschema_description:"New pipeline stage."`
	ContactID string `json:"contact_id,omitempty" jsonschema_description:"Move the deal to this contact."`
}

// Validate asks for at least one change.
func (in vixieesUpdateDealIn) Validate() error {
	if in.Title == "" && in.Value == nil && in.Stage == "" && in.ContactID == "" {
		return vendors.Invalid("", "stage", "give at least one of title, value, stage or contact_id to change")
	}
	return nil
}

func vixieesUpdateDeal(c Clients[*vixiees.Client]) Tool {
	return New("vixiees", "vixiees_update_deal", "Update a Vixiees deal",
		"Move a Vixiees deal to another stage or change its title, value or contact; fields left out stay as they are. Returns the deal.",
		Update, withClient(c, func(ctx context.Context, cl *vixiees.Client, in vixieesUpdateDealIn) (*vixiees.Deal, error) {
			return cl.UpdateDeal(ctx, in.ID, vixiees.DealFields{Title: in.Title, ContactID: in.ContactID, Value: in.Value, Stage: in.Stage})
		}))
}

type vixieesRecordingList struct {
	Recordings []vixiees.Recording `json:"recordings"`
	Total      int                 `json:"total"`
	NextCursor string              `json:"next_cursor,omitempty"`
}

func vixieesListRecordings(c Clients[*vixiees.Client]) Tool {
	return New("vixiees", "vixiees_list_recordings", "List Vixiees call recordings",
		"List recorded calls in Vixiees with contact, duration, audio url and transcript summary. Returns recordings, total and next_cursor.",
		Read, withClient(c, func(ctx context.Context, cl *vixiees.Client, in vixieesPageIn) (vixieesRecordingList, error) {
			page, err := cl.ListRecordings(ctx, vendors.PageRequest{Limit: in.Limit, Cursor: in.Cursor})
			return vixieesRecordingList{Recordings: page.Items, Total: page.Total, NextCursor: page.Next}, err
		}))
}

type vixieesGetRecordingIn struct {
	ID string `json:"id" jsonschema:"required,minLength=1" jsonschema_description:"Recording id, e.g. vx_rec_801."`
}

func vixieesGetRecording(c Clients[*vixiees.Client]) Tool {
	return New("vixiees", "vixiees_get_recording", "Get a Vixiees call recording",
		"Get one recorded call by id: contact, duration, when, audio url and transcript summary.",
		Read, withClient(c, func(ctx context.Context, cl *vixiees.Client, in vixieesGetRecordingIn) (*vixiees.Recording, error) {
			return cl.GetRecording(ctx, in.ID)
		}))
}

type vixieesTemplateList struct {
	Templates []vixiees.Template `json:"templates"`
	Note      string             `json:"note,omitempty"` // set when not every template was read
}

// vixieesMaxTemplatePages bounds the template read (10 000 templates).
const vixieesMaxTemplatePages = 10

func vixieesListWhatsAppTemplates(c Clients[*vixiees.Client]) Tool {
	return New("vixiees", "vixiees_list_whatsapp_templates", "List Vixiees WhatsApp templates",
		"List every approved WhatsApp template: id, name, language, body with {{1}}, {{2}}... and variable_count. Use before vixiees_send_whatsapp_template.",
		Read, withClient(c, func(ctx context.Context, cl *vixiees.Client, _ struct{}) (vixieesTemplateList, error) {
			return vixieesAllTemplates(ctx, cl)
		}))
}

// vixieesAllTemplates reads every template (up to vixieesMaxTemplatePages
// pages), as the tool and the resource show them.
func vixieesAllTemplates(ctx context.Context, cl *vixiees.Client) (vixieesTemplateList, error) {
	out := vixieesTemplateList{Templates: []vixiees.Template{}}
	cursor := ""
	for p := 1; p <= vixieesMaxTemplatePages; p++ {
		page, err := cl.ListTemplates(ctx, vendors.PageRequest{Limit: vixiees.MaxLimit, Cursor: cursor})
		if err != nil {
			return vixieesTemplateList{}, err
		}
		out.Templates = append(out.Templates, page.Items...)
		pages := (page.Total + vixiees.MaxLimit - 1) / vixiees.MaxLimit
		Progress(ctx, p, min(pages, vixieesMaxTemplatePages), "read a page of templates")
		if cursor = page.Next; cursor == "" {
			return out, nil
		}
	}
	out.Note = fmt.Sprintf("only the first %d templates were read; the account has more", len(out.Templates))
	return out, nil
}

type vixieesSendIn struct {
	TemplateID string   `json:"template_id" jsonschema:"required,minLength=1" jsonschema_description:"Template id from vixiees_list_whatsapp_templates, e.g. vx_tpl_101."`
	Phone      string   `json:"phone,omitempty" jsonschema:"pattern=^\\+[1-9][0-9]{6\\,14}$" jsonschema_description:"Recipient phone, E.164, e.g. +5511987654321. Or give contact_id."`
	ContactID  string   `json:"contact_id,omitempty" jsonschema_description:"Recipient contact (uses its phone). Or give phone."`
	Variables  []string `json:"variables,omitempty" jsonschema:"minLength=1" jsonschema_description:"Values for {{1}}, {{2}}... in order; exactly the template's variable_count."`
	SendGuard
}

// Validate asks for exactly one recipient.
func (in vixieesSendIn) Validate() error {
	if (in.Phone == "") == (in.ContactID == "") {
		return vendors.Invalid("", "phone", "give exactly one of phone or contact_id")
	}
	return nil
}

func vixieesSendWhatsAppTemplate(c Clients[*vixiees.Client]) Tool {
	return NewSend("vixiees", "vixiees_send_whatsapp_template", "Send a Vixiees WhatsApp template",
		"Send an approved WhatsApp template to a phone or contact, filling its variables. Messages a real person. Returns the queued message.",
		c, func(ctx context.Context, cl *vixiees.Client, in vixieesSendIn) (*vixiees.Message, error) {
			return cl.SendTemplate(ctx, in.TemplateID, vixiees.SendMessage{Phone: in.Phone, ContactID: in.ContactID, Variables: in.Variables})
		}, vixieesAskTemplate)
}

// vixieesAskTemplate is the question before a template send: the recipient
// (a contact id is looked up in the first pages of contacts: Vixiees
// fetches no contact by id) and the template's text with its variables.
func vixieesAskTemplate(ctx context.Context, cl *vixiees.Client, in vixieesSendIn) Question {
	q := Question{Vendor: "Vixiees", Action: "send this WhatsApp template message", Verb: "send", To: in.Phone}
	if in.ContactID != "" {
		q.To = "contact " + in.ContactID
		switch ct, err := vixieesFindContact(ctx, cl, in.ContactID); {
		case err != nil:
			q.Unknown = append(q.Unknown, "the contact's name and phone, which could not be read ("+brief(err)+")")
		case ct == nil:
			q.Unknown = append(q.Unknown, fmt.Sprintf("the contact's name and phone: it is not among the first %d contacts", scanPages*vixiees.MaxLimit))
		default:
			q.To = person(ct.Name, ct.Phone)
		}
	}
	l, err := vixieesAllTemplates(ctx, cl)
	if err != nil {
		q.Details = append(q.Details, "Template: "+in.TemplateID)
		q.Unknown = append(q.Unknown, "the template's text, which could not be read ("+brief(err)+")")
		return q
	}
	for _, t := range l.Templates {
		if t.ID == in.TemplateID {
			q.Details = append(q.Details, "Template: "+t.Name+" ("+t.Language+")")
			q.Text = render(t.Body, in.Variables)
			return q
		}
	}
	q.Details = append(q.Details, "Template: "+in.TemplateID)
	q.Unknown = append(q.Unknown, "the template's text: Vixiees lists no template "+in.TemplateID+", so it will likely refuse the send")
	return q
}

// vixieesFindContact looks a contact up by id in the first scanPages pages
// of contacts; nil when it is not there.
func vixieesFindContact(ctx context.Context, cl *vixiees.Client, id string) (*vixiees.Contact, error) {
	r := vendors.PageRequest{Limit: vixiees.MaxLimit}
	for range scanPages {
		page, err := cl.ListContacts(ctx, r, vixiees.Filter{})
		if err != nil {
			return nil, err
		}
		for _, c := range page.Items {
			if c.ID == id {
				return &c, nil
			}
		}
		if r.Cursor = page.Next; r.Cursor == "" {
			break
		}
	}
	return nil, nil
}

type vixieesCreateTaskIn struct {
	Title     string     `json:"title" jsonschema:"required,minLength=1" jsonschema_description:"What to do, e.g. Call back about the proposal."`
	ContactID string     `json:"contact_id,omitempty"`
	DealID    string     `json:"deal_id,omitempty"`
	DueAt     *time.Time `json:"due_at,omitempty" jsonschema_description:"When it is due (RFC 3339)."`
}

func vixieesCreateTask(c Clients[*vixiees.Client]) Tool {
	return New("vixiees", "vixiees_create_task", "Create a Vixiees task",
		"Create a follow-up task in Vixiees, optionally linked to a contact and a deal. Returns the task with its id.",
		Create, withClient(c, func(ctx context.Context, cl *vixiees.Client, in vixieesCreateTaskIn) (*vixiees.Task, error) {
			return cl.CreateTask(ctx, vixiees.NewTask(in))
		}))
}

// vixieesVendor is Vixiees's entry in the vendor registry (Vendors).
var vixieesVendor = &Def[vixiees.Config, *vixiees.Client]{
	VendorName: vixiees.Name,
	Creds:      []string{"VIXIEES_API_KEY"},
	Ready:      vixiees.Config.Configured,
	Client:     vixiees.New,
	Tools:      Vixiees,
	Contacts:   VixieesContacts,
	Resources:  VixieesResources,
	Lookups:    VixieesLookups,
	Emulate: func(unlimited bool) (http.Handler, vixiees.Config) {
		// The sandbox is a 4-licence account (100/min, 6000/h, 144000/day,
		// 40 per 2 s): the documented windows, with room for a demo that
		// pages through everything.
		return vixieestest.New(vixieestest.Options{Licenses: OrUnlimited(unlimited, 4)}), vixiees.Config{APIKey: vixieestest.APIKey,
			Licenses: 4, BaseURL: SandboxURL(vixiees.Name)}
	},
}
