package main

import (
	"net/http"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/crm-mcp/crm-mcp/vendors/ralivi"
	"github.com/crm-mcp/crm-mcp/vendors/ralivi/ralivitest"
)

func init() {
	register(&wiring[ralivi.Config, *ralivi.Client]{
		vendorName: ralivi.Name,
		creds:      []string{"RALIVI_API_KEY"},
		configured: ralivi.Config.Configured,
		client:     ralivi.New,
		toolset:    tools.Ralivi,
		contacts:   tools.RaliviContacts,
		emulate: func(bool) (http.Handler, ralivi.Config) {
			// Ralivi documents no limit: the emulator sets none and the client
			// keeps its default 60/min, which a demo does not reach.
			return ralivitest.New(ralivitest.Options{}), ralivi.Config{APIKey: ralivitest.APIKey,
				BaseURL: sandboxURL(ralivi.Name), RateLimit: ralivi.DefaultRateLimit}
		},
	})
}
