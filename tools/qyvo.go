package tools

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/crm-mcp/crm-mcp/vendors/qyvo/qyvotest"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo"
)

// Qyvo returns the Qyvo (WhatsApp) toolset. Its wire types are snake_case
// already, so tools return them as they are.
func Qyvo(c Clients[*qyvo.Client]) []Tool {
	return []Tool{
		qyvoGetMe(c), qyvoListRecent(c),
		qyvoSendTemplateMessage(c), qyvoSendTextMessage(c),
		linked(qyvoCreateContact(c), qyvoContact, "contact", "id"), linked(qyvoUpdateContact(c), qyvoContact, "id"),
		linked(qyvoGetContact(c), qyvoContact, "id"), qyvoSearchContacts(c),
		linked(qyvoAddTag(c), qyvoContact, "id"), linked(qyvoRemoveTag(c), qyvoContact, "id"),
		qyvoListTemplates(c), qyvoListTags(c),
		qyvoListSequences(c), qyvoTriggerSequence(c), linked(qyvoGetSequence(c), qyvoSequence, "id"),
		qyvoListFlows(c), qyvoTriggerFlow(c), linked(qyvoGetFlow(c), qyvoFlow, "id"),
	}
}

// Qyvo's records and reference lists as resources: each reads as the
// matching get or list tool returns it.
var (
	qyvoContact = Resource{Vendor: qyvo.Name, URI: "qyvo://contacts/{id}", Name: "qyvo_contact", Title: "Qyvo contact",
		Description: "One WhatsApp contact by id: phone, tags, last_inbound_at (the 24-hour window).", Complete: map[string]string{"id": "contact"}}
	qyvoSequence = Resource{Vendor: qyvo.Name, URI: "qyvo://sequences/{id}", Name: "qyvo_sequence", Title: "Qyvo sequence",
		Description: "One message sequence by id, with its steps (template and delay of each).", Complete: map[string]string{"id": "sequence"}}
	qyvoFlow = Resource{Vendor: qyvo.Name, URI: "qyvo://flows/{id}", Name: "qyvo_flow", Title: "Qyvo flow",
		Description: "One conversational flow by id, with its nodes.", Complete: map[string]string{"id": "flow"}}
	qyvoTemplateList = Resource{Vendor: qyvo.Name, URI: "qyvo://templates", Name: "qyvo_templates", Title: "Qyvo WhatsApp templates",
		Description: "Every WhatsApp template: name, language, status (only approved ones send), body and number of variables."}
	qyvoSequenceList = Resource{Vendor: qyvo.Name, URI: "qyvo://sequences", Name: "qyvo_sequences", Title: "Qyvo sequences",
		Description: "Every message sequence with its status; only active ones can be triggered."}
	qyvoFlowList = Resource{Vendor: qyvo.Name, URI: "qyvo://flows", Name: "qyvo_flows", Title: "Qyvo flows",
		Description: "Every conversational flow with its status; only active ones can be triggered."}
)

// QyvoResources are Qyvo's records and reference lists as resources.
func QyvoResources(c Clients[*qyvo.Client]) []Resource {
	return []Resource{
		qyvoContact.reading(byID(c, func(ctx context.Context, cl *qyvo.Client, id string) (*qyvo.Contact, error) {
			return cl.GetContact(ctx, qyvo.ContactLookup{ID: id})
		})),
		qyvoSequence.reading(byID(c, func(ctx context.Context, cl *qyvo.Client, id string) (*qyvo.Sequence, error) {
			return cl.GetSequence(ctx, id)
		})),
		qyvoFlow.reading(byID(c, func(ctx context.Context, cl *qyvo.Client, id string) (*qyvo.Flow, error) {
			return cl.GetFlow(ctx, id)
		})),
		qyvoTemplateList.reading(whole(c, func(ctx context.Context, cl *qyvo.Client) (qyvoTemplates, error) {
			ts, err := cl.ListTemplates(ctx)
			return qyvoTemplates{ts}, err
		})),
		qyvoSequenceList.reading(whole(c, func(ctx context.Context, cl *qyvo.Client) (qyvoSequences, error) {
			ss, err := cl.ListSequences(ctx)
			return qyvoSequences{ss}, err
		})),
		qyvoFlowList.reading(whole(c, func(ctx context.Context, cl *qyvo.Client) (qyvoFlows, error) {
			fs, err := cl.ListFlows(ctx)
			return qyvoFlows{fs}, err
		})),
	}
}

