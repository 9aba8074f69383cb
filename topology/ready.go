package topology

import "sync"

// OnReady adds a function called once, when every agent this Run runs has been
// assigned partitions for the first time: the moment records sent to the graph
// are handled without waiting for consumer groups to form. It is never called
// if another instance holds every partition of one of the agents. It must not
// block. Like [OnAssign], each OnReady adds to those before it.
func OnReady(fn func()) Option {
	return option("OnReady", forRun, func(c *runConfig) {
		if prev := c.onReady; prev != nil && fn != nil {
			c.onReady = func() { prev(); fn() }
		} else if fn != nil {
			c.onReady = fn
		}
	})
}

// readyWatch returns an OnAssign function that calls ready once every agent
// named has been assigned at least one partition.
func readyWatch(names []string, ready func()) func(agent string, partitions []int32) {
	var mu sync.Mutex
	waiting := map[string]bool{}
	for _, n := range names {
		waiting[n] = true
	}
	return func(agent string, partitions []int32) {
		if len(partitions) == 0 {
			return
		}
		mu.Lock()
		was := len(waiting)
		delete(waiting, agent)
		done := was > 0 && len(waiting) == 0
		mu.Unlock()
		if done {
			ready()
		}
	}
}
