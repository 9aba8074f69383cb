package observe

import (
	"cmp"
	"slices"
)

// Sizes of the drawing, in pixels.
const (
	margin      = 24.0
	columnGap   = 70.0
	rowGap      = 22.0
	topicHeight = 40.0
	agentHeight = 84.0 // name, then three lines of figures
	minWidth    = 150.0
	maxWidth    = 260.0
	charWidth   = 7.4 // of the 13px sans-serif label font, generously
	// maxDrawingWidth is the widest the drawing gets before its columns fold
	// into bands: what a 1400-pixel window shows of it beside the page's
	// margins and a scroll bar.
	maxDrawingWidth = 1320.0
	bandGap         = 64.0 // between bands, where the edges from one to the next run
)

// layout places t's nodes in columns left to right, like Mermaid's
// "flowchart LR": a node's column is the longest path to it from a node
// without inputs (edges closing a cycle are ignored), and within a column,
// nodes are ordered by the mean row of their predecessors. Columns that do
// not fit maxDrawingWidth fold into bands, one below the other.
func layout(t *graphView) {
	index := make(map[string]int, len(t.Nodes))
	for i, n := range t.Nodes {
		index[n.ID] = i
	}
	var edges [][2]int
	for _, e := range t.Edges {
		from, ok1 := index[e.From]
		to, ok2 := index[e.To]
		if ok1 && ok2 && from != to {
			edges = append(edges, [2]int{from, to})
		}
	}
	edges = acyclic(len(t.Nodes), edges)

	column := make([]int, len(t.Nodes))
	for range t.Nodes { // longest path: at most len(nodes) rounds
		changed := false
		for _, e := range edges {
			if column[e[1]] < column[e[0]]+1 {
				column[e[1]] = column[e[0]] + 1
				changed = true
			}
		}
		if !changed {
			break
		}
	}

	columns := 0
	for _, c := range column {
		columns = max(columns, c+1)
	}
	members := make([][]int, columns)
	for i, c := range column {
		members[c] = append(members[c], i)
	}
	row := make([]float64, len(t.Nodes))
	for c := range members {
		for r, i := range members[c] {
			row[i] = float64(r)
		}
	}
	for range 2 { // two sweeps of the barycenter heuristic settle small graphs
		for c := 1; c < columns; c++ {
			mean := map[int]float64{}
			for _, i := range members[c] {
				var sum, n float64
				for _, e := range edges {
					if e[1] == i {
						sum += row[e[0]]
						n++
					}
				}
				mean[i] = row[i]
				if n > 0 {
					mean[i] = sum / n
				}
			}
			slices.SortStableFunc(members[c], func(a, b int) int { return cmp.Compare(mean[a], mean[b]) })
			for r, i := range members[c] {
				row[i] = float64(r)
			}
		}
	}

	heights := make([]float64, columns)
	widths := make([]float64, columns)
	for c := range members {
		widths[c] = minWidth
		for r, i := range members[c] {
			if r > 0 {
				heights[c] += rowGap
			}
			heights[c] += nodeHeight(t.Nodes[i])
			widths[c] = max(widths[c], min(maxWidth, float64(len(t.Nodes[i].Name))*charWidth+36))
		}
	}
	// Fold the columns into bands, like lines of text, so that the drawing
	// fits maxDrawingWidth: a band takes as many columns as fit, and a
	// later band lies below the one before it.
	// As few bands as fit, then as even as that many allow: the narrowest
	// width that needs no more bands.
	limit := maxDrawingWidth - 2*margin
	bands := fold(widths, limit)
	for even := limit / 2; len(bands) > 1 && even < limit; even += 10 {
		if b := fold(widths, even); len(b) <= len(bands) {
			bands = b
			break
		}
	}
	y0 := margin
	t.Width = 0
	for b, cols := range bands {
		tallest := 0.0
		for _, c := range cols {
			tallest = max(tallest, heights[c])
		}
		x := margin
		for _, c := range cols {
			y := y0 + (tallest-heights[c])/2
			for _, i := range members[c] {
				n := &t.Nodes[i]
				n.X, n.Y, n.W, n.H = x, y, widths[c], nodeHeight(*n)
				n.band = b
				y += n.H + rowGap
			}
			x += widths[c] + columnGap
		}
		t.Width = max(t.Width, x-columnGap+margin)
		y0 += tallest + bandGap
	}
	t.Height = y0 - bandGap + margin
	if len(bands) == 0 {
		t.Width, t.Height = 2*margin, 2*margin
	}
}

// fold splits columns of the widths given into bands of consecutive columns,
// each as many as fit limit (at least one).
func fold(widths []float64, limit float64) [][]int {
	var bands [][]int
	width := 0.0 // of the last band
	for c, w := range widths {
		if len(bands) == 0 || width+columnGap+w > limit {
			bands = append(bands, nil)
			width = -columnGap
		}
		bands[len(bands)-1] = append(bands[len(bands)-1], c)
		width += columnGap + w
	}
	return bands
}

func nodeHeight(n node) float64 {
	if n.Kind == nodeAgent {
		return agentHeight
	}
	return topicHeight
}

// acyclic returns edges without those that close a cycle, found by a depth-first
// search from each node in order.
func acyclic(n int, edges [][2]int) [][2]int {
	out := make([][]int, n)
	for k, e := range edges {
		out[e[0]] = append(out[e[0]], k)
	}
	const (
		unseen = iota
		open
		done
	)
	state := make([]int, n)
	back := make([]bool, len(edges))
	var visit func(v int)
	visit = func(v int) {
		state[v] = open
		for _, k := range out[v] {
			switch w := edges[k][1]; state[w] {
			case unseen:
				visit(w)
			case open:
				back[k] = true
			}
		}
		state[v] = done
	}
	for v := range n {
		if state[v] == unseen {
			visit(v)
		}
	}
	var kept [][2]int
	for k, e := range edges {
		if !back[k] {
			kept = append(kept, e)
		}
	}
	return kept
}