// QyvoLookups complete Qyvo's approved templates (by name), their
// languages, its sequences and its flows; contacts come from QyvoContacts.
func QyvoLookups(c Clients[*qyvo.Client]) map[string]Lookup {
	approved := func(cl *qyvo.Client, ctx context.Context) ([]qyvo.Template, error) { // shaped as a client method
		ts, err := cl.ListTemplates(ctx)
		return slices.DeleteFunc(ts, func(t qyvo.Template) bool { return t.Status != "approved" }), err
	}
	return map[string]Lookup{
		"template": listLookup(c, approved, func(t qyvo.Template) Candidate {
			return Candidate{ID: t.ID, Name: t.Name, Match: []string{t.Name, t.Category, t.Body}}
		}),
		"language": listLookup(c, approved, func(t qyvo.Template) Candidate { return Candidate{ID: t.Language, Name: t.Language} }),
		"sequence": listLookup(c, (*qyvo.Client).ListSequences, func(s qyvo.Sequence) Candidate {
			return Candidate{ID: s.ID, Name: s.Name, Match: []string{s.Name, s.Status}}
		}),
		"flow": listLookup(c, (*qyvo.Client).ListFlows, func(f qyvo.Flow) Candidate {
			return Candidate{ID: f.ID, Name: f.Name, Match: []string{f.Name, f.Status, f.Description}}
		}),
	}
}

// exactlyOne is the Validate rule for "one of these identifies the record".
func qyvoExactlyOne(field, rule string, given ...string) error {
	n := 0
	for _, g := range given {
		if g != "" {
			n++
		}
	}
	if n != 1 {
		return vendors.Invalid("", field, rule)
	}
	return nil
}

type qyvoNoArgs struct{}

func qyvoGetMe(c Clients[*qyvo.Client]) Tool {
	return New(qyvo.Name, "qyvo_get_me", "Qyvo account",
		"Get the Qyvo user and workspace the token belongs to, with its WhatsApp business number.",
		Read, withClient(c, func(ctx context.Context, cl *qyvo.Client, _ qyvoNoArgs) (*qyvo.Me, error) { return cl.Me(ctx) }))
}

type qyvoListRecentIn struct {
	Event string `json:"event" jsonschema:"required,enum=message_received,enum=campaign_sent,enum=flow_triggered,enum=sequence_triggered" jsonschema_description:"Which feed: inbound messages, sent messages, flow or sequence starts."`
	Limit int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=100,default=25"`
}

type qyvoRecent struct {
	Event  string       `json:"event"`
	Events []qyvo.Event `json:"events"`
}

func qyvoListRecent(c Clients[*qyvo.Client]) Tool {
	return New(qyvo.Name, "qyvo_list_recent", "Recent Qyvo events",
		"List the newest events of one Qyvo feed (at most the 100 newest, newest first), e.g. inbound WhatsApp messages to answer.",
		Read, withClient(c, func(ctx context.Context, cl *qyvo.Client, in qyvoListRecentIn) (qyvoRecent, error) {
			p, err := cl.Recent(ctx, in.Event, vendors.PageRequest{Limit: orDefault(in.Limit, 25)})
			if err != nil {
				return qyvoRecent{}, err
			}
			return qyvoRecent{Event: in.Event, Events: p.Items}, nil
		}))
}

