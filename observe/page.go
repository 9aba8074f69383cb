package observe

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"time"
)

// web holds the page's template, script and style sheet: everything the page
// loads comes from this server.
//
//go:embed web
var web embed.FS

var pageTemplate = template.Must(template.ParseFS(web, "web/index.html"))

// staticFS returns the files served under /static/.
func staticFS() fs.FS {
	sub, err := fs.Sub(web, "web/static")
	if err != nil {
		panic(err) // unreachable: the directory is embedded
	}
	return sub
}

// pageData is what the template draws.
type pageData struct {
	Name     string
	Width    float64
	Height   float64
	Nodes    []nodeView
	Edges    []edgeView
	Tables   []string
	Interval int64 // milliseconds
	Views    []View
}

type nodeView struct {
	node
	Label    string // Name, shortened to fit
	Shape    string // SVG path of the outline
	CX       float64
	External bool
}

type edgeView struct {
	edge
	Path   string
	LabelX float64
	LabelY float64
}

// renderPage executes the page template for t once: the graph does not change
// while the server runs, only the figures, which the script fetches.
func renderPage(t *graphView, interval time.Duration, views []View) ([]byte, error) {
	d := pageData{Name: t.Name, Width: t.Width, Height: t.Height, Tables: t.tables(), Interval: interval.Milliseconds(), Views: views}
	pos := map[string]node{}
	for _, n := range t.Nodes {
		pos[n.ID] = n
		d.Nodes = append(d.Nodes, nodeView{node: n, Label: shorten(n.Name, n.W), Shape: outline(n), CX: n.X + n.W/2, External: n.External})
	}
	for _, e := range t.Edges {
		from, to := pos[e.From], pos[e.To]
		v := edgeView{edge: e}
		switch {
		case to.band > from.band: // down to a later band: bottom to top
			x1, y1 := from.X+from.W/2, from.Y+from.H
			x2, y2 := to.X+to.W/2, to.Y
			dy := (y2 - y1) / 2
			v.Path = fmt.Sprintf("M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f", x1, y1, x1, y1+dy, x2, y2-dy, x2, y2)
			v.LabelX, v.LabelY = (x1+x2)/2, (y1+y2)/2-4
		case to.band == from.band && to.X > from.X:
			x1, y1 := from.X+from.W, from.Y+from.H/2
			x2, y2 := to.X, to.Y+to.H/2
			dx := (x2 - x1) / 2
			v.Path = fmt.Sprintf("M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f", x1, y1, x1+dx, y1, x2-dx, y2, x2, y2)
			v.LabelX, v.LabelY = (x1+x2)/2, (y1+y2)/2-4
		default: // backwards: round below both nodes
			x1, y1 := from.X+from.W/2, from.Y+from.H
			x2, y2 := to.X+to.W/2, to.Y+to.H
			low := max(y1, y2) + 50
			v.Path = fmt.Sprintf("M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f", x1, y1, x1, low, x2, low, x2, y2)
			v.LabelX, v.LabelY = (x1+x2)/2, low-8
			d.Height = max(d.Height, low+margin) // the curve runs below the lowest node
		}
		d.Edges = append(d.Edges, v)
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("observe: render page: %w", err)
	}
	return b.Bytes(), nil
}

// outline returns the SVG path of n's shape: a rounded box for an agent, a
// parallelogram for a stream, a cylinder for a table or timers topic.
func outline(n node) string {
	x, y, w, h := n.X, n.Y, n.W, n.H
	switch n.Kind {
	case nodeAgent:
		const r = 8
		return fmt.Sprintf("M%.1f,%.1f h%.1f a%d,%d 0 0 1 %d,%d v%.1f a%d,%d 0 0 1 -%d,%d h-%.1f a%d,%d 0 0 1 -%d,-%d v-%.1f a%d,%d 0 0 1 %d,-%d z",
			x+r, y, w-2*r, r, r, r, r, h-2*r, r, r, r, r, w-2*r, r, r, r, r, h-2*r, r, r, r, r)
	case nodeTable, nodeTimers:
		const ry = 6
		return fmt.Sprintf("M%.1f,%.1f a%.1f,%d 0 0 0 %.1f,0 a%.1f,%d 0 0 0 -%.1f,0 v%.1f a%.1f,%d 0 0 0 %.1f,0 v-%.1f",
			x, y+ry, w/2, ry, w, w/2, ry, w, h-2*ry, w/2, ry, w, h-2*ry)
	}
	const slant = 10
	return fmt.Sprintf("M%.1f,%.1f H%.1f L%.1f,%.1f H%.1f z", x+slant, y, x+w, x+w-slant, y+h, x)
}

// shorten cuts name to fit a box of width w, ending it with an ellipsis.
func shorten(name string, w float64) string {
	fit := int((w - 24) / charWidth)
	r := []rune(name)
	if len(r) <= fit || fit < 2 {
		return name
	}
	return string(r[:fit-1]) + "…"
}
