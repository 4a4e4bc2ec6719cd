package projection_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/serde"
)

// A runner narrows its reads to its On handlers' stored type names (with
// the marker types) only when nothing needs every record.
func TestRunnerReadOptions(t *testing.T) {
	onDep := projection.On(func(context.Context, Deposited, projection.Meta) error { return nil })
	onDel := projection.On(func(context.Context, projection.StreamDeleted, projection.Meta) error { return nil })
	onAny := projection.OnAny(func(context.Context, any, projection.Meta) error { return nil })
	onRec := projection.OnRecorded(func(context.Context, eventstore.RecordedEvent) error { return nil })
	type unregistered struct{}
	onUnreg := projection.On(func(context.Context, unregistered, projection.Meta) error { return nil })
	markers := []string{eventstore.TypeStreamDeleted, eventstore.TypeStreamTruncated}
	ups := serde.NewUpcasters()
	ups.MustRegister("test.Deposited.v1", serde.Rename("test.Deposited"))
	sd := testSerde(t)
	cases := []struct {
		name     string
		sd       serde.Serde
		handlers []projection.Handler
		opts     []projection.Option
		want     []string // nil: every record
	}{
		{"typed", sd, []projection.Handler{onDep}, nil, append(markers, "test.Deposited")},
		{"notice only", sd, []projection.Handler{onDel}, nil, markers},
		{"upcast names", serde.Upcasting(sd, nil, ups), []projection.Handler{onDep}, nil, append(markers, "test.Deposited", "test.Deposited.v1")},
		{"OnAny", sd, []projection.Handler{onDep, onAny}, nil, nil},
		{"OnRecorded", sd, []projection.Handler{onDep, onRec}, nil, nil},
		{"unregistered type", sd, []projection.Handler{onDep, onUnreg}, nil, nil},
		{"dead letters", sd, []projection.Handler{onDep}, []projection.Option{projection.WithDeadLetter(&projection.MemoryDeadLetters{})}, nil},
		{"strict", sd, []projection.Handler{onDep}, []projection.Option{projection.WithStrictTypes()}, nil},
		{"read all", sd, []projection.Handler{onDep}, []projection.Option{projection.WithReadAll()}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := projection.New("p", tc.sd, tc.handlers, tc.opts...)
			require.NoError(t, err)
			got := r.ReadOptions()
			require.Equal(t, tc.want, got.Types)
			require.Equal(t, tc.want != nil, got.Filtered())
		})
	}
}

type recSink struct{ projection.Sink }

type filterSink struct {
	projection.Sink
	f eventstore.ReadOptions
}

func (s filterSink) ReadOptions() eventstore.ReadOptions { return s.f }

// SinkReadOptions keeps the source's own filter field by field and takes
// the sink's for the fields the source left open.
func TestSinkReadOptions(t *testing.T) {
	own := eventstore.ReadOptionsOf([]eventstore.ReadOption{eventstore.WithStreamPrefix("acc-")})
	sink := filterSink{f: eventstore.ReadOptions{Types: []string{"a"}}}
	require.Equal(t, own, projection.SinkReadOptions(recSink{}, own))
	require.Equal(t, eventstore.ReadOptions{Types: []string{"a"}, StreamPrefixes: []string{"acc-"}}, projection.SinkReadOptions(sink, own))
	user := eventstore.ReadOptions{Types: []string{"b"}}
	require.Equal(t, user, projection.SinkReadOptions(sink, user))
}