type qyvoSendTemplateIn struct {
	Phone     string   `json:"phone,omitempty" jsonschema:"pattern=^\\+[1-9][0-9]{6\\,14}$" jsonschema_description:"Recipient, E.164, e.g. +14155550123. Or give contact_id."`
	ContactID string   `json:"contact_id,omitempty" jsonschema:"format=uuid" jsonschema_description:"Recipient contact id. Or give phone."`
	Template  string   `json:"template" jsonschema:"required,minLength=1" jsonschema_description:"Approved template name, e.g. order_confirmation."`
	Language  string   `json:"language,omitempty" jsonschema:"pattern=^[a-z]{2\\,3}(_[A-Z]{2})?$,default=en" jsonschema_description:"Template language code, e.g. en, es, pt_BR."`
	Variables []string `json:"variables,omitempty" jsonschema:"maxItems=20" jsonschema_description:"Values for {{1}}, {{2}}, ... in order; exactly as many as the template takes."`
	SendGuard
}

// Validate asks for exactly one recipient.
func (in qyvoSendTemplateIn) Validate() error {
	return qyvoExactlyOne("phone", "give exactly one of phone or contact_id", in.Phone, in.ContactID)
}

func qyvoSendTemplateMessage(c Clients[*qyvo.Client]) Tool {
	return NewSend(qyvo.Name, "qyvo_send_template_message", "Send a WhatsApp template",
		"Send an approved WhatsApp template to a phone or contact; allowed any time. Names, languages and variable counts: qyvo_list_templates. Returns the message.",
		c, func(ctx context.Context, cl *qyvo.Client, in qyvoSendTemplateIn) (*qyvo.Message, error) {
			return cl.SendTemplateMessage(ctx, qyvo.TemplateMessage{Phone: in.Phone, ContactID: in.ContactID,
				Template: in.Template, Language: in.Language, Variables: in.Variables})
		}, qyvoAskTemplate)
}

// qyvoAskTemplate is the question before a template send: the recipient
// and the template's text with its variables filled in.
func qyvoAskTemplate(ctx context.Context, cl *qyvo.Client, in qyvoSendTemplateIn) Question {
	lang := cmp.Or(in.Language, "en")
	q := Question{Vendor: "Qyvo", Action: "send this WhatsApp template message", Verb: "send",
		Details: []string{"Template: " + in.Template + " (" + lang + ")"}}
	qyvoRecipient(ctx, cl, &q, in.Phone, in.ContactID)
	ts, err := cl.ListTemplates(ctx)
	if err != nil {
		q.Unknown = append(q.Unknown, "the template's text, which could not be read ("+brief(err)+")")
		return q
	}
	for _, t := range ts {
		if t.Name == in.Template && t.Language == lang {
			q.Text = render(t.Body, in.Variables)
			return q
		}
	}
	q.Unknown = append(q.Unknown, "the template's text: Qyvo lists no template "+in.Template+" in "+lang+", so it will likely refuse the send")
	return q
}

// qyvoRecipient puts the contact a send goes to in q: name and phone, read
// by contact id or (when the number is a saved contact) by phone.
func qyvoRecipient(ctx context.Context, cl *qyvo.Client, q *Question, phone, contactID string) {
	lookup := qyvo.ContactLookup{Phone: phone}
	if contactID != "" {
		lookup = qyvo.ContactLookup{ID: contactID}
	}
	ct, err := cl.GetContact(ctx, lookup)
	switch {
	case err == nil:
		q.To = person(ct.Name, ct.Phone)
	case contactID != "":
		q.To = "contact " + contactID
		q.Unknown = append(q.Unknown, "the contact's name and phone, which could not be read ("+brief(err)+")")
	default:
		q.To = phone // a number that is not a saved contact
	}
}

type qyvoSendTextIn struct {
	Phone string `json:"phone" jsonschema:"required,pattern=^\\+[1-9][0-9]{6\\,14}$" jsonschema_description:"Recipient, E.164, e.g. +14155550123."`
	Text  string `json:"text" jsonschema:"required,minLength=1,maxLength=4096" jsonschema_description:"Message text."`
	SendGuard
}

