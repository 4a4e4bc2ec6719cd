package kafka

import (
	"errors"
	"fmt"
	"sync"

	"github.com/kafkaes/kafkaes/eventstore"
)

// Remembering unknown outcomes.
//
// When Append reports an unknown outcome (ErrUnknownOutcome), the caller
// retries with the same event IDs. The retry proves the first attempt's
// fate when it succeeds (it either found the events, an idempotent repeat,
// or wrote them, which its conflict scan allows only when the first
// attempt's records are decided and aborted: undecided records of the
// stream are a conflict, committed ones are in the index), when it meets
// the IDs in the stream (ErrDuplicateEventID: the first attempt was
// written), or when its version check finds another event at the version
// the first attempt would have taken (a conflict: versions are unique, so
// the first attempt was not written). Any other failure of the retry (a
// broker that is still away, a deadline, undecided records that do not
// end) proves nothing, and saying "nothing was written" would be false
// for the first attempt: the store keeps a doubt for the stream and the
// event IDs of every append whose outcome it reported as unknown, and
// turns such failures of a later append with any of those IDs into
// ErrUnknownOutcome again. A doubt is dropped when an append with its IDs
// proves the fate.
//
// Doubts live in memory: a retry in another store instance (another
// process, or this one after a restart) cannot know that an earlier
// attempt's outcome was unknown; its caller must keep treating the append
// as unknown until an attempt succeeds or is refused with a conflict or a
// duplicate-ID error. At most maxDoubts doubts are kept (the oldest is
// forgotten first); each costs about 100 bytes plus its event IDs.

// maxDoubts bounds the number of remembered unknown outcomes.
const maxDoubts = 1 << 16

// doubt is an append whose outcome the store reported as unknown.
type doubt struct {
	stream string
	ids    []string
	// base is the stream's version the attempt was checked against: its
	// events would be versions base+1... (-1 when it never got that far).
	base int64
}

// doubts is the store's memory of unknown outcomes, by event ID.
type doubts struct {
	mu    sync.Mutex
	byID  map[string]*doubt
	order []*doubt // oldest first, for eviction
}

// lookup returns the doubt about an earlier append to stream with any of
// the IDs of evs, or nil.
func (d *doubts) lookup(stream string, evs []eventstore.Event) *doubt {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ev := range evs {
		if x := d.byID[ev.ID]; x != nil && x.stream == stream {
			return x
		}
	}
	return nil
}

// remember records that the outcome of the append r was reported unknown.
func (d *doubts) remember(r *appendReq) {
	x := &doubt{stream: r.stream, base: r.base, ids: make([]string, len(r.events))}
	for i, ev := range r.events {
		x.ids[i] = ev.ID
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byID == nil {
		d.byID = map[string]*doubt{}
	}
	for _, id := range x.ids {
		if old := d.byID[id]; old != nil {
			if x.base < 0 && old.stream == x.stream && old.base >= 0 {
				// This attempt never got to a version check of its own
				// (a repeat found in the index, or one that failed
				// before): the earlier attempt's base still says where
				// its events would be.
				x.base = old.base
			}
			d.dropLocked(old)
		}
	}
	for _, id := range x.ids {
		d.byID[id] = x
	}
	d.order = append(d.order, x)
	for len(d.order) > maxDoubts {
		d.dropLocked(d.order[0])
	}
}

// forget drops x (its fate is known).
func (d *doubts) forget(x *doubt) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dropLocked(x)
}

func (d *doubts) dropLocked(x *doubt) {
	for _, id := range x.ids {
		if d.byID[id] == x {
			delete(d.byID, id)
		}
	}
	for i, o := range d.order {
		if o == x {
			d.order = append(d.order[:i], d.order[i+1:]...)
			break
		}
	}
}

// len returns the number of doubts (tests).
func (d *doubts) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.order)
}

// judge applies the doubts to the result of the append r (see above):
// it remembers an unknown outcome, forgets a doubt that the result proves,
// and turns a failure that proves nothing about an earlier attempt with
// an unknown outcome into ErrUnknownOutcome.
func (s *Store) judge(r *appendReq, err error) error {
	var doubts []*doubt
	if r.doubt != nil {
		doubts = []*doubt{r.doubt}
	}
	return s.judgeDoubts([]*appendReq{r}, doubts, r.proven.Load(), err, func() string {
		return fmt.Sprintf("this append to stream %q", r.stream)
	})
}

// judgeDoubts is judge for the appends rs that were written all or none
// (one append, or the entries of a multi-stream append), whose earlier
// attempts had the doubts; proven is set when a check proved such an
// attempt not written. what names the append in the error.
func (s *Store) judgeDoubts(rs []*appendReq, doubts []*doubt, proven bool, err error, what func() string) error {
	forget := func() {
		for _, x := range doubts {
			s.doubts.forget(x)
		}
	}
	switch {
	case err == nil:
		forget()
		return nil
	case errors.Is(err, eventstore.ErrUnknownOutcome):
		for _, r := range rs {
			if len(r.events) > 0 {
				s.doubts.remember(r)
			}
		}
		return err
	case len(doubts) == 0:
		return err
	case errors.Is(err, eventstore.ErrDuplicateEventID):
		// Its IDs are in the stream: the earlier attempt was written.
		forget()
		return err
	case errors.Is(err, eventstore.ErrConcurrencyConflict) && proven:
		forget()
		return err
	case errors.Is(err, eventstore.ErrInvalidArgument):
		return err // a bad call; the doubt stays for a correct one
	}
	// %v, not %w: the error must not match what err matches (a
	// retryable ErrUnavailable, say), which would let a caller take it as
	// "nothing was written".
	return fmt.Errorf("%w: an earlier attempt of %s (event IDs from %s) had an unknown outcome, and this attempt could not learn its fate: %v",
		ErrUnknownOutcome, what(), doubts[0].ids[0], err)
}
