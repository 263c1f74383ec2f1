// Command crm-mcp is a Model Context Protocol server for the CRM and
// WhatsApp tools a sales team uses: every vendor operation is a tool.
//
//	crm-mcp --sandbox                  # stdio, in-process emulated vendors
//	crm-mcp --transport http --addr 127.0.0.1:8080
//
// Every flag is also an env var (see README.md); flags win.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/crm-mcp/crm-mcp/vendors/events"
	"github.com/sethvargo/go-envconfig"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], envconfig.OsLookuper(), os.Stdin, os.Stdout, os.Stderr))
}

// Config is the server's own configuration (vendors read theirs in wiring).
type Config struct {
	Transport   string        `env:"CRM_MCP_TRANSPORT, default=stdio"`
	Addr        string        `env:"CRM_MCP_ADDR, default=127.0.0.1:8080"`
	Sandbox     bool          `env:"CRM_MCP_SANDBOX"`
	Toolsets    []string      `env:"CRM_MCP_TOOLSETS"`
	ReadOnly    bool          `env:"CRM_MCP_READ_ONLY"`
	CallTimeout time.Duration `env:"CRM_MCP_CALL_TIMEOUT, default=30s"`
	LogLevel    string        `env:"LOG_LEVEL, default=info"`
	LogFormat   string        `env:"LOG_FORMAT, default=text"`

	// ConfirmSends: when sends and deletes ask the person first (auto,
	// always, off; tools/confirm.go).
	ConfirmSends string `env:"CRM_MCP_CONFIRM_SENDS, default=auto"`

	// Shared state across replicas: rate-limit budgets and the duplicate-send guard.
	RedisURL string `env:"REDIS_URL"`

	// Hosted mode (HTTP).
	AuthTokens        []string      `env:"MCP_AUTH_TOKENS"`
	AllowedOrigins    []string      `env:"MCP_ALLOWED_ORIGINS"`
	AllowedHosts      []string      `env:"MCP_ALLOWED_HOSTS"`
	InsecureNoAuth    bool          `env:"CRM_MCP_INSECURE_NO_AUTH"`
	ClientCredentials bool          `env:"CRM_MCP_CLIENT_CREDENTIALS"`
	MaxBodyBytes      int64         `env:"CRM_MCP_MAX_BODY_BYTES, default=1048576"`
	ShutdownGrace     time.Duration `env:"CRM_MCP_SHUTDOWN_GRACE, default=25s"`

	// OAuth 2.1 resource server (oauth.go): tokens from the team's own
	// authorization server, for this server's public URL.
	OAuthIssuer      string `env:"MCP_OAUTH_ISSUER"`
	PublicURL        string `env:"MCP_PUBLIC_URL"`
	OAuthAudience    string `env:"MCP_OAUTH_AUDIENCE"`
	OAuthScopePrefix string `env:"MCP_OAUTH_SCOPE_PREFIX"`
	OAuthTenantClaim string `env:"MCP_OAUTH_TENANT_CLAIM"`

	// SandboxUnlimited lifts the emulated vendors' limits (load tests only).
	SandboxUnlimited bool `env:"CRM_MCP_SANDBOX_UNLIMITED"`

	// Limits that keep hostile HTTP clients from exhausting file descriptors
	// and memory (listener.go); each must be > 0.
	IdleTimeout    time.Duration `env:"CRM_MCP_IDLE_TIMEOUT, default=2m"`
	ReadTimeout    time.Duration `env:"CRM_MCP_READ_TIMEOUT, default=30s"`
	MaxConnections int           `env:"CRM_MCP_MAX_CONNECTIONS, default=1024"`
	// WriteTimeout bounds each write to an HTTP client (an /sse stream, a
	// /mcp response), and SSEQueue the events queued for an /sse client,
	// so a client that stops reading is dropped (sessions.go, http.go).
	// Not env vars: zero means 10 s and 64 events.
	WriteTimeout time.Duration
	SSEQueue     int

	// Vendor events (webhooks.go, vendors/events): where they are kept, how
	// many and for how long, the webhook receivers' secrets, and the share
	// of Qyvo's rate limit its feeds' poller may use.
	EventsStore         string        `env:"CRM_MCP_EVENTS_STORE, default=auto"`
	DataDir             string        `env:"CRM_MCP_DATA_DIR"`
	EventsMax           int           `env:"CRM_MCP_EVENTS_MAX, default=100000"`
	EventsMaxAge        time.Duration `env:"CRM_MCP_EVENTS_MAX_AGE, default=168h"`
	VivreWebhookSecret  string        `env:"VIVRE_WEBHOOK_SECRET"`
	VixieesWebhookToken string        `env:"VIXIEES_WEBHOOK_TOKEN"`
	QyvoPollShare       float64       `env:"CRM_MCP_QYVO_POLL_SHARE, default=0.1"`
}

