package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Row is one measured figure of a run.
type Row struct {
	Name  string
	Value float64
	Unit  string
}

// Result is one run of one scenario.
type Result struct {
	Scenario string
	Rows     []Row
	Notes    []string // said once under the table (sizes, checks)
}

func (r *Result) add(name string, v float64, unit string) {
	r.Rows = append(r.Rows, Row{Name: name, Value: v, Unit: unit})
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// value returns the named row's value (0 if absent).
func (r Result) value(name string) float64 {
	for _, row := range r.Rows {
		if row.Name == name {
			return row.Value
		}
	}
	return 0
}

// writeTable prints the runs of one scenario as a markdown table: a row per
// figure, a column per run and the median, ready for docs/PERFORMANCE.md.
func writeTable(w io.Writer, title string, runs []Result) {
	if len(runs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n#### %s\n\n| figure |", title)
	for i := range runs {
		fmt.Fprintf(w, " run %d |", i+1)
	}
	if len(runs) > 1 {
		fmt.Fprint(w, " median |")
	}
	fmt.Fprint(w, "\n|---|")
	for range runs {
		fmt.Fprint(w, "---|")
	}
	if len(runs) > 1 {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for _, row := range runs[0].Rows {
		label := row.Name
		if row.Unit != "" {
			label += " (" + row.Unit + ")"
		}
		fmt.Fprintf(w, "| %s |", label)
		var vs []float64
		for _, r := range runs {
			v := r.value(row.Name)
			vs = append(vs, v)
			fmt.Fprintf(w, " %s |", format(v))
		}
		if len(runs) > 1 {
			fmt.Fprintf(w, " **%s** |", format(Median(vs)))
		}
		fmt.Fprintln(w)
	}
	seen := map[string]bool{}
	for _, r := range runs {
		for _, n := range r.Notes {
			if !seen[n] {
				seen[n] = true
				fmt.Fprintf(w, "\n- %s", n)
			}
		}
	}
	fmt.Fprintln(w)
}

// format prints a figure with the precision it deserves.
func format(v float64) string {
	switch a := abs(v); {
	case v == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// loadAverage is the 1-minute load average (the machine is shared: every
// result carries it).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	_, _ = fmt.Sscanf(string(b), "%f", &l)
	return l
}

// machine describes where the numbers come from.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%d vCPU %s%s, %s, %s", runtime.NumCPU(), cpu, mem, runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}