func qyvoSendTextMessage(c Clients[*qyvo.Client]) Tool {
	return NewSend(qyvo.Name, "qyvo_send_text_message", "Send WhatsApp text",
		"Send free-form WhatsApp text. Only within 24 hours of the contact's last inbound message (last_inbound_at); otherwise use qyvo_send_template_message.",
		c, func(ctx context.Context, cl *qyvo.Client, in qyvoSendTextIn) (*qyvo.Message, error) {
			return cl.SendTextMessage(ctx, qyvo.TextMessage{Phone: in.Phone, Text: in.Text})
		}, func(ctx context.Context, cl *qyvo.Client, in qyvoSendTextIn) Question {
			q := Question{Vendor: "Qyvo", Action: "send this WhatsApp text message", Verb: "send", Text: in.Text}
			qyvoRecipient(ctx, cl, &q, in.Phone, "")
			return q
		})
}

type qyvoCreateContactIn struct {
	Phone string   `json:"phone" jsonschema:"required,pattern=^\\+[1-9][0-9]{6\\,14}$" jsonschema_description:"WhatsApp number, E.164, e.g. +14155550123."`
	Name  string   `json:"name,omitempty" jsonschema:"maxLength=255" jsonschema_description:"Full name."`
	Email string   `json:"email,omitempty" jsonschema:"format=email" jsonschema_description:"Email address."`
	Tags  []string `json:"tags,omitempty" jsonschema_description:"Tags to add, e.g. lead."`
}

type qyvoUpserted struct {
	Created bool         `json:"created"`
	Contact qyvo.Contact `json:"contact"`
}

func qyvoCreateContact(c Clients[*qyvo.Client]) Tool {
	// An upsert: it may overwrite the name or email of the contact with that
	// phone, and the same call twice ends the same (hence Update's hints).
	return New(qyvo.Name, "qyvo_create_contact", "Create or update a Qyvo contact",
		"Create a WhatsApp contact, or update the one with this phone (tags are added). Returns the contact and created: true if it is new.",
		Update, withClient(c, func(ctx context.Context, cl *qyvo.Client, in qyvoCreateContactIn) (qyvoUpserted, error) {
			up, err := cl.CreateContact(ctx, qyvo.NewContact(in))
			if err != nil {
				return qyvoUpserted{}, err
			}
			return qyvoUpserted{Created: up.Created, Contact: up.Contact}, nil
		}))
}

type qyvoUpdateContactIn struct {
	ID    string   `json:"id,omitempty" jsonschema:"format=uuid" jsonschema_description:"Contact id. Or give phone."`
	Phone string   `json:"phone,omitempty" jsonschema:"pattern=^\\+[1-9][0-9]{6\\,14}$" jsonschema_description:"Contact's number, E.164, e.g. +14155550123. Or give id."`
	Name  string   `json:"name,omitempty" jsonschema:"maxLength=255" jsonschema_description:"New name."`
	Email string   `json:"email,omitempty" jsonschema:"format=email" jsonschema_description:"New email address."`
	Tags  []string `json:"tags,omitempty" jsonschema_description:"Replaces all tags; [] removes them all."`
}

// Validate asks for one contact and at least one change.
func (in qyvoUpdateContactIn) Validate() error {
	if err := qyvoExactlyOne("id", "give exactly one of id or phone", in.ID, in.Phone); err != nil {
		return err
	}
	if in.Name == "" && in.Email == "" && in.Tags == nil {
		return vendors.Invalid("", "name", "give at least one of name, email or tags to change")
	}
	return nil
}

func qyvoUpdateContact(c Clients[*qyvo.Client]) Tool {
	return New(qyvo.Name, "qyvo_update_contact", "Update a Qyvo contact",
		"Change the name, email or tags of a contact found by id or phone. Returns the contact.",
		Update, withClient(c, func(ctx context.Context, cl *qyvo.Client, in qyvoUpdateContactIn) (*qyvo.Contact, error) {
			return cl.UpdateContact(ctx, qyvo.ContactUpdate(in))
		}))
}

