package routine

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitJoinsAll(t *testing.T) {
	var g Group
	var n atomic.Int32
	for range 10 {
		g.Go(func() { time.Sleep(10 * time.Millisecond); n.Add(1) })
	}
	g.Wait()
	if n.Load() != 10 {
		t.Fatalf("Wait returned with %d of 10 goroutines done", n.Load())
	}
}

func TestWaitFromMemberSkipsSelf(t *testing.T) {
	var g Group
	other := make(chan struct{})
	var otherDone atomic.Bool
	g.Go(func() { <-other; otherDone.Store(true) })
	returned := make(chan struct{})
	g.Go(func() {
		close(other)
		g.Wait() // must not wait for itself
		if !otherDone.Load() {
			t.Error("Wait returned before the other goroutine finished")
		}
		close(returned)
	})
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait called from a member deadlocked")
	}
	g.Wait()
}

func TestIDDistinct(t *testing.T) {
	ids := make(chan uint64, 2)
	go func() { ids <- ID() }()
	go func() { ids <- ID() }()
	a, b := <-ids, <-ids
	if a == 0 || b == 0 || a == b {
		t.Fatalf("ids %d and %d", a, b)
	}
}
