package tools

// The vendor registry: each vendor is one value, declared once in
// tools/<vendor>.go, and Vendors is the one list of them. The binary, go
// generate (schemas and the README table), the fuzz and prompt tests and the
// cross-vendor tools all loop over it. Adding a vendor: a vendors/<x>/
// folder with its client and emulator, one tools/<x>.go declaring its tools
// and its Def, and one line in Vendors.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
)

// Vendors is every vendor crm-mcp knows, in name order.
func Vendors() []Vendor {
	return []Vendor{nexvioVendor, qyvoVendor, raliviVendor, vivreVendor, vixieesVendor}
}

// Vendor is one vendor as the binary sees it.
type Vendor interface {
	// Name is the vendor's name: the toolset, the tool-name prefix.
	Name() string
	// Credentials are the env vars that enable it; hosted, with client
	// credentials, the same values may come as request headers
	// (VIVRE_API_KEY -> X-Vivre-Api-Key).
	Credentials() []string
	// EnvVars names every env var the vendor reads.
	EnvVars() []string
	// Check reads and checks the vendor's env vars. With credentialsLater
	// (per-request keys, or --sandbox) settings without keys are fine.
	Check(ctx context.Context, l envconfig.Lookuper, credentialsLater bool) error
	// Configured reports whether l holds the vendor's credentials.
	Configured(ctx context.Context, l envconfig.Lookuper) (bool, error)
	// Build is the toolset on the env's credentials (when envOK) and, when
	// perRequest, on credentials a caller sends.
	Build(ctx context.Context, o vendors.Options, env envconfig.Lookuper, envOK, perRequest bool) Toolset
	// Sandbox is the toolset on an in-process emulator, and the emulator
	// (mounted at /sandbox/<name>/ in HTTP mode).
	Sandbox(o vendors.Options) (Toolset, http.Handler)
	// InRequest reports whether the call's request carries the vendor's credentials.
	InRequest(ctx context.Context) bool
	// Vocabulary is old, new pairs: the vendor's own names for its
	// endpoints, as they appear in its error messages, and the tools an
	// agent calls instead.
	Vocabulary() []string
	// Catalog is the vendor's tools built without a client: for listing,
	// docs and snapshots (their handlers must not be called).
	Catalog() []Tool
	// ResourceCatalog is the vendor's resources built without a client
	// (their Read must not be called).
	ResourceCatalog() []Resource
	// CompletionKinds are the kinds of record the vendor completes
	// ("contact", "template", ...), in name order.
	CompletionKinds() []string
}

// Toolset is what a vendor contributes: its tools, its part of the
// cross-vendor contact search, its resources and its completion lookups.
type Toolset struct {
	Tools     []Tool
	Contacts  ContactSource
	Resources []Resource
	Lookups   Lookups
	// Own is the client on the deployment's own credentials (the
	// environment's, or the emulator's in --sandbox), nil without them:
	// for what the server does by itself, such as polling Qyvo's feeds.
	Own any
}

// Checker is a vendor's configuration (vendors/<name>.Config): Check says,
// naming env vars, what keeps it from working.
type Checker interface{ Check() error }

// Def declares a vendor over its config type Cfg and client type C.
type Def[Cfg Checker, C any] struct {
	VendorName string
	Creds      []string                     // env vars that enable it, e.g. VIVRE_API_KEY
	Ready      func(Cfg) bool               // credentials present
	Client     func(Cfg, vendors.Options) C // the vendor client
	Tools      func(Clients[C]) []Tool
	Contacts   func(Clients[C]) ContactSource           // its part of crm_search_contacts
	Emulate    func(unlimited bool) (http.Handler, Cfg) // an emulator (limits lifted if asked) and a config that reaches it
	Words      []string                                 // Vocabulary: vendor endpoint name, tool name, ...
	// Resources are its records (a template per record it can fetch by id,
	// <vendor>://<collection>/{id}) and its small reference lists.
	Resources func(Clients[C]) []Resource
	// Lookups complete its resource parameters and prompt arguments, by
	// kind of record ("template", "stage", ...); "contact" is added from
	// Contacts.
	Lookups func(Clients[C]) map[string]Lookup
}

// Vocabulary implements Vendor.
func (d *Def[Cfg, C]) Vocabulary() []string { return d.Words }

// Name implements Vendor.
func (d *Def[Cfg, C]) Name() string { return d.VendorName }

// Credentials implements Vendor.
func (d *Def[Cfg, C]) Credentials() []string { return d.Creds }

// EnvVars implements Vendor.
func (d *Def[Cfg, C]) EnvVars() []string { var c Cfg; return EnvNames(reflect.TypeOf(c)) }

