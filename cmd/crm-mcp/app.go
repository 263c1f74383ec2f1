package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/crm-mcp/crm-mcp/prompts"
	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/dedupe"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo/qyvotest"
	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
	"github.com/crm-mcp/crm-mcp/vendors/vivre"
	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees/vixieestest"
	"github.com/mark3labs/mcp-go/server"
	"github.com/redis/go-redis/v9"
	"github.com/sethvargo/go-envconfig"
)

// app is everything a transport needs.
type app struct {
	cfg          Config
	log          *slog.Logger
	mcp          *server.MCPServer
	metrics      *metrics
	emulators    map[string]http.Handler // --sandbox only
	toolsetOf    map[string]string       // tool name -> toolset
	envVendors   map[string]bool         // toolsets enabled for every caller
	vendorByName map[string]tools.Vendor
	redactor     *vendors.Redactor // the app's own keys, masked in every output
	tokens       []staticToken     // MCP_AUTH_TOKENS
	oauth        *oauth            // nil unless MCP_OAUTH_ISSUER
	scopeOf      map[string]string // tool name -> the scope it needs
	perRequest   bool              // callers may bring their own vendor keys
	confirms     *confirmations    // questions put over /mcp to 2025-x clients (confirm.go)
	events       *vendorEvents     // the event log, receivers' counters and the Qyvo poller (webhooks.go)
	close        func()
}

