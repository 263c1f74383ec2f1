package main

import (
	"net/http"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo/qyvotest"
)

func init() {
	register(&wiring[qyvo.Config, *qyvo.Client]{
		vendorName: qyvo.Name,
		creds:      []string{"QYVO_API_TOKEN"},
		configured: qyvo.Config.Configured,
		client:     qyvo.New,
		toolset:    tools.Qyvo,
		contacts:   tools.QyvoContacts,
		emulate: func(unlimited bool) (http.Handler, qyvo.Config) {
			// The assumed 60/min is kept: the client's limiter paces a demo
			// instead of letting the emulator answer 429.
			return qyvotest.New(qyvotest.Options{RatePerMinute: orUnlimited(unlimited, 0)}), qyvo.Config{APIToken: qyvotest.APIToken,
				BaseURL: sandboxURL(qyvo.Name), RateLimit: qyvotest.DefaultRatePerMinute}
		},
	})
}
