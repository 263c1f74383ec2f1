package main

import (
	"bytes"
	"errors"
	"flag"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"github.com/crm-mcp/crm-mcp/tools"
)

// Every flag but --version names the env var it overrides (so that errors
// name both), and that env var is one the server reads.
func TestEveryFlagHasItsEnvVar(t *testing.T) {
	cfg, _ := testConfig(t)
	var usage bytes.Buffer
	if _, err := parseFlags(&cfg, []string{"-help"}, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-help: %v", err)
	}
	flags := regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(usage.String(), -1)
	if len(flags) < 8 {
		t.Fatalf("usage lists %d flags:\n%s", len(flags), usage.String())
	}
	envs := tools.EnvNames(reflect.TypeOf(Config{}))
	for _, f := range flags {
		if f[1] == "version" {
			continue
		}
		env, ok := flagEnv[f[1]]
		if !ok {
			t.Errorf("--%s is not in flagEnv", f[1])
		} else if !slices.Contains(envs, env) {
			t.Errorf("--%s: %s is not an env var of Config", f[1], env)
		}
	}
}
