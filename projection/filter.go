package projection

import (
	"reflect"
	"sort"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/serde"
)

// WithReadAll makes the runner ask its source for every record, also when
// its handlers would let it read only their types (see [Filterer]). The
// default narrows the read to the handlers' types where that is safe.
func WithReadAll() Option { return func(c *config) { c.readAll = true } }

var _ Filterer = sink{}

// ReadOptions implements [Filterer] for the runner's sink.
func (s sink) ReadOptions() eventstore.ReadOptions { return s.r.ReadOptions() }

// ReadOptions returns the filter the runner's sources apply (see
// [Filterer]): the stored type names of its handlers' types and the
// lifecycle marker types, or a zero ReadOptions (every record) when the
// runner must see every record: it has an [OnAny] or [OnRecorded]
// handler, a dead-letter sink, [WithStrictTypes] or [WithReadAll], or its
// serde does not implement [serde.TypeNamer] or does not know one of the
// handlers' types. It asks the serde at every call, so types registered
// after New count.
func (r *Runner) ReadOptions() eventstore.ReadOptions {
	hs, cfg := r.hs, &r.cfg
	if cfg.readAll || cfg.strict || cfg.dlq != nil || hs.any != nil || len(hs.raw) > 0 {
		return eventstore.ReadOptions{}
	}
	namer, ok := r.sd.(serde.TypeNamer)
	if !ok {
		return eventstore.ReadOptions{}
	}
	// Markers are few and cheap; the runner always gets them, so that a
	// notice handler works and nothing depends on whether one exists.
	set := map[string]bool{eventstore.TypeStreamDeleted: true, eventstore.TypeStreamTruncated: true}
	for t := range hs.byType {
		if t == reflect.TypeFor[StreamDeleted]() || t == reflect.TypeFor[StreamTruncated]() {
			continue
		}
		names, ok := namer.TypeNames(t)
		if !ok || len(names) == 0 {
			return eventstore.ReadOptions{}
		}
		for _, n := range names {
			set[n] = true
		}
	}
	types := make([]string, 0, len(set))
	for n := range set {
		types = append(types, n)
	}
	sort.Strings(types)
	return eventstore.ReadOptions{Types: types}
}
