package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/lmittmann/tint"

	"github.com/crm-mcp/crm-mcp/vendors"
)

// newLogger writes to stderr only: in stdio mode stdout carries JSON-RPC.
// Every record passes through a redactHandler; the app adds its keys to the
// logger's redactor (see appRedactor).
func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, not %q", level)
	}
	var h slog.Handler
	switch format {
	case "json":
		h = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})
	case "text", "":
		h = tint.NewTextHandler(w, &tint.Options{Level: lv, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)})
	default:
		return nil, fmt.Errorf("LOG_FORMAT must be text or json, not %q", format)
	}
	return slog.New(&redactHandler{next: h, base: vendors.NewRedactor()}), nil
}

// appRedactor is the redactor behind log's output: the one the app fills
// with its own keys, so logs and results mask the same values.
func appRedactor(log *slog.Logger) *vendors.Redactor {
	if h, ok := log.Handler().(*redactHandler); ok {
		return h.base
	}
	return vendors.NewRedactor()
}

// redactHandler masks credentials in a record's message and attribute
// values before the real handler encodes them, so a line stays valid JSON
// whatever a caller or vendor put in it. A request's own keys are masked
// through the redactor in its context; the app's keys always.
type redactHandler struct {
	next slog.Handler
	base *vendors.Redactor
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	r := vendors.RedactorFrom(ctx)
	if r == nil {
		r = h.base
	}
	out := slog.NewRecord(rec.Time, rec.Level, r.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(r, a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = redactAttr(h.base, a)
	}
	return &redactHandler{next: h.next.WithAttrs(clean), base: h.base}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{next: h.next.WithGroup(name), base: h.base}
}

func redactAttr(r *vendors.Redactor, a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.Redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		clean := make([]any, len(g))
		for i, ga := range g {
			clean[i] = redactAttr(r, ga)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, r.Redact(err.Error()))
		}
		if s := fmt.Sprint(v.Any()); r.Redact(s) != s {
			return slog.String(a.Key, r.Redact(s))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
