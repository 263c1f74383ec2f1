package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/lmittmann/tint"
)

// newLogger writes to stderr only: in stdio mode stdout carries JSON-RPC.
func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, not %q", level)
	}
	w = redactingWriter{w}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})), nil
	case "text", "":
		return slog.New(tint.NewTextHandler(w, &tint.Options{Level: lv, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)})), nil
	}
	return nil, fmt.Errorf("LOG_FORMAT must be text or json, not %q", format)
}

// redactingWriter passes every log line through vendors.Redact, so no
// registered credential is written, whatever a message or attribute holds.
type redactingWriter struct{ w io.Writer }

func (r redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, vendors.Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func isTerminal(w io.Writer) bool {
	if r, ok := w.(redactingWriter); ok {
		w = r.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