// build wires the configured vendors (or the emulators) into an MCP server.
func build(ctx context.Context, cfg Config, env envconfig.Lookuper, log *slog.Logger) (_ *app, err error) {
	a := &app{cfg: cfg, log: log, metrics: newMetrics(), emulators: map[string]http.Handler{}, toolsetOf: map[string]string{}, scopeOf: map[string]string{},
		envVendors: map[string]bool{}, vendorByName: map[string]tools.Vendor{}, close: func() {}}
	defer func() {
		if err != nil {
			a.close() // whatever was opened before the error (Redis, the event log)
		}
	}()
	if err := a.checkExposure(); err != nil {
		return nil, err
	}
	a.redactor = appRedactor(log)
	a.tokens = parseTokens(cfg.AuthTokens)
	for _, t := range a.tokens {
		a.redactor.Add(t.secret)
	}
	if cfg.OAuthIssuer != "" && cfg.Transport == "http" {
		o, err := newOAuth(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		a.oauth = o
		log.Info("accepting OAuth access tokens", "issuer", o.issuer, "resource", o.resource, "metadata", o.metaURL)
	}
	for _, v := range tools.Vendors() {
		for _, name := range v.Credentials() {
			if val, ok := env.Lookup(name); ok {
				a.redactor.Add(val)
			}
		}
	}
	opts := vendors.Options{Limiter: ratelimit.NewMemory(), Logger: log, Observe: a.metrics.observeVendor,
		Unlimited: cfg.Sandbox && cfg.SandboxUnlimited, Gates: vendors.NewGates(0)}
	var store dedupe.Store = dedupe.NewMemory()
	var rdb *redis.Client
	if cfg.RedisURL != "" {
		a.redactor.Add(cfg.RedisURL)
		ropt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: not a redis:// or rediss:// URL (%s)", a.redactor.Redact(err.Error()))
		}
		a.redactor.Add(ropt.Password)
		redis.SetLogger(redisLogger{log})
		rdb = redis.NewClient(ropt)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := rdb.Ping(pctx).Err(); err != nil {
			_ = rdb.Close()
			return nil, fmt.Errorf("REDIS_URL: cannot reach Redis at %s: %w", ropt.Addr, err)
		}
		opts.Limiter, store = ratelimit.NewRedis(rdb), dedupe.NewWriteThrough(dedupe.NewRedis(rdb))
		a.close = func() { _ = rdb.Close() }
		log.Info("sharing rate limits and the duplicate-send guard through Redis", "addr", ropt.Addr)
	}
	perRequest := cfg.ClientCredentials && cfg.Transport == "http" && !cfg.Sandbox
	a.perRequest = perRequest
	var all []tools.Tool
	var names []string
	var sources []tools.ContactSource
	var resources []tools.Resource // of the vendors --toolsets keeps
	var lookups []tools.Lookups
	var ignored []string     // vendors whose keys --sandbox leaves unused
	var qyvoOwn *qyvo.Client // Qyvo on the deployment's own token, for the feeds' poller
	for _, v := range tools.Vendors() {
		ok, err := v.Configured(ctx, env)
		if err != nil {
			return nil, err
		}
		var set tools.Toolset
		switch {
		case cfg.Sandbox:
			var h http.Handler
			set, h = v.Sandbox(opts)
			a.emulators[v.Name()] = h
			if ok {
				ignored = append(ignored, v.Name())
			}
		case ok || perRequest:
			set = v.Build(ctx, opts, env, ok, perRequest)
		default:
			continue
		}
		if c, ok := set.Own.(*qyvo.Client); ok {
			qyvoOwn = c
		}
		a.envVendors[v.Name()] = ok || cfg.Sandbox
		a.vendorByName[v.Name()] = v
		all = append(all, set.Tools...)
		if len(cfg.Toolsets) == 0 || slices.Contains(cfg.Toolsets, v.Name()) {
			sources = append(sources, narrowed(v.Name(), set.Contacts))
			resources = append(resources, set.Resources...) // read-only keeps them: they are reads
			lookups = append(lookups, set.Lookups)
		}
		names = append(names, v.Name())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no vendor is configured: set the credentials of at least one of %s, or run with --sandbox (CRM_MCP_SANDBOX=true) to try every tool against built-in emulators", envHints())
	}
	all = append(all, tools.CRM(sources)...)
	if cfg.Sandbox {
		log.Warn("sandbox mode: every vendor is an in-process emulator with sample data; nothing reaches a real vendor", "vendors", names)
		if len(ignored) > 0 {
			log.Warn("sandbox mode ignores the API keys set in the environment", "vendors", ignored)
		}
	}
	for _, ts := range cfg.Toolsets {
		if ts != "crm" && !slices.Contains(names, ts) {
			return nil, fmt.Errorf("--toolsets (CRM_MCP_TOOLSETS): %q is not a configured toolset; configured: crm, %s", ts, strings.Join(names, ", "))
		}
	}
	if err := a.buildEvents(ctx, rdb, qyvoOwn); err != nil {
		return nil, err
	}
	agentEvents := tools.NewEvents(tools.EventsOptions{Log: a.events.Log(), Vendors: a.eventVendors(), Visible: a.vendorVisible,
		PerRequestKeys: perRequest, Logger: log})
	all = append(all, agentEvents.Tools()...)
	if cfg.Sandbox {
		a.sandboxWebhooks()
	}
	exposed := tools.Filter(all, cfg.Toolsets, cfg.ReadOnly)
	for _, t := range exposed {
		a.toolsetOf[t.Def.Name] = t.Toolset
		a.scopeOf[t.Def.Name] = t.Scope
	}
	confirmKey, err := a.setUpConfirmations(ctx, rdb)
	if err != nil {
		return nil, err
	}
	a.mcp = tools.NewServer(tools.ServerOptions{
		Name: "crm-mcp", Version: version, Tools: exposed, Prompts: prompts.Server(), Logger: log, CallTimeout: cfg.CallTimeout,
		Observe: a.metrics.observeCall, Dedupe: store, Redactor: a.redactor, Instructions: instructions(names, cfg.Sandbox),
		Confirm: tools.ConfirmPolicy(cfg.ConfirmSends), ConfirmKey: confirmKey,
		Extra:     []server.ServerOption{server.WithToolFilter(a.toolFilter)},
		Resources: resources, Lookups: lookups, PromptCompletions: prompts.Completions(), Visible: a.vendorVisible,
		Events: agentEvents,
	})
	a.mcp.GetHooks().AddAfterSubscriptionsListen(awaitAcknowledgement)
	a.mcp.GetHooks().AddAfterInitialize(noSubscribeWithoutSession)
	log.Info("crm-mcp ready", "version", version, "transport", cfg.Transport, "toolsets", names, "tools", len(exposed),
		"resources", len(resources), "read_only", cfg.ReadOnly, "client_credentials", perRequest)
	return a, nil
}

