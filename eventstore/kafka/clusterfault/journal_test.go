package clusterfault_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
)

// Record kinds of a writer's journal.
const (
	kindTry  = "try"  // an Append call is about to be made
	kindRes  = "res"  // what the Append call returned
	kindRead = "read" // what a ReadStream call returned
)

// Result classes of an Append or ReadStream call.
const (
	classNil       = "nil"
	classConflict  = "conflict"  // errors.Is(err, eventstore.ErrConcurrencyConflict)
	classDuplicate = "duplicate" // errors.Is(err, eventstore.ErrDuplicateEventID)
	classRetryable = "retryable" // one of retryableErrors: nothing was written, try again later
	classUnknown   = "unknown"   // errors.Is(err, eventstore.ErrUnknownOutcome)
	classDeadline  = "deadline"  // the store's append timeout (context.DeadlineExceeded), nothing was written
	classNotFound  = "notfound"  // ReadStream: eventstore.ErrStreamNotFound
	classOther     = "other"     // anything else: an untyped error, which the contract does not allow
)

// rec is one line of a writer's journal (JSON, fsync'd before the writer
// goes on, so a SIGKILL loses nothing that was done).
type rec struct {
	K     string     `json:"k"`
	W     string     `json:"w"`             // writer process name
	A     string     `json:"a,omitempty"`   // attempt ID (unique per Append call)
	C     string     `json:"c,omitempty"`   // chain ID: attempts with the same event IDs
	S     string     `json:"s"`             // stream
	IDs   []string   `json:"ids,omitempty"` // event IDs of the attempt
	Exp   int64      `json:"exp"`           // expected version of the attempt
	T0    int64      `json:"t0,omitempty"`  // start, Unix ns
	T1    int64      `json:"t1,omitempty"`  // end, Unix ns
	Class string     `json:"class,omitempty"`
	V     int64      `json:"v"`             // version Append reported, or the last version ReadStream returned
	N     int        `json:"n,omitempty"`   // events ReadStream returned
	Pos   [][2]int64 `json:"pos,omitempty"` // positions Append reported
	Err   string     `json:"err,omitempty"`
	// More holds the other entries of a multi-stream append (AppendMulti);
	// the fields above are its first entry's. Their results (V, Pos) are
	// set in the res record.
	More []entry `json:"more,omitempty"`
}

// entry is one more stream of a multi-stream append attempt.
type entry struct {
	S   string     `json:"s"`
	IDs []string   `json:"ids,omitempty"`
	Exp int64      `json:"exp"`
	V   int64      `json:"v"`
	Pos [][2]int64 `json:"pos,omitempty"`
}

// journal appends records to a file and fsyncs each one.
type journal struct {
	mu sync.Mutex
	f  *os.File
}

func openJournal(path string) (*journal, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &journal{f: f}, nil
}

func (j *journal) add(r rec) {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(b); err != nil {
		panic(fmt.Sprintf("journal: %v", err))
	}
	if err := j.f.Sync(); err != nil {
		panic(fmt.Sprintf("journal: fsync: %v", err))
	}
}

// readJournal reads a journal file; a torn last line (a kill during the
// write, before its fsync) is dropped.
func readJournal(path string) ([]rec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []rec
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r rec
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// classify names the class of an error of Append or ReadStream.
func classify(err error) string {
	switch {
	case err == nil:
		return classNil
	case errors.Is(err, eventstore.ErrUnknownOutcome):
		return classUnknown
	case errors.Is(err, eventstore.ErrConcurrencyConflict):
		return classConflict
	case errors.Is(err, eventstore.ErrDuplicateEventID):
		return classDuplicate
	case errors.Is(err, eventstore.ErrStreamNotFound):
		return classNotFound
	}
	for _, r := range retryableErrors {
		if errors.Is(err, r) {
			return classRetryable
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return classDeadline
	}
	return classOther
}

func unixNow() int64 { return time.Now().UnixNano() }
