// Package routine runs goroutines that can all be joined, even by one of
// themselves: Wait skips the goroutine that calls it, so a user callback
// running on one of the group's goroutines may close the owner without
// deadlocking. That goroutine ends as soon as the callback returns.
package routine

import (
	"runtime"
	"sync"
)

// Group tracks goroutines started with Go. The zero value is ready to use.
type Group struct {
	mu      sync.Mutex
	running map[*entry]struct{}
}

type entry struct {
	id   uint64 // goroutine id, set once the goroutine runs
	done chan struct{}
	mu   sync.Mutex
}

// Go runs f on a new goroutine that belongs to g.
func (g *Group) Go(f func()) {
	e := &entry{done: make(chan struct{})}
	e.mu.Lock() // held until the id is known, so Wait can read it safely
	g.mu.Lock()
	if g.running == nil {
		g.running = make(map[*entry]struct{})
	}
	g.running[e] = struct{}{}
	g.mu.Unlock()
	go func() {
		e.id = ID()
		e.mu.Unlock()
		defer func() {
			g.mu.Lock()
			delete(g.running, e)
			g.mu.Unlock()
			close(e.done)
		}()
		f()
	}()
}

// Wait blocks until every goroutine of g has returned, except the calling
// goroutine when it belongs to g. Goroutines started while Wait runs are
// waited for too.
func (g *Group) Wait() {
	self := ID()
	for {
		g.mu.Lock()
		var next *entry
		for e := range g.running {
			e.mu.Lock()
			id := e.id
			e.mu.Unlock()
			if id != self {
				next = e
				break
			}
		}
		g.mu.Unlock()
		if next == nil {
			return
		}
		<-next.done
	}
}

// ID returns the calling goroutine's id. It parses the first line of the
// goroutine's stack ("goroutine 123 [running]:"), which the runtime has
// printed in that form since Go 1.0; it is only called when a goroutine
// starts and by Wait, never on a hot path.
func ID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	const prefix = "goroutine "
	if len(b) < len(prefix) {
		return 0
	}
	var id uint64
	for _, c := range b[len(prefix):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
