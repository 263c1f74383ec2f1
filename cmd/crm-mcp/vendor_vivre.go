package main

import (
	"net/http"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/crm-mcp/crm-mcp/vendors/vivre"
	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
)

func init() {
	register(&wiring[vivre.Config, *vivre.Client]{
		vendorName: vivre.Name,
		creds:      []string{"VIVRE_API_KEY", "VIVRE_WORKSPACE_ID"},
		configured: vivre.Config.Configured,
		client:     vivre.New,
		toolset:    tools.Vivre,
		contacts:   tools.VivreContacts,
		emulate: func(unlimited bool) (http.Handler, vivre.Config) {
			// The sandbox emulates the Pro plan (600/min) so demos do not stall.
			return vivretest.New(vivretest.Options{RatePerMinute: orUnlimited(unlimited, 600)}), vivre.Config{APIKey: vivretest.APIKey,
				WorkspaceID: vivretest.WorkspaceID, Plan: "pro", BaseURL: sandboxURL(vivre.Name)}
		},
	})
}