type qyvoGetContactIn struct {
	ID    string `json:"id,omitempty" jsonschema:"format=uuid" jsonschema_description:"Contact id."`
	Phone string `json:"phone,omitempty" jsonschema:"pattern=^\\+[1-9][0-9]{6\\,14}$" jsonschema_description:"E.164, e.g. +14155550123."`
	Email string `json:"email,omitempty" jsonschema:"format=email" jsonschema_description:"Email address."`
}

// Validate asks for exactly one key.
func (in qyvoGetContactIn) Validate() error {
	return qyvoExactlyOne("id", "give exactly one of id, phone or email", in.ID, in.Phone, in.Email)
}

func qyvoGetContact(c Clients[*qyvo.Client]) Tool {
	return New(qyvo.Name, "qyvo_get_contact", "Get a Qyvo contact",
		"Get one WhatsApp contact by id, phone or email (exactly one), with tags and last_inbound_at.",
		Read, withClient(c, func(ctx context.Context, cl *qyvo.Client, in qyvoGetContactIn) (*qyvo.Contact, error) {
			return cl.GetContact(ctx, qyvo.ContactLookup(in))
		}))
}

type qyvoSearchIn struct {
	Query  string `json:"query,omitempty" jsonschema_description:"Text to find in name, phone or email."`
	Tag    string `json:"tag,omitempty" jsonschema_description:"Only contacts with this tag."`
	Email  string `json:"email,omitempty" jsonschema_description:"Only the contact with this email."`
	Limit  int    `json:"limit,omitempty" jsonschema:"minimum=1,maximum=100,default=20"`
	Cursor string `json:"cursor,omitempty"`
}

