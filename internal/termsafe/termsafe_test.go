package termsafe

import (
	"strings"
	"testing"
)

func TestControlsAreEscaped(t *testing.T) {
	for _, c := range []struct{ in, line, text string }{
		{"plain text\twith a tab", "plain text\twith a tab", "plain text\twith a tab"},
		{"ünïcödé ✓", "ünïcödé ✓", "ünïcödé ✓"},
		{"a\nb", `a\x0ab`, "a\nb"},
		{"\x1b[2K\x1b[1Ahidden", `\x1b[2K\x1b[1Ahidden`, `\x1b[2K\x1b[1Ahidden`},
		{"\x1b]8;;http://evil/\x1b\\click\x1b]8;;\x1b\\", `\x1b]8;;http://evil/\x1b\click\x1b]8;;\x1b\`, `\x1b]8;;http://evil/\x1b\click\x1b]8;;\x1b\`},
		{"\x1b]52;c;cm0gLXJmIH4=\x07", `\x1b]52;c;cm0gLXJmIH4=\x07`, `\x1b]52;c;cm0gLXJmIH4=\x07`},
		{"\u009b2J C1 CSI", `\u009b2J C1 CSI`, `\u009b2J C1 CSI`},
		{"file\u202etxt.exe", `file\u202etxt.exe`, `file\u202etxt.exe`},
		{"\u2066isolate\u2069", `\u2066isolate\u2069`, `\u2066isolate\u2069`},
		{"cr\roverwrite\bback\x7f", `cr\x0doverwrite\x08back\x7f`, `cr\x0doverwrite\x08back\x7f`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`, `bad \xff\xfe utf8`},
	} {
		if got := Line(c.in); got != c.line {
			t.Errorf("Line(%q) = %q, want %q", c.in, got, c.line)
		}
		if got := Text(c.in); got != c.text {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.text)
		}
	}
}

func TestWriterEscapesAcrossWrites(t *testing.T) {
	var b strings.Builder
	w := NewWriter(&b)
	for _, chunk := range []string{"ok ✓", "\xe2", "\x80", "\xae and \x1b]52;c;x\x07\n", "日本\t語\n"} {
		if n, err := w.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatal(n, err)
		}
	}
	if got, want := b.String(), "ok ✓\\u202e and \\x1b]52;c;x\\x07\n日本\t語\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
