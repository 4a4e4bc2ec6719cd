package main

import (
	"context"
	"errors"

	"github.com/IBM/sarama"
)

// runTail prints the events of the topic as they are committed, from the
// end of the topic (or from its beginning with --from-beginning), until the
// context ends (Ctrl-C) or --limit events were printed.
func runTail(ctx context.Context, e *env, _ []string) int {
	cl := e.connect()
	if cl == nil {
		return exitFailure
	}
	defer cl.Close()
	rd := newReader(cl, e.topic)
	parts, err := rd.partitions()
	if err != nil {
		e.errorf("%v", err)
		return exitFailure
	}
	which := sarama.OffsetNewest
	if e.opts.fromBeginning {
		which = sarama.OffsetOldest
	}
	from, err := rd.offsets(ctx, parts, which)
	if err != nil {
		e.errorf("%v", err)
		return exitFailure
	}
	var reg *registry
	if e.registry != "" {
		reg = newRegistry(e.registry, e.timeout, e.registryOpts...)
	}
	closeKeys, ok := useKeys(ctx, e, cl, reg)
	if !ok {
		return exitFailure
	}
	defer closeKeys()
	e.progressf("tail: following %s (%s) from the %s; Ctrl-C to stop", e.topic, plural(len(parts), "partition", "partitions"), map[bool]string{true: "beginning", false: "end"}[e.opts.fromBeginning])
	pr := newPrinter(e.stdout, e.topic, reg)
	n := 0
	err = rd.scan(ctx, from, nil, func(r rec) error {
		n++
		if err := pr.print(r); err != nil {
			return err
		}
		if e.opts.limit > 0 && n >= e.opts.limit {
			return errLimit
		}
		return nil
	}, nil)
	switch {
	case errors.Is(err, errLimit), ctx.Err() != nil:
		return exitOK
	case err != nil:
		e.errorf("tail %s: %v", e.topic, err)
		return exitFailure
	}
	return exitOK
}
