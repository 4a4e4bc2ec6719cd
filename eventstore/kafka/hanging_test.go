package kafka

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOwnHanging checks the detection of records of the store's own
// producer that Kafka left without a transaction marker (a restarted
// coordinator skips the markers of partitions whose leader it does not
// know yet): the next marker the producer writes to the partition would
// decide them, so a transaction that finds them must abort.
func TestOwnHanging(t *testing.T) {
	const me, other = 7, 9
	data := func(off, pid int64) record { return record{offset: off, producerID: pid, txn: true, key: []byte("s")} }
	marker := func(off, pid int64, abort bool) record {
		return record{offset: off, producerID: pid, txn: true, control: true, abort: abort}
	}
	mk := func(first int64, recs []record, markers ...record) map[int32]*span {
		sp := &span{from: 0, to: first + 2, first: first, recs: recs, markers: map[int64][]record{}}
		for _, m := range markers {
			sp.markers[m.producerID] = append(sp.markers[m.producerID], m)
		}
		return map[int32]*span{3: sp}
	}
	for _, tc := range []struct {
		name  string
		spans map[int32]*span
		want  int64 // offset reported, -1 for none
	}{
		{"nothing of ours", mk(10, []record{data(4, other)}), -1},
		{"ours, committed", mk(10, []record{data(4, me)}, marker(5, me, false)), -1},
		{"ours, aborted", mk(10, []record{data(4, me)}, marker(5, me, true)), -1},
		{"ours, no marker", mk(10, []record{data(4, me)}), 4},
		{"ours, no marker, another producer's marker", mk(10, []record{data(4, me)}, marker(5, other, false)), 4},
		{"ours, marker before it only", mk(10, []record{data(4, me)}, marker(2, me, false)), 4},
		{"this transaction's own records", mk(10, []record{data(10, me), data(11, me)}), -1},
		{"non-transactional", mk(10, []record{{offset: 4, producerID: me}}), -1},
		{"another producer undecided", mk(10, []record{data(4, other)}, marker(6, me, false)), -1},
		// The last acknowledged commit (offsets 4..5) without its
		// markers: this transaction's commit decides it; an abort would
		// drop acknowledged events.
		{"ours, acknowledged, no marker", mk(10, []record{data(4, me), data(5, me)}), -1},
		{"ours, acknowledged and a failed one, no marker", mk(10, []record{data(4, me), data(5, me), data(7, me)}), 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acked := func(int32) [2]int64 { return [2]int64{-1, -1} }
			if strings.HasPrefix(tc.name, "ours, acknowledged") {
				acked = func(int32) [2]int64 { return [2]int64{4, 5} }
			}
			err := ownHanging("events", tc.spans, me, acked)
			if tc.want < 0 {
				require.NoError(t, err)
				return
			}
			var he *hangingError
			require.True(t, errors.As(err, &he), "got %v", err)
			require.Equal(t, tc.want, he.offset)
			require.Equal(t, int32(3), he.partition)
			require.Contains(t, err.Error(), "events/3")
		})
	}
	require.NoError(t, ownHanging("events", mk(10, []record{data(4, me)}), -1, func(int32) [2]int64 { return [2]int64{-1, -1} }), "no producer yet")
}

// TestHangingOutcome checks which marker the settle step writes for records
// of its own producer left without one: a commit marker for the worker's
// last acknowledged commit, an abort marker for anything else, nothing when
// a marker of the producer follows its records.
func TestHangingOutcome(t *testing.T) {
	const me, other = 7, 9
	data := func(off, pid int64) record { return record{offset: off, producerID: pid, txn: true} }
	// Markers come without the transactional flag from the fetcher.
	marker := func(off, pid int64) record { return record{offset: off, producerID: pid, control: true} }
	acked := [2]int64{20, 21}
	for _, tc := range []struct {
		name  string
		recs  []record
		want  settleAction
		mixed bool
	}{
		{"empty", nil, settleNothing, false},
		{"decided", []record{data(20, me), data(21, me), marker(22, me)}, settleNothing, false},
		{"acked commit without marker", []record{data(20, me), data(21, me)}, settleCommit, false},
		{"failed transaction without marker", []record{data(30, me)}, settleAbort, false},
		{"failed after a decided acked commit", []record{data(20, me), data(21, me), marker(22, me), data(30, me)}, settleAbort, false},
		{"another producer's marker does not decide", []record{data(20, me), marker(22, other)}, settleCommit, false},
		{"another producer's records are not ours", []record{data(30, other)}, settleNothing, false},
		{"non-transactional", []record{{offset: 30, producerID: me}}, settleNothing, false},
		{"both kinds", []record{data(20, me), data(21, me), data(30, me)}, settleAbort, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, mixed := hangingOutcome(tc.recs, me, acked)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.mixed, mixed)
		})
	}
	got, _ := hangingOutcome([]record{data(20, me)}, me, [2]int64{-1, -1})
	require.Equal(t, settleAbort, got, "no acknowledged commit known")
}
