package clusterfault_test

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/internal/logcheck"
	"github.com/kafkaes/kafkaes/internal/wire"
)

func partitionOf(stream string) int32 { return wire.PartitionString(stream, numPartitions) }

// result is what check found.
type result struct {
	problems             []string
	streams              int
	attempts, reads      int
	multi, multiAcked    int // multi-stream append chains, and acknowledged ones
	classes, readClasses string
}

func countString(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// check verifies the committed log against the writers' journals:
//
//   - the log itself (logcheck.Check): versions 1..n per stream in offset
//     order, no duplicate event, every acknowledged append present once at
//     the versions and positions it reported;
//   - an append chain (the attempts with the same event IDs: an append and
//     its retries after unknown outcomes) whose last answer says nothing
//     was written (a conflict, a retryable error, the append timeout) has
//     none of its events in the log, and an unknown outcome that was never
//     resolved is all there or not at all;
//   - every error is of an allowed class: no untyped error;
//   - no ReadStream result is shorter than an append to that stream that
//     was acknowledged (by any writer) before the read started.
func check(log []eventstore.RecordedEvent, recs []rec, tl *tail) result {
	var r result
	problem := func(format string, args ...any) {
		if len(r.problems) < 60 {
			r.problems = append(r.problems, fmt.Sprintf(format, args...))
		}
	}
	tl.mu.Lock()
	for _, c := range tl.corrupt {
		problem("the read_committed consumer met a record that is not a kafkaes event: %s", c)
	}
	tl.mu.Unlock()

	tries := map[string]rec{}
	ress := map[string]rec{}
	chains := map[string][]string{} // chain -> attempt IDs in order
	var reads []rec
	classes, readClasses := map[string]int{}, map[string]int{}
	untyped := map[string]int{}
	for _, x := range recs {
		switch x.K {
		case kindTry:
			tries[x.A] = x
			chains[x.C] = append(chains[x.C], x.A)
		case kindRes:
			ress[x.A] = x
			classes[x.Class]++
			if x.Class == classOther {
				untyped["Append: "+x.Err]++
			}
		case kindRead:
			reads = append(reads, x)
			readClasses[x.Class]++
			if x.Class == classOther {
				untyped["ReadStream: "+x.Err]++
			}
		}
	}
	r.attempts, r.reads = len(tries), len(reads)
	r.classes, r.readClasses = countString(classes), countString(readClasses)
	for _, msg := range slices.Sorted(maps.Keys(untyped)) {
		problem("untyped error (neither nil, a conflict, a retryable error, an unknown outcome nor the append timeout), %d times: %s", untyped[msg], msg)
	}

	var appends []logcheck.Append
	// The multi-stream chains whose outcome stayed unknown: their entries
	// must be all in the log or none (atomicity across partitions; each
	// entry on its own is checked all-or-nothing by logcheck).
	var unknownMulti [][]entry
	for _, c := range slices.Sorted(maps.Keys(chains)) {
		as := chains[c]
		first := tries[as[0]]
		entries := append([]entry{{S: first.S, IDs: first.IDs, Exp: first.Exp}}, first.More...)
		kind := ""
		if len(entries) > 1 {
			kind = fmt.Sprintf(" multi-stream append to %d streams", len(entries))
			r.multi++
		}
		var answers []string
		var acked bool
		for _, a := range as {
			res, ok := ress[a]
			if !ok {
				answers = append(answers, "none (writer killed)")
				continue
			}
			answers = append(answers, res.Class)
			if res.Class == classNil {
				acked = true
				if len(entries) > 1 {
					r.multiAcked++
				}
				got := append([]entry{{S: res.S, V: res.V, Pos: res.Pos}}, res.More...)
				for i, e := range entries {
					if i >= len(got) {
						problem("%s chain %s:%s acknowledged without a result for stream %s", first.W, c, kind, e.S)
						continue
					}
					var pos []eventstore.Position
					for _, p := range got[i].Pos {
						pos = append(pos, eventstore.Position{Partition: int32(p[0]), Offset: p[1]})
					}
					appends = append(appends, logcheck.Append{Writer: fmt.Sprintf("%s (attempt %s%s)", first.W, a, kind), Stream: e.S, IDs: e.IDs, Outcome: logcheck.Acked, Version: got[i].V, Positions: pos})
				}
			}
		}
		if acked {
			continue
		}
		last, ok := ress[as[len(as)-1]]
		who := fmt.Sprintf("%s chain %s%s (expected version %d; answers: %s; last error %q)", first.W, c, kind, first.Exp, strings.Join(answers, ", "), last.Err)
		unknown := !ok || last.Class == classUnknown || last.Class == classDuplicate
		if unknown && len(entries) > 1 {
			unknownMulti = append(unknownMulti, entries)
		}
		for _, e := range entries {
			if unknown {
				appends = append(appends, logcheck.Append{Writer: who, Stream: e.S, IDs: e.IDs, Outcome: logcheck.Unknown})
			} else {
				appends = append(appends, logcheck.Append{Writer: who, Stream: e.S, IDs: e.IDs, Outcome: logcheck.Failed, Err: fmt.Errorf("%s", last.Class)})
			}
		}
	}
	inLog := make(map[string]bool, len(log))
	for _, ev := range log {
		inLog[ev.ID] = true
	}
	for _, entries := range unknownMulti {
		var there, missing []string
		for _, e := range entries {
			if len(e.IDs) > 0 && inLog[e.IDs[0]] {
				there = append(there, e.S)
			} else {
				missing = append(missing, e.S)
			}
		}
		if len(there) > 0 && len(missing) > 0 {
			problem("a multi-stream append with an unknown outcome is partly in the log: its events of %v are there, those of %v are not (not atomic)", there, missing)
		}
	}
	rep := logcheck.Check(log, numPartitions, appends)
	r.streams = rep.Streams
	for _, p := range rep.Problems {
		problem("log: %s", p)
	}

	// Stale reads: the highest version acknowledged before each read.
	type ack struct {
		t1 int64
		v  int64
		w  string
	}
	acks := map[string][]ack{}
	for _, x := range ress {
		if x.Class == classNil {
			acks[x.S] = append(acks[x.S], ack{x.T1, x.V, x.W})
			for _, e := range x.More {
				acks[e.S] = append(acks[e.S], ack{x.T1, e.V, x.W})
			}
		}
	}
	for s := range acks {
		sort.Slice(acks[s], func(i, j int) bool { return acks[s][i].t1 < acks[s][j].t1 })
	}
	stale := 0
	for _, rd := range reads {
		if rd.Class != classNil && rd.Class != classNotFound {
			continue
		}
		as := acks[rd.S]
		i := sort.Search(len(as), func(i int) bool { return as[i].t1 >= rd.T0 })
		var best ack
		for _, a := range as[:i] {
			if a.v > best.v {
				best = a
			}
		}
		if rd.V < best.v {
			stale++
			if stale <= 10 {
				problem("stale read: %s's ReadStream(%q) started %s returned up to version %d without error, but version %d had been acknowledged to %s %v before",
					rd.W, rd.S, time.Unix(0, rd.T0).UTC().Format("15:04:05.000"), rd.V, best.v, best.w, time.Duration(rd.T0-best.t1).Round(time.Millisecond))
			}
		}
	}
	if stale > 10 {
		problem("stale read: %d stale ReadStream results in all (10 shown)", stale)
	}
	return r
}

// Version is what an acknowledged append reported.
func (x rec) Version() int64 { return x.V }

// figures measures each fault's cost from the journals and the tail.
func figures(faults []*fault, recs []rec, tl *tail) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| fault | longest without a successful append | every writer appending again after the broker was back | longest append | read_committed stall (max) | errors |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|\n")
	var ress []rec
	for _, x := range recs {
		if x.K == kindRes {
			ress = append(ress, x)
		}
	}
	sort.Slice(ress, func(i, j int) bool { return ress[i].T1 < ress[j].T1 })
	d := func(ns int64) string { return time.Duration(ns).Round(100 * time.Millisecond).String() }
	var extra []string
	for _, f := range faults {
		s, e := f.start.UnixNano(), f.end.UnixNano()
		gap, prev := int64(0), s
		var longest, stall int64
		var stallOf rec
		errs := map[string]int{}
		for _, x := range ress {
			// Appends and errors count in the window they ended in.
			if x.T1 < s || x.T1 >= e {
				continue
			}
			longest = max(longest, x.T1-x.T0)
			if x.Class != classNil {
				errs[x.Class]++
				continue
			}
			gap = max(gap, x.T1-prev)
			prev = x.T1
			if seen := tl.seenAt(firstID(recs, x)); seen > 0 && seen-x.T1 > stall {
				stall = seen - x.T1
				stallOf = x
			}
		}
		errStr := countString(errs)
		if errStr == "" {
			errStr = "none"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", f.name, d(gap), d(f.recovered.Sub(f.back).Nanoseconds()), d(longest), d(stall), errStr)
		if f.killed != "" {
			extra = append(extra, bystanders(f, ress))
		}
		if stall >= (2 * time.Second).Nanoseconds() {
			extra = append(extra, fmt.Sprintf("\nLongest read_committed stall in %q: %s's append to %q (version %d at %v), acknowledged %s, seen by the tail %v later.\n",
				f.name, stallOf.W, stallOf.S, stallOf.V, stallOf.Pos, time.Unix(0, stallOf.T1).UTC().Format("15:04:05.000"), time.Duration(stall).Round(time.Millisecond)))
		}
	}
	for _, x := range extra {
		b.WriteString(x)
	}
	return b.String()
}

// bystanders compares the rate of acknowledged appends by the other writers
// to partitions the killed writer had no append in flight on, in the
// transaction timeout after the kill, with the same time before it.
func bystanders(f *fault, ress []rec) string {
	win := txnTimeout.Nanoseconds()
	k := f.start.UnixNano()
	var before, after int
	open := map[int32]bool{}
	for _, p := range f.openParts {
		open[p] = true
	}
	for _, x := range ress {
		if x.Class != classNil || x.W == f.killed || open[partitionOf(x.S)] {
			continue
		}
		switch {
		case x.T1 >= k-win && x.T1 < k:
			before++
		case x.T1 >= k && x.T1 < k+win:
			after++
		}
	}
	secs := txnTimeout.Seconds()
	ratio := 0.0
	if before > 0 {
		ratio = float64(after) / float64(before)
	}
	return fmt.Sprintf("\nBystanders of the killed writer %s (appends to the %d partitions it had no append in flight on and no open transaction on, by the other writers): %.1f/s in the %v before the kill, %.1f/s in the %v after it (%.0f%%); partitions it held: %v, its transaction decided (aborted) %v after the kill.\n",
		f.killed, numPartitions-len(f.openParts), float64(before)/secs, txnTimeout, float64(after)/secs, txnTimeout, 100*ratio, f.openParts, f.decided.Sub(f.start).Round(100*time.Millisecond))
}

var firstIDs map[string]string

// firstID returns the first event ID of the attempt of res x.
func firstID(recs []rec, x rec) string {
	if firstIDs == nil {
		firstIDs = map[string]string{}
		for _, r := range recs {
			if r.K == kindTry && len(r.IDs) > 0 {
				firstIDs[r.A] = r.IDs[0]
			}
		}
	}
	return firstIDs[x.A]
}
