package vendors

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ConfigCheck collects what is wrong with a vendor's configuration, each
// problem naming its env var and what is allowed, so that every vendor's
// Config.Check says it the same way.
type ConfigCheck struct{ problems []string }

// Add records one problem.
func (c *ConfigCheck) Add(format string, a ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, a...))
}

// AtLeastOne refuses a number below 1; what says what it counts and its default.
func (c *ConfigCheck) AtLeastOne(env string, n int, what string) {
	if n < 1 {
		c.Add("%s: %d is not allowed; use %s, at least 1", env, n, what)
	}
}

// BaseURL refuses a base URL that is not an absolute http(s) URL.
func (c *ConfigCheck) BaseURL(env, value, def string) {
	if value == "" {
		return
	}
	u, err := url.Parse(value)
	switch {
	case err != nil:
		c.Add("%s does not parse as a URL; use an absolute http(s) URL such as %s", env, def)
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		c.Add("%s: %q is not an absolute http(s) URL; use e.g. %s", env, u.Redacted(), def)
	}
}

// WithoutKey refuses settings given for a vendor whose credentials are not:
// set are the env vars given ("" entries are skipped), keys the credentials.
func (c *ConfigCheck) WithoutKey(vendor string, keys []string, set ...string) {
	var given []string
	for _, s := range set {
		if s != "" {
			given = append(given, s)
		}
	}
	if len(given) == 0 {
		return
	}
	verb, use := "is", "set it"
	if len(keys) > 1 {
		verb, use = "are", "set them"
	}
	c.Add("%s set but %s %s not set: %s to use %s, or unset %s", strings.Join(given, ", "), strings.Join(keys, " and "), verb, use, vendor, strings.Join(given, ", "))
}

// If is name when cond holds, else "": for WithoutKey's list.
func If(cond bool, name string) string {
	if cond {
		return name
	}
	return ""
}

// Err is every problem found, or nil.
func (c *ConfigCheck) Err() error {
	if len(c.problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(c.problems, "; "))
}
