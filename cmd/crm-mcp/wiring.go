package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/sethvargo/go-envconfig"

	"github.com/crm-mcp/crm-mcp/tools"
)

// The vendors themselves are declared in tools (tools.Vendors); this file
// is what the binary adds: checking them all before start-up, and naming
// flags in configuration errors.

// checkVendors checks every vendor's configuration before anything starts
// and returns every problem found, each naming its env vars. A vendor with
// some but not all of its credentials is an error, and so are settings
// (base URL, plan, rate limit...) without credentials, unless credentials
// come later: per request (CRM_MCP_CLIENT_CREDENTIALS over http), or not at
// all (--sandbox ignores them).
func checkVendors(ctx context.Context, cfg Config, env envconfig.Lookuper) []error {
	later := cfg.Sandbox || cfg.ClientCredentials && cfg.Transport == "http"
	var errs []error
	for _, v := range tools.Vendors() {
		if err := v.Check(ctx, env, later); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// processEnv is tools.ProcessEnv naming flags beside env vars.
func processEnv(ctx context.Context, target any, l envconfig.Lookuper) error {
	return tools.ProcessEnv(ctx, target, l, setting)
}

// envHints lists every vendor's enabling env vars, for the "nothing
// configured" message.
func envHints() string {
	var parts []string
	for _, v := range tools.Vendors() {
		parts = append(parts, fmt.Sprintf("%s (%s)", v.Name(), strings.Join(v.Credentials(), " and ")))
	}
	return strings.Join(parts, ", ")
}