// Catalog implements Vendor.
func (d *Def[Cfg, C]) Catalog() []Tool {
	var zero C
	return d.Tools(Static(zero))
}

// ResourceCatalog implements Vendor.
func (d *Def[Cfg, C]) ResourceCatalog() []Resource {
	var zero C
	if d.Resources == nil {
		return nil
	}
	return d.Resources(Static(zero))
}

// CompletionKinds implements Vendor.
func (d *Def[Cfg, C]) CompletionKinds() []string {
	var zero C
	kinds := []string{}
	if d.Lookups != nil {
		kinds = slices.Collect(maps.Keys(d.Lookups(Static(zero))))
	}
	if d.Contacts != nil && d.Contacts(Static(zero)).Search != nil {
		kinds = append(kinds, "contact")
	}
	slices.Sort(kinds)
	return slices.Compact(kinds)
}

// toolset is everything the vendor offers on these clients.
func (d *Def[Cfg, C]) toolset(clients Clients[C]) Toolset {
	src := d.Contacts(clients)
	set := Toolset{Tools: d.Tools(clients), Contacts: src,
		Lookups: Lookups{Vendor: d.VendorName, Kinds: map[string]Lookup{}, Identity: identityOf(clients)}}
	if d.Resources != nil {
		set.Resources = d.Resources(clients)
	}
	if d.Lookups != nil {
		maps.Copy(set.Lookups.Kinds, d.Lookups(clients))
	}
	if src.Search != nil {
		set.Lookups.Kinds["contact"] = contactLookup(src)
	}
	return set
}

// parse reads the vendor's configuration from l (nothing is kept between
// calls: every app, and every tenant, loads its own).
func (d *Def[Cfg, C]) parse(ctx context.Context, l envconfig.Lookuper) (Cfg, error) {
	var cfg Cfg
	if err := ProcessEnv(ctx, &cfg, l, func(env string) string { return env }); err != nil {
		return cfg, fmt.Errorf("%s: %w", d.VendorName, err)
	}
	if err := refuseExplicitZero(&cfg, l); err != nil {
		return cfg, fmt.Errorf("%s: %w", d.VendorName, err)
	}
	return cfg, nil
}

// config reads and checks the vendor's configuration from l.
func (d *Def[Cfg, C]) config(ctx context.Context, l envconfig.Lookuper) (Cfg, bool, error) {
	cfg, err := d.parse(ctx, l)
	if err != nil {
		return cfg, false, err
	}
	if err := cfg.Check(); err != nil {
		return cfg, false, fmt.Errorf("%s: %w", d.VendorName, err)
	}
	return cfg, d.Ready(cfg), nil
}

// Check implements Vendor: with credentialsLater and none of the
// credentials in l, the other settings are checked as though they were there.
func (d *Def[Cfg, C]) Check(ctx context.Context, l envconfig.Lookuper, credentialsLater bool) error {
	if credentialsLater && !d.anyCredential(l) {
		stand := map[string]string{}
		for _, name := range d.Creds {
			stand[name] = "credential-to-come"
		}
		l = envconfig.MultiLookuper(envconfig.MapLookuper(stand), l)
	}
	_, _, err := d.config(ctx, l)
	return err
}

func (d *Def[Cfg, C]) anyCredential(l envconfig.Lookuper) bool {
	for _, name := range d.Creds {
		if _, ok := (unsetIfBlank{l}).Lookup(name); ok {
			return true
		}
	}
	return false
}

// Configured implements Vendor.
func (d *Def[Cfg, C]) Configured(ctx context.Context, l envconfig.Lookuper) (bool, error) {
	if err := d.Check(ctx, l, true); err != nil {
		return false, err
	}
	cfg, err := d.parse(ctx, l)
	return err == nil && d.Ready(cfg), err
}

// Build implements Vendor.
func (d *Def[Cfg, C]) Build(ctx context.Context, o vendors.Options, env envconfig.Lookuper, envOK, perRequest bool) Toolset {
	var static C
	if envOK {
		cfg, _, _ := d.config(ctx, env)
		static = d.Client(cfg, o)
	}
	tenants := &clientCache[C]{m: map[string]C{}}
	clients := func(ctx context.Context) (C, error) {
		if perRequest && d.InRequest(ctx) {
			if r := recordFrom(ctx); r != nil {
				r.callerKeys = true
			}
			return tenants.get(ctx, d.Creds, func(l envconfig.Lookuper) (C, bool) {
				cfg, ok, err := d.config(ctx, envconfig.MultiLookuper(l, env))
				if err != nil || !ok {
					var zero C
					return zero, false
				}
				return d.Client(cfg, o), true
			})
		}
		if envOK {
			return static, nil
		}
		var zero C
		return zero, &vendors.Error{Vendor: d.VendorName, Kind: vendors.KindAuth,
			Message: "no credentials for this vendor: send the " + strings.Join(HeaderNames(d.Creds), " and ") + " headers"}
	}
	set := d.toolset(clients)
	set.Contacts.Enabled = func(ctx context.Context) bool { return envOK || perRequest && d.InRequest(ctx) }
	if envOK {
		set.Own = static
	}
	return set
}