// run is main without the process: testable, returns the exit code.
func run(ctx context.Context, args []string, env envconfig.Lookuper, stdin io.Reader, stdout, stderr io.Writer) int {
	var cfg Config
	if err := processEnv(ctx, &cfg, env); err != nil {
		fmt.Fprintln(stderr, "crm-mcp: configuration:", err)
		return 2
	}
	showVersion, err := parseFlags(&cfg, args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if showVersion {
		fmt.Fprintln(stdout, "crm-mcp", version)
		return 0
	}
	if errs := checkVendors(ctx, cfg, env); len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(stderr, "crm-mcp: configuration:", err)
		}
		return 2
	}
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "crm-mcp:", err)
		return 2
	}
	app, err := build(ctx, cfg, env, log)
	if err != nil {
		log.Error(err.Error())
		return 1
	}
	defer app.close() // the poller, the event log, Redis
	switch cfg.Transport {
	case "stdio":
		if f, ok := stdin.(*os.File); ok && isTerminal(f) {
			log.Info("speaking MCP over stdin/stdout: start it from an MCP client (Claude Desktop, Cursor, VS Code), or try " +
				"go build ./cmd/crm-mcp && npx @modelcontextprotocol/inspector --cli ./crm-mcp --sandbox --method tools/list; " +
				"--transport http serves /mcp and /sse instead")
		}
		err = serveStdio(ctx, app, stdin, stdout)
	case "http":
		err = serveHTTP(ctx, app, cfg.Addr)
	}
	if err != nil {
		log.Error("server stopped", "error", err)
		return 1
	}
	return 0
}

// flagEnv maps each flag to the env var it overrides, so that errors name
// both.
var flagEnv = map[string]string{
	"transport": "CRM_MCP_TRANSPORT", "addr": "CRM_MCP_ADDR", "sandbox": "CRM_MCP_SANDBOX", "toolsets": "CRM_MCP_TOOLSETS",
	"read-only": "CRM_MCP_READ_ONLY", "call-timeout": "CRM_MCP_CALL_TIMEOUT", "insecure-no-auth": "CRM_MCP_INSECURE_NO_AUTH",
	"confirm-sends": "CRM_MCP_CONFIRM_SENDS",
}

// setting names an env var for an error: "CRM_MCP_CALL_TIMEOUT
// (--call-timeout)", or the env var alone when no flag sets it.
func setting(env string) string {
	for f, e := range flagEnv {
		if e == env {
			return env + " (--" + f + ")"
		}
	}
	return env
}

// parseFlags applies command-line flags over the env-derived cfg and checks
// the result, writing what is wrong to stderr.
func parseFlags(cfg *Config, args []string, stderr io.Writer) (version bool, err error) {
	if stderr == nil {
		stderr = os.Stderr
	}
	fs := flag.NewFlagSet("crm-mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Transport, "transport", cfg.Transport, "stdio or http (sse is a synonym of http: /mcp, /sse and /healthz on one listener)")
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address in http mode")
	fs.BoolVar(&cfg.Sandbox, "sandbox", cfg.Sandbox, "use in-process emulators of every vendor (no API keys needed)")
	toolsets := fs.String("toolsets", strings.Join(cfg.Toolsets, ","), "comma-separated toolsets to expose (default all configured)")
	fs.BoolVar(&cfg.ReadOnly, "read-only", cfg.ReadOnly, "expose only tools that change nothing")
	fs.Var(durationFlag{&cfg.CallTimeout}, "call-timeout", "deadline of one tool call, limiter waits and retries included (e.g. 30s, 2m)")
	fs.BoolVar(&cfg.InsecureNoAuth, "insecure-no-auth", cfg.InsecureNoAuth, "allow http on a non-loopback address without MCP_AUTH_TOKENS")
	fs.StringVar(&cfg.ConfirmSends, "confirm-sends", cfg.ConfirmSends, "when sends and deletes ask the person first: auto (when the client can ask), always (refuse them when it cannot) or off")
	fs.BoolVar(&version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "crm-mcp: unexpected argument %q\n", fs.Arg(0))
		return false, errors.New("unexpected argument")
	}
	if version {
		return true, nil
	}
	cfg.Toolsets = splitList(*toolsets)
	if cfg.Transport == "sse" {
		cfg.Transport = "http"
	}
	if problems := cfg.check(); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "crm-mcp:", p)
		}
		return false, errors.New(problems[0])
	}
	return false, nil
}

