package observe

// The page's drawing of a graph, for the tests of package observe_test.
type (
	Node     = node
	Edge     = edge
	NodeKind = nodeKind
)

const (
	NodeAgent  = nodeAgent
	NodeStream = nodeStream
	NodeTable  = nodeTable
	NodeDLQ    = nodeDLQ
	NodeTimers = nodeTimers
)

var ReadGraph = readGraph

func (v *graphView) Agents() []string { return v.agents() }
func (v *graphView) Tables() []string { return v.tables() }
func (v *graphView) Inputs(agent string) []string {
	a, _ := v.desc.Agent(agent)
	return a.Inputs
}

// Band returns the band of columns n is in.
func (n node) Band() int { return n.band }

const MaxDrawingWidth = maxDrawingWidth
