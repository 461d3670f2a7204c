package loadgen

import (
	"fmt"
	"image/color"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot file names, in the output directory.
const (
	LatencyPlot = "latency.png" // latency over time
	CDFPlot     = "cdf.png"     // latency CDF
)

// maxScatter bounds the points drawn in the latency-over-time scatter.
const maxScatter = 20000

var (
	grey   = color.RGBA{150, 150, 150, 255}
	red    = color.RGBA{200, 30, 30, 255}
	blue   = color.RGBA{30, 80, 200, 255}
	orange = color.RGBA{230, 120, 0, 255}
	green  = color.RGBA{20, 140, 60, 255}
)

// WritePlots draws the run's latency over time and latency CDF into dir
// as PNG files; title heads both.
func WritePlots(dir, title string, run *Run, r *Result, slo time.Duration) error {
	if err := latencyOverTime(filepath.Join(dir, LatencyPlot), title, run, r, slo); err != nil {
		return err
	}
	return latencyCDF(filepath.Join(dir, CDFPlot), title, run, slo)
}

func latencyOverTime(file, title string, run *Run, r *Result, slo time.Duration) error {
	p := plot.New()
	p.Title.Text = title + ": latency over time"
	p.X.Label.Text = "scheduled send time (s)"
	p.Y.Label.Text = "latency (ms)"
	n := len(run.Samples) - run.Warm
	step := max(1, n/maxScatter)
	var ok, failed plotter.XYs
	for i := run.Warm; i < len(run.Samples); i += step {
		s := run.Samples[i]
		pt := plotter.XY{X: float64(run.Schedule[i]-run.Start) / 1e9, Y: float64(s.Latency) / 1e6}
		switch s.Outcome {
		case NotSent:
		case OK:
			ok = append(ok, pt)
		default:
			failed = append(failed, pt)
		}
	}
	if err := addScatter(p, ok, grey, draw.CircleGlyph{}, "OK"); err != nil {
		return err
	}
	if err := addScatter(p, failed, red, draw.CrossGlyph{}, "error"); err != nil {
		return err
	}
	var p50, p99 plotter.XYs
	half := 0.0
	if len(r.Windows) > 1 {
		half = (r.Windows[1].TS - r.Windows[0].TS) / 2
	}
	for _, w := range r.Windows {
		if w.OK > 0 {
			p50 = append(p50, plotter.XY{X: w.TS + half, Y: w.P50MS})
			p99 = append(p99, plotter.XY{X: w.TS + half, Y: w.P99MS})
		}
	}
	if err := addLine(p, p50, blue, "p50"); err != nil {
		return err
	}
	if err := addLine(p, p99, orange, "p99"); err != nil {
		return err
	}
	if slo > 0 && r.DurationS > 0 {
		y := float64(slo) / 1e6
		if err := addLine(p, plotter.XYs{{X: 0, Y: y}, {X: r.DurationS, Y: y}}, green, "SLO"); err != nil {
			return err
		}
	}
	p.Legend.Top = true
	return save(p, file)
}

func latencyCDF(file, title string, run *Run, slo time.Duration) error {
	lat := make([]int64, 0, len(run.Samples)-run.Warm)
	for _, s := range run.Samples[run.Warm:] {
		if s.Outcome == OK {
			lat = append(lat, s.Latency)
		}
	}
	slices.Sort(lat)
	p := plot.New()
	p.Title.Text = title + ": latency CDF (OK answers)"
	p.X.Label.Text = "latency (ms)"
	p.Y.Label.Text = "fraction of requests"
	p.Y.Min, p.Y.Max = 0, 1
	if len(lat) > 0 {
		// Up to 2000 points evenly by rank, and every one of the last
		// thousandth so that the tail is drawn as it is.
		n := len(lat)
		step := max(1, n/2000)
		var pts plotter.XYs
		for i := 0; i < n; i++ {
			if i%step == 0 || i >= n-n/1000-1 {
				pts = append(pts, plotter.XY{X: max(float64(lat[i])/1e6, 1e-3), Y: float64(i+1) / float64(n)})
			}
		}
		if pts[len(pts)-1].X/pts[0].X >= 20 {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		}
		if err := addLine(p, pts, blue, fmt.Sprintf("%d requests", n)); err != nil {
			return err
		}
		if slo > 0 {
			x := float64(slo) / 1e6
			if err := addLine(p, plotter.XYs{{X: x, Y: 0}, {X: x, Y: 1}}, green, "SLO"); err != nil {
				return err
			}
		}
	}
	p.Legend.Left, p.Legend.Top = true, true
	return save(p, file)
}

func addScatter(p *plot.Plot, pts plotter.XYs, c color.Color, g draw.GlyphDrawer, name string) error {
	if len(pts) == 0 {
		return nil
	}
	s, err := plotter.NewScatter(pts)
	if err != nil {
		return err
	}
	s.GlyphStyle.Color, s.GlyphStyle.Shape, s.GlyphStyle.Radius = c, g, vg.Points(1)
	p.Add(s)
	p.Legend.Add(name, s)
	return nil
}

func addLine(p *plot.Plot, pts plotter.XYs, c color.Color, name string) error {
	if len(pts) == 0 {
		return nil
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color, l.Width = c, vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

func save(p *plot.Plot, file string) error {
	if err := p.Save(8*vg.Inch, 5*vg.Inch, file); err != nil {
		return fmt.Errorf("plot %s: %w", file, err)
	}
	return nil
}