// check reports, naming the env var and flag, every setting of c that
// cannot work.
func (c *Config) check() []string {
	var problems []string
	bad := func(env, format string, a ...any) {
		problems = append(problems, setting(env)+": "+fmt.Sprintf(format, a...))
	}
	switch c.Transport {
	case "stdio", "http":
	default:
		bad("CRM_MCP_TRANSPORT", "%s is not a transport; use stdio or http (sse is a synonym of http)", tools.QuoteValue(c.Transport))
	}
	if problem := checkAddr(c.Addr); problem != "" {
		bad("CRM_MCP_ADDR", "%s", problem)
	}
	c.ConfirmSends = strings.ToLower(c.ConfirmSends)
	if !slices.Contains(tools.ConfirmPolicies, tools.ConfirmPolicy(c.ConfirmSends)) {
		bad("CRM_MCP_CONFIRM_SENDS", "%s is not a policy; use auto (ask when the client can), always (refuse sends and deletes when it cannot) or off", tools.QuoteValue(c.ConfirmSends))
	}
	if c.CallTimeout <= 0 {
		bad("CRM_MCP_CALL_TIMEOUT", "%s is not a deadline; use a duration above 0, e.g. 30s or 2m", c.CallTimeout)
	}
	if c.ShutdownGrace <= 0 {
		bad("CRM_MCP_SHUTDOWN_GRACE", "%s leaves in-flight calls no time; use a duration above 0, e.g. 25s", c.ShutdownGrace)
	}
	if c.MaxBodyBytes < 1 {
		bad("CRM_MCP_MAX_BODY_BYTES", "%d bytes admits no request; use at least 1 (default 1048576)", c.MaxBodyBytes)
	}
	if c.OAuthIssuer != "" || c.PublicURL != "" {
		for env, v := range map[string]string{"MCP_OAUTH_ISSUER": c.OAuthIssuer, "MCP_PUBLIC_URL": c.PublicURL} {
			if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				bad(env, "%s is not an absolute https URL; OAuth needs both MCP_OAUTH_ISSUER and MCP_PUBLIC_URL (e.g. https://crm.example.com/mcp)", tools.QuoteValue(v))
			}
		}
	}
	// The limits that keep hostile HTTP clients out (listener.go): 0 would
	// switch a defence off.
	if c.IdleTimeout <= 0 {
		bad("CRM_MCP_IDLE_TIMEOUT", "must be greater than 0, not %s", c.IdleTimeout)
	}
	if c.ReadTimeout <= 0 {
		bad("CRM_MCP_READ_TIMEOUT", "must be greater than 0, not %s", c.ReadTimeout)
	}
	if c.MaxConnections <= 0 {
		bad("CRM_MCP_MAX_CONNECTIONS", "must be greater than 0, not %d", c.MaxConnections)
	}
	// Vendor events (webhooks.go, vendors/events).
	if c.EventsMax < 1 {
		bad("CRM_MCP_EVENTS_MAX", "%d keeps no event; use at least 1 (default %d)", c.EventsMax, events.DefaultMax)
	}
	if c.EventsMaxAge <= 0 {
		bad("CRM_MCP_EVENTS_MAX_AGE", "%s keeps no event; use a duration above 0, e.g. 168h", c.EventsMaxAge)
	}
	if c.QyvoPollShare < 0 || c.QyvoPollShare > 1 {
		bad("CRM_MCP_QYVO_POLL_SHARE", "%g is not a share of Qyvo's rate limit; use 0 (no polling) to 1, default 0.1", c.QyvoPollShare)
	}
	switch strings.ToLower(c.EventsStore) {
	case "", "auto", "memory", "disk":
	case "redis":
		if c.RedisURL == "" {
			bad("CRM_MCP_EVENTS_STORE", "redis needs REDIS_URL")
		}
	default:
		bad("CRM_MCP_EVENTS_STORE", "%s is not a store; use auto, memory, disk or redis", tools.QuoteValue(c.EventsStore))
	}
	for _, t := range c.AuthTokens {
		if _, scopes, _ := strings.Cut(t, ":"); scopes != "" {
			for _, s := range strings.Fields(scopes) {
				if !slices.Contains(tools.Scopes, s) {
					bad("MCP_AUTH_TOKENS", "a token lists scope %s; use crm:read, crm:write and crm:send, space-separated after the token and a colon", tools.QuoteValue(s))
				}
			}
		}
	}
	return problems
}

// checkAddr says what is wrong with a listen address: it must be host:port
// (host may be empty for every interface) with a port 0-65535.
func checkAddr(addr string) string {
	const use = "; use host:port, e.g. 127.0.0.1:8080, or 0.0.0.0:8080 for every interface"
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return tools.QuoteValue(addr) + " is not host:port" + use
	}
	if strings.ContainsAny(host, " /") {
		return tools.QuoteValue(addr) + " has no valid host" + use
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Sprintf("%s: the port must be a number from 0 to 65535, not %s", tools.QuoteValue(addr), tools.QuoteValue(port))
	}
	return ""
}

// durationFlag is a duration flag whose parse error says what is allowed.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New(tools.BadValue(reflect.TypeFor[time.Duration](), s, err))
	}
	*f.d = d
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, strings.ToLower(p))
		}
	}
	return out
}
