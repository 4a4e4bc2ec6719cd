package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// command runs fn on order id, waits until the projection has processed
// the events it wrote, and prints the order's summary as the view has it.
func (e *env) command(ctx context.Context, w io.Writer, id, what string, fn func(*Order) error) error {
	o, err := e.repo.Update(ctx, id, fn)
	if err != nil {
		fmt.Fprintf(w, "%-32s rejected: %v\n", what, err)
		return err
	}
	// Read your own writes: wait until the view has processed the events
	// this command appended. If the projection stopped, WaitFor returns
	// its error (matching projection.ErrStopped), not just a deadline.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := e.runner.WaitFor(wctx, o.Appended().Positions...); err != nil {
		return err
	}
	rows, err := e.view.list(ctx)
	if err != nil {
		return err
	}
	for _, s := range rows {
		if s.ID == id {
			fmt.Fprintf(w, "%-32s view: %s\n", what, s)
		}
	}
	return nil
}

func scenario(ctx context.Context, w io.Writer, e *env) error {
	o1, o2, o3 := "order-1"+e.suffix, "order-2"+e.suffix, "order-3"+e.suffix
	steps := []struct {
		id, what string
		fn       func(*Order) error
		reject   error
	}{
		{o1, "ann places order-1", func(o *Order) error { return o.Place("ann") }, nil},
		{o1, "ann adds 2 x book", func(o *Order) error { return o.AddItem("book", 2, 1250) }, nil},
		{o1, "ann adds 1 x lamp", func(o *Order) error { return o.AddItem("lamp", 1, 3999) }, nil},
		{o2, "bob places order-2", func(o *Order) error { return o.Place("bob") }, nil},
		{o2, "bob adds 3 x mug", func(o *Order) error { return o.AddItem("mug", 3, 800) }, nil},
		{o1, "ann pays 10.00 (wrong amount)", func(o *Order) error { return o.Pay(1000) }, ErrWrongAmount},
		{o1, "ann pays 64.99", func(o *Order) error { return o.Pay(6499) }, nil},
		{o2, "bob cancels order-2", func(o *Order) error { return o.Cancel("changed mind") }, nil},
		{o2, "bob adds 1 x pen (cancelled)", func(o *Order) error { return o.AddItem("pen", 1, 150) }, ErrNotOpen},
		{o1, "warehouse ships order-1", func(o *Order) error { return o.Ship("DHL") }, nil},
		{o3, "cy places order-3", func(o *Order) error { return o.Place("cy") }, nil},
		{o3, "cy ships order-3 (unpaid)", func(o *Order) error { return o.Ship("UPS") }, ErrNotPaid},
		{o3, "cy adds 5 x sock", func(o *Order) error { return o.AddItem("sock", 5, 299) }, nil},
	}
	for _, s := range steps {
		err := e.command(ctx, w, s.id, s.what, s.fn)
		switch {
		case s.reject == nil && err != nil:
			return err
		case s.reject != nil && !errors.Is(err, s.reject):
			return fmt.Errorf("%s: expected rejection %v, got %v", s.what, s.reject, err)
		}
	}

	lag, err := e.runner.Lag(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nprojection lag per partition: %v\n", lag)
	served, err := e.view.list(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\norder summaries:")
	for _, s := range served {
		fmt.Fprintln(w, "  "+s.String())
	}

	// Blue/green rebuild: a new projection fills a fresh view from the
	// start of the log while the old one keeps serving, then they are
	// compared (a real service would switch its readers to the new one).
	green := newMemView()
	name := "order-summary-v2" + e.suffix
	r, err := projection.New(name, e.serde, green.handlers(), projection.WithCheckpoints(green.checkpoints()),
		projection.WithProgressInterval(50*time.Millisecond), projection.WithObserver(e.observer))
	if err != nil {
		return err
	}
	src, err := kafkaprojection.NewReader(ctx, e.client, e.topic) // one instance rebuilds: no consumer group needed
	if err != nil {
		return err
	}
	defer src.Close()
	fmt.Fprintln(w, "\nrebuilding the view blue/green into", name)
	var final projection.Progress
	if err := r.CatchUp(ctx, src, func(p projection.Progress) { final = p }); err != nil {
		return err
	}
	fmt.Fprintf(w, "  rebuild done: %d/%d offsets in %s\n", final.Done, final.Total, final.Elapsed.Round(time.Millisecond))
	rebuilt, err := green.list(ctx)
	if err != nil {
		return err
	}
	if !slices.Equal(rebuilt, served) {
		return fmt.Errorf("the rebuilt view differs from the served one:\n%v\n%v", rebuilt, served)
	}
	fmt.Fprintln(w, "  the rebuilt view equals the served one; readers could switch to it now")
	return nil
}
