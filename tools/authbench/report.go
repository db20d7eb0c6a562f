package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// verdicts of a row.
const (
	pass = "PASS"
	fail = "FAIL"
	info = "info"
)

// row is one line of the result table.
type row struct {
	name, measured, reference, ratio, target, verdict string
}

// report collects the table and the notes that explain it.
type report struct {
	header []string
	rows   []row
	notes  []string

	// stopped says the run ended with an error, so some bars are missing.
	stopped bool
}

// bar adds a row that is held to a target.
func (r *report) bar(name, measured, reference, ratio, target string, ok bool) {
	v := pass
	if !ok {
		v = fail
	}
	r.rows = append(r.rows, row{name, measured, reference, ratio, target, v})
}

// info adds a row that is reported without a target.
func (r *report) info(name, measured, reference, ratio string) {
	r.rows = append(r.rows, row{name, measured, reference, ratio, "-", info})
}

// note adds a line under the table.
func (r *report) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// passed reports whether no bar failed.
func (r *report) passed() bool {
	for _, row := range r.rows {
		if row.verdict == fail {
			return false
		}
	}
	return true
}

// print writes the header, the table and the notes.
func (r *report) print(w io.Writer) {
	fmt.Fprintln(w)
	for _, h := range r.header {
		fmt.Fprintln(w, h)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "bar\tmeasured\treference\tratio\ttarget\tresult")
	fmt.Fprintln(tw, "---\t--------\t---------\t-----\t------\t------")
	for _, row := range r.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", row.name, row.measured, row.reference, row.ratio, row.target, row.verdict)
	}
	_ = tw.Flush()
	if len(r.notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.notes {
			fmt.Fprintln(w, "- "+n)
		}
	}
	verdict := "every quality bar passed"
	switch {
	case r.stopped:
		verdict = "the run stopped before every bar was measured"
	case !r.passed():
		verdict = "some quality bars FAILED"
	}
	fmt.Fprintf(w, "\n%s\n", verdict)
}

// perSec formats a rate.
func perSec(v float64, unit string) string { return fmt.Sprintf("%.0f %s/s", v, unit) }

// ratio formats a/b.
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// mibs formats bytes in MiB.
func mibs(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/mib) }
