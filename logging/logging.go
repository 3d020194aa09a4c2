// Package logging builds the process logger of copilot-proxy: a zerolog
// logger writing JSON, or human-readable console lines (New); a Buffer that
// batches log lines to a file or pipe so the access log does not cost a
// write system call per request (Buffered, NewBuffer); and the adapter that
// sends net/http's internal error log through the logger (HTTPErrorLog).
//
// It holds no global state and never changes zerolog's global settings.
package logging

import (
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Log formats. The empty format picks console for a terminal and JSON
// otherwise.
const (
	FormatJSON    = "json"
	FormatConsole = "console"
)

// ValidFormat reports whether format is a log format New understands:
// FormatJSON, FormatConsole or "" (automatic).
func ValidFormat(format string) bool {
	switch format {
	case "", FormatJSON, FormatConsole:
		return true
	}
	return false
}

// ParseLevel reads a log level: debug, info, warn or error, in any case.
// zerolog.ParseLevel also takes numbers, "" (no level) and levels such as
// "disabled" that would silence a server's errors; a setting is clearer
// with only the documented names.
func ParseLevel(level string) (zerolog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "debug":
		return zerolog.DebugLevel, nil
	case "info":
		return zerolog.InfoLevel, nil
	case "warn":
		return zerolog.WarnLevel, nil
	case "error":
		return zerolog.ErrorLevel, nil
	}
	return zerolog.NoLevel, fmt.Errorf("unknown log level %q: want debug, info, warn or error", level)
}

// New builds the process logger writing to w, with a timestamp on every
// line. format is FormatJSON, FormatConsole or "" (console when w is a
// terminal, JSON otherwise: a person reads the one, log collectors the
// other). level is parsed by ParseLevel; callers validate it first, and an
// invalid one means info rather than a logger that drops every line.
func New(format, level string, w io.Writer) zerolog.Logger {
	lvl, err := ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	out := w
	tty := isTerminal(w)
	if format == FormatConsole || (format == "" && tty) {
		// Colours only on a terminal: escape codes in a file or pipe are noise.
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !tty}
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger()
}

// isTerminal reports whether w is a character device. That takes /dev/null
// for a terminal too, which only changes the format of lines nobody reads.
// (The standard library has no isatty, and this avoids a dependency.)
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// HTTPErrorLog returns a *log.Logger for http.Server.ErrorLog that writes
// each of net/http's messages (TLS handshake failures, broken connections,
// handler panics) as one warn line of l with component "http", instead of
// unstructured text on stderr.
func HTTPErrorLog(l zerolog.Logger) *log.Logger {
	return log.New(httpErrorWriter{l.With().Str("component", "http").Logger()}, "", 0)
}

// httpErrorWriter receives one message per Write from log.Logger.
type httpErrorWriter struct{ l zerolog.Logger }

func (w httpErrorWriter) Write(p []byte) (int, error) {
	w.l.Warn().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
