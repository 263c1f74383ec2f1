package main

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// Every env var the binary reads is documented in the README.
func TestReadmeDocumentsEveryEnvVar(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := envNames(reflect.TypeOf(Config{}))
	for _, v := range allVendors() {
		names = append(names, v.envVars()...)
	}
	for _, n := range names {
		if !strings.Contains(string(readme), "`"+n+"`") {
			t.Errorf("README does not document %s", n)
		}
	}
}

// mcp.json is valid, its stdio entries parse as our flags and its env vars exist.
func TestMCPJSONIsInStep(t *testing.T) {
	raw, err := os.ReadFile("../../mcp.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		MCPServers map[string]struct {
			Command string            `json:"command"`
			Args    []string          `json:"args"`
			Env     map[string]string `json:"env"`
			URL     string            `json:"url"`
		} `json:"mcpServers"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("mcp.json: %v", err)
	}
	known := map[string]bool{}
	for _, n := range envNames(reflect.TypeOf(Config{})) {
		known[n] = true
	}
	for _, v := range allVendors() {
		for _, n := range v.envVars() {
			known[n] = true
		}
	}
	if len(cfg.MCPServers) < 2 {
		t.Fatal("mcp.json needs a sandbox and a real-key entry")
	}
	for name, s := range cfg.MCPServers {
		if s.URL != "" {
			if !strings.HasSuffix(s.URL, "/mcp") {
				t.Errorf("%s: url %s should end in /mcp", name, s.URL)
			}
			continue
		}
		if s.Command != "crm-mcp" {
			t.Errorf("%s: command %q", name, s.Command)
		}
		c, _ := testConfig(t)
		if _, err := parseFlags(&c, s.Args, os.Stderr); err != nil {
			t.Errorf("%s: args %v: %v", name, s.Args, err)
		}
		for k := range s.Env {
			if !known[k] {
				t.Errorf("%s: unknown env var %s", name, k)
			}
		}
	}
}
