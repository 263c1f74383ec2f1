package qyvotest

import (
	"slices"
	"strings"
	"time"
)

// seed fills the emulator with deterministic data; times are relative to now
// so that the 24-hour window means something.
func (e *Emulator) seed() {
	people := []struct{ name, company, phone string }{
		{"Rahul Sharma", "Acme Technologies", "+919820012301"}, {"Emily Carter", "Carter Consulting", "+14155550101"},
		{"Lucas Silva", "Rio Coffee", "+5511987650102"}, {"Priya Kapoor", "BlueStone Foods", "+919820012303"},
		{"Oliver Hughes", "Thames Bikes", "+447700900104"}, {"Sofia García", "Sol Hoteles", "+34612340105"},
		{"Omar Haddad", "Levant Imports", "+971501230106"}, {"Grace Lee", "Harbour Analytics", "+14155550107"},
		{"Ananya Iyer", "Kaveri Textiles", "+919820012308"}, {"Mateus Costa", "Costa Móveis", "+5521987650109"},
		{"Amelia Wright", "Wright Dental", "+447700900110"}, {"Daniel Kim", "Seoul Bites", "+14155550111"},
		{"Fatima Khan", "Crescent Travels", "+971501230112"}, {"Vikram Mehta", "Mehta Logistics", "+919820012313"},
		{"Lucía Fernández", "Fernández Moda", "+34612340114"}, {"Noah Brown", "Brown Roofing", "+14155550123"},
		{"Isabela Rocha", "Rocha Doces", "+5511987650116"}, {"Harry Evans", "Evans Print", "+447700900117"},
		{"Meera Pillai", "Lotus Health", "+919820012318"}, {"Chloe Martin", "Martin Pâtisserie", "+33612340119"},
		{"Yusuf Demir", "Bosphorus Tiles", "+905321230120"}, {"Zara Ahmed", "Oasis Water", "+971501230121"},
		{"Ben Okafor", "Lagos Fintech", "+2348031230122"}, {"Hannah Schmidt", "Schmidt Optik", "+4915112340123"},
		{"Arjun Nair", "Coastal Spices", "+919820012324"}, {"Mia Rossi", "Rossi Gelato", "+393471230125"},
		{"Jack Wilson", "Wilson Plumbing", "+14155550126"}, {"Camila Souza", "Souza Pet", "+5511987650127"},
		{"Kabir Singh", "Punjab Dairy", "+919820012328"}, {"Ella Thompson", "Thompson Florist", "+447700900129"},
	}
	texts := []string{"Hi, is the store open today?", "Can I change my delivery address?", "What are your prices for bulk orders?",
		"Thanks, received!", "Is the sale still on?", "I need to reschedule my appointment.", "Where is my order?",
		"Do you ship to my city?", "Please call me back.", "Can you send the invoice again?"}
	for _, n := range []string{"customer", "lead", "newsletter", "webinar-2026", "vip", "churn-risk"} {
		e.tags = append(e.tags, &tag{ID: uuidFor("tag", len(e.tags)), Name: n})
	}
	start := time.Now().UTC().Truncate(time.Second)
	at := func(d time.Duration) stamp { return stamp(start.Add(-d)) }
	events := 0
	add := func(feed string, t stamp, ev event) {
		ev.ID, ev.CreatedAt = uuidFor("event", events), t
		events++
		e.feeds[feed] = append(e.feeds[feed], &ev)
	}
	day := 24 * time.Hour
	for i, p := range people {
		first := strings.ToLower(strings.Fields(p.name)[0])
		first = strings.NewReplacer("í", "i", "á", "a").Replace(first)
		domain := strings.ToLower(strings.NewReplacer("ó", "o", "â", "a").Replace(strings.Fields(p.company)[0])) + ".example"
		created := at(time.Duration(90-2*i) * day)
		c := &contact{ID: uuidFor("contact", i), Phone: p.phone, Name: p.name, Email: first + "@" + domain,
			Tags: []string{"customer", "lead", "newsletter", "webinar-2026"}[i%4 : i%4+1], CreatedAt: created, UpdatedAt: created}
		c.Tags = slices.Clip(c.Tags)
		if i%7 == 0 {
			c.Tags = append(c.Tags, "vip")
		}
		if i%11 == 5 {
			c.Tags = append(c.Tags, "churn-risk")
		}
		var inbound stamp
		switch i % 3 {
		case 0: // wrote within the last 24 hours: the window is open
			inbound = at(time.Duration(i/3+1) * 40 * time.Minute)
		case 1: // wrote days ago: only templates
			inbound = at(time.Duration(2+i%5) * day)
		}
		if i%3 != 2 {
			c.LastInboundAt = &inbound
			c.UpdatedAt = inbound
			add("message_received", inbound, event{ContactID: c.ID, Phone: c.Phone, Text: texts[i%len(texts)]})
		}
		e.contacts = append(e.contacts, c)
	}
	tpl := func(name, lang, category, status, body string, vars int) {
		e.templates = append(e.templates, &template{ID: uuidFor("template", len(e.templates)), Name: name, Language: lang,
			Category: category, Status: status, Body: body, Variables: vars})
	}
	tpl("order_confirmation", "en", "utility", "approved", "Hi {{1}}, your order {{2}} is confirmed. We will message you when it ships.", 2)
	tpl("order_confirmation", "es", "utility", "approved", "Hola {{1}}, tu pedido {{2}} está confirmado. Te avisaremos cuando se envíe.", 2)
	tpl("appointment_reminder", "en", "utility", "approved", "Hi {{1}}, a reminder of your appointment on {{2}} at {{3}}. Reply C to cancel.", 3)
	tpl("welcome_message", "en", "marketing", "approved", "Welcome to {{1}}! Reply to this message any time to chat with us.", 1)
	tpl("welcome_message", "pt_BR", "marketing", "approved", "Bem-vindo à {{1}}! Responda esta mensagem para falar conosco.", 1)
	tpl("payment_due", "en", "utility", "approved", "Hi {{1}}, your payment of {{2}} is due. Reply PAY for a payment link.", 2)
	tpl("feedback_request", "en", "marketing", "approved", "How did we do? Reply with a number from 1 (poor) to 5 (great).", 0)
	tpl("spring_sale", "en", "marketing", "pending", "Spring sale: {{1}} off everything until {{2}}.", 2)

	seqs := []struct {
		name, status string
		steps        []step
	}{
		{"Onboarding drip", "active", []step{{1, 0, "welcome_message"}, {2, 48, "appointment_reminder"}, {3, 168, "feedback_request"}}},
		{"Payment reminders", "active", []step{{1, 0, "payment_due"}, {2, 48, "payment_due"}}},
		{"Win-back", "paused", []step{{1, 0, "welcome_message"}, {2, 96, "feedback_request"}}},
	}
	for i, s := range seqs {
		e.sequences = append(e.sequences, &sequence{ID: uuidFor("sequence", i), Name: s.name, Status: s.status,
			StepsCount: len(s.steps), Steps: s.steps, CreatedAt: at(time.Duration(120-10*i) * day)})
	}
	flows := []struct {
		name, status, desc string
		nodes              []string
	}{
		{"Lead qualification", "active", "Asks budget and timeline, then tags the contact lead or customer.",
			[]string{"message:Greeting", "question:Budget", "question:Timeline", "condition:Qualified?", "add_tag:lead"}},
		{"Support triage", "active", "Routes a question to billing, orders or a person.",
			[]string{"question:Topic", "condition:Billing or orders?", "handoff:Agent"}},
		{"Event RSVP", "draft", "Collects RSVPs for the next webinar.", []string{"message:Invite", "question:Attending?"}},
	}
	for i, f := range flows {
		fl := &flow{ID: uuidFor("flow", i), Name: f.name, Status: f.status, Description: f.desc,
			NodesCount: len(f.nodes), CreatedAt: at(time.Duration(100-10*i) * day)}
		for j, n := range f.nodes {
			typ, lbl, _ := strings.Cut(n, ":")
			fl.Nodes = append(fl.Nodes, node{Position: j + 1, Type: typ, Label: lbl})
		}
		e.flows = append(e.flows, fl)
	}
	for i := range 6 {
		c := e.contacts[i*4]
		add("campaign_sent", at(time.Duration(3*i+1)*day), event{ContactID: c.ID, Phone: c.Phone,
			MessageID: uuidFor("message", i), Campaign: []string{"welcome_message", "payment_due"}[i%2]})
	}
	for i := range 4 {
		c, s := e.contacts[i*3+2], e.sequences[i%2]
		add("sequence_triggered", at(time.Duration(2*i+1)*day), event{ContactID: c.ID, Phone: c.Phone, SequenceID: s.ID, Name: s.Name})
	}
	for i := range 3 {
		c, f := e.contacts[i*5+1], e.flows[i%2]
		add("flow_triggered", at(time.Duration(i+1)*day), event{ContactID: c.ID, Phone: c.Phone, FlowID: f.ID, Name: f.Name})
	}
	for _, feed := range e.feeds {
		slices.SortFunc(feed, func(a, b *event) int { return time.Time(a.CreatedAt).Compare(time.Time(b.CreatedAt)) })
	}
}