// Sandbox implements Vendor.
func (d *Def[Cfg, C]) Sandbox(o vendors.Options) (Toolset, http.Handler) {
	h, cfg := d.Emulate(o.Unlimited)
	o.HTTP = &http.Client{Transport: emulator.Transport(h)}
	cl := d.Client(cfg, o)
	set := d.toolset(Static(cl))
	set.Own = cl
	return set, h
}

// InRequest implements Vendor.
func (d *Def[Cfg, C]) InRequest(ctx context.Context) bool {
	h := RequestHeaders(ctx)
	if h == nil {
		return false
	}
	for _, name := range HeaderNames(d.Creds) {
		if h.Get(name) == "" {
			return false
		}
	}
	return true
}

type headersKey struct{}

// WithRequestHeaders keeps an HTTP request's headers for the call: the
// caller's own vendor credentials and its X-MCP-* narrowing.
func WithRequestHeaders(ctx context.Context, h http.Header) context.Context {
	return context.WithValue(ctx, headersKey{}, h)
}

// RequestHeaders are the call's HTTP request headers (nil over stdio).
func RequestHeaders(ctx context.Context) http.Header {
	h, _ := ctx.Value(headersKey{}).(http.Header)
	return h
}

// CredentialHeaders are every vendor's credential headers, in a fixed order.
var CredentialHeaders = sync.OnceValue(func() []string {
	var out []string
	for _, v := range Vendors() {
		out = append(out, HeaderNames(v.Credentials())...)
	}
	return out
})

// OrUnlimited is n, or -1 (the emulators' "no limit") for load tests.
func OrUnlimited(unlimited bool, n int) int {
	if unlimited {
		return -1
	}
	return n
}

// SandboxURL is the base URL clients use for an in-process emulator; the
// in-memory transport ignores the host.
func SandboxURL(name string) string { return "http://" + name + ".sandbox.invalid" }

// clientCache keeps one client per tenant credential set, so a tenant's
// limiter key and connections are reused across calls.
type clientCache[C any] struct {
	mu sync.Mutex
	m  map[string]C
}

func (c *clientCache[C]) get(ctx context.Context, creds []string, build func(envconfig.Lookuper) (C, bool)) (C, error) {
	h := RequestHeaders(ctx)
	values := make([]string, len(creds))
	for i, name := range HeaderNames(creds) {
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

// HeaderName maps a credential env var to its request header:
// VIVRE_WORKSPACE_ID -> X-Vivre-Workspace-Id.
func HeaderName(env string) string {
	parts := strings.Split(strings.ToLower(env), "_")
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return "X-" + strings.Join(parts, "-")
}

// HeaderNames maps each credential env var to its request header.
func HeaderNames(envs []string) []string {
	out := make([]string, len(envs))
	for i, e := range envs {
		out[i] = HeaderName(e)
	}
	return out
}

// headerLookuper answers the credential env vars from request headers.
func headerLookuper(h http.Header, creds []string) envconfig.Lookuper {
	m := map[string]string{}
	for _, e := range creds {
		if v := h.Get(HeaderName(e)); v != "" {
			m[e] = v
		}
	}
	return envconfig.MapLookuper(m)
}

// EnvNames lists the env vars a config struct reads (its env tags).
func EnvNames(t reflect.Type) []string {
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

// ProcessEnv fills target, a pointer to a struct with env tags (the
// server's Config or a vendor's), from l: blank values are not set, and
// go-envconfig's errors, which name the Go field ("CallTimeout: time:
// invalid duration"), are rewritten to name the env var (as setting
// words it, e.g. with its flag), the value and what is allowed.
func ProcessEnv(ctx context.Context, target any, l envconfig.Lookuper, setting func(env string) string) error {
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
	return fmt.Errorf("%s: %s", setting(name), BadValue(f.Type, raw, err))
}

// BadValue says why raw is not a value of type t, and what is.
func BadValue(t reflect.Type, raw string, err error) string {
	q := QuoteValue(raw)
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

// QuoteValue quotes a configuration value for an error, cut short.
func QuoteValue(s string) string {
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
			return fmt.Errorf("%s: %s would mean not set; give a number of at least 1, or leave it unset for the default", name, QuoteValue(raw))
		}
	}
	return nil
}
