package tools

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	validator "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/crm-mcp/crm-mcp/vendors"
)

// phonePattern is the E.164 pattern every phone argument uses.
const phonePattern = `^\+[1-9][0-9]{6,14}$`

var printer = message.NewPrinter(language.English)

// schemaError turns a schema violation into one *vendors.Error whose Fields
// name each bad argument and say what is allowed.
func schemaError(err error) error {
	var ve *validator.ValidationError
	if !errors.As(err, &ve) {
		return vendors.Invalid("", "arguments", err.Error())
	}
	e := &vendors.Error{Kind: vendors.KindInvalid, Fields: map[string]string{}}
	collect(ve, e.Fields)
	if len(e.Fields) == 0 {
		e.Fields["arguments"] = ve.Error()
	}
	return e
}

func collect(ve *validator.ValidationError, out map[string]string) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collect(c, out)
		}
		return
	}
	field := strings.Join(ve.InstanceLocation, ".")
	if r, ok := ve.ErrorKind.(*kind.Required); ok {
		for _, m := range r.Missing {
			out[join(field, m)] = "is required"
		}
		return
	}
	if field == "" {
		field = "arguments"
	}
	if _, seen := out[field]; !seen {
		out[field] = describe(ve.ErrorKind)
	}
}

func join(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}

// describe says what a value must be, in words a model can act on.
func describe(k validator.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Type:
		return fmt.Sprintf("must be %s, not %s", article(strings.Join(k.Want, " or ")), k.Got)
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprint(w)
		}
		return fmt.Sprintf("must be one of %s (got %v)", strings.Join(want, ", "), quoteAny(k.Got))
	case *kind.Format:
		return fmt.Sprintf("must be a valid %s (got %v)", formatName(k.Want), quoteAny(k.Got))
	case *kind.Pattern:
		for f, p := range formatPatterns {
			if p == k.Want {
				return fmt.Sprintf("must be a valid %s (got %q)", formatName(f), k.Got)
			}
		}
		if k.Want == phonePattern {
			return fmt.Sprintf("must be a phone number in E.164 form, e.g. +14155550123 (got %q)", k.Got)
		}
		return fmt.Sprintf("has the wrong form (got %q; must match %s)", k.Got, k.Want)
	case *kind.Minimum:
		return "must be at least " + rat(k.Want) + " (got " + rat(k.Got) + ")"
	case *kind.Maximum:
		return "must be at most " + rat(k.Want) + " (got " + rat(k.Got) + ")"
	case *kind.MinLength:
		if k.Want == 1 {
			return "must not be empty"
		}
		return fmt.Sprintf("must be at least %s", plural(k.Want, "character"))
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %s", plural(k.Want, "character"))
	case *kind.MinItems:
		return fmt.Sprintf("must have at least %s", plural(k.Want, "item"))
	case *kind.MaxItems:
		return fmt.Sprintf("must have at most %s", plural(k.Want, "item"))
	}
	return k.LocalizedString(printer)
}

func article(s string) string {
	switch s {
	case "integer", "object", "array":
		return "an " + s
	case "string", "number", "boolean":
		return "a " + s
	}
	return s
}

func formatName(f string) string {
	switch f {
	case "email":
		return "email address"
	case "date-time":
		return "RFC 3339 date-time such as 2026-06-13T14:00:00Z"
	case "date":
		return "date such as 2026-06-13"
	}
	return f
}

func rat(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	return r.FloatString(3)
}

func quoteAny(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

func sorted(s []string) []string { slices.Sort(s); return s }

// plural is "1 item", "2 items".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