// checkExposure refuses to serve HTTP beyond loopback with no tokens.
func (a *app) checkExposure() error {
	if a.cfg.Transport != "http" || len(a.cfg.AuthTokens) > 0 || a.cfg.OAuthIssuer != "" || isLoopback(hostname(a.cfg.Addr)) {
		return nil
	}
	if a.cfg.InsecureNoAuth {
		a.log.Warn("INSECURE: serving on a non-loopback address without MCP_AUTH_TOKENS; anyone who can reach it can use every tool and every vendor key", "addr", a.cfg.Addr)
		return nil
	}
	return fmt.Errorf("refusing to listen on %s without MCP_AUTH_TOKENS or MCP_OAUTH_ISSUER: anyone who can reach it could message your customers. Set MCP_AUTH_TOKENS (comma-separated bearer tokens) or OAuth (MCP_OAUTH_ISSUER and MCP_PUBLIC_URL), bind to 127.0.0.1, or pass --insecure-no-auth", a.cfg.Addr)
}

func instructions(vendors []string, sandbox bool) string {
	s := "Tools for the sales team's CRM and WhatsApp vendors (" + strings.Join(vendors, ", ") + "); each tool name starts with its vendor. " +
		"List tools page with limit and cursor (pass next_cursor back). Errors say which argument to fix or when to retry."
	if sandbox {
		s += " Sandbox: every vendor is an emulator with sample data; nothing reaches real customers."
	}
	return s
}

// redisLogger sends go-redis's own log lines through slog, so they follow
// LOG_FORMAT and redaction instead of going raw to stderr.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// narrowed makes a vendor's part of the crm tools follow X-MCP-Toolsets: a
// caller that narrowed the tools to some vendors searches only those.
func narrowed(name string, src tools.ContactSource) tools.ContactSource {
	enabled := src.Enabled
	src.Enabled = func(ctx context.Context) bool {
		if only := splitList(requestHeaders(ctx).Get("X-MCP-Toolsets")); len(only) > 0 && !slices.Contains(only, name) {
			return false
		}
		return enabled == nil || enabled(ctx)
	}
	return src
}

// eventVendors are the vendors whose events agents get (tools/events.go):
// those with events this server has its own keys for (or the sandbox's),
// kept by --toolsets.
func (a *app) eventVendors() []string {
	var out []string
	for _, v := range tools.EventVendors {
		if a.envVendors[v] && (len(a.cfg.Toolsets) == 0 || slices.Contains(a.cfg.Toolsets, v)) {
			out = append(out, v)
		}
	}
	return out
}

// sandboxReplyAfter is how long a sandbox WhatsApp recipient takes to
// answer a template (a variable for tests).
var sandboxReplyAfter = 5 * time.Second

// sandboxWebhooks closes the loop in --sandbox: the Vivre and Vixiees
// emulators send their webhooks, signed, to the app's receivers, in process
// (over stdio there is no listener; over http neither the listen address
// nor MCP_ALLOWED_HOSTS then matters), through the receivers mountWebhooks
// builds, checks included, with the configured secrets or, where none is
// set, secrets generated here (the http listener mounts a receiver only
// for a secret that is set); and Qyvo's recipients answer a template a few
// seconds later, which the poller reads from the message_received feed.
func (a *app) sandboxWebhooks() {
	own := *a // the same app, with the sandbox's secrets
	own.cfg.VivreWebhookSecret = cmp.Or(a.cfg.VivreWebhookSecret, rand.Text())
	own.cfg.VixieesWebhookToken = cmp.Or(a.cfg.VixieesWebhookToken, rand.Text())
	a.redactor.Add(own.cfg.VivreWebhookSecret)
	a.redactor.Add(own.cfg.VixieesWebhookToken)
	mux := http.NewServeMux()
	own.mountWebhooks(mux)
	hc := &http.Client{Transport: emulator.Transport(mux), Timeout: 10 * time.Second}
	self := tools.SandboxURL("crm-mcp")
	if e, ok := a.emulators[vivre.Name].(*vivretest.Emulator); ok {
		e.SendWebhooks(self+"/webhooks/vivre", own.cfg.VivreWebhookSecret, hc)
	}
	if e, ok := a.emulators[vixiees.Name].(*vixieestest.Emulator); ok {
		e.SendWebhooks(self+"/webhooks/vixiees/"+own.cfg.VixieesWebhookToken, hc)
	}
	if e, ok := a.emulators[qyvo.Name].(*qyvotest.Emulator); ok {
		e.ReplyAfter(sandboxReplyAfter)
	}
}
