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
)

// layout places t's nodes in columns left to right, like Mermaid's
// "flowchart LR": a node's column is the longest path to it from a node
// without inputs (edges closing a cycle are ignored), and within a column,
// nodes are ordered by the mean row of their predecessors.
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
	for c := range members {
		for r, i := range members[c] {
			if r > 0 {
				heights[c] += rowGap
			}
			heights[c] += nodeHeight(t.Nodes[i])
		}
	}
	tallest := slices.Max(append(heights, 0))
	x := margin
	for c := range members {
		width := minWidth
		for _, i := range members[c] {
			width = max(width, min(maxWidth, float64(len(t.Nodes[i].Name))*charWidth+36))
		}
		y := margin + (tallest-heights[c])/2
		for _, i := range members[c] {
			n := &t.Nodes[i]
			n.X, n.Y, n.W, n.H = x, y, width, nodeHeight(*n)
			y += n.H + rowGap
		}
		x += width + columnGap
	}
	t.Width = x - columnGap + margin
	t.Height = tallest + 2*margin
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
