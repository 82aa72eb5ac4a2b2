package bridge

import (
	"fmt"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func confirm(d *dedup, id string) {
	_, f, leader := d.begin(id)
	if !leader {
		panic("not leader for " + id)
	}
	d.finish(id, f, answer{status: 200}, true)
}

func TestDedupForgetsAfterTTL(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(1000, 0)}
	d := newDedup(time.Minute, 100, clk.now)
	confirm(d, "a")
	if seen, _, _ := d.begin("a"); !seen {
		t.Fatal("confirmed id not remembered")
	}
	clk.t = clk.t.Add(59 * time.Second)
	if seen, _, _ := d.begin("a"); !seen {
		t.Fatal("forgot before the TTL")
	}
	clk.t = clk.t.Add(2 * time.Second)
	seen, f, leader := d.begin("a")
	if seen || !leader {
		t.Fatal("remembered past the TTL")
	}
	d.finish("a", f, answer{status: 503}, false)
	if seen, _, _ := d.begin("b"); seen {
		t.Fatal("unknown id reported as seen")
	}
}

func TestDedupMemoryIsBounded(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(1000, 0)}
	d := newDedup(time.Hour, 1000, clk.now)
	for i := range 100_000 {
		confirm(d, fmt.Sprintf("id-%d", i))
		clk.t = clk.t.Add(time.Millisecond)
	}
	if n := d.len(); n > 1000 {
		t.Fatalf("%d ids remembered, want at most 1000", n)
	}
	if cap(d.order) > 4*1000+2048 {
		t.Fatalf("order slice grew to %d", cap(d.order))
	}
	if seen, _, _ := d.begin("id-99999"); !seen {
		t.Fatal("newest id forgotten")
	}
}

func TestDedupExpiryKeepsSliceSmall(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(1000, 0)}
	d := newDedup(time.Second, 1_000_000, clk.now)
	for i := range 200_000 {
		confirm(d, fmt.Sprintf("id-%d", i))
		clk.t = clk.t.Add(10 * time.Millisecond) // 100 ids live at a time
	}
	if n := d.len(); n > 101 {
		t.Fatalf("%d ids remembered, want about 100", n)
	}
	if len(d.order)-d.head > 101 || cap(d.order) > 8192 {
		t.Fatalf("order: %d live, cap %d", len(d.order)-d.head, cap(d.order))
	}
}
