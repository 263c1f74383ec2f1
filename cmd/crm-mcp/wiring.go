package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

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
	// check reads and checks the vendor's env vars (see checkVendors).
	check(ctx context.Context, l envconfig.Lookuper, credentialsLater bool) error
	// load reads and checks the vendor's env vars; ok reports credentials
	// present. Settings without credentials pass here (they are fine with
	// per-request credentials): checkVendors refuses them before build.
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

// checkVendors checks every vendor's configuration before anything starts
// and returns every problem found, each naming its env vars. A vendor with
// some but not all of its credentials is an error, and so are settings
// (base URL, plan, rate limit...) without credentials, unless credentials
// come later: per request (CRM_MCP_CLIENT_CREDENTIALS over http), or not at
// all (--sandbox ignores them).
func checkVendors(ctx context.Context, cfg Config, env envconfig.Lookuper) []error {
	later := cfg.Sandbox || cfg.ClientCredentials && cfg.Transport == "http"
	var errs []error
	for _, v := range allVendors() {
		if err := v.check(ctx, env, later); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// vendorConfig is a vendor's configuration (vendors/<name>.Config): Check
// says, naming env vars, what keeps it from working.
type vendorConfig interface{ Check() error }

// wiring implements vendor for a config type Cfg and a client type C.
type wiring[Cfg vendorConfig, C any] struct {
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

// parse reads the vendor's configuration from l (nothing is kept between
// calls: every app, and every tenant, loads its own).
func (w *wiring[Cfg, C]) parse(ctx context.Context, l envconfig.Lookuper) (Cfg, error) {
	var cfg Cfg
	if err := processEnv(ctx, &cfg, l); err != nil {
		return cfg, fmt.Errorf("%s: %w", w.vendorName, err)
	}
	if err := refuseExplicitZero(&cfg, l); err != nil {
		return cfg, fmt.Errorf("%s: %w", w.vendorName, err)
	}
	return cfg, nil
}

// config reads and checks the vendor's configuration from l.
func (w *wiring[Cfg, C]) config(ctx context.Context, l envconfig.Lookuper) (Cfg, bool, error) {
	cfg, err := w.parse(ctx, l)
	if err != nil {
		return cfg, false, err
	}
	if err := cfg.Check(); err != nil {
		return cfg, false, fmt.Errorf("%s: %w", w.vendorName, err)
	}
	return cfg, w.configured(cfg), nil
}

// check reads and checks the vendor's configuration from l. With
// credentialsLater and none of the credentials in l, the other settings
// are checked as though the credentials were there.
func (w *wiring[Cfg, C]) check(ctx context.Context, l envconfig.Lookuper, credentialsLater bool) error {
	if credentialsLater && !w.anyCredential(l) {
		stand := map[string]string{}
		for _, name := range w.creds {
			stand[name] = "credential-to-come"
		}
		l = envconfig.MultiLookuper(envconfig.MapLookuper(stand), l)
	}
	_, _, err := w.config(ctx, l)
	return err
}

func (w *wiring[Cfg, C]) anyCredential(l envconfig.Lookuper) bool {
	for _, name := range w.creds {
		if _, ok := (unsetIfBlank{l}).Lookup(name); ok {
			return true
		}
	}
	return false
}

func (w *wiring[Cfg, C]) load(ctx context.Context, l envconfig.Lookuper) (bool, error) {
	if err := w.check(ctx, l, true); err != nil {
		return false, err
	}
	cfg, err := w.parse(ctx, l)
	return err == nil && w.configured(cfg), err
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

// unsetIfBlank reads a blank value as not set, so that the default applies
// and an empty placeholder ("VIVRE_API_KEY": "" in a client's config file)
// enables nothing.
type unsetIfBlank struct{ l envconfig.Lookuper }

func (u unsetIfBlank) Lookup(key string) (string, bool) {
	v, ok := u.l.Lookup(key)
	if !ok || strings.TrimSpace(v) == "" {
		return "", false
	}
	return v, true
}

// processEnv fills target, a pointer to a struct with env tags (the
// server's Config or a vendor's), from l: blank values are not set, and
// go-envconfig's errors, which name the Go field ("CallTimeout: time:
// invalid duration"), are rewritten to name the env var, its flag, the
// value and what is allowed.
func processEnv(ctx context.Context, target any, l envconfig.Lookuper) error {
	l = unsetIfBlank{l}
	err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: target, Lookuper: l})
	if err == nil {
		return nil
	}
	// go-envconfig says "<Field>: <parse error>" for the first bad field.
	field, _, _ := strings.Cut(err.Error(), ":")
	f, ok := reflect.TypeOf(target).Elem().FieldByName(field)
	name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	if name = strings.TrimSpace(name); !ok || name == "" {
		return err
	}
	raw, _ := l.Lookup(name)
	return fmt.Errorf("%s: %s", setting(name), badValue(f.Type, raw, err))
}

// badValue says why raw is not a value of type t, and what is.
func badValue(t reflect.Type, raw string, err error) string {
	q := quoteValue(raw)
	switch k := t.Kind(); {
	case t == reflect.TypeFor[time.Duration]():
		return q + " is not a duration; use e.g. 30s or 2m"
	case k == reflect.Bool:
		return q + " is not true or false"
	case k >= reflect.Int && k <= reflect.Uint64:
		if errors.Is(err, strconv.ErrRange) {
			return q + " is out of range"
		}
		return q + " is not a whole number; use digits, e.g. 100"
	case k == reflect.Float32 || k == reflect.Float64:
		return q + " is not a number"
	}
	_, why, _ := strings.Cut(err.Error(), ": ")
	return q + " is not allowed: " + why
}

// quoteValue quotes a configuration value for an error, cut short.
func quoteValue(s string) string {
	if r := []rune(s); len(r) > 64 {
		s = string(r[:64]) + "…"
	}
	return strconv.Quote(s)
}

// refuseExplicitZero: in a vendor's configuration a number without a
// default reads 0 as "not set" (VIVRE_RATE_LIMIT=0 would follow the plan,
// VIXIEES_LIMIT_PER_HOUR=0 the licences), so an explicit 0 is refused rather
// than silently ignored.
func refuseExplicitZero(target any, l envconfig.Lookuper) error {
	v := reflect.ValueOf(target).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("env"), ",")
		k := f.Type.Kind()
		if name == "" || strings.Contains(opts, "default=") || k < reflect.Int || k > reflect.Float64 || !v.Field(i).IsZero() {
			continue
		}
		if raw, ok := (unsetIfBlank{l}).Lookup(name); ok {
			return fmt.Errorf("%s: %s would mean not set; give a number of at least 1, or leave it unset for the default", name, quoteValue(raw))
		}
	}
	return nil
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
