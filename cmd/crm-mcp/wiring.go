package main

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/sethvargo/go-envconfig"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
)

// vendor is how main wires one vendor: its configuration from the
// environment, its client, its toolset and its emulator for --sandbox.
// Each vendor_<name>.go registers one in init.
type vendor interface {
	name() string
	// credentials are the env vars that enable the vendor; in hosted mode
	// with client credentials, the same values may come as request headers
	// (VIVRE_API_KEY -> X-Vivre-Api-Key).
	credentials() []string
	// envVars names every env var the vendor reads.
	envVars() []string
	// load reads the vendor's env vars; ok reports credentials present.
	load(ctx context.Context, l envconfig.Lookuper) (ok bool, err error)
	// tools builds the toolset on the env's credentials (when envOK) and,
	// when perRequest is set, on credentials sent by the caller.
	// It also returns the vendor's part of the cross-vendor crm tools.
	tools(ctx context.Context, o vendors.Options, env envconfig.Lookuper, envOK, perRequest bool) ([]tools.Tool, tools.ContactSource)
	// sandbox builds the same on an in-process emulator and returns the
	// emulator too, to mount at /sandbox/<name>/ in HTTP mode.
	sandbox(o vendors.Options) ([]tools.Tool, tools.ContactSource, http.Handler)
	// inRequest reports whether the call's request carries this vendor's credentials.
	inRequest(ctx context.Context) bool
}

var registered = map[string]vendor{}

func register(v vendor) { registered[v.name()] = v }

// allVendors in name order.
func allVendors() []vendor {
	out := make([]vendor, 0, len(registered))
	for _, v := range registered {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name() < out[j].name() })
	return out
}

// wiring implements vendor for a config type Cfg and a client type C.
type wiring[Cfg any, C any] struct {
	vendorName string
	creds      []string                     // env vars that enable it, e.g. VIVRE_API_KEY
	configured func(Cfg) bool               // credentials present
	client     func(Cfg, vendors.Options) C // the vendor client
	toolset    func(tools.Clients[C]) []tools.Tool
	contacts   func(tools.Clients[C]) tools.ContactSource // its part of crm_search_contacts
	emulate    func(unlimited bool) (http.Handler, Cfg)   // an emulator (limits lifted if asked) and a config that reaches it
}

func (w *wiring[Cfg, C]) name() string          { return w.vendorName }
func (w *wiring[Cfg, C]) envVars() []string     { var c Cfg; return envNames(reflect.TypeOf(c)) }
func (w *wiring[Cfg, C]) credentials() []string { return w.creds }

// config reads the vendor's configuration from l (nothing is kept between
// calls: every app, and every tenant, loads its own).
func (w *wiring[Cfg, C]) config(ctx context.Context, l envconfig.Lookuper) (Cfg, bool, error) {
	var cfg Cfg
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &cfg, Lookuper: l}); err != nil {
		return cfg, false, fmt.Errorf("%s configuration: %w", w.vendorName, err)
	}
	return cfg, w.configured(cfg), nil
}

func (w *wiring[Cfg, C]) load(ctx context.Context, l envconfig.Lookuper) (bool, error) {
	_, ok, err := w.config(ctx, l)
	return ok, err
}

func (w *wiring[Cfg, C]) tools(ctx context.Context, o vendors.Options, env envconfig.Lookuper, envOK, perRequest bool) ([]tools.Tool, tools.ContactSource) {
	var static C
	if envOK {
		cfg, _, _ := w.config(ctx, env)
		static = w.client(cfg, o)
	}
	tenants := &clientCache[C]{m: map[string]C{}}
	clients := func(ctx context.Context) (C, error) {
		if perRequest && w.inRequest(ctx) {
			return tenants.get(ctx, w.creds, func(l envconfig.Lookuper) (C, bool) {
				cfg, ok, err := w.config(ctx, envconfig.MultiLookuper(l, env))
				if err != nil || !ok {
					var zero C
					return zero, false
				}
				return w.client(cfg, o), true
			})
		}
		if envOK {
			return static, nil
		}
		var zero C
		return zero, &vendors.Error{Vendor: w.vendorName, Kind: vendors.KindAuth,
			Message: "no credentials for this vendor: send the " + strings.Join(headerNames(w.creds), " and ") + " headers"}
	}
	src := w.contacts(clients)
	src.Enabled = func(ctx context.Context) bool { return envOK || perRequest && w.inRequest(ctx) }
	return w.toolset(clients), src
}

func (w *wiring[Cfg, C]) sandbox(o vendors.Options) ([]tools.Tool, tools.ContactSource, http.Handler) {
	h, cfg := w.emulate(o.Unlimited)
	o.HTTP = &http.Client{Transport: emulator.Transport(h)}
	clients := tools.Static(w.client(cfg, o))
	return w.toolset(clients), w.contacts(clients), h
}

func (w *wiring[Cfg, C]) inRequest(ctx context.Context) bool {
	h := requestHeaders(ctx)
	if h == nil {
		return false
	}
	for _, name := range headerNames(w.creds) {
		if h.Get(name) == "" {
			return false
		}
	}
	return true
}

// clientCache keeps one client per tenant credential set, so a tenant's
// limiter key and connections are reused across calls.
type clientCache[C any] struct {
	mu sync.Mutex
	m  map[string]C
}

func (c *clientCache[C]) get(ctx context.Context, creds []string, build func(envconfig.Lookuper) (C, bool)) (C, error) {
	h := requestHeaders(ctx)
	values := make([]string, len(creds))
	for i, name := range headerNames(creds) {
		values[i] = h.Get(name)
	}
	key := ratelimit.Fingerprint(strings.Join(values, "\x00"))
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.m[key]; ok {
		return cl, nil
	}
	cl, ok := build(headerLookuper(h, creds))
	if !ok {
		return cl, &vendors.Error{Kind: vendors.KindAuth, Message: "the credential headers are incomplete or invalid"}
	}
	if len(c.m) >= 1024 { // bounded: drop all rather than grow without end
		c.m = map[string]C{}
	}
	c.m[key] = cl
	return cl, nil
}

// headerName maps a credential env var to its request header:
// VIVRE_WORKSPACE_ID -> X-Vivre-Workspace-Id.
func headerName(env string) string {
	parts := strings.Split(strings.ToLower(env), "_")
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return "X-" + strings.Join(parts, "-")
}

func headerNames(envs []string) []string {
	out := make([]string, len(envs))
	for i, e := range envs {
		out[i] = headerName(e)
	}
	return out
}

// headerLookuper answers the credential env vars from request headers.
func headerLookuper(h http.Header, creds []string) envconfig.Lookuper {
	m := map[string]string{}
	for _, e := range creds {
		if v := h.Get(headerName(e)); v != "" {
			m[e] = v
		}
	}
	return envconfig.MapLookuper(m)
}

// envNames lists the env vars a config struct reads (its env tags).
func envNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ","); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// orUnlimited is n, or -1 (the emulators' "no limit") for load tests.
func orUnlimited(unlimited bool, n int) int {
	if unlimited {
		return -1
	}
	return n
}

// sandboxURL is the base URL clients use for an in-process emulator; the
// in-memory transport ignores the host.
func sandboxURL(name string) string { return "http://" + name + ".sandbox.invalid" }

// envHints lists every vendor's enabling env vars, for the "nothing
// configured" message.
func envHints() string {
	var parts []string
	for _, v := range allVendors() {
		parts = append(parts, fmt.Sprintf("%s (%s)", v.name(), strings.Join(v.credentials(), " and ")))
	}
	return strings.Join(parts, ", ")
}
