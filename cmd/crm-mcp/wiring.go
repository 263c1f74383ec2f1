package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/sethvargo/go-envconfig"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
)

// vendor is how main wires one vendor: its configuration from the
// environment, its client, its toolset and its emulator for --sandbox.
// Each vendor_<name>.go registers one in init.
type vendor interface {
	name() string
	envHint() string
	// load reads the vendor's env vars; ok reports credentials present.
	load(ctx context.Context, l envconfig.Lookuper) (ok bool, err error)
	// tools builds the toolset on the loaded credentials.
	tools(o vendors.Options) []tools.Tool
	// sandbox builds the toolset on an in-process emulator and returns the
	// emulator too, to mount at /sandbox/<name>/ in HTTP mode.
	sandbox(o vendors.Options) ([]tools.Tool, http.Handler)
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
	hint       string                       // the env vars that enable it
	configured func(Cfg) bool               // credentials present
	client     func(Cfg, vendors.Options) C // the vendor client
	toolset    func(tools.Clients[C]) []tools.Tool
	emulate    func() (http.Handler, Cfg) // an emulator and a config that reaches it
	cfg        Cfg
}

func (w *wiring[Cfg, C]) name() string    { return w.vendorName }
func (w *wiring[Cfg, C]) envHint() string { return w.hint }

func (w *wiring[Cfg, C]) load(ctx context.Context, l envconfig.Lookuper) (bool, error) {
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &w.cfg, Lookuper: l}); err != nil {
		return false, fmt.Errorf("%s configuration: %w", w.vendorName, err)
	}
	return w.configured(w.cfg), nil
}

func (w *wiring[Cfg, C]) tools(o vendors.Options) []tools.Tool {
	return w.toolset(tools.Static(w.client(w.cfg, o)))
}

func (w *wiring[Cfg, C]) sandbox(o vendors.Options) ([]tools.Tool, http.Handler) {
	h, cfg := w.emulate()
	o.HTTP = &http.Client{Transport: emulator.Transport(h)}
	return w.toolset(tools.Static(w.client(cfg, o))), h
}

// sandboxURL is the base URL clients use for an in-process emulator; the
// in-memory transport ignores the host.
func sandboxURL(name string) string { return "http://" + name + ".sandbox.invalid" }

// envHints lists every vendor's enabling env vars, for the "nothing
// configured" message.
func envHints() string {
	var parts []string
	for _, v := range allVendors() {
		parts = append(parts, fmt.Sprintf("%s (%s)", v.name(), v.envHint()))
	}
	return strings.Join(parts, ", ")
}
