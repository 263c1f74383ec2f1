package main

import (
	"net/http"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees/vixieestest"
)

func init() {
	register(&wiring[vixiees.Config, *vixiees.Client]{
		vendorName: vixiees.Name,
		creds:      []string{"VIXIEES_API_KEY"},
		configured: vixiees.Config.Configured,
		client:     vixiees.New,
		toolset:    tools.Vixiees,
		contacts:   tools.VixieesContacts,
		emulate: func(unlimited bool) (http.Handler, vixiees.Config) {
			// The sandbox is a 4-licence account (100/min, 6000/h, 144000/day,
			// 40 per 2 s): the documented windows, with room for a demo that
			// pages through everything.
			return vixieestest.New(vixieestest.Options{Licenses: orUnlimited(unlimited, 4)}), vixiees.Config{APIKey: vixieestest.APIKey,
				Licenses: 4, BaseURL: sandboxURL(vixiees.Name)}
		},
	})
}
