package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/crm-mcp/crm-mcp/vendors/redistest"
	"github.com/crm-mcp/crm-mcp/vendors/vivre"
	"github.com/redis/go-redis/v9"
)

// start runs the binary over stdio with nothing on stdin: a configuration it
// accepts starts and stops at once (exit 0), one it refuses exits non-zero
// with its reason on stderr.
func start(t *testing.T, args []string, kv ...string) (int, string) {
	t.Helper()
	var stderr syncBuffer
	code := run(context.Background(), args, env(kv...), strings.NewReader(""), io.Discard, &stderr)
	return code, stderr.String()
}

// Complete credentials of one vendor, so that a test about another vendor
// is not answered by "no vendor is configured".
var (
	vivreKeys  = []string{"VIVRE_API_KEY", "vv_k", "VIVRE_WORKSPACE_ID", "ws_1"}
	nexvioKeys = []string{"NEXVIO_API_KEY", "nx_k"}
)

func with(a []string, kv ...string) []string { return append(append([]string{}, a...), kv...) }

func TestVivrePlanIsCheckedCaseInsensitively(t *testing.T) {
	for _, plan := range []string{"enterprise", "premium", "pro plan", "0"} {
		code, stderr := start(t, nil, with(vivreKeys, "VIVRE_PLAN", plan)...)
		if code == 0 {
			t.Errorf("VIVRE_PLAN=%q: accepted (it silently meant the free plan)", plan)
			continue
		}
		for _, want := range []string{"VIVRE_PLAN", `"` + plan + `"`, "free", "pro"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("VIVRE_PLAN=%q: message does not name %s:\n%s", plan, want, stderr)
			}
		}
	}
	for plan, perMin := range map[string]int{"Pro": 600, "PRO": 600, " pro ": 600, "pro": 600, "Free": 60, "": 60} {
		var cfg vivre.Config
		err := processEnv(context.Background(), &cfg, env(with(vivreKeys, "VIVRE_PLAN", plan)...))
		if err == nil {
			err = cfg.Check()
		}
		if err != nil || !cfg.Configured() {
			t.Errorf("VIVRE_PLAN=%q: %v (configured %v)", plan, err, cfg.Configured())
			continue
		}
		if got := cfg.PerMinute(); got != perMin {
			t.Errorf("VIVRE_PLAN=%q: %d requests/min, want %d", plan, got, perMin)
		}
		if code, stderr := start(t, nil, with(vivreKeys, "VIVRE_PLAN", plan)...); code != 0 {
			t.Errorf("VIVRE_PLAN=%q refused: %s", plan, stderr)
		}
	}
}

// A vendor with some but not all of its credentials, or with settings but
// no credentials, is a start-up error naming what is missing, not a vendor
// silently left out.
func TestPartialVendorConfigurationIsAStartupError(t *testing.T) {
	cases := []struct {
		kv      []string
		missing []string
	}{
		{with(nexvioKeys, "VIVRE_API_KEY", "vv_k"), []string{"VIVRE_WORKSPACE_ID"}},
		{with(nexvioKeys, "VIVRE_WORKSPACE_ID", "ws_1"), []string{"VIVRE_API_KEY"}},
		{with(nexvioKeys, "VIVRE_PLAN", "pro"), []string{"VIVRE_API_KEY", "VIVRE_WORKSPACE_ID"}},
		{with(nexvioKeys, "VIVRE_BASE_URL", "https://vivre.example.com/v1"), []string{"VIVRE_API_KEY", "VIVRE_WORKSPACE_ID"}},
		{with(nexvioKeys, "VIVRE_RATE_LIMIT", "100"), []string{"VIVRE_API_KEY"}},
		{with(nexvioKeys, "RALIVI_BASE_URL", "https://ralivi.example.com/api/v1"), []string{"RALIVI_API_KEY"}},
		{with(nexvioKeys, "RALIVI_RATE_LIMIT", "30"), []string{"RALIVI_API_KEY"}},
		{with(nexvioKeys, "VIXIEES_BASE_URL", "https://vixiees.example.com/v1"), []string{"VIXIEES_API_KEY"}},
		{with(nexvioKeys, "VIXIEES_LICENSES", "3"), []string{"VIXIEES_API_KEY"}},
		{with(nexvioKeys, "VIXIEES_LIMIT_PER_DAY", "5000"), []string{"VIXIEES_API_KEY"}},
		{with(nexvioKeys, "QYVO_BASE_URL", "https://qyvo.example.com/api/v1"), []string{"QYVO_API_TOKEN"}},
		{with(nexvioKeys, "QYVO_RATE_LIMIT", "30"), []string{"QYVO_API_TOKEN"}},
		{with(vivreKeys, "NEXVIO_BASE_URL", "https://nexvio.example.com/v1"), []string{"NEXVIO_API_KEY"}},
		{with(vivreKeys, "NEXVIO_RATE_LIMIT", "50"), []string{"NEXVIO_API_KEY"}},
	}
	for _, c := range cases {
		code, stderr := start(t, nil, c.kv...)
		if code == 0 {
			t.Errorf("%v: accepted", c.kv)
			continue
		}
		if strings.Contains(stderr, "no vendor is configured") {
			t.Errorf("%v: wrong reason:\n%s", c.kv, stderr)
		}
		for _, m := range c.missing {
			if !strings.Contains(stderr, m+" is not set") && !strings.Contains(stderr, m+" are not set") &&
				!strings.Contains(stderr, "but "+m) {
				t.Errorf("%v: message does not say %s is missing:\n%s", c.kv, m, stderr)
			}
		}
	}
}

