package sim

import (
	"fmt"
	"image/color"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var palette = []color.RGBA{
	{30, 80, 200, 255},  // blue
	{230, 120, 0, 255},  // orange
	{20, 140, 60, 255},  // green
	{150, 50, 160, 255}, // purple
}

var (
	grey  = color.RGBA{120, 120, 120, 255}
	black = color.RGBA{0, 0, 0, 255}
	red   = color.RGBA{200, 30, 30, 255}
)

// WritePlot draws, for one trace, three stacked panels over time: the
// offered load and arrivals, each policy's replicas with the oracle's,
// and each policy's p99 latency per second with the SLO; into a PNG file.
func WritePlot(file, title string, sloMS float64, results []*Result) error {
	if len(results) == 0 {
		return fmt.Errorf("plot %s: no results", file)
	}
	load, reps, lat := plot.New(), plot.New(), plot.New()
	load.Title.Text = title
	load.Y.Label.Text = "requests/s"
	reps.Y.Label.Text = "replicas"
	lat.Y.Label.Text = "p99 latency (ms)"
	lat.X.Label.Text = "time (s)"
	for _, p := range []*plot.Plot{load, reps, lat} {
		p.Legend.Top, p.Legend.Left = true, true
	}
	var offered, oracle plotter.XYs
	for _, pt := range results[0].Series {
		offered = append(offered, plotter.XY{X: pt.T, Y: pt.Offered})
		oracle = append(oracle, plotter.XY{X: pt.T, Y: float64(pt.Oracle)})
	}
	if err := line(load, offered, black, "offered rate"); err != nil {
		return err
	}
	var arrivals plotter.XYs
	for _, pt := range results[0].Series {
		arrivals = append(arrivals, plotter.XY{X: pt.T, Y: float64(pt.Arrivals)})
	}
	if err := line(load, arrivals, grey, "arrivals"); err != nil {
		return err
	}
	if err := line(reps, oracle, black, "oracle"); err != nil {
		return err
	}
	for i, r := range results {
		c := palette[i%len(palette)]
		var n, p99, miss plotter.XYs
		for _, pt := range r.Series {
			n = append(n, plotter.XY{X: pt.T, Y: float64(pt.Replicas)})
			if !math.IsNaN(pt.P99MS) {
				p99 = append(p99, plotter.XY{X: pt.T, Y: pt.P99MS})
			}
			if pt.Misses > 0 {
				miss = append(miss, plotter.XY{X: pt.T, Y: float64(pt.Misses)})
			}
		}
		if err := line(reps, n, c, r.Policy); err != nil {
			return err
		}
		if err := line(lat, p99, c, r.Policy); err != nil {
			return err
		}
		if len(miss) > 0 {
			s, err := plotter.NewScatter(miss)
			if err != nil {
				return err
			}
			s.GlyphStyle.Color, s.GlyphStyle.Shape, s.GlyphStyle.Radius = c, draw.CrossGlyph{}, vg.Points(2)
			load.Add(s)
			load.Legend.Add(r.Policy+" misses/s", s)
		}
	}
	end := results[0].Series[len(results[0].Series)-1].T + 1
	if err := line(lat, plotter.XYs{{X: 0, Y: sloMS}, {X: end, Y: sloMS}}, red, "SLO"); err != nil {
		return err
	}
	for _, p := range []*plot.Plot{load, reps, lat} {
		p.X.Min, p.X.Max = 0, end
	}
	const rows = 3
	img := vgimg.New(10*vg.Inch, 9*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: 1, PadX: vg.Millimeter, PadY: vg.Millimeter, PadTop: vg.Millimeter, PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: vg.Millimeter}
	canvases := plot.Align([][]*plot.Plot{{load}, {reps}, {lat}}, tiles, dc)
	for i, p := range []*plot.Plot{load, reps, lat} {
		p.Draw(canvases[i][0])
	}
	if err := saveImage(img, file); err != nil {
		return fmt.Errorf("plot %s: %w", file, err)
	}
	return nil
}

func line(p *plot.Plot, pts plotter.XYs, c color.Color, name string) error {
	if len(pts) == 0 {
		return nil
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color, l.Width = c, vg.Points(1.2)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}
func saveImage(img *vgimg.Canvas, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
