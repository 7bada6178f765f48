// Package termsafe makes text from users and containers safe to print on a
// terminal (issue 26). A terminal acts only on control characters — ESC
// starting CSI/OSC/DCS sequences (cursor moves, OSC 8 links, OSC 52
// clipboard writes), the C1 controls that start them on their own, BEL,
// backspace, carriage return — and Unicode's bidirectional overrides
// reorder what is shown. Every one of them is replaced with a visible
// escape (\x1b, \u202e), so the rest of a sequence prints as the plain
// characters it is and the reader sees that something was there.
package termsafe

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rewindhq/rewind/internal/policy"
)

// Line is s for one line of output: tabs are kept, newlines escaped.
func Line(s string) string { return clean(s, false) }

// Text is s for several lines of output (a log tail): tabs and newlines
// are kept.
func Text(s string) string { return clean(s, true) }

func clean(s string, newlines bool) string {
	if safe(s, newlines) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t' || (r == '\n' && newlines):
			b.WriteRune(r)
		case r < 0x80 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || policy.IsBidiControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func safe(s string, newlines bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '\t' || (r == '\n' && newlines) {
			continue
		}
		if unicode.IsControl(r) || policy.IsBidiControl(r) {
			return false
		}
	}
	return true
}

// Writer passes what is written to W with every control character but tab
// and newline escaped, as Text does. A multi-byte character split across
// two writes is held until its end arrives.
type Writer struct {
	W       io.Writer
	pending []byte
}

// NewWriter wraps w.
func NewWriter(w io.Writer) *Writer { return &Writer{W: w} }

// Unwrap is the writer underneath, for callers that need to know whether
// it is a terminal and draw on it themselves.
func (w *Writer) Unwrap() io.Writer { return w.W }

func (w *Writer) Write(p []byte) (int, error) {
	buf := append(w.pending, p...)
	w.pending = nil
	// Hold an incomplete last character (at most 3 bytes) for the next write.
	for i := 1; i <= 3 && i <= len(buf); i++ {
		c := buf[len(buf)-i]
		if c < 0x80 {
			break
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(buf[len(buf)-i:]) {
				w.pending = append([]byte(nil), buf[len(buf)-i:]...)
				buf = buf[:len(buf)-i]
			}
			break
		}
	}
	if _, err := io.WriteString(w.W, Text(string(buf))); err != nil {
		return 0, err
	}
	return len(p), nil
}
