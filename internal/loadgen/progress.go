package loadgen

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// IsTerminal reports whether f is a terminal (a character device).
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// barWidth is the width of the bar itself, in characters.
const barWidth = 30

// ProgressBar returns a Config.Progress function that redraws one line on
// w with \r: the bar, time, requests sent, answered, errors and in flight.
// The final report ends the line.
func ProgressBar(w io.Writer, label string) func(Progress) {
	var line strings.Builder
	return func(p Progress) {
		frac := 1.0
		if p.Total > 0 {
			frac = min(max(p.Elapsed.Seconds()/p.Total.Seconds(), 0), 1)
		}
		if p.Final {
			frac = 1
		}
		full := int(frac * barWidth)
		line.Reset()
		line.WriteString("\r")
		line.WriteString(label)
		line.WriteString(" [")
		line.WriteString(strings.Repeat("=", full))
		if full < barWidth {
			line.WriteString(">")
			line.WriteString(strings.Repeat(" ", barWidth-full-1))
		}
		fmt.Fprintf(&line, "] %3.0f%% %5.1f/%.1fs sent %d ok %d err %d inflight %d ",
			frac*100, min(p.Elapsed, p.Total).Seconds(), p.Total.Seconds(),
			p.Sent, p.Done-p.Errors, p.Errors, p.Inflight)
		if p.Final {
			line.WriteString("\n")
		}
		io.WriteString(w, line.String())
	}
}