type qyvoContactList struct {
	Contacts   []qyvo.Contact `json:"contacts"`
	Total      int            `json:"total"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

func qyvoSearchContacts(c Clients[*qyvo.Client]) Tool {
	return New(qyvo.Name, "qyvo_search_contacts", "Search Qyvo contacts",
		"Search WhatsApp contacts by text, tag or email, newest first; no filter lists all. Returns contacts, total and next_cursor.",
		Read, withClient(c, func(ctx context.Context, cl *qyvo.Client, in qyvoSearchIn) (qyvoContactList, error) {
			limit := in.Limit // a cursor keeps its own page size
			if in.Cursor == "" {
				limit = orDefault(in.Limit, 20)
			}
			p, err := cl.SearchContacts(ctx, qyvo.Search{Query: in.Query, Tag: in.Tag, Email: in.Email},
				vendors.PageRequest{Limit: limit, Cursor: in.Cursor})
			if err != nil {
				return qyvoContactList{}, err
			}
			return qyvoContactList{Contacts: p.Items, Total: p.Total, NextCursor: p.Next}, nil
		}))
}

type qyvoTagIn struct {
	ContactID string `json:"contact_id" jsonschema:"required,format=uuid"`
	Tag       string `json:"tag" jsonschema:"required,minLength=1,maxLength=50" jsonschema_description:"Tag name, e.g. vip."`
}

func qyvoAddTag(c Clients[*qyvo.Client]) Tool {
	return New(qyvo.Name, "qyvo_add_tag", "Tag a Qyvo contact",
		"Add a tag to a contact (a new tag is created). Tagging may start automations. Returns the contact.",
		Hints{Idempotent: true}, withClient(c, func(ctx context.Context, cl *qyvo.Client, in qyvoTagIn) (*qyvo.Contact, error) {
			return cl.AddTag(ctx, in.ContactID, in.Tag)
		}))
}

func qyvoRemoveTag(c Clients[*qyvo.Client]) Tool {
	return New(qyvo.Name, "qyvo_remove_tag", "Untag a Qyvo contact",
		"Remove a tag from a contact; removing a tag it does not have is not an error. Returns the contact.",
		Update, withClient(c, func(ctx context.Context, cl *qyvo.Client, in qyvoTagIn) (*qyvo.Contact, error) {
			return cl.RemoveTag(ctx, in.ContactID, in.Tag)
		}))
}

type (
	qyvoTemplates struct {
		Templates []qyvo.Template `json:"templates"`
	}
	qyvoTags struct {
		Tags []qyvo.Tag `json:"tags"`
	}
	qyvoSequences struct {
		Sequences []qyvo.Sequence `json:"sequences"`
	}
	qyvoFlows struct {
		Flows []qyvo.Flow `json:"flows"`
	}
)

func qyvoListTemplates(c Clients[*qyvo.Client]) Tool {
	return New(qyvo.Name, "qyvo_list_templates", "List WhatsApp templates",
		"List every WhatsApp template: name, language, status (only approved ones send), body and number of variables.",
		Read, withClient(c, func(ctx context.Context, cl *qyvo.Client, _ qyvoNoArgs) (qyvoTemplates, error) {
			ts, err := cl.ListTemplates(ctx)
			return qyvoTemplates{ts}, err
		}))
}

func qyvoListTags(c Clients[*qyvo.Client]) Tool {
	return New(qyvo.Name, "qyvo_list_tags", "List Qyvo tags",
		"List every contact tag with how many contacts carry it.",
		Read, withClient(c, func(ctx context.Context, cl *qyvo.Client, _ qyvoNoArgs) (qyvoTags, error) {
			ts, err := cl.ListTags(ctx)
			return qyvoTags{ts}, err
		}))
}

func qyvoListSequences(c Clients[*qyvo.Client]) Tool {
	return New(qyvo.Name, "qyvo_list_sequences", "List Qyvo sequences",
		"List every message sequence (drip) with its status; only active ones can be triggered.",
		Read, withClient(c, func(ctx context.Context, cl *qyvo.Client, _ qyvoNoArgs) (qyvoSequences, error) {
			ss, err := cl.ListSequences(ctx)
			return qyvoSequences{ss}, err
		}))
}

func qyvoListFlows(c Clients[*qyvo.Client]) Tool {
	return New(qyvo.Name, "qyvo_list_flows", "List Qyvo flows",
		"List every conversational flow with its status; only active ones can be triggered.",
		Read, withClient(c, func(ctx context.Context, cl *qyvo.Client, _ qyvoNoArgs) (qyvoFlows, error) {
			fs, err := cl.ListFlows(ctx)
			return qyvoFlows{fs}, err
		}))
}

type qyvoSequenceIn struct {
	SequenceID string `json:"sequence_id" jsonschema:"required,format=uuid" jsonschema_description:"Sequence id from qyvo_list_sequences."`
}

type qyvoTriggerSequenceIn struct {
	SequenceID string `json:"sequence_id" jsonschema:"required,format=uuid" jsonschema_description:"Active sequence id from qyvo_list_sequences."`
	ContactID  string `json:"contact_id" jsonschema:"required,format=uuid"`
	SendGuard
}

func qyvoTriggerSequence(c Clients[*qyvo.Client]) Tool {
	return NewSend(qyvo.Name, "qyvo_trigger_sequence", "Start a Qyvo sequence",
		"Enrol a contact in an active sequence: it starts sending WhatsApp messages on its schedule. Returns the run.",
		c, func(ctx context.Context, cl *qyvo.Client, in qyvoTriggerSequenceIn) (*qyvo.Run, error) {
			return cl.TriggerSequence(ctx, in.SequenceID, in.ContactID)
		}, func(ctx context.Context, cl *qyvo.Client, in qyvoTriggerSequenceIn) Question {
			q := Question{Vendor: "Qyvo", Action: "start this WhatsApp sequence", Verb: "start"}
			qyvoRecipient(ctx, cl, &q, "", in.ContactID)
			s, err := cl.GetSequence(ctx, in.SequenceID)
			if err != nil {
				q.Details = append(q.Details, "Sequence: "+in.SequenceID)
				q.Unknown = append(q.Unknown, "the sequence's name and steps, which could not be read ("+brief(err)+")")
				return q
			}
			q.Details = append(q.Details, fmt.Sprintf("Sequence: %s, %d messages, each sent on its schedule:", s.Name, cmp.Or(len(s.Steps), s.StepsCount)))
			for _, st := range s.Steps {
				q.Details = append(q.Details, fmt.Sprintf("  %d. template %s, after %d h", st.Position, st.Template, st.DelayHours))
			}
			return q
		})
}

func qyvoGetSequence(c Clients[*qyvo.Client]) Tool {
	return New(qyvo.Name, "qyvo_get_sequence", "Get a Qyvo sequence",
		"Get one sequence with its steps (template and delay of each).",
		Read, withClient(c, func(ctx context.Context, cl *qyvo.Client, in qyvoSequenceIn) (*qyvo.Sequence, error) {
			return cl.GetSequence(ctx, in.SequenceID)
		}))
}

type qyvoFlowIn struct {
	FlowID string `json:"flow_id" jsonschema:"required,format=uuid" jsonschema_description:"Flow id from qyvo_list_flows."`
}

type qyvoTriggerFlowIn struct {
	FlowID    string `json:"flow_id" jsonschema:"required,format=uuid" jsonschema_description:"Active flow id from qyvo_list_flows."`
	ContactID string `json:"contact_id" jsonschema:"required,format=uuid"`
	SendGuard
}

func qyvoTriggerFlow(c Clients[*qyvo.Client]) Tool {
	return NewSend(qyvo.Name, "qyvo_trigger_flow", "Start a Qyvo flow",
		"Start an active conversational flow for a contact: it messages them on WhatsApp. Returns the run.",
		c, func(ctx context.Context, cl *qyvo.Client, in qyvoTriggerFlowIn) (*qyvo.Run, error) {
			return cl.TriggerFlow(ctx, in.FlowID, in.ContactID)
		}, func(ctx context.Context, cl *qyvo.Client, in qyvoTriggerFlowIn) Question {
			q := Question{Vendor: "Qyvo", Action: "start this WhatsApp flow (it messages the contact)", Verb: "start"}
			qyvoRecipient(ctx, cl, &q, "", in.ContactID)
			f, err := cl.GetFlow(ctx, in.FlowID)
			if err != nil {
				q.Details = append(q.Details, "Flow: "+in.FlowID)
				q.Unknown = append(q.Unknown, "the flow's name, which could not be read ("+brief(err)+")")
				return q
			}
			q.Details = append(q.Details, "Flow: "+person(f.Name, f.Description))
			return q
		})
}

func qyvoGetFlow(c Clients[*qyvo.Client]) Tool {
	return New(qyvo.Name, "qyvo_get_flow", "Get a Qyvo flow",
		"Get one flow with its nodes.",
		Read, withClient(c, func(ctx context.Context, cl *qyvo.Client, in qyvoFlowIn) (*qyvo.Flow, error) {
			return cl.GetFlow(ctx, in.FlowID)
		}))
}

// qyvoVendor is Qyvo's entry in the vendor registry (Vendors).
var qyvoVendor = &Def[qyvo.Config, *qyvo.Client]{
	VendorName: qyvo.Name,
	Creds:      []string{"QYVO_API_TOKEN"},
	Ready:      qyvo.Config.Configured,
	Client:     qyvo.New,
	Tools:      Qyvo,
	Contacts:   QyvoContacts,
	Resources:  QyvoResources,
	Lookups:    QyvoLookups,
	// Qyvo's errors name its actions; an agent knows them as tools.
	Words: []string{"send-template-message", "qyvo_send_template_message", "send-text-message", "qyvo_send_text_message",
		"trigger-sequence", "qyvo_trigger_sequence", "trigger-flow", "qyvo_trigger_flow"},
	Emulate: func(unlimited bool) (http.Handler, qyvo.Config) {
		// The assumed 60/min is kept: the client's limiter paces a demo
		// instead of letting the emulator answer 429.
		return qyvotest.New(qyvotest.Options{RatePerMinute: OrUnlimited(unlimited, 0)}), qyvo.Config{APIToken: qyvotest.APIToken,
			BaseURL: SandboxURL(qyvo.Name), RateLimit: qyvotest.DefaultRatePerMinute}
	},
}
