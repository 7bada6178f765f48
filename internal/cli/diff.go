package cli

import (
	"fmt"
	"io"

	"github.com/rewindhq/rewind/internal/action"
)

// printDagDiff shows what a change does to the DAGs: files added, removed,
// changed (with sizes), and the unified diffs when the plan has them.
func printDagDiff(w io.Writer, d *action.BundleDiff, note string) {
	if d == nil {
		if note != "" {
			fmt.Fprintf(w, "DAGs: %s.\n", note)
		}
		return
	}
	fmt.Fprintf(w, "DAG files: %s\n", d.Summary())
	for _, f := range d.Added {
		fmt.Fprintf(w, "  + %s (%d bytes)\n", f.Name, f.Size)
	}
	for _, f := range d.Removed {
		fmt.Fprintf(w, "  - %s (%d bytes)\n", f.Name, f.Size)
	}
	for _, c := range d.Changed {
		fmt.Fprintf(w, "  ~ %s (%d → %d bytes)\n", c.Name, c.FromSize, c.ToSize)
	}
	for _, c := range d.Changed {
		switch {
		case c.Unified != "":
			fmt.Fprint(w, c.Unified)
		case c.Note != "":
			fmt.Fprintf(w, "%s: %s\n", c.Name, c.Note)
		}
	}
	if d.Truncated {
		fmt.Fprintln(w, "(diffs stop here: a plan carries at most 256 KiB of them)")
	}
}
