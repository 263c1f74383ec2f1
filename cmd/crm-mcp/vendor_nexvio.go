package main

import (
	"net/http"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/crm-mcp/crm-mcp/vendors/nexvio"
	"github.com/crm-mcp/crm-mcp/vendors/nexvio/nexviotest"
)

func init() {
	register(&wiring[nexvio.Config, *nexvio.Client]{
		vendorName: nexvio.Name,
		creds:      []string{"NEXVIO_API_KEY"},
		configured: nexvio.Config.Configured,
		client:     nexvio.New,
		toolset:    tools.Nexvio,
		contacts:   tools.NexvioContacts,
		emulate: func(unlimited bool) (http.Handler, nexvio.Config) {
			// The sandbox keeps the documented 100 requests/min: enough for a demo.
			return nexviotest.New(nexviotest.Options{RatePerMinute: orUnlimited(unlimited, 0)}), nexvio.Config{APIKey: nexviotest.APIKey,
				BaseURL: sandboxURL(nexvio.Name), RateLimit: nexvio.DefaultRateLimit}
		},
	})
}
