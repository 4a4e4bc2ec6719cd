package eventstore

import "strings"

// ReadOption narrows what [Store.ReadAll] and [Store.Subscribe] yield.
type ReadOption func(*ReadOptions)

// ReadOptions are what the ReadOption values of a read asked for; a store
// gets them with [ReadOptionsOf] and tests each record with Match.
type ReadOptions struct {
	// Types, when not empty, are the only event types yielded.
	Types []string
	// StreamPrefixes, when not empty, are the prefixes of the only
	// streams yielded (a stream matches when its ID starts with one).
	StreamPrefixes []string
}

// WithTypes makes a read yield only events of the given types (all when
// none are given or the option is absent). A store applies it before it
// decodes a record where it can (the Kafka store reads the type from the
// record's es.type header and the stream from its key, and skips the rest
// of the record), so a reader interested in a few types of many saves the
// decoding of the others. Filtered events are not yielded at all: a reader
// that checkpoints the position of the last event it got resumes before
// the filtered events that followed it and skips them again.
func WithTypes(types ...string) ReadOption {
	return func(o *ReadOptions) { o.Types = append(o.Types, types...) }
}

// WithStreamPrefix makes a read yield only events of streams whose ID
// starts with one of prefixes (all when none are given or the option is
// absent), for example "order-" for one aggregate type when stream IDs
// carry it. It combines with [WithTypes]: both must match.
func WithStreamPrefix(prefixes ...string) ReadOption {
	return func(o *ReadOptions) { o.StreamPrefixes = append(o.StreamPrefixes, prefixes...) }
}

// ReadOptionsOf returns the options opts set.
func ReadOptionsOf(opts []ReadOption) ReadOptions {
	var o ReadOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// Filtered reports whether the options filter anything.
func (o ReadOptions) Filtered() bool { return len(o.Types) > 0 || len(o.StreamPrefixes) > 0 }

// MatchStream reports whether streams with this ID pass the prefix filter.
func (o ReadOptions) MatchStream(streamID string) bool {
	if len(o.StreamPrefixes) == 0 {
		return true
	}
	for _, p := range o.StreamPrefixes {
		if strings.HasPrefix(streamID, p) {
			return true
		}
	}
	return false
}

// MatchType reports whether events of this type pass the type filter.
func (o ReadOptions) MatchType(typ string) bool {
	if len(o.Types) == 0 {
		return true
	}
	for _, t := range o.Types {
		if t == typ {
			return true
		}
	}
	return false
}

// Match reports whether an event of the given stream and type is yielded.
func (o ReadOptions) Match(streamID, typ string) bool {
	return o.MatchStream(streamID) && o.MatchType(typ)
}
