package kafka

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// TestCheckMultiPartlyVisible: the version check of a multi-stream append
// whose entries are partly in the index already (one partition's commit
// markers read, the other's not yet; seen on a 3-node cluster when a
// partition's leader died after the commit). A repeat of an append whose
// outcome was unknown was written (all or nothing), only not all of it can
// be read back yet: the answer is an unknown outcome to be repeated later,
// not a duplicate-ID error, which would tell the caller that the append
// is not a repeat (a process manager then ended). Without the doubt (IDs
// reused for a different append) it stays a duplicate-ID error.
func TestCheckMultiPartlyVisible(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 4, kafkatest.EventsTopicConfig())
	s := openStore(t, c, topic)
	a, b := "partly-a", "partly-b"
	for i := 0; wire.PartitionString(a, s.nparts) == wire.PartitionString(b, s.nparts); i++ {
		b = "partly-b" + string(rune('a'+i))
	}
	ea, eb := ev("T", 1), ev("T", 2)
	ea.ID, eb.ID = eventstore.NewEventID(), eventstore.NewEventID()
	pa := wire.PartitionString(a, s.nparts)
	// The entry for a is in the index (as catch-up would put it there
	// after reading its partition's commit marker); b's is not.
	require.True(t, s.idx[pa].applyOwn(a, 1, []int64{0}, []eventstore.Event{ea}, s.opts.idWindow))

	newMulti := func(doubted bool) *multiReq {
		m := &multiReq{}
		for _, e := range []struct {
			stream string
			ev     eventstore.Event
		}{{a, ea}, {b, eb}} {
			r := &appendReq{stream: e.stream, part: wire.PartitionString(e.stream, s.nparts), expected: eventstore.NoStream,
				events: []eventstore.Event{e.ev}, base: -1, multi: m}
			if doubted {
				r.doubt = &doubt{stream: e.stream, ids: []string{e.ev.ID}, base: 0}
			}
			m.members = append(m.members, r)
		}
		return m
	}
	w := &worker{s: s}

	_, done, stale, err := w.checkMulti(newMulti(true))
	require.True(t, done)
	require.True(t, stale, "a catch-up may find the rest")
	require.ErrorIs(t, err, ErrUnknownOutcome)
	require.ErrorIs(t, err, eventstore.ErrUnknownOutcome)
	require.NotErrorIs(t, err, eventstore.ErrDuplicateEventID)

	_, done, _, err = w.checkMulti(newMulti(false))
	require.True(t, done)
	require.ErrorIs(t, err, eventstore.ErrDuplicateEventID)
	require.NotErrorIs(t, err, eventstore.ErrUnknownOutcome)
}

// TestCheckDoubtedRepeatPastWindow: a repeat of an append whose outcome
// was unknown comes after so many other events that its first event's ID
// has left the idempotency window (a busy stream, a broker away for a
// while). The append was written: its IDs still in the window sit at the
// versions it took. The check answers it as a repeat, with its version and
// positions, not as a partial duplicate; without the doubt it stays a
// duplicate-ID error.
func TestCheckDoubtedRepeatPastWindow(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	s := openStore(t, c, topic, WithIdempotencyWindow(4))
	const stream = "busy"
	mine := []eventstore.Event{ev("T", 1), ev("T", 2)}
	others := []eventstore.Event{ev("T", 3), ev("T", 4), ev("T", 5)}
	for _, e := range [][]eventstore.Event{mine, others} {
		for i := range e {
			e[i].ID = eventstore.NewEventID()
		}
	}
	ix := s.idx[0]
	require.True(t, ix.applyOwn(stream, 1, []int64{10, 11}, mine, 4))
	require.True(t, ix.applyOwn(stream, 3, []int64{20, 21, 22}, others, 4))

	req := func(doubted bool) *appendReq {
		r := &appendReq{stream: stream, part: 0, expected: eventstore.Exact(0), events: mine, base: -1}
		if doubted {
			r.doubt = &doubt{stream: stream, ids: []string{mine[0].ID, mine[1].ID}, base: 0}
		}
		return r
	}
	w := &worker{s: s}
	res, err, done := w.check(req(true))
	require.True(t, done)
	require.NoError(t, err)
	require.Equal(t, int64(2), res.Version)
	require.Equal(t, []eventstore.Position{{Partition: 0, Offset: 10}, {Partition: 0, Offset: 11}}, res.Positions)

	_, err, done = w.check(req(false))
	require.True(t, done)
	require.ErrorIs(t, err, eventstore.ErrDuplicateEventID)

	// A doubt whose attempt was not written (another event at its
	// version) is no repeat.
	r := req(true)
	r.doubt.base = 2
	_, err, done = w.check(r)
	require.True(t, done)
	require.ErrorIs(t, err, eventstore.ErrDuplicateEventID)
}

// A doubt remembered again by an attempt that never got to a version check
// of its own keeps the base of the earlier attempt, which says where the
// events would be (doubtedRepeat and the conflict proof need it).
func TestDoubtKeepsBase(t *testing.T) {
	var d doubts
	e := ev("T", 1)
	e.ID = eventstore.NewEventID()
	d.remember(&appendReq{stream: "s", events: []eventstore.Event{e}, base: 7})
	d.remember(&appendReq{stream: "s", events: []eventstore.Event{e}, base: -1})
	x := d.lookup("s", []eventstore.Event{e})
	require.NotNil(t, x)
	require.Equal(t, int64(7), x.base)
	require.Equal(t, 1, d.len())
}