// Settings without keys are fine where keys come later: with per-request
// client credentials, and in --sandbox (which ignores the environment's keys).
func TestSettingsWithoutKeysWhereKeysComeLater(t *testing.T) {
	if code, stderr := start(t, []string{"--sandbox"}, "VIVRE_PLAN", "pro", "VIXIEES_BASE_URL", "https://vixiees.example.com/v1"); code != 0 {
		t.Errorf("--sandbox with settings but no keys: %s", stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // serve nothing: stop as soon as it would listen
	var stderr syncBuffer
	if code := run(ctx, []string{"--transport", "http", "--addr", "127.0.0.1:0"},
		env("CRM_MCP_CLIENT_CREDENTIALS", "true", "VIVRE_BASE_URL", "https://vivre.example.com/v1", "VIVRE_PLAN", "pro"),
		strings.NewReader(""), io.Discard, &stderr); code != 0 {
		t.Errorf("client credentials with VIVRE_BASE_URL and no keys: exit %d: %s", code, stderr.String())
	}
}

// Configuration errors name the env var (and its flag), never a Go field,
// and say what is allowed.
func TestConfigErrorsNameTheEnvVar(t *testing.T) {
	cases := []struct {
		kv   []string
		want []string
		not  string
	}{
		{[]string{"CRM_MCP_CALL_TIMEOUT", "abc"}, []string{"CRM_MCP_CALL_TIMEOUT (--call-timeout)", `"abc" is not a duration`, "30s"}, "CallTimeout"},
		{[]string{"CRM_MCP_SHUTDOWN_GRACE", "soon"}, []string{"CRM_MCP_SHUTDOWN_GRACE", `"soon" is not a duration`}, "ShutdownGrace"},
		{[]string{"CRM_MCP_MAX_BODY_BYTES", "1MB"}, []string{"CRM_MCP_MAX_BODY_BYTES", `"1MB" is not a whole number`}, "MaxBodyBytes"},
		{[]string{"CRM_MCP_SANDBOX", "yes please"}, []string{"CRM_MCP_SANDBOX (--sandbox)", "true or false"}, "Sandbox:"},
		{with(vivreKeys, "VIVRE_RATE_LIMIT", "fast"), []string{"VIVRE_RATE_LIMIT", `"fast" is not a whole number`}, "RateLimit"},
		{[]string{"VIXIEES_API_KEY", "k", "VIXIEES_LICENSES", "two"}, []string{"VIXIEES_LICENSES", `"two" is not a whole number`}, "Licenses"},
		{[]string{"VIXIEES_API_KEY", "k", "VIXIEES_LICENSES", "99999999999999999999"}, []string{"VIXIEES_LICENSES", "out of range"}, "Licenses"},
	}
	for _, c := range cases {
		code, stderr := start(t, []string{"--sandbox"}, c.kv...)
		if code == 0 {
			t.Errorf("%v: accepted", c.kv)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: message lacks %q:\n%s", c.kv, w, stderr)
			}
		}
		if strings.Contains(stderr, c.not) || strings.Contains(stderr, "strconv") {
			t.Errorf("%v: message names the Go field or parser:\n%s", c.kv, stderr)
		}
	}
	// The flag's own parse error says what is allowed too.
	code, stderr := start(t, []string{"--sandbox", "--call-timeout", "abc"})
	if code == 0 || !strings.Contains(stderr, "call-timeout") || !strings.Contains(stderr, `"abc" is not a duration`) {
		t.Errorf("--call-timeout abc: exit %d:\n%s", code, stderr)
	}
}

// Numbers that cannot work are refused: licences and rate limits below 1,
// timeouts of 0 or less, base URLs that are not absolute http(s) URLs.
func TestOutOfRangeSettingsAreRefused(t *testing.T) {
	cases := []struct {
		args []string
		kv   []string
		want string
	}{
		{[]string{"--call-timeout", "0"}, nil, "--call-timeout"},
		{[]string{"--call-timeout", "-5s"}, nil, "--call-timeout"},
		{nil, []string{"CRM_MCP_CALL_TIMEOUT", "0s"}, "CRM_MCP_CALL_TIMEOUT"},
		{nil, []string{"CRM_MCP_SHUTDOWN_GRACE", "0s"}, "CRM_MCP_SHUTDOWN_GRACE"},
		{nil, []string{"CRM_MCP_MAX_BODY_BYTES", "0"}, "CRM_MCP_MAX_BODY_BYTES"},
		{nil, []string{"CRM_MCP_MAX_BODY_BYTES", "-1"}, "CRM_MCP_MAX_BODY_BYTES"},
		{nil, []string{"VIXIEES_API_KEY", "k", "VIXIEES_LICENSES", "0"}, "VIXIEES_LICENSES"},
		{nil, []string{"VIXIEES_API_KEY", "k", "VIXIEES_LICENSES", "-3"}, "VIXIEES_LICENSES"},
		{nil, []string{"VIXIEES_API_KEY", "k", "VIXIEES_LIMIT_PER_HOUR", "0"}, "VIXIEES_LIMIT_PER_HOUR"},
		{nil, []string{"VIXIEES_API_KEY", "k", "VIXIEES_LIMIT_PER_DAY", "-5"}, "VIXIEES_LIMIT_PER_DAY"},
		{nil, with(vivreKeys, "VIVRE_RATE_LIMIT", "0"), "VIVRE_RATE_LIMIT"},
		{nil, with(vivreKeys, "VIVRE_RATE_LIMIT", "-10"), "VIVRE_RATE_LIMIT"},
		{nil, []string{"RALIVI_API_KEY", "k", "RALIVI_RATE_LIMIT", "0"}, "RALIVI_RATE_LIMIT"},
		{nil, []string{"QYVO_API_TOKEN", "k", "QYVO_RATE_LIMIT", "-1"}, "QYVO_RATE_LIMIT"},
		{nil, []string{"NEXVIO_API_KEY", "k", "NEXVIO_RATE_LIMIT", "0"}, "NEXVIO_RATE_LIMIT"},
		{nil, with(vivreKeys, "VIVRE_BASE_URL", "api.invrsys.com/vivre/v1"), "VIVRE_BASE_URL"},
		{nil, []string{"RALIVI_API_KEY", "k", "RALIVI_BASE_URL", "ftp://ralivi.example.com"}, "RALIVI_BASE_URL"},
		{nil, []string{"VIXIEES_API_KEY", "k", "VIXIEES_BASE_URL", "https://"}, "VIXIEES_BASE_URL"},
		{nil, []string{"QYVO_API_TOKEN", "k", "QYVO_BASE_URL", "/api/v1"}, "QYVO_BASE_URL"},
		{nil, []string{"NEXVIO_API_KEY", "k", "NEXVIO_BASE_URL", "nexvio"}, "NEXVIO_BASE_URL"},
	}
	for _, c := range cases {
		code, stderr := start(t, with([]string{"--sandbox"}, c.args...), c.kv...)
		if code == 0 {
			t.Errorf("%v %v: accepted", c.args, c.kv)
			continue
		}
		if !strings.Contains(stderr, c.want) {
			t.Errorf("%v %v: message does not name %s:\n%s", c.args, c.kv, c.want, stderr)
		}
	}
	// In range is fine.
	ok := [][]string{
		with(nexvioKeys, "CRM_MCP_CALL_TIMEOUT", "2m", "CRM_MCP_SHUTDOWN_GRACE", "1s", "CRM_MCP_MAX_BODY_BYTES", "1"),
		{"VIXIEES_API_KEY", "k", "VIXIEES_LICENSES", "3", "VIXIEES_LIMIT_PER_HOUR", "100", "VIXIEES_BASE_URL", "HTTPS://vixiees.example.com/v1"},
		with(vivreKeys, "VIVRE_RATE_LIMIT", "1", "VIVRE_BASE_URL", "http://127.0.0.1:9000/vivre/v1"),
	}
	for _, kv := range ok {
		if code, stderr := start(t, []string{"--call-timeout", "1s"}, kv...); code != 0 {
			t.Errorf("%v refused: %s", kv, stderr)
		}
	}
}

// An empty value means "not set": the default applies (a config file's ""
// placeholders must neither enable a vendor nor zero a setting).
func TestEmptyValuesMeanNotSet(t *testing.T) {
	code, stderr := start(t, nil, with(vivreKeys, "CRM_MCP_CALL_TIMEOUT", "", "CRM_MCP_MAX_BODY_BYTES", "", "VIXIEES_LICENSES", "",
		"VIXIEES_API_KEY", "", "RALIVI_API_KEY", " ", "VIVRE_PLAN", "")...)
	if code != 0 {
		t.Fatalf("empty values refused: %s", stderr)
	}
	for _, blank := range []string{"", " "} {
		for _, v := range tools.Vendors() {
			kv := []string{}
			for _, name := range v.EnvVars() {
				kv = append(kv, name, blank)
			}
			ok, err := v.Configured(context.Background(), env(kv...))
			if ok || err != nil {
				t.Errorf("%s with every variable %q: configured %v, %v", v.Name(), blank, ok, err)
			}
		}
	}
}

// --addr is host:port with a port 0-65535, checked before anything starts.
func TestAddrIsValidatedAtParseTime(t *testing.T) {
	for _, addr := range []string{"notanaddr", "127.0.0.1:99999", "127.0.0.1:-1", "127.0.0.1:", "localhost:http-alt", "127.0.0.1:8080:1", "::1:8080"} {
		cfg, _ := testConfig(t)
		var stderr syncBuffer
		if _, err := parseFlags(&cfg, []string{"--addr", addr}, &stderr); err == nil {
			t.Errorf("--addr %s: accepted", addr)
			continue
		}
		for _, want := range []string{"--addr", "CRM_MCP_ADDR", addr} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("--addr %s: message lacks %s: %s", addr, want, stderr.String())
			}
		}
		if strings.Contains(stderr.String(), "MCP_AUTH_TOKENS") {
			t.Errorf("--addr %s: blamed on auth: %s", addr, stderr.String())
		}
	}
	for _, addr := range []string{"127.0.0.1:8080", "0.0.0.0:0", ":8080", "[::1]:65535", "localhost:9000"} {
		cfg, _ := testConfig(t)
		var stderr syncBuffer
		if _, err := parseFlags(&cfg, []string{"--addr", addr}, &stderr); err != nil {
			t.Errorf("--addr %s refused: %s", addr, stderr.String())
		}
	}
	// The env var is checked the same way.
	cfg, _ := testConfig(t, "CRM_MCP_ADDR", "127.0.0.1:99999")
	var stderr syncBuffer
	if _, err := parseFlags(&cfg, nil, &stderr); err == nil || !strings.Contains(stderr.String(), "CRM_MCP_ADDR") {
		t.Errorf("CRM_MCP_ADDR=127.0.0.1:99999: %v %s", err, stderr.String())
	}
}

// A start that fails after Redis was reached closes its connection (before,
// an unknown --toolsets left the Redis client open).
func TestFailedStartClosesRedis(t *testing.T) {
	url := redistest.URL(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	probe := redis.NewClient(opt)
	defer probe.Close()
	clients := func() int {
		list, err := probe.ClientList(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(list, "\n")
	}
	before := clients()
	cfg, l := testConfig(t, "CRM_MCP_SANDBOX", "true", "REDIS_URL", url, "CRM_MCP_TOOLSETS", "nosuch")
	if _, err := build(context.Background(), cfg, l, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("build with --toolsets nosuch: %v", err)
	}
	if n := clients(); n != before {
		t.Fatalf("%d Redis clients connected after the failed start, %d before", n, before)
	}
}
